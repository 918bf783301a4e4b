//! Crash safety: SIGKILL a `qualify ingest --lines` process in the middle of a stream of
//! messages, reopen the store, and find every acknowledged message and no torn record.

mod common;

use qualify_engine::{Engine, From, SecretKey, Store};
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
        .contact("points", "lead-7")
        .unwrap()
        .expect("record opens: not torn");
    let texts: Vec<&str> = contact
        .history
        .iter()
        .filter(|m| m.from == From::Lead)
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
    engine
        .ingest(
            "points",
            "lead-7",
            &qualify_engine::Inbound::text("after the crash"),
        )
        .unwrap();
}
