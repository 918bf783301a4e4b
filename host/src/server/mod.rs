//! The HTTP server: `app(state) -> Router` and `serve(listener, state, shutdown)`.
//! Handlers extract, make one engine call on a blocking thread, and wrap the answer;
//! nothing else happens here (no scoring, no storage, no crypto). Scoring answers are
//! written to JSON bytes on that blocking thread too, straight from the decisions, so
//! the async threads only parse requests and move bytes (issue 11's lean request path:
//! BENCHMARKS.md has the measured breakdown).

mod admin;
mod analytics;
mod dashboard;
mod experiments;
mod health;
mod listen;
pub mod monitor;
mod priority;
mod shadow;
pub mod telemetry;
pub mod webhook;

use crate::error::ApiError;
use crate::ghl::{Delivery, GhlClient};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ed25519_dalek::VerifyingKey;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use qualify_engine::conversation::FollowUpOptions;
use qualify_engine::decide::ScoreOptions;
use qualify_engine::model::Tier;
use qualify_engine::{ContactId, Engine, Inbound, Lead, TenantId};
use serde::de::DeserializeOwned;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::future::Future;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Largest request body accepted.
pub const BODY_LIMIT: usize = 64 * 1024;
/// Largest message text accepted.
pub const TEXT_LIMIT: usize = 10 * 1024;

/// Server settings.
#[derive(Clone)]
pub struct Config {
    /// GHL's webhook public key (Ed25519). Without one, signed webhooks cannot be verified
    /// and every webhook is refused unless verification is turned off.
    pub webhook_key: Option<VerifyingKey>,
    /// Verify webhook signatures (default on; off only by an explicit flag).
    pub verify_webhooks: bool,
    /// Oldest webhook `timestamp` accepted.
    pub webhook_max_age: Duration,
    /// SHA-256 of the admin key; without one the admin API answers 401.
    pub admin_key_hash: Option<[u8; 32]>,
    /// GoHighLevel API base URL.
    pub ghl_base_url: String,
    /// How often the outbox is delivered and rules are checked for changes.
    pub tick: Duration,
    /// How long one call to GoHighLevel may take before it counts as failed.
    pub ghl_timeout: Duration,
    /// First retry delay after a failed GHL call (doubles per attempt).
    pub retry_base: Duration,
    /// Enforce per-tenant rate limits (default on; off only for load tests).
    pub rate_limit: bool,
    /// Requests handled at once; past it, requests are shed with 503 and `Retry-After`
    /// before a queue grows without bound.
    pub max_in_flight: usize,
    /// How long one request may take before it is answered 503.
    pub request_timeout: Duration,
    /// How long a client may take to send a request's headers before its connection is
    /// closed (a slow client must not hold connections open).
    pub header_read_timeout: Duration,
    /// Engine calls of one tenant at once, the rest waiting their turn (default: the
    /// cores, so one tenant can use the machine; lower it on a server shared by many
    /// tenants, so one whose rules spin leaves the others room).
    pub tenant_concurrency: usize,
    /// Requests of one tenant that may wait for a turn; past it, 503.
    pub tenant_queue: usize,
    /// Health and alert thresholds and windows, error tracking, the alert webhook.
    pub monitor: monitor::MonitorConfig,
    /// Label request counts in `/metrics` with the tenant (off by default: `/metrics`
    /// needs no key, so it names no tenant unless the operator asks).
    pub metrics_tenant_labels: bool,
    /// A tenant whose last 16 decisions each used less CPU than this, without waiting
    /// for I/O or a lock, has its single decisions (`/v1/score`) made on the request's
    /// async thread instead of the blocking pool (default 100 µs; zero: never). See
    /// [`priority`].
    pub inline_below: Duration,
    /// How long a decision made on the request's async thread may run its hooks before
    /// it is stopped and made again on the blocking pool with the full limits (default
    /// 1 ms: a tenant whose decisions were cheap sends one that is not). See
    /// [`priority`].
    pub inline_budget: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            webhook_key: None,
            verify_webhooks: true,
            webhook_max_age: Duration::from_secs(300),
            admin_key_hash: None,
            ghl_base_url: "https://services.leadconnectorhq.com".into(),
            tick: Duration::from_secs(1),
            ghl_timeout: Duration::from_secs(10),
            retry_base: Duration::from_secs(1),
            rate_limit: true,
            max_in_flight: 512,
            request_timeout: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(10),
            tenant_concurrency: std::thread::available_parallelism().map_or(2, |n| n.get()),
            tenant_queue: 64,
            monitor: Default::default(),
            metrics_tenant_labels: false,
            inline_below: priority::INLINE,
            inline_budget: priority::INLINE_BUDGET,
        }
    }
}

/// Hashes an admin key for [`Config::admin_key_hash`].
pub fn hash_admin_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.trim().as_bytes()).into()
}

struct Limiters {
    starter: DefaultKeyedRateLimiter<TenantId>,
    professional: DefaultKeyedRateLimiter<TenantId>,
    enterprise: DefaultKeyedRateLimiter<TenantId>,
}

impl Limiters {
    fn new() -> Self {
        let make = |tier: Tier| {
            let (per_min, burst) = tier.rate();
            let quota = Quota::per_minute(NonZeroU32::new(per_min).expect("non-zero"))
                .allow_burst(NonZeroU32::new(burst).expect("non-zero"));
            RateLimiter::keyed(quota)
        };
        Self {
            starter: make(Tier::Starter),
            professional: make(Tier::Professional),
            enterprise: make(Tier::Enterprise),
        }
    }

    /// `Err(seconds to wait)` when the tenant is over its tier's rate.
    fn check(&self, tier: Tier, tenant: &TenantId) -> Result<(), u64> {
        let limiter = match tier {
            Tier::Starter => &self.starter,
            Tier::Professional => &self.professional,
            Tier::Enterprise => &self.enterprise,
        };
        limiter.check_key(tenant).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }
}

struct Shared {
    engine: Engine,
    monitor: Arc<monitor::Monitor>,
    config: Config,
    limiters: Limiters,
    delivery: Delivery,
    gates: std::sync::Mutex<std::collections::HashMap<TenantId, Arc<TenantGate>>>,
    /// Where heavy tenants' decisions run.
    low_priority: priority::LowPriority,
    /// Set once the store is unusable (an I/O error): the server stops and `serve`
    /// returns the error, so a supervisor restarts the process.
    broken: tokio::sync::watch::Sender<Option<String>>,
}

/// Everything handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    /// State over an engine (with a store) and settings.
    pub fn new(engine: Engine, config: Config) -> Self {
        let ghl = GhlClient::with_timeout(&config.ghl_base_url, config.ghl_timeout);
        let monitor = Arc::new(monitor::Monitor::default());
        let delivery =
            Delivery::new(engine.clone(), ghl, config.retry_base).with_monitor(monitor.clone());
        Self(Arc::new(Shared {
            engine,
            monitor,
            config,
            limiters: Limiters::new(),
            delivery,
            gates: Default::default(),
            low_priority: Default::default(),
            broken: tokio::sync::watch::channel(None).0,
        }))
    }

    /// Notes an engine error: a broken store stops the server.
    fn saw(&self, e: &qualify_engine::Error) {
        if let qualify_engine::Error::StoreBroken(why) = e {
            tracing::error!("store unusable, stopping: {why}");
            self.0.broken.send_if_modified(|b| {
                let first = b.is_none();
                b.get_or_insert_with(|| why.clone());
                first
            });
        }
    }

    /// An engine error as an answer, noted first ([`AppState::saw`]).
    fn fail(&self, e: qualify_engine::Error) -> ApiError {
        self.saw(&e);
        ApiError::from(e)
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.0.engine
    }

    /// One outbox delivery pass, waiting for the lanes it started; how many actions were
    /// delivered. (The server starts a pass every tick without waiting.)
    pub async fn deliver_outbox(&self) -> usize {
        let mut delivered = 0;
        for lane in self.0.delivery.pass().await {
            delivered += lane.await.unwrap_or(0);
        }
        delivered
    }
}

/// Runs an engine call on the blocking pool (Rhai and redb block).
async fn blocking<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&Engine) -> qualify_engine::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    let engine = state.0.engine.clone();
    tokio::task::spawn_blocking(move || f(&engine))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| {
            state.saw(&e);
            ApiError::from(e)
        })
}

/// Engine calls of one tenant at once, and how many more may wait for a turn: a tenant
/// whose rules are slow waits on its own turns (without holding a thread), and past the
/// queue its requests are shed with 503, so it never takes the server from the others.
struct TenantGate {
    turns: Arc<tokio::sync::Semaphore>,
    waiting: std::sync::atomic::AtomicUsize,
    /// The CPU its decisions use (heavy ones run at low priority).
    weight: priority::Weight,
}

impl AppState {
    /// True when the store is shared with other replicas (PostgreSQL).
    fn shared_store(&self) -> bool {
        self.0.engine.store().is_ok_and(|s| s.is_shared())
    }

    fn gate(&self, tenant: &TenantId) -> Arc<TenantGate> {
        let mut gates = self.0.gates.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(gate) = gates.get(tenant) {
            return gate.clone();
        }
        gates
            .entry(tenant.clone())
            .or_insert_with(|| {
                Arc::new(TenantGate {
                    turns: Arc::new(tokio::sync::Semaphore::new(
                        self.0.config.tenant_concurrency.max(1),
                    )),
                    waiting: Default::default(),
                    weight: priority::Weight::new(self.0.config.inline_below),
                })
            })
            .clone()
    }
}

/// A turn of the tenant's share of the engine, waited for; 503 when too many of its
/// requests wait already.
async fn tenant_turn(
    state: &AppState,
    tenant: &TenantId,
) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
    use std::sync::atomic::Ordering;
    /// Counts a request as waiting until dropped: a request abandoned while it waits
    /// (the client went away) stops counting too.
    struct Waiting<'a>(&'a std::sync::atomic::AtomicUsize);
    impl Drop for Waiting<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::AcqRel);
        }
    }
    let gate = state.gate(tenant);
    let queued = gate.waiting.fetch_add(1, Ordering::AcqRel);
    let waiting = Waiting(&gate.waiting);
    let turn = if queued >= state.0.config.tenant_queue {
        None
    } else {
        gate.turns.clone().acquire_owned().await.ok()
    };
    drop(waiting);
    turn.ok_or_else(|| {
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "too many requests of this tenant are waiting for their rules; retry shortly",
        );
        e.retry_after = Some(1);
        e
    })
}

/// [`blocking`] within the tenant's share of the engine pool. `f` gets a function that
/// gives the turn back early (once a message is decided, its wait for the commit needs
/// no turn); otherwise the turn is held until `f` returns.
async fn tenant_call<T: Send + 'static>(
    state: &AppState,
    tenant: &TenantId,
    f: impl FnOnce(&Engine, &TenantId, &(dyn Fn() + Sync)) -> qualify_engine::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    let turn = tenant_turn(state, tenant).await?;
    let tenant = tenant.clone();
    let turn = std::sync::Mutex::new(Some(turn));
    let release = move || {
        turn.lock().unwrap_or_else(|e| e.into_inner()).take();
    };
    blocking(state, move |e| f(e, &tenant, &release)).await
}

/// Where [`tenant_decide`] runs a call of a tenant that is not heavy (a heavy tenant's
/// run on the low-priority pool).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pool {
    /// One decision: on the request's async thread while the tenant's decisions are
    /// cheap, else on the blocking pool.
    Single,
    /// A batch: as a job on rayon's pool, whose threads split it (on the blocking pool
    /// when the tenant's batches wait for I/O before deciding).
    Shared,
    /// The leads a batch left when they turned slow: on the blocking pool.
    Blocking,
}

/// A decision within the tenant's share, on the blocking pool like [`tenant_call`], for
/// calls that compute only (scoring): `f` also writes the answer (JSON bytes), so the
/// async threads only move bytes; it maps engine errors with [`AppState::fail`]. `f`
/// counts the CPU time of the decisions it makes on its thread with the
/// [`priority::Weigher`] it gets; a tenant whose decisions are heavy has the call run
/// on the low-priority pool ([`priority`]). A `single` decision of a tenant whose
/// decisions are cheap ([`priority::Weight::inline`]) is made here, on the async thread
/// (`qualify_request_thread_decisions_total`): its hand-off to the pool cost more than it.
///
/// Measured against a pool of one thread per core (rayon's, with a oneshot back): its
/// hand-off was not measurably cheaper on two cores, and a tenant whose hook spins to
/// its limit then holds every thread of the pool, the other tenants' requests queueing
/// behind it (beside such a tenant, `POST /v1/score` fell from ~3,700 to ~190–260
/// requests/s); the blocking pool leaves the sharing of the cores to the kernel. A
/// light tenant's batch ([`Pool::Shared`]) does go to rayon's pool, where it is split
/// anyway: [`priority::decide_batch_sharing`] keeps its slow leads off it.
async fn tenant_decide<T: Send + 'static>(
    state: &AppState,
    tenant: TenantId,
    pool: Pool,
    f: impl Fn(&AppState, &TenantId, &priority::Weigher) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let single = pool == Pool::Single;
    let turn = tenant_turn(state, &tenant).await?;
    let gate = state.gate(&tenant);
    let heavy = gate.weight.heavy();
    let warn_if_heavy = move |tenant: &TenantId, weight: &priority::Weight| {
        if !heavy && weight.heavy() {
            tracing::warn!(
                tenant = %tenant,
                "decisions use {:?} of CPU each on average: they run at low priority until they get cheaper",
                weight.average()
            );
        }
    };
    if single && gate.weight.inline() {
        metrics::counter!("qualify_request_thread_decisions_total").increment(1);
        let weigher = priority::Weigher::new(&gate.weight, false);
        // A panic is a 500, as on the pools (where the join reports it), not a dropped
        // connection.
        let decide = std::panic::AssertUnwindSafe(|| f(state, &tenant, &weigher));
        let budget = state.0.config.inline_budget;
        let (result, over) = qualify_engine::decide::within_budget(budget, || {
            std::panic::catch_unwind(decide)
                .unwrap_or_else(|_| Err(ApiError::internal("a decision panicked")))
        });
        if !over {
            drop(turn);
            warn_if_heavy(&tenant, &gate.weight);
            return result;
        }
        // Its hooks ran past the budget, holding an async thread: stopped, and made again
        // on the pool below with the full limits (the tenant's cheap run starts over).
        metrics::counter!("qualify_request_thread_decisions_over_budget_total").increment(1);
        gate.weight
            .record(budget.max(state.0.config.inline_below), false);
    }
    let s = state.clone();
    let to_blocking_pool = pool != Pool::Shared || gate.weight.batch_waits();
    let job = move || {
        let result = f(&s, &tenant, &priority::Weigher::new(&gate.weight, heavy));
        drop(turn);
        warn_if_heavy(&tenant, &gate.weight);
        result
    };
    if heavy {
        metrics::counter!("qualify_low_priority_decisions_total").increment(1);
        (state.0.low_priority.run(job).await)
            .ok_or_else(|| ApiError::internal("a decision panicked"))?
    } else if to_blocking_pool {
        tokio::task::spawn_blocking(job)
            .await
            .map_err(ApiError::internal)?
    } else {
        priority::on_shared_pool(job)
            .await
            .ok_or_else(|| ApiError::internal("a decision panicked"))?
    }
}

/// A 200 answer whose body is JSON already written.
fn json_bytes(body: Vec<u8>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// `value` as JSON bytes, written into one buffer sized for a decision (~1–2 KB) rather
/// than grown from axum's 128 bytes.
fn to_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::with_capacity(2048);
    serde_json::to_writer(&mut out, value).map_err(ApiError::internal)?;
    Ok(out)
}

fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// The tenant a request's API key belongs to, after its rate limit.
pub struct TenantAuth(pub TenantId);

impl FromRequestParts<AppState> for TenantAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let key = bearer(parts)
            .ok_or_else(|| ApiError::unauthorized("missing API key (Authorization: Bearer ...)"))?;
        let accounts = state.0.engine.accounts();
        let tenant = match accounts.authenticate(key) {
            Ok(tenant) => tenant,
            // Replicas sharing a store: a key issued through another one a moment ago is
            // looked up in the store (off the async threads).
            Err(qualify_engine::Error::Unauthorized) if state.shared_store() => {
                let key = key.to_string();
                blocking(state, move |e| e.accounts().authenticate_in_store(&key)).await?
            }
            Err(e) => return Err(e.into()),
        };
        telemetry::attribute(&tenant);
        let tier = accounts.tier(&tenant);
        if !state.0.config.rate_limit {
            return Ok(TenantAuth(tenant));
        }
        if let Err(secs) = state.0.limiters.check(tier, &tenant) {
            metrics::counter!("qualify_rate_limited_total").increment(1);
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("rate limit of the {tier:?} tier exceeded; retry in {secs} s"),
            );
            e.retry_after = Some(secs.max(1));
            return Err(e);
        }
        Ok(TenantAuth(tenant))
    }
}

/// The `{contact}` of a route, checked (an invalid id is a 422 naming it).
pub struct ContactPath(pub ContactId);

impl FromRequestParts<AppState> for ContactPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::not_found(e.body_text()))?;
        Ok(ContactPath(ContactId::new(&id)?))
    }
}

/// An admin request (the admin key).
pub struct AdminAuth;

impl FromRequestParts<AppState> for AdminAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(want) = state.0.config.admin_key_hash else {
            return Err(ApiError::unauthorized(
                "the admin API is disabled: no admin key configured",
            ));
        };
        let key = bearer(parts).ok_or_else(|| ApiError::unauthorized("missing admin key"))?;
        if hash_admin_key(key) == want {
            return Ok(AdminAuth);
        }
        if state.0.engine.accounts().authenticate(key).is_ok() {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "a tenant key cannot manage tenants",
            ));
        }
        Err(ApiError::unauthorized("invalid admin key"))
    }
}

/// A JSON body parsed with our error shape: 413 over the limit, 400 when not JSON,
/// 422 when the JSON does not fit.
pub struct Body<T>(pub T);

pub(super) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Every body is a JSON object: serde would read a struct from an array too.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(match serde_json::from_slice::<serde_json::Value>(bytes) {
            Ok(_) => ApiError::invalid("the body must be a JSON object ({...})"),
            Err(e) => ApiError::malformed(format!("malformed JSON: {e}")),
        });
    }
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::invalid(format!("invalid body: {e}")),
        _ => ApiError::malformed(format!("malformed JSON: {e}")),
    })
}

async fn body_bytes(req: Request, state: &AppState) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(format!("request body over {BODY_LIMIT} bytes"))
        } else {
            ApiError::malformed(e.body_text())
        }
    })
}

impl<T: DeserializeOwned> FromRequest<AppState> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        json_content(&req)?;
        let bytes = body_bytes(req, state).await?;
        parse_json(&bytes).map(Body)
    }
}

/// No Content-Type is taken as JSON; another type is refused (415), not guessed at.
pub(super) fn json_content(req: &Request) -> Result<(), ApiError> {
    if let Some(kind) = req.headers().get(axum::http::header::CONTENT_TYPE) {
        let kind = kind.to_str().unwrap_or("").to_ascii_lowercase();
        if !kind.contains("json") {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send JSON with Content-Type: application/json",
            ));
        }
    }
    Ok(())
}

/// A JSON body's raw bytes (for hashing before parsing), its Content-Type checked.
pub struct JsonBytes(pub Bytes);

impl FromRequest<AppState> for JsonBytes {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        json_content(&req)?;
        body_bytes(req, state).await.map(JsonBytes)
    }
}

/// The raw body (for signature checks before parsing).
pub struct RawBody(pub Bytes);

impl FromRequest<AppState> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        body_bytes(req, state).await.map(RawBody)
    }
}

pub(super) fn check_text(text: &str) -> Result<(), ApiError> {
    if text.len() > TEXT_LIMIT {
        return Err(ApiError::too_large(format!(
            "message text over {TEXT_LIMIT} bytes"
        )));
    }
    Ok(())
}

/// `?explain=false` leaves the explanation out.
#[derive(serde::Deserialize)]
struct ScoreQuery {
    #[serde(default = "yes")]
    explain: bool,
}

fn yes() -> bool {
    true
}

async fn score(
    State(s): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Query(q): Query<ScoreQuery>,
    Body(lead): Body<Lead>,
) -> Result<Response, ApiError> {
    for m in &lead.messages {
        check_text(&m.text)?;
    }
    let options = ScoreOptions { explain: q.explain };
    let body = tenant_decide(&s, tenant, Pool::Single, move |s, t, w| {
        let d = w
            .weigh(1, || s.0.engine.score_with(t, &lead, &options))
            .map_err(|e| s.fail(e))?;
        to_json(&d)
    })
    .await?;
    Ok(json_bytes(body))
}

/// Most leads in one batch request.
pub const BATCH_LEADS: usize = 1000;
/// Largest batch request body.
pub const BATCH_BODY_LIMIT: usize = 1024 * 1024;

/// `POST /v1/score/batch`: `{"leads": [...]}` (at most 1,000) → `{"decisions": [...]}` in
/// order; a lead that cannot be decided is `{"error": {...}}` in its place.
async fn score_batch(
    State(s): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Query(q): Query<ScoreQuery>,
    Body(batch): Body<Batch>,
) -> Result<Response, ApiError> {
    if batch.leads.len() > BATCH_LEADS {
        return Err(ApiError::too_large(format!(
            "{} leads in one batch, at most {BATCH_LEADS}",
            batch.leads.len()
        )));
    }
    for m in batch.leads.iter().flat_map(|l| &l.messages) {
        check_text(&m.text)?;
    }
    let options = ScoreOptions { explain: q.explain };
    let leads = Arc::new(batch.leads);
    let first = {
        let leads = leads.clone();
        tenant_decide(&s, tenant.clone(), Pool::Shared, move |s, t, w| {
            // One rule set, one clock reading for the whole batch, however it is split.
            let decider = w
                .before_batch(|| s.0.engine.batch(t, &options))
                .map_err(|e| s.fail(e))?;
            // A heavy tenant's leads one after another on its low-priority thread;
            // anyone else's on every core while they stay cheap
            // (`priority::decide_batch_sharing`). Each decision is written as JSON where
            // it was made (on the pool, in parallel).
            if w.heavy {
                let pieces: Vec<Piece> = w.weigh(leads.len(), || {
                    decider
                        .decide_here(&leads)
                        .into_iter()
                        .map(decision_json)
                        .collect()
                });
                return join_decisions(pieces).map(Decided::All);
            }
            let pieces = priority::decide_batch_sharing(&decider, &leads, w, decision_json);
            if pieces.iter().all(Option::is_some) {
                return join_decisions(pieces.into_iter().flatten()).map(Decided::All);
            }
            Ok(Decided::Part(decider, pieces))
        })
        .await?
    };
    let body = match first {
        Decided::All(body) => body,
        // Its leads turned slow: the rest, under the same rule set and clock, off the
        // shared pool, each weighed.
        Decided::Part(decider, pieces) => {
            let part = std::sync::Mutex::new(Some((decider, pieces)));
            tenant_decide(&s, tenant, Pool::Blocking, move |_, _, w| {
                let (decider, pieces) = (part.lock().unwrap_or_else(|e| e.into_inner()))
                    .take()
                    .ok_or_else(|| ApiError::internal("a batch's rest was decided twice"))?;
                join_decisions(pieces.into_iter().zip(leads.iter()).map(|(piece, lead)| {
                    piece.unwrap_or_else(|| w.weigh(1, || decision_json(decider.decide(lead))))
                }))
            })
            .await?
        }
    };
    Ok(json_bytes(body))
}

/// A batch's answer, `{"decisions": [...]}`, from its decisions in order.
fn join_decisions(pieces: impl IntoIterator<Item = Piece>) -> Result<Vec<u8>, ApiError> {
    let pieces = pieces.into_iter().collect::<Result<Vec<_>, _>>();
    let pieces = pieces.map_err(ApiError::internal)?;
    let mut out = Vec::with_capacity(64 + pieces.iter().map(Vec::len).sum::<usize>());
    out.extend_from_slice(b"{\"decisions\":[");
    for (i, piece) in pieces.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(piece);
    }
    out.extend_from_slice(b"]}");
    Ok(out)
}

/// One decision of a batch as JSON (an error in its place as `{"error": {...}}`).
type Piece = Result<Vec<u8>, serde_json::Error>;

/// How far the first part of a batch's call got.
enum Decided {
    /// Every lead: the answer's body.
    All(Vec<u8>),
    /// Its leads turned slow: those left (`None`) are to be decided off the shared pool.
    Part(qualify_engine::Batch, Vec<Option<Piece>>),
}

/// A batch's decision as JSON, written into one buffer.
fn decision_json(r: qualify_engine::Result<qualify_engine::Decision>) -> Piece {
    let mut out = Vec::with_capacity(1024);
    match r {
        Ok(d) => serde_json::to_writer(&mut out, &d)?,
        Err(e) => {
            let e = ApiError::from(e);
            let error = json!({"error": {"type": e.kind, "message": e.message}});
            serde_json::to_writer(&mut out, &error)?
        }
    }
    Ok(out)
}

#[derive(serde::Deserialize)]
struct Batch {
    leads: Vec<Lead>,
}

/// How long an `Idempotency-Key` is remembered.
const IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// `POST /v1/contacts/{id}/messages`. With an `Idempotency-Key` header, a retry of the
/// same request returns the first response and ingests nothing (the key is remembered
/// with the contact for a day; the same key with another body is 409).
async fn message(
    State(s): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    ContactPath(contact): ContactPath,
    headers: axum::http::HeaderMap,
    JsonBytes(body): JsonBytes,
) -> Result<Response, ApiError> {
    let msg: Inbound = parse_json(&body)?;
    check_text(&msg.text)?;
    let key = headers
        .get("idempotency-key")
        .map(|v| v.to_str().map(str::trim).unwrap_or(""));
    let Some(key) = key else {
        let r = tenant_call(&s, &tenant, move |e, t, done| {
            e.ingest_then(t, &contact, &msg, done)
        })
        .await?;
        return Ok(Json(r).into_response());
    };
    if key.is_empty() || key.len() > 200 {
        return Err(ApiError::invalid(
            "Idempotency-Key must be 1 to 200 visible characters",
        ));
    }
    let delivery = qualify_engine::conversation::WebhookDelivery {
        id: format!("idem:{key}"),
        body_sha256: hex::encode(Sha256::digest(&body)),
        remember_for: IDEMPOTENCY_WINDOW,
    };
    let r = tenant_call(&s, &tenant, move |e, t, done| {
        e.ingest_webhook_then(t, &contact, &msg, &delivery, done)
    })
    .await?;
    Ok(match r {
        qualify_engine::conversation::Delivered::Fresh(r) => Json(r).into_response(),
        qualify_engine::conversation::Delivered::Replayed(first) => Json(first).into_response(),
    })
}

fn no_contact(id: &ContactId) -> ApiError {
    ApiError::not_found(format!("no contact {:?}", id.as_str()))
}

/// 200 with the value, or 404 naming the contact.
fn found(value: Option<impl serde::Serialize>, id: &ContactId) -> Result<Response, ApiError> {
    value
        .map(|v| Json(v).into_response())
        .ok_or_else(|| no_contact(id))
}

async fn get_contact(
    State(s): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    ContactPath(id): ContactPath,
) -> Result<Response, ApiError> {
    let c = id.clone();
    found(
        blocking(&s, move |e| e.contacts().get(&tenant, &c)).await?,
        &id,
    )
}

async fn export_contact(
    State(s): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    ContactPath(id): ContactPath,
) -> Result<Response, ApiError> {
    let c = id.clone();
    found(
        blocking(&s, move |e| e.contacts().export(&tenant, &c)).await?,
        &id,
    )
}

async fn delete_contact(
    State(s): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    ContactPath(id): ContactPath,
) -> Result<Response, ApiError> {
    let c = id.clone();
    if blocking(&s, move |e| e.contacts().erase(&tenant, &c)).await? {
        Ok(Json(json!({"erased": id})).into_response())
    } else {
        Err(no_contact(&id))
    }
}

async fn healthz() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

/// Ready when a real read of the store succeeds and rules are loaded. Unauthenticated, so
/// it says booleans and counts only, never a tenant id.
async fn readyz(State(s): State<AppState>) -> Response {
    let e = s.0.engine.clone();
    let store = tokio::task::spawn_blocking(move || e.store().and_then(|st| st.check())).await;
    let store_ok = match store {
        Ok(Ok(())) => true,
        Ok(Err(err)) => {
            s.saw(&err);
            false
        }
        Err(_) => false,
    };
    let tenants = s.0.engine.rules().tenants().len();
    let verification = if s.0.config.verify_webhooks {
        if s.0.config.webhook_key.is_some() {
            "on"
        } else {
            "on (no public key: webhooks refused)"
        }
    } else {
        "OFF: unsigned webhooks accepted (insecure)"
    };
    let ready = store_ok && tenants > 0;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({"ready": ready, "store": store_ok, "rules_loaded": tenants, "webhook_verification": verification});
    (status, Json(body)).into_response()
}

async fn fallback() -> ApiError {
    ApiError::not_found("no such route")
}

/// The router, without a socket: tests can call it directly.
pub fn app(state: AppState) -> Router {
    // The recorder is in place before the first request is counted.
    telemetry::handle();
    Router::new()
        .route("/v1/score", post(score))
        .route(
            "/v1/score/batch",
            post(score_batch).layer(DefaultBodyLimit::max(BATCH_BODY_LIMIT)),
        )
        .route("/v1/contacts/{contact}/messages", post(message))
        .route(
            "/v1/contacts/{contact}",
            get(get_contact).delete(delete_contact),
        )
        .route("/v1/contacts/{contact}/export", get(export_contact))
        .route("/v1/experiments", get(experiments::list))
        .route("/v1/experiments/{key}", get(experiments::show))
        .route("/v1/experiments/{key}/outcomes", post(experiments::outcome))
        .route("/v1/experiments/{key}/stop", post(experiments::stop))
        .route("/webhooks/ghl", post(webhook::ghl_webhook))
        .route(
            "/admin/tenants",
            post(admin::add_tenant).get(admin::list_tenants),
        )
        .route(
            "/admin/tenants/{tenant}",
            axum::routing::delete(admin::remove_tenant),
        )
        .route(
            "/admin/tenants/{tenant}/rotate-key",
            post(admin::rotate_key),
        )
        .route("/admin/outbox/failed", get(admin::failed_actions))
        .route("/admin/tenants/{tenant}/shadow", get(shadow::of_tenant))
        .route("/v1/shadow", get(shadow::own))
        .route("/v1/analytics", get(analytics::report))
        .route("/dashboard", get(dashboard::page))
        .route("/dashboard/{asset}", get(dashboard::asset))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(telemetry::render))
        .route("/v1/health", get(health::health))
        .route("/v1/alerts", get(health::alerts))
        .route("/v1/errors", get(health::errors))
        .fallback(fallback)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(
            tower::ServiceBuilder::new()
                .layer(axum::error_handling::HandleErrorLayer::new(overloaded))
                .load_shed()
                // One limit for the whole server: `Router::layer` makes one service per
                // route, and a plain concurrency limit would count each route apart.
                .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
                    state.0.config.max_in_flight.max(1),
                ))
                .timeout(state.0.config.request_timeout),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            telemetry::track,
        ))
        .with_state(state)
}

/// Requests over the in-flight limit, or over the request timeout: 503 with
/// `Retry-After`, nothing done.
async fn overloaded(err: tower::BoxError) -> ApiError {
    let message = if err.is::<tower::timeout::error::Elapsed>() {
        "the request took too long and was abandoned; retry"
    } else {
        "the server is at capacity; retry shortly"
    };
    let mut e = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", message);
    e.retry_after = Some(1);
    e
}

/// Serves until `shutdown` resolves, then finishes in-flight requests and deliveries.
/// Alongside, every tick: rules folders are checked for changes, follow-ups run, pending
/// decisions and expired webhook ids are seen to, and outbox lanes start. Actions left in
/// flight by a previous process go to the dead letters first. If the store becomes
/// unusable the server stops and this returns the error.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let e = state.0.engine.clone();
    if e.store().is_ok() {
        match tokio::task::spawn_blocking(move || e.outbox().recover()).await {
            Ok(Ok(n)) if n > 0 => {
                tracing::warn!("{n} outbox action(s) left in flight by the last process moved to the dead letters")
            }
            Ok(Err(err)) => state.saw(&err),
            _ => {}
        }
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(background(state.clone(), stop_rx));
    let mut broken = state.0.broken.subscribe();
    let stop = async move {
        tokio::select! {
            _ = shutdown => {}
            _ = broken.wait_for(Option::is_some) => {}
        }
    };
    let header_timeout = state.0.config.header_read_timeout;
    let result = listen::serve(listener, app(state.clone()), header_timeout, stop).await;
    let _ = stop_tx.send(true);
    let _ = worker.await;
    if let Some(why) = state.0.broken.borrow().clone() {
        return Err(std::io::Error::other(format!(
            "store unusable after an I/O error: {why}"
        )));
    }
    result
}

/// How often a replica of a shared store looks for actions left in flight past their lease.
const RECOVER_EVERY: Duration = Duration::from_secs(60);

/// The work beside the requests, one round per tick until `stop`; on stop it waits for
/// the delivery lanes still running (each call has a timeout).
async fn background(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(state.0.config.tick);
    let mut lanes = tokio::task::JoinSet::new();
    // Contacts whose rules failed are decided at the start and after rules change (not
    // every tick: rules that still fail would fail again).
    let mut rules_changed = true;
    // Replicas sharing a store: actions a dead replica left in flight are looked for now
    // and then (the lease is minutes; `serve` checks once at start besides).
    let mut last_recover = std::time::Instant::now();
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stop.changed() => break,
        }
        while lanes.try_join_next().is_some() {}
        let shared = state.shared_store();
        if shared {
            // Tenants registered and keys rotated through other replicas.
            let e = state.0.engine.clone();
            if let Ok(Err(err)) = tokio::task::spawn_blocking(move || e.accounts().refresh()).await
            {
                tracing::warn!("re-reading the tenant registry: {err}");
            }
        }
        if shared && last_recover.elapsed() >= RECOVER_EVERY {
            last_recover = std::time::Instant::now();
            let e = state.0.engine.clone();
            match tokio::task::spawn_blocking(move || e.outbox().recover()).await {
                Ok(Ok(n)) if n > 0 => tracing::warn!(
                    "{n} outbox action(s) left in flight past their lease (a replica died \
                     mid-delivery) moved to the dead letters"
                ),
                Ok(Err(err)) => state.saw(&err),
                _ => {}
            }
        }
        // The recorder keeps every histogram sample until upkeep folds it into the
        // buckets: without this, memory grew with every request until `/metrics` was
        // scraped (the soak's growth).
        telemetry::handle().run_upkeep();
        let e = state.0.engine.clone();
        if let Ok(report) = tokio::task::spawn_blocking(move || e.rules().reload()).await {
            rules_changed |= !report.reloaded.is_empty();
            for err in report.errors {
                tracing::warn!("rules reload: {err}");
            }
        }
        if state.0.engine.store().is_err() {
            continue;
        }
        let e = state.0.engine.clone();
        let decide_pending = std::mem::take(&mut rules_changed);
        let work = tokio::task::spawn_blocking(move || {
            e.followups().run(&FollowUpOptions::default())?;
            e.forget_expired_deliveries()?;
            if decide_pending {
                e.contacts().decide_pending(1000)?;
            }
            Ok::<_, qualify_engine::Error>(())
        });
        if let Ok(Err(err)) = work.await {
            tracing::warn!("follow-up run or maintenance failed: {err}");
            state.saw(&err);
        }
        health::watch(&state).await;
        for lane in state.0.delivery.pass().await {
            lanes.spawn(async move { lane.await.unwrap_or(0) });
        }
    }
    while lanes.join_next().await.is_some() {}
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
