//! Tenant state in one redb file. Every table is defined in `tables`, and this layer is
//! the only one that can reach the crypto module (it is private here). Every value is
//! sealed with AES-256-GCM under its tenant's data key; the tenant id, table, record key
//! and key version are the associated data, so a value copied to another tenant, table or
//! key does not open. Tenant data keys are wrapped by the master key, which the caller
//! passes in.

mod accounts;
mod analytics;
mod change;
mod contacts;
mod copy;
mod crypto;
mod due;
mod erase;
mod experiments;
mod kv;
mod outbox;
mod pending;
mod pg;
mod tables;
mod transcripts;
mod webhooks;

pub(crate) use accounts::{api_key_from, new_api_key};
pub use change::CommitStats;
pub(crate) use change::{ContactChange, ContactView};
pub use copy::CopyReport;
pub use crypto::SecretKey;
pub(crate) use due::DueEntry;
pub use experiments::{ExperimentRows, ExposureRow, Stop};
pub(crate) use webhooks::Delivery;

use crate::error::{Error, Result};
use crate::ids::TenantId;
use accounts::Registry;
use kv::db;
use redb::{Database, ReadOnlyDatabase, ReadableDatabase};
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock, RwLockReadGuard};
use tables::{
    ANALYTICS, CONTACTS, CONTACT_VERSIONS, DEAD_LETTERS, DUE, EXPERIMENT_STOPS, EXPOSURES, META,
    OUTBOX, OUTCOMES, PENDING, QUARANTINE, TENANTS, TENANT_KEYS, TRANSCRIPTS, WEBHOOKS,
    WEBHOOK_EXPIRY,
};

const CANARY: &[u8] = b"qualify master key check";

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

fn unseal_error(tenant: &str, table: &'static str, key: &str) -> Error {
    Error::Unseal {
        tenant: tenant.to_string(),
        table,
        key: key.to_string(),
    }
}

/// Where a data key is looked up: the cache first, or the key table as it is now.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    Cache,
    Table,
}

/// A data key in the cache, with the wrapped bytes it was unwrapped from.
struct CachedDek {
    wrapped: Box<[u8]>,
    key: SecretKey,
}

/// Opens a sealed record: finds the data key of the version it was sealed under
/// (through `key_for`), checks it against its place (table, tenant, key), decodes it
/// (JSON, or MessagePack behind [`PACKED`]). A key from the cache that does not open it
/// is looked up once more in the key table, which another replica sharing the store may
/// have changed (a tenant erased and written again gets a new key of the same version).
fn unseal_record<T: DeserializeOwned>(
    key_for: impl Fn(u32, Source) -> Result<Option<SecretKey>>,
    table: &'static str,
    tenant: &str,
    key: &str,
    sealed: &[u8],
) -> Result<T> {
    let unseal = || unseal_error(tenant, table, key);
    let version = crypto::version_of(sealed).map_err(|_| unseal())?;
    let place = aad(table, tenant, key, version);
    let dek = key_for(version, Source::Cache)?.ok_or_else(unseal)?;
    let plain = match crypto::open(&dek, &place, sealed) {
        Ok(plain) => plain,
        Err(_) => {
            let fresh = key_for(version, Source::Table)?.ok_or_else(unseal)?;
            crypto::open(&fresh, &place, sealed).map_err(|_| unseal())?
        }
    };
    decode(&plain)
        .map_err(|e| Error::Store(format!("{table} {tenant}/{key}: undecodable record: {e}")))
}

/// The first byte of a record's plaintext in MessagePack ([`Encoding::Packed`]): a byte
/// MessagePack never uses, and which never begins JSON text (what every record held
/// before, and what the other records hold).
const PACKED: u8 = 0xc1;

/// How a record's plaintext is encoded; either is read back, whatever the table.
#[derive(Clone, Copy)]
pub(crate) enum Encoding {
    Json,
    /// MessagePack with field names, behind [`PACKED`]: for contacts, which every ingest
    /// reads and writes whole (a conversation of up to `history_limit` messages):
    /// serialising one is ~4× and reading ~1.7× faster than JSON (BENCHMARKS.md,
    /// "Contacts in MessagePack").
    Packed,
}

fn encode<T: serde::Serialize>(value: &T, encoding: Encoding) -> Result<Vec<u8>> {
    let failed = |e: String| Error::Store(format!("cannot encode a record: {e}"));
    match encoding {
        Encoding::Json => serde_json::to_vec(value).map_err(|e| failed(e.to_string())),
        Encoding::Packed => {
            let mut out = vec![PACKED];
            rmp_serde::encode::write_named(&mut out, value).map_err(|e| failed(e.to_string()))?;
            Ok(out)
        }
    }
}

fn decode<T: DeserializeOwned>(plain: &[u8]) -> std::result::Result<T, String> {
    match plain.split_first() {
        Some((&PACKED, packed)) => rmp_serde::from_slice(packed).map_err(|e| e.to_string()),
        _ => serde_json::from_slice(plain).map_err(|e| e.to_string()),
    }
}

/// The backend: a redb file, writable or opened read-only ([`Store::open_read_only`]),
/// where every write is refused before redb is asked; or a PostgreSQL database.
enum Db {
    Writable(Database),
    ReadOnly(ReadOnlyDatabase),
    Postgres(pg::Pool),
}

impl Db {
    fn begin_read(&self) -> Result<kv::ReadTxn> {
        Ok(match self {
            Db::Writable(d) => kv::ReadTxn::Redb(d.begin_read().map_err(db)?),
            Db::ReadOnly(d) => kv::ReadTxn::Redb(d.begin_read().map_err(db)?),
            Db::Postgres(p) => kv::ReadTxn::Pg(p.begin_read()?),
        })
    }

    /// A write transaction; redb's commits durably in two phases (stored values derive
    /// from untrusted input).
    fn begin_write(&self) -> Result<kv::WriteTxn> {
        match self {
            Db::Writable(d) => {
                let mut tx = d.begin_write().map_err(db)?;
                tx.set_two_phase_commit(true);
                Ok(kv::WriteTxn::Redb(tx))
            }
            Db::ReadOnly(_) => Err(Error::Store(
                "this store was opened read-only: nothing may be written to it".into(),
            )),
            Db::Postgres(p) if p.is_read_only() => Err(Error::Store(
                "this store was opened read-only: nothing may be written to it".into(),
            )),
            Db::Postgres(p) => Ok(kv::WriteTxn::Pg(p.begin_write()?)),
        }
    }
}

/// The encrypted store. One per deployment; share it behind an `Arc`.
pub struct Store {
    db: RwLock<Db>,
    master: RwLock<SecretKey>,
    /// Unwrapped tenant data keys, filled only from committed state, each with the
    /// wrapped bytes it was read from: on a shared store another replica may have
    /// replaced a key by one of the same version (a tenant erased, then written again),
    /// which a differing row reveals.
    deks: Mutex<HashMap<(String, u32), CachedDek>>,
    /// Registered tenants and their API key hashes, so authenticating never reads disk.
    registry: RwLock<Registry>,
    path: Option<PathBuf>,
    /// Set by the first I/O error: redb refuses everything after one, so the store says
    /// so (and `check` fails) until the process restarts.
    broken: Mutex<Option<String>>,
    /// Prepared changes waiting for the next group commit.
    group: change::GroupCommit,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Memory redb may use to cache pages of the file when the caller does not say
    /// ([`Store::open_with_cache`]). redb's own default is 1 GiB, which a long-running
    /// server fills as its data grows: on one small machine that reads as a leak.
    pub const DEFAULT_CACHE_BYTES: usize = 64 << 20;

    /// Opens (or creates) the store file at `path` with the deployment's master key.
    /// A key other than the one the file was created with is [`Error::WrongMasterKey`].
    pub fn open(path: impl AsRef<Path>, master: SecretKey) -> Result<Self> {
        Self::open_with_cache(path, master, Self::DEFAULT_CACHE_BYTES)
    }

    /// [`Store::open`] with redb's page cache held to `cache_bytes`.
    pub fn open_with_cache(
        path: impl AsRef<Path>,
        master: SecretKey,
        cache_bytes: usize,
    ) -> Result<Self> {
        let path = path.as_ref();
        let database = redb::Builder::new()
            .set_cache_size(cache_bytes)
            .create(path)
            .map_err(|e| Error::Store(format!("{}: {e}", path.display())))?;
        Self::init(database, master, Some(path.to_owned()))
    }

    /// Opens an existing store file read-only: every read works, every write is refused
    /// ([`Error::Store`]), and the file's bytes are never changed (redb opens it without
    /// write access). What `qualify replay` reads. redb refuses it while a writer (a
    /// running server) holds the file, and refuses a file that needs recovery.
    pub fn open_read_only(
        path: impl AsRef<Path>,
        master: SecretKey,
        cache_bytes: usize,
    ) -> Result<Self> {
        let path = path.as_ref();
        let database = redb::Builder::new()
            .set_cache_size(cache_bytes)
            .open_read_only(path)
            .map_err(|e| Error::Store(format!("{} (read-only): {e}", path.display())))?;
        let store = Self::new(Db::ReadOnly(database), master, Some(path.to_owned()));
        store.check()?;
        store.check_master()?;
        store.refresh_registry()?;
        Ok(store)
    }

    /// Connections a PostgreSQL store opens at most ([`Store::open_postgres`]).
    pub const DEFAULT_POSTGRES_CONNECTIONS: u32 = 16;

    /// Opens the store in a PostgreSQL database (`postgres://user:password@host/db`;
    /// `?sslmode=require` for TLS), bringing its schema up to date first (under a lock,
    /// so replicas starting together migrate once). Several processes may open the same
    /// database: each is a replica of one deployment, and all must use the same master
    /// key ([`Error::WrongMasterKey`] otherwise).
    pub fn open_postgres(url: &str, master: SecretKey) -> Result<Self> {
        let pool = pg::Pool::connect(url, Self::DEFAULT_POSTGRES_CONNECTIONS)?;
        pool.migrate()?;
        Self::start(Db::Postgres(pool), master, None)
    }

    /// Opens the store in a PostgreSQL database read-only (what `qualify replay` reads):
    /// every write is refused, and the schema is not migrated (an out-of-date one is an
    /// error).
    pub fn open_postgres_read_only(url: &str, master: SecretKey) -> Result<Self> {
        let pool = pg::Pool::connect(url, 4)?.read_only();
        let store = Self::new(Db::Postgres(pool), master, None);
        store.check()?;
        store.check_master()?;
        store.refresh_registry()?;
        Ok(store)
    }

    /// Brings a PostgreSQL database's schema up to date (what `qualify migrate` runs;
    /// [`Store::open_postgres`] does it too). Returns the migrations applied, none when
    /// the schema was current.
    pub fn migrate_postgres(url: &str) -> Result<Vec<String>> {
        pg::Pool::connect(url, 2)?.migrate()
    }

    /// Where this store lives, for messages: the file, or the database URL without its
    /// password.
    pub fn location(&self) -> String {
        match (&*self.database(), &self.path) {
            (Db::Postgres(p), _) => p.shown.clone(),
            (_, Some(path)) => path.display().to_string(),
            (_, None) => "memory".to_string(),
        }
    }

    /// True when the store is shared with other processes (PostgreSQL): what it caches
    /// in memory must then be re-read now and then.
    pub fn is_shared(&self) -> bool {
        matches!(&*self.database(), Db::Postgres(_))
    }

    /// A store in memory (tests, benchmarks): nothing touches the disk.
    pub fn in_memory(master: SecretKey) -> Result<Self> {
        Self::with_backend(redb::backends::InMemoryBackend::new(), master)
    }

    /// A store over any redb storage backend (custom storage, fault injection in tests).
    pub fn with_backend(backend: impl redb::StorageBackend, master: SecretKey) -> Result<Self> {
        let database = redb::Builder::new()
            .create_with_backend(backend)
            .map_err(db)?;
        Self::init(database, master, None)
    }

    /// A real read of the store (the master-key check value): what readiness runs. After
    /// an I/O error it is [`Error::StoreBroken`]: the process must restart.
    pub fn check(&self) -> Result<()> {
        if let Some(why) = self
            .broken
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            return Err(Error::StoreBroken(why));
        }
        self.read(|r| {
            let meta = r.tx.open_table(META)?;
            let found = meta.get("canary")?.is_some();
            found
                .then_some(())
                .ok_or_else(|| Error::Store("the master-key check value is missing".into()))
        })
    }

    /// Remembers an I/O failure: from now on the store reports itself broken.
    fn note<T>(&self, result: Result<T>) -> Result<T> {
        if let Err(Error::StoreBroken(why)) = &result {
            let mut broken = self.broken.lock().unwrap_or_else(|e| e.into_inner());
            broken.get_or_insert_with(|| why.clone());
        }
        result
    }

    fn init(database: Database, master: SecretKey, path: Option<PathBuf>) -> Result<Self> {
        // redb creates a table when a write transaction first opens it.
        let tx = database.begin_write().map_err(db)?;
        {
            tx.open_table(META).map_err(db)?;
            tx.open_table(TENANT_KEYS).map_err(db)?;
            tx.open_table(TENANTS).map_err(db)?;
            tx.open_table(CONTACTS).map_err(db)?;
            tx.open_table(CONTACT_VERSIONS).map_err(db)?;
            tx.open_table(OUTBOX).map_err(db)?;
            tx.open_table(DUE).map_err(db)?;
            tx.open_table(DEAD_LETTERS).map_err(db)?;
            tx.open_table(WEBHOOKS).map_err(db)?;
            tx.open_table(WEBHOOK_EXPIRY).map_err(db)?;
            tx.open_table(PENDING).map_err(db)?;
            tx.open_table(QUARANTINE).map_err(db)?;
            tx.open_table(EXPOSURES).map_err(db)?;
            tx.open_table(OUTCOMES).map_err(db)?;
            tx.open_table(EXPERIMENT_STOPS).map_err(db)?;
            tx.open_table(ANALYTICS).map_err(db)?;
            tx.open_table(TRANSCRIPTS).map_err(db)?;
        }
        tx.commit().map_err(db)?;
        Self::start(Db::Writable(database), master, path)
    }

    /// Checks the master key against the store's check value (writing it into a new
    /// store), then loads the tenant registry.
    fn start(database: Db, master: SecretKey, path: Option<PathBuf>) -> Result<Self> {
        let store = Self::new(database, master.clone(), path);
        store.write(|w| {
            let mut meta = w.tx.open_table(META)?;
            let canary_aad = aad("meta", "", "canary", 0);
            let existing = meta.get("canary")?.map(|v| v.value().to_vec());
            match existing {
                Some(sealed) => crypto::open(&master, &canary_aad, &sealed)
                    .map(|_| ())
                    .map_err(|_| Error::WrongMasterKey),
                None => meta.insert(
                    "canary",
                    crypto::seal(&master, 0, &canary_aad, CANARY).as_slice(),
                ),
            }
        })?;
        store.refresh_registry()?;
        Ok(store)
    }

    fn new(database: Db, master: SecretKey, path: Option<PathBuf>) -> Self {
        Self {
            db: RwLock::new(database),
            master: RwLock::new(master),
            deks: Mutex::new(HashMap::new()),
            registry: RwLock::new(Registry::default()),
            path,
            broken: Mutex::new(None),
            group: Default::default(),
        }
    }

    /// The master key opens the check value (what `init` checks, by a read).
    fn check_master(&self) -> Result<()> {
        let master = self.master();
        self.read(|r| {
            let meta = r.tx.open_table(META)?;
            let sealed = meta
                .get("canary")?
                .ok_or_else(|| Error::Store("the master-key check value is missing".into()))?;
            crypto::open(&master, &aad("meta", "", "canary", 0), sealed.value())
                .map(|_| ())
                .map_err(|_| Error::WrongMasterKey)
        })
    }

    /// The file this store lives in (`None` in memory).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn database(&self) -> RwLockReadGuard<'_, Db> {
        self.db.read().unwrap_or_else(|e| e.into_inner())
    }

    fn master(&self) -> SecretKey {
        self.master
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn unwrap_dek(&self, tenant: &str, version: u32, wrapped: &[u8]) -> Result<SecretKey> {
        let err = || unseal_error(tenant, "tenant_keys", &format!("v{version}"));
        let plain = crypto::open(
            &self.master(),
            &aad("tenant_keys", tenant, "dek", version),
            wrapped,
        )
        .map_err(|_| err())?;
        let bytes: [u8; 32] = plain.as_slice().try_into().map_err(|_| err())?;
        Ok(SecretKey::from_bytes(bytes))
    }

    /// A tenant's data key of a given version: from the cache, or (`Source::Table`, or
    /// when not cached) as the key table holds it now.
    fn dek(
        &self,
        table: &kv::Table<'_, (&'static str, u32), &'static [u8]>,
        tenant: &str,
        version: u32,
        source: Source,
    ) -> Result<Option<SecretKey>> {
        if source == Source::Cache {
            if let Some(key) = self.cached_dek(tenant, version, None) {
                return Ok(Some(key));
            }
        }
        let Some(wrapped) = table.get((tenant, version))? else {
            return Ok(None);
        };
        self.dek_of_row(tenant, version, wrapped.value()).map(Some)
    }

    /// The cached key of `tenant` at `version`; given a key row's bytes, only if it was
    /// unwrapped from those.
    fn cached_dek(&self, tenant: &str, version: u32, row: Option<&[u8]>) -> Option<SecretKey> {
        let cache = self.deks.lock().unwrap_or_else(|e| e.into_inner());
        let cached = cache.get(&(tenant.to_string(), version))?;
        row.is_none_or(|w| *cached.wrapped == *w)
            .then(|| cached.key.clone())
    }

    /// The data key a row of the key table holds: the cached one when it came from these
    /// very bytes, else unwrapped (and cached in place of a stale one).
    fn dek_of_row(&self, tenant: &str, version: u32, wrapped: &[u8]) -> Result<SecretKey> {
        if let Some(key) = self.cached_dek(tenant, version, Some(wrapped)) {
            return Ok(key);
        }
        let key = self.unwrap_dek(tenant, version, wrapped)?;
        self.cache_dek(tenant, version, wrapped, key.clone());
        Ok(key)
    }

    fn cache_dek(&self, tenant: &str, version: u32, wrapped: &[u8], key: SecretKey) {
        self.deks.lock().unwrap_or_else(|e| e.into_inner()).insert(
            (tenant.to_string(), version),
            CachedDek {
                wrapped: wrapped.into(),
                key,
            },
        );
    }

    /// Runs `f` over one read snapshot (never blocks writers).
    fn read<T>(&self, f: impl FnOnce(&ReadTx<'_>) -> Result<T>) -> Result<T> {
        self.note((|| {
            let database = self.database();
            let tx = database.begin_read()?;
            let keys = tx.open_table(TENANT_KEYS)?;
            f(&ReadTx {
                store: self,
                tx: &tx,
                keys: &keys,
            })
        })())
    }

    /// Runs `f` in one write transaction and commits it durably (two-phase commit, since
    /// stored values derive from untrusted input). Nothing is written if `f` fails.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&mut WriteTx<'_>) -> Result<T>) -> Result<T> {
        self.note(self.write_once(f))
    }

    fn write_once<T>(&self, f: impl FnOnce(&mut WriteTx<'_>) -> Result<T>) -> Result<T> {
        let database = self.database();
        let tx = database.begin_write()?;
        let mut w = WriteTx {
            store: self,
            tx: &tx,
            new_deks: Vec::new(),
            write_keys: Vec::new(),
            tallies: Default::default(),
        };
        let out = f(&mut w)?;
        w.flush_tallies()?;
        let new_deks = std::mem::take(&mut w.new_deks);
        drop(w);
        let started = std::time::Instant::now();
        tx.commit()?;
        metrics::histogram!("qualify_store_commit_seconds").record(started.elapsed().as_secs_f64());
        // Only now are new data keys real: cache them.
        for (tenant, version, key, wrapped) in new_deks {
            self.cache_dek(&tenant, version, &wrapped, key);
        }
        Ok(out)
    }

    /// Like [`Store::write`], but rolls everything back at the end (dry runs).
    pub(crate) fn rehearse<T>(&self, f: impl FnOnce(&mut WriteTx<'_>) -> Result<T>) -> Result<T> {
        let database = self.database();
        let tx = database.begin_write()?;
        let mut w = WriteTx {
            store: self,
            tx: &tx,
            new_deks: Vec::new(),
            write_keys: Vec::new(),
            tallies: Default::default(),
        };
        let out = f(&mut w);
        drop(w);
        tx.abort()?;
        out
    }

    /// Returns freed space to the file system (no transaction may be open).
    pub fn compact(&self) -> Result<()> {
        let mut database = self.db.write().unwrap_or_else(|e| e.into_inner());
        match &mut *database {
            Db::Writable(d) => d.compact().map(|_| ()).map_err(db),
            Db::ReadOnly(_) => Err(Error::Store(
                "this store was opened read-only: it cannot be compacted".into(),
            )),
            // PostgreSQL reclaims space itself (autovacuum).
            Db::Postgres(_) => Ok(()),
        }
    }

    /// Starts a new data key version for a tenant: new writes use it, values sealed under
    /// older versions still open. Returns the new version.
    pub(crate) fn rotate_tenant_key(&self, tenant: &TenantId) -> Result<u32> {
        self.write(|w| {
            let current = w.current_version(tenant.as_str())?.unwrap_or(0);
            w.create_dek(tenant.as_str(), current + 1)?;
            Ok(current + 1)
        })
    }

    /// Re-wraps every tenant data key under `new` in one transaction, without touching
    /// the data. Afterwards only `new` opens this store.
    pub fn rotate_master_key(&self, new: SecretKey) -> Result<usize> {
        let old = self.master();
        let count = self.write(|w| {
            let mut keys = w.tx.open_table(TENANT_KEYS)?;
            let all: Vec<(String, u32, Vec<u8>)> = keys
                .iter()?
                .filter_map(|r| r.ok())
                .map(|(k, v)| (k.value().0.to_string(), k.value().1, v.value().to_vec()))
                .collect();
            for (tenant, version, wrapped) in &all {
                let a = aad("tenant_keys", tenant, "dek", *version);
                let plain = crypto::open(&old, &a, wrapped)
                    .map_err(|_| unseal_error(tenant, "tenant_keys", &format!("v{version}")))?;
                keys.insert(
                    (tenant.as_str(), *version),
                    crypto::seal(&new, *version, &a, &plain).as_slice(),
                )?;
            }
            let mut meta = w.tx.open_table(META)?;
            meta.insert(
                "canary",
                crypto::seal(&new, 0, &aad("meta", "", "canary", 0), CANARY).as_slice(),
            )?;
            Ok(all.len())
        })?;
        *self.master.write().unwrap_or_else(|e| e.into_inner()) = new;
        Ok(count)
    }
}

/// One read snapshot: sealed reads of any tenant's records.
pub(crate) struct ReadTx<'s> {
    store: &'s Store,
    tx: &'s kv::ReadTxn,
    keys: &'s kv::Table<'s, (&'static str, u32), &'static [u8]>,
}

impl ReadTx<'_> {
    fn open_value<T: DeserializeOwned>(
        &self,
        table: &'static str,
        tenant: &str,
        key: &str,
        sealed: &[u8],
    ) -> Result<T> {
        unseal_record(
            |v, source| self.store.dek(self.keys, tenant, v, source),
            table,
            tenant,
            key,
            sealed,
        )
    }
}

/// One write transaction: sealed reads and writes of a tenant's records.
pub(crate) struct WriteTx<'s> {
    store: &'s Store,
    tx: &'s kv::WriteTxn,
    new_deks: Vec<(String, u32, SecretKey, Vec<u8>)>,
    /// Each tenant's current committed key, found once per transaction (a query each time
    /// would be a round trip per sealed value in PostgreSQL).
    write_keys: Vec<(String, u32, SecretKey)>,
    /// Analytics counted in this transaction, by (tenant, day): written once, at commit.
    tallies: std::collections::BTreeMap<(String, u32), crate::model::DayStats>,
}

impl WriteTx<'_> {
    fn current_version(&self, tenant: &str) -> Result<Option<u32>> {
        Ok(self.current_row(tenant)?.map(|(v, _)| v))
    }

    /// The tenant's newest key row: its version and wrapped key.
    fn current_row(&self, tenant: &str) -> Result<Option<(u32, Vec<u8>)>> {
        let keys = self.tx.open_table(TENANT_KEYS)?;
        let last = keys
            .last_in((tenant, 0)..=(tenant, u32::MAX))?
            .map(|(k, v)| (k.value().1, v.value().to_vec()));
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
            .open_table(TENANT_KEYS)?
            .insert((tenant, version), wrapped.as_slice())?;
        self.new_deks
            .push((tenant.to_string(), version, key.clone(), wrapped));
        Ok(key)
    }

    /// The key new values of `tenant` are sealed with, created on the tenant's first write
    /// (with a first tenant record saying when).
    fn write_key(&mut self, tenant: &str) -> Result<(u32, SecretKey)> {
        if let Some((_, v, k, _)) = self.new_deks.iter().rev().find(|(t, ..)| t == tenant) {
            return Ok((*v, k.clone()));
        }
        if let Some((_, v, k)) = self.write_keys.iter().find(|(t, _, _)| t == tenant) {
            return Ok((*v, k.clone()));
        }
        // The key as the table holds it now (a cached key of the same version may be one
        // another replica has since replaced: sealing with it would write what no one
        // can open).
        if let Some((v, wrapped)) = self.current_row(tenant)? {
            let key = self.store.dek_of_row(tenant, v, &wrapped)?;
            self.write_keys.push((tenant.to_string(), v, key.clone()));
            return Ok((v, key));
        }
        let key = self.create_dek(tenant, 1)?;
        let now = jiff::Timestamp::now().to_string();
        let record = crypto::seal(
            &key,
            1,
            &aad("tenants", tenant, tenant, 1),
            &serde_json::to_vec(&serde_json::json!({"created_at": now})).unwrap_or_default(),
        );
        self.tx
            .open_table(TENANTS)?
            .insert(tenant, record.as_slice())?;
        Ok((1, key))
    }

    /// The data key of `tenant` at `version`: one created in this transaction, or a
    /// committed one (from the cache, or as `source` says).
    fn key_for(&self, tenant: &str, version: u32, source: Source) -> Result<Option<SecretKey>> {
        if let Some((_, _, k, _)) = self
            .new_deks
            .iter()
            .find(|(t, v, ..)| t == tenant && *v == version)
        {
            return Ok(Some(k.clone()));
        }
        let keys = self.tx.open_table(TENANT_KEYS)?;
        self.store.dek(&keys, tenant, version, source)
    }

    fn seal_json<T: serde::Serialize>(
        &mut self,
        table: &str,
        tenant: &str,
        key: &str,
        value: &T,
    ) -> Result<Vec<u8>> {
        self.seal(table, tenant, key, value, Encoding::Json)
    }

    /// A record sealed under the tenant's current data key, its plaintext encoded so.
    fn seal<T: serde::Serialize>(
        &mut self,
        table: &str,
        tenant: &str,
        key: &str,
        value: &T,
        encoding: Encoding,
    ) -> Result<Vec<u8>> {
        let (version, dek) = self.write_key(tenant)?;
        let plain = zeroize::Zeroizing::new(encode(value, encoding)?);
        Ok(crypto::seal(
            &dek,
            version,
            &aad(table, tenant, key, version),
            &plain,
        ))
    }

    fn open_sealed<T: DeserializeOwned>(
        &mut self,
        table: &'static str,
        tenant: &str,
        key: &str,
        sealed: &[u8],
    ) -> Result<T> {
        unseal_record(
            |v, source| self.key_for(tenant, v, source),
            table,
            tenant,
            key,
            sealed,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::{decode, encode, Encoding, PACKED};
    use crate::model::Contact;

    /// A contact with every field set, nested facts of every JSON kind included.
    fn contact() -> Contact {
        serde_json::from_value(serde_json::json!({
            "id": "lead-7", "version": 41,
            "facts": {"budget": 450000, "rate": 6.25, "pre_approved": true, "note": null,
                      "location": ["Plano", "Frisco"], "property": {"bedrooms": 3, "type": "house"},
                      "name": "José \"Pepe\" Núñez\n"},
            "tags": ["Hit List", "Hot-Lead"],
            "history": [
                {"from": "lead", "text": "We want to buy in Plano 🏡", "at": "2026-11-29T14:10:44.123Z"},
                {"from": "agent", "text": "Great! What's your budget?"}
            ],
            "last": {"score": 4, "class": "hot", "percent": 65, "answered": ["budget"],
                     "question": null, "at": "2026-11-29T14:10:45Z", "rules_version": "r-5a4aa6a2471cf82f"},
            "last_inbound_at": "2026-11-29T14:10:44Z",
            "followup": {"stage": 2, "last_sent_at": "2026-11-30T09:00:00Z", "due_ms": 1764500000000u64, "failures": 1},
            "opted_out": false, "undecided": true, "timezone": "America/Chicago",
            "journey": {"cohort_day": 20421, "first_at": "2026-11-29T14:10:44Z", "inbound": 2,
                        "warm_at": null, "hot_at": "2026-11-29T14:10:45Z", "asked": ["budget", 1]},
            "experiments": {"opener": {"variant": "short", "at": "2026-11-29T14:10:44Z"}},
            "created_at": "2026-11-29T14:10:44Z", "updated_at": "2026-11-29T14:11:00Z"
        }))
        .unwrap()
    }

    #[test]
    fn a_contact_reads_back_the_same_in_either_encoding() {
        let c = contact();
        for encoding in [Encoding::Json, Encoding::Packed] {
            let plain = encode(&c, encoding).unwrap();
            assert_eq!(decode::<Contact>(&plain).unwrap(), c);
        }
    }

    #[test]
    fn packed_records_are_marked_and_json_ones_still_read() {
        let c = contact();
        let packed = encode(&c, Encoding::Packed).unwrap();
        assert_eq!(packed[0], PACKED);
        assert!(serde_json::from_slice::<serde_json::Value>(&packed).is_err());
        // What every contact held before: plain JSON, read as it is.
        let json = serde_json::to_vec(&c).unwrap();
        assert_eq!(decode::<Contact>(&json).unwrap(), c);
        // A record cut short is an error, not a default.
        assert!(decode::<Contact>(&packed[..packed.len() / 2]).is_err());
    }
}
