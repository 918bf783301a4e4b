//! CRM actions a decision or a follow-up calls for, queued in the outbox and delivered to
//! GoHighLevel by the host.

use crate::ids::{ContactId, TenantId};
use serde::{Deserialize, Serialize};

/// A CRM action produced by a decision, delivered through the outbox.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ActionKind {
    /// Add tags (`POST /contacts/{id}/tags`).
    AddTags {
        /// Tags to add.
        tags: Vec<String>,
    },
    /// Remove tags (`DELETE /contacts/{id}/tags`).
    RemoveTags {
        /// Tags to remove.
        tags: Vec<String>,
    },
    /// Send a message (`POST /conversations/messages`).
    SendMessage {
        /// The text.
        message: String,
        /// `SMS` unless the conversation came from another channel.
        channel: String,
    },
    /// Trigger the notify-agent workflow (`POST /contacts/{id}/workflow/{workflowId}`).
    TriggerWorkflow {
        /// Workflow id.
        workflow_id: String,
    },
    /// Update a custom field (`PUT /contacts/{id}`).
    UpdateCustomField {
        /// Custom field id.
        field: String,
        /// Value.
        value: serde_json::Value,
    },
}

impl ActionKind {
    /// An SMS with `text`.
    pub fn sms(text: impl Into<String>) -> Self {
        ActionKind::SendMessage {
            message: text.into(),
            channel: "SMS".into(),
        }
    }
}

/// Why an action was queued, which decides what delivery re-checks just before sending.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// The answer to a lead's message: goes out at once, unless the lead opted out or was
    /// erased since.
    #[default]
    Reply,
    /// A compliance confirmation (opt-out, resubscribe, help): goes out even to a contact
    /// who just opted out, once.
    Compliance,
    /// A text the bot starts (a follow-up): re-checked against opt-out, erasure and the
    /// contact's quiet-hours window just before it is sent.
    BotInitiated,
}

/// One queued action for one contact.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Action {
    /// Unique id: delivery is recorded against it.
    pub id: u64,
    /// Tenant.
    pub tenant: TenantId,
    /// Contact id (the CRM's).
    pub contact: ContactId,
    /// What to do.
    #[serde(flatten)]
    pub kind: ActionKind,
    /// Delivery attempts so far.
    #[serde(default)]
    pub attempts: u32,
    /// The last delivery error.
    #[serde(default)]
    pub last_error: Option<String>,
    /// Key of the queue entry (due time in ms).
    #[serde(default)]
    pub due_ms: u64,
    /// Why it was queued (what delivery re-checks).
    #[serde(default)]
    pub origin: Origin,
    /// Set in the store just before the call to the CRM: an action found in flight after
    /// a crash may or may not have been received, and is never resent blindly.
    #[serde(default)]
    pub in_flight: bool,
    /// When it was set in flight (ms since the epoch; 0 when never). In a store shared by
    /// replicas, an action in flight is another replica's delivery until this is older
    /// than the lease (`Outbox::recover`).
    #[serde(default)]
    pub claimed_ms: u64,
}
