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
