//! The server's logs hold no personal data: `qualify serve` at debug level (every
//! crate's debug lines on), a full conversation with a name, phone, e-mail, budget and a
//! script that prints what it is given, then the whole log searched for each of them and
//! for the keys. Also: `QUALIFY_LOG_FORMAT=json` gives one JSON object per line, and
//! each request's lines carry its id (the `X-Request-Id` answered).

#![allow(clippy::unwrap_used)]

use serde_json::{json, Value};
use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};

const SECRETS: [&str; 8] = [
    "Maria",
    "Gonzalez",
    "214-555-0199",
    "2145550199",
    "maria.gonzalez@example.com",
    "987654",
    "987,654",
    "Sycamore",
];

/// Starts the server in dev mode with `env`; the child, its base URL and the API key.
fn serve(dir: &Path, log: &Path, env: &[(&str, &str)]) -> (Child, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_qualify"));
    cmd.args([
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--data",
        "data",
        "--rules",
        "rules",
    ])
    .current_dir(dir)
    .env_remove("QUALIFY_MASTER_KEY")
    .env_remove("QUALIFY_ADMIN_KEY")
    .stdout(Stdio::piped())
    .stderr(std::fs::File::create(log).unwrap());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let curl = lines
        .map(|l| l.unwrap())
        .find(|l| l.trim_start().starts_with("curl "))
        .expect("a curl line");
    let url = curl.split_whitespace().last().unwrap();
    let base = url.trim_end_matches("/v1/score").to_string();
    let key = std::fs::read_to_string(dir.join("data/dev-api-key"))
        .unwrap()
        .trim()
        .to_string();
    (child, base, key)
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// A rules folder whose default tenant's score hook prints the lead it is given.
fn chatty_rules(dir: &Path) {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/default");
    let target = dir.join("rules/default");
    std::fs::create_dir_all(&target).unwrap();
    for f in std::fs::read_dir(shipped).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), target.join(f.file_name())).unwrap();
    }
    let score = std::fs::read_to_string(target.join("score.rhai"))
        .unwrap()
        .replace(
            "fn score(lead, cfg) {",
            "fn score(lead, cfg) {\n    print(lead);\n    debug(lead);",
        );
    std::fs::write(target.join("score.rhai"), score).unwrap();
}

async fn conversation(base: &str, key: &str) -> Vec<String> {
    let http = reqwest::Client::new();
    let mut ids = Vec::new();
    for text in [
        "Hi, this is Maria Gonzalez, we want to buy in Plano",
        "Call me at 214-555-0199 or maria.gonzalez@example.com",
        "Our budget is $987,654 and we live on Sycamore Lane now",
        "We need to move next month, pre-approved already",
    ] {
        let r = http
            .post(format!("{base}/v1/contacts/lead-1/messages"))
            .bearer_auth(key)
            .json(&json!({"text": text, "tags": ["Hit List"], "name": "Maria Gonzalez"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        ids.push(r.headers()["x-request-id"].to_str().unwrap().to_string());
    }
    let r = http
        .post(format!("{base}/v1/score"))
        .bearer_auth(key)
        .json(&json!({"facts": {"name": "Maria Gonzalez", "budget": 987654, "email": "maria.gonzalez@example.com"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A bad request whose error message would name the value.
    let r = http
        .post(format!("{base}/v1/contacts/lead-1/messages"))
        .bearer_auth(key)
        .json(&json!({"text": "hi", "timezone": "maria.gonzalez@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_conversation_at_debug_level_logs_no_personal_data() {
    let dir = tempfile::tempdir().unwrap();
    chatty_rules(dir.path());
    let log = dir.path().join("server.log");
    let (child, base, key) = serve(dir.path(), &log, &[("RUST_LOG", "debug")]);
    let ids = conversation(&base, &key).await;
    stop(child);
    let text = std::fs::read_to_string(&log).unwrap();
    // The logs were really on: debug lines, the script's prints, each request's id.
    assert!(text.lines().count() > 20, "{text}");
    assert!(text.contains("qualify::script"), "{text}");
    for id in &ids {
        assert!(text.contains(id.as_str()), "request id {id} not in the log");
    }
    let admin = std::fs::read_to_string(dir.path().join("data/dev-admin-key")).unwrap();
    let secret_part = key.split('.').nth(1).unwrap().to_string();
    for secret in SECRETS
        .iter()
        .copied()
        .chain([secret_part.as_str(), admin.trim()])
    {
        let hits: Vec<&str> = text.lines().filter(|l| l.contains(secret)).collect();
        assert!(hits.is_empty(), "{secret:?} logged:\n{}", hits.join("\n"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    chatty_rules(dir.path());
    let log = dir.path().join("server.log");
    let (child, base, key) = serve(
        dir.path(),
        &log,
        &[
            ("RUST_LOG", "qualify=debug,host=debug,qualify_engine=debug"),
            ("QUALIFY_LOG_FORMAT", "json"),
        ],
    );
    conversation(&base, &key).await;
    stop(child);
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() > 5, "{text}");
    for line in lines {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            v["level"].is_string() && v["timestamp"].is_string(),
            "{line}"
        );
    }
}
