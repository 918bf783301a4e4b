//! Deliveries from GoHighLevel: an inbound message under a `webhookId` (remembered in the
//! ingest's own transaction, so a retry gets the first result and a different body under
//! a seen id is refused), and a contact's tag update (automation turned on or off without
//! a message from the lead).

use super::ingest::{decide_again, prepare, prepare_undecided, Inbound, Ingested};
use super::llm::Hints;
use crate::clock::millis;
use crate::error::{Error, Result};
use crate::ids::{ContactId, TenantId};
use crate::model::{ActionKind, Contact, Decision, Origin};
use crate::rules::RuleSet;
use crate::store::{ContactChange, ContactView, Delivery, WriteTx};
use jiff::Timestamp;

/// A webhook delivery's identity: its id, its body's hash, how long to remember it.
#[derive(Clone, Debug)]
pub struct WebhookDelivery {
    /// GoHighLevel's `webhookId`.
    pub id: String,
    /// SHA-256 of the raw body, hex.
    pub body_sha256: String,
    /// How long a replay could still arrive (the freshness window, twice over).
    pub remember_for: std::time::Duration,
}

/// What a delivery did.
#[derive(Clone, Debug, PartialEq)]
pub enum Delivered {
    /// A new message, ingested.
    Fresh(Box<Ingested>),
    /// A retry of a message already decided: the first result, unchanged.
    Replayed(serde_json::Value),
}

/// What an earlier sighting of the same id means for this one.
fn seen(
    previous: Option<Delivery>,
    delivery: &WebhookDelivery,
) -> Result<Option<serde_json::Value>> {
    match previous {
        Some(p) if p.body_sha256 != delivery.body_sha256 => Err(Error::Replay(delivery.id.clone())),
        Some(p) => Ok(p.result),
        None => Ok(None),
    }
}

/// A delivered message prepared from a snapshot.
pub(crate) enum Prepared {
    /// Decided before: the first result, nothing to write.
    Replayed(serde_json::Value),
    /// New: its result and the change that records it with the delivery.
    Fresh(Box<Ingested>, Box<ContactChange>),
}

/// Prepares a delivered message unless it was already decided; the change remembers the
/// delivery (with its result) alongside the message. `hints` as for `prepare`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn prepare_delivery(
    view: ContactView,
    tenant: &TenantId,
    rules: &RuleSet,
    contact: &ContactId,
    message: &Inbound,
    delivery: &WebhookDelivery,
    hints: &Hints,
    now: Timestamp,
) -> Result<Prepared> {
    if let Some(first) = seen(view.delivery.clone(), delivery)? {
        return Ok(Prepared::Replayed(first));
    }
    let (ingested, mut change) = prepare(view, tenant, rules, contact, message, hints, now)?;
    let result = serde_json::to_value(&ingested).map_err(|e| Error::Store(e.to_string()))?;
    change.delivery = Some((
        delivery.id.clone(),
        Delivery {
            body_sha256: delivery.body_sha256.clone(),
            expires_ms: expiry(delivery, now),
            result: Some(result),
        },
    ));
    Ok(Prepared::Fresh(Box::new(ingested), Box::new(change)))
}

/// After a failed decision: the change that keeps the message undecided and remembers the
/// delivery without a result, so a retry decides again (a different body under the id is
/// still refused).
pub(crate) fn prepare_failed_delivery(
    view: ContactView,
    tenant: &TenantId,
    rules: &RuleSet,
    contact: &ContactId,
    message: &Inbound,
    delivery: &WebhookDelivery,
    now: Timestamp,
) -> Result<ContactChange> {
    seen(view.delivery.clone(), delivery)?;
    let mut change = prepare_undecided(view, tenant, rules, contact, message, now)?;
    change.delivery = Some((
        delivery.id.clone(),
        Delivery {
            body_sha256: delivery.body_sha256.clone(),
            expires_ms: expiry(delivery, now),
            result: None,
        },
    ));
    Ok(change)
}

fn expiry(delivery: &WebhookDelivery, now: Timestamp) -> u64 {
    millis(now).saturating_add(delivery.remember_for.as_millis() as u64)
}

/// A contact's tags as the CRM now has them. Automation turned off: its follow-up is
/// unscheduled and texts the bot queued are dropped. Turned on for a contact who wrote
/// before: it is decided again (the next question goes out in its window). A contact not
/// seen before is recorded with its tags. Returns the new decision, if one was made.
pub(crate) fn update_tags(
    tx: &mut WriteTx<'_>,
    tenant: &TenantId,
    rules: &RuleSet,
    contact: &ContactId,
    tags: Vec<String>,
    now: Timestamp,
) -> Result<Option<Decision>> {
    let mut c = tx
        .contact(tenant, contact)?
        .unwrap_or_else(|| Contact::new(contact.clone(), now));
    let was_on = rules.settings.gate(&c.tags).is_ok();
    let is_on = rules.settings.gate(&tags).is_ok();
    c.tags = tags;
    c.updated_at = now;
    if was_on && !is_on {
        if let Some(due) = c.followup.due_ms.take() {
            tx.unschedule(due, tenant, contact)?;
        }
        tx.drop_actions_of(tenant, contact, |a| {
            a.origin == Origin::BotInitiated && matches!(a.kind, ActionKind::SendMessage { .. })
        })?;
    }
    let wrote_before = c.last_inbound_at.is_some();
    tx.put_contact(tenant, &mut c)?;
    if !was_on && is_on && wrote_before {
        return decide_again(tx, tenant, rules, contact, now);
    }
    Ok(None)
}
