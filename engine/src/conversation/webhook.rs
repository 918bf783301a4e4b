//! Deliveries from GoHighLevel: an inbound message under a `webhookId` (remembered in the
//! ingest's own transaction, so a retry gets the first result and a different body under
//! a seen id is refused), and a contact's tag update (automation turned on or off without
//! a message from the lead).

use super::ingest::{decide_again, ingest, Inbound, Ingested};
use crate::clock::millis;
use crate::error::{Error, Result};
use crate::ids::{ContactId, TenantId};
use crate::model::{ActionKind, Contact, Decision, Origin};
use crate::rules::RuleSet;
use crate::store::{Delivery, WriteTx};
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

/// Ingests a delivered message unless it was already decided; remembers the delivery.
pub(crate) fn ingest_delivery(
    tx: &mut WriteTx<'_>,
    tenant: &TenantId,
    rules: &RuleSet,
    contact: &ContactId,
    message: &Inbound,
    delivery: &WebhookDelivery,
    now: Timestamp,
) -> Result<Delivered> {
    let previous = tx.delivery(tenant, contact, &delivery.id)?;
    if let Some(first) = seen(previous, delivery)? {
        return Ok(Delivered::Replayed(first));
    }
    let ingested = ingest(tx, tenant, rules, contact, message, now)?;
    let record = Delivery {
        body_sha256: delivery.body_sha256.clone(),
        expires_ms: expiry(delivery, now),
        result: Some(serde_json::to_value(&ingested).map_err(|e| Error::Store(e.to_string()))?),
    };
    tx.remember_delivery(tenant, contact, &delivery.id, &record)?;
    Ok(Delivered::Fresh(Box::new(ingested)))
}

/// After a failed decision: remembers the delivery without a result, so a retry decides
/// again (a different body under the id is still refused).
pub(crate) fn remember_failed(
    tx: &mut WriteTx<'_>,
    tenant: &TenantId,
    contact: &ContactId,
    delivery: &WebhookDelivery,
    now: Timestamp,
) -> Result<()> {
    let previous = tx.delivery(tenant, contact, &delivery.id)?;
    seen(previous, delivery)?;
    let record = Delivery {
        body_sha256: delivery.body_sha256.clone(),
        expires_ms: expiry(delivery, now),
        result: None,
    };
    tx.remember_delivery(tenant, contact, &delivery.id, &record)
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
    tx.put_contact(tenant, &c)?;
    if !was_on && is_on && wrote_before {
        return decide_again(tx, tenant, rules, contact, now);
    }
    Ok(None)
}
