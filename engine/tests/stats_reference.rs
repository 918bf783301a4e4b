//! The experiment statistics against values computed independently with SciPy and
//! statsmodels (`stats_reference.py`, whose output is the table at the end of this file),
//! field by field to 1e-6 relative error; then the rules around the numbers: SRM blocks
//! a winner, so does a small arm, Bonferroni with three arms, the JSON shape of
//! `--counts` and of the analysis, and degenerate counts giving `null` with a note,
//! never NaN. Public API only.
//!
//! Regenerate the table: `python3 engine/tests/stats_reference.py --update` (needs
//! scipy, numpy and statsmodels; see the script's docstring for which function gives
//! which field).

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use qualify_engine::experiment::stats::{
    analyze, Analysis, ArmCounts, ArmResult, Counts, Direction, MetricKind, Settings,
};
use qualify_engine::Error;
use serde_json::Value;

struct RefArm {
    name: &'static str,
    weight: f64,
    n: u64,
    conversions: Option<u64>,
    mean: Option<f64>,
    sd: Option<f64>,
}

#[derive(Clone, Copy)]
struct RefResult {
    rate: Option<f64>,
    rate_ci95: Option<[f64; 2]>,
    z: Option<f64>,
    mean_ci95: Option<[f64; 2]>,
    t: Option<f64>,
    df: Option<f64>,
    p_value: Option<f64>,
    diff: Option<f64>,
    diff_ci95: Option<[f64; 2]>,
    lift: Option<f64>,
    lift_ci95: Option<[f64; 2]>,
    prob_beats_control: Option<f64>,
    always_valid_p: Option<f64>,
}

struct RefCase {
    label: &'static str,
    decrease: bool,
    tau: f64,
    srm_p: Option<f64>,
    arms: &'static [RefArm],
    results: &'static [RefResult],
}

fn counts_of(case: &RefCase) -> Counts {
    Counts {
        variants: case
            .arms
            .iter()
            .map(|a| ArmCounts {
                name: a.name.to_string(),
                weight: a.weight,
                n: a.n,
                conversions: a.conversions,
                mean: a.mean,
                sd: a.sd,
            })
            .collect(),
    }
}

fn settings_of(case: &RefCase, sequential: bool) -> Settings {
    Settings {
        direction: if case.decrease {
            Direction::Decrease
        } else {
            Direction::Increase
        },
        sequential_tau: sequential.then_some(case.tau),
        ..Settings::default()
    }
}

/// 1e-6 relative error; 1e-12 absolute when the reference is exactly 0.
fn close(what: &str, got: Option<f64>, want: Option<f64>) {
    match (got, want) {
        (None, None) => {}
        (Some(g), Some(w)) => {
            let ok = if w == 0.0 {
                g.abs() <= 1e-12
            } else {
                (g - w).abs() <= 1e-6 * w.abs()
            };
            assert!(ok, "{what}: got {g:e}, reference {w:e}");
        }
        _ => panic!("{what}: got {got:?}, reference {want:?}"),
    }
}

fn close2(what: &str, got: Option<[f64; 2]>, want: Option<[f64; 2]>) {
    assert_eq!(got.is_some(), want.is_some(), "{what}: {got:?} vs {want:?}");
    if let (Some(g), Some(w)) = (got, want) {
        close(&format!("{what}[0]"), Some(g[0]), Some(w[0]));
        close(&format!("{what}[1]"), Some(g[1]), Some(w[1]));
    }
}

fn check_arm(label: &str, got: &ArmResult, want: &RefResult) {
    let at = |field: &str| format!("{label}/{}: {field}", got.name);
    close(&at("rate"), got.rate, want.rate);
    close2(&at("rate_ci95"), got.rate_ci95, want.rate_ci95);
    close(&at("z"), got.z, want.z);
    close2(&at("mean_ci95"), got.mean_ci95, want.mean_ci95);
    close(&at("t"), got.t, want.t);
    close(&at("df"), got.df, want.df);
    close(&at("p_value"), got.p_value, want.p_value);
    close(&at("diff"), got.diff, want.diff);
    close2(&at("diff_ci95"), got.diff_ci95, want.diff_ci95);
    close(&at("lift"), got.lift, want.lift);
    close2(&at("lift_ci95"), got.lift_ci95, want.lift_ci95);
    close(
        &at("prob_beats_control"),
        got.prob_beats_control,
        want.prob_beats_control,
    );
    close(
        &at("always_valid_p"),
        got.always_valid_p,
        want.always_valid_p,
    );
}

#[test]
fn every_field_matches_scipy_and_statsmodels() {
    assert!(CASES.len() >= 7);
    for case in CASES {
        let counts = counts_of(case);
        let a = analyze(&counts, &settings_of(case, true)).unwrap();
        assert_eq!(a.variants.len(), case.results.len(), "{}", case.label);
        close(&format!("{}: srm_p", case.label), a.srm_p, case.srm_p);
        let total: f64 = case.arms.iter().map(|a| a.weight).sum();
        for ((got, want), arm) in a.variants.iter().zip(case.results).zip(case.arms) {
            assert_eq!((got.name.as_str(), got.n), (arm.name, arm.n));
            close("weight share", Some(got.weight), Some(arm.weight / total));
            check_arm(case.label, got, want);
        }
        assert_finite_or_noted(&a);

        // Fixed horizon: the same numbers, no always-valid p.
        let fixed = analyze(&counts, &settings_of(case, false)).unwrap();
        for (got, want) in fixed.variants.iter().zip(case.results) {
            check_arm(
                case.label,
                got,
                &RefResult {
                    always_valid_p: None,
                    ..*want
                },
            );
        }
    }
}

/// Every number finite, every comparison `None` on a variant explained by a note.
fn assert_finite_or_noted(a: &Analysis) {
    let finite = |v: Option<f64>| v.is_none_or(f64::is_finite);
    let finite2 = |v: Option<[f64; 2]>| v.is_none_or(|[lo, hi]| lo.is_finite() && hi.is_finite());
    assert!(finite(a.srm_p));
    for arm in &a.variants {
        assert!(arm.weight.is_finite());
        for v in [
            arm.rate,
            arm.z,
            arm.mean,
            arm.sd,
            arm.t,
            arm.df,
            arm.p_value,
            arm.diff,
            arm.lift,
            arm.prob_beats_control,
            arm.always_valid_p,
        ] {
            assert!(finite(v), "{arm:?}");
        }
        for v in [arm.rate_ci95, arm.mean_ci95, arm.diff_ci95, arm.lift_ci95] {
            assert!(finite2(v), "{arm:?}");
        }
        if arm.p_value.is_none() || arm.diff.is_none() {
            assert!(!arm.notes.is_empty(), "{arm:?}");
        }
    }
    let json = serde_json::to_string(a).unwrap();
    for bad in ["NaN", "nan", "inf"] {
        assert!(!json.contains(bad), "{json}");
    }
}

fn conv(name: &str, n: u64, x: u64) -> ArmCounts {
    ArmCounts {
        name: name.to_string(),
        weight: 1.0,
        n,
        conversions: Some(x),
        mean: None,
        sd: None,
    }
}

fn run(arms: Vec<ArmCounts>) -> Analysis {
    analyze(&Counts { variants: arms }, &Settings::default()).unwrap()
}

#[test]
fn sample_ratio_mismatch_is_flagged_and_blocks_the_winner() {
    // 5,200 / 4,800 at 50/50: chi-square 16 on 1 df, p ≈ 6.3e-5. The rates differ a
    // lot (10 % against 20 %), and still no winner.
    let mut arms = vec![conv("a", 5200, 520), conv("b", 4800, 960)];
    for arm in &mut arms {
        arm.weight = 50.0;
    }
    let a = run(arms);
    assert!(a.srm);
    assert!((a.srm_p.unwrap() - 6.334248366623988e-5).abs() < 1e-12);
    assert!(a.variants[1].p_value.unwrap() < 1e-20 && a.variants[1].significant);
    assert_eq!(a.winner, None);
    assert_eq!(
        a.verdict,
        "no winner: sample-ratio mismatch (p = 6.3e-05): fix the assignment before reading results"
    );
    // The same split at 52/48 is what was planned: no mismatch, and b wins.
    let mut arms = vec![conv("a", 5200, 520), conv("b", 4800, 960)];
    arms[0].weight = 52.0;
    arms[1].weight = 48.0;
    let a = run(arms);
    assert!(
        !a.srm && (a.srm_p.unwrap() - 1.0).abs() < 1e-9,
        "{:?}",
        a.srm_p
    );
    assert_eq!(a.winner.as_deref(), Some("b"), "{}", a.verdict);
}

#[test]
fn no_winner_while_an_arm_is_below_the_minimum_sample() {
    // Planned 200 : 12 (no sample-ratio mismatch); b converts every time.
    let mut arms = vec![conv("a", 200, 10), conv("b", 12, 12)];
    arms[0].weight = 200.0;
    arms[1].weight = 12.0;
    let a = run(arms);
    assert!(!a.srm);
    assert!(a.variants[1].p_value.unwrap() < 1e-10 && a.variants[1].significant);
    assert_eq!(a.winner, None);
    assert_eq!(
        a.verdict,
        "no winner: arm \"b\" has 12 of the 30 exposures it needs"
    );
    let a = run(vec![conv("a", 20, 2), conv("b", 20, 18)]);
    assert_eq!(a.winner, None);
    assert_eq!(
        a.verdict,
        "no winner: arm \"a\" has 20 of the 30 exposures it needs; \
         arm \"b\" has 20 of the 30 exposures it needs"
    );
}

#[test]
fn a_winner_when_every_condition_holds() {
    let a = run(vec![conv("a", 1000, 100), conv("b", 1000, 150)]);
    assert!(!a.srm);
    assert_eq!(a.winner.as_deref(), Some("b"));
    let p = a.variants[1].p_value.unwrap();
    assert!(p < 0.001);
    assert!(
        a.verdict.starts_with("\"b\" beats control: p = ") && a.verdict.ends_with(" < 0.05"),
        "{}",
        a.verdict
    );
    // Nothing significant: no winner, and the verdict says how far off.
    let a = run(vec![conv("a", 1000, 100), conv("b", 1000, 110)]);
    assert_eq!(a.winner, None);
    assert!(
        a.verdict.starts_with(
            "no winner: no variant differs significantly from control (smallest p = 0.4"
        ),
        "{}",
        a.verdict
    );
}

#[test]
fn three_arms_are_bonferroni_adjusted() {
    // b against a: z ≈ 1.97, p ≈ 0.049: a winner alone, not with a third arm (0.025).
    let two = run(vec![conv("a", 1000, 100), conv("b", 1000, 128)]);
    let p = two.variants[1].p_value.unwrap();
    assert!(p > 0.025 && p < 0.05, "{p}");
    assert_eq!(two.winner.as_deref(), Some("b"));
    let three = run(vec![
        conv("a", 1000, 100),
        conv("b", 1000, 128),
        conv("c", 1000, 101),
    ]);
    assert_eq!(three.winner, None);
    assert!(!three.variants[1].significant);
    assert!(three.verdict.contains("Bonferroni"), "{}", three.verdict);
    // Two variants both better: the one with the best rate wins.
    let three = run(vec![
        conv("a", 1000, 100),
        conv("b", 1000, 160),
        conv("c", 1000, 180),
    ]);
    assert_eq!(three.winner.as_deref(), Some("c"), "{}", three.verdict);
    // Every variant significantly worse: the control wins.
    let three = run(vec![
        conv("a", 1000, 200),
        conv("b", 1000, 120),
        conv("c", 1000, 130),
    ]);
    assert_eq!(three.winner.as_deref(), Some("a"), "{}", three.verdict);
}

fn keys(value: &Value) -> Vec<&str> {
    value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

#[test]
fn counts_json_parses_and_the_analysis_serializes_with_the_documented_fields() {
    let counts: Counts = serde_json::from_str(
        r#"{"variants":[{"name":"a","n":100,"conversions":10,"weight":1},
                        {"name":"b","n":100,"conversions":15,"weight":1},
                        {"name":"c","n":100,"conversions":12}],
            "experiment":"greeting"}"#,
    )
    .unwrap();
    assert_eq!(counts.variants[2].weight, 1.0);
    let settings: Settings =
        serde_json::from_str(r#"{"alpha":0.1,"direction":"increase"}"#).unwrap();
    assert_eq!((settings.alpha, settings.min_sample), (0.1, 30));
    let a = analyze(&counts, &settings).unwrap();
    assert_eq!(a.metric, MetricKind::Conversion);
    let json: Value = serde_json::to_value(&a).unwrap();
    for key in ["metric", "srm_p", "srm", "winner", "verdict", "variants"] {
        assert!(json.get(key).is_some(), "missing {key}: {json}");
    }
    assert_eq!(json["metric"], "conversion");
    for variant in json["variants"].as_array().unwrap() {
        let k = keys(variant);
        for key in [
            "name",
            "n",
            "rate",
            "rate_ci95",
            "z",
            "p_value",
            "diff",
            "diff_ci95",
            "lift",
            "prob_beats_control",
            "lift_ci95",
            "significant",
            "notes",
        ] {
            assert!(k.contains(&key), "missing {key}: {variant}");
        }
        for key in ["mean", "sd", "mean_ci95", "t", "df", "always_valid_p"] {
            assert!(!k.contains(&key), "unexpected {key}: {variant}");
        }
    }
    // The control's comparison fields are there, null.
    assert_eq!(json["variants"][0]["z"], Value::Null);
    assert!(json["variants"][1]["rate_ci95"].as_array().unwrap().len() == 2);

    // Sequential mode adds always_valid_p to every arm (null for the control).
    let sequential = Settings {
        sequential_tau: Some(0.05),
        ..Settings::default()
    };
    let json = serde_json::to_value(analyze(&counts, &sequential).unwrap()).unwrap();
    assert_eq!(json["sequential_tau"], 0.05);
    assert_eq!(json["variants"][0]["always_valid_p"], Value::Null);
    assert!(json["variants"][1]["always_valid_p"].is_f64());

    // A numeric metric: mean, sd, n (weight defaults to 1).
    let counts: Counts = serde_json::from_str(
        r#"{"variants":[{"name":"a","n":40,"mean":12.5,"sd":4.1},
                        {"name":"b","n":35,"mean":14.2,"sd":6.3,"weight":1}]}"#,
    )
    .unwrap();
    let a = analyze(&counts, &Settings::default()).unwrap();
    let json = serde_json::to_value(&a).unwrap();
    assert_eq!(json["metric"], "numeric");
    let k = keys(&json["variants"][1]);
    for key in [
        "mean",
        "sd",
        "mean_ci95",
        "t",
        "df",
        "p_value",
        "diff_ci95",
        "lift",
    ] {
        assert!(k.contains(&key), "missing {key}: {json}");
    }
    for key in ["conversions", "rate", "rate_ci95", "z"] {
        assert!(!k.contains(&key), "unexpected {key}: {json}");
    }

    // The input round-trips in the same shape.
    let back: Counts = serde_json::from_str(&serde_json::to_string(&counts).unwrap()).unwrap();
    assert_eq!(back, counts);
}

fn has_note(arm: &ArmResult, text: &str) -> bool {
    arm.notes.iter().any(|n| n.contains(text))
}

#[test]
fn degenerate_counts_give_null_with_a_note_never_nan() {
    // An empty arm.
    let a = run(vec![conv("a", 100, 10), conv("b", 0, 0)]);
    let b = &a.variants[1];
    assert_eq!(
        (b.rate, b.rate_ci95, b.diff, b.p_value),
        (None, None, None, None)
    );
    assert!(has_note(b, "empty arm"), "{:?}", b.notes);
    assert_eq!(a.winner, None);
    assert_finite_or_noted(&a);
    let json: Value = serde_json::to_value(&a).unwrap();
    assert_eq!(json["variants"][1]["rate"], Value::Null);
    assert_eq!(json["variants"][1]["conversions"], 0);

    // Control rate 0: no lift.
    let a = run(vec![conv("a", 100, 0), conv("b", 100, 7)]);
    let b = &a.variants[1];
    assert_eq!((b.lift, b.lift_ci95), (None, None));
    assert!(b.p_value.is_some() && b.diff_ci95.is_some());
    assert!(
        has_note(b, "control rate is 0: lift undefined"),
        "{:?}",
        b.notes
    );
    assert_finite_or_noted(&a);
    assert_eq!(
        serde_json::to_value(&a).unwrap()["variants"][1]["lift"],
        Value::Null
    );

    // No conversions anywhere: no z, no p, no lift, no interval of the difference.
    let a = run(vec![
        conv("a", 500, 0),
        conv("b", 500, 0),
        conv("c", 500, 0),
    ]);
    for b in &a.variants[1..] {
        assert_eq!(
            (b.z, b.p_value, b.lift, b.diff_ci95),
            (None, None, None, None)
        );
        assert_eq!(b.diff, Some(0.0));
        assert!(has_note(b, "pooled variance is 0"), "{:?}", b.notes);
        assert!(!b.significant);
    }
    assert_eq!(a.winner, None);
    assert_eq!(
        a.verdict,
        "no winner: no comparison could be made (see the variants' notes)"
    );
    assert_finite_or_noted(&a);
    let sequential = Settings {
        sequential_tau: Some(0.05),
        ..Settings::default()
    };
    let counts = Counts {
        variants: vec![conv("a", 500, 0), conv("b", 500, 0)],
    };
    let a = analyze(&counts, &sequential).unwrap();
    assert_eq!(a.variants[1].always_valid_p, None);
    assert!(has_note(&a.variants[1], "always-valid p undefined"));

    // No exposures at all: no SRM p-value either.
    let a = run(vec![conv("a", 0, 0), conv("b", 0, 0)]);
    assert_eq!((a.srm_p, a.srm), (None, false));
    assert_finite_or_noted(&a);

    // Numeric: identical constant outcomes.
    let same = |name: &str| ArmCounts {
        name: name.to_string(),
        weight: 1.0,
        n: 50,
        conversions: None,
        mean: Some(0.0),
        sd: Some(0.0),
    };
    let a = run(vec![same("a"), same("b")]);
    let b = &a.variants[1];
    assert_eq!((b.t, b.df, b.p_value, b.lift), (None, None, None, None));
    assert!(has_note(b, "both sds are 0"));
    assert_finite_or_noted(&a);
}

#[test]
fn invalid_counts_are_analysis_errors() {
    let err = analyze(
        &Counts {
            variants: vec![conv("a", 10, 1), conv("b", 10, 12)],
        },
        &Settings::default(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::Analysis(m) if m == "variant \"b\": 12 conversions out of 10 exposures")
    );
    assert_eq!(
        err.to_string(),
        "cannot analyse the experiment: variant \"b\": 12 conversions out of 10 exposures"
    );
    let mixed: Counts = serde_json::from_str(
        r#"{"variants":[{"name":"a","n":10,"conversions":1},{"name":"b","n":10,"mean":1,"sd":1}]}"#,
    )
    .unwrap();
    assert!(matches!(
        analyze(&mixed, &Settings::default()),
        Err(Error::Analysis(_))
    ));
    let missing: Counts = serde_json::from_str(
        r#"{"variants":[{"name":"a","n":10,"conversions":1},{"name":"b","n":10}]}"#,
    )
    .unwrap();
    assert!(matches!(
        analyze(&missing, &Settings::default()),
        Err(Error::Analysis(_))
    ));
}

// The reference table: `python3 engine/tests/stats_reference.py --update` rewrites it.
// BEGIN GENERATED
#[rustfmt::skip]
const CASES: &[RefCase] = &[
    RefCase {
        label: "tiny",
        decrease: false,
        tau: 0.05,
        srm_p: Some(0.7962534147376392),
        arms: &[
            RefArm { name: "a", weight: 1.0, n: 7, conversions: Some(3), mean: None, sd: None },
            RefArm { name: "b", weight: 1.0, n: 8, conversions: Some(5), mean: None, sd: None },
        ],
        results: &[
            RefResult {
                rate: Some(0.42857142857142855),
                rate_ci95: Some([0.15821985525146964, 0.7495416354723428]),
                z: None,
                mean_ci95: None,
                t: None,
                df: None,
                p_value: None,
                diff: None,
                diff_ci95: None,
                lift: None,
                lift_ci95: None,
                prob_beats_control: None,
                always_valid_p: None,
            },
            RefResult {
                rate: Some(0.625),
                rate_ci95: Some([0.3057423946026273, 0.8631557141764027]),
                z: Some(0.7607645858621713),
                mean_ci95: None,
                t: None,
                df: None,
                p_value: Some(0.4467976904477863),
                diff: Some(0.19642857142857145),
                diff_ci95: Some([-0.30049979329800064, 0.6933569361551435]),
                lift: Some(0.4583333333333334),
                lift_ci95: Some([-1.0143781803418344, 1.9310448470085013]),
                prob_beats_control: Some(0.7620320855614972),
                always_valid_p: Some(1.0),
            },
        ],
    },
    RefCase {
        label: "zero_conversion_arm",
        decrease: false,
        tau: 0.05,
        srm_p: Some(0.651446246611078),
        arms: &[
            RefArm { name: "a", weight: 1.0, n: 250, conversions: Some(12), mean: None, sd: None },
            RefArm { name: "b", weight: 1.0, n: 240, conversions: Some(0), mean: None, sd: None },
        ],
        results: &[
            RefResult {
                rate: Some(0.048),
                rate_ci95: Some([0.027668201530694603, 0.0820123012131873]),
                z: None,
                mean_ci95: None,
                t: None,
                df: None,
                p_value: None,
                diff: None,
                diff_ci95: None,
                lift: None,
                lift_ci95: None,
                prob_beats_control: None,
                always_valid_p: None,
            },
            RefResult {
                rate: Some(0.0),
                rate_ci95: Some([0.0, 0.015753919941558822]),
                z: Some(-3.4364523888627505),
                mean_ci95: None,
                t: None,
                df: None,
                p_value: Some(0.0005893859337112937),
                diff: Some(-0.048),
                diff_ci95: Some([-0.07449824917011981, -0.02150175082988019]),
                lift: Some(-1.0),
                lift_ci95: None,
                prob_beats_control: Some(0.00013564268704441737),
                always_valid_p: Some(0.010781067159084353),
            },
        ],
    },
    RefCase {
        label: "unequal_arms",
        decrease: false,
        tau: 0.05,
        srm_p: Some(1.0),
        arms: &[
            RefArm { name: "a", weight: 4.0, n: 1200, conversions: Some(138), mean: None, sd: None },
            RefArm { name: "b", weight: 1.0, n: 300, conversions: Some(45), mean: None, sd: None },
        ],
        results: &[
            RefResult {
                rate: Some(0.115),
                rate_ci95: Some([0.09816549603152684, 0.13429157443257903]),
                z: None,
                mean_ci95: None,
                t: None,
                df: None,
                p_value: None,
                diff: None,
                diff_ci95: None,
                lift: None,
                lift_ci95: None,
                prob_beats_control: None,
                always_valid_p: None,
            },
            RefResult {
                rate: Some(0.15),
                rate_ci95: Some([0.11403246871185314, 0.19481761114532903]),
                z: Some(1.6567099932675142),
                mean_ci95: None,
                t: None,
                df: None,
                p_value: Some(0.09757812163176369),
                diff: Some(0.03499999999999999),
                diff_ci95: Some([-0.009254081450473309, 0.07925408145047329]),
                lift: Some(0.30434782608695643),
                lift_ci95: Some([-0.10229990641161207, 0.710995558585525]),
                prob_beats_control: Some(0.9526942832219165),
                always_valid_p: Some(0.8957212524281203),
            },
        ],
    },
    RefCase {
        label: "three_arms",
        decrease: false,
        tau: 0.05,
        srm_p: Some(1.0),
        arms: &[
            RefArm { name: "a", weight: 1.0, n: 1000, conversions: Some(100), mean: None, sd: None },
            RefArm { name: "b", weight: 1.0, n: 1000, conversions: Some(130), mean: None, sd: None },
            RefArm { name: "c", weight: 1.0, n: 1000, conversions: Some(85), mean: None, sd: None },
        ],
        results: &[
            RefResult {
                rate: Some(0.1),
                rate_ci95: Some([0.08290944359309571, 0.1201519631953484]),
                z: None,
                mean_ci95: None,
                t: None,
                df: None,
                p_value: None,
                diff: None,
                diff_ci95: None,
                lift: None,
                lift_ci95: None,
                prob_beats_control: None,
                always_valid_p: None,
            },
            RefResult {
                rate: Some(0.13),
                rate_ci95: Some([0.11056377462484193, 0.1522680266544689]),
                z: Some(2.102740605622114),
                mean_ci95: None,
                t: None,
                df: None,
                p_value: Some(0.03548845046647471),
                diff: Some(0.03),
                diff_ci95: Some([0.0020679344393763587, 0.057932065560623636]),
                lift: Some(0.3),
                lift_ci95: Some([-0.019179397713587065, 0.6191793977135871]),
                prob_beats_control: Some(0.9821650661163507),
                always_valid_p: Some(0.47003235458554793),
            },
            RefResult {
                rate: Some(0.085),
                rate_ci95: Some([0.06926331853965456, 0.10391289100335621]),
                z: Some(-1.1576627999400242),
                mean_ci95: None,
                t: None,
                df: None,
                p_value: Some(0.2470016704540381),
                diff: Some(-0.015),
                diff_ci95: Some([-0.04038701939263365, 0.010387019392633652]),
                lift: Some(-0.15),
                lift_ci95: Some([-0.3842136459720315, 0.08421364597203151]),
                prob_beats_control: Some(0.12405653473919073),
                always_valid_p: Some(1.0),
            },
        ],
    },
    RefCase {
        label: "large",
        decrease: false,
        tau: 0.01,
        srm_p: Some(1.0),
        arms: &[
            RefArm { name: "a", weight: 1.0, n: 50000, conversions: Some(5000), mean: None, sd: None },
            RefArm { name: "b", weight: 1.0, n: 50000, conversions: Some(5210), mean: None, sd: None },
        ],
        results: &[
            RefResult {
                rate: Some(0.1),
                rate_ci95: Some([0.0974010831426762, 0.10266037547663981]),
                z: None,
                mean_ci95: None,
                t: None,
                df: None,
                p_value: None,
                diff: None,
                diff_ci95: None,
                lift: None,
                lift_ci95: None,
                prob_beats_control: None,
                always_valid_p: None,
            },
            RefResult {
                rate: Some(0.1042),
                rate_ci95: Some([0.10155238680954143, 0.10690842649427174]),
                z: Some(2.1932717151236067),
                mean_ci95: None,
                t: None,
                df: None,
                p_value: Some(0.028287808257517724),
                diff: Some(0.004199999999999995),
                diff_ci95: Some([0.00044686230993617885, 0.007953137690063812]),
                lift: Some(0.041999999999999954),
                lift_ci95: Some([0.00368672750297358, 0.08031327249702633]),
                prob_beats_control: Some(0.9858545615567578),
                always_valid_p: Some(0.522395244149041),
            },
        ],
    },
    RefCase {
        label: "srm",
        decrease: false,
        tau: 0.05,
        srm_p: Some(6.334248366623988e-05),
        arms: &[
            RefArm { name: "a", weight: 50.0, n: 5200, conversions: Some(520), mean: None, sd: None },
            RefArm { name: "b", weight: 50.0, n: 4800, conversions: Some(600), mean: None, sd: None },
        ],
        results: &[
            RefResult {
                rate: Some(0.1),
                rate_ci95: Some([0.09213899912531825, 0.10845155826980499]),
                z: None,
                mean_ci95: None,
                t: None,
                df: None,
                p_value: None,
                diff: None,
                diff_ci95: None,
                lift: None,
                lift_ci95: None,
                prob_beats_control: None,
                always_valid_p: None,
            },
            RefResult {
                rate: Some(0.125),
                rate_ci95: Some([0.11594288896436729, 0.13465685899572213]),
                z: Some(3.960470702495876),
                mean_ci95: None,
                t: None,
                df: None,
                p_value: Some(7.480217041040243e-05),
                diff: Some(0.024999999999999994),
                diff_ci95: Some([0.012589519403415225, 0.037410480596584764]),
                lift: Some(0.24999999999999994),
                lift_ci95: Some([0.11164580003342614, 0.3883541999665737]),
                prob_beats_control: Some(0.9999622826169143),
                always_valid_p: Some(0.0037098476706016134),
            },
        ],
    },
    RefCase {
        label: "opt_out_rate",
        decrease: true,
        tau: 0.02,
        srm_p: Some(1.0),
        arms: &[
            RefArm { name: "a", weight: 1.0, n: 4000, conversions: Some(80), mean: None, sd: None },
            RefArm { name: "b", weight: 1.0, n: 4000, conversions: Some(52), mean: None, sd: None },
        ],
        results: &[
            RefResult {
                rate: Some(0.02),
                rate_ci95: Some([0.016099663723612052, 0.024821401834501378]),
                z: None,
                mean_ci95: None,
                t: None,
                df: None,
                p_value: None,
                diff: None,
                diff_ci95: None,
                lift: None,
                lift_ci95: None,
                prob_beats_control: None,
                always_valid_p: None,
            },
            RefResult {
                rate: Some(0.013),
                rate_ci95: Some([0.009927624838775915, 0.017006872925393338]),
                z: Some(-2.45744543530631),
                mean_ci95: None,
                t: None,
                df: None,
                p_value: Some(0.013992906578801477),
                diff: Some(-0.007000000000000001),
                diff_ci95: Some([-0.012580823214677456, -0.001419176785322546]),
                lift: Some(-0.35000000000000003),
                lift_ci95: Some([-0.575140065601525, -0.12485993439847506]),
                prob_beats_control: Some(0.9929726224209119),
                always_valid_p: Some(0.36699335216174706),
            },
        ],
    },
    RefCase {
        label: "welch",
        decrease: false,
        tau: 2.0,
        srm_p: Some(0.5637028616507731),
        arms: &[
            RefArm { name: "a", weight: 1.0, n: 40, conversions: None, mean: Some(12.5), sd: Some(4.1) },
            RefArm { name: "b", weight: 1.0, n: 35, conversions: None, mean: Some(14.2), sd: Some(6.3) },
        ],
        results: &[
            RefResult {
                rate: None,
                rate_ci95: None,
                z: None,
                mean_ci95: Some([11.188756386479177, 13.811243613520823]),
                t: None,
                df: None,
                p_value: None,
                diff: None,
                diff_ci95: None,
                lift: None,
                lift_ci95: None,
                prob_beats_control: None,
                always_valid_p: None,
            },
            RefResult {
                rate: None,
                rate_ci95: None,
                z: None,
                mean_ci95: Some([12.035874281939844, 16.364125718060155]),
                t: Some(1.3636046808335323),
                df: Some(57.040217794741714),
                p_value: Some(0.17804967035191993),
                diff: Some(1.6999999999999993),
                diff_ci95: Some([-0.7964267949876769, 4.1964267949876755]),
                lift: Some(0.13599999999999995),
                lift_ci95: Some([-0.06701024669676256, 0.3390102466967625]),
                prob_beats_control: Some(0.913653990941399),
                always_valid_p: Some(0.9677682981481602),
            },
        ],
    },
    RefCase {
        label: "welch_three_unequal",
        decrease: true,
        tau: 0.5,
        srm_p: Some(0.7535055706393545),
        arms: &[
            RefArm { name: "a", weight: 5.0, n: 800, conversions: None, mean: Some(3.2), sd: Some(2.5) },
            RefArm { name: "b", weight: 1.0, n: 150, conversions: None, mean: Some(2.9), sd: Some(1.1) },
            RefArm { name: "c", weight: 4.0, n: 640, conversions: None, mean: Some(3.5), sd: Some(2.7) },
        ],
        results: &[
            RefResult {
                rate: None,
                rate_ci95: None,
                z: None,
                mean_ci95: Some([3.02649920127589, 3.3735007987241103]),
                t: None,
                df: None,
                p_value: None,
                diff: None,
                diff_ci95: None,
                lift: None,
                lift_ci95: None,
                prob_beats_control: None,
                always_valid_p: None,
            },
            RefResult {
                rate: None,
                rate_ci95: None,
                z: None,
                mean_ci95: Some([2.7225251196203506, 3.0774748803796492]),
                t: Some(-2.380714961110667),
                df: Some(491.4126992407885),
                p_value: Some(0.017659236699218483),
                diff: Some(-0.30000000000000027),
                diff_ci95: Some([-0.54758988517065, -0.05241011482935054]),
                lift: Some(-0.09375000000000008),
                lift_ci95: Some([-0.16746013220402078, -0.020039867795979396]),
                prob_beats_control: Some(0.9913604618327698),
                always_valid_p: Some(0.28489486444115164),
            },
            RefResult {
                rate: None,
                rate_ci95: None,
                z: None,
                mean_ci95: Some([3.2904222170152355, 3.7095777829847645]),
                t: Some(2.164887337646697),
                df: Some(1319.6613001716257),
                p_value: Some(0.030575091866441306),
                diff: Some(0.2999999999999998),
                diff_ci95: Some([0.028147990610054074, 0.5718520093899455]),
                lift: Some(0.09374999999999994),
                lift_ci95: Some([0.005550273867089117, 0.18194972613291077]),
                prob_beats_control: Some(0.015198157070453197),
                always_valid_p: Some(0.424853030066187),
            },
        ],
    },
];
// END GENERATED
