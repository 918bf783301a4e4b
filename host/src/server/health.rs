//! Health, alerts and errors of a tenant (its key): `GET /v1/health`, `GET /v1/alerts`,
//! `GET /v1/errors`; and the watch that runs every tick, raising and resolving alerts
//! and posting them to the configured webhook.

use super::monitor::{Category, Health};
use super::{AppState, TenantAuth};
use crate::error::{Answered, ApiError};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use qualify_engine::TenantId;
use serde_json::json;
use std::time::Duration;

impl AppState {
    /// Counts one answered request of `tenant` in its window, and its error if it was one.
    pub(super) fn record(
        &self,
        tenant: &TenantId,
        webhook: bool,
        route: &str,
        response: &Response,
        elapsed: Duration,
    ) {
        let m = &self.0.monitor;
        let now = self.0.engine.now();
        let status = response.status().as_u16();
        let answered = response.extensions().get::<Answered>();
        let kind = answered.map_or("", |a| a.kind);
        let server_error = status >= 500 && kind != "overloaded";
        if webhook {
            m.webhook(tenant, now, status >= 400 && status != 409);
        }
        m.request(tenant, now, elapsed, server_error);
        if let (Some(a), Some(category)) = (answered, Category::of(status, kind)) {
            let keep = self.0.config.monitor.keep_errors;
            m.error(tenant, now, category, route, &a.message, keep);
        }
    }

    /// The tenant's health now (one outbox read for the stuck check).
    async fn health_of(&self, tenant: &TenantId) -> Health {
        let e = self.0.engine.clone();
        let t = tenant.clone();
        let now = e.now();
        let overdue = tokio::task::spawn_blocking(move || {
            let oldest = e
                .outbox()
                .queued(Some(&t))
                .ok()?
                .into_iter()
                .map(|a| a.due_ms)
                .min()?;
            let now_ms = u64::try_from(e.now().as_millisecond()).ok()?;
            Some(Duration::from_millis(now_ms.saturating_sub(oldest)))
        })
        .await
        .ok()
        .flatten();
        self.0
            .monitor
            .health(tenant, now, overdue, &self.0.config.monitor)
    }
}

impl AppState {
    /// The tenant's health now, its alerts brought up to date (and posted).
    async fn judge(&self, tenant: &TenantId) -> Health {
        let health = self.health_of(tenant).await;
        let events = self
            .0
            .monitor
            .update_alerts(tenant, &health, self.0.engine.now());
        post(self, tenant, events);
        health
    }
}

/// `GET /v1/health`: `healthy` / `degraded` / `unhealthy` and each check's figure.
pub(super) async fn health(
    State(s): State<AppState>,
    TenantAuth(tenant): TenantAuth,
) -> Result<Response, ApiError> {
    let health = s.judge(&tenant).await;
    Ok(Json(json!({"tenant": tenant, "health": health})).into_response())
}

/// `GET /v1/alerts`: active alerts and the recently resolved ones.
pub(super) async fn alerts(
    State(s): State<AppState>,
    TenantAuth(tenant): TenantAuth,
) -> Result<Response, ApiError> {
    s.judge(&tenant).await;
    Ok(Json(s.0.monitor.alerts(&tenant)).into_response())
}

/// `GET /v1/errors`: counts by category and the last errors, redacted.
pub(super) async fn errors(
    State(s): State<AppState>,
    TenantAuth(tenant): TenantAuth,
) -> Result<Response, ApiError> {
    Ok(Json(s.0.monitor.errors(&tenant)).into_response())
}

/// Every tick: each tenant with anything recorded has its alerts brought up to date.
pub(super) async fn watch(s: &AppState) {
    for tenant in s.0.monitor.tenants() {
        s.judge(&tenant).await;
    }
}

/// Logs each alert event and posts it to the alert webhook, if one is configured (in
/// the background: a slow receiver holds up nothing).
fn post(s: &AppState, tenant: &TenantId, events: Vec<(&'static str, super::monitor::Alert)>) {
    for (event, alert) in events {
        tracing::warn!(tenant = %tenant, check = alert.check, severity = ?alert.severity, "alert {event}");
        if let Some(url) = s.0.config.monitor.alert_webhook.clone() {
            let body = json!({"event": event, "tenant": tenant, "alert": alert});
            tokio::spawn(async move {
                let sent = reqwest::Client::new()
                    .post(&url)
                    .timeout(Duration::from_secs(10))
                    .json(&body)
                    .send()
                    .await;
                if let Err(e) = sent {
                    tracing::warn!("alert webhook failed: {e}");
                }
            });
        }
    }
}
