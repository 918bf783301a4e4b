//! The lead as callers send it: supplied facts, the conversation, tags (serde, JSON in).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Facts about a lead: data point name → value (`budget`, `location`, `bedrooms`, ...).
pub type Facts = Map<String, Value>;

/// A fact by name. A lead holds a handful: comparing names one by one is several times
/// cheaper than hashing the name (serde_json's ordered map hashes with SipHash), and a
/// decision looks up a score of names.
pub(crate) fn fact<'f>(facts: &'f Facts, name: &str) -> Option<&'f Value> {
    if facts.len() <= 12 {
        facts
            .iter()
            .find(|(k, _)| k.as_str() == name)
            .map(|(_, v)| v)
    } else {
        facts.get(name)
    }
}

/// Who wrote a message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Author {
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
    pub from: Author,
    /// The text (the prototype's `content`, GHL's `body`).
    #[serde(alias = "content", alias = "body")]
    pub text: String,
    /// When it was written (RFC 3339), if known.
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "timestamp")]
    pub at: Option<String>,
}

impl Message {
    /// A message the agent (or the bot) sent at `at`.
    pub fn from_agent(text: impl Into<String>, at: jiff::Timestamp) -> Self {
        Self {
            from: Author::Agent,
            text: text.into(),
            at: Some(at.to_string()),
        }
    }
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
    /// The CRM's contact id, when known: a stateless decision assigns experiment variants
    /// from it (without one, every experiment uses its control).
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "contactId")]
    pub contact_id: Option<String>,
}

impl Lead {
    /// Parses a lead from JSON text, with a message that says where the JSON is wrong.
    pub fn from_json(text: &str) -> crate::Result<Self> {
        serde_json::from_str(text).map_err(|e| crate::Error::InvalidLead(e.to_string()))
    }
}

/// How long a conversation is, as scripts see it in `lead.history`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConversationSize {
    /// Messages in the conversation (both sides).
    pub messages: usize,
    /// Messages the lead wrote.
    pub inbound: usize,
}

impl ConversationSize {
    /// The size of a conversation.
    pub fn of(messages: &[Message]) -> Self {
        Self {
            messages: messages.len(),
            inbound: messages.iter().filter(|m| m.from == Author::Lead).count(),
        }
    }

    /// Messages the agent or the bot wrote.
    pub fn outbound(self) -> usize {
        self.messages.saturating_sub(self.inbound)
    }
}

/// What the lead wants to do, read from a `goal` fact written any common way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Goal {
    /// Buy a home ("buy", "Buyer", "purchase").
    Buy,
    /// Sell a home ("sell", "selling", "list").
    Sell,
}

impl Goal {
    /// Reads a goal: "Buyer", "purchasing", "selling", "list my house", ...
    ///
    /// ```
    /// use qualify_engine::model::Goal;
    /// assert_eq!(Goal::parse("Buyer"), Some(Goal::Buy));
    /// assert_eq!(Goal::parse("list"), Some(Goal::Sell));
    /// assert_eq!(Goal::parse("rent"), None);
    /// ```
    pub fn parse(text: &str) -> Option<Self> {
        let g = text.to_ascii_lowercase();
        if g.contains("buy") || g.contains("purchas") {
            Some(Goal::Buy)
        } else if g.contains("sell") || g.contains("list") {
            Some(Goal::Sell)
        } else {
            None
        }
    }

    /// The goal of a lead's facts (its `goal` fact), if known.
    pub fn of(facts: &Facts) -> Option<Self> {
        facts
            .get("goal")
            .and_then(Value::as_str)
            .and_then(Self::parse)
    }

    /// `buy` or `sell`, as scripts see it in `lead.goal`.
    pub fn as_str(self) -> &'static str {
        match self {
            Goal::Buy => "buy",
            Goal::Sell => "sell",
        }
    }
}
