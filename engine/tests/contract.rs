//! The hook contract explains itself: a tenant's `score` that returns only what
//! `rules/README.md` calls required still works with the inherited `question.rhai`; a
//! missing required field or a wrong type is reported at the tenant's own file, in words
//! (no Rust syntax); an endless loop is reported at the loop.

#![allow(clippy::unwrap_used)]

mod common;

use common::{tid, write};
use qualify_engine::{Engine, Lead};

fn engine_with(score: &str) -> (tempfile::TempDir, Engine) {
    let rules = common::rules_copy();
    write(&rules.path().join("lean/score.rhai"), score);
    let engine = Engine::open(rules.path()).unwrap();
    (rules, engine)
}

fn lead() -> Lead {
    serde_json::from_value(serde_json::json!({"tags": ["Hit List"], "facts": {"budget": 400000}}))
        .unwrap()
}

#[test]
fn a_score_with_only_the_required_fields_works_with_the_inherited_question() {
    let (_rules, engine) =
        engine_with("fn score(lead, cfg) {\n    #{ score: 1, class: \"cold\" }\n}\n");
    let d = engine.score(&tid("lean"), &lead()).unwrap();
    assert_eq!(d.score, 1);
    assert_eq!(d.question.unwrap().id, "budget");
}

#[test]
fn a_missing_required_field_is_reported_at_the_tenants_own_hook() {
    let (_rules, engine) = engine_with("fn score(lead, cfg) {\n    #{ score: 1 }\n}\n");
    let err = engine.score(&tid("lean"), &lead()).unwrap_err().to_string();
    assert!(err.contains("lean/score.rhai:1:"), "{err}");
    assert!(err.contains("`class`"), "{err}");
    assert!(err.contains("missing"), "{err}");
    assert!(!err.contains("default/"), "{err}");
}

#[test]
fn a_wrong_type_is_said_in_words() {
    let (_rules, engine) = engine_with(
        "fn score(lead, cfg) {\n    #{ score: 1, class: \"lukewarm\", answered: \"budget\" }\n}\n",
    );
    let err = engine.score(&tid("lean"), &lead()).unwrap_err().to_string();
    assert!(err.contains("lean/score.rhai:1:"), "{err}");
    assert!(err.contains("\"lukewarm\""), "{err}");
    assert!(!err.contains("Some("), "{err}");
    let (_rules, engine) =
        engine_with("fn score(lead, cfg) {\n    #{ score: \"high\", class: \"hot\" }\n}\n");
    let err = engine.score(&tid("lean"), &lead()).unwrap_err().to_string();
    assert!(
        err.contains("`score` must be an integer, got a string"),
        "{err}"
    );
}

#[test]
fn an_endless_loop_is_reported_at_the_loop() {
    let script = "fn score(lead, cfg) {\n    let n = 0;\n    let points = 0;\n    if lead.facts.budget != () {\n        points += 1;\n    }\n    while true {\n        n += 1;\n    }\n    #{ score: points, class: \"cold\" }\n}\n";
    let (_rules, engine) = engine_with(script);
    let err = engine.score(&tid("lean"), &lead()).unwrap_err().to_string();
    assert!(
        err.contains("lean/score.rhai:7:") || err.contains("lean/score.rhai:8:"),
        "{err}"
    );
    assert!(err.contains("operation limit"), "{err}");
}

/// Issue 16, item 4: each compiled rule version has a content hash; decisions carry it
/// and so does the stored history; an edit changes it, the same files give the same one.
#[test]
fn decisions_carry_the_rules_version() {
    let (rules, engine) =
        engine_with("fn score(lead, cfg) {\n    #{ score: 1, class: \"cold\" }\n}\n");
    let first = engine.score(&tid("lean"), &lead()).unwrap().rules_version;
    assert!(first.starts_with("r-") && first.len() == 18, "{first}");
    let default = engine
        .score(&tid("default"), &lead())
        .unwrap()
        .rules_version;
    assert_ne!(first, default, "another tenant's files, another version");
    // The same files in another engine (another process would be the same): the same.
    let again = Engine::open(rules.path()).unwrap();
    assert_eq!(
        again.score(&tid("lean"), &lead()).unwrap().rules_version,
        first
    );
    // An edit: a new version.
    write(
        &rules.path().join("lean/score.rhai"),
        "fn score(lead, cfg) {\n    #{ score: 2, class: \"warm\" }\n}\n",
    );
    engine.rules().reload();
    let edited = engine.score(&tid("lean"), &lead()).unwrap().rules_version;
    assert_ne!(edited, first);
    // Stored with the contact's last decision.
    let store = qualify_engine::Store::in_memory(qualify_engine::SecretKey::generate()).unwrap();
    let stateful = Engine::builder()
        .rules_dir(rules.path())
        .store(store)
        .build()
        .unwrap();
    stateful
        .ingest(
            &tid("lean"),
            &common::cid("c1"),
            &qualify_engine::Inbound::text("hello"),
        )
        .unwrap();
    let c = common::stored(&stateful, "lean", "c1");
    assert_eq!(
        c.last.unwrap().rules_version.as_deref(),
        Some(edited.as_str())
    );
}

/// A native function's error (here `range` with a zero step) is reported where the
/// tenant's script called it, not at `0:0` of another tenant's file.
#[test]
fn a_native_function_error_is_reported_at_the_call() {
    let script = "fn score(lead, cfg) {\n    let n = 0;\n    for i in range(0, 10, 0) {\n        n += i;\n    }\n    #{ score: n, class: \"cold\" }\n}\n";
    let (_rules, engine) = engine_with(script);
    let err = engine.score(&tid("lean"), &lead()).unwrap_err().to_string();
    assert!(err.contains("lean/score.rhai:3:"), "{err}");
    assert!(!err.contains(":0:0"), "{err}");
}
