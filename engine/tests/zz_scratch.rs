// Scratch (not to be kept): prints facts for each line of /tmp/scratch/msgs.txt ("asked|text").
use qualify_engine::{Engine, Lead, TenantId};
use serde_json::json;
#[test]
fn scratch() {
    let engine = Engine::open(concat!(env!("CARGO_MANIFEST_DIR"), "/../rules")).unwrap();
    let text = std::fs::read_to_string("/tmp/scratch/msgs.txt").unwrap_or_default();
    let mut out = String::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (asked, msg) = line.split_once('|').unwrap_or(("", line));
        let mut messages = vec![];
        if !asked.is_empty() {
            messages.push(json!({"from":"agent","text":asked}));
        }
        messages.push(json!({"from":"lead","text":msg}));
        let lead: Lead =
            serde_json::from_value(json!({"tags":["Hit List"],"messages":messages})).unwrap();
        let d = engine.score(&TenantId::default(), &lead).unwrap();
        out.push_str(&format!(
            "{msg}\n   => {} | q={:?}\n",
            serde_json::to_string(&d.facts).unwrap(),
            d.question.map(|q| q.text)
        ));
    }
    std::fs::write("/tmp/scratch/out.txt", out).unwrap();
}
