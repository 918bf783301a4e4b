//! Experiments through the public API: assignment (weights, independence of seeds,
//! recorded at first exposure), variants' values in decisions, outcomes the engine sees
//! and outcomes reported from outside, stopping, `variant(lead, key)` in scripts, and an
//! end-to-end run of a few hundred conversations whose analysis must match what the test
//! counted itself.

#![allow(clippy::unwrap_used)]

mod common;

use common::{cid, rules_copy, tid, write};
use qualify_engine::clock::ManualClock;
use qualify_engine::conversation::OutcomeReport;
use qualify_engine::experiment::{definition, Experiment};
use qualify_engine::model::{Chosen, Tier};
use qualify_engine::{Engine, Error, Inbound, Lead, SecretKey, Store};
use statrs::distribution::{ChiSquared, ContinuousCDF};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

const T0: &str = "2026-03-02T15:00:00Z";

const BUDGET_TEST: &str = r#"
experiments:
  - key: budget_wording
    description: a friendlier budget question
    seed: budget-2026
    metric: reached_hot
    guardrails: [opted_out, replied_within_24h, appointment_booked]
    variants:
      - name: control
        weight: 1
      - name: friendly
        weight: 1
        values:
          questions:
            buyer:
              budget: "Ballpark, what price range feels comfortable?"
"#;

fn parse(yaml: &str) -> Vec<Experiment> {
    definition::parse(yaml, Path::new("t/experiments.yaml")).unwrap()
}

struct Setup {
    engine: Engine,
    clock: Arc<ManualClock>,
    rules: tempfile::TempDir,
}

/// Tenant `abtest` (the default rules plus `experiments`), registered, with a store.
fn setup(experiments: &str) -> Setup {
    let rules = rules_copy();
    write(&rules.path().join("abtest/experiments.yaml"), experiments);
    let clock = Arc::new(ManualClock::new(T0.parse().unwrap()));
    let engine = Engine::builder()
        .rules_dir(rules.path())
        .store(Store::in_memory(SecretKey::generate()).unwrap())
        .clock(clock.clone())
        .build()
        .unwrap();
    engine
        .accounts()
        .add(&tid("abtest"), "A/B", Tier::Starter)
        .unwrap();
    Setup {
        engine,
        clock,
        rules,
    }
}

fn hit(text: &str) -> Inbound {
    Inbound {
        tags: Some(vec!["Hit List".into()]),
        ..Inbound::text(text)
    }
}

#[test]
fn assignment_follows_the_weights_over_100k_ids() {
    let xs = parse(
        "experiments:
  - {key: two, metric: handed_off, variants: [{name: a, weight: 30}, {name: b, weight: 70}]}
  - {key: three, metric: handed_off, variants: [{name: a, weight: 0.2}, {name: b, weight: 0.3}, {name: c, weight: 0.5}]}",
    );
    for (x, want) in xs.iter().zip([vec![0.3, 0.7], vec![0.2, 0.3, 0.5]]) {
        let mut counts = vec![0usize; want.len()];
        for i in 0..100_000 {
            counts[x.assign(&format!("contact-{i}"))] += 1;
        }
        for (got, want) in counts.iter().zip(&want) {
            let share = *got as f64 / 100_000.0;
            assert!(
                (share - want).abs() < 0.005,
                "{}: share {share} against weight {want}",
                x.key
            );
        }
    }
}

#[test]
fn experiments_with_different_seeds_are_independent() {
    let xs = parse(
        "experiments:
  - {key: x, seed: s1, metric: handed_off, variants: [{name: a}, {name: b}]}
  - {key: y, seed: s2, metric: handed_off, variants: [{name: a}, {name: b}]}",
    );
    let mut table = [[0f64; 2]; 2];
    let n = 100_000;
    for i in 0..n {
        let id = format!("lead{i}");
        table[xs[0].assign(&id)][xs[1].assign(&id)] += 1.0;
    }
    // Pearson chi-square test of independence of the 2 × 2 table.
    let rows = [table[0][0] + table[0][1], table[1][0] + table[1][1]];
    let cols = [table[0][0] + table[1][0], table[0][1] + table[1][1]];
    let mut chi2 = 0.0;
    for (r, row) in table.iter().enumerate() {
        for (c, observed) in row.iter().enumerate() {
            let expected = rows[r] * cols[c] / n as f64;
            chi2 += (observed - expected).powi(2) / expected;
        }
    }
    let p = ChiSquared::new(1.0).unwrap().sf(chi2);
    assert!(
        p > 0.001,
        "assignments of two seeds are related: chi2 {chi2}, p {p}"
    );
    // And the same seed gives the same split (the test can tell dependence apart).
    let same = parse(
        "experiments:
  - {key: z, seed: s1, metric: handed_off, variants: [{name: a}, {name: b}]}",
    );
    assert!((0..1000).all(|i| {
        let id = format!("lead{i}");
        same[0].assign(&id) == xs[0].assign(&id)
    }));
}

#[test]
fn the_variant_changes_the_question_and_is_recorded_at_first_exposure() {
    let s = setup(BUDGET_TEST);
    let (tenant, mut seen) = (tid("abtest"), HashMap::new());
    for i in 0..40 {
        let id = format!("c{i}");
        let out = s
            .engine
            .ingest(&tenant, &cid(&id), &hit("We want to buy a house"))
            .unwrap();
        let exposure = &out.decision.experiments[0];
        assert_eq!(exposure.experiment, "budget_wording");
        assert_eq!(exposure.chosen, Chosen::Assigned);
        let text = out.decision.next_question.clone().unwrap();
        match exposure.variant.as_str() {
            "control" => assert_eq!(text, "What's your budget?"),
            "friendly" => assert_eq!(text, "Ballpark, what price range feels comfortable?"),
            other => panic!("unknown variant {other}"),
        }
        assert!(out.decision.explain.variants[0].starts_with(&format!(
            "budget_wording: {} (assigned from the hash",
            exposure.variant
        )));
        let stored = s
            .engine
            .contacts()
            .get(&tenant, &cid(&id))
            .unwrap()
            .unwrap();
        assert_eq!(
            stored.experiments["budget_wording"].variant,
            exposure.variant
        );
        seen.insert(id, exposure.variant.clone());
    }
    assert!(seen.values().any(|v| v == "control") && seen.values().any(|v| v == "friendly"));

    // Weights change to 1 : 99 — nobody exposed moves; new contacts follow the new weights.
    let moved = BUDGET_TEST.replace(
        "weight: 1\n      - name: friendly\n        weight: 1",
        "weight: 1\n      - name: friendly\n        weight: 99",
    );
    assert_ne!(moved, BUDGET_TEST);
    write(&s.rules.path().join("abtest/experiments.yaml"), &moved);
    assert!(s.engine.rules().reload().errors.is_empty());
    for (id, variant) in &seen {
        let out = s
            .engine
            .ingest(&tenant, &cid(id), &hit("in Plano"))
            .unwrap();
        assert_eq!(&out.decision.experiments[0].variant, variant, "{id} moved");
        assert_eq!(out.decision.experiments[0].chosen, Chosen::Recorded);
    }
    let report = s
        .engine
        .experiments()
        .report(&tenant, "budget_wording")
        .unwrap();
    assert_eq!(report.exposures, 40);
    let fresh = (0..200)
        .filter(|i| {
            let id = cid(&format!("new{i}"));
            s.engine
                .experiments()
                .variant_of(&tenant, "budget_wording", &id)
                .unwrap()
                == "friendly"
        })
        .count();
    assert!(
        fresh > 190,
        "new contacts follow the new weights: {fresh} of 200"
    );
}

#[test]
fn a_stateless_score_assigns_from_the_contact_id_or_uses_the_control() {
    let s = setup(BUDGET_TEST);
    let tenant = tid("abtest");
    let id = (0..100)
        .map(|i| format!("lead-{i}"))
        .find(|id| {
            s.engine
                .experiments()
                .variant_of(&tenant, "budget_wording", &cid(id))
                .unwrap()
                == "friendly"
        })
        .unwrap();
    let lead = |contact: Option<&str>| Lead {
        tags: vec!["Hit List".into()],
        goal: Some("buy".into()),
        contact_id: contact.map(String::from),
        ..Lead::default()
    };
    let d = s.engine.score(&tenant, &lead(Some(&id))).unwrap();
    assert_eq!(d.experiments[0].variant, "friendly");
    assert_eq!(
        d.next_question.as_deref(),
        Some("Ballpark, what price range feels comfortable?")
    );
    let d = s.engine.score(&tenant, &lead(None)).unwrap();
    assert_eq!(
        (d.experiments[0].variant.as_str(), d.experiments[0].chosen),
        ("control", Chosen::NoContact)
    );
    assert!(
        d.explain.variants[0].contains("no contact id"),
        "{:?}",
        d.explain
    );
    // A stateless call records nothing.
    let report = s
        .engine
        .experiments()
        .report(&tenant, "budget_wording")
        .unwrap();
    assert_eq!(report.exposures, 0);
    // Tenants without experiments say nothing about them.
    let d = s.engine.score(&tid("default"), &lead(Some(&id))).unwrap();
    assert!(d.experiments.is_empty() && d.explain.variants.is_empty());
}

#[test]
fn outside_outcomes_count_once_per_exposed_contact() {
    let s = setup(BUDGET_TEST);
    let tenant = tid("abtest");
    s.engine
        .ingest(&tenant, &cid("c1"), &hit("buying a home"))
        .unwrap();
    let booked = |contact: &str| OutcomeReport {
        contact_id: contact.into(),
        metric: Some("appointment_booked".into()),
        value: None,
    };
    let x = s.engine.experiments();
    let first = x
        .record_outcome(&tenant, "budget_wording", &booked("c1"))
        .unwrap();
    assert!(first.recorded);
    let again = x
        .record_outcome(&tenant, "budget_wording", &booked("c1"))
        .unwrap();
    assert!(!again.recorded, "a contact counts once per metric");
    let never = x
        .record_outcome(&tenant, "budget_wording", &booked("c2"))
        .unwrap_err();
    assert!(never.to_string().contains("never exposed"), "{never}");
    let engine_event = x
        .record_outcome(
            &tenant,
            "budget_wording",
            &OutcomeReport {
                metric: Some("reached_hot".into()),
                ..booked("c1")
            },
        )
        .unwrap_err();
    assert!(
        engine_event.to_string().contains("recorded by the engine"),
        "{engine_event}"
    );
    let unknown_metric = x
        .record_outcome(
            &tenant,
            "budget_wording",
            &OutcomeReport {
                metric: Some("deal_value".into()),
                ..booked("c1")
            },
        )
        .unwrap_err();
    assert!(unknown_metric.to_string().contains("does not measure"));
    assert!(matches!(
        x.record_outcome(&tenant, "nope", &booked("c1")),
        Err(Error::UnknownExperiment { .. })
    ));
    let report = x.report(&tenant, "budget_wording").unwrap();
    let booked: u64 = report.guardrails["appointment_booked"]
        .variants
        .iter()
        .map(|v| v.conversions.unwrap())
        .sum();
    assert_eq!(booked, 1);
}

#[test]
fn a_numeric_metric_is_averaged_per_exposed_contact() {
    let s = setup(
        "experiments:
  - key: deal
    metric: commission
    numeric: true
    variants: [{name: control}, {name: treat}]",
    );
    let tenant = tid("abtest");
    let x = s.engine.experiments();
    let mut values: HashMap<String, Vec<f64>> = HashMap::new();
    for i in 0..20 {
        let id = format!("c{i}");
        let out = s.engine.ingest(&tenant, &cid(&id), &hit("hi")).unwrap();
        let variant = out.decision.experiments[0].variant.clone();
        let value = if i % 3 == 0 { 0.0 } else { 1000.0 + i as f64 };
        if i % 3 != 0 {
            x.record_outcome(
                &tenant,
                "deal",
                &OutcomeReport {
                    contact_id: id,
                    metric: None,
                    value: Some(value),
                },
            )
            .unwrap();
        }
        values.entry(variant).or_default().push(value);
    }
    let missing_value = x
        .record_outcome(
            &tenant,
            "deal",
            &OutcomeReport {
                contact_id: "c1".into(),
                metric: None,
                value: None,
            },
        )
        .unwrap_err();
    assert!(
        missing_value.to_string().contains("numeric"),
        "{missing_value}"
    );
    let report = x.report(&tenant, "deal").unwrap();
    for arm in &report.analysis.variants {
        let xs = &values[&arm.name];
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        assert_eq!(arm.n, xs.len() as u64);
        assert!((arm.mean.unwrap() - mean).abs() < 1e-9);
    }
}

#[test]
fn stopping_freezes_the_counts_and_gives_everyone_the_control() {
    let s = setup(BUDGET_TEST);
    let tenant = tid("abtest");
    s.engine
        .ingest(&tenant, &cid("c1"), &hit("buying"))
        .unwrap();
    assert!(s
        .engine
        .experiments()
        .stop(&tenant, "budget_wording")
        .unwrap());
    assert!(!s
        .engine
        .experiments()
        .stop(&tenant, "budget_wording")
        .unwrap());
    for i in 0..20 {
        let out = s
            .engine
            .ingest(&tenant, &cid(&format!("after{i}")), &hit("buying"))
            .unwrap();
        assert!(out.decision.experiments.is_empty());
        assert_eq!(
            out.decision.next_question.as_deref(),
            Some("What's your budget?")
        );
    }
    let report = s
        .engine
        .experiments()
        .report(&tenant, "budget_wording")
        .unwrap();
    assert_eq!(report.exposures, 1);
    assert_eq!(
        serde_json::to_value(report.status).unwrap(),
        serde_json::json!("stopped")
    );
    assert!(report.stopped_at.is_some());
    let late = s
        .engine
        .experiments()
        .record_outcome(
            &tenant,
            "budget_wording",
            &OutcomeReport {
                contact_id: "c1".into(),
                metric: Some("appointment_booked".into()),
                value: None,
            },
        )
        .unwrap_err();
    assert!(late.to_string().contains("stopped"), "{late}");
}

#[test]
fn scripts_read_the_variant_and_a_wrong_key_names_the_experiments() {
    let s = setup(BUDGET_TEST);
    write(
        &s.rules.path().join("abtest/variant.rhai"),
        r#"
fn score(lead, cfg) {
    let v = variant(lead, "budget_wording");
    #{ score: 1, class: "cold", answered: [], rule: `variant ${v}` }
}
"#,
    );
    assert!(s.engine.rules().reload().errors.is_empty());
    let tenant = tid("abtest");
    let out = s.engine.ingest(&tenant, &cid("c1"), &hit("hello")).unwrap();
    assert_eq!(
        out.decision.explain.class_rule,
        format!("variant {}", out.decision.experiments[0].variant)
    );
    write(
        &s.rules.path().join("abtest/variant.rhai"),
        r#"
fn score(lead, cfg) {
    let v = variant(lead, "budget_wordng");
    #{ score: 1, class: "cold", answered: [] }
}
"#,
    );
    assert!(s.engine.rules().reload().errors.is_empty());
    let err = s
        .engine
        .ingest(&tenant, &cid("c2"), &hit("hello"))
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("abtest/variant.rhai:3"), "{text}");
    assert!(
        text.contains("no experiment \"budget_wordng\" (experiments.yaml defines: budget_wording)"),
        "{text}"
    );
}

#[test]
fn a_broken_experiments_file_is_an_error_and_the_previous_version_serves() {
    let s = setup(BUDGET_TEST);
    let tenant = tid("abtest");
    s.engine
        .ingest(&tenant, &cid("c1"), &hit("buying"))
        .unwrap();
    write(
        &s.rules.path().join("abtest/experiments.yaml"),
        "experiments:\n  - key: budget_wording\n    metric: reached_hot\n    variants: [{name: only}]\n",
    );
    let report = s.engine.rules().reload();
    let text = report
        .errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        text.contains(
            "abtest/experiments.yaml: experiment \"budget_wording\": needs two or more variants"
        ),
        "{text}"
    );
    // Still served by the previous version, experiment included.
    let out = s
        .engine
        .ingest(&tenant, &cid("c2"), &hit("buying"))
        .unwrap();
    assert_eq!(out.decision.experiments[0].experiment, "budget_wording");
}

#[test]
fn check_measures_every_variants_texts() {
    let s = setup(&BUDGET_TEST.replace(
        "Ballpark, what price range feels comfortable?",
        &"So tell me, what price range are you comfortable with? ".repeat(4),
    ));
    let errors: Vec<String> = s
        .engine
        .rules()
        .check()
        .iter()
        .map(|e| e.to_string())
        .collect();
    assert!(
        errors.iter().any(|e| e.starts_with(
            "abtest/experiments.yaml: with experiment \"budget_wording\" variant \"friendly\""
        ) && e.contains("questions.buyer.budget")
            && e.contains("over the budget")),
        "{errors:?}"
    );
}

/// A deterministic coin: the same answers on every run.
fn coin(i: usize, salt: u64, percent: u64) -> bool {
    let mut x = (i as u64) ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (x ^ (x >> 31)) % 100 < percent
}

#[test]
fn end_to_end_the_analysis_counts_what_happened() {
    let s = setup(BUDGET_TEST);
    let tenant = tid("abtest");
    let mut exposed: HashMap<String, u64> = HashMap::new();
    let mut hot: HashMap<String, u64> = HashMap::new();
    let mut opted_out: HashMap<String, u64> = HashMap::new();
    let mut replied: HashMap<String, u64> = HashMap::new();
    for i in 0..300 {
        let id = cid(&format!("lead{i}"));
        let first = s
            .engine
            .ingest(&tenant, &id, &hit("Hi, we are looking to buy a home"))
            .unwrap();
        let variant = first.decision.experiments[0].variant.clone();
        *exposed.entry(variant.clone()).or_default() += 1;
        // The friendly wording gets more answers in this simulation.
        let answers = if variant == "friendly" { 60 } else { 40 };
        if coin(i, 1, 10) {
            s.engine.ingest(&tenant, &id, &hit("STOP")).unwrap();
            *opted_out.entry(variant.clone()).or_default() += 1;
            continue;
        }
        if coin(i, 2, answers) {
            // A quick reply (within the day) that makes the lead hot.
            s.clock.advance_secs(600);
            let out = s
                .engine
                .ingest(
                    &tenant,
                    &id,
                    &hit("about 450k in Plano, we need to move next month"),
                )
                .unwrap();
            *replied.entry(variant.clone()).or_default() += 1;
            if out.decision.class.as_str() == "hot" {
                *hot.entry(variant.clone()).or_default() += 1;
            }
        } else if coin(i, 3, 50) {
            // A reply two days later: not within 24 hours, and not hot.
            s.clock.advance_secs(48 * 3600);
            s.engine
                .ingest(&tenant, &id, &hit("still thinking"))
                .unwrap();
            s.clock.advance_secs(-48 * 3600);
        }
    }
    assert!(
        hot.values().sum::<u64>() > 50,
        "the simulation makes leads hot: {hot:?}"
    );
    let report = s
        .engine
        .experiments()
        .report(&tenant, "budget_wording")
        .unwrap();
    assert_eq!(report.exposures, 300);
    let count = |m: &HashMap<String, u64>, name: &str| m.get(name).copied().unwrap_or(0);
    for arm in &report.analysis.variants {
        assert_eq!(
            arm.n,
            count(&exposed, &arm.name),
            "exposures of {}",
            arm.name
        );
        assert_eq!(
            arm.conversions,
            Some(count(&hot, &arm.name)),
            "hot in {}",
            arm.name
        );
    }
    for (metric, counted) in [("opted_out", &opted_out), ("replied_within_24h", &replied)] {
        for arm in &report.guardrails[metric].variants {
            assert_eq!(arm.n, count(&exposed, &arm.name));
            assert_eq!(
                arm.conversions,
                Some(count(counted, &arm.name)),
                "{metric} in {}",
                arm.name
            );
        }
    }
    // The listing agrees.
    let list = s.engine.experiments().list(&tenant).unwrap();
    assert_eq!(
        (list[0].key.as_str(), list[0].exposures),
        ("budget_wording", 300)
    );
    // Erasing a contact removes it from the experiment.
    assert!(s.engine.contacts().erase(&tenant, &cid("lead0")).unwrap());
    let after = s
        .engine
        .experiments()
        .report(&tenant, "budget_wording")
        .unwrap();
    assert_eq!(after.exposures, 299);
}

#[test]
fn the_shipped_example_is_valid() {
    let example =
        std::fs::read_to_string(common::repo_root().join("examples/experiments.yaml")).unwrap();
    let s = setup(&example);
    let errors = s.engine.rules().check();
    assert!(errors.is_empty(), "{errors:?}");
    let xs = s.engine.experiments().definitions(&tid("abtest")).unwrap();
    assert_eq!(xs.len(), 2);
    assert_eq!(xs[0].sequential_tau(), Some(0.05));
}
