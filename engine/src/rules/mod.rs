//! Tenants' rule sets: reading a tenant's folder and inheriting the default's files,
//! settings, the Rhai sandbox and its helpers, compiling, converting values to and from
//! Rhai, running a hook with its errors located in `file:line:column`, the catalog of
//! serving rule sets (reload keeps the previous version when a new one fails), and rule
//! cases as data.

mod cases;
mod catalog;
mod compile;
mod coverage;
mod folder;
mod lower;
mod sandbox;
mod settings;
mod values;

pub(crate) use cases::run as run_cases;
pub use cases::{CaseResult, CasesReport};
pub use catalog::ReloadReport;
pub(crate) use catalog::{Catalog, Lookup};
pub(crate) use coverage::{
    hits as coverage_hits, report as coverage_report, reset as coverage_reset, FileMap,
};
pub use coverage::{Branch, BranchKind, Coverage, FileCoverage, Unreached};
pub(crate) use folder::Source;
pub(crate) use sandbox::count_cpu_time;
pub use sandbox::within_budget;
pub use sandbox::Limits;
pub(crate) use settings::{LimitSettings, LlmSettings, PriceRange, Settings};
pub(crate) use values::{HookLead, Scored};

use crate::error::{Error, Result};
use crate::experiment::{Experiment, Pick};
use crate::ids::TenantId;
pub use crate::ids::DEFAULT_TENANT;
use crate::model::Question;
use crate::text::extract::Extractor;
use rhai::{Caches, Dynamic, EvalAltResult, EvalContext, GlobalRuntimeState, Scope, AST, INT};
use sandbox::{line_col, locate, Cfg, Sandbox};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Script hooks every rule set defines, and the number of parameters each takes.
const HOOKS: [(&str, usize); 2] = [("score", 2), ("next_question", 3)];

/// The hooks run lowered when they can (see [`lower`]): the decision's two and the
/// follow-up's.
const LOWERED_HOOKS: [(&str, usize); 3] = [("score", 2), ("next_question", 3), ("followup", 3)];

/// Numbers every compiled rule set, so per-thread caches never serve one rule set's
/// functions to another (Rhai's resolution cache is keyed by function hash only).
static COMPILED: AtomicU64 = AtomicU64::new(0);

/// Hook calls' state kept per thread and per compiled rule set: Rhai's function
/// resolution cache and global state, which `call_fn` would rebuild (empty) on every
/// call. At most this many rule sets per thread; past it the cache starts over.
const HOT_RULE_SETS: usize = 64;

thread_local! {
    static HOT: RefCell<HashMap<u64, (GlobalRuntimeState, Caches)>> = RefCell::new(HashMap::new());
    static OWN: RefCell<HashMap<u64, Own, ahash::RandomState>> = RefCell::new(HashMap::default());
}

/// How many times a thread counts a hook's evaluation on its handle of the counter
/// before asking the recorder for it again ([`count_evaluation`]).
const COUNTER_REUSE: u32 = 4096;

thread_local! {
    /// Per hook: this thread's handle of `qualify_rule_evaluations_total{hook}` and how
    /// many times it was used.
    static EVALUATIONS: RefCell<Vec<(&'static str, metrics::Counter, u32)>> =
        const { RefCell::new(Vec::new()) };
}

/// Counts one hook evaluation (`qualify_rule_evaluations_total{hook}`, exact) on a handle
/// the thread keeps, rather than looking the counter up in the recorder's registry on
/// every call (two per decision): the look-up hashes the key and takes a lock every
/// core's decisions share. The handle is fetched again every [`COUNTER_REUSE`] uses, so
/// a thread that counted before a recorder was installed reports to it soon after.
fn count_evaluation(hook: &'static str) {
    EVALUATIONS.with(|e| {
        let mut e = e.borrow_mut();
        let i = match e.iter().position(|(h, ..)| *h == hook) {
            Some(i) => i,
            None => {
                let c = metrics::counter!("qualify_rule_evaluations_total", "hook" => hook);
                e.push((hook, c, 0));
                e.len() - 1
            }
        };
        let (_, counter, uses) = &mut e[i];
        *uses += 1;
        if *uses >= COUNTER_REUSE {
            *counter = metrics::counter!("qualify_rule_evaluations_total", "hook" => hook);
            *uses = 0;
        }
        counter.increment(1);
    });
}

/// A rule set's calls on one thread before the thread copies its values ([`Owned`]):
/// copying costs about a decision; a thread that runs many rule sets in turn, each
/// rarely, keeps reading the shared values rather than copying each time.
const OWN_AFTER: u32 = 16;

/// The values a rule set's hooks read besides the lead, as one thread holds them: `cfg`
/// and the lowered constants ([`lower::Lowered::consts`]). Each thread that runs a rule
/// set often gets its own copy, sharing no reference count with the rule set's: on two
/// cores, two threads taking and dropping references to the same settings' strings made
/// each decision ~35 % slower than when they ran in two processes (BENCHMARKS.md).
struct Owned {
    cfg: Dynamic,
    consts: Vec<Dynamic>,
}

/// One thread's record of a rule set: its calls so far, then its copy.
enum Own {
    Counting(u32),
    Copied(std::rc::Rc<Owned>),
}

/// What one hook call reads besides the lead: this thread's copy ([`Owned`]), or the
/// rule set's own values.
enum HookValues<'r> {
    Owned(std::rc::Rc<Owned>),
    Shared(Dynamic, &'r [Dynamic]),
}

impl HookValues<'_> {
    /// `cfg`.
    fn cfg(&self) -> &Dynamic {
        match self {
            HookValues::Owned(o) => &o.cfg,
            HookValues::Shared(cfg, _) => cfg,
        }
    }

    /// The lowered constants.
    fn consts(&self) -> &[Dynamic] {
        match self {
            HookValues::Owned(o) => &o.consts,
            HookValues::Shared(_, consts) => consts,
        }
    }
}

/// A tenant's compiled, ready-to-run rule set. Immutable: a reload builds a new one.
pub(crate) struct RuleSet {
    /// Unique per compile (see [`COMPILED`]); shared by its tunings (the same scripts).
    serial: u64,
    /// Unique per rule set, tunings included (their settings differ): the key of a
    /// thread's copy of its values ([`Owned`]).
    values_serial: u64,
    pub id: TenantId,
    sandbox: Arc<Sandbox>,
    pub settings: Settings,
    cfg: Cfg,
    ast: AST,
    /// The hooks that run without the interpreter ([`lower`]).
    lowered: Arc<lower::Lowered>,
    /// Where each function is defined: file, line, column (for runtime error locations,
    /// since some limit errors carry no position of their own).
    fn_locs: Arc<HashMap<String, (PathBuf, compile::FnLoc)>>,
    pub extractor: Arc<Extractor>,
    pub cases: Option<Source>,
    /// The file scripts' errors are reported against when no function is known.
    main_file: PathBuf,
    /// The settings file errors about settings are reported against.
    pub yaml_file: PathBuf,
    /// The tenant's experiments (`experiments.yaml`, its own or inherited).
    pub experiments: Arc<Vec<Experiment>>,
    /// The file they were read from.
    pub experiments_file: Option<PathBuf>,
    /// This rule set with the settings of a combination of variants: keyed by the
    /// variant picked (or none) of each experiment whose variants change settings, in
    /// definition order. Empty in a tuned rule set itself.
    tunings: HashMap<Vec<Option<u16>>, Arc<RuleSet>>,
    /// In a tuned rule set: which variants' values it carries.
    pub tuning: Option<String>,
    /// The content hash of everything this rule set was compiled from (scripts in the
    /// order they merge, `tenant.yaml` files, `experiments.yaml`): `r-` and 16 hex
    /// digits of SHA-256. Decisions carry it, so any past decision traces to the exact
    /// files that made it.
    pub version: Arc<str>,
    /// The tenant's `candidate/` version, when its folder holds one (shadow mode: each
    /// decision is also made under it, off the request path, never acted on).
    pub candidate: Option<Candidate>,
}

/// A tenant's candidate version (`candidate/` in its folder), as last compiled.
#[derive(Clone)]
pub(crate) enum Candidate {
    /// Compiled: decisions are shadowed under it.
    Ready(Arc<RuleSet>),
    /// Its files do not load (every problem at its `file:line:column`); nothing is
    /// shadowed until they do, and the serving version is unaffected.
    Failed(Arc<str>),
}

/// The key of [`RuleSet::tunings`] for a set of picks.
fn tuning_key(experiments: &[Experiment], picks: &[Pick]) -> Vec<Option<u16>> {
    experiments
        .iter()
        .enumerate()
        .filter(|(_, x)| x.has_values())
        .map(|(i, _)| {
            picks
                .iter()
                .find(|p| p.experiment == i)
                .map(|p| p.variant as u16)
        })
        .collect()
}

/// A fresh serial for a rule set being compiled.
fn next_serial() -> u64 {
    COMPILED.fetch_add(1, Ordering::Relaxed)
}

impl RuleSet {
    /// True when its decisions are shadowed under a candidate that loaded.
    pub fn shadowed(&self) -> bool {
        matches!(self.candidate, Some(Candidate::Ready(_)))
    }

    /// The rule set a decision runs with these picks: this one, or a tuned copy whose
    /// settings carry the picked variants' `values`.
    pub fn tuned(&self, picks: &[Pick]) -> &RuleSet {
        if self.tunings.is_empty() || picks.is_empty() {
            return self;
        }
        let key = tuning_key(&self.experiments, picks);
        self.tunings.get(&key).map_or(self, |r| r)
    }

    /// The tuned copies (every combination of variants that changes settings).
    pub fn tunings(&self) -> impl Iterator<Item = &RuleSet> {
        self.tunings.values().map(|r| &**r)
    }

    /// `cfg` as a Rhai value (an `Arc` clone, no copying).
    fn cfg(&self) -> Dynamic {
        Dynamic::from(self.cfg.clone())
    }

    /// `cfg` and the lowered constants for a hook call on this thread: the thread's own
    /// copy once it has run this rule set [`OWN_AFTER`] times (at most [`HOT_RULE_SETS`]
    /// rule sets per thread, as for [`HOT`]).
    fn hook_values(&self) -> HookValues<'_> {
        let owned = OWN.with(|own| {
            let mut own = own.borrow_mut();
            if own.len() >= HOT_RULE_SETS && !own.contains_key(&self.values_serial) {
                own.clear();
            }
            let record = own.entry(self.values_serial).or_insert(Own::Counting(0));
            match record {
                Own::Copied(o) => Some(o.clone()),
                Own::Counting(n) if *n + 1 < OWN_AFTER => {
                    *n += 1;
                    None
                }
                Own::Counting(_) => {
                    let map = self.cfg.0.iter();
                    let o = std::rc::Rc::new(Owned {
                        cfg: Dynamic::from(Cfg(Arc::new(
                            map.map(|(k, v)| (k.clone(), values::unshared(v))).collect(),
                        ))),
                        consts: self.lowered.own_consts(),
                    });
                    *record = Own::Copied(o.clone());
                    Some(o)
                }
            }
        });
        match owned {
            Some(o) => HookValues::Owned(o),
            None => HookValues::Shared(self.cfg(), self.lowered.consts()),
        }
    }

    /// The `score(lead, cfg)` hook.
    pub fn score(&self, lead: &HookLead) -> Result<Scored> {
        self.admit(lead)?;
        let values = self.hook_values();
        let cfg = values.cfg();
        let raw = match self.lowered("score", &[&lead.value, cfg], values.consts()) {
            Some(raw) => raw,
            None => self.call("score", (lead.value.clone(), cfg.clone()))?,
        };
        Scored::read(self.id.as_str(), &|| self.hook_at("score"), raw)
    }

    /// Refuses a lead that would use more than half of one of the sandbox's data limits
    /// before a script touches it: input too large is the caller's error (a 422), not a
    /// failure of the tenant's rules, and the other half is the scripts' working room.
    fn admit(&self, lead: &HookLead) -> Result<()> {
        let limits = &self.sandbox.limits;
        let values::DataSizes {
            items,
            entries,
            bytes,
        } = lead.sizes;
        for (what, used, limit) in [
            (
                "the lead's list items (tags and list facts)",
                items,
                limits.max_array_size,
            ),
            (
                "the lead's map entries (facts)",
                entries,
                limits.max_map_size,
            ),
            (
                "the lead's text (bytes in names, tags and facts)",
                bytes,
                limits.max_string_size,
            ),
        ] {
            if limit > 0 && used > limit / 2 {
                return Err(Error::Limit {
                    what: format!("{what}: {used}"),
                    limit: limit / 2,
                });
            }
        }
        Ok(())
    }

    /// Where a hook is defined, `file:line:column`, for errors about its result.
    fn hook_at(&self, hook: &str) -> String {
        match self.fn_locs.get(hook) {
            Some((file, loc)) => format!("{}:{}:{}", file.display(), loc.line, loc.column),
            None => String::new(),
        }
    }

    /// The `next_question(lead, result, cfg)` hook; `None` when nothing is to be asked.
    /// The last hook of a decision: the lead and the score result are handed over, not
    /// copied.
    pub fn next_question(&self, lead: HookLead, scored: &mut Scored) -> Result<Option<Question>> {
        let raw = std::mem::take(&mut scored.raw);
        let values = self.hook_values();
        let cfg = values.cfg();
        let q = match self.lowered("next_question", &[&lead.value, &raw, cfg], values.consts()) {
            Some(q) => q,
            None => self.call("next_question", (lead.value, raw, cfg.clone()))?,
        };
        values::read_question(self.id.as_str(), &|| self.hook_at("next_question"), q)
    }

    /// The names of the tenant's data points (`data_points` in `tenant.yaml`: a name, or
    /// a list whose first item names it).
    pub fn data_point_names(&self) -> Vec<String> {
        let Some(list) = self.cfg.0.get("data_points") else {
            return Vec::new();
        };
        let list = list
            .clone()
            .into_typed_array::<Dynamic>()
            .unwrap_or_default();
        list.into_iter()
            .filter_map(|d| match d.clone().into_typed_array::<Dynamic>() {
                Ok(items) => items.first().map(|f| f.to_string()),
                Err(_) => Some(d.to_string()),
            })
            .collect()
    }

    /// Every question key the settings define (all goals, sorted), and `handoff` when
    /// the tenant has a hand-off line, each with the texts it may be sent as (each
    /// goal's, each language's): a key such as `budget_confirm` is a text the hooks send
    /// under the question id `budget`, so coverage finds it by its text.
    pub fn question_texts(&self) -> BTreeMap<String, Vec<&str>> {
        let mut keys: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        let translated = self
            .settings
            .translations
            .values()
            .flatten()
            .map(|t| &t.questions);
        for goals in std::iter::once(&self.settings.questions).chain(translated) {
            for (key, text) in goals.values().flatten() {
                keys.entry(key.clone()).or_default().push(text);
            }
        }
        let handoffs = std::iter::once(self.settings.handoff.as_deref())
            .chain((self.settings.translations.values().flatten()).map(|t| t.handoff.as_deref()));
        for text in handoffs.flatten() {
            keys.entry("handoff".into()).or_default().push(text);
        }
        keys
    }

    /// True when the scripts define the optional `followup(lead, hours, cfg)` hook.
    pub fn has_followup_hook(&self) -> bool {
        self.ast
            .iter_functions()
            .any(|f| f.name == "followup" && f.params.len() == 3)
    }

    /// The `followup(lead, hours, cfg)` hook: the text for a stage, or `None` for none.
    pub fn followup(&self, lead: &HookLead, hours: u32) -> Result<Option<String>> {
        self.admit(lead)?;
        let (hours, values) = (Dynamic::from(hours as INT), self.hook_values());
        let cfg = values.cfg();
        let out = match self.lowered("followup", &[&lead.value, &hours, cfg], values.consts()) {
            Some(out) => out,
            None => self.call("followup", (lead.value.clone(), hours, cfg.clone()))?,
        };
        values::read_followup(self.id.as_str(), &|| self.hook_at("followup"), out)
    }

    /// Runs one hook lowered ([`lower`]), when it is: `None` when it is not, or when the
    /// run stopped short (the caller then runs it on Rhai, which has the last word).
    fn lowered(
        &self,
        hook: &'static str,
        args: &[&Dynamic],
        consts: &[Dynamic],
    ) -> Option<Dynamic> {
        let f = self.lowered.hook(hook, args.len())?;
        sandbox::start_deadline(self.sandbox.limits.max_hook_time);
        match self.lowered.run(f, args, &self.sandbox.limits, consts) {
            Ok(v) => {
                count_evaluation(hook);
                Some(v)
            }
            Err(lower::Bail) => {
                metrics::counter!("qualify_rule_lowered_fallbacks_total", "hook" => hook)
                    .increment(1);
                None
            }
        }
    }

    /// The hooks and helper functions that run on Rhai rather than lowered, each with
    /// the reason (for `qualify check`).
    pub fn not_lowered(&self) -> &[(String, String)] {
        &self.lowered.refused
    }

    /// Runs one hook in the sandbox with this thread's warm caches for this rule set; the
    /// operation count starts at zero for every call (the limit is per hook call). An
    /// error names the file, line and column.
    fn call(&self, hook: &'static str, args: impl rhai::FuncArgs) -> Result<Dynamic> {
        count_evaluation(hook);
        let rhai = &self.sandbox.rhai;
        let result = HOT.with(|hot| {
            let mut hot = hot.borrow_mut();
            if hot.len() >= HOT_RULE_SETS && !hot.contains_key(&self.serial) {
                hot.clear();
            }
            let (global, caches) = hot.entry(self.serial).or_insert_with(|| {
                let mut global = rhai.new_global_runtime_state();
                global.lib.push(self.ast.shared_lib().clone());
                global.source = self.ast.source().map(Into::into);
                (global, Caches::new())
            });
            global.num_operations = 0;
            global.level = 0;
            sandbox::start_deadline(self.sandbox.limits.max_hook_time);
            let mut scope = Scope::new();
            EvalContext::new(rhai, global, caches, &mut scope, None)
                .call_fn::<Dynamic>(hook, args)
                .or_else(|e| match *e {
                    // `exit(value)` ends the hook with that value, as `call_fn` would.
                    EvalAltResult::Exit(value, _) => Ok(value),
                    _ => Err(e),
                })
        });
        result.map_err(|e| {
            metrics::counter!("qualify_rule_failures_total", "hook" => hook).increment(1);
            let (func, pos, message) =
                locate(&e, &self.sandbox.limits, |f| self.fn_locs.contains_key(f));
            let func = func.unwrap_or_else(|| hook.to_string());
            let (file, loc) = self
                .fn_locs
                .get(&func)
                .cloned()
                .unwrap_or_else(|| (self.main_file.clone(), Default::default()));
            // Limit errors carry no position: point at the function's first loop (the
            // likely endless one), else at the function.
            let limit = message.contains("limit of");
            let (line, column) = match (line_col(pos), loc.first_loop) {
                ((0, _), Some(at)) if limit => at,
                ((0, _), _) => (loc.line, loc.column),
                (lc, _) => lc,
            };
            Error::Script {
                tenant: self.id.to_string(),
                hook: hook.to_string(),
                file,
                line,
                column,
                message: format!("in fn {func}: {message}"),
            }
        })
    }
}
