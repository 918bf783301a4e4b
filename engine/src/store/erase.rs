//! Erasure: a contact's rows or a tenant's, from every table, in one transaction (the
//! table-by-table list is in `tables`). A tenant's data keys go first, so whatever copy of
//! its records survives in freed pages or backups can no longer be opened.

use super::tables::{
    DEAD_LETTERS, DUE, OUTBOX, PENDING, QUARANTINE, TENANTS, TENANT_KEYS, WEBHOOKS, WEBHOOK_EXPIRY,
};
use super::{Store, WriteTx};
use crate::error::Result;
use crate::ids::{ContactId, TenantId};

/// Which rows an erasure concerns: a whole tenant, or one of its contacts.
#[derive(Clone, Copy)]
struct Scope<'a> {
    tenant: &'a str,
    contact: Option<&'a str>,
}

impl Scope<'_> {
    fn names(&self, tenant: &str, contact: &str) -> bool {
        tenant == self.tenant && self.contact.is_none_or(|c| c == contact)
    }
}

impl WriteTx<'_> {
    /// Due-index and webhook rows naming the scope (the index tables are ordered by
    /// time, so these are scans: erasure is rare).
    fn erase_indexed(&mut self, scope: Scope<'_>) -> Result<()> {
        self.tx
            .open_table(DUE)?
            .retain(|(_, t, c), _| !scope.names(t, c))?;
        self.tx
            .open_table(WEBHOOK_EXPIRY)?
            .retain(|(_, t, c, _), _| !scope.names(t, c))?;
        self.tx.open_table(WEBHOOKS)?.retain_in(
            (scope.tenant, "", "")..=(scope.tenant, "\u{10FFFF}", "\u{10FFFF}"),
            |(t, c, _), _| !scope.names(t, c),
        )?;
        Ok(())
    }

    /// Erases a contact from every table that names it; true when the contact existed.
    pub fn erase_contact(&mut self, tenant: &TenantId, contact: &ContactId) -> Result<bool> {
        let scope = Scope {
            tenant: tenant.as_str(),
            contact: Some(contact.as_str()),
        };
        let existed = self.delete_contact(tenant, contact)?;
        self.erase_indexed(scope)?;
        self.drop_actions_of(tenant, contact, |_| true)?;
        self.drop_dead_letters_of(tenant, contact)?;
        self.tx
            .open_table(PENDING)?
            .remove((tenant.as_str(), contact.as_str()))?;
        self.erase_experiment_rows(tenant, contact)?;
        Ok(existed)
    }
}

impl Store {
    /// Erases a tenant from every table, keys first; compacts the file. Returns the number
    /// of contacts removed.
    pub(crate) fn erase_tenant(&self, tenant: &TenantId) -> Result<usize> {
        let t = tenant.as_str();
        let scope = Scope {
            tenant: t,
            contact: None,
        };
        let removed = self.write(|w| {
            let mut keys = w.tx.open_table(TENANT_KEYS)?;
            keys.remove_range((t, 0)..=(t, u32::MAX))?;
            let removed = w.delete_contacts_of(tenant)?;
            w.tx.open_table(TENANTS)?.remove(t)?;
            w.erase_indexed(scope)?;
            w.tx.open_table(OUTBOX)?
                .remove_range((t, 0, 0)..=(t, u64::MAX, u64::MAX))?;
            w.tx.open_table(DEAD_LETTERS)?
                .remove_range((t, 0)..=(t, u64::MAX))?;
            w.tx.open_table(PENDING)?
                .remove_range((t, "")..=(t, "\u{10FFFF}"))?;
            w.tx.open_table(QUARANTINE)?
                .retain(|(_, qt, _), _| qt != t)?;
            w.erase_experiments_of(tenant)?;
            w.erase_analytics_of(tenant)?;
            w.erase_transcripts_of(tenant)?;
            Ok(removed)
        })?;
        self.deks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(k, _), _| k != t);
        self.refresh_registry()?;
        self.compact()?;
        Ok(removed)
    }
}
