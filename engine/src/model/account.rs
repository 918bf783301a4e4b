//! Registered tenants as callers see them: the rate-limit tier and the listing (no secrets).

use crate::ids::TenantId;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// A tenant's rate-limit and feature tier.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// 60 requests/min, burst 10.
    #[default]
    Starter,
    /// 120 requests/min, burst 20.
    Professional,
    /// 300 requests/min, burst 50.
    Enterprise,
}

impl Tier {
    /// `(requests per minute, burst)`.
    pub fn rate(self) -> (u32, u32) {
        match self {
            Tier::Starter => (60, 10),
            Tier::Professional => (120, 20),
            Tier::Enterprise => (300, 50),
        }
    }

    /// Parses `starter`, `professional` or `enterprise`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "starter" => Some(Tier::Starter),
            "professional" => Some(Tier::Professional),
            "enterprise" => Some(Tier::Enterprise),
            _ => None,
        }
    }
}

/// A registered tenant as listed (no secrets).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TenantInfo {
    /// Tenant id.
    pub tenant: TenantId,
    /// Display name.
    pub name: String,
    /// Tier.
    pub tier: Tier,
    /// Number of valid API keys.
    pub api_keys: usize,
    /// Whether a GoHighLevel token is stored.
    pub ghl_connected: bool,
    /// When it was registered.
    pub created_at: Option<Timestamp>,
}
