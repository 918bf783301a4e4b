//! A contact's stored state: facts, conversation, tags, last decision, follow-up and
//! opt-out status.

use super::decision::Class;
use super::lead::{ConversationSize, Facts, Message};
use crate::ids::ContactId;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    /// The rules version that decided it (see `Decision::rules_version`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules_version: Option<String>,
}

/// Follow-up state: which stage of the current silence was last sent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FollowUpState {
    /// Stages sent in the current silence (0: none). Reset by a reply.
    pub stage: u32,
    /// When the last follow-up was sent.
    pub last_sent_at: Option<Timestamp>,
    /// When the next stage is due (its entry in the due index), if one is scheduled.
    #[serde(default)]
    pub due_ms: Option<u64>,
    /// Consecutive runs that failed for this contact (the tenant's hook erred, its rules
    /// were unavailable); each one pushes the next try further out.
    #[serde(default)]
    pub failures: u32,
}

/// A contact's variant of one experiment, fixed at its first exposure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assigned {
    /// The variant's name.
    pub variant: String,
    /// When the contact was first exposed.
    pub at: Timestamp,
}

/// Everything Qualify holds on one contact of one tenant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    /// The contact id (unique within its tenant).
    pub id: ContactId,
    /// Bumped by every write: a change prepared from an older version is refused and
    /// decided again (two messages racing for one contact both land, in order).
    #[serde(default)]
    pub version: u64,
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
    pub followup: FollowUpState,
    /// True once the contact opted out of messages.
    #[serde(default)]
    pub opted_out: bool,
    /// True while the last message stored has no decision yet (the tenant's rules failed
    /// on it); a retry, the next message or a run after a fix decides it.
    #[serde(default)]
    pub undecided: bool,
    /// IANA time zone, when known.
    pub timezone: Option<String>,
    /// Milestones and counters for analytics.
    #[serde(default)]
    pub journey: super::analytics::Journey,
    /// The contact's variant of each experiment it was exposed to, by experiment key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub experiments: BTreeMap<String, Assigned>,
    /// First seen.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

impl Contact {
    /// A contact seen for the first time at `now`.
    pub fn new(id: ContactId, now: Timestamp) -> Self {
        Self {
            id,
            version: 0,
            facts: Facts::new(),
            tags: Vec::new(),
            history: Vec::new(),
            last: None,
            last_inbound_at: None,
            followup: FollowUpState::default(),
            opted_out: false,
            undecided: false,
            timezone: None,
            journey: Default::default(),
            experiments: BTreeMap::new(),
            created_at: now,
            updated_at: now,
        }
    }

    /// Appends a message, then keeps only the last `limit` (at least one).
    pub fn push_message(&mut self, message: Message, limit: usize) {
        self.history.push(message);
        self.trim_history(limit);
    }

    /// Keeps only the last `limit` messages (at least one).
    pub fn trim_history(&mut self, limit: usize) {
        let excess = self.history.len().saturating_sub(limit.max(1));
        self.history.drain(..excess);
    }

    /// When the bot last sent this contact a text, if the history says.
    pub fn last_sent_at(&self) -> Option<Timestamp> {
        self.history
            .iter()
            .rev()
            .find(|m| m.from == super::lead::Author::Agent)
            .and_then(|m| m.at.as_deref()?.parse().ok())
    }

    /// The conversation's size, as scripts see it.
    pub fn size(&self) -> ConversationSize {
        ConversationSize::of(&self.history)
    }
}
