//! The encrypted store through the public API: persistence, isolation, sealing failures,
//! nothing readable in the file or the database, privacy requests and key rotation. Each
//! test runs over both backends (redb and PostgreSQL: `common::backend`).

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod common;

use common::backend::Backend;
use common::{cid, say, shipped_rules, stored, tid};
use qualify_engine::clock::ManualClock;
use qualify_engine::{ContactId, Engine, Error, Inbound, SecretKey, TenantId};

fn engine_on(b: &Backend, key: &SecretKey) -> Engine {
    Engine::builder()
        .rules_dir(shipped_rules())
        .store(b.open(key))
        .build()
        .unwrap()
}

fn hit(text: &str) -> Inbound {
    Inbound {
        tags: Some(vec!["Hit List".into()]),
        ..Inbound::text(text)
    }
}

fn a_conversation_accumulates_and_survives_reopening(b: &Backend) {
    let key = SecretKey::generate();
    {
        let engine = engine_on(b, &key);
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
    let engine = engine_on(b, &key);
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

fn an_unsure_answer_to_the_stored_question_is_recorded_not_counted(b: &Backend) {
    let engine = Engine::builder()
        .store(b.open(&SecretKey::generate()))
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

fn history_keeps_the_last_n_messages(b: &Backend) {
    let dir = common::rules_copy();
    common::write(
        &dir.path().join("short/tenant.yaml"),
        "history_limit: 3\nactivation_tags: []\n",
    );
    let engine = Engine::builder()
        .rules_dir(dir.path())
        .store(b.open(&SecretKey::generate()))
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

fn tenants_are_isolated(b: &Backend) {
    let engine = Engine::builder()
        .rules_dir(shipped_rules())
        .store(b.open(&SecretKey::generate()))
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

fn the_wrong_master_key_is_refused(b: &Backend) {
    let key = SecretKey::generate();
    engine_on(b, &key)
        .ingest(&tid("default"), &cid("c"), &hit("hi"))
        .unwrap();
    let err = b.try_open(&SecretKey::generate()).unwrap_err();
    assert!(matches!(err, Error::WrongMasterKey), "{err}");
    assert!(b.try_open(&key).is_ok());
}

fn tampered_and_moved_values_fail_to_open_clearly(b: &Backend) {
    let key = SecretKey::generate();
    {
        let engine = engine_on(b, &key);
        say(&engine, "default", "alice", &hit("450k in Plano"));
        say(&engine, "default", "bob", &hit("hello"));
        say(&engine, "points", "carol", &hit("hello"));
    }
    let alice = b.raw_contact("default", "alice");
    // A flipped ciphertext byte.
    let mut flipped = alice.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x01;
    b.put_raw_contact("default", "alice", &flipped);
    let engine = engine_on(b, &key);
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
    b.put_raw_contact("default", "bob", &alice);
    b.put_raw_contact("points", "carol", &alice);
    let engine = engine_on(b, &key);
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

fn nothing_readable_in_the_database_file(b: &Backend) {
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
        let engine = engine_on(b, &key);
        let msg = Inbound {
            name: Some("Marguerite".into()),
            ..hit("I'm relocating, want 450k in Bishop Arts. Call 214-555-0199 or marguerite.dupont@example.com")
        };
        say(&engine, "default", "c-1", &msg);
        let c = stored(&engine, "default", "c-1");
        assert_eq!(c.facts["name"], "Marguerite");
        assert_eq!(c.facts["location"], "Bishop Arts");
    }
    // The file's bytes, or pg_dump's text (which prints bytea as hex: look for both).
    let bytes = b.dump();
    assert!(bytes.len() > 1000, "the dump holds the data");
    for s in secrets.iter().chain(&["450000"]) {
        for needle in [s.as_bytes().to_vec(), hex(s).into_bytes()] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_slice()),
                "{s:?} found in the stored data"
            );
        }
    }
}

fn redacted_history_keeps_nothing_raw_but_extraction_saw_it(b: &Backend) {
    let engine = Engine::builder()
        .store(b.open(&SecretKey::generate()))
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

fn export_erase_and_crypto_shredding(b: &Backend) {
    let key = SecretKey::generate();
    let engine = engine_on(b, &key);
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

fn a_shredded_tenant_copy_cannot_be_opened(b: &Backend) {
    // A record copied out before the erase (a backup) does not open afterwards.
    let key = SecretKey::generate();
    {
        let engine = engine_on(b, &key);
        say(&engine, "default", "c1", &hit("450k"));
    }
    let backup = b.raw_contact("default", "c1");
    {
        let engine = engine_on(b, &key);
        engine.accounts().erase_data(&tid("default")).unwrap();
        say(&engine, "default", "other", &hit("hi")); // new key version 1
    }
    b.put_raw_contact("default", "c1", &backup);
    let engine = engine_on(b, &key);
    assert!(matches!(
        engine.contacts().get(&tid("default"), &cid("c1")),
        Err(Error::Unseal { .. })
    ));
}

fn master_and_tenant_key_rotation(b: &Backend) {
    let old = SecretKey::generate();
    let new = SecretKey::generate();
    {
        let engine = engine_on(b, &old);
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
    assert!(matches!(b.try_open(&old), Err(Error::WrongMasterKey)));
    let engine = engine_on(b, &new);
    assert_eq!(stored(&engine, "default", "c1").facts["budget"], 450_000);
    assert_eq!(stored(&engine, "default", "c2").facts["budget"], 300_000);
}

fn the_clock_is_an_argument(b: &Backend) {
    let at = "2026-03-01T15:00:00Z".parse().unwrap();
    let engine = Engine::builder()
        .store(b.open(&SecretKey::generate()))
        .clock(ManualClock::new(at))
        .build()
        .unwrap();
    say(&engine, "default", "c", &hit("hi"));
    let c = stored(&engine, "default", "c");
    assert_eq!(c.last_inbound_at, Some(at));
    assert_eq!(c.created_at, at);
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
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
fn a_key_must_name_its_own_tenant(b: &Backend) {
    let engine = Engine::builder()
        .store(b.open(&SecretKey::generate()))
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

backend_tests!(
    a_conversation_accumulates_and_survives_reopening,
    an_unsure_answer_to_the_stored_question_is_recorded_not_counted,
    history_keeps_the_last_n_messages,
    tenants_are_isolated,
    the_wrong_master_key_is_refused,
    tampered_and_moved_values_fail_to_open_clearly,
    nothing_readable_in_the_database_file,
    redacted_history_keeps_nothing_raw_but_extraction_saw_it,
    export_erase_and_crypto_shredding,
    a_shredded_tenant_copy_cannot_be_opened,
    master_and_tenant_key_rotation,
    the_clock_is_an_argument,
    a_key_must_name_its_own_tenant,
);

/// `?sslmode=require` makes the connection TLS (rustls) or nothing: against a server
/// without TLS the store does not open, and says why, naming the server without its
/// password.
#[test]
fn a_url_asking_for_tls_never_falls_back_to_plaintext() {
    let Some(db) = qualify_testkit::ScratchDatabase::create() else {
        return;
    };
    let url = format!(
        "{}?sslmode=require",
        db.url.replacen("postgres@", "postgres:hunter2@", 1)
    );
    let err = qualify_engine::Store::open_postgres(&url, SecretKey::generate()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.to_lowercase().contains("tls"), "{msg}");
    assert!(
        !msg.contains("hunter2") && msg.contains("postgres:***@"),
        "{msg}"
    );
}

/// A store written before contacts were sealed in MessagePack (`fixtures/store-json`,
/// written by `qualify ingest` with the master key `11…11`: contact `lead-7` of the
/// default tenant, two messages) still opens: its contact reads, takes a new message
/// (written in the new encoding) and reads again after a reopen.
#[test]
fn a_store_whose_contacts_were_written_as_json_still_opens() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("qualify.redb");
    let fixture = common::repo_root().join("engine/tests/fixtures/store-json/qualify.redb");
    std::fs::copy(fixture, &file).unwrap();
    let key = || SecretKey::from_hex(&"11".repeat(32)).unwrap();
    let open = || {
        Engine::builder()
            .rules_dir(shipped_rules())
            .store(qualify_engine::Store::open(&file, key()).unwrap())
            .build()
            .unwrap()
    };
    let engine = open();
    let before = stored(&engine, "default", "lead-7");
    let inbound = |c: &qualify_engine::model::Contact| {
        c.history
            .iter()
            .filter(|m| m.from == qualify_engine::model::Author::Lead)
            .map(|m| m.text.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(inbound(&before).len(), 2, "{:?}", before.history);
    assert!(inbound(&before)[0].contains("Plano"));
    assert_eq!(before.facts["budget"], 450000);
    say(
        &engine,
        "default",
        "lead-7",
        &hit("We have 2 kids, need a good school"),
    );
    drop(engine);
    let after = stored(&open(), "default", "lead-7");
    assert_eq!(inbound(&after)[..2], inbound(&before)[..]);
    assert_eq!(inbound(&after).len(), 3);
    assert_eq!(after.facts["budget"], 450000);
    assert_eq!(after.version, before.version + 1);
}

/// Replicas on one PostgreSQL store: a tenant erased on one replica and written again
/// there has a new data key of the same version; another replica that had the old key in
/// its cache reads the new records (it tries the key table again when its cached key does
/// not open a record) instead of failing to open them until it restarts.
#[test]
fn a_replica_reads_a_tenant_erased_and_recreated_on_another() {
    let Some(db) = qualify_testkit::ScratchDatabase::create() else {
        return;
    };
    let key = SecretKey::generate();
    let replica = || {
        Engine::builder()
            .rules_dir(shipped_rules())
            .store(qualify_engine::Store::open_postgres(&db.url, key.clone()).unwrap())
            .build()
            .unwrap()
    };
    let (a, b) = (replica(), replica());
    let t = tid("default");
    say(&b, "default", "before", &hit("We want to buy in Plano"));
    // B has read the tenant's key (version 1) and keeps it.
    assert!(b.contacts().get(&t, &cid("before")).unwrap().is_some());
    assert_eq!(a.accounts().erase_data(&t).unwrap(), 1);
    say(&a, "default", "after", &hit("Budget around 450k"));
    assert!(b.contacts().get(&t, &cid("before")).unwrap().is_none());
    let after = b.contacts().get(&t, &cid("after")).unwrap().unwrap();
    assert_eq!(after.facts["budget"], 450000);
    // And B writes under the new key, which A reads.
    say(&b, "default", "after", &hit("in Frisco"));
    let after = a.contacts().get(&t, &cid("after")).unwrap().unwrap();
    assert_eq!(after.facts["location"], "Frisco");
}

/// Replicas on one PostgreSQL store: after one rotates the master key, another still
/// running with the old key refuses to write (it cannot check the re-wrapped key rows)
/// rather than seal anything under a key it cannot verify; what it had read still opens,
/// and once restarted with the new key it writes again.
#[test]
fn a_replica_with_a_rotated_out_master_key_refuses_to_write() {
    let Some(db) = qualify_testkit::ScratchDatabase::create() else {
        return;
    };
    let (old, new) = (SecretKey::generate(), SecretKey::generate());
    let replica = |key: &SecretKey| {
        Engine::builder()
            .rules_dir(shipped_rules())
            .store(qualify_engine::Store::open_postgres(&db.url, key.clone()).unwrap())
            .build()
            .unwrap()
    };
    let (a, b) = (replica(&old), replica(&old));
    let t = tid("default");
    say(&b, "default", "c1", &hit("We want to buy in Plano"));
    a.store().unwrap().rotate_master_key(new.clone()).unwrap();
    let refused = b.ingest(&t, &cid("c1"), &hit("Budget around 450k"));
    assert!(
        matches!(
            &refused,
            Err(Error::Unseal {
                table: "tenant_keys",
                ..
            })
        ),
        "{refused:?}"
    );
    assert!(b.contacts().get(&t, &cid("c1")).unwrap().is_some());
    let b = replica(&new);
    say(&b, "default", "c1", &hit("Budget around 450k"));
    let c = a.contacts().get(&t, &cid("c1")).unwrap().unwrap();
    assert_eq!(c.facts["budget"], 450000);
}
