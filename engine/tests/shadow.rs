//! Shadow mode through the public API (`Rules::shadow`): a tenant folder's `candidate/`
//! decides every live decision again off the request path; the report counts exactly the
//! decisions it changes, by kind; a failing or broken candidate never fails a live
//! request; `check` validates the candidate; promoting (moving its files up) stops it.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod common;

use common::{cid, rules_copy, tid, write};
use qualify_engine::conversation::ShadowReport;
use qualify_engine::{Engine, Inbound, Lead, SecretKey, Store, TenantId};
use std::time::{Duration, Instant};

const TIMELINE: &str = "When do you need to move?";
const NEW_TIMELINE: &str = "When would you like to be in your new home?";

/// A candidate that changes one question's text and nothing else.
fn one_question_text(rules: &std::path::Path, tenant: &str) {
    write(&rules.join(format!("{tenant}/tenant.yaml")), "name: Acme\n");
    write(
        &rules.join(format!("{tenant}/candidate/tenant.yaml")),
        &format!("questions:\n  buyer:\n    timeline: \"{NEW_TIMELINE}\"\n"),
    );
}

/// Waits until the candidate has decided everything handed over.
fn settled(engine: &Engine, tenant: &TenantId) -> ShadowReport {
    let start = Instant::now();
    loop {
        let report = engine.rules().shadow(tenant).unwrap();
        if report.pending == 0 {
            return report;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "shadow work never finished: {report:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Leads of every kind: some answered up to the timeline question, some past it.
fn leads(n: usize) -> Vec<Lead> {
    let texts = [
        "Looking to buy in Plano, around 450k",
        "We want a 3 bed in Frisco",
        "budget is 300k",
        "pre-approved, 500k, McKinney, moving next month",
        "just looking",
        "Allen, 350k, 4 beds",
    ];
    (0..n)
        .map(|i| {
            let text = texts[i % texts.len()];
            let json = format!(
                r#"{{"contact_id": "c{i}", "tags": ["Hit List"], "messages": [{{"from": "lead", "text": "{text}"}}]}}"#
            );
            Lead::from_json(&json).unwrap()
        })
        .collect()
}

#[test]
fn the_report_counts_exactly_the_decisions_whose_question_differs() {
    let rules = rules_copy();
    one_question_text(rules.path(), "acme");
    let engine = Engine::open(rules.path()).unwrap();
    let acme = tid("acme");

    let mut expected = 0;
    let leads = leads(240);
    for lead in &leads {
        let d = engine.score(&acme, lead).unwrap();
        // The live request is answered by the serving version, never the candidate.
        assert_ne!(d.next_question.as_deref(), Some(NEW_TIMELINE));
        expected += usize::from(d.next_question.as_deref() == Some(TIMELINE));
    }
    let batch = engine
        .score_batch(&acme, &leads[..60], &Default::default())
        .unwrap();
    for d in batch {
        expected += usize::from(d.unwrap().next_question.as_deref() == Some(TIMELINE));
    }
    assert!(
        expected > 0 && expected < 300,
        "the leads must mix questions"
    );

    let report = settled(&engine, &acme);
    assert_eq!(report.decisions, 300, "{report:?}");
    assert_eq!(report.dropped, 0, "{report:?}");
    assert_eq!(report.failed, 0, "{report:?}");
    assert_eq!(report.compared, 300, "{report:?}");
    assert_eq!(report.changed.question, expected, "{report:?}");
    assert_eq!(report.changed.any, expected, "{report:?}");
    let c = report.changed;
    assert_eq!((c.class, c.score, c.tags, c.handoff), (0, 0, 0, 0));
    assert!(report.transitions.iter().all(|t| t.from == t.to));
    assert_eq!(
        report.transitions.iter().map(|t| t.count).sum::<usize>(),
        300
    );
    let candidate = report.candidate_version.as_deref().expect("a candidate");
    assert_ne!(candidate, report.serving_version);
    assert!(report.since.is_some());

    // Another tenant (no candidate) is not shadowed.
    engine.score(&tid("points"), &leads[0]).unwrap();
    let points = engine.rules().shadow(&tid("points")).unwrap();
    assert_eq!((points.candidate_version, points.decisions), (None, 0));
}

#[test]
fn a_sampled_candidate_decides_exactly_its_share_spread_evenly() {
    let rules = rules_copy();
    one_question_text(rules.path(), "acme");
    let candidate = rules.path().join("acme/candidate/tenant.yaml");
    let text = std::fs::read_to_string(&candidate).unwrap();
    write(&candidate, &format!("{text}shadow:\n  sample: 0.3\n"));
    let engine = Engine::open(rules.path()).unwrap();
    let acme = tid("acme");

    // Three decisions in ten are sampled, spread evenly: the nth (from 1) when
    // floor(0.3 n) grows. Count the question changes among those alone.
    let mut expected = 0;
    for (i, lead) in leads(200).iter().enumerate() {
        let d = engine.score(&acme, lead).unwrap();
        if (i + 1) * 3 / 10 > i * 3 / 10 {
            expected += usize::from(d.next_question.as_deref() == Some(TIMELINE));
        }
    }
    assert!(
        expected > 0 && expected < 60,
        "the leads must mix questions"
    );
    let report = settled(&engine, &acme);
    assert_eq!(report.sample, 0.3);
    assert_eq!((report.decisions, report.skipped), (200, 140), "{report:?}");
    assert_eq!((report.compared, report.dropped), (60, 0), "{report:?}");
    assert_eq!(report.changed.question, expected, "{report:?}");

    // A share that is not one is refused where it is written.
    write(&candidate, &format!("{text}shadow:\n  sample: 1.5\n"));
    engine.rules().reload();
    let report = engine.rules().shadow(&acme).unwrap();
    let why = report.candidate_error.expect("the candidate does not load");
    assert!(why.contains("acme/candidate/tenant.yaml"), "{why}");
    assert!(why.contains("shadow.sample: 1.5 is not a share"), "{why}");
}

#[test]
fn ingested_messages_are_shadowed_from_the_contact_before_them() {
    let rules = rules_copy();
    one_question_text(rules.path(), "acme");
    let store = Store::in_memory(SecretKey::generate()).unwrap();
    let engine = Engine::builder()
        .rules_dir(rules.path())
        .store(store)
        .build()
        .unwrap();
    let acme = tid("acme");
    let conversation = [
        "Hi, we want to buy in Plano",
        "around 450k",
        "not sure yet",
        "pre-approved",
        "in 2 months",
    ];
    let mut expected = 0;
    let mut n = 0;
    for contact in 0..12 {
        let id = cid(&format!("lead-{contact}"));
        for text in conversation.iter().skip(contact % 3) {
            let mut msg = Inbound::text(*text);
            msg.tags = Some(vec!["Hit List".into()]);
            let done = engine.ingest(&acme, &id, &msg).unwrap();
            n += 1;
            expected += usize::from(done.decision.next_question.as_deref() == Some(TIMELINE));
        }
    }
    assert!(expected > 0);
    let report = settled(&engine, &acme);
    assert_eq!((report.decisions, report.compared), (n, n), "{report:?}");
    assert_eq!(report.changed.question, expected, "{report:?}");
    assert_eq!(report.changed.any, expected, "{report:?}");
}

#[test]
fn a_failing_candidate_never_fails_a_live_request() {
    let rules = rules_copy();
    write(&rules.path().join("acme/tenant.yaml"), "name: Acme\n");
    // Runs, then loops until the operation limit stops it.
    write(
        &rules.path().join("acme/candidate/score.rhai"),
        "fn score(lead, cfg) {\n    let n = 0;\n    while true {\n        n += 1;\n    }\n    #{ score: n, class: \"cold\" }\n}\n",
    );
    let engine = Engine::open(rules.path()).unwrap();
    let acme = tid("acme");
    for lead in leads(20) {
        let d = engine.score(&acme, &lead).unwrap();
        assert!(d.rules_version.starts_with("r-"));
    }
    let report = settled(&engine, &acme);
    assert_eq!((report.decisions, report.failed), (20, 20), "{report:?}");
    assert_eq!(report.compared, 0);
    let why = report.first_failure.unwrap();
    assert!(why.contains("acme/candidate/score.rhai:3"), "{why}");
}

#[test]
fn when_the_shadow_threads_are_behind_work_is_dropped_and_counted() {
    let rules = rules_copy();
    write(&rules.path().join("acme/tenant.yaml"), "name: Acme\n");
    // Much slower than the serving rules: a loop of 20,000 rounds, then a valid result.
    write(
        &rules.path().join("acme/candidate/score.rhai"),
        "fn score(lead, cfg) {\n    let n = 0;\n    for i in 0..20000 { n += 1; }\n    #{ score: 0, class: \"cold\", answered: [] }\n}\n",
    );
    let engine = Engine::builder()
        .rules_dir(rules.path())
        .shadow_queue(2)
        .build()
        .unwrap();
    let acme = tid("acme");
    let mut served = Vec::new();
    for lead in leads(60) {
        served.push(engine.score(&acme, &lead).unwrap().rules_version);
    }
    let report = settled(&engine, &acme);
    assert!(served.iter().all(|v| *v == report.serving_version));
    assert_eq!(report.decisions, 60);
    assert!(report.dropped > 0, "{report:?}");
    assert_eq!(report.failed, 0, "{report:?}");
    assert_eq!(report.compared + report.dropped, 60, "{report:?}");
}

#[test]
fn a_candidate_that_does_not_load_is_reported_and_checked() {
    let rules = rules_copy();
    write(&rules.path().join("acme/tenant.yaml"), "name: Acme\n");
    write(
        &rules.path().join("acme/candidate/score.rhai"),
        "fn score(lead, cfg) {\n    let x = ;\n}\n",
    );
    let engine = Engine::open(rules.path()).unwrap();
    let acme = tid("acme");
    let d = engine.score(&acme, &leads(1)[0]).unwrap();
    assert_eq!(d.class.as_str(), "warm");
    let report = engine.rules().shadow(&acme).unwrap();
    assert_eq!(report.candidate_version, None);
    let why = report.candidate_error.expect("the candidate's error");
    assert!(why.contains("acme/candidate/score.rhai:2:"), "{why}");
    assert_eq!(report.decisions, 0);

    let errors = engine.rules().check();
    assert!(
        errors
            .iter()
            .any(|e| e.to_string().contains("acme/candidate/score.rhai:2:")),
        "{errors:?}"
    );
}

#[test]
fn promoting_the_candidate_is_a_file_move() {
    let rules = rules_copy();
    one_question_text(rules.path(), "acme");
    let engine = Engine::open(rules.path()).unwrap();
    let acme = tid("acme");
    let lead = Lead::from_json(
        r#"{"tags": ["Hit List"], "messages": [{"from": "lead", "text": "Plano, 450k"}]}"#,
    )
    .unwrap();
    assert_eq!(
        engine.score(&acme, &lead).unwrap().next_question.as_deref(),
        Some(TIMELINE)
    );
    let before = settled(&engine, &acme);
    assert_eq!(before.changed.question, 1);

    let dir = rules.path().join("acme");
    std::fs::rename(dir.join("candidate/tenant.yaml"), dir.join("tenant.yaml")).unwrap();
    std::fs::remove_dir(dir.join("candidate")).unwrap();
    let reload = engine.rules().reload();
    assert!(reload.errors.is_empty(), "{:?}", reload.errors);
    assert_eq!(
        engine.score(&acme, &lead).unwrap().next_question.as_deref(),
        Some(NEW_TIMELINE)
    );
    let after = engine.rules().shadow(&acme).unwrap();
    assert_eq!((after.candidate_version, after.decisions), (None, 0));
}
