//! The store's two backends as test fixtures: one suite, run over each. `backend_tests!`
//! turns `fn name(b: &Backend)` into `name::redb` and `name::postgres` tests; the
//! PostgreSQL one runs in a scratch database and skips (loudly) without a server.

use qualify_engine::{Error, SecretKey, Store};
use qualify_testkit::ScratchDatabase;

pub enum Backend {
    Redb(tempfile::TempDir),
    Postgres(ScratchDatabase),
}

impl Backend {
    pub fn redb() -> Self {
        Backend::Redb(tempfile::tempdir().unwrap())
    }

    pub fn postgres() -> Option<Self> {
        ScratchDatabase::create().map(Backend::Postgres)
    }

    fn file(dir: &tempfile::TempDir) -> std::path::PathBuf {
        dir.path().join("q.redb")
    }

    /// Opens the store (again: the same file or database each time).
    pub fn try_open(&self, key: &SecretKey) -> Result<Store, Error> {
        match self {
            Backend::Redb(dir) => Store::open(Self::file(dir), key.clone()),
            Backend::Postgres(db) => Store::open_postgres(&db.url, key.clone()),
        }
    }

    pub fn open(&self, key: &SecretKey) -> Store {
        self.try_open(key).unwrap()
    }

    /// Every byte the backend holds: the file, or the database's dump.
    pub fn dump(&self) -> Vec<u8> {
        match self {
            Backend::Redb(dir) => std::fs::read(Self::file(dir)).unwrap(),
            Backend::Postgres(db) => db.dump(),
        }
    }

    /// A contact's stored (sealed) bytes, read past the store (white-box).
    pub fn raw_contact(&self, tenant: &str, id: &str) -> Vec<u8> {
        match self {
            Backend::Redb(dir) => {
                use redb::ReadableDatabase;
                let db = redb::Database::open(Self::file(dir)).unwrap();
                let tx = db.begin_read().unwrap();
                let t = tx.open_table(CONTACTS).unwrap();
                t.get((tenant, id)).unwrap().unwrap().value().to_vec()
            }
            Backend::Postgres(db) => {
                let mut c = client(&db.url);
                let row = c
                    .query_one(
                        "SELECT v FROM qualify.contacts WHERE k = $1",
                        &[&pg_key(&[tenant, id])],
                    )
                    .unwrap();
                row.get(0)
            }
        }
    }

    /// Overwrites a contact's stored bytes past the store (tampering, restoring a backup).
    pub fn put_raw_contact(&self, tenant: &str, id: &str, bytes: &[u8]) {
        match self {
            Backend::Redb(dir) => {
                let db = redb::Database::open(Self::file(dir)).unwrap();
                let tx = db.begin_write().unwrap();
                tx.open_table(CONTACTS)
                    .unwrap()
                    .insert((tenant, id), bytes)
                    .unwrap();
                tx.commit().unwrap();
            }
            Backend::Postgres(db) => {
                client(&db.url)
                    .execute(
                        "INSERT INTO qualify.contacts (k, v) VALUES ($1, $2) \
                         ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v",
                        &[&pg_key(&[tenant, id]), &bytes],
                    )
                    .unwrap();
            }
        }
    }
}

/// The contacts table as the redb store lays it out (white-box: failure-mode tests only).
const CONTACTS: redb::TableDefinition<(&str, &str), &[u8]> = redb::TableDefinition::new("contacts");

fn client(url: &str) -> qualify_testkit::postgres::Client {
    qualify_testkit::postgres::Client::connect(url, qualify_testkit::postgres::NoTls).unwrap()
}

/// A key of string parts as the PostgreSQL backend encodes it (each part, zero bytes
/// escaped, then `00 00`).
fn pg_key(parts: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        for &b in p.as_bytes() {
            out.push(b);
            if b == 0 {
                out.push(1);
            }
        }
        out.extend_from_slice(&[0, 0]);
    }
    out
}

/// `backend_tests!(a, b)`: tests `a::redb`, `a::postgres`, `b::redb`, … each calling
/// `fn a(b: &Backend)` with a fresh backend.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                use super::common::backend::Backend;

                #[test]
                fn redb() {
                    super::$name(&Backend::redb());
                }

                #[test]
                fn postgres() {
                    if let Some(b) = Backend::postgres() {
                        super::$name(&b);
                    }
                }
            }
        )+
    };
}
