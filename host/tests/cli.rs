//! The `qualify` binary end to end: score (single and --jsonl), check, test, bad input.

#[path = "../../engine/tests/common/mod.rs"]
mod common;

use assert_cmd::Command;
use common::{rules_copy, write};
use serde_json::Value;

fn qualify() -> Command {
    let mut cmd = Command::cargo_bin("qualify").unwrap();
    cmd.current_dir(common::repo_root())
        .env_remove("QUALIFY_MASTER_KEY");
    cmd
}

fn json_out(out: &[u8]) -> Value {
    serde_json::from_slice(out).unwrap()
}

/// What a failed command printed.
struct Failed {
    stdout: String,
    stderr: String,
}

/// Runs a command that must succeed (its standard output) or fail (what it printed).
trait Outcome {
    fn stdout_ok(&mut self) -> Vec<u8>;
    fn fails(&mut self) -> Failed;
}

impl Outcome for Command {
    fn stdout_ok(&mut self) -> Vec<u8> {
        self.assert().success().get_output().stdout.clone()
    }

    fn fails(&mut self) -> Failed {
        let out = self.assert().failure().get_output().clone();
        Failed {
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    }
}

#[test]
fn score_prints_the_decision() {
    let out = qualify().args(["score", "examples/lead.json"]).stdout_ok();
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
        .stdout_ok();
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
        .stdout_ok();
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
    let failed = qualify()
        .args(["score", "--jsonl"])
        .write_stdin(input)
        .fails();
    let out = failed.stdout.clone();
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
    let err = failed.stderr.clone();
    assert!(err.contains("line 2: invalid lead"), "{err}");
}

#[test]
fn malformed_json_is_one_line_on_stderr_and_a_failure() {
    let failed = qualify()
        .args(["score", "-"])
        .write_stdin("{\"facts\": [1,")
        .fails();
    let err = failed.stderr.clone();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("qualify: error: invalid lead:"), "{err}");
    assert!(failed.stdout.is_empty());
}

#[test]
fn unknown_and_invalid_tenants_are_clear_errors() {
    let failed = qualify()
        .args(["score", "--tenant", "nobody", "examples/lead.json"])
        .fails();
    let err = failed.stderr.clone();
    assert_eq!(err.trim(), "qualify: error: unknown tenant \"nobody\"");
    let failed = qualify()
        .args(["score", "--tenant", "../etc", "examples/lead.json"])
        .fails();
    let err = failed.stderr.clone();
    assert!(err.contains("invalid tenant id \"../etc\""), "{err}");
    qualify()
        .args(["score", "no-such-file.json"])
        .assert()
        .failure();
}

#[test]
fn check_passes_on_the_shipped_rules() {
    let out = qualify().arg("check").stdout_ok();
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
    let failed = qualify()
        .arg("check")
        .arg("--rules")
        .arg(dir.path())
        .fails();
    let out = failed.stdout.clone();
    let line = out.lines().next().unwrap();
    assert!(line.starts_with("points/score.rhai:2:16: "), "{out}");
}

#[test]
fn check_rejects_a_question_over_the_segment_budget() {
    let dir = rules_copy();
    let long = "x".repeat(161);
    write(
        &dir.path().join("wordy/tenant.yaml"),
        &format!("questions:\n  buyer:\n    budget: \"{long}\"\n"),
    );
    let failed = qualify()
        .arg("check")
        .arg("--rules")
        .arg(dir.path())
        .fails();
    let out = failed.stdout.clone();
    assert!(
        out.contains("wordy/tenant.yaml: questions.buyer.budget: 2 SMS segments"),
        "{out}"
    );
}

#[test]
fn test_runs_every_tenants_cases() {
    let out = qualify().arg("test").stdout_ok();
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
    let failed = qualify().arg("test").arg("--rules").arg(dir.path()).fails();
    let out = failed.stdout.clone();
    assert!(
        out.contains("FAIL points: wrong\n       class: expected hot, got cold"),
        "{out}"
    );
    assert!(out.trim_end().ends_with(" passed, 1 failed"), "{out}");
}

#[test]
fn test_candidate_runs_the_candidates_cases_and_coverage_in_place() {
    let dir = rules_copy();
    // A candidate for `points` that breaks one of its cases: hot needs 90 points now.
    write(
        &dir.path().join("points/candidate/tenant.yaml"),
        "hot_threshold: 90\n",
    );
    let serving = qualify()
        .args(["test", "--rules"])
        .arg(dir.path())
        .stdout_ok();
    let serving = String::from_utf8(serving).unwrap();
    assert!(
        serving.trim_end().ends_with(" passed, 0 failed"),
        "{serving}"
    );
    assert!(!serving.contains("(candidate)"), "{serving}");

    let failed = qualify()
        .args(["test", "--candidate", "--coverage", "--rules"])
        .arg(dir.path())
        .fails();
    let out = failed.stdout;
    assert!(out.contains("FAIL points (candidate): "), "{out}");
    assert!(out.contains("ok   points (candidate): "), "{out}");
    assert!(
        !out.contains("default (candidate)"),
        "only tenants with a candidate: {out}"
    );
    assert!(out.contains("\ncoverage points (candidate) ("), "{out}");

    // No candidate anywhere: said, and nothing fails.
    std::fs::remove_dir_all(dir.path().join("points/candidate")).unwrap();
    let none = qualify()
        .args(["test", "--candidate", "--rules"])
        .arg(dir.path())
        .stdout_ok();
    let none = String::from_utf8(none).unwrap();
    assert!(
        none.contains("no tenant folder holds a candidate/"),
        "{none}"
    );
    assert!(none.trim_end().ends_with("0 passed, 0 failed"), "{none}");
}

#[test]
fn ingest_show_export_erase_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let run = |args: &[&str]| {
        let mut cmd = qualify();
        cmd.args(args).arg("--data").arg(&data);
        cmd
    };
    // First use: a dev key is generated, owner-only, with a warning.
    let assert = run(&[
        "ingest",
        "--contact",
        "c1",
        "--tag",
        "Hit List",
        "Buying in Plano, 450k, call 214-555-0199",
    ])
    .assert()
    .success();
    let err = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(err.contains("generated a dev key"), "{err}");
    let out = json_out(&assert.get_output().stdout);
    assert_eq!(out["decision"]["class"], "warm");
    assert_eq!(
        out["stored_text"],
        "Buying in Plano, 450k, call [REDACTED_PHONE]"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("master.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let show = json_out(&run(&["contact", "show", "c1"]).stdout_ok());
    assert_eq!(show["facts"]["budget"], 450000);
    let export = json_out(&run(&["contact", "export", "c1"]).stdout_ok());
    assert_eq!(export["contact"]["id"], "c1");
    // Another tenant sees nothing.
    run(&["contact", "show", "--tenant", "points", "c1"])
        .assert()
        .failure();
    run(&["contact", "erase", "c1"]).assert().success();
    run(&["contact", "show", "c1"]).assert().failure();
    // Tenant erase needs --yes.
    run(&["tenant", "erase"]).assert().failure();
    run(&["tenant", "erase", "--yes"]).assert().success();
}

#[test]
fn a_wrong_key_is_a_clear_error_and_rotation_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let run = |args: &[&str]| {
        let mut cmd = qualify();
        cmd.args(args).arg("--data").arg(&data);
        cmd
    };
    run(&["ingest", "--contact", "c1", "budget 450k"])
        .assert()
        .success();
    // Dev key rotation, then the data still opens.
    let out = json_out(&run(&["keys", "rotate"]).stdout_ok());
    assert_eq!(out["rewrapped_tenant_keys"], 1);
    run(&["contact", "show", "c1"]).assert().success();
    // Someone else's key: refused, one line.
    let other = dir.path().join("other.key");
    let key = qualify().args(["keys", "generate"]).stdout_ok();
    std::fs::write(&other, key).unwrap();
    let failed = run(&[
        "contact",
        "show",
        "c1",
        "--key-file",
        other.to_str().unwrap(),
    ])
    .fails();
    let err = failed.stderr.clone();
    assert!(err.contains("wrong master key"), "{err}");
    // Rotating to that key makes it the one.
    run(&["keys", "rotate", "--new-key-file", other.to_str().unwrap()])
        .assert()
        .success();
    run(&[
        "contact",
        "show",
        "c1",
        "--key-file",
        other.to_str().unwrap(),
    ])
    .assert()
    .success();
}

#[test]
fn redact_prints_text_and_findings() {
    let out = qualify()
        .args(["redact", "SSN 123-45-6789 and jo@example.com"])
        .stdout_ok();
    let v = json_out(&out);
    assert_eq!(v["text"], "SSN [REDACTED_SSN] and [REDACTED_EMAIL]");
    assert_eq!(
        v["findings"][0],
        serde_json::json!({"entity": "US_SSN", "start": 4, "end": 15})
    );
    assert_eq!(v["findings"][1]["entity"], "EMAIL_ADDRESS");
}

/// Starts `qualify serve` in dev mode on `data`; the child and its curl line.
fn dev_serve(data: &std::path::Path) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_qualify"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .arg("--data")
        .arg(data)
        .current_dir(common::repo_root())
        .env_remove("QUALIFY_MASTER_KEY")
        .env_remove("QUALIFY_ADMIN_KEY")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let curl = lines
        .map(|l| l.unwrap())
        .find(|l| l.trim_start().starts_with("curl "))
        .expect("a curl line");
    (child, curl)
}

/// Runs the printed curl: its key comes from the file it names (`$(cat FILE)`, since the
/// output is not a terminal), never from the log.
fn run_curl(curl: &str) -> (String, serde_json::Value) {
    let key_file = curl
        .split("$(cat ")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap();
    let key = std::fs::read_to_string(key_file)
        .unwrap()
        .trim()
        .to_string();
    assert!(!curl.contains(&key), "the key is not in the output");
    let url = curl.split_whitespace().last().unwrap().to_string();
    let body = curl
        .split("-d '")
        .nth(1)
        .unwrap()
        .split('\'')
        .next()
        .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let v = rt.block_on(async {
        reqwest::Client::new()
            .post(&url)
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    (key, v)
}

/// Issue 9, item 18: dev mode's keys are written to owner-only files (the output is not a
/// terminal) and stay the same across a restart, so yesterday's curl still works.
#[test]
fn serve_prints_a_curl_that_returns_a_score_and_its_key_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut child, curl) = dev_serve(&data);
    let (key, v) = run_curl(&curl);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(v["class"], "warm", "{v}");
    assert_eq!(v["score"], 2);
    assert!(!common::too_open(&data.join("dev-api-key")));
    let (mut child, curl) = dev_serve(&data);
    let (again, v) = run_curl(&curl);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(again, key, "the same key after a restart");
    assert_eq!(v["score"], 2);
}

/// Issue 9, item 18: the generated dev key is for loopback only.
#[test]
fn serve_refuses_a_public_address_without_a_master_key() {
    let dir = tempfile::tempdir().unwrap();
    let failed = qualify()
        .args(["serve", "--addr", "0.0.0.0:0", "--data"])
        .arg(dir.path().join("data"))
        .fails();
    assert!(
        failed.stderr.contains("refusing to serve on 0.0.0.0:0"),
        "{}",
        failed.stderr
    );
}

#[test]
fn tenant_add_list_rotate_remove() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let run = |args: &[&str]| {
        let mut cmd = qualify();
        cmd.args(args).arg("--data").arg(&data);
        cmd
    };
    let added = json_out(&run(&["tenant", "add", "loc_123", "--tier", "professional"]).stdout_ok());
    assert_eq!(added["tenant"], "loc_123");
    let key = added["api_key"].as_str().unwrap().to_string();
    assert!(key.starts_with("qfy_loc_123."));
    run(&["tenant", "add", "loc_123"]).assert().failure();
    run(&["tenant", "add", "../etc"]).assert().failure();
    run(&["tenant", "add", "x", "--tier", "gold"])
        .assert()
        .failure();
    let list = json_out(&run(&["tenant", "list"]).stdout_ok());
    assert_eq!(list[0]["tenant"], "loc_123");
    assert_eq!(list[0]["tier"], "professional");
    assert!(
        !list.to_string().contains(&key[12..]),
        "keys are never listed"
    );
    // The key is stored only as a hash: not in the database file.
    let bytes = std::fs::read(data.join("qualify.redb")).unwrap();
    assert!(!bytes.windows(20).any(|w| w == &key.as_bytes()[12..32]));
    let rotated = json_out(&run(&["tenant", "rotate-key", "loc_123"]).stdout_ok());
    assert_ne!(rotated["api_key"], added["api_key"]);
    run(&["tenant", "remove", "loc_123"]).assert().failure();
    run(&["tenant", "remove", "loc_123", "--yes"])
        .assert()
        .success();
    let list = json_out(&run(&["tenant", "list"]).stdout_ok());
    assert_eq!(list, serde_json::json!([]));
}

#[test]
fn sms_info_and_reengage_through_the_cli() {
    let out = qualify().args(["sms-info", "Price: 5€ {ok}"]).stdout_ok();
    assert_eq!(
        json_out(&out),
        serde_json::json!({"encoding": "GSM-7", "segments": 1, "units": 17, "non_gsm": []})
    );
    let out = qualify().args(["sms-info", "It’s great"]).stdout_ok();
    assert_eq!(json_out(&out)["non_gsm"], serde_json::json!(["’"]));

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let run = |args: &[&str]| {
        let mut cmd = qualify();
        cmd.args(args).arg("--data").arg(&data);
        cmd
    };
    run(&[
        "ingest",
        "--contact",
        "c1",
        "--tag",
        "Hit List",
        "selling my house",
    ])
    .assert()
    .success();
    let now = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(25);
    let at = now.to_string();
    let dry = run(&["reengage", "--dry-run", "--now", &at]).stdout_ok();
    let dry = String::from_utf8(dry).unwrap();
    assert!(
        dry.lines().last().unwrap().contains("\"dry_run\":true"),
        "{dry}"
    );
    let out = run(&["reengage", "--now", &at]).stdout_ok();
    let out = String::from_utf8(out).unwrap();
    let first: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    // Sent, or deferred if 25 h from now falls outside 09:00-20:00 in Chicago.
    assert!(
        first["outcome"] == "sent" || first["outcome"] == "deferred",
        "{out}"
    );
    qualify()
        .args(["reengage", "--now", "yesterday"])
        .arg("--data")
        .arg(&data)
        .assert()
        .failure();
}

/// Issue 9, item 1: `qualify outbox list` shows what waits; `--failed` the dead letters.
#[test]
fn outbox_list_shows_queued_and_failed_actions() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let token = dir.path().join("token");
    std::fs::write(&token, "ghl-secret\n").unwrap();
    let token = token.to_str().unwrap();
    let mut add = qualify();
    add.args([
        "tenant",
        "add",
        "loc_1",
        "--ghl-token-file",
        token,
        "--data",
    ])
    .arg(&data)
    .stdout_ok();
    let mut ingest = qualify();
    ingest
        .args([
            "ingest",
            "--tenant",
            "loc_1",
            "--contact",
            "c1",
            "--tag",
            "Hit List",
        ])
        .arg("--data")
        .arg(&data)
        .arg("buying in Plano")
        .stdout_ok();
    let list = |extra: &[&str]| {
        let mut cmd = qualify();
        cmd.args(["outbox", "list", "--data"])
            .arg(&data)
            .args(extra);
        json_out(&cmd.stdout_ok())
    };
    let queued = list(&[]);
    assert_eq!(queued.as_array().unwrap().len(), 2, "{queued}");
    assert_eq!(list(&["--failed"]), serde_json::json!([]));
    {
        let key = std::fs::read_to_string(data.join("master.key")).unwrap();
        let store = qualify_engine::Store::open(
            data.join("qualify.redb"),
            qualify_engine::SecretKey::from_hex(&key).unwrap(),
        )
        .unwrap();
        let engine = qualify_engine::Engine::builder()
            .rules_dir(common::shipped_rules())
            .store(store)
            .build()
            .unwrap();
        let id = engine.outbox().queued(None).unwrap()[0].id;
        for _ in 0..10 {
            let queued = engine.outbox().queued(None).unwrap();
            let a = queued.iter().find(|a| a.id == id).unwrap();
            engine.outbox().failed(a, "GHL answered 500", 0).unwrap();
        }
    }
    let failed = list(&["--failed", "--tenant", "loc_1"]);
    let failed = failed.as_array().unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["contact"], "c1");
    assert!(failed[0]["last_error"]
        .as_str()
        .unwrap()
        .starts_with("gave up after 10 attempts"));
}

/// Issue 10: `qualify bench` measures a tenant's rules and prints its figures as JSON.
#[test]
fn bench_prints_its_measurements_and_refuses_bad_input() {
    let out = qualify()
        .args([
            "bench",
            "--seconds",
            "0.3",
            "--threads",
            "1",
            "--no-explain",
        ])
        .stdout_ok();
    let v = json_out(&out);
    assert_eq!(v["tenant"], "default");
    assert_eq!(v["threads"], 1);
    assert_eq!(v["explain"], false);
    assert!(v["decisions"].as_u64().unwrap() > 0);
    let (rate, per_core) = (
        v["decisions_per_s"].as_f64().unwrap(),
        v["per_core_per_s"].as_f64().unwrap(),
    );
    assert!(rate > 0.0 && (rate - per_core).abs() < 1e-6 * rate);
    assert!(v["p50_ns"].as_u64().unwrap() <= v["p99_ns"].as_u64().unwrap());
    // The default rules run lowered; `points` scores with a loop-free script that
    // calls `push`, outside the lowered subset, and says so.
    assert_eq!(v["interpreted"], serde_json::json!([]));
    let points = json_out(
        &qualify()
            .args([
                "bench",
                "--seconds",
                "0.1",
                "--threads",
                "1",
                "--tenant",
                "points",
            ])
            .stdout_ok(),
    );
    assert_eq!(points["interpreted"][0]["function"], "score");
    assert!(points["interpreted"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("push"));

    let failed = qualify()
        .args(["bench", "--seconds", "0.1", "--tenant", "nobody"])
        .fails();
    assert!(
        failed.stderr.contains("unknown tenant \"nobody\""),
        "{}",
        failed.stderr
    );
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "\n").unwrap();
    let failed = qualify()
        .args(["bench", "--seconds", "0.1"])
        .arg(&empty)
        .fails();
    assert!(failed.stderr.contains("no leads"), "{}", failed.stderr);
}

/// Issue 10: `--no-explain` leaves the explanation out; the decision is the same.
#[test]
fn score_without_the_explanation() {
    let with = json_out(&qualify().args(["score", "examples/lead.json"]).stdout_ok());
    let without = json_out(
        &qualify()
            .args(["score", "--no-explain", "examples/lead.json"])
            .stdout_ok(),
    );
    assert_eq!(without["explain"]["class_rule"], "");
    assert_ne!(with["explain"]["class_rule"], "");
    for key in ["score", "class", "tags", "question", "answered"] {
        assert_eq!(with[key], without[key], "{key}");
    }
}

/// Issue 16, item 5: an error that names its cause is not repeated ("rules folder not
/// found: rules folder not found").
#[test]
fn an_error_is_said_once() {
    let out = qualify()
        .args(["check", "--rules", "/no/such/rules"])
        .assert()
        .failure()
        .get_output()
        .stderr
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
        text.trim(),
        "qualify: error: /no/such/rules: rules folder not found"
    );
}

/// A burst of ingests wakes dozens of blocking threads, and with transparent huge pages
/// each new thread's heap faulted in whole 2 MiB pages: the first second of a burst had a
/// p99 of 80-120 ms (BENCHMARKS.md, "The first second of an ingest burst"). The server
/// runs with them off.
#[cfg(target_os = "linux")]
#[test]
fn serve_runs_without_transparent_huge_pages() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, _curl) = dev_serve(&dir.path().join("data"));
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id()));
    let _ = child.kill();
    let _ = child.wait();
    let status = status.unwrap();
    let line = status.lines().find(|l| l.starts_with("THP_enabled:"));
    match line {
        Some(line) => assert_eq!(line.split_whitespace().nth(1), Some("0"), "{line}"),
        None => eprintln!("SKIPPED: this kernel does not report THP_enabled (before 5.0)"),
    }
}
