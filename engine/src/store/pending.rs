//! Contacts with a stored message that no decision has covered yet: the tenant's rules
//! failed when it arrived. A retry of the message, the contact's next message, or a run
//! after the rules are fixed decides them.

use super::tables::PENDING;
use super::{Store, WriteTx};
use crate::error::Result;
use crate::ids::{ContactId, TenantId};

impl WriteTx<'_> {
    /// Marks (or clears) a contact as waiting for a decision.
    pub fn set_pending(
        &mut self,
        tenant: &TenantId,
        contact: &ContactId,
        pending: bool,
    ) -> Result<()> {
        let mut table = self.tx.open_table(PENDING)?;
        let key = (tenant.as_str(), contact.as_str());
        if pending {
            table.insert(key, ())?;
        } else {
            table.remove(key)?;
        }
        Ok(())
    }
}

impl Store {
    /// Contacts waiting for a decision, at most `limit`.
    pub(crate) fn pending(&self, limit: usize) -> Result<Vec<(TenantId, ContactId)>> {
        self.read(|r| {
            let table = r.tx.open_table(PENDING)?;
            let mut out = Vec::new();
            for row in table.iter()?.take(limit) {
                let (k, _) = row?;
                let (t, c) = k.value();
                if let (Ok(t), Ok(c)) = (TenantId::new(t), ContactId::new(c)) {
                    out.push((t, c));
                }
            }
            Ok(out)
        })
    }
}
