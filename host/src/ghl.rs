//! The GoHighLevel client (reqwest over rustls) and outbox delivery: each queued action
//! becomes one API call; failures are retried with backoff (honouring `Retry-After` on
//! 429 and 5xx), and calls per location are held to GHL's 100 requests per 10 seconds.

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use qualify_engine::model::{Action, ActionKind};
use qualify_engine::{Engine, TenantId};
use serde_json::json;
use std::num::NonZeroU32;
use std::time::Duration;

/// Conversations API version.
const VERSION_CONVERSATIONS: &str = "2021-04-15";
/// Contacts API version.
const VERSION_CONTACTS: &str = "2021-07-28";

/// Why a call failed.
#[derive(Debug)]
pub struct CallError {
    /// What happened.
    pub message: String,
    /// How long the server asked us to wait, if it said.
    pub retry_after: Option<Duration>,
}

/// A GoHighLevel API client.
pub struct GhlClient {
    http: reqwest::Client,
    base: String,
    per_location: DefaultKeyedRateLimiter<TenantId>,
}

impl GhlClient {
    /// A client for `base` (e.g. `https://services.leadconnectorhq.com`).
    pub fn new(base: &str) -> Self {
        let quota = Quota::with_period(Duration::from_millis(100))
            .expect("non-zero period")
            .allow_burst(NonZeroU32::new(100).expect("non-zero"));
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("TLS backend available"),
            base: base.trim_end_matches('/').to_string(),
            per_location: RateLimiter::keyed(quota),
        }
    }

    /// Performs one action for `location` with its bearer token.
    pub async fn call(
        &self,
        token: &str,
        location: &TenantId,
        action: &Action,
    ) -> Result<(), CallError> {
        self.per_location.until_key_ready(location).await;
        let (method, path, version, body) = request(action);
        let resp = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("Version", version)
            .header("Accept", "application/json")
            .json(&body)
            .send()
            .await
            .map_err(|e| CallError {
                message: format!("request failed: {e}"),
                retry_after: None,
            })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        Err(CallError {
            message: format!("GoHighLevel answered {status}"),
            retry_after: retry_after(resp.headers()),
        })
    }
}

/// The API call for an action: method, path, API version and JSON body.
fn request(action: &Action) -> (reqwest::Method, String, &'static str, serde_json::Value) {
    let contact = &action.contact;
    match &action.kind {
        ActionKind::AddTags { tags } => (
            reqwest::Method::POST,
            format!("/contacts/{contact}/tags"),
            VERSION_CONTACTS,
            json!({"tags": tags}),
        ),
        ActionKind::RemoveTags { tags } => (
            reqwest::Method::DELETE,
            format!("/contacts/{contact}/tags"),
            VERSION_CONTACTS,
            json!({"tags": tags}),
        ),
        ActionKind::SendMessage { message, channel } => (
            reqwest::Method::POST,
            "/conversations/messages".to_string(),
            VERSION_CONVERSATIONS,
            json!({"type": channel, "contactId": contact, "message": message}),
        ),
        ActionKind::TriggerWorkflow { workflow_id } => (
            reqwest::Method::POST,
            format!("/contacts/{contact}/workflow/{workflow_id}"),
            VERSION_CONTACTS,
            json!({}),
        ),
        ActionKind::UpdateCustomField { field, value } => (
            reqwest::Method::PUT,
            format!("/contacts/{contact}"),
            VERSION_CONTACTS,
            json!({"customFields": [{"id": field, "value": value}]}),
        ),
    }
}

/// How long GoHighLevel asked us to wait: `Retry-After` (seconds), else its own hint
/// (no requests remaining: wait out the interval).
fn retry_after(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    let number = |name: &str| h.get(name)?.to_str().ok()?.trim().parse::<u64>().ok();
    number(reqwest::header::RETRY_AFTER.as_str())
        .map(Duration::from_secs)
        .or_else(|| {
            let remaining = number("x-ratelimit-remaining")?;
            let interval = number("x-ratelimit-interval-milliseconds")?;
            (remaining == 0).then(|| Duration::from_millis(interval))
        })
}

/// Backoff before retry number `attempts + 1`: `base` doubled per attempt, at most 5 min.
pub fn backoff(base: Duration, attempts: u32) -> Duration {
    let factor = 1u32 << attempts.min(16);
    (base * factor).min(Duration::from_secs(300))
}

/// One delivery pass over the due outbox. Returns how many actions were delivered.
pub async fn deliver_due(engine: &Engine, client: &GhlClient, retry_base: Duration) -> usize {
    let e = engine.clone();
    let due = match tokio::task::spawn_blocking(move || e.outbox().due(200)).await {
        Ok(Ok(d)) => d,
        Ok(Err(err)) => {
            tracing::error!("outbox read failed: {err}");
            return 0;
        }
        Err(_) => return 0,
    };
    let mut delivered = 0;
    for action in due {
        let e = engine.clone();
        let tenant = action.tenant.clone();
        let token = match tokio::task::spawn_blocking(move || e.accounts().ghl_token(&tenant)).await
        {
            Ok(Ok(Some(t))) => t,
            _ => {
                let e = engine.clone();
                let a = action.clone();
                let _ = tokio::task::spawn_blocking(move || {
                    e.outbox()
                        .failed(&a, "no GoHighLevel token for this tenant", 60_000)
                })
                .await;
                continue;
            }
        };
        let result = client.call(&token, &action.tenant, &action).await;
        let e = engine.clone();
        let outcome = tokio::task::spawn_blocking(move || match result {
            Ok(()) => e.outbox().delivered(&action).map(|_| true),
            Err(err) => {
                let wait = err.retry_after.unwrap_or_else(|| backoff(retry_base, action.attempts));
                tracing::warn!(tenant = %action.tenant, attempts = action.attempts + 1, "GHL call failed: {}", err.message);
                e.outbox().failed(&action, &err.message, wait.as_millis() as u64).map(|_| false)
            }
        })
        .await;
        if let Ok(Ok(true)) = outcome {
            delivered += 1;
        }
    }
    delivered
}

/// Checks a token against the API (`GET /locations/{id}`): Ok when GHL accepts it.
pub async fn check_token(base: &str, token: &str, location: &str) -> anyhow::Result<()> {
    let resp = reqwest::Client::new()
        .get(format!(
            "{}/locations/{location}",
            base.trim_end_matches('/')
        ))
        .bearer_auth(token)
        .header("Version", VERSION_CONTACTS)
        .send()
        .await?;
    if resp.status().is_success() {
        Ok(())
    } else {
        anyhow::bail!(
            "GoHighLevel refused the token for location {location}: {}",
            resp.status()
        )
    }
}
