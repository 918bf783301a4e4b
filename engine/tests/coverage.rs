//! Coverage of a tenant's scripts by its cases (`Rules::coverage`): an `else` no case
//! takes is reported at its file and line, the lines under it as never run; the shipped
//! rules' cases reach every branch that their settings can reach.

mod common;

use common::{rules_copy, tid, write};
use qualify_engine::rules::BranchKind;
use qualify_engine::Engine;
use std::path::Path;

const QUESTION: &str = r#"// Hot leads are handed off; the others are asked their budget.
fn next_question(lead, result, cfg) {
    if result.class == "hot" {
        return #{ id: "handoff", text: cfg.handoff, reason: "hot" };
    } else {
        let text = cfg.at("questions", "buyer", "budget");
        return #{ id: "budget", text: text, reason: "not hot" };
    }
}
"#;

const CASES: &str = r#"
- name: a hot lead is handed off
  lead: {tags: [Hit List], facts: {budget: 400000, location: Plano, timeline: asap}}
  expect: {class: hot, question: handoff}
"#;

#[test]
fn an_else_no_case_takes_is_reported_at_its_file_and_line() {
    let rules = rules_copy();
    write(&rules.path().join("elsey/question.rhai"), QUESTION);
    write(&rules.path().join("elsey/cases.yaml"), CASES);
    let engine = Engine::open(rules.path()).unwrap();
    let cov = engine.rules().coverage(&tid("elsey")).unwrap();
    assert_eq!(cov.cases.failed(), 0, "{:?}", cov.cases);

    let file = cov
        .files
        .iter()
        .find(|f| f.file == Path::new("elsey/question.rhai"))
        .expect("the tenant's own script is reported");
    let branch = |kind| file.branches.iter().find(|b| b.kind == kind).unwrap();
    assert_eq!(
        (branch(BranchKind::Then).line, branch(BranchKind::Then).hits),
        (3, 1)
    );
    let other = branch(BranchKind::Else);
    assert_eq!((other.line, other.hits), (5, 0), "{file:?}");
    assert_eq!(file.lines_not_run, [6, 7], "{file:?}");
    assert_eq!(file.branches_taken(), 1);

    // The inherited score.rhai is reported too, under its own name; the default's
    // question.rhai is replaced by the tenant's and not reported.
    assert!(cov
        .files
        .iter()
        .any(|f| f.file == Path::new("default/score.rhai")));
    assert!(!cov
        .files
        .iter()
        .any(|f| f.file == Path::new("default/question.rhai")));
    assert!(cov.unreached.questions.contains(&"budget".to_string()));
}

#[test]
fn coverage_leaves_the_serving_rules_alone() {
    let rules = rules_copy();
    let engine = Engine::open(rules.path()).unwrap();
    let before = engine.rules().run_cases(&tid("default")).unwrap();
    let cov = engine.rules().coverage(&tid("default")).unwrap();
    assert_eq!(cov.cases.passed(), before.passed());
    // A serving script calling the counter by name does not find it: the serving
    // sandbox does not know it.
    write(
        &rules.path().join("spy/score.rhai"),
        "fn score(lead, cfg) { __qualify_coverage_hit(1); #{} }\n",
    );
    let err = engine
        .score(&tid("spy"), &Default::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("__qualify_coverage_hit"), "{err}");
}

#[test]
fn the_shipped_rules_take_every_reachable_branch() {
    let engine = Engine::open(common::shipped_rules()).unwrap();
    for tenant in ["default", "points"] {
        let cov = engine.rules().coverage(&tid(tenant)).unwrap();
        assert_eq!(cov.cases.failed(), 0);
        assert!(
            cov.unreached.classes.is_empty(),
            "{tenant}: {:?}",
            cov.unreached
        );
        // A text key sent under another id (`budget_confirm` under `budget`) counts as
        // chosen when a case's question has its text.
        if tenant == "default" {
            let q = &cov.unreached.questions;
            assert!(!q.contains(&"budget_confirm".to_string()), "{q:?}");
        }
        // Each script is held to the cases of the tenant that owns it: `points` inherits
        // `default/question.rhai`, whose branches `default`'s cases take.
        let own = |f: &&qualify_engine::rules::FileCoverage| f.file.starts_with(tenant);
        for f in cov.files.iter().filter(own) {
            for b in f.branches.iter().filter(|b| b.hits == 0) {
                // The one guard no shipped setting can reach: a lead who answered every
                // question of its order is hot under every shipped threshold, so
                // "nothing left to ask" is for tenants with a higher one.
                assert_eq!(
                    (f.file.to_str().unwrap(), b.line),
                    ("default/question.rhai", 18),
                    "{tenant}: {} {b:?} never taken",
                    f.file.display()
                );
            }
        }
    }
}

#[test]
fn a_candidate_is_tested_and_covered_in_place() {
    let rules = rules_copy();
    write(&rules.path().join("elsey/tenant.yaml"), "name: Elsey\n");
    write(
        &rules.path().join("elsey/candidate/question.rhai"),
        QUESTION,
    );
    write(&rules.path().join("elsey/candidate/cases.yaml"), CASES);
    let engine = Engine::open(rules.path()).unwrap();
    let elsey = tid("elsey");

    let cases = engine.rules().run_candidate_cases(&elsey).unwrap().unwrap();
    assert_eq!((cases.passed(), cases.failed()), (1, 0));
    let cov = engine.rules().candidate_coverage(&elsey).unwrap().unwrap();
    let file = cov
        .files
        .iter()
        .find(|f| f.file == Path::new("elsey/candidate/question.rhai"))
        .expect("the candidate's script is reported under its own name");
    let other = file
        .branches
        .iter()
        .find(|b| b.kind == BranchKind::Else)
        .unwrap();
    assert_eq!((other.line, other.hits), (5, 0), "{file:?}");
    // The serving version's coverage is untouched: its question.rhai is the default's.
    let serving = engine.rules().coverage(&elsey).unwrap();
    assert!(serving
        .files
        .iter()
        .any(|f| f.file == Path::new("default/question.rhai")));
    // A tenant without a candidate has none to test.
    assert!(engine
        .rules()
        .run_candidate_cases(&tid("points"))
        .unwrap()
        .is_none());

    // A candidate that does not load says where.
    write(
        &rules.path().join("elsey/candidate/question.rhai"),
        "fn next_question(lead, result, cfg) {\n    let = 1;\n}\n",
    );
    engine.rules().reload();
    let err = engine
        .rules()
        .run_candidate_cases(&elsey)
        .unwrap_err()
        .to_string();
    assert!(err.contains("elsey/candidate/question.rhai:2:"), "{err}");
}
