//! The experiments API (a tenant's key): list its experiments, read one's analysis,
//! report an outcome the engine cannot see, stop one. Each handler is one engine call.

use super::{tenant_call, AppState, Body, TenantAuth};
use crate::error::ApiError;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use qualify_engine::conversation::OutcomeReport;
use serde_json::json;

/// `GET /v1/experiments`: one summary per experiment.
pub(super) async fn list(
    State(s): State<AppState>,
    TenantAuth(tenant): TenantAuth,
) -> Result<Response, ApiError> {
    let list = tenant_call(&s, &tenant, |e, t, _| e.experiments().list(t)).await?;
    Ok(Json(json!({ "experiments": list })).into_response())
}

/// `GET /v1/experiments/{key}`: definition, status and analysis.
pub(super) async fn show(
    State(s): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(key): Path<String>,
) -> Result<Response, ApiError> {
    let report = tenant_call(&s, &tenant, move |e, t, _| e.experiments().report(t, &key)).await?;
    Ok(Json(report).into_response())
}

/// `POST /v1/experiments/{key}/outcomes`: `{"contact_id", "metric"?, "value"?}`.
pub(super) async fn outcome(
    State(s): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(key): Path<String>,
    Body(outcome): Body<OutcomeReport>,
) -> Result<Response, ApiError> {
    let recorded = tenant_call(&s, &tenant, move |e, t, _| {
        e.experiments().record_outcome(t, &key, &outcome)
    })
    .await?;
    Ok(Json(recorded).into_response())
}

/// `POST /v1/experiments/{key}/stop`: stops it now (recorded in the store).
pub(super) async fn stop(
    State(s): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(key): Path<String>,
) -> Result<Response, ApiError> {
    let k = key.clone();
    let stopped = tenant_call(&s, &tenant, move |e, t, _| e.experiments().stop(t, &k)).await?;
    Ok(Json(json!({"experiment": key, "stopped": stopped})).into_response())
}
