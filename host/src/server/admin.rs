//! The admin API (the admin key): register, list, rotate the key of, and remove tenants.

use super::{blocking, AdminAuth, AppState, Body};
use crate::error::ApiError;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use qualify_engine::model::Tier;
use qualify_engine::TenantId;
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
pub(super) struct NewTenant {
    tenant: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    tier: Option<Tier>,
    #[serde(default)]
    ghl_token: Option<String>,
}

pub(super) async fn add_tenant(
    State(s): State<AppState>,
    _: AdminAuth,
    Body(t): Body<NewTenant>,
) -> Result<Response, ApiError> {
    let tenant = TenantId::new(&t.tenant)?;
    let id = tenant.clone();
    let key = blocking(&s, move |e| {
        let key = e.accounts().add(&id, &t.name, t.tier.unwrap_or_default())?;
        if let Some(token) = &t.ghl_token {
            e.accounts().set_ghl_token(&id, token)?;
        }
        Ok(key)
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"tenant": tenant, "api_key": key.as_str()})),
    )
        .into_response())
}

pub(super) async fn list_tenants(
    State(s): State<AppState>,
    _: AdminAuth,
) -> Result<Response, ApiError> {
    Ok(Json(blocking(&s, |e| e.accounts().list()).await?).into_response())
}

pub(super) async fn rotate_key(
    State(s): State<AppState>,
    _: AdminAuth,
    Path(tenant): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = TenantId::new(&tenant)?;
    let t = tenant.clone();
    let key = blocking(&s, move |e| e.accounts().rotate_key(&t)).await?;
    Ok(Json(json!({"tenant": tenant, "api_key": key.as_str()})).into_response())
}

pub(super) async fn remove_tenant(
    State(s): State<AppState>,
    _: AdminAuth,
    Path(tenant): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = TenantId::new(&tenant)?;
    let t = tenant.clone();
    let n = blocking(&s, move |e| e.accounts().remove(&t)).await?;
    Ok(Json(json!({"removed": tenant, "contacts_erased": n})).into_response())
}

/// `GET /admin/outbox/failed[?tenant=T]`: actions that will not be delivered, and why.
pub(super) async fn failed_actions(
    State(s): State<AppState>,
    _: AdminAuth,
    axum::extract::Query(q): axum::extract::Query<TenantFilter>,
) -> Result<Response, ApiError> {
    let tenant = q.tenant.as_deref().map(TenantId::new).transpose()?;
    let dead = blocking(&s, move |e| e.outbox().dead_letters(tenant.as_ref())).await?;
    Ok(Json(dead).into_response())
}

#[derive(Deserialize)]
pub(super) struct TenantFilter {
    tenant: Option<String>,
}
