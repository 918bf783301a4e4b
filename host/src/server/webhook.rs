//! GoHighLevel webhooks: Ed25519 `X-GHL-Signature` over the raw body, freshness and
//! replay checks, the two payload shapes (GHL's InboundMessage and the prototype's), and
//! the handler that turns one into an ingest.

use super::{blocking, check_text, parse_json, AppState, RawBody};
use crate::error::ApiError;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use qualify_engine::{ContactId, Inbound, TenantId};
use serde::Deserialize;
use serde_json::json;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

/// `webhookId`s seen within the freshness window.
#[derive(Default)]
pub struct ReplayGuard(Mutex<HashMap<String, Instant>>);

impl ReplayGuard {
    /// False when `id` was already seen within `window`; records it otherwise.
    pub fn first_sighting(&self, id: &str, window: Duration) -> bool {
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        seen.retain(|_, at| now.duration_since(*at) < window * 2);
        if seen.contains_key(id) {
            return false;
        }
        seen.insert(id.to_string(), now);
        true
    }
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

/// An inbound webhook in either shape.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GhlWebhook {
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

impl GhlWebhook {
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

/// `POST /webhooks/ghl`: signature, freshness and replay checks, then one ingest.
pub(super) async fn ghl_webhook(
    State(s): State<AppState>,
    headers: axum::http::HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let cfg = &s.0.config;
    if cfg.verify_webhooks {
        let key = cfg.webhook_key.as_ref().ok_or_else(|| {
            ApiError::unauthorized(
                "webhook verification is on but no GHL public key is configured: refusing",
            )
        })?;
        let sig = headers
            .get("x-ghl-signature")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ApiError::unauthorized("missing X-GHL-Signature"))?;
        if !verify(key, sig, &body) {
            return Err(ApiError::unauthorized("bad X-GHL-Signature"));
        }
    }
    let hook: GhlWebhook = parse_json(&body)?;
    if cfg.verify_webhooks && hook.timestamp.is_none() && hook.webhook_id.is_none() {
        return Err(ApiError::invalid(
            "webhook carries neither timestamp nor webhookId: cannot rule out a replay",
        ));
    }
    if let Some(sent) = hook.sent_at() {
        let age = s.0.engine.now().duration_since(sent).unsigned_abs();
        if age > cfg.webhook_max_age {
            return Err(ApiError::unauthorized(format!(
                "stale webhook: sent {}s from now",
                age.as_secs()
            )));
        }
    } else if hook.timestamp.is_some() {
        return Err(ApiError::invalid("unreadable webhook timestamp"));
    }
    if let Some(id) = &hook.webhook_id {
        if !s.0.replays.first_sighting(id, cfg.webhook_max_age) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "replay",
                format!("webhook {id:?} already received"),
            ));
        }
    }
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
    let contact = ContactId::new(&event.contact)?;
    let r = blocking(&s, move |e| e.ingest(&tenant, &contact, &msg)).await?;
    Ok(Json(json!({"success": true, "result": r})).into_response())
}
