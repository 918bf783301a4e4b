//! The catalog of serving rule sets: one per tenant folder (the default tenant's from
//! `default/` or the embedded rules). A tenant is compiled on first use, and recompiled
//! when its files (or the default's) change; its scripts' compiled forms are shared with
//! every tenant whose files are the same, so ten thousand folders that each change one
//! setting cost one compile of the scripts. A tenant whose new files fail keeps serving
//! its previous version; one that never loaded says why. A tenant folder's `candidate/`
//! sub-folder is compiled with it (laid over it) for shadow mode; a candidate that fails
//! leaves the serving version untouched.

use super::compile::{compile, ScriptCache};
use super::folder::{fingerprint, Folder};
use super::sandbox::{Limits, Sandbox};
use super::{Candidate, RuleSet, DEFAULT_TENANT};
use crate::error::{Error, Result};
use crate::ids::TenantId;
use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

/// The sub-folder of a tenant folder that holds its candidate version (shadow mode).
pub const CANDIDATE_DIR: &str = "candidate";

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

/// One tenant folder as the catalog knows it.
#[derive(Default)]
struct Entry {
    /// Its folder (`None`: the default tenant, whose folder is the base).
    dir: Option<PathBuf>,
    /// The serving version, once compiled.
    serving: Option<Arc<RuleSet>>,
    /// Why it never loaded, if it did not.
    failed: Option<String>,
    /// The files' fingerprint (with the base's) when last compiled.
    fingerprint: Option<u64>,
}

impl Entry {
    fn loaded(&self) -> bool {
        self.serving.is_some() || self.failed.is_some()
    }
}

/// One compile's outcome for a tenant.
type Compiled = (TenantId, u64, Result<RuleSet, Vec<Error>>);

pub(crate) struct Catalog {
    sandbox: Arc<Sandbox>,
    rules_dir: Option<PathBuf>,
    tenants: RwLock<BTreeMap<TenantId, Entry>>,
    /// The default folder as last read, and its fingerprint.
    base: RwLock<Option<(Arc<Folder>, u64)>>,
    /// One compile at a time: two would compile the same changes twice.
    compiling: Mutex<()>,
    scripts: ScriptCache,
    compiles: AtomicU64,
    /// Tenants found to have no folder of their own, and when: a registered tenant
    /// decided by the default rules is not looked for on disk again (a `stat` per
    /// decision) until [`NO_FOLDER_RECHECK`] has passed or a reload lists the folders.
    no_folder: RwLock<HashMap<TenantId, Instant>>,
}

/// How long "this tenant has no folder" is believed before the disk is asked again: a
/// folder created meanwhile serves after at most this long (or at the next reload, which
/// a server runs every tick).
const NO_FOLDER_RECHECK: Duration = Duration::from_secs(1);
/// Tenants remembered without a folder at most (past it the memory starts over).
const NO_FOLDER_MAX: usize = 16_384;

impl Catalog {
    /// A catalog over `rules_dir` (none: the embedded default rules). Nothing is compiled
    /// until the first [`Catalog::reload`].
    pub fn new(rules_dir: Option<PathBuf>, limits: Limits, lowering: bool) -> Result<Self> {
        if let Some(dir) = rules_dir.as_ref().filter(|d| !d.is_dir()) {
            return Err(Error::Io {
                path: dir.clone(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "rules folder not found"),
            });
        }
        Ok(Self {
            sandbox: Arc::new(Sandbox::new(limits, lowering)),
            rules_dir,
            tenants: RwLock::new(BTreeMap::new()),
            base: RwLock::new(None),
            compiling: Mutex::new(()),
            scripts: ScriptCache::default(),
            compiles: AtomicU64::new(0),
            no_folder: RwLock::new(HashMap::new()),
        })
    }

    pub fn limits(&self) -> Limits {
        self.sandbox.limits
    }

    pub fn dir(&self) -> Option<&Path> {
        self.rules_dir.as_deref()
    }

    /// Rule sets compiled so far (a tenant compiled twice counts twice).
    pub fn compiles(&self) -> u64 {
        self.compiles.load(Ordering::Relaxed)
    }

    fn read(&self) -> RwLockReadGuard<'_, BTreeMap<TenantId, Entry>> {
        self.tenants.read().unwrap_or_else(|e| e.into_inner())
    }

    /// A tenant's rule set, compiled now if this is its first use.
    pub fn get(&self, id: &TenantId) -> Lookup {
        if let Some(found) = self.lookup(id) {
            return found;
        }
        // Not loaded yet: a folder known from the last listing, or one created since.
        let listed = self.read().get(id).and_then(|e| e.dir.clone());
        // (The catalog's lock is released before the disk is looked at.)
        let dir = listed.or_else(|| self.new_folder(id));
        let Some(dir) = dir else {
            return Lookup::Unknown;
        };
        let _one_at_a_time = self.compiling.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(found) = self.lookup(id) {
            return found; // compiled by another thread meanwhile
        }
        let mut report = ReloadReport::default();
        match self.base(&mut report) {
            Some((base, base_fp)) => {
                let fp = tenant_fingerprint(base_fp, Some(&dir), None);
                let result = self.compile_one(id, &base, Some(&dir), true);
                self.install(vec![(id.clone(), fp, result)], &mut report);
                self.tenants
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(id.clone())
                    .or_default()
                    .dir = Some(dir);
            }
            None => return Lookup::Failed(join(&report.errors)),
        }
        self.lookup(id).unwrap_or(Lookup::Unknown)
    }

    /// The tenant's folder when one was created since the last listing; a tenant found
    /// without one is not looked for again for [`NO_FOLDER_RECHECK`].
    fn new_folder(&self, id: &TenantId) -> Option<PathBuf> {
        let rules_dir = self.rules_dir.as_ref()?;
        if id.is_default() {
            return None;
        }
        let no_folder = |m: &HashMap<TenantId, Instant>| {
            m.get(id).is_some_and(|at| at.elapsed() < NO_FOLDER_RECHECK)
        };
        if no_folder(&self.no_folder.read().unwrap_or_else(|e| e.into_inner())) {
            return None;
        }
        let dir = rules_dir.join(id.as_str());
        let found = dir.is_dir();
        let mut known = self.no_folder.write().unwrap_or_else(|e| e.into_inner());
        if found {
            known.remove(id);
            return Some(dir);
        }
        if known.len() >= NO_FOLDER_MAX {
            known.clear();
        }
        known.insert(id.clone(), Instant::now());
        None
    }

    fn lookup(&self, id: &TenantId) -> Option<Lookup> {
        let tenants = self.read();
        let entry = tenants.get(id)?;
        match (&entry.serving, &entry.failed) {
            (Some(r), _) => Some(Lookup::Serving(r.clone())),
            (None, Some(why)) => Some(Lookup::Failed(why.clone())),
            (None, None) => None,
        }
    }

    /// Tenants with a serving rule set or a folder not loaded yet, sorted (a tenant that
    /// failed to load is not among them).
    pub fn tenants(&self) -> Vec<TenantId> {
        self.read()
            .iter()
            .filter(|(_, e)| e.serving.is_some() || !e.loaded())
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// The default folder (from the rules folder, else embedded) and its fingerprint,
    /// read again only when its fingerprint changed.
    fn base(&self, report: &mut ReloadReport) -> Option<(Arc<Folder>, u64)> {
        let mut h = DefaultHasher::new();
        let dir = self
            .rules_dir
            .as_ref()
            .map(|d| d.join(DEFAULT_TENANT))
            .filter(|d| d.is_dir());
        match &dir {
            Some(d) => fingerprint(d, &mut h),
            None => "embedded".hash(&mut h),
        }
        let fp = h.finish();
        if let Some((folder, known)) = &*self.base.read().unwrap_or_else(|e| e.into_inner()) {
            if *known == fp {
                return Some((folder.clone(), fp));
            }
        }
        let folder = match &dir {
            Some(d) => Folder::read(d),
            None => Ok(Folder::embedded()),
        };
        match folder {
            Ok(f) => {
                let f = Arc::new(f);
                *self.base.write().unwrap_or_else(|e| e.into_inner()) = Some((f.clone(), fp));
                Some((f, fp))
            }
            Err(e) => {
                report.errors.push(e);
                None
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
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
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

    /// Compiles one tenant from the base and its own folder; `with_candidate`: and its
    /// `candidate/` sub-folder, if any, laid over them ([`RuleSet::candidate`]).
    fn compile_one(
        &self,
        id: &TenantId,
        base: &Folder,
        dir: Option<&Path>,
        with_candidate: bool,
    ) -> Result<RuleSet, Vec<Error>> {
        self.compiles.fetch_add(1, Ordering::Relaxed);
        let own = dir.map(Folder::read).transpose().map_err(|e| vec![e])?;
        let layers: Vec<&Folder> = own.iter().collect();
        let mut rules = compile(&self.sandbox, &self.scripts, id, base, &layers)?;
        if let Some(candidate) = self.candidate_dir(id, dir).filter(|_| with_candidate) {
            let compiled = self.compile_over(id, base, own.as_ref(), &candidate);
            rules.candidate = Some(match compiled {
                Ok(c) => Candidate::Ready(Arc::new(c)),
                Err(errors) => {
                    for e in &errors {
                        tracing::warn!(tenant = %id, "the candidate rules failed to load (not shadowed): {e}");
                    }
                    Candidate::Failed(join(&errors).into())
                }
            });
        }
        Ok(rules)
    }

    /// The `candidate/` sub-folder of tenant `id`'s folder (`dir`; the default tenant's
    /// is `default/` in the rules folder), when there is one.
    fn candidate_dir(&self, id: &TenantId, dir: Option<&Path>) -> Option<PathBuf> {
        let own = match dir {
            Some(d) => d.to_owned(),
            None if id.is_default() => self.rules_dir.as_ref()?.join(DEFAULT_TENANT),
            None => return None,
        };
        Some(own.join(CANDIDATE_DIR)).filter(|c| c.is_dir())
    }

    /// Compiles the folder `candidate` laid over the tenant's own folder and the base;
    /// its files are named `<tenant>/candidate/<file>` in messages.
    fn compile_over(
        &self,
        id: &TenantId,
        base: &Folder,
        own: Option<&Folder>,
        candidate: &Path,
    ) -> Result<RuleSet, Vec<Error>> {
        let label = Path::new(id.as_str()).join(CANDIDATE_DIR);
        let candidate = Folder::read_as(candidate, label).map_err(|e| vec![e])?;
        self.compiles.fetch_add(1, Ordering::Relaxed);
        let layers: Vec<&Folder> = own.into_iter().chain([&candidate]).collect();
        // Compiled apart from the serving version, not from the shared cache: a compiled
        // function's body and string constants are reference-counted, and a shadow thread
        // running the same ones as a request thread makes both write the same cache lines
        // on every call (measured: shadowing cost the request 26 % with them shared, 14 %
        // apart; BENCHMARKS.md).
        compile(&self.sandbox, &ScriptCache::default(), id, base, &layers)
    }

    /// Tenant `id`'s own rules folder, read; `None` for the default tenant or a tenant
    /// without a folder (it runs the default rules).
    fn own_folder(&self, id: &TenantId) -> Result<Option<Folder>, Vec<Error>> {
        self.own_dir(id)
            .map(|d| Folder::read(&d))
            .transpose()
            .map_err(|e| vec![e])
    }

    /// Compiles tenant `id` (with `candidate`: its `candidate/` laid over it) with its
    /// scripts instrumented for coverage, in a sandbox of its own (see `coverage`);
    /// serves nothing. The rule set, and each script's map in merge order; `None` when a
    /// candidate is asked for and the tenant has none.
    pub fn compile_instrumented(
        &self,
        id: &TenantId,
        candidate: bool,
    ) -> Result<Option<(RuleSet, Vec<super::coverage::FileMap>)>, Vec<Error>> {
        use super::coverage::instrument_folder;
        let mut report = ReloadReport::default();
        let Some((base, _)) = self.base(&mut report) else {
            return Err(report.errors);
        };
        let mut layers: Vec<Folder> = self.own_folder(id)?.into_iter().collect();
        if candidate {
            let dir = self.own_dir(id);
            let Some(c) = self.candidate_dir(id, dir.as_deref()) else {
                return Ok(None);
            };
            let label = Path::new(id.as_str()).join(CANDIDATE_DIR);
            layers.push(Folder::read_as(&c, label).map_err(|e| vec![e])?);
        }
        let rhai = &self.sandbox.rhai;
        let parse = |src: &super::folder::Source| rhai.compile(&src.text).ok();
        let mut next = 0;
        let (base_i, mut maps) = instrument_folder(&base, &mut next, &parse);
        let mut instrumented = Vec::new();
        for layer in &layers {
            let (folder, layer_maps) = instrument_folder(layer, &mut next, &parse);
            // Merge order: inherited files not overridden, then the layer's.
            maps.retain(|m| !folder.scripts.keys().any(|n| m.is_named(n)));
            maps.extend(layer_maps);
            instrumented.push(folder);
        }
        let sandbox = Arc::new(Sandbox::with_coverage(self.sandbox.limits));
        let cache = ScriptCache::default();
        let refs: Vec<&Folder> = instrumented.iter().collect();
        let rules = compile(&sandbox, &cache, id, &base_i, &refs)?;
        Ok(Some((rules, maps)))
    }

    /// Compiles tenant `id`'s own `candidate/` again, serving nothing (its errors, one by
    /// one, at their `file:line:column`); `None` when it has none.
    pub fn compile_own_candidate(&self, id: &TenantId) -> Option<Result<RuleSet, Vec<Error>>> {
        let dir = self.own_dir(id);
        let candidate = self.candidate_dir(id, dir.as_deref())?;
        let mut report = ReloadReport::default();
        let Some((base, _)) = self.base(&mut report) else {
            return Some(Err(report.errors));
        };
        let own = match self.own_folder(id) {
            Ok(own) => own,
            Err(e) => return Some(Err(e)),
        };
        Some(self.compile_over(id, &base, own.as_ref(), &candidate))
    }

    /// Tenant `id`'s own folder, if it has one (the default tenant's is none: it is the
    /// base).
    fn own_dir(&self, id: &TenantId) -> Option<PathBuf> {
        self.rules_dir
            .as_ref()
            .map(|d| d.join(id.as_str()))
            .filter(|d| !id.is_default() && d.is_dir())
    }

    /// Compiles a candidate version of tenant `id`: the folder `candidate` laid over the
    /// tenant's own folder (if it has one) and the default. Serves nothing: what a replay
    /// compares with the serving version. A missing candidate folder is an error.
    pub fn compile_candidate(
        &self,
        id: &TenantId,
        candidate: &Path,
    ) -> Result<RuleSet, Vec<Error>> {
        if !candidate.is_dir() {
            return Err(vec![Error::Io {
                path: candidate.to_owned(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no such folder (the candidate rules)",
                ),
            }]);
        }
        let mut report = ReloadReport::default();
        let Some((base, _)) = self.base(&mut report) else {
            return Err(report.errors);
        };
        let own = self.own_folder(id)?;
        let candidate = Folder::read(candidate).map_err(|e| vec![e])?;
        self.compiles.fetch_add(1, Ordering::Relaxed);
        let layers: Vec<&Folder> = own.iter().chain([&candidate]).collect();
        compile(&self.sandbox, &self.scripts, id, &base, &layers)
    }

    /// Lists the tenant folders (new ones become known, removed ones are forgotten) and
    /// recompiles the loaded tenants whose files changed (all of them with `force`; a
    /// change to the default folder changes every tenant). Tenants not used yet stay
    /// uncompiled: the cost of a reload grows with the tenants in use, not the folders.
    pub fn reload(&self, force: bool) -> ReloadReport {
        let _one_at_a_time = self.compiling.lock().unwrap_or_else(|e| e.into_inner());
        let mut report = ReloadReport::default();
        let Some((base, base_fp)) = self.base(&mut report) else {
            return report;
        };
        let dirs = self.tenant_dirs(&mut report.errors);
        // The listing is the news: a tenant without a folder is looked for again.
        (self.no_folder.write().unwrap_or_else(|e| e.into_inner())).clear();
        let loaded: HashMap<TenantId, Option<u64>> = self
            .read()
            .iter()
            .filter(|(_, e)| e.loaded())
            .map(|(id, e)| (id.clone(), e.fingerprint))
            .collect();
        let mut updates: Vec<Compiled> = Vec::new();
        for (id, dir) in &dirs {
            let is_default = dir.is_none();
            if !(force || is_default || loaded.contains_key(id)) {
                continue; // compiled on first use
            }
            let candidate = self.candidate_dir(id, dir.as_deref());
            let fp = tenant_fingerprint(base_fp, dir.as_deref(), candidate.as_deref());
            if force || loaded.get(id).copied().flatten() != Some(fp) {
                let compiled = self.compile_one(id, &base, dir.as_deref(), true);
                updates.push((id.clone(), fp, compiled));
            }
        }
        {
            let mut tenants = self.tenants.write().unwrap_or_else(|e| e.into_inner());
            tenants.retain(|id, _| dirs.iter().any(|(d, _)| d == id));
            for (id, dir) in &dirs {
                tenants.entry(id.clone()).or_default().dir = dir.clone();
            }
        }
        self.install(updates, &mut report);
        report
    }

    /// Swaps the new versions in.
    fn install(&self, updates: Vec<Compiled>, report: &mut ReloadReport) {
        let mut tenants = self.tenants.write().unwrap_or_else(|e| e.into_inner());
        for (id, fp, result) in updates {
            let entry = tenants.entry(id.clone()).or_default();
            entry.fingerprint = Some(fp);
            match result {
                Ok(rules) => {
                    entry.serving = Some(Arc::new(rules));
                    entry.failed = None;
                    report.reloaded.push(id);
                }
                Err(errors) => {
                    let kept = entry.serving.is_some();
                    for e in &errors {
                        tracing::warn!(tenant = %id, kept_previous = kept, "rules failed to load: {e}");
                    }
                    if !kept {
                        entry.failed = Some(join(&errors));
                    }
                    report.errors.extend(errors);
                }
            }
        }
    }

    /// Compiles every tenant from scratch, serving nothing: what `check` validates. One
    /// entry per tenant folder, in order, each followed by its `candidate/` if it has one,
    /// after any error reading the folders.
    pub fn compile_all(&self) -> Vec<Result<RuleSet, Vec<Error>>> {
        let mut errors = Vec::new();
        let Some((base, _)) = self.base(&mut ReloadReport::default()) else {
            let mut report = ReloadReport::default();
            self.base(&mut report);
            return vec![Err(report.errors)];
        };
        let dirs = self.tenant_dirs(&mut errors);
        let mut out: Vec<_> = errors.into_iter().map(|e| Err(vec![e])).collect();
        for (id, dir) in dirs {
            out.push(self.compile_one(&id, &base, dir.as_deref(), false));
            if let Some(candidate) = self.candidate_dir(&id, dir.as_deref()) {
                let own = match dir.as_deref().map(Folder::read).transpose() {
                    Ok(own) => own,
                    Err(_) => continue, // reported with the tenant itself
                };
                out.push(self.compile_over(&id, &base, own.as_ref(), &candidate));
            }
        }
        out
    }
}

/// A tenant's fingerprint: the base's, its own folder's and its candidate's (`candidate`:
/// the default tenant's, whose folder is the base; others' are found in `dir`).
fn tenant_fingerprint(base_fp: u64, dir: Option<&Path>, candidate: Option<&Path>) -> u64 {
    let mut h = DefaultHasher::new();
    base_fp.hash(&mut h);
    if let Some(d) = dir {
        fingerprint(d, &mut h);
    }
    let candidate = candidate.map(Path::to_owned);
    if let Some(c) = candidate.or_else(|| dir.map(|d| d.join(CANDIDATE_DIR))) {
        fingerprint(&c, &mut h);
    }
    h.finish()
}

fn join(errors: &[Error]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
