//! The facade: an [`Engine`] that opens a rules folder, keeps one compiled rule set per
//! tenant, and answers `score` / `next_question` with an explanation. Cheap to clone and
//! safe to share between threads.

use crate::contact::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::facts::{is_unsure, DATA_POINTS, PROPERTY_FACTS};
use crate::lead::{Class, Decision, Explain, Facts, Lead, Question};
use crate::rules::{compile, fingerprint, Folder, TenantRules, DEFAULT_TENANT};
use crate::script::{build_engine, line_col, locate, Limits};
use crate::sms;
use crate::store::Store;
use crate::TenantId;
use rhai::{Array, CallFnOptions, Dynamic, ImmutableString, Map, Scope, INT};
use serde_json::{json, Value};
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

/// Builds an [`Engine`].
#[derive(Clone, Default)]
pub struct EngineBuilder {
    rules_dir: Option<PathBuf>,
    limits: Limits,
    store: Option<Arc<Store>>,
    clock: Option<Arc<dyn Clock>>,
}

impl EngineBuilder {
    /// The rules folder: one sub-folder per tenant, `default/` the base of all of them.
    /// Without one (or without its `default/`), the embedded default rules are the base.
    pub fn rules_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.rules_dir = Some(dir.into());
        self
    }

    /// Sandbox limits for every script evaluation.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The encrypted store for stateful calls ([`Engine::ingest`], [`Engine::contact`], ...).
    pub fn store(mut self, store: impl Into<Arc<Store>>) -> Self {
        self.store = Some(store.into());
        self
    }

    /// Where the engine reads the time (default: the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Loads and compiles every tenant. A tenant whose scripts do not compile is left
    /// out (see [`Engine::reload`] for its errors); the others serve.
    pub fn build(self) -> Result<Engine> {
        if let Some(dir) = &self.rules_dir {
            if !dir.is_dir() {
                return Err(Error::Io {
                    path: dir.clone(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "rules folder not found",
                    ),
                });
            }
        }
        let engine = Engine {
            inner: Arc::new(Inner {
                rhai: build_engine(&self.limits),
                limits: self.limits,
                rules_dir: self.rules_dir,
                state: RwLock::new(State::default()),
                reloading: Mutex::new(()),
                store: self.store,
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
                registry: RwLock::new(Default::default()),
            }),
        };
        engine.refresh_registry()?;
        engine.reload();
        Ok(engine)
    }
}

#[derive(Default)]
struct State {
    tenants: HashMap<String, Arc<TenantRules>>,
    /// Tenants with no serving version, and why.
    failed: HashMap<String, String>,
    fingerprints: HashMap<String, u64>,
}

struct Inner {
    rhai: rhai::Engine,
    limits: Limits,
    rules_dir: Option<PathBuf>,
    state: RwLock<State>,
    reloading: Mutex<()>,
    store: Option<Arc<Store>>,
    clock: Arc<dyn Clock>,
    registry: RwLock<crate::tenants::Registry>,
}

/// What a reload did.
#[derive(Debug, Default)]
pub struct ReloadReport {
    /// Tenants compiled and now serving their new version.
    pub reloaded: Vec<String>,
    /// Compile or settings errors. A tenant that had a serving version keeps it.
    pub errors: Vec<Error>,
}

/// The multi-tenant rules engine.
///
/// ```
/// use qualify_engine::{Engine, Lead};
///
/// let engine = Engine::builder().build()?; // the embedded default rules
/// let lead = Lead::from_json(r#"{
///     "tags": ["Hit List"],
///     "messages": [{"from": "lead", "text": "Looking to buy in Plano, around 450k"}]
/// }"#)?;
/// let decision = engine.score("default", &lead)?;
/// assert_eq!(decision.score, 2); // budget and location
/// assert_eq!(decision.class.as_str(), "warm");
/// assert_eq!(decision.question.unwrap().id, "timeline");
/// # Ok::<(), qualify_engine::Error>(())
/// ```
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl Engine {
    /// Starts building an engine.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// An engine over a rules folder with default limits.
    pub fn open(rules_dir: impl Into<PathBuf>) -> Result<Self> {
        Self::builder().rules_dir(rules_dir).build()
    }

    /// The sandbox limits in force.
    pub fn limits(&self) -> Limits {
        self.inner.limits
    }

    fn base_folder(&self) -> (Result<Folder>, u64) {
        let mut h = DefaultHasher::new();
        match &self.inner.rules_dir {
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

    /// Tenant folders in the rules folder (valid ids only; others are reported).
    fn tenant_dirs(&self, errors: &mut Vec<Error>) -> Vec<(String, Option<PathBuf>)> {
        let mut out = vec![(DEFAULT_TENANT.to_string(), None)];
        let Some(dir) = &self.inner.rules_dir else {
            return out;
        };
        let Ok(rd) = std::fs::read_dir(dir) else {
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
                Ok(_) => out.push((name, Some(path))),
                Err(e) => errors.push(e),
            }
        }
        out
    }

    /// Recompiles every tenant whose files changed since the last load (a change to the
    /// default folder recompiles all). A tenant whose new files fail keeps serving its
    /// previous version; the report says why.
    pub fn reload(&self) -> ReloadReport {
        self.reload_inner(false)
    }

    /// Recompiles every tenant, changed or not.
    pub fn reload_all(&self) -> ReloadReport {
        self.reload_inner(true)
    }

    fn reload_inner(&self, force: bool) -> ReloadReport {
        let _one_at_a_time = self
            .inner
            .reloading
            .lock()
            .unwrap_or_else(|e| e.into_inner());
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
        let known: HashMap<String, u64> = self.read_state().fingerprints.clone();
        let mut updates = Vec::new();
        for (id, dir) in &dirs {
            let mut h = DefaultHasher::new();
            base_fp.hash(&mut h);
            if let Some(d) = dir {
                fingerprint(d, &mut h);
            }
            let fp = h.finish();
            if !force && known.get(id) == Some(&fp) {
                continue;
            }
            let own = match dir.as_deref().map(Folder::read).transpose() {
                Ok(own) => own,
                Err(e) => {
                    updates.push((id.clone(), fp, Err(vec![e])));
                    continue;
                }
            };
            let result = compile(&self.inner.rhai, id, &base, own.as_ref());
            updates.push((id.clone(), fp, result));
        }
        let mut state = self.inner.state.write().unwrap_or_else(|e| e.into_inner());
        state
            .tenants
            .retain(|id, _| dirs.iter().any(|(d, _)| d == id));
        state
            .failed
            .retain(|id, _| dirs.iter().any(|(d, _)| d == id));
        state
            .fingerprints
            .retain(|id, _| dirs.iter().any(|(d, _)| d == id));
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
                        state.failed.insert(id.clone(), why);
                    }
                    report.errors.extend(errors);
                }
            }
        }
        report
    }

    fn read_state(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.inner.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Tenants with a serving rule set, sorted.
    pub fn tenants(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.read_state().tenants.keys().cloned().collect();
        ids.sort();
        ids
    }

    pub(crate) fn registry(&self) -> std::sync::RwLockReadGuard<'_, crate::tenants::Registry> {
        self.inner
            .registry
            .read()
            .unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn registry_mut(&self) -> std::sync::RwLockWriteGuard<'_, crate::tenants::Registry> {
        self.inner
            .registry
            .write()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The store, or [`Error::NoStore`].
    pub fn store(&self) -> Result<&Arc<Store>> {
        self.inner.store.as_ref().ok_or(Error::NoStore)
    }

    /// The current time by the engine's clock.
    pub fn now(&self) -> jiff::Timestamp {
        self.inner.clock.now()
    }

    pub(crate) fn rules(&self, tenant: &str) -> Result<Arc<TenantRules>> {
        TenantId::new(tenant)?;
        let state = self.read_state();
        if let Some(r) = state.tenants.get(tenant) {
            return Ok(r.clone());
        }
        if let Some(why) = state.failed.get(tenant) {
            return Err(Error::TenantUnavailable {
                tenant: tenant.to_string(),
                reason: why.clone(),
            });
        }
        // A tenant registered in the store without a rules folder runs the default rules.
        if self.is_registered(tenant) {
            if let Some(r) = state.tenants.get(DEFAULT_TENANT) {
                return Ok(r.clone());
            }
        }
        Err(Error::UnknownTenant(tenant.to_string()))
    }

    /// Facts the tenant's extractors find in one message.
    pub fn extract(&self, tenant: &str, text: &str) -> Result<Facts> {
        let rules = self.rules(tenant)?;
        let mut facts = Facts::new();
        rules.extractor.extract_into(text, None, &mut facts);
        Ok(facts)
    }

    /// The full decision for a lead under a tenant's rules: score, class, percent, tags,
    /// next question (or hand-off) and why.
    pub fn score(&self, tenant: &str, lead: &Lead) -> Result<Decision> {
        let rules = self.rules(tenant)?;
        self.decide(tenant, &rules, lead)
    }

    /// Only the next question (or hand-off line) for a lead; `None` when nothing should be
    /// sent (automation off for this contact, or the rules have nothing to ask).
    pub fn next_question(&self, tenant: &str, lead: &Lead) -> Result<Option<Question>> {
        Ok(self.score(tenant, lead)?.question)
    }

    pub(crate) fn call(
        &self,
        rules: &TenantRules,
        hook: &str,
        args: impl rhai::FuncArgs,
    ) -> Result<Dynamic> {
        let mut scope = Scope::new();
        let options = CallFnOptions::new().eval_ast(false).rewind_scope(true);
        self.inner
            .rhai
            .call_fn_with_options::<Dynamic>(options, &mut scope, &rules.ast, hook, args)
            .map_err(|e| {
                let (func, pos, message) = locate(&e, &self.inner.limits);
                let func = func.unwrap_or_else(|| hook.to_string());
                let (file, def_line, def_col) = rules
                    .fn_locs
                    .get(&func)
                    .cloned()
                    .unwrap_or_else(|| (rules.main_file.clone(), 0, 0));
                // Limit errors may carry no position: point at the function instead.
                let (line, column) = match line_col(pos) {
                    (0, _) => (def_line, def_col),
                    lc => lc,
                };
                Error::Script {
                    tenant: rules.id.clone(),
                    hook: hook.to_string(),
                    file,
                    line,
                    column,
                    message: format!("in fn {func}: {message}"),
                }
            })
    }

    fn decide(&self, tenant: &str, rules: &TenantRules, lead: &Lead) -> Result<Decision> {
        let mut facts = Facts::new();
        rules.extractor.extract_messages(&lead.messages, &mut facts);
        for (k, v) in &lead.facts {
            facts.insert(k.clone(), v.clone());
        }
        for (key, value) in [
            ("goal", &lead.goal),
            ("name", &lead.name),
            ("timezone", &lead.timezone),
        ] {
            if let Some(v) = value {
                facts.insert(key.to_string(), json!(v));
            }
        }
        let inbound = lead
            .messages
            .iter()
            .filter(|m| m.from == crate::lead::From::Lead)
            .count();
        let counts = Counts {
            messages: lead.messages.len(),
            inbound,
        };
        self.evaluate(tenant, rules, facts, &lead.tags, counts)
    }

    /// Runs the tenant's hooks on known facts (no extraction): the shared second half of
    /// a stateless decision and of an ingest.
    pub(crate) fn evaluate(
        &self,
        tenant: &str,
        rules: &TenantRules,
        facts: Facts,
        tags: &[String],
        counts: Counts,
    ) -> Result<Decision> {
        let gate = rules.settings.gate(tags);
        let lead_dyn = lead_dynamic(&facts, tags, counts);

        let result = self.call(rules, "score", (lead_dyn.clone(), rules.cfg_dynamic()))?;
        let hook_err = |message: String| Error::HookResult {
            tenant: rules.id.clone(),
            hook: "score".into(),
            message,
        };
        let map = result
            .read_lock::<Map>()
            .ok_or_else(|| hook_err(format!("expected a map, got {}", result.type_name())))?;
        let score = map
            .get("score")
            .and_then(|v| v.as_int().ok())
            .ok_or_else(|| hook_err("`score` must be an integer".into()))?;
        let class_text = map
            .get("class")
            .and_then(|v| v.clone().into_immutable_string().ok());
        let class = class_text
            .as_deref()
            .and_then(Class::parse)
            .ok_or_else(|| {
                hook_err(format!(
                    "`class` must be \"hot\", \"warm\" or \"cold\", got {class_text:?}"
                ))
            })?;
        let percent = match map.get("percent") {
            None => score.clamp(0, 100),
            Some(v) => v
                .as_int()
                .map_err(|t| hook_err(format!("`percent` must be an integer, got {t}")))?,
        };
        let strings = |key: &str| -> Result<Vec<String>> {
            match map.get(key) {
                None => Ok(Vec::new()),
                Some(v) => v
                    .read_lock::<Array>()
                    .ok_or_else(|| hook_err(format!("`{key}` must be an array of strings")))?
                    .iter()
                    .map(|s| {
                        s.clone()
                            .into_string()
                            .map_err(|_| hook_err(format!("`{key}` must be an array of strings")))
                    })
                    .collect(),
            }
        };
        let answered = strings("answered")?;
        let tags = strings("tags")?;
        let remove_tags = strings("remove_tags")?;
        let class_rule = map.get("rule").map(|r| r.to_string()).unwrap_or_default();
        drop(map);

        let (active, gate_text) = match gate {
            Ok(why) => (true, why),
            Err(why) => (false, why),
        };
        let question = if active {
            let q = self.call(
                rules,
                "next_question",
                (lead_dyn, result, rules.cfg_dynamic()),
            )?;
            parse_question(rules, q)?
        } else {
            None
        };
        let question_text = match &question {
            Some(q) => format!("{}: {}", q.id, q.reason),
            None if active => "nothing left to ask".to_string(),
            None => "automation off: no question".to_string(),
        };
        let explain = Explain {
            counted: counted(&facts, &answered),
            not_counted: not_counted(&facts, &answered),
            class_rule,
            gate: gate_text,
            question: question_text,
        };
        Ok(Decision {
            tenant: tenant.to_string(),
            score,
            class,
            percent,
            answered,
            facts,
            tags,
            remove_tags,
            active,
            handoff: question.as_ref().is_some_and(|q| q.id == "handoff"),
            next_question: question.as_ref().map(|q| q.text.clone()),
            question,
            explain,
        })
    }

    /// Validates every tenant from scratch: compiles all scripts, reads settings, checks
    /// every question text against the tenant's SMS segment budget, and runs the hooks on
    /// sample leads. Returns every problem found (empty when all is well).
    pub fn check(&self) -> Vec<Error> {
        let mut errors = Vec::new();
        let (base, _) = self.base_folder();
        let base = match base {
            Ok(b) => b,
            Err(e) => return vec![e],
        };
        for (id, dir) in self.tenant_dirs(&mut errors) {
            let own = match dir.as_deref().map(Folder::read).transpose() {
                Ok(own) => own,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            match compile(&self.inner.rhai, &id, &base, own.as_ref()) {
                Ok(rules) => errors.extend(self.check_tenant(&rules)),
                Err(e) => errors.extend(e),
            }
        }
        errors
    }

    fn check_tenant(&self, rules: &TenantRules) -> Vec<Error> {
        let mut errors = Vec::new();
        let budget = rules.settings.sms_segment_budget;
        let mut texts: Vec<(String, &str)> = Vec::new();
        for (goal, qs) in &rules.settings.questions {
            for (id, text) in qs {
                texts.push((format!("questions.{goal}.{id}"), text));
            }
        }
        if let Some(h) = &rules.settings.handoff {
            texts.push(("handoff".into(), h));
        }
        for (key, text) in texts {
            let info = sms::sms_info(text);
            if info.segments > budget {
                errors.push(Error::Settings {
                    file: rules.yaml_file.clone(),
                    message: format!(
                        "{key}: {} SMS segments ({}, {} units) over the budget of {budget}",
                        info.segments,
                        serde_json::to_string(&info.encoding).unwrap_or_default(),
                        info.units
                    ),
                });
            }
        }
        let long = |name: &str| {
            Some(
                match name {
                    "first_name" => "Maximilian-Alexander",
                    "last_name" => "Featherstonehaugh-Montgomery",
                    "agent_name" => "Jorge",
                    "budget" => "$1,250,000",
                    _ => "Stonebridge Ranch, Craig Ranch",
                }
                .to_string(),
            )
        };
        for (goal, list) in &rules.settings.followup.templates {
            for (i, template) in list.iter().enumerate() {
                let key = format!("followup.templates.{goal}[{i}]");
                match crate::followup::render(template, long) {
                    Ok(text) => {
                        let info = sms::sms_info(&text);
                        if info.segments > budget {
                            errors.push(Error::Settings {
                                file: rules.yaml_file.clone(),
                                message: format!("{key}: {} SMS segments with long sample names, over the budget of {budget}", info.segments),
                            });
                        }
                    }
                    Err(message) => errors.push(Error::Settings {
                        file: rules.yaml_file.clone(),
                        message: format!("{key}: {message}"),
                    }),
                }
            }
        }
        for lead in sample_leads(&rules.settings.activation_tags) {
            match self.decide(&rules.id, rules, &lead) {
                Ok(d) => {
                    if let Some(q) = d.question {
                        let n = sms::segments(&q.text);
                        if n > budget {
                            errors.push(Error::HookResult {
                                tenant: rules.id.clone(),
                                hook: "next_question".into(),
                                message: format!("question {:?} is {n} SMS segments, over the budget of {budget}", q.id),
                            });
                        }
                    }
                }
                Err(e) => {
                    errors.push(e);
                    break;
                }
            }
        }
        errors
    }

    /// The cases file of a tenant, if it has one (`cases.yaml` in its folder).
    pub(crate) fn cases_source(&self, tenant: &str) -> Result<Option<(PathBuf, String)>> {
        let rules = self.rules(tenant)?;
        Ok(rules
            .cases
            .as_ref()
            .map(|s| (s.path.clone(), s.text.clone())))
    }

    /// The rules folder this engine reads, if any.
    pub fn rules_dir(&self) -> Option<&Path> {
        self.inner.rules_dir.as_deref()
    }
}

/// Leads `check` runs every tenant's hooks on: nothing known, a buyer, a seller, a hot lead.
fn sample_leads(activation: &[String]) -> Vec<Lead> {
    let tags: Vec<String> = activation.iter().take(1).cloned().collect();
    let lead = |facts: Value| Lead {
        facts: facts.as_object().cloned().unwrap_or_default(),
        tags: tags.clone(),
        name: Some("Maximilian-Alexander".into()),
        ..Lead::default()
    };
    vec![
        lead(json!({})),
        lead(json!({"goal": "buy", "budget": 450000})),
        lead(json!({"goal": "sell", "motivation": "downsizing", "timeline": "not sure"})),
        lead(
            json!({"budget": "$450k", "location": ["Plano", "Frisco"], "timeline": "asap", "bedrooms": 3, "financing": "cash", "motivation": "relocation", "home_condition": "move-in ready"}),
        ),
    ]
}

/// Conversation size as scripts see it in `lead.history`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counts {
    pub messages: usize,
    pub inbound: usize,
}

/// A JSON value as a Rhai value, built directly (no serde round trip on the hot path).
fn to_rhai(v: &Value) -> Dynamic {
    match v {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Dynamic::from_int(i),
            None => Dynamic::from_float(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => Dynamic::from(ImmutableString::from(s.as_str())),
        Value::Array(a) => Dynamic::from_array(a.iter().map(to_rhai).collect()),
        Value::Object(m) => Dynamic::from_map(
            m.iter()
                .map(|(k, v)| (k.as_str().into(), to_rhai(v)))
                .collect(),
        ),
    }
}

/// The lead as scripts see it: `#{facts, tags, goal, name, history}`. Shared (an `Arc`)
/// so handing it to each hook copies nothing.
pub(crate) fn lead_dynamic(facts: &Facts, tags: &[String], counts: Counts) -> Dynamic {
    let mut m = Map::new();
    let goal = facts
        .get("goal")
        .and_then(Value::as_str)
        .and_then(normalise_goal);
    m.insert(
        "facts".into(),
        Dynamic::from_map(
            facts
                .iter()
                .map(|(k, v)| (k.as_str().into(), to_rhai(v)))
                .collect(),
        ),
    );
    m.insert(
        "tags".into(),
        Dynamic::from_array(
            tags.iter()
                .map(|t| Dynamic::from(ImmutableString::from(t.as_str())))
                .collect(),
        ),
    );
    m.insert(
        "goal".into(),
        goal.map_or(Dynamic::UNIT, |g| Dynamic::from(ImmutableString::from(g))),
    );
    m.insert(
        "name".into(),
        facts
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.trim().is_empty())
            .map_or(Dynamic::UNIT, |n| n.into()),
    );
    let mut history = Map::new();
    history.insert("messages".into(), Dynamic::from_int(counts.messages as INT));
    history.insert("inbound".into(), Dynamic::from_int(counts.inbound as INT));
    history.insert(
        "outbound".into(),
        Dynamic::from_int(counts.messages.saturating_sub(counts.inbound) as INT),
    );
    m.insert("history".into(), Dynamic::from_map(history));
    Dynamic::from_map(m)
}

/// `buy` or `sell` from a goal fact written any common way ("Buyer", "selling", "list").
fn normalise_goal(goal: &str) -> Option<&'static str> {
    let g = goal.to_ascii_lowercase();
    if g.contains("buy") || g.contains("purchas") {
        Some("buy")
    } else if g.contains("sell") || g.contains("list") {
        Some("sell")
    } else {
        None
    }
}

fn parse_question(rules: &TenantRules, q: Dynamic) -> Result<Option<Question>> {
    if q.is_unit() {
        return Ok(None);
    }
    let err = |message: String| Error::HookResult {
        tenant: rules.id.clone(),
        hook: "next_question".into(),
        message,
    };
    let map = q
        .read_lock::<Map>()
        .ok_or_else(|| err(format!("expected a map or (), got {}", q.type_name())))?;
    let field = |k: &str| map.get(k).and_then(|v| v.clone().into_string().ok());
    let text = field("text").ok_or_else(|| err("`text` must be a string".into()))?;
    Ok(Some(Question {
        id: field("id").unwrap_or_else(|| "question".into()),
        text,
        reason: field("reason").unwrap_or_default(),
    }))
}

fn counted(facts: &Facts, answered: &[String]) -> Facts {
    let mut out = Facts::new();
    for name in answered {
        if name == "property" {
            let parts: Facts = PROPERTY_FACTS
                .iter()
                .filter_map(|k| {
                    facts
                        .get(*k)
                        .filter(|v| crate::is_answered(v))
                        .map(|v| (k.to_string(), v.clone()))
                })
                .collect();
            out.insert(name.clone(), Value::Object(parts));
        } else {
            out.insert(
                name.clone(),
                facts.get(name).cloned().unwrap_or(Value::Null),
            );
        }
    }
    out
}

fn not_counted(facts: &Facts, answered: &[String]) -> serde_json::Map<String, Value> {
    let mut out = serde_json::Map::new();
    for key in DATA_POINTS.iter().chain(PROPERTY_FACTS.iter()) {
        let point = if PROPERTY_FACTS.contains(key) {
            "property"
        } else {
            key
        };
        if answered.iter().any(|a| a == point) {
            continue;
        }
        if let Some(v) = facts.get(*key).filter(|v| !v.is_null()) {
            let why = if is_unsure(v) {
                format!("{v} says the lead does not know")
            } else {
                format!("{v} holds no answer")
            };
            out.insert(key.to_string(), json!(why));
        }
    }
    out
}
