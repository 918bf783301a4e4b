//! The encrypted store through the public API: persistence, isolation, sealing failures,
//! nothing readable in the file, privacy requests and key rotation.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod common;

use common::{cid, say, shipped_rules, stored, tid};
use qualify_engine::clock::ManualClock;
use qualify_engine::{ContactId, Engine, Error, Inbound, SecretKey, Store, TenantId};
use redb::{ReadableDatabase, TableDefinition};
use std::path::Path;

/// The contacts table as the store lays it out (white-box: failure-mode tests only).
const CONTACTS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("contacts");

fn engine_on(path: &Path, key: &SecretKey) -> Engine {
    Engine::builder()
        .rules_dir(shipped_rules())
        .store(Store::open(path, key.clone()).unwrap())
        .build()
        .unwrap()
}

fn hit(text: &str) -> Inbound {
    Inbound {
        tags: Some(vec!["Hit List".into()]),
        ..Inbound::text(text)
    }
}

#[test]
fn a_conversation_accumulates_and_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("q.redb");
    let key = SecretKey::generate();
    {
        let engine = engine_on(&file, &key);
        let r = say(
            &engine,
            "default",
            "lead-1",
            &hit("Hi! Looking to buy a place"),
        );
        assert_eq!((r.decision.score, r.decision.class.as_str()), (0, "cold"));
        assert_eq!(r.decision.question.as_ref().unwrap().id, "budget");
        let r = say(&engine, "default", "lead-1", &Inbound::text("around 450k"));
        assert_eq!((r.decision.score, r.decision.class.as_str()), (1, "cold"));
        let r = say(
            &engine,
            "default",
            "lead-1",
            &Inbound::text("somewhere in Frisco"),
        );
        assert_eq!((r.decision.score, r.decision.class.as_str()), (2, "warm"));
        assert_eq!(r.decision.question.as_ref().unwrap().id, "timeline");
    }
    // Reopen the real file: everything is still there, and the next message goes hot.
    let engine = engine_on(&file, &key);
    let c = stored(&engine, "default", "lead-1");
    assert_eq!(c.facts["budget"], 450_000);
    assert_eq!(c.facts["location"], "Frisco");
    assert!(c.tags.contains(&"Warm-Lead".to_string()));
    // Three inbound messages and the three questions asked after them.
    assert_eq!(c.history.len(), 6);
    let r = say(
        &engine,
        "default",
        "lead-1",
        &Inbound::text("not sure, maybe asap"),
    );
    assert_eq!(r.decision.class.as_str(), "hot");
    assert_eq!(r.decision.remove_tags, ["Warm-Lead", "AI-Engaged"]);
    let c = stored(&engine, "default", "lead-1");
    assert!(c.tags.contains(&"Hot-Lead".to_string()) && !c.tags.contains(&"Warm-Lead".to_string()));
}

#[test]
fn an_unsure_answer_to_the_stored_question_is_recorded_not_counted() {
    let engine = Engine::builder()
        .store(Store::in_memory(SecretKey::generate()).unwrap())
        .build()
        .unwrap();
    let r = say(&engine, "default", "c", &hit("hello, we want to buy"));
    assert_eq!(r.decision.question.unwrap().id, "budget");
    let r = say(
        &engine,
        "default",
        "c",
        &Inbound::text("honestly no idea yet"),
    );
    assert_eq!(r.decision.facts["budget"], "no idea");
    assert_eq!(r.decision.score, 0);
}

#[test]
fn history_keeps_the_last_n_messages() {
    let dir = common::rules_copy();
    common::write(
        &dir.path().join("short/tenant.yaml"),
        "history_limit: 3\nactivation_tags: []\n",
    );
    let engine = Engine::builder()
        .rules_dir(dir.path())
        .store(Store::in_memory(SecretKey::generate()).unwrap())
        .build()
        .unwrap();
    for i in 0..5 {
        say(
            &engine,
            "short",
            "c",
            &Inbound::text(format!("message {i}")),
        );
    }
    let c = stored(&engine, "short", "c");
    assert_eq!(c.history.len(), 3);
    assert_eq!(
        c.history.last().unwrap().from,
        qualify_engine::model::Author::Agent
    );
}

#[test]
fn tenants_are_isolated() {
    let engine = Engine::builder()
        .rules_dir(shipped_rules())
        .store(Store::in_memory(SecretKey::generate()).unwrap())
        .build()
        .unwrap();
    say(&engine, "default", "same-id", &hit("budget 450k in Plano"));
    say(&engine, "points", "same-id", &hit("just looking"));
    let a = stored(&engine, "default", "same-id");
    let b = stored(&engine, "points", "same-id");
    assert_eq!(a.facts["budget"], 450_000);
    assert!(b.facts.get("budget").is_none());
    // Another tenant (even one without rules) sees nothing, and cannot erase.
    assert!(engine
        .contacts()
        .get(&tid("intruder"), &cid("same-id"))
        .unwrap()
        .is_none());
    assert!(engine
        .contacts()
        .export(&tid("intruder"), &cid("same-id"))
        .unwrap()
        .is_none());
    assert!(!engine
        .contacts()
        .erase(&tid("intruder"), &cid("same-id"))
        .unwrap());
    assert!(engine
        .contacts()
        .get(&tid("default"), &cid("same-id"))
        .unwrap()
        .is_some());
    // Erasing in one tenant leaves the other alone.
    assert!(engine
        .contacts()
        .erase(&tid("points"), &cid("same-id"))
        .unwrap());
    assert!(engine
        .contacts()
        .get(&tid("points"), &cid("same-id"))
        .unwrap()
        .is_none());
    assert!(engine
        .contacts()
        .get(&tid("default"), &cid("same-id"))
        .unwrap()
        .is_some());
    assert!(matches!(
        TenantId::new("../default"),
        Err(Error::InvalidId { kind: "tenant", .. })
    ));
}

#[test]
fn the_wrong_master_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("q.redb");
    let key = SecretKey::generate();
    engine_on(&file, &key)
        .ingest(&tid("default"), &cid("c"), &hit("hi"))
        .unwrap();
    let err = Store::open(&file, SecretKey::generate()).unwrap_err();
    assert!(matches!(err, Error::WrongMasterKey), "{err}");
    assert!(Store::open(&file, key).is_ok());
}

fn tamper(file: &Path, f: impl FnOnce(&mut redb::Table<(&str, &str), &[u8]>)) {
    let db = redb::Database::open(file).unwrap();
    let tx = db.begin_write().unwrap();
    {
        let mut t = tx.open_table(CONTACTS).unwrap();
        f(&mut t);
    }
    tx.commit().unwrap();
}

fn raw(file: &Path, tenant: &str, id: &str) -> Vec<u8> {
    let db = redb::Database::open(file).unwrap();
    let tx = db.begin_read().unwrap();
    let t = tx.open_table(CONTACTS).unwrap();
    t.get((tenant, id)).unwrap().unwrap().value().to_vec()
}

#[test]
fn tampered_and_moved_values_fail_to_open_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("q.redb");
    let key = SecretKey::generate();
    {
        let engine = engine_on(&file, &key);
        say(&engine, "default", "alice", &hit("450k in Plano"));
        say(&engine, "default", "bob", &hit("hello"));
        say(&engine, "points", "carol", &hit("hello"));
    }
    let alice = raw(&file, "default", "alice");
    // A flipped ciphertext byte.
    let mut flipped = alice.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x01;
    tamper(&file, |t| {
        t.insert(("default", "alice"), flipped.as_slice()).unwrap();
    });
    let engine = engine_on(&file, &key);
    let err = engine
        .contacts()
        .get(&tid("default"), &cid("alice"))
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Unseal {
                table: "contacts",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("\"alice\""), "{err}");
    drop(engine);
    // A value copied to another contact's key, and to another tenant's.
    tamper(&file, |t| {
        t.insert(("default", "bob"), alice.as_slice()).unwrap();
        t.insert(("points", "carol"), alice.as_slice()).unwrap();
    });
    let engine = engine_on(&file, &key);
    assert!(matches!(
        engine.contacts().get(&tid("default"), &cid("bob")),
        Err(Error::Unseal { .. })
    ));
    assert!(matches!(
        engine.contacts().get(&tid("points"), &cid("carol")),
        Err(Error::Unseal { .. })
    ));
    // Ingesting onto a broken record fails without writing; other contacts still work.
    assert!(engine
        .ingest(&tid("default"), &cid("bob"), &Inbound::text("hi"))
        .is_err());
    assert!(engine
        .ingest(&tid("default"), &cid("dave"), &hit("hi"))
        .is_ok());
}

#[test]
fn nothing_readable_in_the_database_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("q.redb");
    let key = SecretKey::generate();
    let secrets = [
        "Marguerite",
        "marguerite.dupont@example.com",
        "450k",
        "214-555-0199",
        "Bishop Arts",
        "relocating",
    ];
    {
        let engine = engine_on(&file, &key);
        let msg = Inbound {
            name: Some("Marguerite".into()),
            ..hit("I'm relocating, want 450k in Bishop Arts. Call 214-555-0199 or marguerite.dupont@example.com")
        };
        say(&engine, "default", "c-1", &msg);
        let c = stored(&engine, "default", "c-1");
        assert_eq!(c.facts["name"], "Marguerite");
        assert_eq!(c.facts["location"], "Bishop Arts");
    }
    let bytes = std::fs::read(&file).unwrap();
    for s in secrets {
        assert!(
            !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
            "{s:?} found in the file"
        );
    }
    let plain_budget = b"450000";
    assert!(!bytes.windows(plain_budget.len()).any(|w| w == plain_budget));
}

#[test]
fn redacted_history_keeps_nothing_raw_but_extraction_saw_it() {
    let engine = Engine::builder()
        .store(Store::in_memory(SecretKey::generate()).unwrap())
        .build()
        .unwrap();
    let r = say(
        &engine,
        "default",
        "c",
        &hit("my card is 4111 1111 1111 1111, budget 300k"),
    );
    assert_eq!(
        r.stored_text,
        "my card is [REDACTED_CREDIT_CARD], budget 300k"
    );
    assert_eq!(r.findings.len(), 1);
    assert_eq!(r.decision.facts["budget"], 300_000);
    let c = stored(&engine, "default", "c");
    assert!(c.history.iter().all(|m| !m.text.contains("4111")));
}

#[test]
fn export_erase_and_crypto_shredding() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("q.redb");
    let key = SecretKey::generate();
    let engine = engine_on(&file, &key);
    say(&engine, "default", "c1", &hit("buying in Allen"));
    say(&engine, "default", "c2", &hit("selling"));
    say(&engine, "points", "c1", &hit("hi"));
    let export = engine
        .contacts()
        .export(&tid("default"), &cid("c1"))
        .unwrap()
        .unwrap();
    assert_eq!(export["tenant"], "default");
    assert_eq!(export["contact"]["facts"]["location"], "Allen");
    assert!(!export["contact"]["history"].as_array().unwrap().is_empty());

    assert!(engine
        .contacts()
        .erase(&tid("default"), &cid("c1"))
        .unwrap());
    assert!(engine
        .contacts()
        .get(&tid("default"), &cid("c1"))
        .unwrap()
        .is_none());
    assert!(!engine
        .contacts()
        .erase(&tid("default"), &cid("c1"))
        .unwrap());

    assert_eq!(engine.accounts().erase_data(&tid("default")).unwrap(), 1);
    assert!(engine
        .contacts()
        .get(&tid("default"), &cid("c2"))
        .unwrap()
        .is_none());
    assert!(
        engine
            .contacts()
            .get(&tid("points"), &cid("c1"))
            .unwrap()
            .is_some(),
        "other tenants untouched"
    );
    // The tenant starts afresh with a new data key.
    say(&engine, "default", "c2", &hit("hello again"));
    assert_eq!(stored(&engine, "default", "c2").history.len(), 2);
}

#[test]
fn a_shredded_tenant_copy_cannot_be_opened() {
    // A record copied out before the erase (a backup) does not open afterwards.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("q.redb");
    let key = SecretKey::generate();
    {
        let engine = engine_on(&file, &key);
        say(&engine, "default", "c1", &hit("450k"));
    }
    let backup = raw(&file, "default", "c1");
    {
        let engine = engine_on(&file, &key);
        engine.accounts().erase_data(&tid("default")).unwrap();
        say(&engine, "default", "other", &hit("hi")); // new key version 1
    }
    tamper(&file, |t| {
        t.insert(("default", "c1"), backup.as_slice()).unwrap();
    });
    let engine = engine_on(&file, &key);
    assert!(matches!(
        engine.contacts().get(&tid("default"), &cid("c1")),
        Err(Error::Unseal { .. })
    ));
}

#[test]
fn master_and_tenant_key_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("q.redb");
    let old = SecretKey::generate();
    let new = SecretKey::generate();
    {
        let engine = engine_on(&file, &old);
        say(&engine, "default", "c1", &hit("450k"));
        assert_eq!(
            engine.accounts().rotate_data_key(&tid("default")).unwrap(),
            2
        );
        say(&engine, "default", "c2", &hit("300k")); // sealed under v2
        assert_eq!(
            engine
                .store()
                .unwrap()
                .rotate_master_key(new.clone())
                .unwrap(),
            2
        );
        // Still serving after rotation, no restart.
        assert_eq!(stored(&engine, "default", "c1").facts["budget"], 450_000);
    }
    assert!(matches!(
        Store::open(&file, old),
        Err(Error::WrongMasterKey)
    ));
    let engine = engine_on(&file, &new);
    assert_eq!(stored(&engine, "default", "c1").facts["budget"], 450_000);
    assert_eq!(stored(&engine, "default", "c2").facts["budget"], 300_000);
}

#[test]
fn the_clock_is_an_argument() {
    let at = "2026-03-01T15:00:00Z".parse().unwrap();
    let engine = Engine::builder()
        .store(Store::in_memory(SecretKey::generate()).unwrap())
        .clock(ManualClock::new(at))
        .build()
        .unwrap();
    say(&engine, "default", "c", &hit("hi"));
    let c = stored(&engine, "default", "c");
    assert_eq!(c.last_inbound_at, Some(at));
    assert_eq!(c.created_at, at);
}

#[test]
fn stateful_calls_without_a_store_are_a_clear_error() {
    let engine = Engine::builder().build().unwrap();
    assert!(matches!(
        engine.ingest(&tid("default"), &cid("c"), &hit("x")),
        Err(Error::NoStore)
    ));
    assert!(matches!(
        ContactId::new("../x"),
        Err(Error::InvalidId {
            kind: "contact",
            ..
        })
    ));
}

/// Issue 9, item 9: a key whose tenant part names another tenant is refused.
#[test]
fn a_key_must_name_its_own_tenant() {
    let engine = Engine::builder()
        .store(Store::in_memory(SecretKey::generate()).unwrap())
        .build()
        .unwrap();
    let key = engine
        .accounts()
        .add(&tid("team-a"), "a", Default::default())
        .unwrap();
    engine
        .accounts()
        .add(&tid("team-b"), "b", Default::default())
        .unwrap();
    assert_eq!(engine.accounts().authenticate(&key).unwrap(), "team-a");
    let forged = key.replacen("qfy_team-a.", "qfy_team-b.", 1);
    assert!(matches!(
        engine.accounts().authenticate(&forged),
        Err(Error::Unauthorized)
    ));
}
