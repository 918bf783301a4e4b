//! The engine through its public API: the shipped tenants' cases, inheritance, reloads
//! that keep the previous version, sandbox limits and bad input.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod common;

use common::{rules_copy, shipped_rules, tid, write};
use qualify_engine::rules::Limits;
use qualify_engine::{Engine, Error, Lead, TenantId};
use serde_json::json;

fn lead(v: serde_json::Value) -> Lead {
    serde_json::from_value(v).unwrap()
}

#[test]
fn shipped_cases_all_pass() {
    let engine = Engine::open(shipped_rules()).unwrap();
    assert_eq!(engine.rules().tenants(), ["default", "points"]);
    for tenant in engine.rules().tenants() {
        let report = engine.rules().run_cases(&tenant).unwrap();
        for r in &report.results {
            assert!(r.passed(), "{tenant}: {}: {:?}", r.name, r.failures);
        }
        assert!(report.passed() >= 7, "{tenant} has too few cases");
    }
}

#[test]
fn a_failing_case_is_reported_with_the_difference() {
    let dir = rules_copy();
    write(
        &dir.path().join("default/cases.yaml"),
        "- name: wrong on purpose\n  lead: {tags: [Hit List], facts: {budget: 1}}\n  expect: {score: 2, class: hot, question: location}\n",
    );
    let engine = Engine::open(dir.path()).unwrap();
    let report = engine.rules().run_cases(&tid("default")).unwrap();
    assert_eq!((report.passed(), report.failed()), (0, 1));
    let f = &report.results[0].failures;
    assert!(f.contains(&"score: expected 2, got 1".to_string()), "{f:?}");
    assert!(
        f.contains(&"class: expected hot, got cold".to_string()),
        "{f:?}"
    );
    assert_eq!(f.len(), 2, "question location is right: {f:?}");
}

#[test]
fn prototype_classification_edges() {
    let engine = Engine::builder().build().unwrap();
    let percent = [5, 15, 30, 50, 65, 75, 85, 100];
    let points = [
        "budget",
        "location",
        "timeline",
        "bedrooms",
        "financing",
        "motivation",
        "home_condition",
    ];
    for n in 0..=7 {
        let facts: serde_json::Map<_, _> = points[..n]
            .iter()
            .map(|p| (p.to_string(), json!("yes 1")))
            .collect();
        let d = engine
            .score(
                &tid("default"),
                &lead(json!({"tags": ["Hit List"], "facts": facts})),
            )
            .unwrap();
        assert_eq!(d.score, n as i64);
        assert_eq!(d.percent, percent[n]);
        let class = match n {
            0 | 1 => "cold",
            2 => "warm",
            _ => "hot",
        };
        assert_eq!(d.class.as_str(), class, "{n} answers");
        assert_eq!(d.handoff, n >= 3);
    }
}

#[test]
fn explanation_names_counted_and_skipped_facts() {
    let engine = Engine::builder().build().unwrap();
    let d = engine
        .score(&tid("default"), &lead(json!({"tags": ["Hit List"], "facts": {"budget": 450000, "timeline": "not sure", "bedrooms": 3}})))
        .unwrap();
    assert_eq!(
        d.explain.counted,
        json!({"budget": 450000, "property": {"bedrooms": 3}})
            .as_object()
            .unwrap()
            .clone()
    );
    assert!(d.explain.not_counted["timeline"]
        .as_str()
        .unwrap()
        .contains("does not know"));
    assert_eq!(
        d.explain.class_rule,
        "score 2 >= warm threshold 2 (hot at 3)"
    );
    assert!(d.explain.gate.contains("Hit List"));
    assert!(d
        .explain
        .question
        .starts_with("location: first unanswered data point in the buyer order"));
}

#[test]
fn override_tenant_inherits_what_it_does_not_replace() {
    let engine = Engine::open(shipped_rules()).unwrap();
    let l = lead(
        json!({"tags": ["Hit List"], "facts": {"budget": 450000, "location": "Plano", "timeline": "in 6 months"}}),
    );
    let default = engine.score(&tid("default"), &l).unwrap();
    let points = engine.score(&tid("points"), &l).unwrap();
    assert_eq!((default.score, default.class.as_str()), (3, "hot"));
    // points: 30 + 25 + 15 = 70 -> hot at 70 as well, but by points.
    assert_eq!((points.score, points.class.as_str()), (70, "hot"));
    // The hand-off text comes from the inherited question.rhai and tenant.yaml.
    assert_eq!(points.next_question, default.next_question);
    let l = lead(json!({"tags": ["Hit List"], "facts": {"budget": 450000}}));
    assert_eq!(
        engine
            .score(&tid("points"), &l)
            .unwrap()
            .question
            .unwrap()
            .id,
        "location"
    );
}

#[test]
fn a_new_tenant_folder_with_only_settings_inherits_the_scripts() {
    let dir = rules_copy();
    write(
        &dir.path().join("strict/tenant.yaml"),
        "hot_threshold: 5\nwarm_threshold: 3\nactivation_tags: []\n",
    );
    let engine = Engine::open(dir.path()).unwrap();
    let d = engine
        .score(
            &tid("strict"),
            &lead(json!({"facts": {"budget": 1, "location": "X", "timeline": "asap"}})),
        )
        .unwrap();
    assert_eq!((d.score, d.class.as_str(), d.active), (3, "warm", true));
    assert_eq!(d.question.unwrap().id, "property");
}

/// A tenant folder created while the engine runs: served on first use when the tenant
/// was never asked for, and after a reload (or within a second) when it was asked for
/// while it had no folder (that answer is remembered briefly, so a registered tenant
/// without a folder costs no look on disk per decision).
#[test]
fn a_tenant_folder_created_while_running_is_served() {
    let dir = rules_copy();
    let engine = Engine::open(dir.path()).unwrap();
    let l = lead(json!({"facts": {"budget": 1, "location": "X", "timeline": "asap"}}));
    let strict = "hot_threshold: 5\nwarm_threshold: 3\nactivation_tags: []\n";

    // Never asked for before its folder existed: found at once.
    write(&dir.path().join("fresh/tenant.yaml"), strict);
    let d = engine.score(&tid("fresh"), &l).unwrap();
    assert_eq!(d.class.as_str(), "warm");

    // Asked for without a folder, then given one: a reload finds it.
    let unknown = engine.score(&tid("later"), &l).unwrap_err();
    assert!(matches!(unknown, Error::UnknownTenant(_)), "{unknown}");
    write(&dir.path().join("later/tenant.yaml"), strict);
    engine.rules().reload();
    let d = engine.score(&tid("later"), &l).unwrap();
    assert_eq!(d.class.as_str(), "warm");

    // …and without a reload, once the remembered answer is older than a second.
    assert!(engine.score(&tid("patient"), &l).is_err());
    write(&dir.path().join("patient/tenant.yaml"), strict);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let d = engine.score(&tid("patient"), &l).unwrap();
    assert_eq!(d.class.as_str(), "warm");
}

#[test]
fn syntax_error_names_file_line_column_and_previous_version_keeps_serving() {
    let dir = rules_copy();
    let engine = Engine::open(dir.path()).unwrap();
    let l = lead(json!({"tags": ["Hit List"], "facts": {"budget": 400000}}));
    assert_eq!(engine.score(&tid("points"), &l).unwrap().score, 30);

    let score = dir.path().join("points/score.rhai");
    let named = std::path::Path::new("points/score.rhai");
    let original = std::fs::read_to_string(&score).unwrap();
    write(
        &score,
        &original.replace(
            "let p = cfg.points;",
            "let p = cfg.points;\n    let broken = ;",
        ),
    );
    let report = engine.rules().reload();
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    let msg = report.errors[0].to_string();
    assert!(
        msg.starts_with(&format!("{}:8:18: ", named.display())),
        "{msg}"
    );
    // Still serving the previous version.
    assert_eq!(engine.score(&tid("points"), &l).unwrap().score, 30);
    // `check` sees the broken file too.
    assert!(engine.rules().check().iter().any(|e| e.to_string() == msg));

    // Fixed, with a different weight: the new version serves.
    write(
        &score,
        &original.replace("points += p.budget;", "points += p.budget + 1;"),
    );
    let report = engine.rules().reload();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.reloaded, ["points"]);
    assert_eq!(engine.score(&tid("points"), &l).unwrap().score, 31);
}

#[test]
fn a_tenant_that_never_compiled_is_unavailable_but_others_serve() {
    let dir = rules_copy();
    write(
        &dir.path().join("broken/score.rhai"),
        "fn score(lead, cfg) { if }",
    );
    let engine = Engine::open(dir.path()).unwrap();
    let l = lead(json!({"tags": ["Hit List"]}));
    let err = engine.score(&tid("broken"), &l).unwrap_err();
    assert!(matches!(err, Error::TenantUnavailable { .. }), "{err}");
    assert!(err.to_string().contains("score.rhai:1:"), "{err}");
    assert!(engine.score(&tid("default"), &l).is_ok());
}

fn limited_tenant(body: &str) -> (tempfile::TempDir, Engine) {
    let dir = rules_copy();
    write(&dir.path().join("evil/score.rhai"), body);
    let engine = Engine::open(dir.path()).unwrap();
    (dir, engine)
}

#[test]
fn an_infinite_loop_is_stopped_by_the_operation_limit() {
    let (_dir, engine) = limited_tenant("fn score(lead, cfg) {\n    loop { }\n}\n");
    let err = engine.score(&tid("evil"), &lead(json!({}))).unwrap_err();
    let Error::Script {
        line,
        message,
        hook,
        ..
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!((hook.as_str(), *line), ("score", 2), "points at the loop");
    assert!(message.contains("operation limit"), "{message}");
    // The process and the other tenants are fine.
    assert!(engine.score(&tid("default"), &lead(json!({}))).is_ok());
}

#[test]
fn deep_recursion_is_stopped_by_the_call_depth_limit() {
    let (_dir, engine) =
        limited_tenant("fn dive(n) { dive(n + 1) }\nfn score(lead, cfg) { dive(0) }\n");
    let err = engine.score(&tid("evil"), &lead(json!({}))).unwrap_err();
    assert!(err.to_string().contains("call depth limit"), "{err}");
    assert!(err.to_string().contains("evil/score.rhai:"), "{err}");
}

#[test]
fn a_giant_string_is_stopped_by_the_size_limit() {
    let (_dir, engine) = limited_tenant(
        "fn score(lead, cfg) {\n    let s = \"xxxxxxxx\";\n    while true { s += s; }\n}\n",
    );
    let err = engine.score(&tid("evil"), &lead(json!({}))).unwrap_err();
    assert!(err.to_string().contains("exceeds its size limit"), "{err}");
    let (_dir, engine) = limited_tenant("fn score(lead, cfg) { let a = []; loop { a.push(1); } }");
    assert!(engine
        .score(&tid("evil"), &lead(json!({})))
        .unwrap_err()
        .to_string()
        .contains("size limit"));
}

#[test]
fn limits_are_configurable() {
    let engine = Engine::builder()
        .limits(Limits {
            max_operations: 10,
            ..Limits::default()
        })
        .build()
        .unwrap();
    let err = engine.score(&tid("default"), &lead(json!({}))).unwrap_err();
    assert!(err.to_string().contains("operation limit of 10"), "{err}");
}

#[test]
fn scripts_have_no_file_or_module_access() {
    for body in [
        r#"import "std" as s; fn score(lead, cfg) { #{score: 0, class: "cold"} }"#,
        r#"fn score(lead, cfg) { eval("1"); #{score: 0, class: "cold"} }"#,
        r#"fn score(lead, cfg) { open_file("/etc/passwd"); #{score: 0, class: "cold"} }"#,
    ] {
        let (_dir, engine) = limited_tenant(body);
        assert!(
            engine.score(&tid("evil"), &lead(json!({}))).is_err(),
            "{body}"
        );
    }
}

#[test]
fn a_hook_returning_the_wrong_shape_is_a_clear_error() {
    let (_dir, engine) =
        limited_tenant(r#"fn score(lead, cfg) { #{score: 1, class: "lukewarm"} }"#);
    let err = engine.score(&tid("evil"), &lead(json!({}))).unwrap_err();
    assert!(
        err.to_string()
            .contains("`class` must be \"hot\", \"warm\" or \"cold\""),
        "{err}"
    );
}

#[test]
fn bad_input_is_rejected_clearly() {
    let engine = Engine::builder().build().unwrap();
    let err = Lead::from_json(r#"{"facts": {"budget": 1}, "tags": "Hit List"}"#).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("invalid lead: invalid type: string"),
        "{err}"
    );
    assert!(err.to_string().contains("line 1 column"), "{err}");
    assert!(Lead::from_json("{not json").is_err());
    assert!(matches!(
        engine.score(&tid("nobody"), &Lead::default()),
        Err(Error::UnknownTenant(_))
    ));
    // Ids are checked at the boundary: an invalid one never reaches a call.
    assert!(matches!(
        TenantId::new("../default"),
        Err(Error::InvalidId { kind: "tenant", .. })
    ));
}

#[test]
fn prototype_payload_shapes_are_accepted() {
    let engine = Engine::builder().build().unwrap();
    let l = Lead::from_json(
        r#"{"extracted_preferences": {"budget": 400000},
            "conversation_history": [{"role": "user", "content": "in Dallas"},
                                     {"role": "assistant", "content": "great"}],
            "tags": ["Hit List"]}"#,
    )
    .unwrap();
    let d = engine.score(&tid("default"), &l).unwrap();
    assert_eq!(d.answered, ["budget", "location"]);
}

#[test]
fn the_engine_is_shared_across_threads() {
    let engine = Engine::builder().build().unwrap();
    std::thread::scope(|s| {
        for i in 0..4 {
            let engine = engine.clone();
            s.spawn(move || {
                for _ in 0..50 {
                    let d = engine
                        .score(
                            &tid("default"),
                            &lead(json!({"tags": ["Hit List"], "facts": {"budget": i + 1}})),
                        )
                        .unwrap();
                    assert_eq!(d.score, 1);
                }
            });
        }
    });
}

/// `score_each` (one lead after another on the calling thread) and `score_batch` (every
/// core) decide a batch alike: the same decisions in the leads' order, a lead that
/// cannot be decided as its own entry, and an unknown tenant as the call's error.
#[test]
fn score_each_decides_a_batch_as_score_batch_does() {
    let engine = Engine::open(shipped_rules()).unwrap();
    let mut leads: Vec<Lead> = [
        "We want to buy in Plano, around 450k, pre-approved, asap",
        "just looking",
        "selling our 3 bed in Frisco next month",
    ]
    .iter()
    .map(|text| lead(json!({"tags": ["Hit List"], "messages": [{"from": "lead", "text": text}]})))
    .collect();
    // A lead far over the sandbox's data limits fails alone.
    leads.insert(1, lead(json!({"facts": {"notes": "x".repeat(2_000_000)}})));
    let options = Default::default();
    let each = engine
        .score_each(&tid("default"), &leads, &options)
        .unwrap();
    let batch = engine
        .score_batch(&tid("default"), &leads, &options)
        .unwrap();
    assert_eq!(each.len(), 4);
    assert!(each[1].is_err() && batch[1].is_err());
    for (e, b) in each.iter().zip(&batch).filter(|(e, _)| e.is_ok()) {
        let (e, b) = (e.as_ref().unwrap(), b.as_ref().unwrap());
        assert_eq!((e.score, e.class, &e.tags), (b.score, b.class, &b.tags));
        assert_eq!(e.next_question, b.next_question);
    }
    assert_eq!(each[0].as_ref().unwrap().class.as_str(), "hot");
    let unknown = TenantId::new("nobody").unwrap();
    assert!(matches!(
        engine.score_each(&unknown, &leads, &options),
        Err(Error::UnknownTenant(_))
    ));
}
