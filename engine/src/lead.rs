//! The lead as callers send it, and the decision the engine sends back (serde, JSON in and out).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Facts about a lead: data point name → value (`budget`, `location`, `bedrooms`, ...).
pub type Facts = Map<String, Value>;

/// Who wrote a message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum From {
    /// The lead (GHL "inbound"; the prototype's "user").
    #[default]
    #[serde(alias = "user", alias = "inbound", alias = "contact")]
    Lead,
    /// The agent or the bot (GHL "outbound"; the prototype's "assistant").
    #[serde(alias = "assistant", alias = "outbound", alias = "bot")]
    Agent,
}

/// One message of a conversation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Who wrote it; defaults to the lead.
    #[serde(default, alias = "role")]
    pub from: From,
    /// The text (the prototype's `content`, GHL's `body`).
    #[serde(alias = "content", alias = "body")]
    pub text: String,
    /// When it was written (RFC 3339), if known.
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "timestamp")]
    pub at: Option<String>,
}

/// A lead as a caller describes it: supplied facts, conversation, tags.
///
/// Everything is optional; unknown fields are ignored so CRM payloads pass through.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Lead {
    /// Facts already known (from a CRM form or an upstream extractor). The prototype's
    /// `extracted_preferences` is accepted as an alias.
    #[serde(default, alias = "extracted_preferences")]
    pub facts: Facts,
    /// The conversation, oldest first. Facts are extracted from the lead's messages.
    #[serde(default, alias = "conversation_history")]
    pub messages: Vec<Message>,
    /// The contact's CRM tags (activation, deactivation and class tags among them).
    #[serde(default)]
    pub tags: Vec<String>,
    /// `buy` or `sell`, when known (same as the `goal` fact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal: Option<String>,
    /// The lead's first name, when known (same as the `name` fact).
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "first_name")]
    pub name: Option<String>,
    /// IANA time zone of the contact, when known (same as the `timezone` fact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}

impl Lead {
    /// Parses a lead from JSON text, with a message that says where the JSON is wrong.
    pub fn from_json(text: &str) -> crate::Result<Self> {
        serde_json::from_str(text).map_err(|e| crate::Error::InvalidLead(e.to_string()))
    }
}

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
}

/// The full decision for one lead: score, class, tags, next question and explanation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Tenant whose rules decided.
    pub tenant: String,
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
}
