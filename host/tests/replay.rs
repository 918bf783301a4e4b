//! `qualify replay` end to end: a tenant's conversations stored through ingest, a candidate
//! that raises the hot threshold, the reported transitions checked against decisions the
//! test makes itself with a second engine opened on the candidate's rules, and the store
//! file's bytes unchanged. Also the errors: unknown tenant, missing candidate folder, a
//! candidate that does not compile.

#[path = "../../engine/tests/common/mod.rs"]
mod common;

use assert_cmd::Command;
use common::{cid, rules_copy, tid, write};
use qualify_engine::model::Author;
use qualify_engine::{Engine, Inbound, Lead, SecretKey, Store};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

const TENANT: &str = "acme";
const CONTACTS: usize = 240;

/// What leads say, in turns: enough variety that scores spread from 0 to 6.
const SAYINGS: [&str; 12] = [
    "Hi, we want to buy a house",
    "Our budget is around 450k",
    "Looking in Plano or Frisco",
    "We need to move next month",
    "3 bedrooms and 2 baths please",
    "We are pre-approved already",
    "New job in Dallas, relocating",
    "Maybe 600k tops, call me at 214-555-0147",
    "Not sure yet about timing",
    "Somewhere near McKinney",
    "Cash buyer, moving asap",
    "Just browsing for now",
];

fn qualify() -> Command {
    let mut cmd = Command::cargo_bin("qualify").unwrap();
    cmd.env_remove("QUALIFY_MASTER_KEY");
    cmd
}

fn sha(path: &Path) -> Vec<u8> {
    Sha256::digest(std::fs::read(path).unwrap()).to_vec()
}

/// Stores `CONTACTS` conversations of 1 to 4 messages through ingest.
fn store_conversations(rules: &Path, data: &Path, key: &SecretKey) {
    let store = Store::open(data.join("qualify.redb"), key.clone()).unwrap();
    let engine = Engine::builder()
        .rules_dir(rules)
        .store(store)
        .build()
        .unwrap();
    for n in 0..CONTACTS {
        let contact = cid(&format!("c{n:04}"));
        for turn in 0..(1 + n % 4) {
            let mut msg = Inbound::text(SAYINGS[(n * 7 + turn * 5) % SAYINGS.len()]);
            if turn == 0 {
                msg.tags = Some(vec!["Hit List".into()]);
            }
            engine.ingest(&tid(TENANT), &contact, &msg).unwrap();
        }
    }
}

/// The class transitions (serving → candidate) computed here: each stored inbound
/// message's conversation prefix scored by two stateless engines, one per rules folder.
fn expected_transitions(
    serving_rules: &Path,
    candidate_rules: &Path,
    data: &Path,
    key: &SecretKey,
) -> (BTreeMap<(String, String), usize>, usize) {
    let store = Store::open_read_only(data.join("qualify.redb"), key.clone(), 1 << 20).unwrap();
    let stored = Engine::builder()
        .rules_dir(serving_rules)
        .store(store)
        .build()
        .unwrap();
    let serving = Engine::open(serving_rules).unwrap();
    let candidate = Engine::open(candidate_rules).unwrap();
    let (mut cells, mut messages) = (BTreeMap::new(), 0);
    for n in 0..CONTACTS {
        let c = stored
            .contacts()
            .get(&tid(TENANT), &cid(&format!("c{n:04}")))
            .unwrap()
            .unwrap();
        for (i, m) in c.history.iter().enumerate() {
            if m.from != Author::Lead {
                continue;
            }
            messages += 1;
            let lead = Lead {
                messages: c.history[..=i].to_vec(),
                tags: c.tags.clone(),
                ..Lead::default()
            };
            let s = serving.score(&tid(TENANT), &lead).unwrap().class;
            let k = candidate.score(&tid(TENANT), &lead).unwrap().class;
            *cells
                .entry((s.as_str().to_string(), k.as_str().to_string()))
                .or_insert(0) += 1;
        }
    }
    (cells, messages)
}

#[test]
fn replay_reports_the_transitions_of_a_raised_hot_threshold_and_writes_nothing() {
    let rules = rules_copy();
    write(
        &rules.path().join(TENANT).join("tenant.yaml"),
        "name: Acme\n",
    );
    let work = tempfile::tempdir().unwrap();
    let (data, key_file) = (work.path().join("data"), work.path().join("master.key"));
    std::fs::create_dir_all(&data).unwrap();
    let key = SecretKey::generate();
    std::fs::write(&key_file, key.to_hex().as_bytes()).unwrap();
    store_conversations(rules.path(), &data, &key);

    // The candidate: only a tenant.yaml raising the hot threshold (everything else is
    // inherited). The same change applied to a full copy of the rules, for the check.
    let candidate = work.path().join("candidate");
    write(&candidate.join("tenant.yaml"), "hot_threshold: 5\n");
    let raised = rules_copy();
    write(
        &raised.path().join(TENANT).join("tenant.yaml"),
        "name: Acme\nhot_threshold: 5\n",
    );
    let (want, messages) = expected_transitions(rules.path(), raised.path(), &data, &key);
    assert!(
        want.get(&("hot".into(), "warm".into()))
            .copied()
            .unwrap_or(0)
            > 10,
        "the data must have leads the raised threshold moves: {want:?}"
    );

    let db = data.join("qualify.redb");
    let before = sha(&db);
    let out = qualify()
        .arg("replay")
        .args(["--tenant", TENANT, "--format", "json"])
        .arg("--rules")
        .arg(rules.path())
        .arg("--candidate")
        .arg(&candidate)
        .arg("--data")
        .arg(&data)
        .arg("--key-file")
        .arg(&key_file)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(sha(&db), before, "the store file changed");
    let report: Value = serde_json::from_slice(&out).unwrap();

    assert_eq!(report["contacts"], CONTACTS);
    assert_eq!(report["messages"], messages);
    assert_eq!(report["compared"], messages);
    assert!(report["basis"].as_str().unwrap().contains("redacted"));
    let got: BTreeMap<(String, String), usize> = report["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let s = |k: &str| t[k].as_str().unwrap().to_string();
            ((s("from"), s("to")), t["count"].as_u64().unwrap() as usize)
        })
        .collect();
    assert_eq!(got, want);
    let moved: usize = want
        .iter()
        .filter(|((f, t), _)| f != t)
        .map(|(_, n)| n)
        .sum();
    assert_eq!(report["changed"]["class"], moved);
    assert_eq!(
        report["changed"]["handoff"], moved,
        "hot is where hand-off is"
    );
    assert_ne!(report["serving_version"], report["candidate_version"]);

    // Examples are redacted and show the two sides.
    let examples = report["examples"]["class"].as_array().unwrap();
    assert_eq!(examples.len(), 3);
    for x in examples {
        assert_eq!(x["serving"]["class"], "hot");
        assert_eq!(x["candidate"]["class"], "warm");
    }
    assert!(
        !out.windows(8).any(|w| w == b"555-0147"),
        "a phone number leaked"
    );

    // The table says the same for a person.
    let table = qualify()
        .arg("replay")
        .args(["--tenant", TENANT])
        .arg("--rules")
        .arg(rules.path())
        .arg("--candidate")
        .arg(&candidate)
        .arg("--data")
        .arg(&data)
        .arg("--key-file")
        .arg(&key_file)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let table = String::from_utf8(table).unwrap();
    assert!(table.contains("Class transitions"), "{table}");
    assert!(
        table.contains(&format!("{CONTACTS} conversations")),
        "{table}"
    );
    assert_eq!(sha(&db), before, "the store file changed");
}

#[test]
fn replay_errors_are_clear_and_write_nothing() {
    let rules = rules_copy();
    let work = tempfile::tempdir().unwrap();
    let (data, key_file) = (work.path().join("data"), work.path().join("master.key"));
    std::fs::create_dir_all(&data).unwrap();
    let key = SecretKey::generate();
    std::fs::write(&key_file, key.to_hex().as_bytes()).unwrap();
    {
        let store = Store::open(data.join("qualify.redb"), key.clone()).unwrap();
        let engine = Engine::builder()
            .rules_dir(rules.path())
            .store(store)
            .build()
            .unwrap();
        let mut msg = Inbound::text("budget 400k in Plano");
        msg.tags = Some(vec!["Hit List".into()]);
        engine.ingest(&tid("default"), &cid("c1"), &msg).unwrap();
    }
    let db = data.join("qualify.redb");
    let before = sha(&db);
    let bad = work.path().join("bad");
    write(
        &bad.join("score.rhai"),
        "fn score(lead, cfg) {\n    let x = ;\n}\n",
    );
    let run = |tenant: &str, candidate: &Path| {
        let out = qualify()
            .arg("replay")
            .args(["--tenant", tenant])
            .arg("--rules")
            .arg(rules.path())
            .arg("--candidate")
            .arg(candidate)
            .arg("--data")
            .arg(&data)
            .arg("--key-file")
            .arg(&key_file)
            .assert()
            .failure()
            .get_output()
            .clone();
        String::from_utf8(out.stderr).unwrap()
    };
    let unknown = run("nobody", &bad);
    assert!(unknown.contains("unknown tenant \"nobody\""), "{unknown}");
    let missing = run("default", &work.path().join("nowhere"));
    assert!(missing.contains("nowhere"), "{missing}");
    assert!(missing.contains("no such folder"), "{missing}");
    let broken = run("default", &bad);
    assert!(broken.contains("bad/score.rhai:2:"), "{broken}");
    assert_eq!(sha(&db), before, "the store file changed");
    assert_eq!(
        std::fs::read_dir(&data).unwrap().count(),
        1,
        "nothing new in the data folder"
    );
}
