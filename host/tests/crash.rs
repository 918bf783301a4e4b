//! Crash safety: SIGKILL a `qualify ingest --lines` process in the middle of a stream of
//! messages, reopen the store, and find every acknowledged message and no torn record.

#[path = "../../engine/tests/common/mod.rs"]
mod common;

use common::{cid, say, stored, tid};

use qualify_engine::model::Author;
use qualify_engine::{Engine, SecretKey, Store};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

#[test]
fn every_acknowledged_message_survives_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key = SecretKey::generate();
    let key_file = dir.path().join("master.key");
    std::fs::write(&key_file, key.to_hex().as_bytes()).unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_qualify"))
        .args([
            "ingest",
            "--lines",
            "--contact",
            "lead-7",
            "--tenant",
            "points",
        ])
        .arg("--rules")
        .arg(common::shipped_rules())
        .arg("--data")
        .arg(&data)
        .arg("--key-file")
        .arg(&key_file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut acks = BufReader::new(child.stdout.take().unwrap()).lines();

    // 20 messages, each acknowledged before the next is sent...
    let mut acked = 0;
    for i in 0..20 {
        writeln!(stdin, "message number {i}").unwrap();
        stdin.flush().unwrap();
        let line = acks.next().unwrap().unwrap();
        assert!(line.contains("\"decision\""), "{line}");
        acked += 1;
    }
    // ...then a burst written without waiting, killed while it is being ingested.
    for i in 20..40 {
        writeln!(stdin, "message number {i}").unwrap();
    }
    stdin.flush().unwrap();
    if let Some(Ok(_)) = acks.next() {
        acked += 1;
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();

    let store = Store::open(data.join("qualify.redb"), key).unwrap();
    let engine = Engine::builder()
        .rules_dir(common::shipped_rules())
        .store(store)
        .build()
        .unwrap();
    let contact = engine
        .contacts()
        .get(&tid("points"), &cid("lead-7"))
        .unwrap()
        .expect("record opens: not torn");
    let texts: Vec<&str> = contact
        .history
        .iter()
        .filter(|m| m.from == Author::Lead)
        .map(|m| m.text.as_str())
        .collect();
    assert!(
        texts.len() >= acked,
        "{} stored, {acked} acknowledged",
        texts.len()
    );
    // In order, without gaps: a prefix of what was sent.
    for (i, t) in texts.iter().enumerate() {
        assert_eq!(*t, format!("message number {i}"));
    }
    // And the store still takes writes.
    say(
        &engine,
        "points",
        "lead-7",
        &qualify_engine::Inbound::text("after the crash"),
    );
}

#[test]
fn a_killed_follow_up_run_neither_double_sends_nor_skips() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let key = SecretKey::generate();
    let key_file = dir.path().join("master.key");
    std::fs::write(&key_file, key.to_hex().as_bytes()).unwrap();
    let t0: jiff::Timestamp = "2026-01-13T15:00:00Z".parse().unwrap();
    let contacts = 600;
    {
        let store = Store::open(data.join("qualify.redb"), key.clone()).unwrap();
        let engine = Engine::builder()
            .rules_dir(common::shipped_rules())
            .store(store)
            .clock(qualify_engine::clock::ManualClock::new(t0))
            .build()
            .unwrap();
        for i in 0..contacts {
            let msg = qualify_engine::Inbound {
                tags: Some(vec!["Hit List".into()]),
                ..qualify_engine::Inbound::text("we want to buy")
            };
            say(&engine, "default", &format!("c{i}"), &msg);
        }
    }
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_qualify"))
            .args(["reengage", "--now", "2026-01-14T16:00:00Z"])
            .arg("--rules")
            .arg(common::shipped_rules())
            .arg("--data")
            .arg(&data)
            .arg("--key-file")
            .arg(&key_file)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // Kill the first run after a few dozen sends.
    let mut child = run();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for _ in 0..40 {
        lines.next().unwrap().unwrap();
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // A second run finishes the job.
    let out = run().wait_with_output().unwrap();
    assert!(out.status.success());
    let store = Store::open(data.join("qualify.redb"), key).unwrap();
    let engine = Engine::builder()
        .rules_dir(common::shipped_rules())
        .store(store)
        .build()
        .unwrap();
    for i in 0..contacts {
        let c = stored(&engine, "default", &format!("c{i}"));
        let followups = c
            .history
            .iter()
            .filter(|m| m.text.contains("Just checking in"))
            .count();
        assert_eq!((c.followup.stage, followups), (1, 1), "contact c{i}");
    }
}

/// Issue 11: SIGKILL the server during a 64-client ingest storm. After the restart every
/// acknowledged message is in its contact, no contact is torn, and each unacknowledged
/// message is wholly present or wholly absent (a client's messages form an unbroken
/// run: at most its last, unanswered one may be there too).
#[test]
fn a_server_killed_during_an_ingest_storm_keeps_every_acknowledged_message() {
    use std::sync::{Arc, Mutex};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key = SecretKey::generate();
    let key_file = dir.path().join("master.key");
    let admin_file = dir.path().join("admin.key");
    std::fs::write(&key_file, key.to_hex().as_bytes()).unwrap();
    std::fs::write(&admin_file, "storm-admin").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_qualify"))
        .args(["serve", "--addr", "127.0.0.1:0", "--no-rate-limit"])
        .arg("--rules")
        .arg(common::shipped_rules())
        .arg("--data")
        .arg(&data)
        .arg("--key-file")
        .arg(&key_file)
        .arg("--admin-key-file")
        .arg(&admin_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let line = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(|l| l.unwrap())
        .find(|l| l.contains("listening on"))
        .unwrap();
    let base = line
        .split("listening on ")
        .nth(1)
        .unwrap()
        .trim()
        .to_string();
    let acked: Arc<Mutex<Vec<usize>>> = Arc::new(Mutex::new(vec![0; 64]));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        let r = http
            .post(format!("{base}/admin/tenants"))
            .bearer_auth("storm-admin")
            .json(&serde_json::json!({"tenant": "storm", "tier": "enterprise"}))
            .send()
            .await
            .unwrap();
        let v: serde_json::Value = r.json().await.unwrap();
        let api = v["api_key"].as_str().unwrap().to_string();
        let mut clients = Vec::new();
        for c in 0..64 {
            let (http, base, api, acked) = (http.clone(), base.clone(), api.clone(), acked.clone());
            clients.push(tokio::spawn(async move {
                for m in 0.. {
                    let body =
                        serde_json::json!({"text": format!("message {m}"), "tags": ["Hit List"]});
                    let sent = http
                        .post(format!("{base}/v1/contacts/c{c}/messages"))
                        .bearer_auth(&api)
                        .json(&body)
                        .send()
                        .await;
                    match sent {
                        Ok(r) if r.status().is_success() => acked.lock().unwrap()[c] = m + 1,
                        _ => return,
                    }
                }
            }));
        }
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        for client in clients {
            let _ = client.await;
        }
    });
    let acked = acked.lock().unwrap().clone();
    assert!(acked.iter().sum::<usize>() > 64, "the storm ran: {acked:?}");
    let store = Store::open(data.join("qualify.redb"), key).unwrap();
    let engine = Engine::builder()
        .rules_dir(common::shipped_rules())
        .store(store)
        .build()
        .unwrap();
    for (c, &n) in acked.iter().enumerate() {
        let contact = engine.contacts().get(&tid("storm"), &cid(&format!("c{c}")));
        let Some(contact) = contact.unwrap() else {
            assert_eq!(n, 0, "c{c}: {n} acknowledged, none stored");
            continue;
        };
        // The history keeps the last 50 messages: the stored ones are consecutive, the
        // last of them the last acknowledged or the one after it.
        let numbers: Vec<usize> = contact
            .history
            .iter()
            .filter(|m| m.from == Author::Lead)
            .map(|m| m.text.trim_start_matches("message ").parse().unwrap())
            .collect();
        assert!(
            numbers.windows(2).all(|w| w[1] == w[0] + 1),
            "c{c}: an unbroken run: {numbers:?}"
        );
        let last = numbers.last().map_or(0, |l| l + 1);
        assert!(
            last == n || last == n + 1,
            "c{c}: {n} acknowledged, up to {last} stored"
        );
    }
}
