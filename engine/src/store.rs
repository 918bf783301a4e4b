//! Tenant state in one redb file: every table is defined here, and this is the only
//! module that calls the crypto module. Every value is sealed with AES-256-GCM under its
//! tenant's data key; the tenant id, table, record key and key version are the associated
//! data, so a value copied to another tenant, table or key does not open. Tenant data keys
//! are wrapped by the master key, which the caller passes in.

use crate::contact::Contact;
use crate::crypto::{self, SecretKey};
use crate::error::{Error, Result};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};

/// Deployment metadata: the master-key check value. Key: name.
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// Tenant data keys, wrapped by the master key. Key: (tenant, key version).
const TENANT_KEYS: TableDefinition<(&str, u32), &[u8]> = TableDefinition::new("tenant_keys");
/// Tenants known to the store (sealed record: when first written). Key: tenant.
const TENANTS: TableDefinition<&str, &[u8]> = TableDefinition::new("tenants");
/// Contacts (sealed [`Contact`] JSON). Key: (tenant, contact id).
const CONTACTS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("contacts");
/// The follow-up due index, ordered by due time: a run reads only what is due.
/// Key: (due ms, tenant, contact); no value.
const DUE: TableDefinition<(u64, &str, &str), ()> = TableDefinition::new("due");
/// Actions waiting for delivery to the CRM (sealed JSON). Key: (tenant, due ms, action id).
const OUTBOX: TableDefinition<(&str, u64, u64), &[u8]> = TableDefinition::new("outbox");

const CANARY: &[u8] = b"qualify master key check";

fn db(e: impl Into<redb::Error>) -> Error {
    Error::Store(e.into().to_string())
}

/// Associated data binding a sealed value to its place.
fn aad(table: &str, tenant: &str, key: &str, version: u32) -> Vec<u8> {
    let mut a = Vec::with_capacity(16 + table.len() + tenant.len() + key.len());
    a.extend_from_slice(b"qualify/v1\0");
    for part in [table, tenant, key] {
        a.extend_from_slice(part.as_bytes());
        a.push(0);
    }
    a.extend_from_slice(&version.to_le_bytes());
    a
}

/// Opens a sealed JSON value: finds the data key of the version it was sealed under
/// (through `key_for`), checks it against its place (table, tenant, key), decodes it.
fn unseal_json<T: serde::de::DeserializeOwned>(
    key_for: impl FnOnce(u32) -> Result<Option<SecretKey>>,
    table: &'static str,
    tenant: &str,
    key: &str,
    sealed: &[u8],
) -> Result<T> {
    let unseal = || Error::Unseal {
        tenant: tenant.to_string(),
        table,
        key: key.to_string(),
    };
    let version = crypto::version_of(sealed).map_err(|_| unseal())?;
    let dek = key_for(version)?.ok_or_else(unseal)?;
    let plain =
        crypto::open(&dek, &aad(table, tenant, key, version), sealed).map_err(|_| unseal())?;
    serde_json::from_slice(&plain)
        .map_err(|e| Error::Store(format!("{table} {tenant}/{key}: undecodable record: {e}")))
}

/// The encrypted store. One per deployment; share it behind an `Arc`.
pub struct Store {
    db: RwLock<Database>,
    master: RwLock<SecretKey>,
    /// Unwrapped tenant data keys, filled only from committed state.
    deks: Mutex<HashMap<(String, u32), SecretKey>>,
    path: Option<PathBuf>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (or creates) the store file at `path` with the deployment's master key.
    /// A key other than the one the file was created with is [`Error::WrongMasterKey`].
    pub fn open(path: impl AsRef<Path>, master: SecretKey) -> Result<Self> {
        let path = path.as_ref();
        let database =
            Database::create(path).map_err(|e| Error::Store(format!("{}: {e}", path.display())))?;
        Self::init(database, master, Some(path.to_owned()))
    }

    /// A store in memory (tests, benchmarks): nothing touches the disk.
    pub fn in_memory(master: SecretKey) -> Result<Self> {
        let database = redb::Builder::new()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(db)?;
        Self::init(database, master, None)
    }

    fn init(database: Database, master: SecretKey, path: Option<PathBuf>) -> Result<Self> {
        let tx = database.begin_write().map_err(db)?;
        {
            tx.open_table(TENANT_KEYS).map_err(db)?;
            tx.open_table(TENANTS).map_err(db)?;
            tx.open_table(CONTACTS).map_err(db)?;
            tx.open_table(OUTBOX).map_err(db)?;
            tx.open_table(DUE).map_err(db)?;
            let mut meta = tx.open_table(META).map_err(db)?;
            let canary_aad = aad("meta", "", "canary", 0);
            let existing = meta.get("canary").map_err(db)?.map(|v| v.value().to_vec());
            match existing {
                Some(sealed) => {
                    if crypto::open(&master, &canary_aad, &sealed).is_err() {
                        return Err(Error::WrongMasterKey);
                    }
                }
                None => {
                    meta.insert(
                        "canary",
                        crypto::seal(&master, 0, &canary_aad, CANARY).as_slice(),
                    )
                    .map_err(db)?;
                }
            }
        }
        tx.commit().map_err(db)?;
        Ok(Self {
            db: RwLock::new(database),
            master: RwLock::new(master),
            deks: Mutex::new(HashMap::new()),
            path,
        })
    }

    /// The file this store lives in (`None` in memory).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn database(&self) -> std::sync::RwLockReadGuard<'_, Database> {
        self.db.read().unwrap_or_else(|e| e.into_inner())
    }

    fn master(&self) -> SecretKey {
        self.master
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn unwrap_dek(&self, tenant: &str, version: u32, wrapped: &[u8]) -> Result<SecretKey> {
        let plain = crypto::open(
            &self.master(),
            &aad("tenant_keys", tenant, "dek", version),
            wrapped,
        )
        .map_err(|_| Error::Unseal {
            tenant: tenant.to_string(),
            table: "tenant_keys",
            key: format!("v{version}"),
        })?;
        let bytes: [u8; 32] = plain.as_slice().try_into().map_err(|_| Error::Unseal {
            tenant: tenant.to_string(),
            table: "tenant_keys",
            key: format!("v{version}"),
        })?;
        Ok(SecretKey::from_bytes(bytes))
    }

    /// A tenant's data key of a given version, from the cache or the key table.
    fn dek(
        &self,
        table: &impl ReadableTable<(&'static str, u32), &'static [u8]>,
        tenant: &str,
        version: u32,
    ) -> Result<Option<SecretKey>> {
        let cached = self
            .deks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(tenant.to_string(), version))
            .cloned();
        if let Some(k) = cached {
            return Ok(Some(k));
        }
        let Some(wrapped) = table.get((tenant, version)).map_err(db)? else {
            return Ok(None);
        };
        let key = self.unwrap_dek(tenant, version, wrapped.value())?;
        self.deks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((tenant.to_string(), version), key.clone());
        Ok(Some(key))
    }

    fn open_value<T: serde::de::DeserializeOwned>(
        &self,
        keys: &impl ReadableTable<(&'static str, u32), &'static [u8]>,
        table: &'static str,
        tenant: &str,
        key: &str,
        sealed: &[u8],
    ) -> Result<T> {
        unseal_json(|v| self.dek(keys, tenant, v), table, tenant, key, sealed)
    }

    /// A tenant's record, if the tenant was ever written.
    pub(crate) fn tenant<T: serde::de::DeserializeOwned>(&self, tenant: &str) -> Result<Option<T>> {
        let database = self.database();
        let tx = database.begin_read().map_err(db)?;
        let tenants = tx.open_table(TENANTS).map_err(db)?;
        let keys = tx.open_table(TENANT_KEYS).map_err(db)?;
        let Some(sealed) = tenants.get(tenant).map_err(db)? else {
            return Ok(None);
        };
        self.open_value(&keys, "tenants", tenant, tenant, sealed.value())
            .map(Some)
    }

    /// Ids of every tenant with a record.
    pub(crate) fn tenant_ids(&self) -> Result<Vec<String>> {
        let database = self.database();
        let tx = database.begin_read().map_err(db)?;
        let tenants = tx.open_table(TENANTS).map_err(db)?;
        let ids = tenants
            .iter()
            .map_err(db)?
            .filter_map(|r| r.ok().map(|(k, _)| k.value().to_string()))
            .collect();
        Ok(ids)
    }

    /// Outbox entries due at `now_ms`, oldest first per tenant, at most `limit`.
    pub(crate) fn due_actions<T: serde::de::DeserializeOwned>(
        &self,
        now_ms: u64,
        limit: usize,
    ) -> Result<Vec<(String, u64, u64, T)>> {
        let database = self.database();
        let tx = database.begin_read().map_err(db)?;
        let outbox = tx.open_table(OUTBOX).map_err(db)?;
        let keys = tx.open_table(TENANT_KEYS).map_err(db)?;
        let mut out = Vec::new();
        for row in outbox.iter().map_err(db)? {
            let (k, v) = row.map_err(db)?;
            let (tenant, due, id) = k.value();
            if due > now_ms {
                continue;
            }
            let item =
                self.open_value(&keys, "outbox", tenant, &format!("{due}:{id}"), v.value())?;
            out.push((tenant.to_string(), due, id, item));
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Follow-up index entries due at `now_ms` (oldest first), at most `limit`.
    pub(crate) fn due_followups(
        &self,
        now_ms: u64,
        limit: usize,
    ) -> Result<Vec<(u64, String, String)>> {
        let database = self.database();
        let tx = database.begin_read().map_err(db)?;
        let due = tx.open_table(DUE).map_err(db)?;
        let mut out = Vec::new();
        for row in due
            .range((0u64, "", "")..(now_ms.saturating_add(1), "", ""))
            .map_err(db)?
        {
            let (k, _) = row.map_err(db)?;
            let (at, tenant, contact) = k.value();
            if at > now_ms {
                break;
            }
            out.push((at, tenant.to_string(), contact.to_string()));
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Like [`Store::write`], but rolls everything back at the end (dry runs).
    pub(crate) fn rehearse<T>(&self, f: impl FnOnce(&mut WriteTx<'_>) -> Result<T>) -> Result<T> {
        let database = self.database();
        let tx = database.begin_write().map_err(db)?;
        let mut w = WriteTx {
            store: self,
            tx: &tx,
            new_deks: Vec::new(),
        };
        let out = f(&mut w);
        drop(w);
        tx.abort().map_err(db)?;
        out
    }

    /// Reads one contact (a read transaction; never blocks writers).
    pub(crate) fn contact(&self, tenant: &str, id: &str) -> Result<Option<Contact>> {
        let database = self.database();
        let tx = database.begin_read().map_err(db)?;
        let contacts = tx.open_table(CONTACTS).map_err(db)?;
        let keys = tx.open_table(TENANT_KEYS).map_err(db)?;
        let Some(sealed) = contacts.get((tenant, id)).map_err(db)? else {
            return Ok(None);
        };
        self.open_value(&keys, "contacts", tenant, id, sealed.value())
            .map(Some)
    }

    /// Runs `f` in one write transaction and commits it durably (two-phase commit, since
    /// stored values derive from untrusted input). Nothing is written if `f` fails.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&mut WriteTx<'_>) -> Result<T>) -> Result<T> {
        let database = self.database();
        let mut tx = database.begin_write().map_err(db)?;
        tx.set_two_phase_commit(true);
        let mut w = WriteTx {
            store: self,
            tx: &tx,
            new_deks: Vec::new(),
        };
        let out = f(&mut w)?;
        let new_deks = std::mem::take(&mut w.new_deks);
        drop(w);
        tx.commit().map_err(db)?;
        // Only now are new data keys real: cache them.
        let mut cache = self.deks.lock().unwrap_or_else(|e| e.into_inner());
        for (tenant, version, key) in new_deks {
            cache.insert((tenant, version), key);
        }
        Ok(out)
    }

    /// Deletes a tenant: its data keys first (crypto-shredding: whatever copy of its
    /// records survives in freed pages or backups can no longer be opened), then its
    /// records, then compacts the file. Returns the number of contacts removed.
    pub(crate) fn erase_tenant(&self, tenant: &str) -> Result<usize> {
        let removed = self.write(|w| {
            let mut keys = w.tx.open_table(TENANT_KEYS).map_err(db)?;
            let versions: Vec<u32> = keys
                .range((tenant, 0)..=(tenant, u32::MAX))
                .map_err(db)?
                .filter_map(|r| r.ok().map(|(k, _)| k.value().1))
                .collect();
            for v in versions {
                keys.remove((tenant, v)).map_err(db)?;
            }
            let mut contacts = w.tx.open_table(CONTACTS).map_err(db)?;
            let ids: Vec<String> = contacts
                .range((tenant, "")..)
                .map_err(db)?
                .filter_map(|r| r.ok())
                .take_while(|(k, _)| k.value().0 == tenant)
                .map(|(k, _)| k.value().1.to_string())
                .collect();
            for id in &ids {
                contacts.remove((tenant, id.as_str())).map_err(db)?;
            }
            w.tx.open_table(TENANTS)
                .map_err(db)?
                .remove(tenant)
                .map_err(db)?;
            Ok(ids.len())
        })?;
        self.deks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(t, _), _| t != tenant);
        self.compact()?;
        Ok(removed)
    }

    /// Returns freed space to the file system (no transaction may be open).
    pub fn compact(&self) -> Result<()> {
        let mut database = self.db.write().unwrap_or_else(|e| e.into_inner());
        database.compact().map_err(db)?;
        Ok(())
    }

    /// Starts a new data key version for a tenant: new writes use it, values sealed under
    /// older versions still open. Returns the new version.
    pub(crate) fn rotate_tenant_key(&self, tenant: &str) -> Result<u32> {
        self.write(|w| {
            let current = w.current_version(tenant)?.unwrap_or(0);
            w.create_dek(tenant, current + 1)?;
            Ok(current + 1)
        })
    }

    /// Re-wraps every tenant data key under `new` in one transaction, without touching
    /// the data. Afterwards only `new` opens this store.
    pub fn rotate_master_key(&self, new: SecretKey) -> Result<usize> {
        let old = self.master();
        let count = self.write(|w| {
            let mut keys = w.tx.open_table(TENANT_KEYS).map_err(db)?;
            let all: Vec<(String, u32, Vec<u8>)> = keys
                .iter()
                .map_err(db)?
                .filter_map(|r| r.ok())
                .map(|(k, v)| (k.value().0.to_string(), k.value().1, v.value().to_vec()))
                .collect();
            for (tenant, version, wrapped) in &all {
                let a = aad("tenant_keys", tenant, "dek", *version);
                let plain = crypto::open(&old, &a, wrapped).map_err(|_| Error::Unseal {
                    tenant: tenant.clone(),
                    table: "tenant_keys",
                    key: format!("v{version}"),
                })?;
                keys.insert(
                    (tenant.as_str(), *version),
                    crypto::seal(&new, *version, &a, &plain).as_slice(),
                )
                .map_err(db)?;
            }
            let mut meta = w.tx.open_table(META).map_err(db)?;
            meta.insert(
                "canary",
                crypto::seal(&new, 0, &aad("meta", "", "canary", 0), CANARY).as_slice(),
            )
            .map_err(db)?;
            Ok(all.len())
        })?;
        *self.master.write().unwrap_or_else(|e| e.into_inner()) = new;
        Ok(count)
    }
}

/// One write transaction: sealed reads and writes of a tenant's records.
pub(crate) struct WriteTx<'s> {
    store: &'s Store,
    tx: &'s redb::WriteTransaction,
    new_deks: Vec<(String, u32, SecretKey)>,
}

impl WriteTx<'_> {
    fn current_version(&self, tenant: &str) -> Result<Option<u32>> {
        let keys = self.tx.open_table(TENANT_KEYS).map_err(db)?;
        let last = keys
            .range((tenant, 0)..=(tenant, u32::MAX))
            .map_err(db)?
            .next_back()
            .transpose()
            .map_err(db)?
            .map(|(k, _)| k.value().1);
        Ok(last)
    }

    fn create_dek(&mut self, tenant: &str, version: u32) -> Result<SecretKey> {
        let key = SecretKey::generate();
        let wrapped = crypto::seal(
            &self.store.master(),
            version,
            &aad("tenant_keys", tenant, "dek", version),
            key.bytes(),
        );
        self.tx
            .open_table(TENANT_KEYS)
            .map_err(db)?
            .insert((tenant, version), wrapped.as_slice())
            .map_err(db)?;
        self.new_deks
            .push((tenant.to_string(), version, key.clone()));
        Ok(key)
    }

    /// The key new values of `tenant` are sealed with, created on the tenant's first write.
    fn write_key(&mut self, tenant: &str) -> Result<(u32, SecretKey)> {
        if let Some((_, v, k)) = self.new_deks.iter().rev().find(|(t, _, _)| t == tenant) {
            return Ok((*v, k.clone()));
        }
        match self.current_version(tenant)? {
            Some(v) => {
                let key = self.key_for(tenant, v)?.ok_or_else(|| Error::Unseal {
                    tenant: tenant.to_string(),
                    table: "tenant_keys",
                    key: format!("v{v}"),
                })?;
                Ok((v, key))
            }
            None => {
                let key = self.create_dek(tenant, 1)?;
                let now = jiff::Timestamp::now().to_string();
                let record = crypto::seal(
                    &key,
                    1,
                    &aad("tenants", tenant, tenant, 1),
                    &serde_json::to_vec(&serde_json::json!({"created_at": now}))
                        .unwrap_or_default(),
                );
                self.tx
                    .open_table(TENANTS)
                    .map_err(db)?
                    .insert(tenant, record.as_slice())
                    .map_err(db)?;
                Ok((1, key))
            }
        }
    }

    /// The data key of `tenant` at `version`: one created in this transaction, or a
    /// committed one (which may be cached).
    fn key_for(&self, tenant: &str, version: u32) -> Result<Option<SecretKey>> {
        if let Some((_, _, k)) = self
            .new_deks
            .iter()
            .find(|(t, v, _)| t == tenant && *v == version)
        {
            return Ok(Some(k.clone()));
        }
        let keys = self.tx.open_table(TENANT_KEYS).map_err(db)?;
        self.store.dek(&keys, tenant, version)
    }

    /// Reads a contact inside this transaction.
    pub fn contact(&mut self, tenant: &str, id: &str) -> Result<Option<Contact>> {
        let sealed = self
            .tx
            .open_table(CONTACTS)
            .map_err(db)?
            .get((tenant, id))
            .map_err(db)?
            .map(|v| v.value().to_vec());
        let Some(sealed) = sealed else {
            return Ok(None);
        };
        self.open_sealed("contacts", tenant, id, &sealed).map(Some)
    }

    /// Seals and writes a contact.
    pub fn put_contact(&mut self, tenant: &str, contact: &Contact) -> Result<()> {
        let sealed = self.seal_json("contacts", tenant, &contact.id, contact)?;
        self.tx
            .open_table(CONTACTS)
            .map_err(db)?
            .insert((tenant, contact.id.as_str()), sealed.as_slice())
            .map_err(db)?;
        Ok(())
    }

    /// A tenant's record inside this transaction.
    pub fn tenant<T: serde::de::DeserializeOwned>(&mut self, tenant: &str) -> Result<Option<T>> {
        let sealed = self
            .tx
            .open_table(TENANTS)
            .map_err(db)?
            .get(tenant)
            .map_err(db)?
            .map(|v| v.value().to_vec());
        let Some(sealed) = sealed else {
            return Ok(None);
        };
        self.open_sealed("tenants", tenant, tenant, &sealed)
            .map(Some)
    }

    /// Seals and writes a tenant's record.
    pub fn put_tenant<T: serde::Serialize>(&mut self, tenant: &str, record: &T) -> Result<()> {
        let sealed = self.seal_json("tenants", tenant, tenant, record)?;
        self.tx
            .open_table(TENANTS)
            .map_err(db)?
            .insert(tenant, sealed.as_slice())
            .map_err(db)?;
        Ok(())
    }

    /// Queues an action for delivery at `due_ms`.
    pub fn enqueue<T: serde::Serialize>(
        &mut self,
        tenant: &str,
        due_ms: u64,
        id: u64,
        item: &T,
    ) -> Result<()> {
        let sealed = self.seal_json("outbox", tenant, &format!("{due_ms}:{id}"), item)?;
        self.tx
            .open_table(OUTBOX)
            .map_err(db)?
            .insert((tenant, due_ms, id), sealed.as_slice())
            .map_err(db)?;
        Ok(())
    }

    /// Removes a queued action; true when it was there.
    pub fn dequeue(&mut self, tenant: &str, due_ms: u64, id: u64) -> Result<bool> {
        Ok(self
            .tx
            .open_table(OUTBOX)
            .map_err(db)?
            .remove((tenant, due_ms, id))
            .map_err(db)?
            .is_some())
    }

    fn seal_json<T: serde::Serialize>(
        &mut self,
        table: &str,
        tenant: &str,
        key: &str,
        value: &T,
    ) -> Result<Vec<u8>> {
        let (version, dek) = self.write_key(tenant)?;
        let plain = zeroize::Zeroizing::new(
            serde_json::to_vec(value).map_err(|e| Error::Store(e.to_string()))?,
        );
        Ok(crypto::seal(
            &dek,
            version,
            &aad(table, tenant, key, version),
            &plain,
        ))
    }

    fn open_sealed<T: serde::de::DeserializeOwned>(
        &mut self,
        table: &'static str,
        tenant: &str,
        key: &str,
        sealed: &[u8],
    ) -> Result<T> {
        unseal_json(|v| self.key_for(tenant, v), table, tenant, key, sealed)
    }

    /// Adds a follow-up index entry.
    pub fn schedule(&mut self, due_ms: u64, tenant: &str, contact: &str) -> Result<()> {
        self.tx
            .open_table(DUE)
            .map_err(db)?
            .insert((due_ms, tenant, contact), ())
            .map_err(db)?;
        Ok(())
    }

    /// Removes a follow-up index entry.
    pub fn unschedule(&mut self, due_ms: u64, tenant: &str, contact: &str) -> Result<()> {
        self.tx
            .open_table(DUE)
            .map_err(db)?
            .remove((due_ms, tenant, contact))
            .map_err(db)?;
        Ok(())
    }

    /// Deletes a contact; true when it existed.
    pub fn delete_contact(&mut self, tenant: &str, id: &str) -> Result<bool> {
        let mut contacts = self.tx.open_table(CONTACTS).map_err(db)?;
        let existed = contacts.remove((tenant, id)).map_err(db)?.is_some();
        Ok(existed)
    }
}
