//! The follow-up due index: (due ms, tenant, contact) keys in time order, so a run reads
//! what is due and nothing else.

use super::tables::DUE;
use super::{Store, WriteTx};
use crate::error::{Error, Result};
use crate::ids::{ContactId, TenantId};

/// One due index entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DueEntry {
    pub due_ms: u64,
    pub tenant: TenantId,
    pub contact: ContactId,
}

impl Store {
    /// Follow-up index entries due at `now_ms` (oldest first), at most `limit`.
    pub(crate) fn due_followups(&self, now_ms: u64, limit: usize) -> Result<Vec<DueEntry>> {
        self.read(|r| {
            let due = r.tx.open_table(DUE)?;
            let mut out = Vec::new();
            for row in due.range((0u64, "", "")..(now_ms.saturating_add(1), "", ""))? {
                let (k, _) = row?;
                let (at, tenant, contact) = k.value();
                if at > now_ms {
                    break;
                }
                let corrupt = |e: Error| Error::Store(format!("due index entry at {at}: {e}"));
                out.push(DueEntry {
                    due_ms: at,
                    tenant: TenantId::new(tenant).map_err(corrupt)?,
                    contact: ContactId::new(contact).map_err(corrupt)?,
                });
                if out.len() >= limit {
                    break;
                }
            }
            Ok(out)
        })
    }
}

impl WriteTx<'_> {
    /// Adds a follow-up index entry.
    pub fn schedule(&mut self, due_ms: u64, tenant: &TenantId, contact: &ContactId) -> Result<()> {
        self.tx
            .open_table(DUE)?
            .insert((due_ms, tenant.as_str(), contact.as_str()), ())?;
        Ok(())
    }

    /// Removes a follow-up index entry.
    pub fn unschedule(
        &mut self,
        due_ms: u64,
        tenant: &TenantId,
        contact: &ContactId,
    ) -> Result<()> {
        self.tx
            .open_table(DUE)?
            .remove((due_ms, tenant.as_str(), contact.as_str()))?;
        Ok(())
    }
}
