//! The clock the engine reads time from: passed in, so tests move time instead of sleeping.

use jiff::Timestamp;
use std::sync::atomic::{AtomicI64, Ordering};

/// Where the engine reads the current time. Passed in, so tests move time instead of
/// sleeping.
pub trait Clock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that moves only when told to (tests, replays, `--now`).
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock stopped at `at`.
    pub fn new(at: Timestamp) -> Self {
        Self(AtomicI64::new(at.as_millisecond()))
    }

    /// Moves the clock to `at`.
    pub fn set(&self, at: Timestamp) {
        self.0.store(at.as_millisecond(), Ordering::SeqCst);
    }

    /// Moves the clock forward by whole seconds.
    pub fn advance_secs(&self, secs: i64) {
        self.0.fetch_add(secs * 1000, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millisecond(self.0.load(Ordering::SeqCst)).unwrap_or(Timestamp::UNIX_EPOCH)
    }
}

impl<C: Clock> Clock for std::sync::Arc<C> {
    fn now(&self) -> Timestamp {
        (**self).now()
    }
}

/// Milliseconds since the Unix epoch, as the store's time-ordered keys hold them (times
/// before 1970 clamp to 0).
pub(crate) fn millis(at: Timestamp) -> u64 {
    at.as_millisecond().max(0) as u64
}
