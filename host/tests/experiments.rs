//! Experiments through the binary and over HTTP: `qualify experiment analyze --counts`,
//! assignment identical across processes (and to the documented hash), list / show /
//! stop on a store, and the `/v1/experiments` routes with their errors.

#![allow(clippy::unwrap_used)]

mod support;

use assert_cmd::Command;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::path::Path;
use support::common::{rules_copy, write};
use support::{config, error_of, with_rules};

const EXPERIMENT: &str = r#"
experiments:
  - key: budget_wording
    seed: budget-2026
    metric: reached_hot
    guardrails: [appointment_booked]
    variants:
      - name: control
      - name: friendly
        values:
          questions:
            buyer:
              budget: "Ballpark, what price range feels comfortable?"
"#;

fn qualify(rules: &Path) -> Command {
    let mut cmd = Command::cargo_bin("qualify").unwrap();
    cmd.current_dir(rules).env_remove("QUALIFY_MASTER_KEY");
    cmd
}

fn run(rules: &Path, args: &[&str]) -> Value {
    let out = qualify(rules)
        .args(args)
        .args(["--rules", &rules.display().to_string()])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&out).unwrap()
}

#[test]
fn analyze_counts_prints_the_analysis() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("counts.json");
    std::fs::write(
        &file,
        r#"{"variants": [{"name": "control", "n": 5200, "conversions": 520, "weight": 1},
                        {"name": "friendly", "n": 4800, "conversions": 600, "weight": 1}]}"#,
    )
    .unwrap();
    let out = Command::cargo_bin("qualify")
        .unwrap()
        .args(["experiment", "analyze", "--counts"])
        .arg(&file)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: Value = serde_json::from_slice(&out).unwrap();
    // 5,200 / 4,800 at 50/50 is a sample-ratio mismatch: no winner, whatever the rates.
    assert!(v["srm_p"].as_f64().unwrap() < 0.001, "{v}");
    assert!(v["winner"].is_null(), "{v}");
    let arm = &v["variants"][1];
    for field in [
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
    ] {
        assert!(arm.get(field).is_some(), "no {field} in {arm}");
    }
    assert_eq!(arm["rate"], json!(0.125));
    // Bad counts: a clear error, a failure.
    std::fs::write(
        &file,
        r#"{"variants": [{"name": "a", "n": 10, "conversions": 12}, {"name": "b", "n": 10, "conversions": 1}]}"#,
    )
    .unwrap();
    let failed = Command::cargo_bin("qualify")
        .unwrap()
        .args(["experiment", "analyze", "--counts"])
        .arg(&file)
        .assert()
        .failure()
        .get_output()
        .stderr
        .clone();
    let text = String::from_utf8(failed).unwrap();
    assert!(text.contains("cannot analyse the experiment"), "{text}");
}

#[test]
fn assignment_is_the_same_in_every_process_and_matches_the_documented_hash() {
    let rules = rules_copy();
    write(&rules.path().join("abtest/experiments.yaml"), EXPERIMENT);
    let ids = ["c1", "c2", "c3", "c4", "c5", "c6"];
    let assign = || {
        let mut args = vec![
            "experiment",
            "assign",
            "budget_wording",
            "--tenant",
            "abtest",
            "--data",
            "no-store-here",
        ];
        args.extend(ids);
        let out = qualify(rules.path())
            .args(&args)
            .args(["--rules", &rules.path().display().to_string()])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        String::from_utf8(out).unwrap()
    };
    let (first, second) = (assign(), assign());
    assert_eq!(first, second);
    // Computed with Python's hashlib from the formula in the docs (u < 0.5: control).
    let want = [
        "friendly", "control", "control", "friendly", "friendly", "friendly",
    ];
    for (line, (id, variant)) in first.lines().zip(ids.iter().zip(want)) {
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v, json!({"contact_id": id, "variant": variant}));
    }
}

#[test]
fn list_show_and_stop_on_a_store() {
    let rules = rules_copy();
    write(&rules.path().join("abtest/experiments.yaml"), EXPERIMENT);
    let data = rules.path().join("data");
    let data = data.display().to_string();
    for id in ["c1", "c2", "c3"] {
        run(
            rules.path(),
            &[
                "ingest",
                "--tenant",
                "abtest",
                "--data",
                &data,
                "--contact",
                id,
                "--tag",
                "Hit List",
                "We want to buy a home",
            ],
        );
    }
    let list = run(
        rules.path(),
        &["experiment", "list", "--tenant", "abtest", "--data", &data],
    );
    assert_eq!(list[0]["key"], "budget_wording");
    assert_eq!(list[0]["exposures"], 3);
    assert_eq!(list[0]["status"], "running");
    let show = run(
        rules.path(),
        &[
            "experiment",
            "show",
            "budget_wording",
            "--tenant",
            "abtest",
            "--data",
            &data,
        ],
    );
    let n: Vec<u64> = show["analysis"]["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["n"].as_u64().unwrap())
        .collect();
    // c1 friendly, c2 and c3 control (the documented hash).
    assert_eq!(n, vec![2, 1]);
    let stop = run(
        rules.path(),
        &[
            "experiment",
            "stop",
            "budget_wording",
            "--tenant",
            "abtest",
            "--data",
            &data,
        ],
    );
    assert_eq!(stop["stopped"], true);
    let list = run(
        rules.path(),
        &["experiment", "list", "--tenant", "abtest", "--data", &data],
    );
    assert_eq!(list[0]["status"], "stopped");
    let failed = qualify(rules.path())
        .args([
            "experiment",
            "show",
            "nope",
            "--tenant",
            "abtest",
            "--data",
            &data,
            "--rules",
            &rules.path().display().to_string(),
        ])
        .assert()
        .failure()
        .get_output()
        .stderr
        .clone();
    assert!(String::from_utf8(failed)
        .unwrap()
        .contains("tenant \"abtest\" has no experiment \"nope\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_experiments_api() {
    // Many calls in a row: the starter tier's rate limit is not what this tests.
    let cfg = host::server::Config {
        rate_limit: false,
        ..config()
    };
    let (_rules, _server, api) = with_rules(cfg, |dir| {
        write(&dir.join("abtest/experiments.yaml"), EXPERIMENT);
    })
    .await;
    let key = api.add_tenant(json!({"tenant": "abtest"})).await;
    let other = api.add_tenant(json!({"tenant": "other"})).await;
    for id in ["c1", "c2", "c3", "c4"] {
        let r = api
            .post(
                &format!("/v1/contacts/{id}/messages"),
                &key,
                json!({"text": "We want to buy a home", "tags": ["Hit List"]}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        assert_eq!(
            v["decision"]["experiments"][0]["experiment"],
            "budget_wording"
        );
    }
    let list: Value = api.get("/v1/experiments", &key).await.json().await.unwrap();
    assert_eq!(list["experiments"][0]["exposures"], 4);
    // Another tenant sees none of it.
    let theirs: Value = api
        .get("/v1/experiments", &other)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["experiments"], json!([]));
    let (status, _) = error_of(api.get("/v1/experiments/budget_wording", &other).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let r = api
        .post(
            "/v1/experiments/budget_wording/outcomes",
            &key,
            json!({"contact_id": "c1", "metric": "appointment_booked"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["recorded"].clone(), v["variant"].clone()),
        (json!(true), json!("friendly"))
    );
    let r = api
        .post(
            "/v1/experiments/budget_wording/outcomes",
            &key,
            json!({"contact_id": "never", "metric": "appointment_booked"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let v: Value = r.json().await.unwrap();
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains("never exposed"), "{message}");
    let (status, _) = error_of(
        api.post(
            "/v1/experiments/budget_wording/outcomes",
            &key,
            json!({"metric": 3}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let report: Value = api
        .get("/v1/experiments/budget_wording", &key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["exposures"], 4);
    assert_eq!(report["status"], "running");
    let booked: u64 = report["guardrails"]["appointment_booked"]["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["conversions"].as_u64().unwrap())
        .sum();
    assert_eq!(booked, 1);
    assert!(report["analysis"]["variants"][1]
        .get("prob_beats_control")
        .is_some());

    let (status, _) = error_of(api.get("/v1/experiments/nope", &key).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let r = api
        .post("/v1/experiments/budget_wording/stop", &key, json!({}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let report: Value = api
        .get("/v1/experiments/budget_wording", &key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["status"], "stopped");
}
