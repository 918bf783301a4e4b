//! Fixtures the integration tests of `engine/` and `host/` share: a scratch PostgreSQL
//! database per test, under the server `.ci/pg start` runs (its URL in
//! `QUALIFY_TEST_DATABASE_URL`). Without that server a PostgreSQL test skips, saying so
//! on stderr, except under `CI=true`, where it fails: CI must never pass by skipping.

use std::sync::atomic::{AtomicU32, Ordering};

/// The server's admin URL, or `None` (after saying why) when the tests should skip.
///
/// # Panics
/// When `CI=true` and no server is configured.
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var("QUALIFY_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but QUALIFY_TEST_DATABASE_URL is not set: .ci/run starts a \
                 PostgreSQL server for the tests (.ci/pg start)"
            );
            eprintln!(
                "SKIPPED: no PostgreSQL server for this test (run `eval \"$(.ci/pg start)\"` \
                 to start one; CI=true makes this a failure)"
            );
            None
        }
    }
}

/// Runs `f` on a thread of its own: the synchronous `postgres` client may not run on a
/// thread that drives an async runtime (as in a `#[tokio::test]`).
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| s.spawn(f).join().expect("the fixture's thread"))
}

/// A database of its own for one test, dropped (with its connections) when this is.
pub struct ScratchDatabase {
    /// The database's URL.
    pub url: String,
    admin: String,
    name: String,
}

impl ScratchDatabase {
    /// A new empty database, or `None` when there is no server (see
    /// [`postgres_admin_url`]).
    ///
    /// # Panics
    /// When the server refuses to create it.
    pub fn create() -> Option<Self> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let admin = postgres_admin_url()?;
        let name = format!(
            "qualify_test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        off_runtime(|| {
            let mut client = postgres::Client::connect(&admin, postgres::NoTls)
                .unwrap_or_else(|e| panic!("connecting to {admin}: {e}"));
            // Two statements: CREATE DATABASE may not run inside a (multi-statement) block.
            for sql in [
                format!("DROP DATABASE IF EXISTS {name}"),
                format!("CREATE DATABASE {name}"),
            ] {
                client
                    .batch_execute(&sql)
                    .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
            }
        });
        // postgres://user@host:port/database: the same server, another database.
        let base = admin
            .rsplit_once('/')
            .filter(|(base, _)| !base.ends_with('/'))
            .map(|(base, _)| base)
            .unwrap_or_else(|| {
                panic!("QUALIFY_TEST_DATABASE_URL must end with /database: {admin}")
            });
        let url = format!("{base}/{name}");
        Some(ScratchDatabase { url, admin, name })
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        off_runtime(|| {
            if let Ok(mut client) = postgres::Client::connect(&self.admin, postgres::NoTls) {
                let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
                let _ = client.batch_execute(&sql);
            }
        });
    }
}

/// The client the fixtures use, for tests that read or change rows directly.
pub use postgres;

/// `pg_dump`: on the PATH, or in Debian's versioned folder.
pub fn pg_dump() -> Option<std::path::PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("pg_dump"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        let mut found: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("bin/pg_dump"))
            .filter(|p| p.is_file())
            .collect();
        found.sort();
        found.pop()
    })
}

impl ScratchDatabase {
    /// The database's data as `pg_dump --data-only` prints it (bytea as hex).
    ///
    /// # Panics
    /// When `pg_dump` is missing or fails.
    pub fn dump(&self) -> Vec<u8> {
        let pg_dump = pg_dump().expect("pg_dump (Debian's postgresql-client) is installed");
        let out = std::process::Command::new(pg_dump)
            .args(["--data-only", "--no-owner", "--dbname", &self.url])
            .output()
            .expect("pg_dump runs");
        assert!(
            out.status.success(),
            "pg_dump failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }
}
