//! The `qualify` binary end to end: score (single and --jsonl), check, test, bad input.

mod common;

use assert_cmd::Command;
use common::{rules_copy, write};
use serde_json::Value;

fn qualify() -> Command {
    let mut cmd = Command::cargo_bin("qualify").unwrap();
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd
}

fn json_out(out: &[u8]) -> Value {
    serde_json::from_slice(out).unwrap()
}

#[test]
fn score_prints_the_decision() {
    let out = qualify()
        .args(["score", "examples/lead.json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let d = json_out(&out);
    assert_eq!(d["score"], 2);
    assert_eq!(d["class"], "warm");
    assert_eq!(d["percent"], 30);
    assert_eq!(d["answered"], serde_json::json!(["budget", "location"]));
    assert_eq!(d["facts"]["timeline"], "not sure", "recorded, not counted");
    assert_eq!(d["next_question"], "When do you need to move?");
    for key in ["tags", "explain", "facts"] {
        assert!(d.get(key).is_some(), "{key}");
    }
}

#[test]
fn score_reads_stdin_and_a_tenant() {
    let out = qualify()
        .args(["score", "--tenant", "points", "-"])
        .write_stdin(r#"{"tags": ["Hit List"], "facts": {"budget": 400000, "financing": "cash"}}"#)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(json_out(&out)["score"], 45);
}

#[test]
fn embedded_default_rules_need_no_rules_folder() {
    let empty = tempfile::tempdir().unwrap();
    let mut cmd = Command::cargo_bin("qualify").unwrap();
    let out = cmd
        .current_dir(empty.path())
        .args(["score", "-"])
        .write_stdin(r#"{"tags": ["Hit List"], "facts": {"budget": 400000}}"#)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(
        json_out(&out)["next_question"],
        "What area are you interested in?"
    );
}

#[test]
fn jsonl_scores_every_line_in_order_and_reports_bad_ones() {
    let input = concat!(
        r#"{"tags": ["Hit List"], "facts": {"budget": 1}}"#,
        "\n",
        r#"{"tags": ["Hit List"], "facts": "#,
        "\n",
        "\n",
        r#"{"tags": ["Hit List"], "facts": {"budget": 1, "location": "Plano", "timeline": "asap"}}"#,
        "\n",
    );
    let assert = qualify()
        .args(["score", "--jsonl"])
        .write_stdin(input)
        .assert()
        .failure();
    let out = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(lines[0]["class"], "cold");
    assert_eq!(lines[1]["line"], 2);
    assert!(lines[1]["error"]
        .as_str()
        .unwrap()
        .starts_with("invalid lead"));
    assert_eq!(lines[2]["class"], "hot");
    let err = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(err.contains("line 2: invalid lead"), "{err}");
}

#[test]
fn malformed_json_is_one_line_on_stderr_and_a_failure() {
    let assert = qualify()
        .args(["score", "-"])
        .write_stdin("{\"facts\": [1,")
        .assert()
        .failure();
    let err = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("qualify: error: invalid lead:"), "{err}");
    assert!(assert.get_output().stdout.is_empty());
}

#[test]
fn unknown_and_invalid_tenants_are_clear_errors() {
    let assert = qualify()
        .args(["score", "--tenant", "nobody", "examples/lead.json"])
        .assert()
        .failure();
    let err = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert_eq!(err.trim(), "qualify: error: unknown tenant \"nobody\"");
    let assert = qualify()
        .args(["score", "--tenant", "../etc", "examples/lead.json"])
        .assert()
        .failure();
    let err = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(err.contains("invalid tenant id \"../etc\""), "{err}");
    qualify()
        .args(["score", "no-such-file.json"])
        .assert()
        .failure();
}

#[test]
fn check_passes_on_the_shipped_rules() {
    let out = qualify()
        .arg("check")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert!(
        out.starts_with("ok: 2 tenant(s) checked: default, points"),
        "{out}"
    );
}

#[test]
fn check_fails_with_file_line_column() {
    let dir = rules_copy();
    let file = dir.path().join("points/score.rhai");
    write(
        &file,
        "fn score(lead, cfg) {\n    let x = 1 +;\n}\nfn next_question(a, b, c) { () }\n",
    );
    let assert = qualify()
        .arg("check")
        .arg("--rules")
        .arg(dir.path())
        .assert()
        .failure();
    let out = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    let line = out.lines().next().unwrap();
    assert!(
        line.starts_with(&format!("{}:2:16: ", file.display())),
        "{out}"
    );
}

#[test]
fn check_rejects_a_question_over_the_segment_budget() {
    let dir = rules_copy();
    let long = "x".repeat(161);
    write(
        &dir.path().join("wordy/tenant.yaml"),
        &format!("questions:\n  buyer:\n    budget: \"{long}\"\n"),
    );
    let assert = qualify()
        .arg("check")
        .arg("--rules")
        .arg(dir.path())
        .assert()
        .failure();
    let out = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert!(
        out.contains("wordy/tenant.yaml: questions.buyer.budget: 2 SMS segments"),
        "{out}"
    );
}

#[test]
fn test_runs_every_tenants_cases() {
    let out = qualify()
        .arg("test")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    let last = out.lines().last().unwrap();
    let passed: usize = last.split(' ').next().unwrap().parse().unwrap();
    assert!(passed >= 30, "{last}");
    assert_eq!(last, format!("{passed} passed, 0 failed"));
}

#[test]
fn test_fails_when_a_case_fails() {
    let dir = rules_copy();
    write(
        &dir.path().join("points/cases.yaml"),
        "- name: wrong\n  lead: {tags: [Hit List]}\n  expect: {class: hot}\n",
    );
    let assert = qualify()
        .arg("test")
        .arg("--rules")
        .arg(dir.path())
        .assert()
        .failure();
    let out = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert!(
        out.contains("FAIL points: wrong\n       class: expected hot, got cold"),
        "{out}"
    );
    assert!(out.trim_end().ends_with(" passed, 1 failed"), "{out}");
}
