//! Shadow mode's report over HTTP: `GET /v1/shadow` for a tenant's key (its own), and
//! `GET /admin/tenants/{tenant}/shadow` for the admin key (what `qualify shadow report`
//! reads). Each handler is one engine call.

use super::{blocking, AdminAuth, AppState, TenantAuth};
use crate::error::ApiError;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use qualify_engine::TenantId;

/// `GET /v1/shadow`: the calling tenant's shadow report.
pub(super) async fn own(
    State(s): State<AppState>,
    TenantAuth(tenant): TenantAuth,
) -> Result<Response, ApiError> {
    let report = blocking(&s, move |e| e.rules().shadow(&tenant)).await?;
    Ok(Json(report).into_response())
}

/// `GET /admin/tenants/{tenant}/shadow`: any tenant's shadow report.
pub(super) async fn of_tenant(
    State(s): State<AppState>,
    _: AdminAuth,
    Path(tenant): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = TenantId::new(&tenant)?;
    let report = blocking(&s, move |e| e.rules().shadow(&tenant)).await?;
    Ok(Json(report).into_response())
}
