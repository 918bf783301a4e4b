//! The dashboard page at `/dashboard`, its assets embedded in the binary (no build step,
//! nothing fetched from elsewhere). The page itself holds no data: its script asks for
//! the tenant's key and reads `/v1/analytics` with it, like any other API client.

use crate::error::ApiError;
use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};

/// The page.
const INDEX: &str = include_str!("../../assets/dashboard/index.html");
/// Each asset the page loads: (name under `/dashboard/`, content type, body).
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/dashboard/app.js"),
    ),
    (
        "charts.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/dashboard/charts.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/dashboard/style.css"),
    ),
];

/// Only our own files, no inline script or style, data only from this origin, never in
/// a frame: a tenant's question ids and experiment names are shown on this page, and
/// this keeps them text even if one day a bug let them reach markup.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

/// An embedded file with the headers every dashboard response carries. `no-store`: the
/// assets change with the binary, and nothing here is worth a stale copy.
fn embedded(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        body,
    )
        .into_response()
}

/// `GET /dashboard`: the page.
pub(super) async fn page() -> Response {
    embedded("text/html; charset=utf-8", INDEX)
}

/// `GET /dashboard/{asset}`: one of the embedded assets by name; any other name is 404.
pub(super) async fn asset(Path(name): Path<String>) -> Result<Response, ApiError> {
    ASSETS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, content_type, body)| embedded(content_type, body))
        .ok_or_else(|| ApiError::not_found("no such dashboard asset"))
}
