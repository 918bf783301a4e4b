//! The PostgreSQL backend: a pool of connections (`r2d2`), the schema's migrations
//! (`refinery`, under an advisory lock so replicas starting together do not race), and one
//! transaction's SQL for `kv`'s tables.
//!
//! Writes from every replica are serialised the way redb serialises them in one process:
//! each write transaction first takes one transaction-scoped advisory lock, so a group
//! commit's version checks, an outbox claim and a follow-up's due-index claim see every
//! earlier commit of every replica, and no two write transactions can deadlock. Decisions
//! are made before the lock (the prepare phase), so the lock covers only the rows a batch
//! writes. Reads are `REPEATABLE READ READ ONLY` snapshots and never wait for writers.
//!
//! The client is the synchronous `postgres` crate: the store is synchronous (the host
//! already calls it on its blocking pool), so an async client would need a runtime inside
//! the engine for nothing. TLS (rustls, webpki roots) when the URL says `sslmode=require`.

use crate::error::{Error, Result};
use postgres::types::ToSql;
use postgres::{Client, Statement};
use std::collections::HashMap;
use std::ops::Bound;
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// The advisory lock every write transaction takes (any constant; "qualify" in ASCII).
const WRITE_LOCK: i64 = 0x0071_7561_6c69_6679;
/// The advisory lock migrations run under.
const MIGRATE_LOCK: i64 = WRITE_LOCK + 1;

fn pg(e: postgres::Error) -> Error {
    match e.as_db_error() {
        Some(d) => Error::Store(format!(
            "postgres: {} ({}){}",
            d.message(),
            d.code().code(),
            d.detail().map(|s| format!(": {s}")).unwrap_or_default()
        )),
        None => Error::Store(format!("postgres: {e}")),
    }
}

/// A connection and the statements prepared on it.
pub(super) struct Conn {
    client: Client,
    statements: HashMap<String, Statement>,
}

impl Conn {
    fn statement(&mut self, sql: &str) -> Result<Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql).map_err(pg)?;
        self.statements.insert(sql.to_string(), s.clone());
        Ok(s)
    }

    fn query(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<postgres::Row>> {
        let s = self.statement(sql)?;
        self.client.query(&s, params).map_err(pg)
    }

    fn execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64> {
        let s = self.statement(sql)?;
        self.client.execute(&s, params).map_err(pg)
    }
}

enum Tls {
    Off,
    Rustls(tokio_postgres_rustls::MakeRustlsConnect),
}

/// Opens connections for the pool.
pub(super) struct Manager {
    config: postgres::Config,
    tls: Tls,
}

impl Manager {
    fn connect(&self) -> std::result::Result<Client, postgres::Error> {
        match &self.tls {
            Tls::Off => self.config.connect(postgres::NoTls),
            Tls::Rustls(tls) => self.config.connect(tls.clone()),
        }
    }
}

impl r2d2::ManageConnection for Manager {
    type Connection = Conn;
    type Error = postgres::Error;

    fn connect(&self) -> std::result::Result<Conn, postgres::Error> {
        Ok(Conn {
            client: Manager::connect(self)?,
            statements: HashMap::new(),
        })
    }

    fn is_valid(&self, conn: &mut Conn) -> std::result::Result<(), postgres::Error> {
        conn.client.simple_query("").map(|_| ())
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.client.is_closed()
    }
}

/// A pool of connections to one PostgreSQL database.
#[derive(Clone)]
pub(super) struct Pool {
    pool: r2d2::Pool<Manager>,
    /// The URL without its password, for messages.
    pub shown: String,
    read_only: bool,
}

/// The URL with any password replaced, safe to print.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &creds[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

fn tls_config() -> Result<tokio_postgres_rustls::MakeRustlsConnect> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| Error::Store(format!("TLS: {e}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

impl Pool {
    /// Connects to `url` (`postgres://user:password@host:port/database`), holding at most
    /// `size` connections.
    pub fn connect(url: &str, size: u32) -> Result<Self> {
        let shown = redact_url(url);
        let config: postgres::Config = url
            .parse()
            .map_err(|e| Error::Store(format!("{shown}: not a PostgreSQL URL: {e}")))?;
        let tls = match config.get_ssl_mode() {
            postgres::config::SslMode::Require => Tls::Rustls(tls_config()?),
            _ => Tls::Off,
        };
        let manager = Manager { config, tls };
        // One connection first, so a wrong address, password or TLS setting is reported
        // at once and with its cause (the pool would retry for its whole timeout).
        if let Err(e) = Manager::connect(&manager) {
            let mut why = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                why = format!("{why}: {cause}");
                source = cause.source();
            }
            return Err(Error::Store(format!("{shown}: {why}")));
        }
        let pool = r2d2::Pool::builder()
            .max_size(size.max(2))
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(10))
            .build(manager)
            .map_err(|e| Error::Store(format!("{shown}: {e}")))?;
        Ok(Pool {
            pool,
            shown,
            read_only: false,
        })
    }

    /// This pool refusing write transactions.
    pub fn read_only(self) -> Self {
        Pool {
            read_only: true,
            ..self
        }
    }

    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    fn get(&self) -> Result<r2d2::PooledConnection<Manager>> {
        self.pool
            .get()
            .map_err(|e| Error::Store(format!("{}: {e}", self.shown)))
    }

    /// Brings the schema up to date, one replica at a time. Returns the migrations run.
    pub fn migrate(&self) -> Result<Vec<String>> {
        let mut conn = self.get()?;
        let client = &mut conn.client;
        client
            .execute("SELECT pg_advisory_lock($1)", &[&MIGRATE_LOCK])
            .map_err(pg)?;
        let report = embedded::migrations::runner().run(client);
        let unlocked = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATE_LOCK]);
        let report = report.map_err(|e| Error::Store(format!("{}: migration: {e}", self.shown)))?;
        unlocked.map_err(pg)?;
        Ok(report
            .applied_migrations()
            .iter()
            .map(|m| m.to_string())
            .collect())
    }

    /// A read snapshot.
    pub fn begin_read(&self) -> Result<PgTx> {
        let mut conn = self.get()?;
        conn.client
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .map_err(pg)?;
        Ok(PgTx::new(conn))
    }

    /// A write transaction, holding the deployment's write lock until it ends.
    pub fn begin_write(&self) -> Result<PgTx> {
        let mut conn = self.get()?;
        conn.client
            .batch_execute(&format!(
                "BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})"
            ))
            .map_err(pg)?;
        Ok(PgTx::new(conn))
    }
}

/// One open transaction on one pooled connection. Dropped without `commit`, it rolls back.
pub(crate) struct PgTx {
    conn: Mutex<Option<r2d2::PooledConnection<Manager>>>,
    /// Set when a statement failed: PostgreSQL has then aborted the transaction (until a
    /// rollback to a savepoint), and a COMMIT would quietly roll it back, so `commit`
    /// refuses instead.
    failed: std::sync::atomic::AtomicBool,
}

/// The SQL conditions for a key range, and its parameters.
fn bounds<'p>(
    from: &'p Bound<Vec<u8>>,
    to: &'p Bound<Vec<u8>>,
) -> (String, Vec<&'p (dyn ToSql + Sync)>) {
    let mut conds = Vec::new();
    let mut params: Vec<&(dyn ToSql + Sync)> = Vec::new();
    for (bound, incl, excl) in [(from, ">=", ">"), (to, "<=", "<")] {
        let (op, key) = match bound {
            Bound::Included(k) => (incl, k),
            Bound::Excluded(k) => (excl, k),
            Bound::Unbounded => continue,
        };
        params.push(key);
        conds.push(format!("k {op} ${}", params.len()));
    }
    let sql = if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    };
    (sql, params)
}

impl PgTx {
    fn new(conn: r2d2::PooledConnection<Manager>) -> Self {
        PgTx {
            conn: Mutex::new(Some(conn)),
            failed: Default::default(),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Conn) -> Result<T>) -> Result<T> {
        let mut guard = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let conn = guard
            .as_mut()
            .ok_or_else(|| Error::Store("postgres: the transaction has ended".into()))?;
        let out = f(conn);
        if out.is_err() {
            self.failed
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        out
    }

    fn end(&self, sql: &str) -> Result<()> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner()).take();
        match conn {
            Some(mut c) => c.client.batch_execute(sql).map_err(pg),
            None => Ok(()),
        }
    }

    pub fn commit(self) -> Result<()> {
        if self.failed.load(std::sync::atomic::Ordering::Relaxed) {
            self.end("ROLLBACK")?;
            return Err(Error::Store(
                "postgres: a statement failed, so the transaction was rolled back".into(),
            ));
        }
        self.end("COMMIT")
    }

    /// Marks a point the transaction can return to ([`PgTx::rollback_to`]).
    pub fn savepoint(&self) -> Result<()> {
        self.with(|c| c.client.batch_execute("SAVEPOINT change").map_err(pg))
    }

    /// Forgets the last savepoint, keeping what was written since.
    pub fn release(&self) -> Result<()> {
        self.with(|c| {
            c.client
                .batch_execute("RELEASE SAVEPOINT change")
                .map_err(pg)
        })
    }

    /// Undoes everything since the last savepoint (and a failed statement's abort).
    pub fn rollback_to(&self) -> Result<()> {
        self.with(|c| {
            c.client
                .batch_execute("ROLLBACK TO SAVEPOINT change; RELEASE SAVEPOINT change")
                .map_err(pg)
        })?;
        self.failed
            .store(false, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    pub fn rollback(self) -> Result<()> {
        self.end("ROLLBACK")
    }

    pub fn get(&self, table: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let sql = format!("SELECT v FROM qualify.{table} WHERE k = $1");
        let rows = self.with(|c| c.query(&sql, &[&key]))?;
        Ok(rows.first().map(|r| r.get(0)))
    }

    pub fn put(&self, table: &str, key: &[u8], value: &[u8]) -> Result<()> {
        let sql = format!(
            "INSERT INTO qualify.{table} (k, v) VALUES ($1, $2) \
             ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v"
        );
        self.with(|c| c.execute(&sql, &[&key, &value]).map(|_| ()))
    }

    pub fn delete(&self, table: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let sql = format!("DELETE FROM qualify.{table} WHERE k = $1 RETURNING v");
        let rows = self.with(|c| c.query(&sql, &[&key]))?;
        Ok(rows.first().map(|r| r.get(0)))
    }

    pub fn delete_many(&self, table: &str, keys: &[Vec<u8>]) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let sql = format!("DELETE FROM qualify.{table} WHERE k = ANY($1)");
        self.with(|c| c.execute(&sql, &[&keys]).map(|_| ()))
    }

    pub fn delete_range(
        &self,
        table: &str,
        from: &Bound<Vec<u8>>,
        to: &Bound<Vec<u8>>,
    ) -> Result<()> {
        let (cond, params) = bounds(from, to);
        let sql = format!("DELETE FROM qualify.{table}{cond}");
        self.with(|c| c.execute(&sql, &params).map(|_| ()))
    }

    /// Up to `limit` rows of a range, in key order.
    pub fn page(
        &self,
        table: &str,
        from: &Bound<Vec<u8>>,
        to: &Bound<Vec<u8>>,
        limit: i64,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let (cond, params) = bounds(from, to);
        let sql = format!("SELECT k, v FROM qualify.{table}{cond} ORDER BY k LIMIT {limit}");
        let rows = self.with(|c| c.query(&sql, &params))?;
        Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// The last row of a range.
    pub fn last(
        &self,
        table: &str,
        from: &Bound<Vec<u8>>,
        to: &Bound<Vec<u8>>,
    ) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        let (cond, params) = bounds(from, to);
        let sql = format!("SELECT k, v FROM qualify.{table}{cond} ORDER BY k DESC LIMIT 1");
        let rows = self.with(|c| c.query(&sql, &params))?;
        Ok(rows.first().map(|r| (r.get(0), r.get(1))))
    }

    pub fn count(&self, table: &str) -> Result<u64> {
        let sql = format!("SELECT count(*) FROM qualify.{table}");
        let rows = self.with(|c| c.query(&sql, &[]))?;
        Ok(rows.first().map(|r| r.get::<_, i64>(0)).unwrap_or(0) as u64)
    }
}

impl Drop for PgTx {
    fn drop(&mut self) {
        let conn = self
            .conn
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(mut c) = conn {
            // A rollback fails only when the connection is gone, and then the pool drops
            // it (`has_broken`).
            let _ = c.client.batch_execute("ROLLBACK");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn pool() -> Option<(qualify_testkit::ScratchDatabase, Pool)> {
        let db = qualify_testkit::ScratchDatabase::create()?;
        let pool = Pool::connect(&db.url, 2).unwrap();
        pool.migrate().unwrap();
        Some((db, pool))
    }

    fn rows(pool: &Pool) -> u64 {
        pool.begin_read().unwrap().count("meta").unwrap()
    }

    /// A failed statement aborts a PostgreSQL transaction, after which COMMIT quietly
    /// rolls back: commit must say so instead of reporting success.
    #[test]
    fn a_transaction_with_a_failed_statement_does_not_report_a_commit() {
        let Some((_db, pool)) = pool() else { return };
        let tx = pool.begin_write().unwrap();
        tx.put("meta", b"a", b"1").unwrap();
        assert!(tx.put("no_such_table", b"b", b"2").is_err());
        assert!(tx.commit().is_err());
        assert_eq!(rows(&pool), 0, "nothing was written");
    }

    /// What a savepoint undoes is only the failed part: the rest commits.
    #[test]
    fn a_failure_rolled_back_to_its_savepoint_leaves_the_rest_to_commit() {
        let Some((_db, pool)) = pool() else { return };
        let tx = pool.begin_write().unwrap();
        tx.put("meta", b"a", b"1").unwrap();
        tx.savepoint().unwrap();
        tx.put("meta", b"b", b"2").unwrap();
        assert!(tx.put("no_such_table", b"c", b"3").is_err());
        tx.rollback_to().unwrap();
        tx.savepoint().unwrap();
        tx.put("meta", b"d", b"4").unwrap();
        tx.release().unwrap();
        tx.commit().unwrap();
        let read = pool.begin_read().unwrap();
        assert_eq!(read.get("meta", b"a").unwrap(), Some(b"1".to_vec()));
        assert_eq!(
            read.get("meta", b"b").unwrap(),
            None,
            "written after the savepoint: undone"
        );
        assert_eq!(read.get("meta", b"d").unwrap(), Some(b"4".to_vec()));
    }
}
