//! Who gets the cores when they are busy: the CPU each tenant's decisions use, and a pool
//! of low-priority threads for the tenants whose decisions use far more than a decision
//! should (a hook that spins to its operation limit, a script doing heavy work).
//!
//! The per-tenant turns ([`super::TenantGate`]) bound how many of a tenant's calls run at
//! once, but two spinning calls still take two threads' share of the cores, and on a
//! small machine that is half of it. So a tenant whose stateless decisions average more
//! than [`HEAVY`] of CPU each has them run on threads at the lowest CPU priority (nice 19):
//! while other work wants the cores the kernel gives them a sliver, and when the cores are
//! idle they run at full speed. The average is of CPU time, not wall time, so running
//! slowly at low priority does not keep a tenant there: once its decisions get cheap
//! again (a fixed script) they return to the normal pool.
//!
//! The other way round, a tenant whose decisions are cheap has a single decision
//! (`/v1/score`) made on the async thread that read its request, not handed to the
//! blocking pool and back: measured on two cores, the hand-off (two context switches and
//! a wake-up) cost more CPU than the decision itself (BENCHMARKS.md). A tenant qualifies
//! once its last [`INLINE_AFTER`] decisions each used less CPU than the server's bound
//! (`Config::inline_below`, default [`INLINE`]: tokio's rule of thumb for work between
//! two `.await`s) and none of them waited (for I/O or a lock: a store read over the
//! network, for a tenant with experiments on PostgreSQL): a tenant whose decisions wait
//! never has them on an async thread. A decision over the bound (a script just changed
//! to spin, a rule set compiled on first use) still finishes where it started, but the
//! record starts over: the tenant's next decisions go to the pool until it has a new run
//! of cheap ones. Finishing is bounded: a decision whose hooks are still running after
//! [`INLINE_BUDGET`] (`Config::inline_budget`) is stopped and made again on the pool with
//! the full limits, so a tenant whose cheap run ends in a lead its script is slow on
//! holds an async thread for about a millisecond, not for its hooks' time limit.
//!
//! Only stateless decisions move (`/v1/score` and `/v1/score/batch`; a heavy tenant's
//! batch is decided one lead after another on its low-priority thread, not on every
//! core): an ingest may lead a group commit for everyone, and a low-priority thread doing
//! that would hold up every tenant's commit. A light tenant's batch is decided on every
//! core only while its leads stay cheap ([`decide_batch_sharing`]): its first lead cheap
//! and the rest spinning, it would otherwise hold the pool every tenant's batches share
//! for the whole batch, unweighed.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// A tenant whose decisions average more CPU than this each runs them at low priority:
/// ~25–50× a default decision on this project's 2-core reference machine, well under a
/// hook's operation limit (~1–2 ms of spinning).
pub const HEAVY: Duration = Duration::from_micros(500);

/// The default bound on a decision's CPU time for it to be made on the request's async
/// thread: tokio's documented rule of thumb for work between two `.await`s (10–100 µs),
/// ~3–8× a default decision on the reference machine.
pub const INLINE: Duration = Duration::from_micros(100);

/// How long a decision made on the request's async thread may run its hooks (wall
/// time) before it is stopped and made again on the blocking pool: 10× the default
/// bound. Only a hook past a few thousand operations ever looks at it (the clock is read
/// that rarely), so cheap decisions are never stopped by it.
pub const INLINE_BUDGET: Duration = Duration::from_millis(1);

/// How many of a tenant's decisions in a row must each use less CPU than the bound
/// (weighed on the pools) before its decisions are made on the request's thread.
pub const INLINE_AFTER: u64 = 16;

/// The CPU a tenant's decisions use: an exponentially weighted average over its calls
/// (each call weighs an eighth), and how many decisions in a row were cheap.
pub(crate) struct Weight {
    cpu_ns: AtomicU64,
    /// Decisions in a row under `inline_below` (counted up to [`INLINE_AFTER`]).
    cheap_run: AtomicU64,
    inline_below: Duration,
    /// The tenant's last batch waited (for I/O or a lock) before its first decision: a
    /// store read over the network, for a tenant with experiments on PostgreSQL.
    batch_waited: AtomicBool,
}

impl Weight {
    /// A tenant's weight, none yet; decisions under `inline_below` count as cheap.
    pub fn new(inline_below: Duration) -> Self {
        Self {
            cpu_ns: AtomicU64::new(0),
            cheap_run: AtomicU64::new(0),
            inline_below,
            batch_waited: AtomicBool::new(false),
        }
    }

    /// True when the tenant's last batch waited before deciding ([`Weigher::before_batch`]):
    /// its next one goes to the blocking pool, not to rayon's, whose few threads must
    /// not sit waiting on the network.
    pub fn batch_waits(&self) -> bool {
        self.batch_waited.load(Ordering::Relaxed)
    }

    /// True when the tenant's last [`INLINE_AFTER`] decisions were each cheap: the next
    /// may be made on the request's async thread.
    pub fn inline(&self) -> bool {
        self.cheap_run.load(Ordering::Relaxed) >= INLINE_AFTER && !self.heavy()
    }

    /// True when the tenant's decisions are heavy enough to run at low priority.
    pub fn heavy(&self) -> bool {
        self.cpu_ns.load(Ordering::Relaxed) > HEAVY.as_nanos() as u64
    }

    /// Counts one decision's CPU time, and whether it waited (for I/O or a lock: a store
    /// read over the network, for a tenant with experiments on PostgreSQL). The average
    /// (what makes a tenant heavy) is of CPU time; a decision is cheap when its CPU time
    /// is under the bound and it did not wait, since a decision that waits must not run
    /// on an async thread. Concurrent calls may lose an update to each other, which an
    /// average over many calls does not notice (nor the run of cheap ones: a lost reset
    /// is caught by the next expensive decision).
    pub fn record(&self, cpu: Duration, waited: bool) {
        let ns = u64::try_from(cpu.as_nanos()).unwrap_or(u64::MAX);
        let old = self.cpu_ns.load(Ordering::Relaxed);
        self.cpu_ns.store(old - old / 8 + ns / 8, Ordering::Relaxed);
        if waited || cpu >= self.inline_below {
            self.cheap_run.store(0, Ordering::Relaxed);
        } else if self.cheap_run.load(Ordering::Relaxed) < INLINE_AFTER {
            self.cheap_run.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The average, for logs.
    pub fn average(&self) -> Duration {
        Duration::from_nanos(self.cpu_ns.load(Ordering::Relaxed))
    }
}

/// What a tenant's decision call knows of its weight: whether it runs at low priority,
/// and a way to count the CPU time of decisions made on this thread.
pub(crate) struct Weigher<'a> {
    weight: &'a Weight,
    /// The call runs on the low-priority pool (the tenant is heavy).
    pub heavy: bool,
}

impl<'a> Weigher<'a> {
    pub fn new(weight: &'a Weight, heavy: bool) -> Self {
        Self { weight, heavy }
    }

    /// Runs `f`, what a batch does before its decisions (the rule set and the stopped
    /// experiments: a store read), and records whether the thread waited meanwhile
    /// ([`Weight::batch_waits`]).
    pub fn before_batch<T>(&self, f: impl FnOnce() -> T) -> T {
        let waits = Waits::now();
        let out = f();
        let waited = waits.waited(self.weight.inline_below);
        self.weight.batch_waited.store(waited, Ordering::Relaxed);
        out
    }

    /// Runs `f`, `decisions` decisions made on this thread, and counts their CPU time
    /// (each decision weighs its share; no decisions, nothing counted) and whether the
    /// thread waited meanwhile.
    pub fn weigh<T>(&self, decisions: usize, f: impl FnOnce() -> T) -> T {
        let (cpu, waits) = (cpu_time::ThreadTime::now(), Waits::now());
        let out = f();
        if let Ok(n @ 1..) = u32::try_from(decisions) {
            self.weight
                .record(cpu.elapsed() / n, waits.waited(self.weight.inline_below));
        }
        out
    }
}

/// Whether the calling thread waited (blocked on I/O or a lock) between two points.
/// Linux counts a thread's voluntary context switches (preemption is involuntary, so a
/// busy machine does not make a decision look like it waited); elsewhere the wall-clock
/// time stands in, over the bound.
struct Waits {
    #[cfg(target_os = "linux")]
    voluntary: Option<std::ffi::c_long>,
    start: std::time::Instant,
}

impl Waits {
    fn now() -> Self {
        Self {
            #[cfg(target_os = "linux")]
            voluntary: voluntary_switches(),
            start: std::time::Instant::now(),
        }
    }

    fn waited(&self, bound: Duration) -> bool {
        #[cfg(target_os = "linux")]
        if let (Some(before), Some(after)) = (self.voluntary, voluntary_switches()) {
            return after > before;
        }
        self.start.elapsed() >= bound
    }
}

#[cfg(target_os = "linux")]
fn voluntary_switches() -> Option<std::ffi::c_long> {
    use nix::sys::resource::{getrusage, UsageWho};
    getrusage(UsageWho::RUSAGE_THREAD)
        .ok()
        .map(|u| u.voluntary_context_switches())
}

/// A light tenant's batch: the first lead decided on the calling thread and weighed (a
/// tenant's first batch may be its first decision), the rest on every core (rayon's pool,
/// which every tenant's batches share) for as long as each lead uses less than [`HEAVY`]
/// of CPU. A lead over it (a script slow only for some leads: the first one cheap, the
/// rest spinning) stops the others from starting on the shared pool: they come back
/// undecided (`None`), for the caller to decide off the pool, one after another, each
/// weighed (so the tenant's next calls run at low priority), and the pool is held for the
/// leads already under way, not for the whole batch. The calling thread is itself one of
/// the pool's (the server sends a light tenant's batch there), so it must not decide
/// them either: waiting in a pool thread, even while running other jobs, holds whatever
/// job that thread was running beneath it (measured by `host/tests/batch_slow_leads.rs`).
/// Decisions come back in the leads' order.
///
/// Reading a thread's CPU clock costs a system call (~0.4 µs here, a few per cent of a
/// decision), so a lead's wall time is what is looked at; only a lead over the bound by
/// the wall clock (slow, or its thread preempted) has its CPU time checked: at least the
/// CPU the thread used since the last check, less the wall time of the leads before it.
///
/// `finish` runs on the thread that made each decision (the handler writes it as JSON
/// there): the pool's threads then write in parallel, and a decision's many allocations
/// are freed where they were made instead of on the calling thread.
pub(crate) fn decide_batch_sharing<T: Send>(
    batch: &qualify_engine::Batch,
    leads: &[qualify_engine::Lead],
    weigher: &Weigher<'_>,
    finish: impl Fn(qualify_engine::Result<qualify_engine::Decision>) -> T + Sync,
) -> Vec<Option<T>> {
    use rayon::prelude::*;
    use std::time::Instant;
    /// A run of leads on one thread since its CPU clock was last read.
    struct Since {
        cpu: cpu_time::ThreadTime,
        wall_before: Duration,
    }
    let (first, rest) = leads.split_at(leads.len().min(1));
    let mut out: Vec<Option<T>> = weigher.weigh(first.len(), || {
        batch
            .decide_here(first)
            .into_iter()
            .map(|d| Some(finish(d)))
            .collect()
    });
    let slow = AtomicBool::new(false);
    let shared: Vec<Option<_>> = rest
        .par_iter()
        .map_init(
            || Since {
                cpu: cpu_time::ThreadTime::now(),
                wall_before: Duration::ZERO,
            },
            |since, lead| {
                if slow.load(Ordering::Relaxed) {
                    return None;
                }
                let started = Instant::now();
                let decided = finish(batch.decide(lead));
                let wall = started.elapsed();
                if wall > HEAVY {
                    let cpu = since.cpu.elapsed().saturating_sub(since.wall_before);
                    if cpu > HEAVY {
                        // Weighed too: a batch whose slow leads all started here (none
                        // left to decide on the calling thread) still counts them.
                        weigher.weight.record(cpu, false);
                        slow.store(true, Ordering::Relaxed);
                    }
                    since.cpu = cpu_time::ThreadTime::now();
                    since.wall_before = Duration::ZERO;
                } else {
                    since.wall_before += wall;
                }
                Some(decided)
            },
        )
        .collect();
    if slow.load(Ordering::Relaxed) {
        metrics::counter!("qualify_batches_off_shared_pool_total").increment(1);
    }
    out.extend(shared);
    out
}

/// Runs `f` (a light tenant's batch) as a job on rayon's pool, where
/// [`decide_batch_sharing`] then splits it: its leads run on the thread that took the
/// job and on any idle one, with no thread blocked waiting for the pool (measured: three
/// context switches a request fewer than from the blocking pool, and 4–7 % more batches
/// a second; BENCHMARKS.md). Its result, or `None` when it panicked. A tenant whose
/// batches wait before deciding ([`Weight::batch_waits`]) is not sent here.
pub(crate) async fn on_shared_pool<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    rayon::spawn(move || {
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let _ = tx.send(out.ok());
    });
    rx.await.ok().flatten()
}

type Job = Box<dyn FnOnce() + Send>;

/// Threads at the lowest CPU priority, one per core, started on first use.
#[derive(Default)]
pub(crate) struct LowPriority {
    queue: OnceLock<Mutex<Sender<Job>>>,
}

impl LowPriority {
    /// Runs `f` on a low-priority thread; its result, or `None` when it panicked.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let _ = tx.send(out.ok());
        });
        let sent = self
            .queue()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(job);
        match sent {
            Ok(()) => rx.await.ok().flatten(),
            // No thread could be started: run it on the blocking pool.
            Err(std::sync::mpsc::SendError(job)) => {
                tokio::task::spawn_blocking(job).await.ok()?;
                rx.await.ok().flatten()
            }
        }
    }

    fn queue(&self) -> &Mutex<Sender<Job>> {
        self.queue.get_or_init(|| {
            let (tx, rx) = channel::<Job>();
            let rx = std::sync::Arc::new(Mutex::new(rx));
            let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
            for i in 0..threads {
                let rx = rx.clone();
                let spawned = std::thread::Builder::new()
                    .name(format!("qualify-low-{i}"))
                    .spawn(move || {
                        lowest_priority();
                        loop {
                            let job = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                            match job {
                                Ok(job) => job(),
                                Err(_) => return, // the server is gone
                            }
                        }
                    });
                if let Err(e) = spawned {
                    tracing::error!("cannot start a low-priority thread: {e}");
                }
            }
            Mutex::new(tx)
        })
    }
}

/// Lowers the calling thread to nice 19 (it never needs to go back: these threads do
/// nothing else, and an unprivileged process could not raise it again).
fn lowest_priority() {
    #[cfg(target_os = "linux")]
    {
        use thread_priority::{set_current_thread_priority, ThreadPriority};
        if let Err(e) = set_current_thread_priority(ThreadPriority::Min) {
            tracing::warn!("cannot lower the low-priority pool's threads ({e:?}): heavy tenants compete with the others");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUND: Duration = Duration::from_micros(100);
    const CHEAP: Duration = Duration::from_micros(20);

    fn cheap_run(w: &Weight, n: u64) {
        for _ in 0..n {
            w.record(CHEAP, false);
        }
    }

    #[test]
    fn a_run_of_cheap_decisions_makes_a_tenant_inline_and_one_over_the_bound_ends_it() {
        let w = Weight::new(BOUND);
        cheap_run(&w, INLINE_AFTER - 1);
        assert!(!w.inline(), "inline before its record");
        cheap_run(&w, 1);
        assert!(w.inline());
        // Little CPU but a wait (a store read over the network): not cheap.
        w.record(CHEAP, true);
        assert!(!w.inline(), "a decision that waited kept the tenant inline");
        cheap_run(&w, INLINE_AFTER);
        assert!(w.inline());
        w.record(Duration::from_millis(2), false);
        assert!(!w.inline(), "an expensive decision kept the tenant inline");
    }

    #[test]
    fn a_zero_bound_never_inlines_and_a_heavy_tenant_never_does() {
        let never = Weight::new(Duration::ZERO);
        cheap_run(&never, 100);
        assert!(!never.inline());
        // A bound above HEAVY: cheap by the bound, but heavy on average.
        let w = Weight::new(Duration::from_secs(1));
        for _ in 0..64 {
            w.record(Duration::from_millis(1), false);
        }
        assert!(w.heavy());
        assert!(!w.inline());
    }

    #[test]
    fn a_thread_that_sleeps_waited_and_one_that_computes_did_not() {
        let w = Waits::now();
        std::thread::sleep(Duration::from_millis(1));
        assert!(w.waited(Duration::from_secs(1)) || !cfg!(target_os = "linux"));
        let w = Waits::now();
        let mut x = 0u64;
        for i in 0..10_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        assert!(!w.waited(Duration::from_secs(1)), "{x}");
    }
}
