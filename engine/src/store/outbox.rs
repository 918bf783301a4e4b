//! The outbox: CRM actions queued in the transaction that decided them, delivered later
//! by the host. Key (tenant, due ms, action id); the action is sealed.

use super::tables::OUTBOX;
use super::{crypto, db, Store, WriteTx};
use crate::error::Result;
use crate::ids::{ContactId, TenantId};
use crate::model::{Action, ActionKind};
use redb::ReadableTable;

impl Store {
    /// Outbox entries due at `now_ms`, oldest first per tenant, at most `limit`.
    pub(crate) fn due_actions(&self, now_ms: u64, limit: usize) -> Result<Vec<Action>> {
        self.read(|r| {
            let outbox = r.tx.open_table(OUTBOX).map_err(db)?;
            let mut out = Vec::new();
            for row in outbox.iter().map_err(db)? {
                let (k, v) = row.map_err(db)?;
                let (tenant, due, id) = k.value();
                if due > now_ms {
                    continue;
                }
                let mut action: Action =
                    r.open_value("outbox", tenant, &format!("{due}:{id}"), v.value())?;
                action.due_ms = due;
                out.push(action);
                if out.len() >= limit {
                    break;
                }
            }
            Ok(out)
        })
    }
}

impl WriteTx<'_> {
    /// Queues an action for a contact, due at `due_ms`, under a fresh random id.
    pub fn enqueue(
        &mut self,
        tenant: &TenantId,
        contact: &ContactId,
        kind: ActionKind,
        due_ms: u64,
    ) -> Result<()> {
        let action = Action {
            id: crypto::random_u64(),
            tenant: tenant.clone(),
            contact: contact.clone(),
            kind,
            attempts: 0,
            last_error: None,
            due_ms,
        };
        self.put_action(&action)
    }

    /// Writes an action under its key (tenant, due, id).
    pub fn put_action(&mut self, action: &Action) -> Result<()> {
        let t = action.tenant.as_str();
        let key = format!("{}:{}", action.due_ms, action.id);
        let sealed = self.seal_json("outbox", t, &key, action)?;
        self.tx
            .open_table(OUTBOX)
            .map_err(db)?
            .insert((t, action.due_ms, action.id), sealed.as_slice())
            .map_err(db)?;
        Ok(())
    }

    /// Removes a queued action; true when it was there.
    pub fn dequeue(&mut self, action: &Action) -> Result<bool> {
        Ok(self
            .tx
            .open_table(OUTBOX)
            .map_err(db)?
            .remove((action.tenant.as_str(), action.due_ms, action.id))
            .map_err(db)?
            .is_some())
    }
}
