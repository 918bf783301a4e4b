//! Group commit of prepared changes. A message is decided outside the write lock, from a
//! read snapshot of its contact, into a [`ContactChange`]: owned data, nothing left to
//! decide. Changes from concurrent callers are applied in one write transaction (the first
//! caller to find no commit running leads, the others wait for its answer; a leader
//! commits one batch and hands the lead to the oldest waiter) and each caller returns
//! once the transaction holding its change is durable. A change prepared
//! from an older version of its contact is refused and the caller decides again.

use super::webhooks::Delivery;
use super::{Store, WriteTx};
use crate::error::{Error, Result};
use crate::ids::{ContactId, TenantId};
use crate::model::{ActionKind, Contact, Origin};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, RecvTimeoutError, SyncSender};
use std::sync::Mutex;
use std::time::Duration;

/// Most changes in one transaction.
const BATCH: usize = 512;

/// How long a waiter sleeps before it looks whether anyone leads at all.
const SAFETY_NET: Duration = Duration::from_millis(100);

/// Everything one message (or one re-decision) changes.
#[derive(Clone, Debug)]
pub(crate) struct ContactChange {
    pub tenant: TenantId,
    /// The contact's new state (its `version` one past `expected`).
    pub contact: Contact,
    /// The version the change was prepared from (`None`: the contact did not exist).
    pub expected: Option<u64>,
    /// The follow-up entry to remove, and the one to add.
    pub unschedule: Option<u64>,
    pub schedule: Option<u64>,
    /// Drop the contact's queued texts first (an opt-out).
    pub drop_texts: bool,
    /// Actions to queue (the tenant is connected to the CRM), due now.
    pub enqueue: Vec<(ActionKind, Origin)>,
    pub now_ms: u64,
    /// The contact still waits for a decision (its rules failed).
    pub pending: bool,
    /// The delivery this message came under, remembered with the change.
    pub delivery: Option<(String, Delivery)>,
    /// First exposures to record: (experiment key, variant).
    pub exposures: Vec<(String, String)>,
    /// Conversions of exposed contacts to record: (experiment key, metric).
    pub outcomes: Vec<(String, String)>,
    /// The analytics this change counts, by day.
    pub tally: Vec<(u32, crate::model::DayStats)>,
}

/// What a contact looked like when a change was prepared from it.
pub(crate) struct ContactView {
    pub contact: Option<Contact>,
    pub connected: bool,
    pub delivery: Option<Delivery>,
    /// Keys of the tenant's stopped experiments.
    pub stopped: Vec<String>,
}

impl Store {
    /// A read snapshot for preparing a change: the contact, whether the tenant is
    /// connected to the CRM, and the delivery remembered under `delivery_id`.
    pub(crate) fn view(
        &self,
        tenant: &TenantId,
        contact: &ContactId,
        delivery_id: Option<&str>,
    ) -> Result<ContactView> {
        self.read(|r| {
            Ok(ContactView {
                contact: r.contact(tenant, contact)?,
                connected: r.ghl_connected(tenant)?,
                delivery: delivery_id
                    .map(|id| r.delivery(tenant, contact, id))
                    .transpose()?
                    .flatten(),
                stopped: r.stopped_experiments(tenant)?,
            })
        })
    }

    /// Applies a change durably, batched with concurrent ones: `false` when its contact
    /// changed since it was prepared (nothing written: decide again).
    pub(crate) fn commit(&self, change: ContactChange) -> Result<bool> {
        // Room for a handed-over lead and the answer.
        let (reply, answer) = sync_channel(2);
        self.group
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((change, reply));
        let mut lead = !self.group.leading.swap(true, Ordering::SeqCst);
        loop {
            if lead {
                self.lead();
            }
            // Answered or handed the lead, normally; the timeout is a safety net only (a
            // lead lost to a bug is taken back within it instead of stalling commits).
            match answer.recv_timeout(SAFETY_NET) {
                Ok(Reply::Done(result)) => return result,
                Ok(Reply::Lead) => lead = true, // handed over: `leading` stayed set
                Err(RecvTimeoutError::Timeout) => {
                    lead = !self.group.leading.swap(true, Ordering::SeqCst);
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(Error::Store("the commit was abandoned".into()))
                }
            }
        }
    }

    /// What group commit has done since the store opened.
    pub fn commit_stats(&self) -> CommitStats {
        let g = &self.group;
        CommitStats {
            batches: g.batches.load(Ordering::Relaxed),
            changes: g.changes.load(Ordering::Relaxed),
            conflicts: g.conflicts.load(Ordering::Relaxed),
        }
    }

    /// Commits one batch (the oldest queued changes, the leader's own among them), then
    /// hands the lead to the caller whose change is now oldest, or steps down when none
    /// is queued. One batch each: a leader that kept committing while others kept
    /// queueing would wait for its own answer as long as the storm lasted (measured: a
    /// caller held for the whole of a 10 s storm). Waiters sleep until they are
    /// answered or handed the lead (they polled every millisecond, a fifth of a storm's
    /// throughput), looking only every [`SAFETY_NET`] whether anyone leads.
    fn lead(&self) {
        /// If the batch panics (a bug), the lead is not lost with it: the oldest waiter
        /// gets it, or nobody holds it. (The panicking batch's callers hear that their
        /// commit was abandoned.)
        struct Unwinding<'a>(&'a Store);
        impl Drop for Unwinding<'_> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    let next = self.0.oldest_waiter();
                    if next.is_none_or(|reply| reply.try_send(Reply::Lead).is_err()) {
                        self.0.group.leading.store(false, Ordering::SeqCst);
                    }
                }
            }
        }
        let _unwinding = Unwinding(self);
        loop {
            let batch: Vec<_> = {
                let mut queue = self.group.queue.lock().unwrap_or_else(|e| e.into_inner());
                let n = queue.len().min(BATCH);
                queue.drain(..n).collect()
            };
            if !batch.is_empty() {
                self.commit_batch(batch);
            }
            match self.oldest_waiter() {
                // The oldest waiter's change is still queued, so it still waits for an
                // answer and its channel has room.
                Some(reply) if reply.try_send(Reply::Lead).is_ok() => return,
                // Its caller is gone (it panicked): commit for it here.
                Some(_) => continue,
                None => {
                    // Step down, then look again: a change queued before that saw the
                    // lead taken and waits for a hand-over; take the lead back for it.
                    self.group.leading.store(false, Ordering::SeqCst);
                    let queue = self.group.queue.lock().unwrap_or_else(|e| e.into_inner());
                    let waiting = !queue.is_empty();
                    drop(queue);
                    if !waiting || self.group.leading.swap(true, Ordering::SeqCst) {
                        return;
                    }
                }
            }
        }
    }

    /// The channel of the caller whose change is oldest in the queue, if any.
    fn oldest_waiter(&self) -> Option<SyncSender<Reply>> {
        let queue = self.group.queue.lock().unwrap_or_else(|e| e.into_inner());
        queue.first().map(|(_, reply)| reply.clone())
    }

    /// Applies a batch of changes in one durable transaction and answers their callers.
    fn commit_batch(&self, batch: Vec<(ContactChange, SyncSender<Reply>)>) {
        metrics::histogram!("qualify_group_commit_batch_size").record(batch.len() as f64);
        let (mut changes, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        let outcome = self.write(|tx| {
            Ok(changes
                .iter_mut()
                .map(|c| tx.apply_isolated(c))
                .collect::<Vec<Result<bool>>>())
        });
        match outcome {
            Ok(results) => {
                let g = &self.group;
                let count = |want: bool| {
                    results
                        .iter()
                        .filter(|r| matches!(r, Ok(b) if *b == want))
                        .count()
                };
                let (applied, refused) = (count(true), count(false));
                g.batches.fetch_add(1, Ordering::Relaxed);
                g.changes.fetch_add(applied as u64, Ordering::Relaxed);
                g.conflicts.fetch_add(refused as u64, Ordering::Relaxed);
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(Reply::Done(result));
                }
            }
            Err(e) => {
                // The whole batch failed (an I/O error): every caller hears why.
                for reply in replies {
                    let _ = reply.send(Reply::Done(Err(match &e {
                        Error::StoreBroken(why) => Error::StoreBroken(why.clone()),
                        other => Error::Store(other.to_string()),
                    })));
                }
            }
        }
    }
}

/// What a waiting caller hears.
enum Reply {
    /// Its change's outcome.
    Done(Result<bool>),
    /// It leads the next batch.
    Lead,
}

/// The commit queue and who leads it.
#[derive(Default)]
pub(super) struct GroupCommit {
    queue: Mutex<Vec<(ContactChange, SyncSender<Reply>)>>,
    leading: AtomicBool,
    batches: AtomicU64,
    changes: AtomicU64,
    conflicts: AtomicU64,
}

/// What group commit has done since the store opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CommitStats {
    /// Durable transactions committed for prepared changes.
    pub batches: u64,
    /// Changes applied in them.
    pub changes: u64,
    /// Changes refused because their contact changed after they were prepared (each was
    /// decided again).
    pub conflicts: u64,
}

impl WriteTx<'_> {
    /// Applies one prepared change inside this transaction. Everything that can refuse it
    /// (the version, a delivery recorded meanwhile, a record that does not open) is read
    /// before anything is written, so a refused change leaves no trace in the batch.
    pub fn apply(&mut self, change: &mut ContactChange) -> Result<bool> {
        let (tenant, id) = (&change.tenant.clone(), &change.contact.id.clone());
        let current = self.contact_version(tenant, id)?;
        if current != change.expected {
            return Ok(false);
        }
        if let Some((delivery_id, _)) = &change.delivery {
            if self
                .delivery(tenant, id, delivery_id)?
                .is_some_and(|d| d.result.is_some())
            {
                return Ok(false); // the same delivery was decided meanwhile
            }
        }
        if change.drop_texts {
            self.drop_actions_of(tenant, id, |a| {
                matches!(a.kind, ActionKind::SendMessage { .. })
            })?;
        }
        if let Some(due) = change.unschedule {
            self.unschedule(due, tenant, id)?;
        }
        if let Some(due) = change.schedule {
            self.schedule(due, tenant, id)?;
        }
        self.put_contact(tenant, &mut change.contact)?;
        self.set_pending(tenant, id, change.pending)?;
        for (kind, origin) in &change.enqueue {
            self.enqueue(tenant, id, kind.clone(), *origin, change.now_ms)?;
        }
        if let Some((delivery_id, delivery)) = &change.delivery {
            self.remember_delivery(tenant, id, delivery_id, delivery)?;
        }
        for (key, variant) in &change.exposures {
            self.expose(tenant, key, id, variant, change.now_ms)?;
        }
        for (key, metric) in &change.outcomes {
            self.record_outcome(tenant, key, metric, id, 1.0, change.now_ms)?;
        }
        for (day, stats) in &change.tally {
            self.tally(tenant, *day, stats);
        }
        Ok(true)
    }

    /// [`WriteTx::apply`], so that a change that fails part-way leaves nothing in the
    /// batch and its batch-mates commit (a savepoint per change in PostgreSQL).
    fn apply_isolated(&mut self, change: &mut ContactChange) -> Result<bool> {
        let tx = self.tx;
        if !tx.has_savepoints() {
            return self.apply(change);
        }
        let (keys, tallies) = (self.new_deks.len(), self.tallies.clone());
        let out = tx.isolated(|| self.apply(change));
        if out.is_err() {
            self.new_deks.truncate(keys);
            self.tallies = tallies;
        }
        out
    }

    /// The same snapshot as [`Store::view`], inside this transaction.
    pub fn view(
        &mut self,
        tenant: &TenantId,
        contact: &ContactId,
        delivery_id: Option<&str>,
    ) -> Result<ContactView> {
        Ok(ContactView {
            contact: self.contact(tenant, contact)?,
            connected: self.ghl_connected(tenant)?,
            delivery: match delivery_id {
                Some(id) => self.delivery(tenant, contact, id)?,
                None => None,
            },
            stopped: self.stopped_experiments(tenant)?,
        })
    }
}
