//! The analytics API (a tenant's key): the tenant's funnel, class mix, questions,
//! follow-ups and experiments over a range of days. One engine call.

use super::{tenant_call, AppState, TenantAuth};
use crate::error::ApiError;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use qualify_engine::conversation::DayRange;
use serde::Deserialize;

/// `?from=YYYY-MM-DD&to=YYYY-MM-DD`, both optional.
#[derive(Deserialize)]
pub(super) struct RangeQuery {
    from: Option<String>,
    to: Option<String>,
}

/// `GET /v1/analytics?from&to`: the last 30 days (UTC) unless a range is given.
pub(super) async fn report(
    State(s): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Query(q): Query<RangeQuery>,
) -> Result<Response, ApiError> {
    let report = tenant_call(&s, &tenant, move |e, t, _| {
        let day = |name, v: &Option<String>| {
            v.as_deref()
                .filter(|v| !v.is_empty())
                .map(|v| DayRange::parse_day(name, v))
                .transpose()
        };
        let range = DayRange::new(day("from", &q.from)?, day("to", &q.to)?, e.today())?;
        e.analytics(t, range)
    })
    .await?;
    Ok(Json(report).into_response())
}
