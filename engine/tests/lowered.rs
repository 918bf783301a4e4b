//! Lowered hooks decide exactly as Rhai's interpreter does: the same leads, decided by
//! an engine with lowering on (the default) and one with it off, give the same decision
//! or the same error, for the shipped rules and for test scripts that reach every
//! construct lowering covers (operators on every pair of value types, `switch`,
//! interpolation, literals, indexing, recursion to past the call limit, the data limits,
//! each helper, failing helpers). Each test also checks that the scripts it relies on
//! did lower, so a comparison is never between two interpreted runs.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod common;

use common::Rng;
use qualify_engine::{Engine, Lead, TenantId};
use serde_json::{json, Value};
use std::path::Path;

/// Both engines over one rules folder: lowered (default) and interpreted.
fn engines(rules: &Path) -> (Engine, Engine) {
    let lowered = Engine::builder().rules_dir(rules).build().unwrap();
    let interpreted = Engine::builder()
        .rules_dir(rules)
        .lowering(false)
        .build()
        .unwrap();
    (lowered, interpreted)
}

/// A decision as comparable text: the decision as JSON, or the error's message.
fn outcome(engine: &Engine, tenant: &TenantId, lead: &Value) -> String {
    let lead = Lead::from_json(&lead.to_string()).unwrap();
    match engine.score(tenant, &lead) {
        Ok(d) => serde_json::to_string(&d).unwrap(),
        Err(e) => format!("error: {e}"),
    }
}

fn same_outcomes(lowered: &Engine, interpreted: &Engine, tenant: &str, leads: &[Value]) -> usize {
    let tenant = TenantId::new(tenant).unwrap();
    let mut errors = 0;
    for lead in leads {
        let a = outcome(lowered, &tenant, lead);
        let b = outcome(interpreted, &tenant, lead);
        assert_eq!(a, b, "tenant {tenant}, lead {lead}");
        errors += usize::from(a.starts_with("error"));
    }
    errors
}

fn write(dir: &Path, tenant: &str, file: &str, text: &str) {
    std::fs::create_dir_all(dir.join(tenant)).unwrap();
    std::fs::write(dir.join(tenant).join(file), text).unwrap();
}

#[test]
fn the_default_rules_run_lowered_and_a_script_outside_the_subset_says_why_not() {
    let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/../rules");
    let engine = Engine::open(rules).unwrap();
    assert_eq!(
        engine.rules().interpreted(&TenantId::default()).unwrap(),
        vec![]
    );
    // `points` pushes onto an array with `push`, which lowering does not cover.
    let points = engine
        .rules()
        .interpreted(&TenantId::new("points").unwrap())
        .unwrap();
    assert_eq!(points.len(), 1, "{points:?}");
    assert_eq!(points[0].0, "score");
    assert!(points[0].1.contains("push"), "{points:?}");
    // Turned off, nothing is lowered, and it says so.
    let off = Engine::builder()
        .rules_dir(rules)
        .lowering(false)
        .build()
        .unwrap();
    let why = off.rules().interpreted(&TenantId::default()).unwrap();
    assert!(why[0].1.contains("turned off"), "{why:?}");
}

#[test]
fn the_shipped_rules_decide_the_same_lowered() {
    let rules = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../rules"));
    let (lowered, interpreted) = engines(rules);
    let texts = [
        "We want to buy a 3 bed in Plano, around 450k, pre-approved",
        "selling my house in Frisco asap, it's 4 bedrooms",
        "not sure about budget, maybe 300-400k, cash buyer",
        "Hola, queremos comprar una casa en Dallas, presupuesto 350 mil",
        "STOP",
        "just looking, no timeline",
        "need 2 baths and a garage, budget under half a million, moving in 2 months",
        "",
    ];
    let budgets = [
        json!(450000),
        json!("$450k"),
        json!("not sure"),
        json!(1.5e6),
        Value::Null,
    ];
    let tags = [
        json!([]),
        json!(["Hit List"]),
        json!(["Hot-Lead", "hit list"]),
        json!(["Warm-Lead", "Cold-Lead"]),
    ];
    let goals = [json!("buy"), json!("sell"), Value::Null];
    let mut rng = Rng(0x5eed);
    let leads: Vec<Value> = (0..600)
        .map(|_| {
            let mut facts = serde_json::Map::new();
            let budget = rng.pick(&budgets).clone();
            if !budget.is_null() {
                facts.insert("budget".into(), budget);
            }
            if rng.next() % 2 == 0 {
                facts.insert(
                    "location".into(),
                    rng.pick(&[json!("Plano"), json!(["Allen", "Frisco"]), json!("")])
                        .clone(),
                );
            }
            if rng.next() % 3 == 0 {
                facts.insert(
                    "timeline".into(),
                    rng.pick(&[json!("asap"), json!("next year"), json!("30 days")])
                        .clone(),
                );
            }
            json!({
                "tags": rng.pick(&tags),
                "goal": rng.pick(&goals),
                "facts": facts,
                "messages": [{"from": "lead", "text": rng.pick(&texts)}],
            })
        })
        .collect();
    for tenant in ["default", "points"] {
        same_outcomes(&lowered, &interpreted, tenant, &leads);
    }
}

/// A score hook applying the operator `lead.facts.op` to `lead.facts.a` and
/// `lead.facts.b`, its result in the decision's `rule`. (Interpolating a float, an
/// array or a map is left to Rhai, so float arithmetic is also compared through
/// comparisons: `+>` is `a + b > 1`.)
const OPS: &str = r#"
fn score(lead, cfg) {
    let a = lead.facts.a;
    let b = lead.facts.b;
    let r = ();
    switch lead.facts.op {
        "==" => { r = a == b; }
        "!=" => { r = a != b; }
        "<" => { r = a < b; }
        "<=" => { r = a <= b; }
        ">" => { r = a > b; }
        ">=" => { r = a >= b; }
        "+" => { r = a + b; }
        "-" => { r = a - b; }
        "*" => { r = a * b; }
        "/" => { r = a / b; }
        "%" => { r = a % b; }
        "+>" => { r = a + b > 1; }
        "->" => { r = a - b > 1; }
        "*>" => { r = a * b > 1; }
        "/>" => { r = a / b > 1; }
        "%>" => { r = a % b > 1; }
        "&&" => { r = a && b; }
        "||" => { r = a || b; }
        "??" => { r = a ?? b; }
        "!" => { r = !a; }
        "neg" => { r = -a; }
        "+=" => { r = a; r += b; }
        "-=" => { r = a; r -= b; }
        "*=" => { r = a; r *= b; }
        "if" => { r = if a { "yes" } else { "no" }; }
        "index" => { r = a[b]; }
        "prop" => { r = a.k; }
        "switch" => { r = switch a { 1 => "one", "a" => "A", true => "T", () => "unit", _ => "other" }; }
    }
    #{ score: 0, class: "cold", percent: 0, answered: [], tags: [], remove_tags: [],
       rule: `${r}` }
}
"#;

#[test]
fn every_operator_on_every_pair_of_value_types_gives_what_rhai_gives() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "ops", "score.rhai", OPS);
    let (lowered, interpreted) = engines(dir.path());
    let ops_tenant = TenantId::new("ops").unwrap();
    assert_eq!(lowered.rules().interpreted(&ops_tenant).unwrap(), vec![]);
    let values = [
        Value::Null,
        json!(true),
        json!(false),
        json!(0),
        json!(1),
        json!(2),
        json!(-3),
        json!(i64::MAX),
        json!(1.5),
        json!(2.0),
        // Floats Rhai compares within a relative epsilon (0.1 + 0.2 == 0.3).
        json!(0.300_000_000_000_000_04),
        json!(0.3),
        json!(1e-20),
        json!(1.000_000_000_000_000_2),
        json!("a"),
        json!("b"),
        json!(""),
        json!([1, "x"]),
        json!({"k": 1}),
    ];
    let ops = [
        "==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "%", "+>", "->", "*>", "/>", "%>",
        "&&", "||", "??", "!", "neg", "+=", "-=", "*=", "if", "index", "prop", "switch", "none",
    ];
    let mut leads = Vec::new();
    for op in ops {
        for a in &values {
            for b in &values {
                let mut facts = serde_json::Map::new();
                facts.insert("op".into(), json!(op));
                // An absent fact reads as `()`.
                if !a.is_null() {
                    facts.insert("a".into(), a.clone());
                }
                if !b.is_null() {
                    facts.insert("b".into(), b.clone());
                }
                leads.push(json!({"facts": facts}));
            }
        }
    }
    let errors = same_outcomes(&lowered, &interpreted, "ops", &leads);
    // Both kinds of outcome were compared: type errors and overflows fail in both.
    assert!(
        errors > 100 && errors + 1000 < leads.len(),
        "{errors} errors"
    );
}

/// A score hook reaching the rest of the subset: literals, indexing, `cfg` reads,
/// helpers, recursion, early returns, constants, string building up to the data limit.
const SHAPES: &str = r#"
const LABEL = "shape";

fn depth(n) {
    if n <= 0 { return 0; }
    1 + depth(n - 1)
}

fn fan(n) {
    if n <= 0 { 1 } else { fan(n - 1) + fan(n - 1) }
}

fn score(lead, cfg) {
    let f = lead.facts;
    let kind = f.kind;
    let out = [];
    if kind == "depth" {
        out += depth(f.n);
    } else if kind == "fan" {
        out += fan(f.n);
    } else if kind == "grow" {
        let s = f.s;
        let i = 0;
        s = s + s;
        out += s.len();
        s += s;
        out += len(s);
    } else if kind == "helpers" {
        out += money(f.s);
        out += answered(f.s);
        out += unsure(f.s);
        out += prefixed("P-", f.list);
        out += has(f.list, "x");
        out += has_tag(lead.tags, "Hit List");
        out += first_missing(["a", "x", "z"], f.list);
        out += matches(`${f.s}`, f.pattern);
        out += sms_segments(`${f.s}`);
        out += min(f.n, 3);
        out += max(f.n, 3);
        out += cfg.at("questions", "buyer", "budget");
        out += cfg.at("data_points", f.n);
        out += cfg.len_of("data_points");
        out += cfg["hot_threshold"];
        out += cfg.warm_threshold;
        out += lead.answered_points(cfg);
        out += answered_points(lead, ["budget", ["property", "bedrooms", "location"]]);
        let changes = lead.tag_changes(cfg, f.class);
        out += changes.add;
        out += changes.remove;
    } else if kind == "variant" {
        out += variant(lead, f.s);
    } else if kind == "literal" {
        let m = #{ z: 1, a: [f.n, f.s], m: #{ inner: f.list } };
        out += m.a[0];
        out += m["z"];
        out += m.m.inner;
        out += m.missing;
        out += [1, 2, 3][f.n];
        out += f.list[0] ?? "none";
        return #{ score: 1, class: "warm", percent: 10, answered: [], tags: [],
                  remove_tags: [], rule: `early ${LABEL.len()}` };
    }
    let text = "";
    for_each_is_not_lowered();
    #{ score: out.len(), class: if out.len() > 3 { "warm" } else { "cold" }, percent: 0,
       answered: [], tags: [], remove_tags: [], rule: `${out.len()} items` }
}
"#;

#[test]
fn the_subsets_other_constructs_and_every_helper_give_what_rhai_gives() {
    let dir = tempfile::tempdir().unwrap();
    // The version above calls a function the scripts do not define (not lowered, and an
    // error when run); the version used has that line removed and `LABEL` inlined, since
    // a function cannot read a top-level constant.
    let script = SHAPES
        .replace("    for_each_is_not_lowered();\n", "")
        .replace("${LABEL.len()}", "${len(\"shape\")}")
        .replace("const LABEL = \"shape\";\n", "");
    write(dir.path(), "shapes", "score.rhai", &script);
    write(dir.path(), "refused", "score.rhai", SHAPES);
    let (lowered, interpreted) = engines(dir.path());
    let shapes = TenantId::new("shapes").unwrap();
    assert_eq!(lowered.rules().interpreted(&shapes).unwrap(), vec![]);
    let refused = lowered
        .rules()
        .interpreted(&TenantId::new("refused").unwrap())
        .unwrap();
    assert!(refused.iter().any(|(f, _)| f == "score"), "{refused:?}");

    let big = "x".repeat(20_000);
    let mut rng = Rng(42);
    let mut leads = Vec::new();
    for _ in 0..1500 {
        let kind = *rng.pick(&[
            "depth", "fan", "grow", "helpers", "variant", "literal", "other",
        ]);
        let n = match kind {
            "depth" => rng.next() % 40,
            "fan" => rng.next() % 20,
            _ => rng.next() % 5,
        };
        let s = rng
            .pick(&[
                json!("$450k"),
                json!("not sure"),
                json!("Plano"),
                json!(big.clone()),
                json!(""),
                json!(12),
            ])
            .clone();
        let list = rng
            .pick(&[
                json!(["a", "x"]),
                json!([]),
                json!(["Plano", "", "Frisco"]),
                json!("x"),
            ])
            .clone();
        let pattern = rng
            .pick(&[json!("(?i)plano"), json!("^\\$"), json!("(unclosed")])
            .clone();
        let class = rng
            .pick(&[
                json!("hot"),
                json!("warm"),
                json!("cold"),
                json!("lukewarm"),
            ])
            .clone();
        let tags = rng
            .pick(&[
                json!(["hit list"]),
                json!(["Hot-Lead", "Warm-Lead"]),
                json!([]),
            ])
            .clone();
        let mut facts = json!({
            "kind": kind, "n": n, "s": s, "list": list, "pattern": pattern, "class": class,
        });
        if rng.next() % 2 == 0 {
            facts["budget"] = json!(450000);
            facts["bedrooms"] = json!(3);
        }
        leads.push(json!({"facts": facts, "tags": tags}));
    }
    let errors = same_outcomes(&lowered, &interpreted, "shapes", &leads);
    assert!(errors > 50 && errors < leads.len() / 2, "{errors} errors");
    // The refused version runs on Rhai only: its error is Rhai's own.
    let other = json!({"facts": {"kind": "other"}});
    let e = outcome(&lowered, &TenantId::new("refused").unwrap(), &other);
    assert!(e.contains("for_each_is_not_lowered"), "{e}");
}

#[test]
fn a_setting_over_a_data_limit_read_by_a_lowered_hook_fails_as_in_rhai() {
    let dir = tempfile::tempdir().unwrap();
    let big: Vec<String> = (0..10_001).map(|i| i.to_string()).collect();
    write(
        dir.path(),
        "bigcfg",
        "tenant.yaml",
        &format!("big: [{}]\nsmall: [1, 2]\n", big.join(", ")),
    );
    write(
        dir.path(),
        "bigcfg",
        "score.rhai",
        r#"
fn score(lead, cfg) {
    let key = lead.facts.key;
    let kind = lead.facts.kind;
    let v = ();
    if kind == "prop" {
        if key == "big" { v = cfg.big; } else { v = cfg.small; }
    } else if kind == "index" {
        v = cfg[key];
    } else if kind == "at" {
        v = cfg.at(key);
    }
    let n = if kind == "len_of" { cfg.len_of(key) } else { v.len() };
    #{ score: 0, class: "cold", percent: 0, answered: [], tags: [], remove_tags: [],
       rule: `${n}` }
}
"#,
    );
    let (lowered, interpreted) = engines(dir.path());
    let tenant = TenantId::new("bigcfg").unwrap();
    assert_eq!(lowered.rules().interpreted(&tenant).unwrap(), vec![]);
    let mut leads = Vec::new();
    for kind in ["prop", "index", "at", "len_of"] {
        for key in ["big", "small"] {
            leads.push(json!({"facts": {"kind": kind, "key": key}}));
        }
    }
    let errors = same_outcomes(&lowered, &interpreted, "bigcfg", &leads);
    // Reading the whole big list fails (three ways); its length in place does not.
    assert_eq!(errors, 3);
}

/// Chains Rhai nests to the right (`a[i][j]`, `a[i].f()`), `?.`, and a property `cfg.tag`
/// (Rhai's standard getter for any value, before `cfg`'s indexer): found by a review,
/// each returned another value lowered until refused or left to Rhai.
const CHAINS: &str = r#"
fn score(lead, cfg) {
    let f = lead.facts;
    let r = ();
    switch f.which {
        "index_then_method" => { let l = f.list; r = l[0].money(); }
        "facts_index_then_method" => { r = lead.facts.list[0].money(); }
        "index_twice" => { let a = [10, 20]; let i = f.i; r = a[i][0]; }
        "map_index_twice" => { let m = #{a: 1}; let x = f.x; r = m[x]["k"]; }
        "optional" => { r = f.missing?.answered(); }
        "optional_index" => { r = f.missing?[0]; }
        "cfg_tag" => { r = cfg.tag == (); }
        "cfg_tag_value" => { r = cfg.tag; }
        "cfg_index_tag" => { r = cfg["tag"]; }
    }
    #{ score: 0, class: "cold", percent: 0, answered: [], tags: [], remove_tags: [],
       rule: `${r}` }
}
"#;

#[test]
fn chains_optional_chains_and_cfg_tag_give_what_rhai_gives() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "chains", "score.rhai", CHAINS);
    write(dir.path(), "chains", "tenant.yaml", "tag: x\n");
    let (lowered, interpreted) = engines(dir.path());
    let tenant = TenantId::new("chains").unwrap();
    let why = lowered.rules().interpreted(&tenant).unwrap();
    // The chains Rhai nests to the right and `?.` are not lowered: the hook runs on Rhai.
    assert!(
        why.iter()
            .any(|(f, r)| f == "score" && (r.contains("index") || r.contains("?."))),
        "{why:?}"
    );
    let cases = [
        "index_then_method",
        "facts_index_then_method",
        "index_twice",
        "map_index_twice",
        "optional",
        "optional_index",
        "cfg_tag",
        "cfg_tag_value",
        "cfg_index_tag",
        "none",
    ];
    let mut leads = Vec::new();
    for case in cases {
        leads.push(
            json!({"facts": {"which": case, "list": ["$450k", "300"], "i": [1], "x": {"k": "a"}}}),
        );
        leads.push(json!({"facts": {"which": case, "list": ["$450k"], "i": 1, "x": "a"}}));
    }
    same_outcomes(&lowered, &interpreted, "chains", &leads);

    // Without the refused constructs the hook lowers, and `cfg.tag` still reads as Rhai
    // reads it (its getter, not the setting).
    let tag_only = CHAINS
        .lines()
        .filter(|l| !l.contains("[0]") && !l.contains("?") && !l.contains("[x]"))
        .collect::<Vec<_>>()
        .join("\n");
    write(dir.path(), "tagonly", "score.rhai", &tag_only);
    write(dir.path(), "tagonly", "tenant.yaml", "tag: x\n");
    let (lowered, interpreted) = engines(dir.path());
    let tenant = TenantId::new("tagonly").unwrap();
    assert_eq!(lowered.rules().interpreted(&tenant).unwrap(), vec![]);
    same_outcomes(&lowered, &interpreted, "tagonly", &leads);
}
