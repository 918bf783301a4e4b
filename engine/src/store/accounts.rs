//! Registered tenants: tier, API keys (stored only as SHA-256 hashes) and GoHighLevel
//! credentials, sealed in the tenant's record; and the in-memory registry that makes
//! authenticating a request a map lookup.
//!
//! An API key is `qfy_<tenant>.<64 hex>`: the tenant part finds the record, the secret
//! part is compared by hash. Keys are random 256-bit values, so a fast hash is enough
//! (there is nothing to brute-force the way there is with passwords).

use super::tables::TENANTS;
use super::{ReadTx, SecretKey, Store, WriteTx};
use crate::error::{Error, Result};
use crate::ids::TenantId;
use crate::model::{TenantInfo, Tier};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use zeroize::Zeroizing;

/// What the store keeps on a tenant (sealed). A tenant that only ever stored data has a
/// record with `registered: false`.
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

/// In-memory view of registrations, so authenticating a request never touches disk.
/// In a shared store (PostgreSQL, several replicas) another replica may register a tenant
/// or revoke a key: the host re-reads the view every tick (`Accounts::refresh`),
/// and a key it does not hold can be looked up in the record of the tenant it names
/// ([`Store::authenticate_in_store`]).
#[derive(Default)]
pub(super) struct Registry {
    tiers: HashMap<TenantId, Tier>,
    keys: HashMap<[u8; 32], TenantId>,
}

/// The tenant an API key names, and the hash of its secret.
fn split_key(api_key: &str) -> Result<(&str, [u8; 32])> {
    let (named, secret) = api_key
        .strip_prefix("qfy_")
        .and_then(|rest| rest.split_once('.'))
        .ok_or(Error::Unauthorized)?;
    Ok((named, hash_secret(secret)))
}

fn hash_secret(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// A new API key for `tenant` (shown once) and the hash the store keeps.
pub(crate) fn new_api_key(tenant: &TenantId) -> (Zeroizing<String>, String) {
    api_key_from(tenant, &SecretKey::generate())
}

/// The API key of `tenant` with `secret` as its secret part, and its hash.
pub(crate) fn api_key_from(tenant: &TenantId, secret: &SecretKey) -> (Zeroizing<String>, String) {
    let secret = secret.to_hex();
    let key = Zeroizing::new(format!("qfy_{tenant}.{}", secret.as_str()));
    (key, hex::encode(hash_secret(&secret)))
}

impl ReadTx<'_> {
    /// True when the tenant has a GoHighLevel token.
    pub(super) fn ghl_connected(&self, tenant: &TenantId) -> Result<bool> {
        let tenants = self.tx.open_table(TENANTS)?;
        let Some(sealed) = tenants.get(tenant.as_str())? else {
            return Ok(false);
        };
        let record: TenantRecord =
            self.open_value("tenants", tenant.as_str(), tenant.as_str(), sealed.value())?;
        Ok(record.ghl_token.is_some())
    }

    /// One tenant's record.
    fn tenant_record_of(&self, tenant: &TenantId) -> Result<Option<TenantRecord>> {
        let tenants = self.tx.open_table(TENANTS)?;
        let Some(sealed) = tenants.get(tenant.as_str())? else {
            return Ok(None);
        };
        self.open_value("tenants", tenant.as_str(), tenant.as_str(), sealed.value())
            .map(Some)
    }

    /// Every tenant record, by id (ids that are not valid tenant ids are skipped).
    fn tenant_records(&self) -> Result<Vec<(TenantId, TenantRecord)>> {
        let tenants = self.tx.open_table(TENANTS)?;
        let mut out = Vec::new();
        for row in tenants.iter()? {
            let (k, v) = row?;
            let Ok(id) = TenantId::new(k.value()) else {
                continue;
            };
            let record = self.open_value("tenants", id.as_str(), id.as_str(), v.value())?;
            out.push((id, record));
        }
        Ok(out)
    }
}

impl Store {
    /// Reloads the in-memory registry from the committed tenant records. The write lock
    /// is held across the read and the swap: two refreshes racing cannot install an older
    /// snapshot over a newer one (a rotated key staying valid), since whichever swaps
    /// last also read last, after every commit that preceded it.
    pub(crate) fn refresh_registry(&self) -> Result<()> {
        let mut slot = self.registry.write().unwrap_or_else(|e| e.into_inner());
        let mut reg = Registry::default();
        for (id, rec) in self.read(|r| r.tenant_records())? {
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
        #[cfg(test)]
        tests::between_read_and_swap();
        *slot = reg;
        Ok(())
    }

    fn registry(&self) -> std::sync::RwLockReadGuard<'_, Registry> {
        self.registry.read().unwrap_or_else(|e| e.into_inner())
    }

    /// True when the tenant is registered.
    pub(crate) fn is_registered(&self, tenant: &TenantId) -> bool {
        self.registry().tiers.contains_key(tenant)
    }

    /// The tenant's tier (starter for tenants known only by their rules folder).
    pub(crate) fn tier(&self, tenant: &TenantId) -> Tier {
        self.registry()
            .tiers
            .get(tenant)
            .copied()
            .unwrap_or_default()
    }

    /// The tenant an API key belongs to, or [`Error::Unauthorized`]. The key's tenant
    /// part must name the tenant whose secret it carries.
    pub(crate) fn authenticate(&self, api_key: &str) -> Result<TenantId> {
        let (named, hash) = split_key(api_key)?;
        // The map lookup compares hashes of a random secret: timing reveals nothing usable.
        self.registry()
            .keys
            .get(&hash)
            .filter(|tenant| tenant.as_str() == named)
            .cloned()
            .ok_or(Error::Unauthorized)
    }

    /// [`Store::authenticate`], and in a shared store, for a key not in memory, the
    /// record of the tenant the key names: a key issued through another replica since
    /// this one's registry was read. Reads the store.
    pub(crate) fn authenticate_in_store(&self, api_key: &str) -> Result<TenantId> {
        let (named, hash) = split_key(api_key)?;
        self.authenticate(api_key)
            .or_else(|e| self.issued_elsewhere(named, &hash).ok_or(e))
    }

    /// In a shared store: the tenant of a key issued through another replica since this
    /// one's registry was read. One record read (the tenant the key names, which an
    /// unknown key cannot make bigger); the registry is re-read when the key is there.
    fn issued_elsewhere(&self, named: &str, hash: &[u8; 32]) -> Option<TenantId> {
        if !self.is_shared() {
            return None;
        }
        let tenant = TenantId::new(named).ok()?;
        let record = self.read(|r| r.tenant_record_of(&tenant)).ok()??;
        let hash = hex::encode(hash);
        let known = record.registered && record.api_key_hashes.contains(&hash);
        if !known {
            return None;
        }
        if let Err(e) = self.refresh_registry() {
            tracing::warn!("re-reading the tenant registry: {e}");
        }
        Some(tenant)
    }

    /// Registered tenants, sorted by id.
    pub(crate) fn list_tenants(&self) -> Result<Vec<TenantInfo>> {
        let mut out: Vec<TenantInfo> = self
            .read(|r| r.tenant_records())?
            .into_iter()
            .filter(|(_, r)| r.registered)
            .map(|(tenant, r)| TenantInfo {
                tenant,
                name: r.name,
                tier: r.tier,
                api_keys: r.api_key_hashes.len(),
                ghl_connected: r.ghl_token.is_some(),
                created_at: r.created_at,
            })
            .collect();
        out.sort_by(|a, b| a.tenant.cmp(&b.tenant));
        Ok(out)
    }

    /// The tenant's GoHighLevel token, if one is stored.
    pub(crate) fn ghl_token(&self, tenant: &TenantId) -> Result<Option<Zeroizing<String>>> {
        let record = self.read(|r| {
            let tenants = r.tx.open_table(TENANTS)?;
            let Some(sealed) = tenants.get(tenant.as_str())? else {
                return Ok(None);
            };
            r.open_value::<TenantRecord>(
                "tenants",
                tenant.as_str(),
                tenant.as_str(),
                sealed.value(),
            )
            .map(Some)
        })?;
        Ok(record.and_then(|r| r.ghl_token).map(Zeroizing::new))
    }

    /// Registers a tenant with its first API key hash.
    pub(crate) fn register(
        &self,
        tenant: &TenantId,
        name: &str,
        tier: Tier,
        key_hash: String,
        now: Timestamp,
    ) -> Result<()> {
        self.write(|tx| {
            if tx.tenant_record(tenant)?.is_some_and(|r| r.registered) {
                return Err(Error::TenantExists(tenant.to_string()));
            }
            tx.put_tenant_record(
                tenant,
                &TenantRecord {
                    registered: true,
                    name: name.to_string(),
                    tier,
                    api_key_hashes: vec![key_hash],
                    ghl_token: None,
                    created_at: Some(now),
                },
            )
        })?;
        self.refresh_registry()
    }

    /// Changes a registered tenant's record in one transaction, then the registry.
    pub(crate) fn update_tenant<T>(
        &self,
        tenant: &TenantId,
        f: impl FnOnce(&mut TenantRecord) -> T,
    ) -> Result<T> {
        let out = self.write(|tx| {
            let mut rec = tx
                .tenant_record(tenant)?
                .filter(|r| r.registered)
                .ok_or_else(|| Error::UnknownTenant(tenant.to_string()))?;
            let out = f(&mut rec);
            tx.put_tenant_record(tenant, &rec)?;
            Ok(out)
        })?;
        self.refresh_registry()?;
        Ok(out)
    }
}

impl WriteTx<'_> {
    /// A tenant's record inside this transaction.
    fn tenant_record(&mut self, tenant: &TenantId) -> Result<Option<TenantRecord>> {
        let sealed = self
            .tx
            .open_table(TENANTS)?
            .get(tenant.as_str())?
            .map(|v| v.value().to_vec());
        let Some(sealed) = sealed else {
            return Ok(None);
        };
        self.open_sealed("tenants", tenant.as_str(), tenant.as_str(), &sealed)
            .map(Some)
    }

    /// Seals and writes a tenant's record.
    fn put_tenant_record(&mut self, tenant: &TenantId, record: &TenantRecord) -> Result<()> {
        let t = tenant.as_str();
        let sealed = self.seal_json("tenants", t, t, record)?;
        self.tx.open_table(TENANTS)?.insert(t, sealed.as_slice())?;
        Ok(())
    }

    /// True when the tenant has a GoHighLevel token: its actions go to the outbox.
    pub fn ghl_connected(&mut self, tenant: &TenantId) -> Result<bool> {
        Ok(self
            .tenant_record(tenant)?
            .is_some_and(|r| r.ghl_token.is_some()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    /// When set, the next refresh stalls between reading the records and swapping them
    /// in: the interleaving that used to reinstate a rotated key.
    static STALL_NEXT: AtomicBool = AtomicBool::new(false);

    pub(super) fn between_read_and_swap() {
        if STALL_NEXT.swap(false, Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Issue 9, item 7: a slow refresh that read before a rotation committed must not
    /// swap its old snapshot in after the rotation's own refresh.
    #[test]
    fn a_stale_refresh_never_reinstates_a_rotated_key() {
        let store = Store::in_memory(SecretKey::generate()).unwrap();
        let tenant = TenantId::new("t").unwrap();
        let (old_key, hash) = new_api_key(&tenant);
        store
            .register(&tenant, "t", Tier::Starter, hash, Timestamp::now())
            .unwrap();
        let (new_key, new_hash) = new_api_key(&tenant);
        std::thread::scope(|s| {
            STALL_NEXT.store(true, Ordering::SeqCst);
            let slow = s.spawn(|| store.refresh_registry().unwrap());
            // The slow refresh has read the records (with the old key) and stalls.
            std::thread::sleep(Duration::from_millis(50));
            store
                .update_tenant(&tenant, |r| r.api_key_hashes = vec![new_hash])
                .unwrap();
            slow.join().unwrap();
        });
        assert!(store.authenticate(&old_key).is_err(), "old key valid");
        assert_eq!(store.authenticate(&new_key).unwrap(), tenant);
    }
}
