//! A contact's stored state (facts, conversation, tags, last decision, follow-up and
//! opt-out status), and the clock the engine reads time from.

use crate::lead::{Class, Facts, Message};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicI64, Ordering};

/// The last decision recorded for a contact.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LastDecision {
    /// Score at that time.
    pub score: i64,
    /// Class at that time.
    pub class: Class,
    /// Display percentage.
    pub percent: i64,
    /// Data points counted.
    pub answered: Vec<String>,
    /// Id of the question chosen (or `handoff`), if any.
    pub question: Option<String>,
    /// When it was decided.
    pub at: Timestamp,
}

/// Re-engagement state: which stage of the current silence was last sent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FollowUp {
    /// Stages sent in the current silence (0: none). Reset by a reply.
    pub stage: u32,
    /// When the last follow-up was sent.
    pub last_sent_at: Option<Timestamp>,
    /// When the next stage is due (its entry in the due index), if one is scheduled.
    #[serde(default)]
    pub due_ms: Option<u64>,
}

/// Everything Qualify holds on one contact of one tenant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    /// The contact id (unique within its tenant).
    pub id: String,
    /// Facts known, supplied or extracted; later values override older ones.
    pub facts: Facts,
    /// The contact's tags as Qualify last knew them.
    pub tags: Vec<String>,
    /// The conversation, oldest first, trimmed to the tenant's `history_limit`.
    /// Redacted when the tenant's `redact_history` setting is on (the default).
    pub history: Vec<Message>,
    /// The last decision.
    pub last: Option<LastDecision>,
    /// When the lead last wrote (the start of the current silence).
    pub last_inbound_at: Option<Timestamp>,
    /// Follow-up state of the current silence.
    #[serde(default)]
    pub followup: FollowUp,
    /// True once the contact opted out of messages.
    #[serde(default)]
    pub opted_out: bool,
    /// IANA time zone, when known.
    pub timezone: Option<String>,
    /// First seen.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

impl Contact {
    /// A contact seen for the first time at `now`.
    pub fn new(id: &str, now: Timestamp) -> Self {
        Self {
            id: id.to_string(),
            facts: Facts::new(),
            tags: Vec::new(),
            history: Vec::new(),
            last: None,
            last_inbound_at: None,
            followup: FollowUp::default(),
            opted_out: false,
            timezone: None,
            created_at: now,
            updated_at: now,
        }
    }
}

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
