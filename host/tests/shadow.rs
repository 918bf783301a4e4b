//! Shadow mode through `qualify serve`: the default tenant's folder holds a `candidate/`
//! that changes one question text; live requests are answered by the serving version,
//! and the report — over HTTP for the tenant's key, and from `qualify shadow report` with
//! the admin key — counts exactly the decisions whose question differs.

#![allow(clippy::unwrap_used)]

use serde_json::{json, Value};
use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TIMELINE: &str = "When do you need to move?";
const NEW_TIMELINE: &str = "When would you like to be in your new home?";

/// Starts the server in dev mode over `dir/rules`; the child and its base URL.
fn serve(dir: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_qualify"))
        .args(["serve", "--addr", "127.0.0.1:0", "--data", "data"])
        .args(["--rules", "rules", "--no-rate-limit"])
        .current_dir(dir)
        .env_remove("QUALIFY_MASTER_KEY")
        .env_remove("QUALIFY_ADMIN_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let curl = lines
        .map(|l| l.unwrap())
        .find(|l| l.trim_start().starts_with("curl "))
        .expect("a curl line");
    let url = curl.split_whitespace().last().unwrap();
    (child, url.trim_end_matches("/v1/score").to_string())
}

fn rules_with_candidate(dir: &Path) {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/default");
    let target = dir.join("rules/default");
    std::fs::create_dir_all(target.join("candidate")).unwrap();
    for f in std::fs::read_dir(shipped).unwrap() {
        let f = f.unwrap();
        if f.file_type().unwrap().is_file() {
            std::fs::copy(f.path(), target.join(f.file_name())).unwrap();
        }
    }
    std::fs::write(
        target.join("candidate/tenant.yaml"),
        format!("questions:\n  buyer:\n    timeline: \"{NEW_TIMELINE}\"\n"),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_counts_the_live_decisions_whose_question_differs() {
    let dir = tempfile::tempdir().unwrap();
    rules_with_candidate(dir.path());
    let (mut child, base) = serve(dir.path());
    let key = std::fs::read_to_string(dir.path().join("data/dev-api-key")).unwrap();
    let key = key.trim();
    let http = reqwest::Client::new();

    let texts = [
        "Looking to buy in Plano, around 450k",
        "We want a 3 bed in Frisco",
        "budget is 300k, pre-approved",
        "just looking",
    ];
    let (mut n, mut expected) = (0, 0);
    for i in 0..40 {
        let lead =
            json!({"tags": ["Hit List"], "messages": [{"from": "lead", "text": texts[i % 4]}]});
        let r = http
            .post(format!("{base}/v1/score"))
            .bearer_auth(key)
            .json(&lead)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let d: Value = r.json().await.unwrap();
        assert_ne!(
            d["next_question"], NEW_TIMELINE,
            "the candidate never answers"
        );
        n += 1;
        expected += usize::from(d["next_question"] == TIMELINE);
    }
    for (i, text) in ["We want to buy in Plano", "around 450k"]
        .iter()
        .enumerate()
    {
        let r = http
            .post(format!("{base}/v1/contacts/lead-{i}/messages"))
            .bearer_auth(key)
            .json(&json!({"text": text, "tags": ["Hit List"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let d: Value = r.json().await.unwrap();
        n += 1;
        expected += usize::from(d["decision"]["next_question"] == TIMELINE);
    }
    assert!(expected > 0 && expected < n);

    // Over HTTP, the tenant's own report, once the shadow threads are done.
    let start = Instant::now();
    let report = loop {
        let r = http
            .get(format!("{base}/v1/shadow"))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let report: Value = r.json().await.unwrap();
        if report["pending"] == 0 {
            break report;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{report}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(report["decisions"], n, "{report}");
    assert_eq!(report["compared"], n, "{report}");
    assert_eq!(report["changed"]["question"], expected, "{report}");
    assert_eq!(report["changed"]["any"], expected, "{report}");
    assert!(report["candidate_version"]
        .as_str()
        .unwrap()
        .starts_with("r-"));

    // The CLI asks the running server with the admin key (the dev server's, in data/).
    let out = Command::new(env!("CARGO_BIN_EXE_qualify"))
        .args(["shadow", "report", "--tenant", "default", "--server", &base])
        .args(["--format", "json"])
        .current_dir(dir.path())
        .env_remove("QUALIFY_ADMIN_KEY")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cli["changed"], report["changed"]);
    assert_eq!(cli["decisions"], report["decisions"]);
    let table = Command::new(env!("CARGO_BIN_EXE_qualify"))
        .args(["shadow", "report", "--server", &base])
        .current_dir(dir.path())
        .env_remove("QUALIFY_ADMIN_KEY")
        .output()
        .unwrap();
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(
        table.contains(&format!("{n} live decisions: {n} compared")),
        "{table}"
    );
    assert!(table.contains("next question"), "{table}");

    // A wrong admin key is refused, said plainly.
    let refused = Command::new(env!("CARGO_BIN_EXE_qualify"))
        .args(["shadow", "report", "--server", &base])
        .env("QUALIFY_ADMIN_KEY", "not-the-key")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("401"), "{err}");

    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

#[test]
fn the_report_table_names_the_sample_as_a_plain_percentage() {
    let report: qualify_engine::conversation::ShadowReport = serde_json::from_value(json!({
        "tenant": "acme", "serving_version": "r-1", "candidate_version": "r-2",
        "since": null, "sample": 0.07, "decisions": 100, "skipped": 93, "compared": 7,
        "pending": 0, "dropped": 0, "failed": 0,
        "changed": {"any": 0, "class": 0, "score": 0, "tags": 0, "question": 0, "handoff": 0},
        "transitions": []
    }))
    .unwrap();
    let table = host::cli::shadow::table(&report);
    assert!(
        table.contains("100 live decisions (93 left out by the sample of 7%): 7 compared"),
        "{table}"
    );
}
