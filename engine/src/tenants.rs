//! Registered tenants: tier, API keys (stored only as SHA-256 hashes), GoHighLevel
//! credentials (sealed with the tenant's other data), and the outbox of CRM actions.
//!
//! An API key is `qfy_<tenant>.<64 hex>`: the tenant part finds the record, the secret
//! part is compared by hash. Keys are random 256-bit values, so a fast hash is enough
//! (there is nothing to brute-force the way there is with passwords).

use crate::error::{Error, Result};
use crate::{Engine, TenantId};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use zeroize::Zeroizing;

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

/// What the store keeps on a registered tenant (sealed).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct TenantRecord {
    #[serde(default)]
    pub registered: bool,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub tier: Tier,
    /// Hex SHA-256 of each valid API key's secret part.
    #[serde(default)]
    pub api_key_hashes: Vec<String>,
    /// GoHighLevel bearer token (sealed with the record).
    #[serde(default)]
    pub ghl_token: Option<String>,
    #[serde(default)]
    pub created_at: Option<Timestamp>,
}

/// A registered tenant as listed (no secrets).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TenantInfo {
    /// Tenant id.
    pub tenant: String,
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

/// In-memory view of registrations, so authenticating a request never touches disk.
#[derive(Default)]
pub(crate) struct Registry {
    pub tiers: HashMap<String, Tier>,
    pub keys: HashMap<[u8; 32], String>,
}

fn hash_secret(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

fn new_key(tenant: &str) -> (Zeroizing<String>, String) {
    let secret = crate::crypto::SecretKey::generate().to_hex();
    let key = Zeroizing::new(format!("qfy_{tenant}.{}", secret.as_str()));
    (key, hex::encode(hash_secret(&secret)))
}

/// A CRM action produced by a decision, delivered through the outbox.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ActionKind {
    /// Add tags (`POST /contacts/{id}/tags`).
    AddTags {
        /// Tags to add.
        tags: Vec<String>,
    },
    /// Remove tags (`DELETE /contacts/{id}/tags`).
    RemoveTags {
        /// Tags to remove.
        tags: Vec<String>,
    },
    /// Send a message (`POST /conversations/messages`).
    SendMessage {
        /// The text.
        message: String,
        /// `SMS` unless the conversation came from another channel.
        channel: String,
    },
    /// Trigger the notify-agent workflow (`POST /contacts/{id}/workflow/{workflowId}`).
    TriggerWorkflow {
        /// Workflow id.
        workflow_id: String,
    },
    /// Update a custom field (`PUT /contacts/{id}`).
    UpdateCustomField {
        /// Custom field id.
        field: String,
        /// Value.
        value: serde_json::Value,
    },
}

/// One queued action for one contact.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Action {
    /// Unique id: delivery is recorded against it.
    pub id: u64,
    /// Tenant.
    pub tenant: String,
    /// Contact id (the CRM's).
    pub contact: String,
    /// What to do.
    #[serde(flatten)]
    pub kind: ActionKind,
    /// Delivery attempts so far.
    #[serde(default)]
    pub attempts: u32,
    /// The last delivery error.
    #[serde(default)]
    pub last_error: Option<String>,
    /// Key of the queue entry (due time in ms).
    #[serde(default)]
    pub due_ms: u64,
}

impl Engine {
    pub(crate) fn load_registry(&self) -> Result<Registry> {
        let mut reg = Registry::default();
        if let Ok(store) = self.store() {
            for id in store.tenant_ids()? {
                if let Some(rec) = store.tenant::<TenantRecord>(&id)? {
                    if !rec.registered {
                        continue;
                    }
                    for h in &rec.api_key_hashes {
                        let mut bytes = [0u8; 32];
                        if hex::decode_to_slice(h, &mut bytes).is_ok() {
                            reg.keys.insert(bytes, id.clone());
                        }
                    }
                    reg.tiers.insert(id, rec.tier);
                }
            }
        }
        Ok(reg)
    }

    /// True when the tenant is registered in the store.
    pub fn is_registered(&self, tenant: &str) -> bool {
        self.registry().tiers.contains_key(tenant)
    }

    /// The tenant's tier (starter for tenants known only by their rules folder).
    pub fn tier(&self, tenant: &str) -> Tier {
        self.registry()
            .tiers
            .get(tenant)
            .copied()
            .unwrap_or_default()
    }

    /// Registers a tenant and returns its first API key: shown once, stored only as a
    /// hash. The tenant runs its rules folder, or the default rules until it has one.
    pub fn add_tenant(&self, tenant: &str, name: &str, tier: Tier) -> Result<Zeroizing<String>> {
        TenantId::new(tenant)?;
        let (key, hash) = new_key(tenant);
        let now = self.now();
        self.store()?.write(|tx| {
            if tx
                .tenant::<TenantRecord>(tenant)?
                .is_some_and(|r| r.registered)
            {
                return Err(Error::TenantExists(tenant.to_string()));
            }
            tx.put_tenant(
                tenant,
                &TenantRecord {
                    registered: true,
                    name: name.to_string(),
                    tier,
                    api_key_hashes: vec![hash],
                    ghl_token: None,
                    created_at: Some(now),
                },
            )
        })?;
        self.refresh_registry()?;
        Ok(key)
    }

    /// Registered tenants, sorted by id.
    pub fn list_tenants(&self) -> Result<Vec<TenantInfo>> {
        let store = self.store()?;
        let mut out = Vec::new();
        for id in store.tenant_ids()? {
            if let Some(r) = store.tenant::<TenantRecord>(&id)?.filter(|r| r.registered) {
                out.push(TenantInfo {
                    tenant: id,
                    name: r.name,
                    tier: r.tier,
                    api_keys: r.api_key_hashes.len(),
                    ghl_connected: r.ghl_token.is_some(),
                    created_at: r.created_at,
                });
            }
        }
        out.sort_by(|a, b| a.tenant.cmp(&b.tenant));
        Ok(out)
    }

    fn update_tenant<T>(&self, tenant: &str, f: impl FnOnce(&mut TenantRecord) -> T) -> Result<T> {
        TenantId::new(tenant)?;
        let out = self.store()?.write(|tx| {
            let mut rec = tx
                .tenant::<TenantRecord>(tenant)?
                .filter(|r| r.registered)
                .ok_or_else(|| Error::UnknownTenant(tenant.to_string()))?;
            let out = f(&mut rec);
            tx.put_tenant(tenant, &rec)?;
            Ok(out)
        })?;
        self.refresh_registry()?;
        Ok(out)
    }

    /// Replaces every API key of a tenant with a new one (shown once).
    pub fn rotate_api_key(&self, tenant: &str) -> Result<Zeroizing<String>> {
        let (key, hash) = new_key(tenant);
        self.update_tenant(tenant, |r| r.api_key_hashes = vec![hash])?;
        Ok(key)
    }

    /// Changes a tenant's tier.
    pub fn set_tier(&self, tenant: &str, tier: Tier) -> Result<()> {
        self.update_tenant(tenant, |r| r.tier = tier)
    }

    /// Stores (sealed) the tenant's GoHighLevel bearer token.
    pub fn set_ghl_token(&self, tenant: &str, token: &str) -> Result<()> {
        self.update_tenant(tenant, |r| r.ghl_token = Some(token.to_string()))
    }

    /// The tenant's GoHighLevel token, if one is stored.
    pub fn ghl_token(&self, tenant: &str) -> Result<Option<Zeroizing<String>>> {
        TenantId::new(tenant)?;
        Ok(self
            .store()?
            .tenant::<TenantRecord>(tenant)?
            .and_then(|r| r.ghl_token)
            .map(Zeroizing::new))
    }

    /// Removes a tenant: its registration, keys and all its data (crypto-shredding).
    pub fn remove_tenant(&self, tenant: &str) -> Result<usize> {
        if !self.is_registered(tenant) {
            return Err(Error::UnknownTenant(tenant.to_string()));
        }
        let n = self.erase_tenant(tenant)?;
        self.refresh_registry()?;
        Ok(n)
    }

    /// The tenant an API key belongs to, or [`Error::Unauthorized`].
    pub fn authenticate(&self, api_key: &str) -> Result<String> {
        let secret = api_key
            .strip_prefix("qfy_")
            .and_then(|rest| rest.split_once('.'))
            .map(|(_, secret)| secret)
            .ok_or(Error::Unauthorized)?;
        let hash = hash_secret(secret);
        // The map lookup compares hashes of a random secret: timing reveals nothing usable.
        self.registry()
            .keys
            .get(&hash)
            .cloned()
            .ok_or(Error::Unauthorized)
    }

    /// Actions due for delivery now, at most `limit`.
    pub fn due_actions(&self, limit: usize) -> Result<Vec<Action>> {
        let now = self.now().as_millisecond().max(0) as u64;
        let rows = self.store()?.due_actions::<Action>(now, limit)?;
        Ok(rows
            .into_iter()
            .map(|(_, due, _, mut a)| {
                a.due_ms = due;
                a
            })
            .collect())
    }

    /// Records an action as delivered: it leaves the outbox.
    pub fn action_delivered(&self, action: &Action) -> Result<()> {
        self.store()?.write(|tx| {
            tx.dequeue(&action.tenant, action.due_ms, action.id)
                .map(|_| ())
        })
    }

    /// Reschedules a failed action `delay_ms` from now, recording the error.
    pub fn action_failed(&self, action: &Action, error: &str, delay_ms: u64) -> Result<()> {
        let now = self.now().as_millisecond().max(0) as u64;
        let mut next = action.clone();
        next.attempts += 1;
        next.last_error = Some(error.chars().take(300).collect());
        next.due_ms = now + delay_ms;
        self.store()?.write(|tx| {
            tx.dequeue(&action.tenant, action.due_ms, action.id)?;
            tx.enqueue(&action.tenant, next.due_ms, next.id, &next)
        })
    }

    /// Actions waiting in the outbox (all tenants).
    pub fn outbox_len(&self) -> Result<usize> {
        Ok(self
            .store()?
            .due_actions::<Action>(u64::MAX, usize::MAX)?
            .len())
    }

    pub(crate) fn refresh_registry(&self) -> Result<()> {
        let reg = self.load_registry()?;
        *self.registry_mut() = reg;
        Ok(())
    }
}
