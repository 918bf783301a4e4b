//! Decisions do not change when the engine's insides do: a few thousand generated leads
//! (supplied facts, realistic messages, tags) run through every shipped tenant, each
//! decision (explanation included) compared with `golden/decisions.txt`, recorded before
//! the speed work. A line is `tenant index sha256 score class`; the hash is over the
//! decision as JSON with object keys sorted.
//!
//! To record anew after an intended change of behaviour: `QUALIFY_BLESS=1 cargo test -p
//! qualify-engine --test golden`, and say why in the commit. To see what changed first,
//! `QUALIFY_GOLDEN_DUMP=file` writes each lead and its whole decision as one JSON line:
//! run it before and after the change and compare the two files.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod common;

use common::Rng;

use qualify_engine::{Engine, Lead};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::fmt::Write;

const LEADS: usize = 3000;

const BUDGETS: [&str; 9] = [
    "450000",
    "$450k",
    "around 350k",
    "300-400k",
    "under half a million",
    "not sure",
    "1.2 million",
    "250,000",
    "no idea",
];
const PLACES: [&str; 7] = [
    "Plano", "Frisco", "McKinney", "Allen", "Dallas", "Austin", "unsure",
];
const TIMELINES: [&str; 7] = [
    "asap",
    "next month",
    "in 6 months",
    "by summer",
    "not sure yet",
    "this week",
    "2027",
];
const FINANCING: [&str; 5] = ["pre-approved", "cash", "need a lender", "not sure", "FHA"];
const MOTIVATION: [&str; 4] = ["relocation", "growing family", "downsizing", "investment"];
const CONDITION: [&str; 4] = ["move-in ready", "needs work", "fixer-upper", "unknown"];
const GOALS: [&str; 5] = ["buy", "sell", "Buyer", "selling", "rent"];
const TAGS: [&[&str]; 6] = [
    &["Hit List"],
    &["Hit List", "Cold-Lead"],
    &["Needs Qualifying", "Warm-Lead", "AI-Engaged"],
    &["Hit List", "AI-Off"],
    &[],
    &["Need to Qualify", "Hot-Lead"],
];
const MESSAGES: [&str; 14] = [
    "Hi! We're relocating for work and want to buy a 3 bed 2 bath in Plano, pre-approved up to $450k.",
    "Looking to sell my house in Frisco, it needs some work",
    "not sure yet",
    "we want something in the next 2 months, paying cash",
    "budget around 350k, maybe McKinney or Allen",
    "Just browsing for now",
    "My name is Ana, we have a growing family",
    "need a pool and a big backyard, 4 bedrooms",
    "asap please",
    "no idea about the budget",
    "Queremos comprar en Dallas, 400 mil",
    "what's it worth? thinking of listing",
    "STOP",
    "call me at 214-555-0199",
];

fn lead(rng: &mut Rng) -> Lead {
    let mut facts = Map::new();
    let mut maybe = |rng: &mut Rng, key: &str, pool: &[&str]| {
        if rng.chance(40) {
            facts.insert(key.to_string(), json!(rng.pick(pool)));
        }
    };
    maybe(rng, "budget", &BUDGETS);
    maybe(rng, "location", &PLACES);
    maybe(rng, "timeline", &TIMELINES);
    maybe(rng, "financing", &FINANCING);
    maybe(rng, "motivation", &MOTIVATION);
    maybe(rng, "home_condition", &CONDITION);
    maybe(rng, "goal", &GOALS);
    if rng.chance(25) {
        facts.insert("bedrooms".into(), json!(1 + rng.next() % 5));
    }
    if rng.chance(10) {
        facts.insert("must_haves".into(), json!(["pool", "garage"]));
    }
    let mut messages = Vec::new();
    if rng.chance(50) {
        for i in 0..(1 + rng.next() % 4) {
            let from = if i % 2 == 1 && rng.chance(60) {
                "agent"
            } else {
                "lead"
            };
            let text = if from == "agent" {
                "What's your budget?"
            } else {
                rng.pick(&MESSAGES)
            };
            messages.push(json!({"from": from, "text": text}));
        }
    }
    let tags = rng.pick(&TAGS).to_vec();
    serde_json::from_value(json!({"facts": facts, "messages": messages, "tags": tags})).unwrap()
}

/// The decision as JSON with every object's keys sorted (insertion order is the engine's
/// business; the content is the contract).
fn canonical(v: Value) -> Value {
    match v {
        Value::Object(mut m) => {
            // The rules version hashes the files themselves: any edit changes it, which
            // is its job; the decision's behaviour is what this test compares.
            m.remove("rules_version");
            let mut entries: Vec<(String, Value)> = m.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, canonical(v)))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.into_iter().map(canonical).collect()),
        other => other,
    }
}

fn record() -> String {
    let engine = Engine::open(common::shipped_rules()).unwrap();
    let dump = std::env::var_os("QUALIFY_GOLDEN_DUMP");
    let mut dumped = String::new();
    let mut out = String::new();
    for tenant in engine.rules().tenants() {
        let mut rng = Rng(0x005E_ED0F_0A11_DEC1);
        for i in 0..LEADS {
            let lead = lead(&mut rng);
            let line = match engine.score(&tenant, &lead) {
                Ok(d) => {
                    let decision = canonical(serde_json::to_value(&d).unwrap());
                    if dump.is_some() {
                        let row = json!({"tenant": tenant.to_string(), "i": i, "lead": lead, "decision": decision});
                        writeln!(dumped, "{row}").unwrap();
                    }
                    let text = decision.to_string();
                    let hash = hex::encode(Sha256::digest(text.as_bytes()));
                    format!("{tenant} {i} {hash} {} {}", d.score, d.class.as_str())
                }
                Err(e) => format!("{tenant} {i} error {e}"),
            };
            writeln!(out, "{line}").unwrap();
        }
    }
    if let Some(path) = dump {
        std::fs::write(path, dumped).unwrap();
    }
    out
}

#[test]
fn decisions_match_the_recorded_ones() {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/decisions.txt");
    let now = record();
    if std::env::var_os("QUALIFY_BLESS").is_some() {
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, &now).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&file).unwrap();
    let mut differ = 0;
    for (want, got) in expected.lines().zip(now.lines()) {
        if want != got {
            differ += 1;
            if differ <= 10 {
                eprintln!("expected {want}\n     got {got}");
            }
        }
    }
    assert_eq!(expected.lines().count(), now.lines().count());
    assert_eq!(
        differ, 0,
        "{differ} decisions differ from the recorded ones"
    );
}
