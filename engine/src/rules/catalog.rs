//! The catalog of serving rule sets: one per tenant folder (the default tenant's from
//! `default/` or the embedded rules), recompiled when its files change. A tenant whose new
//! files fail keeps serving its previous version; one that never loaded says why.

use super::compile::compile;
use super::folder::{fingerprint, Folder};
use super::sandbox::{Limits, Sandbox};
use super::{RuleSet, DEFAULT_TENANT};
use crate::error::{Error, Result};
use crate::ids::TenantId;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

/// What a reload did.
#[derive(Debug, Default)]
pub struct ReloadReport {
    /// Tenants compiled and now serving their new version.
    pub reloaded: Vec<TenantId>,
    /// Compile or settings errors. A tenant that had a serving version keeps it.
    pub errors: Vec<Error>,
}

/// What the catalog holds for a tenant.
pub(crate) enum Lookup {
    /// Its serving rule set.
    Serving(Arc<RuleSet>),
    /// A folder whose rules never loaded, and why.
    Failed(String),
    /// No folder of that name.
    Unknown,
}

#[derive(Default)]
struct State {
    tenants: HashMap<TenantId, Arc<RuleSet>>,
    /// Tenants with no serving version, and why.
    failed: HashMap<TenantId, String>,
    fingerprints: HashMap<TenantId, u64>,
}

/// One compile's outcome for a tenant.
type Compiled = (TenantId, u64, Result<RuleSet, Vec<Error>>);

pub(crate) struct Catalog {
    sandbox: Arc<Sandbox>,
    rules_dir: Option<PathBuf>,
    state: RwLock<State>,
    /// One reload at a time: two would compile the same changes twice.
    reloading: Mutex<()>,
}

impl Catalog {
    /// A catalog over `rules_dir` (none: the embedded default rules). Nothing is compiled
    /// until the first [`Catalog::reload`].
    pub fn new(rules_dir: Option<PathBuf>, limits: Limits) -> Result<Self> {
        if let Some(dir) = rules_dir.as_ref().filter(|d| !d.is_dir()) {
            return Err(Error::Io {
                path: dir.clone(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "rules folder not found"),
            });
        }
        Ok(Self {
            sandbox: Arc::new(Sandbox::new(limits)),
            rules_dir,
            state: RwLock::new(State::default()),
            reloading: Mutex::new(()),
        })
    }

    pub fn limits(&self) -> Limits {
        self.sandbox.limits
    }

    pub fn dir(&self) -> Option<&Path> {
        self.rules_dir.as_deref()
    }

    fn read_state(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, id: &TenantId) -> Lookup {
        let state = self.read_state();
        if let Some(r) = state.tenants.get(id) {
            Lookup::Serving(r.clone())
        } else if let Some(why) = state.failed.get(id) {
            Lookup::Failed(why.clone())
        } else {
            Lookup::Unknown
        }
    }

    /// Tenants with a serving rule set, sorted.
    pub fn tenants(&self) -> Vec<TenantId> {
        let mut ids: Vec<TenantId> = self.read_state().tenants.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// The default folder (from the rules folder, else embedded) and its fingerprint.
    fn base_folder(&self) -> (Result<Folder>, u64) {
        let mut h = DefaultHasher::new();
        match &self.rules_dir {
            Some(dir) if dir.join(DEFAULT_TENANT).is_dir() => {
                let d = dir.join(DEFAULT_TENANT);
                fingerprint(&d, &mut h);
                (Folder::read(&d), h.finish())
            }
            _ => {
                "embedded".hash(&mut h);
                (Ok(Folder::embedded()), h.finish())
            }
        }
    }

    /// Tenant folders in the rules folder, the default first (valid ids only; others are
    /// reported).
    fn tenant_dirs(&self, errors: &mut Vec<Error>) -> Vec<(TenantId, Option<PathBuf>)> {
        let mut out = vec![(TenantId::default(), None)];
        let Some(Ok(rd)) = self.rules_dir.as_ref().map(std::fs::read_dir) else {
            return out;
        };
        let mut dirs: Vec<PathBuf> = rd
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        dirs.sort();
        for path in dirs {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if name == DEFAULT_TENANT || name.starts_with('.') {
                continue;
            }
            match TenantId::new(&name) {
                Ok(id) => out.push((id, Some(path))),
                Err(e) => errors.push(e),
            }
        }
        out
    }

    /// Compiles one tenant from the base and its own folder.
    fn compile_one(
        &self,
        id: &TenantId,
        base: &Folder,
        dir: Option<&Path>,
    ) -> Result<RuleSet, Vec<Error>> {
        let own = dir.map(Folder::read).transpose().map_err(|e| vec![e])?;
        compile(&self.sandbox, id, base, own.as_ref())
    }

    /// Recompiles every tenant whose files changed since the last load (all with `force`;
    /// a change to the default folder recompiles all).
    pub fn reload(&self, force: bool) -> ReloadReport {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        let mut report = ReloadReport::default();
        let (base, base_fp) = self.base_folder();
        let base = match base {
            Ok(b) => b,
            Err(e) => {
                report.errors.push(e);
                return report;
            }
        };
        let dirs = self.tenant_dirs(&mut report.errors);
        let known = self.read_state().fingerprints.clone();
        let mut updates: Vec<Compiled> = Vec::new();
        for (id, dir) in &dirs {
            let mut h = DefaultHasher::new();
            base_fp.hash(&mut h);
            if let Some(d) = dir {
                fingerprint(d, &mut h);
            }
            let fp = h.finish();
            if force || known.get(id) != Some(&fp) {
                updates.push((id.clone(), fp, self.compile_one(id, &base, dir.as_deref())));
            }
        }
        self.install(&dirs, updates, &mut report);
        report
    }

    /// Swaps the new versions in; forgets tenants whose folder is gone.
    fn install(
        &self,
        dirs: &[(TenantId, Option<PathBuf>)],
        updates: Vec<Compiled>,
        report: &mut ReloadReport,
    ) {
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        let present = |id: &TenantId| dirs.iter().any(|(d, _)| d == id);
        state.tenants.retain(|id, _| present(id));
        state.failed.retain(|id, _| present(id));
        state.fingerprints.retain(|id, _| present(id));
        for (id, fp, result) in updates {
            state.fingerprints.insert(id.clone(), fp);
            match result {
                Ok(rules) => {
                    state.tenants.insert(id.clone(), Arc::new(rules));
                    state.failed.remove(&id);
                    report.reloaded.push(id);
                }
                Err(errors) => {
                    let kept = state.tenants.contains_key(&id);
                    for e in &errors {
                        tracing::warn!(tenant = %id, kept_previous = kept, "rules failed to load: {e}");
                    }
                    if !kept {
                        let why = errors
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join("; ");
                        state.failed.insert(id, why);
                    }
                    report.errors.extend(errors);
                }
            }
        }
    }

    /// Compiles every tenant from scratch, serving nothing: what `check` validates. One
    /// entry per tenant folder, in order, after any error reading the folders.
    pub fn compile_all(&self) -> Vec<Result<RuleSet, Vec<Error>>> {
        let mut errors = Vec::new();
        let base = match self.base_folder().0 {
            Ok(b) => b,
            Err(e) => return vec![Err(vec![e])],
        };
        let dirs = self.tenant_dirs(&mut errors);
        let mut out: Vec<_> = errors.into_iter().map(|e| Err(vec![e])).collect();
        for (id, dir) in dirs {
            out.push(self.compile_one(&id, &base, dir.as_deref()));
        }
        out
    }
}
