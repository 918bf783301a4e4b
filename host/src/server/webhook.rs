//! GoHighLevel webhooks: Ed25519 `X-GHL-Signature` over the raw body, freshness, the
//! payload shapes (GHL's InboundMessage, the prototype's, GHL's contact tag update), and
//! the handler that turns one into an ingest (remembered in the store, so replays are
//! caught across restarts) or a tag change.

use super::{blocking, check_text, parse_json, AppState, RawBody};
use crate::error::ApiError;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use qualify_engine::conversation::{Delivered, WebhookDelivery};
use qualify_engine::{ContactId, Inbound, TenantId};
use serde::Deserialize;
use serde_json::json;
use serde_json::Value;
use sha2::Digest;

/// Reads a public key: PEM (SPKI), or 32 bytes as base64 or hex.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, String> {
    let t = text.trim();
    if t.starts_with("-----BEGIN") {
        use ed25519_dalek::pkcs8::DecodePublicKey;
        return VerifyingKey::from_public_key_pem(t)
            .map_err(|e| format!("invalid PEM public key: {e}"));
    }
    let bytes = hex::decode(t)
        .ok()
        .or_else(|| base64::engine::general_purpose::STANDARD.decode(t).ok())
        .ok_or("public key: expected PEM, base64 or hex")?;
    let arr: [u8; 32] = bytes
        .try_into()
        .map_err(|_| "public key: expected 32 bytes".to_string())?;
    VerifyingKey::from_bytes(&arr).map_err(|e| format!("invalid public key: {e}"))
}

/// Verifies a base64 signature of `body`.
pub fn verify(key: &VerifyingKey, signature_b64: &str, body: &[u8]) -> bool {
    let Ok(sig) = base64::engine::general_purpose::STANDARD.decode(signature_b64.trim()) else {
        return false;
    };
    let Ok(arr) = <[u8; 64]>::try_from(sig.as_slice()) else {
        return false;
    };
    key.verify(body, &Signature::from_bytes(&arr)).is_ok()
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NestedMessage {
    body: Option<String>,
    direction: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NestedContact {
    first_name: Option<String>,
    tags: Option<Vec<String>>,
    timezone: Option<String>,
}

/// An inbound webhook in any of its shapes: GHL's InboundMessage, the prototype's
/// `{contactId, locationId, message, contact}`, and GHL's contact tag update
/// `{type, locationId, id, name, tags}`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GhlWebhook {
    /// The event type (`InboundMessage`, `ContactTagUpdate`, ...).
    #[serde(rename = "type")]
    kind: Option<String>,
    /// The contact, in contact events.
    id: Option<String>,
    /// The contact's full tag list, in contact events.
    tags: Option<Vec<String>>,
    /// GHL's id of the message, in message events.
    message_id: Option<String>,
    #[serde(alias = "location_id")]
    location_id: Option<String>,
    #[serde(alias = "contact_id")]
    contact_id: Option<String>,
    body: Option<String>,
    direction: Option<String>,
    date_added: Option<String>,
    /// Unique per delivery; used against replays.
    pub webhook_id: Option<String>,
    /// When GHL sent it (RFC 3339 or epoch milliseconds).
    pub timestamp: Option<Value>,
    message: Option<NestedMessage>,
    contact: Option<NestedContact>,
}

/// What the handler needs from a webhook.
pub struct InboundEvent {
    /// Tenant (the GHL location).
    pub location: String,
    /// Contact.
    pub contact: String,
    /// True for messages from the lead.
    pub inbound: bool,
    /// Text.
    pub text: String,
    /// The contact's tags, when the payload carries them.
    pub tags: Option<Vec<String>>,
    /// First name.
    pub name: Option<String>,
    /// Time zone.
    pub timezone: Option<String>,
    /// When the message was written.
    pub at: Option<jiff::Timestamp>,
}

/// A contact's tags as GHL now has them.
pub struct TagEvent {
    /// Tenant (the GHL location).
    pub location: String,
    /// Contact.
    pub contact: String,
    /// The full tag list.
    pub tags: Vec<String>,
}

impl GhlWebhook {
    /// The tag update this is, if it is one (`ContactTagUpdate`, or a contact event that
    /// carries the tag list and no message).
    pub fn tag_event(&self) -> Option<TagEvent> {
        let is_tags = self
            .kind
            .as_deref()
            .is_some_and(|k| k.eq_ignore_ascii_case("ContactTagUpdate"))
            || (self.body.is_none() && self.message.is_none() && self.tags.is_some());
        if !is_tags {
            return None;
        }
        Some(TagEvent {
            location: self.location_id.clone()?,
            contact: self.id.clone().or_else(|| self.contact_id.clone())?,
            tags: self.tags.clone().unwrap_or_default(),
        })
    }

    /// The id a delivery of this message is remembered under: GHL's `webhookId`, else its
    /// `messageId`, else the body's hash (a byte-identical redelivery is the same one).
    pub fn delivery_id(&self, body_sha256: &str) -> String {
        self.webhook_id
            .clone()
            .or_else(|| self.message_id.clone())
            .unwrap_or_else(|| format!("sha256:{body_sha256}"))
    }

    /// The send time, if given.
    pub fn sent_at(&self) -> Option<jiff::Timestamp> {
        match self.timestamp.as_ref()? {
            Value::String(s) => s.parse().ok().or_else(|| {
                s.parse::<i64>()
                    .ok()
                    .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
            }),
            Value::Number(n) => n
                .as_i64()
                .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok()),
            _ => None,
        }
    }

    /// The event, or what is missing. Branches on `direction`, never on `type`.
    pub fn event(self) -> Result<InboundEvent, String> {
        let location = self.location_id.ok_or("missing locationId")?;
        let contact = self.contact_id.ok_or("missing contactId")?;
        let nested = self.message.unwrap_or_default();
        let direction = self
            .direction
            .or(nested.direction)
            .unwrap_or_else(|| "inbound".into());
        let text = self.body.or(nested.body).ok_or("missing message body")?;
        let c = self.contact.unwrap_or_default();
        Ok(InboundEvent {
            location,
            contact,
            inbound: direction.eq_ignore_ascii_case("inbound"),
            text,
            tags: c.tags,
            name: c.first_name,
            timezone: c.timezone,
            at: self.date_added.and_then(|d| d.parse().ok()),
        })
    }
}

/// The signature over the raw body, when verification is on.
fn check_signature(
    cfg: &super::Config,
    headers: &axum::http::HeaderMap,
    body: &[u8],
) -> Result<(), ApiError> {
    if !cfg.verify_webhooks {
        return Ok(());
    }
    let key = cfg.webhook_key.as_ref().ok_or_else(|| {
        ApiError::unauthorized(
            "webhook verification is on but no GHL public key is configured: refusing",
        )
    })?;
    let sig = headers
        .get("x-ghl-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::unauthorized("missing X-GHL-Signature"))?;
    if !verify(key, sig, body) {
        return Err(ApiError::unauthorized("bad X-GHL-Signature"));
    }
    Ok(())
}

/// A message webhook must say when it was sent (when verifying), and recently.
fn check_fresh(s: &AppState, hook: &GhlWebhook) -> Result<(), ApiError> {
    let cfg = &s.0.config;
    match hook.sent_at() {
        Some(sent) => {
            let age = s.0.engine.now().duration_since(sent).unsigned_abs();
            if age > cfg.webhook_max_age {
                return Err(ApiError::unauthorized(format!(
                    "stale webhook: sent {}s from now",
                    age.as_secs()
                )));
            }
            Ok(())
        }
        None if hook.timestamp.is_some() => Err(ApiError::invalid("unreadable webhook timestamp")),
        None if cfg.verify_webhooks => Err(ApiError::invalid(
            "a message webhook must carry its `timestamp`: without it a replay cannot be ruled out",
        )),
        None => Ok(()),
    }
}

/// `POST /webhooks/ghl`: the signature, then a tag update or a message (fresh, and
/// remembered under its id in the ingest's transaction: a retry gets the first result, a
/// different body under a seen id is refused with 409).
pub(super) async fn ghl_webhook(
    State(s): State<AppState>,
    headers: axum::http::HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    check_signature(&s.0.config, &headers, &body)?;
    let hook: GhlWebhook = parse_json(&body)?;
    if let Some(event) = hook.tag_event() {
        let tenant = TenantId::new(&event.location)?;
        let contact = ContactId::new(&event.contact)?;
        let d = blocking(&s, move |e| {
            e.contacts().set_tags(&tenant, &contact, event.tags)
        })
        .await?;
        return Ok(
            Json(json!({"success": true, "tags_updated": true, "decision": d})).into_response(),
        );
    }
    check_fresh(&s, &hook)?;
    let body_sha256 = hex::encode(sha2::Sha256::digest(&body));
    let delivery = WebhookDelivery {
        id: hook.delivery_id(&body_sha256),
        body_sha256,
        remember_for: s.0.config.webhook_max_age * 2,
    };
    let event = hook.event().map_err(ApiError::invalid)?;
    if !event.inbound {
        return Ok(
            Json(json!({"success": true, "ignored": "not an inbound message"})).into_response(),
        );
    }
    check_text(&event.text)?;
    let msg = Inbound {
        text: event.text,
        at: event.at,
        tags: event.tags,
        facts: Default::default(),
        name: event.name,
        timezone: event.timezone,
    };
    let tenant = TenantId::new(&event.location)?;
    super::telemetry::attribute_webhook(&tenant);
    let contact = ContactId::new(&event.contact)?;
    let delivered = blocking(&s, move |e| {
        e.ingest_webhook(&tenant, &contact, &msg, &delivery)
    })
    .await?;
    let result = match delivered {
        Delivered::Fresh(r) => json!(r),
        Delivered::Replayed(first) => first,
    };
    Ok(Json(json!({"success": true, "result": result})).into_response())
}
