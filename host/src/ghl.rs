//! The GoHighLevel client (reqwest over rustls) and outbox delivery: each queued action
//! becomes one API call; failures are retried with backoff (honouring `Retry-After` on
//! 429 and 5xx), and calls per location are held to GHL's 100 requests per 10 seconds.

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use qualify_engine::conversation::Begin;
use qualify_engine::model::{Action, ActionKind};
use qualify_engine::{Engine, TenantId};
use serde_json::json;
use std::collections::HashSet;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
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
        Self::with_timeout(base, Duration::from_secs(10))
    }

    /// A client whose every call gives up after `timeout`.
    pub fn with_timeout(base: &str, timeout: Duration) -> Self {
        let quota = Quota::with_period(Duration::from_millis(100))
            .expect("non-zero period")
            .allow_burst(NonZeroU32::new(100).expect("non-zero"));
        Self {
            http: reqwest::Client::builder()
                .timeout(timeout)
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
    // Saturating: a value too large for u64 is the largest wait, clamped by the caller.
    let number = |name: &str| {
        let text = h.get(name)?.to_str().ok()?.trim();
        text.parse::<u64>().ok().or_else(|| {
            (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())).then_some(u64::MAX)
        })
    };
    number(reqwest::header::RETRY_AFTER.as_str())
        .map(Duration::from_secs)
        .or_else(|| {
            let remaining = number("x-ratelimit-remaining")?;
            let interval = number("x-ratelimit-interval-milliseconds")?;
            (remaining == 0).then(|| Duration::from_millis(interval))
        })
}

/// The longest wait GoHighLevel's `Retry-After` can impose on an action (a huge value is
/// clamped, never an overflow).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Backoff before retry number `attempts + 1`: `base` doubled per attempt, at most 5 min.
pub fn backoff(base: Duration, attempts: u32) -> Duration {
    let factor = 1u32 << attempts.min(16);
    base.saturating_mul(factor).min(Duration::from_secs(300))
}

/// Outbox delivery: one lane per tenant, each delivering that tenant's due actions in
/// order, lanes running side by side; a tenant whose endpoint hangs holds up only its own
/// lane (every call has a timeout). Cheap to clone.
#[derive(Clone)]
pub struct Delivery {
    engine: Engine,
    client: Arc<GhlClient>,
    retry_base: Duration,
    busy: Arc<Mutex<HashSet<TenantId>>>,
    monitor: Option<Arc<crate::server::monitor::Monitor>>,
}

/// Due actions read per tenant per pass.
const PER_TENANT: usize = 20;

impl Delivery {
    /// Delivery of `engine`'s outbox through `client`; failed calls are retried after
    /// `retry_base`, doubling per attempt.
    pub fn new(engine: Engine, client: GhlClient, retry_base: Duration) -> Self {
        Self {
            engine,
            client: Arc::new(client),
            retry_base,
            busy: Arc::default(),
            monitor: None,
        }
    }

    /// Failed calls are also counted (category `ghl`) in `monitor`.
    pub fn with_monitor(mut self, monitor: Arc<crate::server::monitor::Monitor>) -> Self {
        self.monitor = Some(monitor);
        self
    }

    /// Starts a lane for every tenant with due actions and no lane running; returns the
    /// lanes started (each resolves to how many actions it delivered).
    pub async fn pass(&self) -> Vec<tokio::task::JoinHandle<usize>> {
        let e = self.engine.clone();
        let due = match tokio::task::spawn_blocking(move || e.outbox().due(PER_TENANT)).await {
            Ok(Ok(d)) => d,
            Ok(Err(err)) => {
                tracing::error!("outbox read failed: {err}");
                return Vec::new();
            }
            Err(_) => return Vec::new(),
        };
        let mut lanes: Vec<(TenantId, Vec<Action>)> = Vec::new();
        for action in due {
            match lanes.iter_mut().find(|(t, _)| *t == action.tenant) {
                Some((_, list)) => list.push(action),
                None => lanes.push((action.tenant.clone(), vec![action])),
            }
        }
        let mut started = Vec::new();
        for (tenant, actions) in lanes {
            if !self.lock().insert(tenant.clone()) {
                continue; // its lane is still running
            }
            let lane = self.clone();
            started.push(tokio::spawn(async move {
                let mut delivered = 0;
                for action in actions {
                    delivered += usize::from(lane.deliver(action).await);
                }
                lane.lock().remove(&tenant);
                delivered
            }));
        }
        started
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<TenantId>> {
        self.busy.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs one engine call on the blocking pool; `None` when it failed (logged).
    async fn engine_call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Engine) -> qualify_engine::Result<T> + Send + 'static,
    ) -> Option<T> {
        let e = self.engine.clone();
        match tokio::task::spawn_blocking(move || f(&e)).await {
            Ok(Ok(v)) => Some(v),
            Ok(Err(err)) => {
                tracing::error!("outbox: {err}");
                None
            }
            Err(err) => {
                tracing::error!("outbox: {err}");
                None
            }
        }
    }

    /// One action: re-checked and marked in flight, then the call, then its outcome.
    /// True when it was delivered.
    async fn deliver(&self, action: Action) -> bool {
        let a = action.clone();
        let Some(begin) = self.engine_call(move |e| e.outbox().begin(&a)).await else {
            return false;
        };
        let action = match begin {
            Begin::Go(action) => action,
            Begin::Dropped(why) => {
                tracing::info!(tenant = %action.tenant, "outbox action dropped: {why}");
                return false;
            }
            Begin::Gone | Begin::Deferred(_) => return false,
        };
        let tenant = action.tenant.clone();
        let token = self
            .engine_call(move |e| e.accounts().ghl_token(&tenant))
            .await
            .flatten();
        let result = match token {
            Some(token) => self.client.call(&token, &action.tenant, &action).await,
            None => Err(CallError {
                message: "no GoHighLevel token for this tenant".into(),
                retry_after: Some(Duration::from_secs(60)),
            }),
        };
        let outcome = if result.is_ok() { "ok" } else { "failed" };
        metrics::counter!("qualify_ghl_calls_total", "outcome" => outcome).increment(1);
        match result {
            Ok(()) => self
                .engine_call(move |e| e.outbox().delivered(&action))
                .await
                .is_some(),
            Err(err) => {
                let wait = err
                    .retry_after
                    .map(|w| w.min(MAX_RETRY_AFTER))
                    .unwrap_or_else(|| backoff(self.retry_base, action.attempts));
                tracing::warn!(tenant = %action.tenant, attempts = action.attempts + 1, "GHL call failed: {}", err.message);
                if let Some(m) = &self.monitor {
                    use crate::server::monitor::Category;
                    let message = format!("GoHighLevel call failed: {}", err.message);
                    m.error(
                        &action.tenant,
                        self.engine.now(),
                        Category::Ghl,
                        "outbox",
                        &message,
                        50,
                    );
                }
                let delay = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
                self.engine_call(move |e| e.outbox().failed(&action, &err.message, delay))
                    .await;
                false
            }
        }
    }
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
