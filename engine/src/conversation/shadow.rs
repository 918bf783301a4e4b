//! Shadow mode: while a tenant's folder holds a `candidate/`, each live decision made for
//! it (a score, an ingested message) is made again under the candidate, never acted on,
//! and the differences are counted per kind, as a replay counts them (class, score, tags,
//! next question, hand-off, with the class transitions).
//!
//! The request only hands the work over: a few threads of shadow mode's own (half the
//! cores, in Linux's idle scheduling class: they run only on a core nothing else wants)
//! decide the candidate's side from a bounded queue. When they are behind, new work is
//! dropped and counted, never queued without bound; a candidate that fails (a
//! script error, a limit, even a panic) is counted with its first error and never
//! reaches the live request. Counts live in memory, per tenant, since the serving or
//! candidate version last changed (a new version starts them again).

use super::ingest::{decide_message, stored_text, Inbound};
use super::replay::{Changes, Side, Tally, Transition};
use crate::decide::{self, ScoreOptions};
use crate::error::Result;
use crate::ids::{ContactId, TenantId};
use crate::model::{Contact, Decision, Facts, Lead};
use crate::rules::{Candidate, RuleSet};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Decisions waiting for the shadow threads, at most, per thread; past it new work is
/// dropped (and counted).
const QUEUE_PER_THREAD: usize = 512;

/// How long an idle shadow thread sleeps before it looks at its queue again: from the
/// first to the second, doubling while the queue stays empty. A job waits at most this
/// long to start (its outcome is only counted, so nobody waits on it), and an idle
/// engine wakes a shadow thread ~20 times a second. A queue a quarter full wakes them
/// at once.
const NAP_MIN: Duration = Duration::from_millis(1);
const NAP_MAX: Duration = Duration::from_millis(50);

/// What the candidate decides again.
pub(crate) enum Work {
    /// A stateless decision: the lead as the caller described it.
    Lead(Box<Lead>),
    /// An ingested message: the contact as it was before it, the message and the hybrid
    /// extraction hints the serving version used.
    Message {
        prior: Option<Box<Contact>>,
        contact: ContactId,
        message: Box<Inbound>,
        hints: Option<Facts>,
    },
}

/// One decision to make again.
struct Job {
    tenant: TenantId,
    serving_version: Arc<str>,
    candidate: Arc<RuleSet>,
    serving: Side,
    work: Work,
    stopped: Vec<String>,
    now: Timestamp,
}

impl Job {
    /// The candidate's decision, as the serving version's was made.
    fn decide(&self) -> Result<Decision> {
        let rules = &self.candidate;
        match &self.work {
            Work::Lead(lead) => {
                let quiet = ScoreOptions { explain: false };
                let (stopped, now) = (&self.stopped, self.now);
                decide::decide(&self.tenant, rules, lead, &quiet, stopped, now)
            }
            Work::Message {
                prior,
                contact,
                message,
                hints,
            } => {
                let mut c = prior
                    .as_deref()
                    .cloned()
                    .unwrap_or_else(|| Contact::new(contact.clone(), self.now));
                let (stored, _) = stored_text(rules, message);
                let (tenant, stopped, now) = (&self.tenant, &self.stopped, self.now);
                let decided = decide_message(
                    &mut c,
                    tenant,
                    rules,
                    message,
                    hints.as_ref(),
                    &stored,
                    stopped,
                    now,
                    false,
                )?;
                Ok(decided.decision)
            }
        }
    }
}

/// One tenant's counts for one pair of versions.
struct Counts {
    serving_version: Arc<str>,
    candidate_version: Arc<str>,
    since: Timestamp,
    decisions: usize,
    /// Decisions the candidate's `shadow.sample` left out.
    skipped: usize,
    dropped: usize,
    failed: usize,
    first_failure: Option<String>,
    tally: Tally,
}

impl Counts {
    fn of(&self, serving: &str, candidate: &str) -> bool {
        &*self.serving_version == serving && &*self.candidate_version == candidate
    }
}

type Table = Arc<Mutex<HashMap<TenantId, Counts>>>;

/// Shadow mode's threads, queue and counts (idle until a tenant has a candidate).
pub(crate) struct Shadow {
    queue: OnceLock<Queue>,
    /// The queue's length, if not the default.
    capacity: Option<usize>,
    counts: Table,
}

/// The queue to the shadow threads.
struct Queue {
    tx: SyncSender<Job>,
    capacity: usize,
    /// Jobs sent and not yet taken (read before a job is built, to drop it cheaply).
    queued: Arc<AtomicUsize>,
    /// The shadow threads, to wake when the queue fills while they nap.
    threads: Vec<std::thread::Thread>,
}

/// What shadow mode found for a tenant: its live decisions made again under its
/// `candidate/` since the versions last changed, and what changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShadowReport {
    /// The tenant.
    pub tenant: TenantId,
    /// The serving rules version.
    pub serving_version: String,
    /// The candidate's rules version; `None` when the tenant's folder holds no
    /// `candidate/` (or it does not load: see `candidate_error`).
    pub candidate_version: Option<String>,
    /// Why the candidate does not load (every problem at its `file:line:column`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate_error: Option<String>,
    /// Since when these versions are counted (the first shadowed decision).
    pub since: Option<Timestamp>,
    /// The share of live decisions the candidate is asked to make again (its
    /// `shadow.sample`, 1 unless set).
    pub sample: f64,
    /// Live decisions seen since the versions last changed.
    pub decisions: usize,
    /// Decisions left out by the sample.
    pub skipped: usize,
    /// Decisions both versions made, compared below.
    pub compared: usize,
    /// Decisions still waiting for the candidate.
    pub pending: usize,
    /// Decisions not shadowed because the shadow threads were behind.
    pub dropped: usize,
    /// Decisions the candidate failed to make (a script error, a limit).
    pub failed: usize,
    /// The candidate's first failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_failure: Option<String>,
    /// How many compared decisions changed, by kind.
    pub changed: Changes,
    /// Class under the serving version → class under the candidate, every non-empty
    /// cell.
    pub transitions: Vec<Transition>,
}

impl Shadow {
    /// Shadow mode with a queue of `capacity` decisions (default: 512 per thread).
    pub fn new(capacity: Option<usize>) -> Self {
        Self {
            queue: OnceLock::new(),
            capacity,
            counts: Table::default(),
        }
    }

    /// Hands a live decision of `tenant`'s over to be made again under its candidate
    /// (nothing when its rules have none that loads), if the candidate's sample takes
    /// it. Never blocks: when the shadow threads are behind, the decision is dropped
    /// (before anything is copied) and counted.
    pub fn submit(
        &self,
        tenant: &TenantId,
        rules: &RuleSet,
        serving: &Decision,
        stopped: &[String],
        now: Timestamp,
        work: impl FnOnce() -> Work,
    ) {
        let Some(Candidate::Ready(candidate)) = &rules.candidate else {
            return;
        };
        let versions = (&rules.version, &candidate.version);
        let queue = self.queue();
        let full = queue.queued.load(Ordering::Relaxed) >= queue.capacity;
        let sample = candidate.settings.shadow.sample;
        // Counted before it is sent: its outcome may be counted as soon as it is.
        let go = self.count(tenant, versions, now, |c| {
            c.decisions += 1;
            if !sampled(c.decisions, sample) {
                c.skipped += 1;
                false
            } else if full {
                c.dropped += 1;
                metrics::counter!("qualify_shadow_decisions_total", "outcome" => "dropped")
                    .increment(1);
                false
            } else {
                true
            }
        });
        if !go {
            return;
        }
        let job = Job {
            tenant: tenant.clone(),
            serving_version: rules.version.clone(),
            candidate: candidate.clone(),
            serving: Side::from(serving),
            work: work(),
            stopped: stopped.to_vec(),
            now,
        };
        let queued = queue.queued.fetch_add(1, Ordering::Relaxed) + 1;
        if queued * 4 >= queue.capacity {
            queue.threads.iter().for_each(std::thread::Thread::unpark);
        }
        if queue.tx.try_send(job).is_err() {
            queue.queued.fetch_sub(1, Ordering::Relaxed);
            self.count(tenant, versions, now, |c| c.dropped += 1);
            metrics::counter!("qualify_shadow_decisions_total", "outcome" => "dropped")
                .increment(1);
        }
    }

    /// Updates a tenant's counts of the (serving, candidate) `versions`, started again
    /// when the versions changed.
    fn count<R>(
        &self,
        tenant: &TenantId,
        (serving, candidate): (&Arc<str>, &Arc<str>),
        now: Timestamp,
        update: impl FnOnce(&mut Counts) -> R,
    ) -> R {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = counts.get_mut(tenant).filter(|c| c.of(serving, candidate)) {
            return update(c); // the common case: no key to clone
        }
        let mut fresh = Counts {
            serving_version: serving.clone(),
            candidate_version: candidate.clone(),
            since: now,
            decisions: 0,
            skipped: 0,
            dropped: 0,
            failed: 0,
            first_failure: None,
            tally: Tally::default(),
        };
        let out = update(&mut fresh);
        counts.insert(tenant.clone(), fresh);
        out
    }

    /// The queue, its threads started on first use.
    fn queue(&self) -> &Queue {
        self.queue.get_or_init(|| {
            let threads = std::thread::available_parallelism()
                .map_or(1, |n| n.get() / 2)
                .max(1);
            let capacity = self.capacity.unwrap_or(threads * QUEUE_PER_THREAD);
            let (tx, rx) = sync_channel(capacity);
            let rx = Arc::new(Mutex::new(rx));
            let queued = Arc::new(AtomicUsize::new(0));
            let mut handles = Vec::with_capacity(threads);
            for i in 0..threads {
                let (rx, counts, queued) = (rx.clone(), self.counts.clone(), queued.clone());
                let spawned = std::thread::Builder::new()
                    .name(format!("qualify-shadow-{i}"))
                    .spawn(move || work(&rx, &queued, &counts));
                match spawned {
                    Ok(handle) => handles.push(handle.thread().clone()),
                    Err(e) => tracing::error!("shadow mode: cannot start a thread: {e}"),
                }
            }
            Queue {
                tx,
                capacity,
                queued,
                threads: handles,
            }
        })
    }

    /// The report for `tenant`, whose serving rules are `rules`.
    pub fn report(&self, tenant: &TenantId, rules: &RuleSet) -> ShadowReport {
        let mut report = ShadowReport {
            tenant: tenant.clone(),
            serving_version: rules.version.to_string(),
            candidate_version: None,
            candidate_error: None,
            since: None,
            sample: 1.0,
            decisions: 0,
            skipped: 0,
            compared: 0,
            pending: 0,
            dropped: 0,
            failed: 0,
            first_failure: None,
            changed: Changes::default(),
            transitions: Vec::new(),
        };
        let candidate = match &rules.candidate {
            None => return report,
            Some(Candidate::Failed(why)) => {
                report.candidate_error = Some(why.to_string());
                return report;
            }
            Some(Candidate::Ready(c)) => c,
        };
        report.candidate_version = Some(candidate.version.to_string());
        report.sample = candidate.settings.shadow.sample;
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let Some(c) = counts
            .get(tenant)
            .filter(|c| c.of(&rules.version, &candidate.version))
        else {
            return report;
        };
        report.since = Some(c.since);
        report.decisions = c.decisions;
        report.skipped = c.skipped;
        report.compared = c.tally.compared;
        report.dropped = c.dropped;
        report.failed = c.failed;
        report.pending =
            (c.decisions - c.skipped - c.dropped).saturating_sub(c.failed + c.tally.compared);
        report.first_failure = c.first_failure.clone();
        report.changed = c.tally.changed;
        report.transitions = c.tally.transitions();
        report
    }
}

/// Whether the `n`th decision (from 1) is in a sample of `share`: spread evenly, so
/// exactly `floor(n * share)` of the first `n` are.
fn sampled(n: usize, share: f64) -> bool {
    share >= 1.0 || (n as f64 * share).floor() > ((n - 1) as f64 * share).floor()
}

/// Lowers the calling thread to the idle scheduling class: it runs only when a core has
/// nothing else to run, so shadow work never slows a live request (when the cores are
/// busy its queue fills and new work is dropped, and counted).
fn idle_priority() {
    #[cfg(target_os = "linux")]
    {
        use thread_priority::{
            set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy,
            ThreadPriority, ThreadSchedulePolicy,
        };
        let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
        if let Err(e) =
            set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, idle)
        {
            tracing::warn!("shadow mode: cannot lower its threads' priority ({e:?}): it competes with live requests");
        }
    }
}

/// A shadow thread: takes jobs until the engine is dropped.
///
/// It polls the queue, sleeping between polls while it is empty, rather than blocking on
/// it: a thread blocked on a channel has to be woken by the sender, and that wake-up (a
/// system call, on a virtual machine an interrupt sent to the other core) is paid by the
/// live request. Measured (`examples/shadow_pair.rs`): a candidate sampling a tenth of
/// the decisions cost the request ~7 % that way, ~1 % when it was sampling none. A
/// sender wakes the threads only when the queue is a quarter full (a burst after a
/// long nap), so a nap never costs dropped work.
fn work(rx: &Mutex<Receiver<Job>>, queued: &AtomicUsize, counts: &Table) {
    idle_priority();
    // Waiting for a core is not the candidate's fault: its hooks' time limit counts the
    // CPU time they use.
    crate::rules::count_cpu_time();
    let mut nap = NAP_MIN;
    loop {
        let next = rx.lock().unwrap_or_else(|e| e.into_inner()).try_recv();
        let job = match next {
            Ok(job) => job,
            Err(TryRecvError::Empty) => {
                std::thread::park_timeout(nap);
                nap = (nap * 2).min(NAP_MAX);
                continue;
            }
            Err(TryRecvError::Disconnected) => return, // the engine is gone
        };
        nap = NAP_MIN;
        queued.fetch_sub(1, Ordering::Relaxed);
        let decided = match catch_unwind(AssertUnwindSafe(|| job.decide())) {
            Ok(decided) => decided.map_err(|e| e.to_string()),
            Err(_) => Err("the candidate's decision panicked (a bug in Qualify)".into()),
        };
        let outcome = if decided.is_ok() {
            "compared"
        } else {
            "failed"
        };
        metrics::counter!("qualify_shadow_decisions_total", "outcome" => outcome).increment(1);
        let mut counts = counts.lock().unwrap_or_else(|e| e.into_inner());
        // Counts of other versions started meanwhile do not take this one.
        let Some(c) = counts
            .get_mut(&job.tenant)
            .filter(|c| c.of(&job.serving_version, &job.candidate.version))
        else {
            continue;
        };
        match decided {
            Ok(d) => {
                c.tally.add(&job.serving, &Side::from(&d));
            }
            Err(e) => {
                c.failed += 1;
                c.first_failure.get_or_insert(e);
            }
        }
    }
}
