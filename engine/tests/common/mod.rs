//! Helpers shared by the integration tests: a copy of the shipped rules in a temp folder
//! that a test may edit without touching the repository.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed
#![allow(dead_code)]

pub mod backend;

use std::path::{Path, PathBuf};

/// xorshift64*: a tiny deterministic generator for test data, the same on every machine.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// The repository's root folder (the workspace).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate sits in the workspace")
        .to_path_buf()
}

/// The repository's `rules/` folder.
pub fn shipped_rules() -> PathBuf {
    repo_root().join("rules")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A temporary copy of the shipped rules.
pub fn rules_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&shipped_rules(), dir.path());
    dir
}

/// Writes `text` to `path`, making sure the change is visible to mtime-based reloads
/// even on file systems with coarse timestamps (size changes too, or the mtime moves).
pub fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let before = std::fs::metadata(path).ok().and_then(|m| m.modified().ok());
    std::fs::write(path, text).unwrap();
    if let Some(before) = before {
        let f = std::fs::File::options().write(true).open(path).unwrap();
        let later = before + std::time::Duration::from_secs(2);
        f.set_modified(later.max(std::time::SystemTime::now()))
            .unwrap();
    }
}

/// A tenant id the test knows is valid.
pub fn tid(id: &str) -> qualify_engine::TenantId {
    qualify_engine::TenantId::new(id).unwrap()
}

/// A contact id the test knows is valid.
pub fn cid(id: &str) -> qualify_engine::ContactId {
    qualify_engine::ContactId::new(id).unwrap()
}

/// Ingests `message` for `contact` of `tenant`; it must succeed.
pub fn say(
    engine: &qualify_engine::Engine,
    tenant: &str,
    contact: &str,
    message: &qualify_engine::Inbound,
) -> qualify_engine::Ingested {
    engine.ingest(&tid(tenant), &cid(contact), message).unwrap()
}

/// The stored contact, which must exist.
pub fn stored(
    engine: &qualify_engine::Engine,
    tenant: &str,
    contact: &str,
) -> qualify_engine::model::Contact {
    engine
        .contacts()
        .get(&tid(tenant), &cid(contact))
        .unwrap()
        .unwrap()
}

/// True when a file can be read by others than its owner.
pub fn too_open(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o077 != 0
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}
