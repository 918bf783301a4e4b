//! Metrics in the Prometheus text format at `GET /metrics`, through the `metrics` facade
//! and `metrics-exporter-prometheus` (its renderer only: the server's own router serves
//! it, no second listener). Every label is bounded: route templates (never a raw path),
//! methods, statuses, hooks, outcomes; never a tenant or contact id.
//!
//! What is measured: HTTP requests by route, method and status and their latency
//! (`qualify_http_*`); rule evaluations and failures by hook, extraction time, store
//! commit time, group-commit batch sizes and follow-ups by outcome (counted in the
//! engine); GoHighLevel calls by outcome, rate-limit rejections and the outbox depth.

use super::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Instant;
use tracing::Instrument;

/// Latency buckets (seconds): 100 µs to 10 s.
const LATENCY: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];
/// Group-commit batch sizes.
const BATCH: [f64; 10] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

fn builder() -> PrometheusBuilder {
    let with = |b: PrometheusBuilder, m: Matcher, buckets: &[f64]| {
        b.set_buckets_for_metric(m, buckets)
            .unwrap_or_else(|_| PrometheusBuilder::new())
    };
    let b = with(
        PrometheusBuilder::new(),
        Matcher::Suffix("_seconds".into()),
        &LATENCY,
    );
    with(
        b,
        Matcher::Full("qualify_group_commit_batch_size".into()),
        &BATCH,
    )
}

/// The process's recorder, installed on first use (one per process: every server in it
/// shares the counts). If another recorder was installed first, ours still renders, but
/// only what is recorded through it (nothing): the other one owns the facade.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| match builder().install_recorder() {
        Ok(handle) => handle,
        Err(e) => {
            tracing::warn!("metrics: another recorder is installed ({e}); /metrics will be empty");
            builder().build_recorder().handle()
        }
    })
}

/// The request's id: the caller's `X-Request-Id` when it is short and plain (so a
/// gateway's id follows the request), else a new random one.
fn request_id(req: &Request) -> String {
    req.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map_or_else(
            || {
                use std::sync::atomic::{AtomicU64, Ordering};
                static NEXT: AtomicU64 = AtomicU64::new(0);
                let seed = NEXT.fetch_add(1, Ordering::Relaxed);
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64);
                format!(
                    "{:016x}",
                    nanos.rotate_left(17) ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
                )
            },
            str::to_string,
        )
}

/// An error answered by the framework itself (a bad query string, a path segment that
/// is not UTF-8, a wrong method) in the API's error shape, `{"error": {"type",
/// "message"}}`, like every other error; other responses pass untouched.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response
            .extensions()
            .get::<crate::error::Answered>()
            .is_some()
    {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_string();
    let kind = match status.as_u16() {
        400 => "bad_request",
        404 => "not_found",
        405 => "method_not_allowed",
        415 => "unsupported_media_type",
        422 => "invalid",
        _ => "error",
    };
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    };
    let mut fixed = crate::error::ApiError::new(status, kind, message).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            fixed.headers_mut().insert(name.clone(), value.clone());
        }
    }
    fixed
}

/// A route template as a label: `/v1/contacts/{contact}` as `/v1/contacts/:contact`
/// (braces inside label values trip some exposition-format readers). Interned: a
/// request's labels cost no allocation, and the templates are the router's own, a
/// fixed set (never a raw path), so what is kept is bounded.
fn route_label(template: &str) -> &'static str {
    use std::collections::HashMap;
    use std::sync::RwLock;
    static LABELS: OnceLock<RwLock<HashMap<String, &'static str>>> = OnceLock::new();
    let labels = LABELS.get_or_init(Default::default);
    if let Some(label) = labels
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(template)
    {
        return label;
    }
    let mut labels = labels.write().unwrap_or_else(|e| e.into_inner());
    labels.entry(template.to_string()).or_insert_with(|| {
        let label = template.replace('{', ":").replace('}', "");
        Box::leak(label.into_boxed_str())
    })
}

/// A method as a label, without an allocation for the standard ones.
fn method_label(method: &axum::http::Method) -> metrics::SharedString {
    use axum::http::Method;
    let known = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
        Method::PATCH,
        Method::TRACE,
        Method::CONNECT,
    ];
    const NAMES: [&str; 9] = [
        "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "TRACE", "CONNECT",
    ];
    match known.iter().position(|m| m == method) {
        Some(i) => NAMES[i].into(),
        None => method.as_str().to_string().into(),
    }
}

/// A status as a label, without an allocation for the common ones.
fn status_label(status: u16) -> metrics::SharedString {
    const COMMON: [(u16, &str); 14] = [
        (200, "200"),
        (201, "201"),
        (204, "204"),
        (400, "400"),
        (401, "401"),
        (403, "403"),
        (404, "404"),
        (405, "405"),
        (409, "409"),
        (413, "413"),
        (415, "415"),
        (422, "422"),
        (429, "429"),
        (503, "503"),
    ];
    match COMMON.iter().find(|(code, _)| *code == status) {
        Some((_, name)) => (*name).into(),
        None => status.to_string().into(),
    }
}

/// Who a request is for, once its key (or its webhook's location) names the tenant:
/// the monitor then counts it for that tenant.
#[derive(Clone, Default)]
struct Attribution {
    tenant: Option<qualify_engine::TenantId>,
    webhook: bool,
}

tokio::task_local! {
    static CURRENT: std::cell::RefCell<Attribution>;
}

/// The request being handled is the tenant's (its key was accepted).
pub(super) fn attribute(tenant: &qualify_engine::TenantId) {
    let _ = CURRENT.try_with(|c| c.borrow_mut().tenant = Some(tenant.clone()));
}

/// The request being handled is a webhook for the tenant.
pub(super) fn attribute_webhook(tenant: &qualify_engine::TenantId) {
    let _ = CURRENT.try_with(|c| {
        *c.borrow_mut() = Attribution {
            tenant: Some(tenant.clone()),
            webhook: true,
        }
    });
}

/// Counts each request by its route template, method and status, and times it; a
/// request attributed to a tenant also goes to that tenant's health window, and an
/// error answer to its error log.
pub(super) async fn track(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| route_label(p.as_str()));
    let method = method_label(req.method());
    let request_id = request_id(&req);
    let span = tracing::info_span!("request", id = %request_id, method = %method, route = %route);
    let started = Instant::now();
    let (mut response, who) = CURRENT
        .scope(
            Default::default(),
            async {
                let response = next.run(req).await;
                (response, CURRENT.with(|c| c.take()))
            }
            .instrument(span.clone()),
        )
        .await;
    // The id's own bytes become the header (checked, not copied).
    if let Ok(v) = header::HeaderValue::from_maybe_shared(axum::body::Bytes::from(request_id)) {
        response.headers_mut().insert("x-request-id", v);
    }
    let elapsed = started.elapsed();
    tracing::debug!(parent: &span, status = response.status().as_u16(), micros = elapsed.as_micros() as u64, "answered");
    if let Some(tenant) = &who.tenant {
        s.record(tenant, who.webhook, route, &response, elapsed);
    }
    let response = json_errors(response).await;
    let status = status_label(response.status().as_u16());
    metrics::histogram!("qualify_http_request_duration_seconds", "route" => route)
        .record(elapsed.as_secs_f64());
    if s.0.config.metrics_tenant_labels {
        // Opted in: tenants are registered ones only (bounded by configuration).
        let tenant = who
            .tenant
            .map_or_else(|| "none".to_string(), |t| t.to_string());
        metrics::counter!("qualify_http_requests_total", "route" => route, "method" => method, "status" => status, "tenant" => tenant)
            .increment(1);
    } else {
        metrics::counter!("qualify_http_requests_total", "route" => route, "method" => method, "status" => status)
            .increment(1);
    }
    response
}

/// `GET /metrics`: the Prometheus text format. No key: like any exporter, it is for the
/// operator's scraper, and nothing in it names a tenant or a contact.
pub(super) async fn render(State(s): State<AppState>) -> Response {
    let e = s.0.engine.clone();
    if let Ok(Ok(depth)) =
        tokio::task::spawn_blocking(move || e.store().and_then(|_| e.outbox().len())).await
    {
        metrics::gauge!("qualify_outbox_depth").set(depth as f64);
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle().render(),
    )
        .into_response()
}
