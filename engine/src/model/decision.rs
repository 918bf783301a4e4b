//! The decision the engine sends back: score, class, tags, next question, and why.

use super::lead::Facts;
use crate::ids::TenantId;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Lead temperature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// Qualified: hand off to a human.
    Hot,
    /// Engaged, not yet qualified.
    Warm,
    /// Little known.
    Cold,
}

impl Class {
    /// `hot`, `warm` or `cold`.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Hot => "hot",
            Class::Warm => "warm",
            Class::Cold => "cold",
        }
    }

    /// Parses `hot`, `warm` or `cold`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "hot" => Some(Class::Hot),
            "warm" => Some(Class::Warm),
            "cold" => Some(Class::Cold),
            _ => None,
        }
    }
}

/// The question chosen for the lead (or the hand-off line at hot).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Question {
    /// The data point asked about (`budget`, `location`, ...) or `handoff`.
    pub id: String,
    /// The text to send, within the tenant's SMS segment budget.
    pub text: String,
    /// Why this question was chosen.
    pub reason: String,
}

/// Why the engine decided what it did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Explain {
    /// Data points that counted, with the value that made them count.
    pub counted: Facts,
    /// Data points with a value that did not count, and why (e.g. an unsure answer).
    pub not_counted: Map<String, Value>,
    /// The rule that decided the class (e.g. `score 3 >= hot threshold 3`).
    pub class_rule: String,
    /// Why automation is on or off for this contact (activation / deactivation tags).
    pub gate: String,
    /// Why this question (or none) was chosen.
    pub question: String,
    /// Which variant of each running experiment was used, and how it was chosen.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<String>,
}

/// How a contact's variant of an experiment was chosen for a decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Chosen {
    /// Recorded at the contact's first exposure (weight changes since move nobody).
    Recorded,
    /// From the hash of the experiment's seed and the contact id, now (a first exposure).
    Assigned,
    /// The lead carries no contact id: the control was used and nothing is recorded.
    NoContact,
}

/// One running experiment's variant as a decision used it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exposure {
    /// The experiment's key.
    pub experiment: String,
    /// The variant's name.
    pub variant: String,
    /// How it was chosen.
    pub chosen: Chosen,
}

/// The full decision for one lead: score, class, tags, next question and explanation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Tenant whose rules decided.
    pub tenant: TenantId,
    /// The tenant's score (default rules: answered data points, 0-7).
    pub score: i64,
    /// hot, warm or cold.
    pub class: Class,
    /// 0-100 display percentage.
    pub percent: i64,
    /// Names of the data points counted.
    pub answered: Vec<String>,
    /// Supplied and extracted facts, merged (later overrides older).
    pub facts: Facts,
    /// Tags the contact should carry after this decision.
    pub tags: Vec<String>,
    /// Tags to remove (class tags of the class the lead left).
    pub remove_tags: Vec<String>,
    /// Whether automation runs for this contact (activation gate).
    pub active: bool,
    /// True when the lead is hot and the hand-off line replaces qualifying.
    pub handoff: bool,
    /// The text to send next, or null when nothing should be sent.
    pub next_question: Option<String>,
    /// The chosen question with its id and reason.
    pub question: Option<Question>,
    /// Why.
    pub explain: Explain,
    /// The variant of each running experiment this decision used (none: no experiment
    /// runs for the tenant).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub experiments: Vec<Exposure>,
    /// The content hash of the rule files that made this decision (`r-` and 16 hex
    /// digits): the same files give the same version on every machine.
    #[serde(default)]
    pub rules_version: String,
}
