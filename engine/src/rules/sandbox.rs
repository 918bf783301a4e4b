//! The Rhai sandbox: one engine for all tenants, built from `Engine::new_raw()` with only
//! the packages rules need, every limit set, no module resolver, and the helper functions
//! scripts may call. Also turns Rhai's errors into ours with file, line and column.

use crate::text::{is_unsure_text, money_in_text, sms};
use regex::{Regex, RegexBuilder};
use rhai::packages::{Package, StandardPackage};
use rhai::{Array, Dynamic, EvalAltResult, ImmutableString, Map, NativeCallContext, Position, INT};
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, RwLock};

/// Sandbox limits applied to every script evaluation.
///
/// A script that exceeds one fails that evaluation with an error naming the limit; the
/// process and every other tenant carry on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Operations per hook call (the CPU budget; a loop iteration is a few operations).
    pub max_operations: u64,
    /// Nested function calls.
    pub max_call_levels: usize,
    /// Expression nesting at the top level and inside functions.
    pub max_expr_depth: (usize, usize),
    /// Bytes in one string.
    pub max_string_size: usize,
    /// Elements in one array.
    pub max_array_size: usize,
    /// Entries in one map.
    pub max_map_size: usize,
    /// Wall-clock time one hook call may take, checked every few thousand operations
    /// (a machine under load can make the operation budget slow). Shadow mode's threads
    /// count their own CPU time against it instead: they wait for idle cores by design.
    pub max_hook_time: std::time::Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_operations: 200_000,
            max_call_levels: 32,
            max_expr_depth: (64, 32),
            max_string_size: 64 * 1024,
            max_array_size: 10_000,
            max_map_size: 1_000,
            max_hook_time: std::time::Duration::from_millis(500),
        }
    }
}

/// The token a hook stopped for its deadline terminates with.
const TIMED_OUT: &str = "qualify: hook time limit";

/// The token a hook stopped by its caller's budget ([`within_budget`]) terminates with.
const OVER_BUDGET: &str = "qualify: decision budget";

/// When a hook must stop: its start plus its time limit, on the clock its thread counts.
#[derive(Clone, Copy)]
enum Deadline {
    /// The wall clock: a live request's hook, however the machine is loaded.
    Wall(std::time::Instant),
    /// The CPU time the thread itself used (see [`count_cpu_time`]).
    Cpu(std::time::Duration),
    /// The end of the caller's budget ([`within_budget`]), sooner than the hook's limit.
    Budget(std::time::Instant),
}

thread_local! {
    /// When the hook running on this thread must stop.
    static HOOK_DEADLINE: Cell<Option<Deadline>> = const { Cell::new(None) };
    /// Whether this thread's hooks are limited by the CPU time they use.
    static CPU_CLOCK: Cell<bool> = const { Cell::new(false) };
    /// The end of the budget of the calls made within [`within_budget`] on this thread.
    static BUDGET: Cell<Option<std::time::Instant>> = const { Cell::new(None) };
    /// Whether a hook on this thread was stopped by that budget.
    static OVER: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with every hook it calls on this thread stopped once `budget` of wall time
/// has passed since the start (or at the hook's own time limit, when that comes first).
/// Returns `f`'s result and whether the budget stopped a hook: the result is then the
/// error of that hook, and the decision can be made again elsewhere with the full limits.
/// The clock is looked at every few thousand operations, so a hook that stays under
/// that many is never stopped by a budget, however small.
pub fn within_budget<T>(budget: std::time::Duration, f: impl FnOnce() -> T) -> (T, bool) {
    /// Clears the budget when `f` returns or unwinds.
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            BUDGET.with(|b| b.set(None));
        }
    }
    OVER.with(|o| o.set(false));
    BUDGET.with(|b| b.set(Some(std::time::Instant::now() + budget)));
    let reset = Reset;
    let out = f();
    drop(reset);
    (out, OVER.with(|o| o.replace(false)))
}

/// Makes the time limit of hooks run on this thread count only the CPU time the thread
/// uses. For shadow mode's threads: they run in the idle scheduling class, so on a busy
/// machine a hook may wait for a core for longer than its limit without being slow.
pub(crate) fn count_cpu_time() {
    CPU_CLOCK.with(|c| c.set(true));
}

/// Starts the time limit of the hook about to run on this thread.
pub(crate) fn start_deadline(limit: std::time::Duration) {
    let deadline = if CPU_CLOCK.with(Cell::get) {
        Deadline::Cpu(cpu_time::ThreadTime::now().as_duration() + limit)
    } else {
        let own = std::time::Instant::now() + limit;
        match BUDGET.with(Cell::get) {
            Some(budget) if budget < own => Deadline::Budget(budget),
            _ => Deadline::Wall(own),
        }
    };
    HOOK_DEADLINE.with(|t| t.set(Some(deadline)));
}

/// The error that stops a hook past its deadline (named as the time limit in messages,
/// or as the budget).
fn timed_out(token: &'static str) -> Box<EvalAltResult> {
    EvalAltResult::ErrorTerminated(Dynamic::from(token), Position::NONE).into()
}

/// Once the hook running on this thread is past its deadline: the token it stops with
/// ([`TIMED_OUT`], or [`OVER_BUDGET`], noted for [`within_budget`]).
/// True when the hook running on this thread is past its deadline (for lowered runs,
/// which then stop and leave the hook to Rhai).
pub(super) fn past_deadline_now() -> bool {
    past_deadline().is_some()
}

fn past_deadline() -> Option<&'static str> {
    match HOOK_DEADLINE.with(Cell::get)? {
        Deadline::Wall(d) => (std::time::Instant::now() > d).then_some(TIMED_OUT),
        Deadline::Cpu(d) => (cpu_time::ThreadTime::now().as_duration() > d).then_some(TIMED_OUT),
        Deadline::Budget(d) => (std::time::Instant::now() > d).then(|| {
            OVER.with(|o| o.set(true));
            OVER_BUDGET
        }),
    }
}

/// A tenant's settings as scripts see them (`cfg`): read-only, shared between calls
/// without copying (an `Arc`), values reached by `cfg.key` or `cfg["key"]`.
#[derive(Clone)]
pub(crate) struct Cfg(pub Arc<Map>);

/// Upper bound on distinct patterns kept compiled for `matches()` (shared by all
/// tenants; a full cache is emptied and refilled, so a script making up new patterns
/// cannot grow it without bound).
const PATTERN_CACHE: usize = 256;

static PATTERNS: LazyLock<RwLock<HashMap<ImmutableString, Arc<Regex>>>> =
    LazyLock::new(Default::default);

/// Compiles `pattern` once and reuses it; invalid patterns are script errors.
///
/// Compiling takes up to milliseconds in one Rhai operation, far more than the
/// operations between two looks at the clock: the deadline is looked at before each.
pub(super) fn cached_regex(pattern: &ImmutableString) -> Result<Arc<Regex>, Box<EvalAltResult>> {
    if let Some(r) = PATTERNS.read().ok().and_then(|m| m.get(pattern).cloned()) {
        return Ok(r);
    }
    if let Some(token) = past_deadline() {
        return Err(timed_out(token));
    }
    let re = RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| format!("invalid pattern {pattern:?}: {e}"))?;
    let re = Arc::new(re);
    if let Ok(mut m) = PATTERNS.write() {
        if m.len() >= PATTERN_CACHE {
            m.clear();
        }
        m.insert(pattern.clone(), re.clone());
    }
    Ok(re)
}

/// The counting rule on Rhai values (same as [`crate::text::is_answered`] on JSON).
pub(super) fn answered(v: &Dynamic) -> bool {
    if v.is_unit() {
        false
    } else if let Ok(b) = v.as_bool() {
        b
    } else if let Ok(i) = v.as_int() {
        i != 0
    } else if let Ok(f) = v.as_float() {
        f != 0.0
    } else if let Some(s) = v.read_lock::<ImmutableString>() {
        !s.trim().is_empty() && !is_unsure_text(&s)
    } else if let Some(a) = v.read_lock::<Array>() {
        a.iter().any(answered)
    } else if let Some(m) = v.read_lock::<Map>() {
        !m.is_empty()
    } else {
        true
    }
}

pub(super) fn unsure(v: &Dynamic) -> bool {
    if let Some(s) = v.read_lock::<ImmutableString>() {
        !s.trim().is_empty() && is_unsure_text(&s)
    } else if let Some(a) = v.read_lock::<Array>() {
        !a.is_empty() && a.iter().all(unsure)
    } else {
        false
    }
}

/// Two tags are the same tag: equal once trimmed and lower-cased. ASCII tags (nearly
/// all) are compared in place; others lower-cased in full (`to_lowercase` knows the
/// final sigma, which a character-by-character comparison would not).
fn same_tag(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim(), b.trim());
    if a.is_ascii() && b.is_ascii() {
        a.eq_ignore_ascii_case(b)
    } else {
        a.to_lowercase() == b.to_lowercase()
    }
}

/// The one sandboxed Rhai engine all tenants' scripts run in, with its limits.
pub(crate) struct Sandbox {
    pub rhai: rhai::Engine,
    pub limits: Limits,
    /// Whether hooks run lowered when they can (see `lower.rs`); off, every hook runs on
    /// Rhai's interpreter (to compare the two).
    pub lowering: bool,
}

impl Sandbox {
    pub fn new(limits: Limits, lowering: bool) -> Self {
        Self {
            rhai: build_engine(&limits),
            limits,
            lowering,
        }
    }

    /// The sandbox with the coverage counter that instrumented scripts call
    /// (`qualify test --coverage` only; the serving sandbox does not know it).
    pub fn with_coverage(limits: Limits) -> Self {
        let mut rhai = build_engine(&limits);
        rhai.register_fn(super::coverage::HIT_FN, |id: rhai::INT| {
            super::coverage::hit(id)
        });
        Self {
            rhai,
            limits,
            lowering: false,
        }
    }
}

/// Builds the shared, sandboxed Rhai engine.
fn build_engine(limits: &Limits) -> rhai::Engine {
    let mut e = rhai::Engine::new_raw();
    e.register_global_module(StandardPackage::new().as_shared_module());
    // Nothing outside the sandbox: no modules (compiled out), no eval, output to tracing.
    e.disable_symbol("eval");
    // A script may print what it was given (names, budgets, messages): what it printed
    // never reaches a log, only that it printed and where.
    e.on_print(|s| {
        tracing::debug!(target: "qualify::script", chars = s.len(), "print (text withheld: it may hold lead data)")
    });
    e.on_debug(|s, src, pos| {
        tracing::debug!(target: "qualify::script", source = src.unwrap_or(""), %pos, chars = s.len(), "debug (text withheld: it may hold lead data)")
    });
    e.set_max_operations(limits.max_operations);
    e.set_max_call_levels(limits.max_call_levels);
    e.set_max_expr_depths(limits.max_expr_depth.0, limits.max_expr_depth.1);
    e.set_max_string_size(limits.max_string_size);
    e.set_max_array_size(limits.max_array_size);
    e.set_max_map_size(limits.max_map_size);
    e.set_optimization_level(rhai::OptimizationLevel::Simple);
    // No string interner: in a `sync` build it is one lock every thread takes on each
    // property access, and the strings it hands out are shared counters, so two threads
    // deciding at once (the server's pool, shadow mode) slow each other; see
    // BENCHMARKS.md ("Shadow mode's cost").
    e.set_max_strings_interned(0);
    e.on_progress(move |ops| {
        // Looking at the clock costs: every 4,096 operations is enough to stop a hook
        // within a few milliseconds of its deadline.
        if ops % 4096 != 0 {
            return None;
        }
        past_deadline().map(Dynamic::from)
    });

    e.register_type_with_name::<Cfg>("Settings");
    e.register_indexer_get(|c: &mut Cfg, key: &str| -> Dynamic {
        c.0.get(key).cloned().unwrap_or(Dynamic::UNIT)
    });
    // `cfg.key` on a custom type looks for a getter first and, finding none, formats an
    // error before it falls back to the indexer (about 1,200 instructions a read):
    // getters for the documented settings skip that. A tenant's own keys still read
    // through the indexer, with the same result.
    for key in super::folder::default_setting_keys() {
        let name = key.clone();
        e.register_get(&name, move |c: &mut Cfg| -> Dynamic {
            c.0.get(key.as_str()).cloned().unwrap_or(Dynamic::UNIT)
        });
    }
    register_helpers(&mut e);
    register_overrides(&mut e);
    // Lowered hooks match `switch` cases by Rhai's hash of the value: checked once here.
    super::lower::set_switch_hash_agrees(super::lower::switch_hash_agrees(&e));
    e
}

/// Standard-package functions replaced by safe versions: their loops run inside one
/// native call, where neither the operation limit nor the deadline can stop them.
fn register_overrides(e: &mut rhai::Engine) {
    // `pad` with an empty padding string never reaches the length (Rhai's loop appends
    // nothing forever); here it is an error, and the length is held to the string limit.
    fn pad(
        ctx: NativeCallContext,
        s: &mut ImmutableString,
        len: INT,
        padding: &str,
    ) -> Result<(), Box<EvalAltResult>> {
        let Ok(len) = usize::try_from(len) else {
            return Ok(());
        };
        let have = s.chars().count();
        if have >= len {
            return Ok(());
        }
        if padding.is_empty() {
            return Err("pad: the padding string is empty".into());
        }
        let max = ctx.engine().max_string_size();
        let mut out = s.to_string();
        let mut n = have;
        'fill: while n < len {
            for c in padding.chars() {
                if n >= len {
                    break 'fill;
                }
                out.push(c);
                n += 1;
            }
            if max > 0 && out.len() > max {
                return Err(EvalAltResult::ErrorDataTooLarge(
                    "Length of string".into(),
                    ctx.call_position(),
                )
                .into());
            }
        }
        *s = out.into();
        Ok(())
    }
    e.register_fn("pad", pad);
}

/// The helpers scripts may call (documented in `rules/README.md`). Each does its loop in
/// Rust: a tree-walking interpreter pays per statement, so fewer, richer calls win.
fn register_helpers(e: &mut rhai::Engine) {
    e.register_fn("answered", |v: Dynamic| answered(&v));
    e.register_fn("unsure", |v: Dynamic| unsure(&v));
    e.register_fn("money", |v: Dynamic| money(&v));
    e.register_fn(
        "matches",
        |text: &str, pattern: ImmutableString| -> Result<bool, Box<EvalAltResult>> {
            Ok(cached_regex(&pattern)?.is_match(text))
        },
    );
    e.register_fn("sms_segments", |text: &str| sms::segments(text) as INT);
    e.register_fn("answered_points", |lead: &mut Map, points: Array| {
        answered_points(lead, &points)
    });
    e.register_fn(
        "tag_changes",
        |lead: &mut Map, class_tags: Map, class: &str| tag_changes(lead, &class_tags, class),
    );
    e.register_fn("prefixed", |prefix: &str, value: Dynamic| {
        prefixed(prefix, &value)
    });
    e.register_fn("has_tag", |tags: &mut Array, tag: &str| carries(tags, tag));
    e.register_fn("variant", |lead: &mut Map, key: &str| variant(lead, key));
    e.register_fn("has", |list: &mut Array, item: &str| has(list, item));
    e.register_fn("first_missing", |list: Array, done: Array| {
        first_missing(&list, &done)
    });
    // cfg by path, read in place: only the value reached is copied (`cfg.questions` alone
    // would copy the whole map on every read).
    e.register_fn("at", |c: &mut Cfg, a: Dynamic| at(&c.0, &[a]));
    e.register_fn("at", |c: &mut Cfg, a: Dynamic, b: Dynamic| {
        at(&c.0, &[a, b])
    });
    e.register_fn("at", |c: &mut Cfg, a: Dynamic, b: Dynamic, d: Dynamic| {
        at(&c.0, &[a, b, d])
    });
    // Deeper paths, for texts by language: `cfg.at("translations", lang, "questions",
    // goal, point)`.
    e.register_fn(
        "at",
        |c: &mut Cfg, a: Dynamic, b: Dynamic, d: Dynamic, f: Dynamic| at(&c.0, &[a, b, d, f]),
    );
    e.register_fn(
        "at",
        |c: &mut Cfg, a: Dynamic, b: Dynamic, d: Dynamic, f: Dynamic, g: Dynamic| {
            at(&c.0, &[a, b, d, f, g])
        },
    );
    e.register_fn("len_of", |c: &mut Cfg, key: &str| -> INT { len_of(c, key) });
    // The same helpers reading their list from `cfg` in place.
    e.register_fn("answered_points", |lead: &mut Map, c: Cfg| {
        answered_points_in_cfg(lead, &c)
    });
    e.register_fn("tag_changes", |lead: &mut Map, c: Cfg, class: &str| {
        tag_changes_in_cfg(lead, &c, class)
    });
}

/// `cfg.len_of(key)`: the length of a list or map setting (0 for anything else).
pub(super) fn len_of(c: &Cfg, key: &str) -> INT {
    c.0.get(key).map_or(0, |v| match v.read_lock::<Array>() {
        Some(a) => a.len() as INT,
        None => v.read_lock::<Map>().map_or(0, |m| m.len() as INT),
    })
}

/// `answered_points(lead, cfg)`: [`answered_points`] of `cfg.data_points`, read in place.
pub(super) fn answered_points_in_cfg(lead: &Map, c: &Cfg) -> Array {
    match c.0.get("data_points").and_then(|p| p.read_lock::<Array>()) {
        Some(points) => answered_points(lead, &points),
        None => Array::new(),
    }
}

/// `tag_changes(lead, cfg, class)`: [`tag_changes`] of `cfg.class_tags`, read in place.
pub(super) fn tag_changes_in_cfg(lead: &Map, c: &Cfg, class: &str) -> Map {
    match c.0.get("class_tags").and_then(|t| t.read_lock::<Map>()) {
        Some(tags) => tag_changes(lead, &tags, class),
        None => tag_changes(lead, &Map::new(), class),
    }
}

/// `has(list, item)`: the string `item` is in `list` (what `item in list` says, without a
/// call to `==` per element).
pub(super) fn has(list: &Array, item: &str) -> bool {
    list.iter().any(|v| {
        v.read_lock::<ImmutableString>()
            .is_some_and(|s| s.as_str() == item)
    })
}

/// `first_missing(list, done)`: the first string of `list` not in `done`, or `()`.
pub(super) fn first_missing(list: &Array, done: &Array) -> Dynamic {
    list.iter()
        .find(|v| {
            v.read_lock::<ImmutableString>()
                .is_some_and(|s| !has(done, s.as_str()))
        })
        .cloned()
        .unwrap_or(Dynamic::UNIT)
}

/// The value of `cfg` at a path of keys (strings index maps, integers arrays), or `()`.
/// `variant(lead, "key")`: the lead's variant of an experiment (the control while it is
/// not running); an unknown key is an error naming the experiments defined.
pub(super) fn variant(
    lead: &Map,
    key: &str,
) -> std::result::Result<Dynamic, Box<rhai::EvalAltResult>> {
    let known = lead.get("experiments").and_then(|x| x.read_lock::<Map>());
    if let Some(v) = known.as_ref().and_then(|m| m.get(key)) {
        return Ok(v.clone());
    }
    let defined: Vec<String> = known
        .map(|m| m.keys().map(|k| k.to_string()).collect())
        .unwrap_or_default();
    Err(format!(
        "variant: no experiment {key:?} (experiments.yaml defines: {})",
        if defined.is_empty() {
            "none".to_string()
        } else {
            defined.join(", ")
        }
    )
    .into())
}

pub(super) fn at<D: std::borrow::Borrow<Dynamic>>(cfg: &Map, path: &[D]) -> Dynamic {
    let Some((first, rest)) = path.split_first() else {
        return Dynamic::UNIT;
    };
    let Some(start) = first
        .borrow()
        .read_lock::<ImmutableString>()
        .and_then(|k| cfg.get(k.as_str()))
    else {
        return Dynamic::UNIT;
    };
    step(start, rest)
}

fn step<D: std::borrow::Borrow<Dynamic>>(value: &Dynamic, path: &[D]) -> Dynamic {
    let Some((key, rest)) = path.split_first() else {
        return value.clone();
    };
    if let Some(map) = value.read_lock::<Map>() {
        if let Some(next) = key
            .borrow()
            .read_lock::<ImmutableString>()
            .and_then(|k| map.get(k.as_str()))
        {
            return step(next, rest);
        }
    } else if let Some(list) = value.read_lock::<Array>() {
        if let Some(next) = key
            .borrow()
            .as_int()
            .ok()
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| list.get(i))
        {
            return step(next, rest);
        }
    }
    Dynamic::UNIT
}

/// `money(v)`: whole dollars in a number or text ("$450k"), or `()`.
/// Numbers as [`crate::text::parse_money`] reads them in JSON (a float that is not
/// finite is no JSON number: no amount).
pub(super) fn money(v: &Dynamic) -> Dynamic {
    let amount = if let Ok(i) = v.as_int() {
        Some((i as f64).round() as i64)
    } else if let Ok(f) = v.as_float() {
        f.is_finite().then(|| f.round() as i64)
    } else if let Some(s) = v.read_lock::<ImmutableString>() {
        money_in_text(&s)
    } else {
        None
    };
    amount.map_or(Dynamic::UNIT, |n| Dynamic::from(n as INT))
}

/// True when `tags` holds `tag`, ignoring case and surrounding spaces.
pub(super) fn carries(tags: &Array, tag: &str) -> bool {
    tags.iter().any(|t| {
        t.read_lock::<ImmutableString>()
            .is_some_and(|s| same_tag(&s, tag))
    })
}

/// `answered_points(lead, points)`: the names in `points` that the lead's facts answer.
/// An entry is a fact name, or an array `[name, fact, fact, ...]` that counts once when
/// any of its facts is answered (the default rules' `property`).
pub(super) fn answered_points(lead: &Map, points: &Array) -> Array {
    let facts = lead.get("facts").and_then(|f| f.read_lock::<Map>());
    let has = |name: &str| {
        facts
            .as_ref()
            .and_then(|f| f.get(name))
            .is_some_and(answered)
    };
    let mut out = Array::new();
    for p in points {
        if let Some(name) = p.read_lock::<ImmutableString>() {
            if has(&name) {
                out.push(Dynamic::from(name.clone()));
            }
        } else if let Some(group) = p.read_lock::<Array>() {
            let mut parts = group
                .iter()
                .filter_map(|d| d.read_lock::<ImmutableString>().map(|s| s.clone()));
            if let Some(name) = parts.next() {
                if parts.any(|fact| has(&fact)) {
                    out.push(Dynamic::from(name));
                }
            }
        }
    }
    out
}

/// `tag_changes(lead, class_tags, class)`: `#{add, remove}` where `add` is the class's
/// tags and `remove` the other classes' tags the lead carries (case and spaces ignored).
pub(super) fn tag_changes(lead: &Map, class_tags: &Map, class: &str) -> Map {
    let current = lead.get("tags").and_then(|t| t.read_lock::<Array>());
    let has = |tag: &str| current.as_ref().is_some_and(|tags| carries(tags, tag));
    let mut remove = Array::new();
    let mut add = Dynamic::from_array(Array::new());
    for (name, tags) in class_tags {
        if name.as_str() == class {
            add = tags.clone();
            continue;
        }
        if let Some(list) = tags.read_lock::<Array>() {
            for t in list.iter() {
                if t.read_lock::<ImmutableString>().is_some_and(|s| has(&s)) {
                    remove.push(t.clone());
                }
            }
        }
    }
    let mut out = Map::new();
    out.insert("add".into(), add);
    out.insert("remove".into(), Dynamic::from_array(remove));
    out
}

/// `prefixed(prefix, value)`: `prefix + value` for a value, or for each answered item of
/// an array (e.g. one `Location-<place>` tag per location).
pub(super) fn prefixed(prefix: &str, value: &Dynamic) -> Array {
    let one = |v: &Dynamic| Dynamic::from(ImmutableString::from(format!("{prefix}{v}")));
    if let Some(items) = value.read_lock::<Array>() {
        items.iter().filter(|v| answered(v)).map(one).collect()
    } else if answered(value) {
        vec![one(value)]
    } else {
        Array::new()
    }
}

/// A script error located in a file: `(function, position, message)` of the innermost
/// failure, with the position stripped from the message. `is_script` tells the scripts'
/// functions from native ones: an error inside a native function (`range` with a zero
/// step) has no position of its own and is placed at its call in the script function
/// that called it, its name leading the message.
pub(crate) fn locate(
    err: &EvalAltResult,
    limits: &Limits,
    is_script: impl Fn(&str) -> bool,
) -> (Option<String>, Position, String) {
    let mut func = None;
    let mut native: Option<(&str, Position)> = None;
    let mut err = err;
    while let EvalAltResult::ErrorInFunctionCall(name, _, inner, at) = err {
        if is_script(name) {
            func = Some(name.clone());
        } else if native.is_none() {
            native = Some((name.as_str(), *at));
        }
        err = inner;
    }
    let pos = match (err.position(), native) {
        (p, Some((_, at))) if p.is_none() => at,
        (p, _) => p,
    };
    let message = match err {
        EvalAltResult::ErrorTerminated(token, _) if token.to_string() == TIMED_OUT => format!(
            "time limit of {} ms exceeded; evaluation stopped",
            limits.max_hook_time.as_millis()
        ),
        EvalAltResult::ErrorTerminated(token, _) if token.to_string() == OVER_BUDGET => {
            "the caller's time budget ran out; evaluation stopped (the decision may be made again with the full limits)".to_string()
        }
        EvalAltResult::ErrorTooManyOperations(_) => format!(
            "operation limit of {} exceeded (an endless loop?); evaluation stopped",
            limits.max_operations
        ),
        EvalAltResult::ErrorStackOverflow(_) => format!(
            "call depth limit of {} exceeded (runaway recursion?); evaluation stopped",
            limits.max_call_levels
        ),
        EvalAltResult::ErrorDataTooLarge(what, _) => {
            format!("{what} exceeds its size limit; evaluation stopped")
        }
        other => {
            let text = other.to_string();
            let suffix = format!(" ({})", other.position());
            let text = text
                .strip_suffix(&suffix)
                .map(str::to_string)
                .unwrap_or(text);
            match native {
                Some((name, _)) if !text.contains(name) => format!("{name}: {text}"),
                _ => text,
            }
        }
    };
    (func, pos, message)
}

/// Line and column of a position, 0 when unknown.
pub(crate) fn line_col(pos: Position) -> (usize, usize) {
    (pos.line().unwrap_or(0), pos.position().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_the_same_whatever_their_case_and_spaces() {
        assert!(same_tag("  Hot-Lead ", "hot-lead"));
        assert!(same_tag("ÉTÉ", "été"));
        assert!(same_tag("Cliente Caliente", "cliente caliente"));
        assert!(!same_tag("Hot-Lead", "Warm-Lead"));
        assert!(!same_tag("été", "ete"));
        // Lower-cased as words: a final capital sigma is a final sigma.
        assert!(same_tag("ΟΔΟΣ", "οδος"));
    }

    #[test]
    fn money_reads_numbers_as_json_would() {
        assert_eq!(money(&Dynamic::from_int(450_000)).as_int(), Ok(450_000));
        assert_eq!(money(&Dynamic::from_float(449_999.6)).as_int(), Ok(450_000));
        assert!(money(&Dynamic::from_float(f64::NAN)).is_unit());
        assert_eq!(money(&Dynamic::from("$450k")).as_int(), Ok(450_000));
        assert!(money(&Dynamic::from("soon")).is_unit());
        assert!(money(&Dynamic::from_bool(true)).is_unit());
    }
}
