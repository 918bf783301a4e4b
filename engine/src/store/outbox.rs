//! The outbox: CRM actions queued in the transaction that decided them, delivered later by
//! the host. Key (tenant, due ms, action id); the action is sealed. Actions that will not
//! be delivered move to the dead letters; rows that cannot be opened to the quarantine.

use super::tables::{DEAD_LETTERS, OUTBOX, QUARANTINE};
use super::{crypto, ReadTx, Store, WriteTx};
use crate::error::Result;
use crate::ids::{ContactId, TenantId};
use crate::model::{Action, ActionKind, Origin};

/// An outbox row that could not be opened: set aside, never blocking the others.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Unreadable {
    pub tenant: String,
    pub due_ms: u64,
    pub id: u64,
}

/// What a read of the due outbox found.
#[derive(Debug, Default)]
pub(crate) struct DueActions {
    /// Due, not in flight, at most `per_tenant` per tenant, tenants taking turns.
    pub actions: Vec<Action>,
    /// Rows found in flight (being delivered, or left so by a crash).
    pub in_flight: Vec<Action>,
    /// Rows that did not open.
    pub unreadable: Vec<Unreadable>,
}

fn record_key(due_ms: u64, id: u64) -> String {
    format!("{due_ms}:{id}")
}

impl ReadTx<'_> {
    /// One tenant's due rows, oldest first, at most `limit` not in flight.
    fn due_of(&self, tenant: &str, now_ms: u64, limit: usize, out: &mut DueActions) -> Result<()> {
        let outbox = self.tx.open_table(OUTBOX)?;
        let mut taken = 0;
        for row in outbox.range((tenant, 0, 0)..=(tenant, now_ms, u64::MAX))? {
            let (k, v) = row?;
            let (_, due, id) = k.value();
            match self.open_value::<Action>("outbox", tenant, &record_key(due, id), v.value()) {
                Ok(mut action) => {
                    action.due_ms = due;
                    if action.in_flight {
                        out.in_flight.push(action);
                    } else if taken < limit {
                        out.actions.push(action);
                        taken += 1;
                    }
                }
                Err(e) => {
                    tracing::error!(tenant, "outbox row {due}:{id} does not open: {e}");
                    out.unreadable.push(Unreadable {
                        tenant: tenant.to_string(),
                        due_ms: due,
                        id,
                    });
                }
            }
            if taken >= limit {
                break;
            }
        }
        Ok(())
    }

    /// The tenants with rows in the outbox, in key order.
    fn outbox_tenants(&self) -> Result<Vec<String>> {
        let outbox = self.tx.open_table(OUTBOX)?;
        let mut tenants = Vec::new();
        let mut next = outbox.first()?.map(|(k, _)| k.value().0.to_string());
        while let Some(t) = next {
            // The first row after every row of `t`.
            next = outbox
                .range((t.as_str(), u64::MAX, u64::MAX)..)?
                .filter_map(|r| r.ok())
                .map(|(k, _)| k.value().0.to_string())
                .find(|other| *other != t);
            tenants.push(t);
        }
        Ok(tenants)
    }
}

impl Store {
    /// Actions due at `now_ms`: each tenant's oldest first, at most `per_tenant` of each,
    /// so one tenant's backlog never holds the others back. Rows in flight and rows that
    /// do not open are reported apart.
    pub(crate) fn due_actions(&self, now_ms: u64, per_tenant: usize) -> Result<DueActions> {
        self.read(|r| {
            let mut out = DueActions::default();
            for tenant in r.outbox_tenants()? {
                r.due_of(&tenant, now_ms, per_tenant, &mut out)?;
            }
            Ok(out)
        })
    }

    /// Actions waiting in the outbox, all tenants (in flight or not, readable or not).
    pub(crate) fn outbox_len(&self) -> Result<usize> {
        self.read(|r| Ok(r.tx.open_table(OUTBOX)?.len()? as usize))
    }

    /// Actions moved to the dead letters (of one tenant, or all), oldest id order.
    pub(crate) fn dead_letters(&self, tenant: Option<&TenantId>) -> Result<Vec<Action>> {
        self.read(|r| {
            let table = r.tx.open_table(DEAD_LETTERS)?;
            let rows = match tenant {
                Some(t) => table.range((t.as_str(), 0)..=(t.as_str(), u64::MAX)),
                None => table.range::<(&str, u64)>(..),
            }?;
            let mut out = Vec::new();
            for row in rows {
                let (k, v) = row?;
                let (t, id) = k.value();
                match r.open_value("dead_letters", t, &id.to_string(), v.value()) {
                    Ok(action) => out.push(action),
                    Err(e) => tracing::error!(tenant = t, "dead letter {id} does not open: {e}"),
                }
            }
            Ok(out)
        })
    }

    /// Sets unreadable outbox rows aside in the quarantine, reported, out of the way.
    pub(crate) fn quarantine_outbox(&self, rows: &[Unreadable]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        self.write(|w| {
            let mut outbox = w.tx.open_table(OUTBOX)?;
            let mut quarantine = w.tx.open_table(QUARANTINE)?;
            for r in rows {
                let raw = outbox
                    .remove((r.tenant.as_str(), r.due_ms, r.id))?
                    .map(|v| v.value().to_vec());
                if let Some(raw) = raw {
                    let key = record_key(r.due_ms, r.id);
                    quarantine
                        .insert(("outbox", r.tenant.as_str(), key.as_str()), raw.as_slice())?;
                }
            }
            Ok(())
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
        origin: Origin,
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
            origin,
            in_flight: false,
            claimed_ms: 0,
        };
        self.put_action(&action)
    }

    /// Writes an action under its key (tenant, due, id).
    pub fn put_action(&mut self, action: &Action) -> Result<()> {
        let t = action.tenant.as_str();
        let sealed = self.seal_json("outbox", t, &record_key(action.due_ms, action.id), action)?;
        self.tx
            .open_table(OUTBOX)?
            .insert((t, action.due_ms, action.id), sealed.as_slice())?;
        Ok(())
    }

    /// The action as stored now (`None` once it was delivered, dropped or moved).
    pub fn action(&mut self, action: &Action) -> Result<Option<Action>> {
        let t = action.tenant.as_str();
        let sealed = self
            .tx
            .open_table(OUTBOX)?
            .get((t, action.due_ms, action.id))?
            .map(|v| v.value().to_vec());
        let Some(sealed) = sealed else {
            return Ok(None);
        };
        let key = record_key(action.due_ms, action.id);
        let mut stored: Action = self.open_sealed("outbox", t, &key, &sealed)?;
        stored.due_ms = action.due_ms;
        Ok(Some(stored))
    }

    /// Removes a queued action; true when it was there.
    pub fn dequeue(&mut self, action: &Action) -> Result<bool> {
        Ok(self
            .tx
            .open_table(OUTBOX)?
            .remove((action.tenant.as_str(), action.due_ms, action.id))?
            .is_some())
    }

    /// Moves an action out of the outbox into the dead letters, saying why.
    pub fn dead_letter(&mut self, action: &Action, why: &str) -> Result<()> {
        self.dequeue(action)?;
        let mut dead = action.clone();
        dead.in_flight = false;
        dead.last_error = Some(why.chars().take(500).collect());
        let t = dead.tenant.as_str();
        let sealed = self.seal_json("dead_letters", t, &dead.id.to_string(), &dead)?;
        self.tx
            .open_table(DEAD_LETTERS)?
            .insert((t, dead.id), sealed.as_slice())?;
        Ok(())
    }

    /// Removes a contact's queued actions for which `drop` says so (all of them, or only
    /// the texts); returns how many. Rows that do not open are set aside on the next read.
    pub fn drop_actions_of(
        &mut self,
        tenant: &TenantId,
        contact: &ContactId,
        drop: impl Fn(&Action) -> bool,
    ) -> Result<usize> {
        let t = tenant.as_str();
        let rows: Vec<(u64, u64, Vec<u8>)> = self
            .tx
            .open_table(OUTBOX)?
            .range((t, 0, 0)..=(t, u64::MAX, u64::MAX))?
            .filter_map(|r| r.ok())
            .map(|(k, v)| (k.value().1, k.value().2, v.value().to_vec()))
            .collect();
        let mut dropped = 0;
        for (due, id, sealed) in rows {
            let Ok(action) = self.open_sealed::<Action>("outbox", t, &record_key(due, id), &sealed)
            else {
                continue;
            };
            if action.contact == *contact && drop(&action) {
                self.tx.open_table(OUTBOX)?.remove((t, due, id))?;
                dropped += 1;
            }
        }
        Ok(dropped)
    }

    /// Removes a contact's dead letters.
    pub(super) fn drop_dead_letters_of(
        &mut self,
        tenant: &TenantId,
        contact: &ContactId,
    ) -> Result<()> {
        let t = tenant.as_str();
        let rows: Vec<(u64, Vec<u8>)> = self
            .tx
            .open_table(DEAD_LETTERS)?
            .range((t, 0)..=(t, u64::MAX))?
            .filter_map(|r| r.ok())
            .map(|(k, v)| (k.value().1, v.value().to_vec()))
            .collect();
        for (id, sealed) in rows {
            let named = self
                .open_sealed::<Action>("dead_letters", t, &id.to_string(), &sealed)
                .is_ok_and(|a| a.contact == *contact);
            if named {
                self.tx.open_table(DEAD_LETTERS)?.remove((t, id))?;
            }
        }
        Ok(())
    }
}
