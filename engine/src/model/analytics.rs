//! A tenant's analytics as recorded: one [`DayStats`] per day (UTC), each change adding
//! its own counts to its day's row in the transaction that records it, so the numbers
//! never disagree with the contacts and reading a range costs one row per day.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What happened on one day of one tenant. Every field is a count (or a list of the
/// day's contacts that reached hot); [`DayStats::add`] merges two days' worth.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DayStats {
    /// Contacts seen for the first time.
    pub new_contacts: u64,
    /// Inbound messages from leads.
    pub inbound: u64,
    /// Contacts that reached warm (or better) for the first time.
    pub warm: u64,
    /// Contacts that reached hot for the first time.
    pub hot: u64,
    /// Contacts handed off to the agent for the first time.
    pub handed_off: u64,
    /// Contacts that opted out for the first time.
    pub opted_out: u64,
    /// Net change of the number of contacts in each class: cold, warm, hot.
    pub class_delta: [i64; 3],
    /// Contacts that reached hot, by the minutes it took from their first message
    /// ([`minutes_bucket`]: exact under an hour, to 5 minutes under a day, to the hour
    /// beyond), so a row stays small however many contacts a day brings.
    pub to_hot_minutes: BTreeMap<u32, u64>,
    /// Contacts that reached hot, by the inbound messages it took.
    pub to_hot_messages: BTreeMap<u32, u64>,
    /// Questions sent, by question id.
    pub asked: BTreeMap<String, u64>,
    /// Questions whose next inbound message answered them, by question id.
    pub answered_next: BTreeMap<String, u64>,
    /// Follow-up texts sent, by stage (hours of silence).
    pub followups_sent: BTreeMap<u32, u64>,
    /// Follow-up stages the lead replied to (its next message came after that stage).
    pub followups_replied: BTreeMap<u32, u64>,
    /// Hybrid extraction's calls and tokens for the day's messages.
    pub llm: LlmUsage,
}

/// Hybrid extraction's use: calls made and how they ended, cache hits, messages over the
/// daily budget, tokens (a tenant's since the engine started, or a day's in analytics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LlmUsage {
    /// Calls made (answered or not).
    pub calls: u64,
    /// Calls answered within the schema.
    pub answered: u64,
    /// Calls that failed, timed out or answered outside the schema.
    pub failed: u64,
    /// Unsure messages answered from the cache.
    pub cached: u64,
    /// Unsure messages not sent because the day's budget was spent.
    pub over_budget: u64,
    /// Prompt tokens the endpoint reported.
    pub prompt_tokens: u64,
    /// Completion tokens the endpoint reported.
    pub completion_tokens: u64,
}

impl LlmUsage {
    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &LlmUsage) {
        self.calls += other.calls;
        self.answered += other.answered;
        self.failed += other.failed;
        self.cached += other.cached;
        self.over_budget += other.over_budget;
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
    }
}

impl DayStats {
    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &DayStats) {
        self.new_contacts += other.new_contacts;
        self.inbound += other.inbound;
        self.warm += other.warm;
        self.hot += other.hot;
        self.handed_off += other.handed_off;
        self.opted_out += other.opted_out;
        for (mine, theirs) in self.class_delta.iter_mut().zip(other.class_delta) {
            *mine += theirs;
        }
        self.llm.add(&other.llm);
        for (mine, theirs) in [
            (&mut self.asked, &other.asked),
            (&mut self.answered_next, &other.answered_next),
        ] {
            for (k, v) in theirs {
                *mine.entry(k.clone()).or_default() += v;
            }
        }
        for (mine, theirs) in [
            (&mut self.followups_sent, &other.followups_sent),
            (&mut self.followups_replied, &other.followups_replied),
            (&mut self.to_hot_minutes, &other.to_hot_minutes),
            (&mut self.to_hot_messages, &other.to_hot_messages),
        ] {
            for (k, v) in theirs {
                *mine.entry(*k).or_default() += v;
            }
        }
    }

    /// True when nothing was counted.
    pub fn is_empty(&self) -> bool {
        *self == DayStats::default()
    }
}

/// The bucket (in minutes) of a duration in seconds: whole minutes (rounded) under an
/// hour, 5-minute steps under a day, hours beyond.
pub fn minutes_bucket(secs: u64) -> u32 {
    let m = u32::try_from((secs + 30) / 60).unwrap_or(u32::MAX);
    match m {
        0..60 => m,
        60..1440 => m - m % 5,
        _ => m - m % 60,
    }
}

/// The day number (days since 1970-01-01, UTC) of a time.
pub fn day_of(at: jiff::Timestamp) -> u32 {
    (at.as_second().div_euclid(86_400)).max(0) as u32
}

/// A contact's milestones and counters for analytics (history itself is trimmed, so
/// what analytics needs is kept here).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Journey {
    /// The day the contact is counted in (its first message's day): its funnel
    /// milestones are added to that day's row, so a range's conversion is over the
    /// contacts first seen in it. 0 until counted.
    pub cohort_day: u32,
    /// When the lead first wrote.
    pub first_at: Option<jiff::Timestamp>,
    /// Inbound messages ever received.
    pub inbound: u32,
    /// When it first reached warm or better.
    pub warm_at: Option<jiff::Timestamp>,
    /// When it first reached hot.
    pub hot_at: Option<jiff::Timestamp>,
    /// When it was first handed off (at hot).
    pub handed_off_at: Option<jiff::Timestamp>,
    /// When it first opted out.
    pub opted_out_at: Option<jiff::Timestamp>,
    /// The question last sent and the day it was sent, until the lead's next message.
    pub asked: Option<(String, u32)>,
}
