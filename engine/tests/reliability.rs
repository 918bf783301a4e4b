//! Nothing lost, nothing sent that should not be: the holes of issue 9 in the store, the
//! outbox, follow-ups and ingest, each proved through the public API. Every test here
//! failed before its fix; RELIABILITY.md lists them by failure mode. The outbox and ingest
//! tests run over both store backends (`common::backend`).

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod common;

use common::backend::Backend;
use common::{cid, rules_copy, say, stored, tid, write};
use qualify_engine::clock::ManualClock;
use qualify_engine::conversation::{Begin, FollowUpOptions, Outcome};
use qualify_engine::model::{Action, ActionKind, Origin, Tier};
use qualify_engine::{Engine, Error, Inbound, SecretKey, Store};
use redb::{ReadableDatabase, ReadableTable, TableDefinition, TableHandle};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;

/// 15:00 UTC = 09:00 in Chicago (CST, winter): inside the default window all afternoon.
const T0: &str = "2026-01-13T15:00:00Z";

struct Setup {
    engine: Engine,
    clock: Arc<ManualClock>,
    _rules: tempfile::TempDir,
}

/// An engine over a copy of the shipped rules, a store (in memory, or the file given),
/// a clock at T0, and tenants `default` and `points` connected to GoHighLevel (so
/// actions go to the outbox).
fn setup_with(store: Store, edit: impl FnOnce(&Path)) -> Setup {
    let rules = rules_copy();
    edit(rules.path());
    let clock = Arc::new(ManualClock::new(T0.parse().unwrap()));
    let engine = Engine::builder()
        .rules_dir(rules.path())
        .store(store)
        .clock(clock.clone())
        .build()
        .unwrap();
    for t in ["default", "points"] {
        if !engine.accounts().is_registered(&tid(t)) {
            engine.accounts().add(&tid(t), t, Tier::Starter).unwrap();
            engine.accounts().set_ghl_token(&tid(t), "token").unwrap();
        }
    }
    Setup {
        engine,
        clock,
        _rules: rules,
    }
}

/// [`setup_with`] over a backend of the shared suite (redb or PostgreSQL).
fn setup_on(b: &Backend) -> Setup {
    setup_with(b.open(&SecretKey::generate()), |_| {})
}

fn hit(text: &str) -> Inbound {
    Inbound {
        tags: Some(vec!["Hit List".into()]),
        ..Inbound::text(text)
    }
}

impl Setup {
    fn advance_hours(&self, h: i64) {
        self.clock.advance_secs(h * 3600);
    }

    /// Everything due in the outbox now (all tenants).
    fn due(&self) -> Vec<Action> {
        self.engine.outbox().due(1000).unwrap()
    }

    /// The texts queued for a contact, with why each was queued.
    fn texts_of(&self, contact: &str) -> Vec<(String, Origin)> {
        self.due()
            .into_iter()
            .filter(|a| a.contact == contact)
            .filter_map(|a| match a.kind {
                ActionKind::SendMessage { message, .. } => Some((message, a.origin)),
                _ => None,
            })
            .collect()
    }
}

/// Item 1: STOP drops the contact's queued texts in the same transaction; only the
/// confirmation is left to go out.
fn stop_drops_the_queued_texts_of_that_contact(b: &Backend) {
    let s = setup_on(b);
    say(&s.engine, "default", "c1", &hit("buying in Plano"));
    say(&s.engine, "default", "c2", &hit("buying in Plano"));
    s.advance_hours(24);
    let run = s
        .engine
        .followups()
        .run(&FollowUpOptions::default())
        .unwrap();
    assert_eq!(run.count(Outcome::Sent), 2);
    assert_eq!(
        s.texts_of("c1").len(),
        2,
        "the question and the follow-up wait"
    );
    let r = say(&s.engine, "default", "c1", &Inbound::text("STOP"));
    assert!(r.queued);
    let left = s.texts_of("c1");
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].1, Origin::Compliance);
    assert!(
        left[0].0.to_lowercase().contains("unsubscribed"),
        "{left:?}"
    );
    assert_eq!(s.texts_of("c2").len(), 2, "other contacts keep theirs");
}

/// Item 1: erasing a contact drops every action queued for it.
fn erasure_drops_every_queued_action_of_the_contact(b: &Backend) {
    let s = setup_on(b);
    say(&s.engine, "default", "c1", &hit("buying in Plano"));
    say(&s.engine, "default", "c2", &hit("buying in Plano"));
    assert!(s
        .engine
        .contacts()
        .erase(&tid("default"), &cid("c1"))
        .unwrap());
    assert!(s.due().iter().all(|a| a.contact != "c1"));
    assert!(s.due().iter().any(|a| a.contact == "c2"));
}

/// Item 1: just before a send, delivery re-checks: an action whose contact was erased or
/// opted out meanwhile is dropped; a text the bot starts waits for the contact's window.
fn delivery_rechecks_erasure_opt_out_and_the_window(b: &Backend) {
    let s = setup_on(b);
    say(&s.engine, "default", "gone", &hit("buying in Plano"));
    let queued = s.due();
    s.engine
        .contacts()
        .erase(&tid("default"), &cid("gone"))
        .unwrap();
    assert_eq!(s.engine.outbox().begin(&queued[0]).unwrap(), Begin::Gone);

    // A follow-up queued at 19:30 Chicago time, GHL refusing until 21:00: it waits for
    // 09:00 the next morning instead of going out at night.
    say(&s.engine, "default", "night", &hit("buying in Plano"));
    for a in s.due() {
        s.engine.outbox().delivered(&a).unwrap();
    }
    s.clock.set("2026-01-15T01:30:00Z".parse().unwrap()); // 19:30 CST, +34.5 h
    let run = s
        .engine
        .followups()
        .run(&FollowUpOptions::default())
        .unwrap();
    assert_eq!(run.count(Outcome::Sent), 1);
    let follow_up = s.due().pop().unwrap();
    assert_eq!(follow_up.origin, Origin::BotInitiated);
    s.clock.set("2026-01-15T03:00:00Z".parse().unwrap()); // 21:00 CST
    let next_morning: jiff::Timestamp = "2026-01-15T15:00:00Z".parse().unwrap();
    assert_eq!(
        s.engine.outbox().begin(&follow_up).unwrap(),
        Begin::Deferred(next_morning)
    );
    assert!(s.due().is_empty(), "nothing due before the window opens");
    s.clock.set(next_morning);
    let again = s.due().pop().unwrap();
    assert!(matches!(s.engine.outbox().begin(&again).unwrap(), Begin::Go(a) if a.in_flight));
}

/// Item 1: an action that keeps failing moves to the dead letters after the tenant's
/// number of attempts.
fn an_action_that_keeps_failing_moves_to_the_dead_letters(b: &Backend) {
    let s = setup_on(b);
    say(&s.engine, "default", "c1", &hit("buying in Plano"));
    let before = s.engine.outbox().len().unwrap();
    let mut moved = false;
    for attempt in 1..=10 {
        let a = s.due().into_iter().find(|a| a.contact == "c1").unwrap();
        assert_eq!(a.attempts, attempt - 1);
        moved = s.engine.outbox().failed(&a, "GHL answered 500", 0).unwrap();
        assert_eq!(moved, attempt == 10);
    }
    assert!(moved);
    let dead = s.engine.outbox().dead_letters(None).unwrap();
    assert_eq!(dead.len(), 1);
    assert!(dead[0]
        .last_error
        .as_deref()
        .unwrap()
        .starts_with("gave up after 10 attempts"));
    assert_eq!(s.engine.outbox().len().unwrap(), before - 1);
}

const TABLES: [&str; 17] = [
    "meta",
    "tenant_keys",
    "tenants",
    "contacts",
    "contact_versions",
    "due",
    "outbox",
    "dead_letters",
    "webhooks",
    "webhook_expiry",
    "pending",
    "quarantine",
    "exposures",
    "outcomes",
    "experiment_stops",
    "analytics",
    "transcripts",
];

/// Every key of every table of the store file, as text (tenant and contact ids are
/// plain in keys, so a row naming one shows in its key).
fn all_keys(file: &Path) -> Vec<(String, String)> {
    let db = redb::Database::open(file).unwrap();
    let tx = db.begin_read().unwrap();
    let listed: Vec<String> = tx
        .list_tables()
        .unwrap()
        .map(|t| t.name().to_string())
        .collect();
    for name in &listed {
        assert!(
            TABLES.contains(&name.as_str()),
            "a table the test does not know: {name}"
        );
    }
    let mut out = Vec::new();
    macro_rules! scan {
        ($name:literal, $k:ty, $v:ty) => {
            let def: TableDefinition<$k, $v> = TableDefinition::new($name);
            for row in tx.open_table(def).unwrap().iter().unwrap() {
                out.push(($name.to_string(), format!("{:?}", row.unwrap().0.value())));
            }
        };
    }
    scan!("meta", &str, &[u8]);
    scan!("tenant_keys", (&str, u32), &[u8]);
    scan!("tenants", &str, &[u8]);
    scan!("contacts", (&str, &str), &[u8]);
    scan!("contact_versions", (&str, &str), u64);
    scan!("due", (u64, &str, &str), ());
    scan!("outbox", (&str, u64, u64), &[u8]);
    scan!("dead_letters", (&str, u64), &[u8]);
    scan!("webhooks", (&str, &str, &str), &[u8]);
    scan!("webhook_expiry", (u64, &str, &str, &str), ());
    scan!("pending", (&str, &str), ());
    scan!("quarantine", (&str, &str, &str), &[u8]);
    scan!("exposures", (&str, &str, &str), &[u8]);
    scan!("outcomes", (&str, &str, &str, &str), &[u8]);
    scan!("experiment_stops", (&str, &str), &[u8]);
    scan!("analytics", (&str, u32), &[u8]);
    scan!("transcripts", (&str, &str), &[u8]);
    out
}

/// Items 2 and 6: erasing a tenant removes its rows from every table in one transaction;
/// delivery goes on for everyone else.
#[test]
fn erasing_a_tenant_removes_its_rows_from_every_table() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("q.redb");
    let key = SecretKey::generate();
    {
        let s = setup_with(Store::open(&file, key.clone()).unwrap(), |_| {});
        for t in ["default", "points"] {
            say(&s.engine, t, "c1", &hit("buying in Plano"));
            say(&s.engine, t, "c2", &hit("selling"));
        }
        let a = s.due().into_iter().find(|a| a.tenant == "points").unwrap();
        for _ in 0..10 {
            let a = s.due().into_iter().find(|x| x.id == a.id).unwrap();
            s.engine.outbox().failed(&a, "500", 0).unwrap();
        }
        assert_eq!(s.engine.outbox().dead_letters(None).unwrap().len(), 1);
        s.engine.accounts().remove(&tid("points")).unwrap();
        let due = s.due();
        assert!(!due.is_empty() && due.iter().all(|a| a.tenant == "default"));
    }
    let left: Vec<_> = all_keys(&file)
        .into_iter()
        .filter(|(_, k)| k.contains("\"points\""))
        .collect();
    assert!(left.is_empty(), "rows naming the erased tenant: {left:?}");
}

/// Item 2: an outbox row that does not open (here: a tenant erased by an older version
/// that left its rows) is set aside, and everyone else's actions are still delivered.
#[test]
fn an_unreadable_outbox_row_never_blocks_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("q.redb");
    let key = SecretKey::generate();
    {
        let s = setup_with(Store::open(&file, key.clone()).unwrap(), |_| {});
        say(&s.engine, "default", "c1", &hit("buying in Plano"));
    }
    {
        let db = redb::Database::create(&file).unwrap();
        let tx = db.begin_write().unwrap();
        let def: TableDefinition<(&str, u64, u64), &[u8]> = TableDefinition::new("outbox");
        tx.open_table(def)
            .unwrap()
            .insert(("aaa-ghost", 1, 1), b"not a sealed value".as_slice())
            .unwrap();
        tx.commit().unwrap();
    }
    let s = setup_with(Store::open(&file, key).unwrap(), |_| {});
    let due = s.due();
    assert!(!due.is_empty());
    assert!(due.iter().all(|a| a.tenant == "default"));
    drop(s);
    let keys = all_keys(&file);
    assert!(keys
        .iter()
        .any(|(t, k)| t == "quarantine" && k.contains("aaa-ghost")));
    assert!(!keys
        .iter()
        .any(|(t, k)| t == "outbox" && k.contains("aaa-ghost")));
}

/// Item 6: erasing a contact removes it from the due index (and so from follow-up runs).
#[test]
fn erasing_a_contact_leaves_no_trace_in_the_due_index() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("q.redb");
    {
        let s = setup_with(Store::open(&file, SecretKey::generate()).unwrap(), |_| {});
        say(&s.engine, "default", "secret-lead", &hit("buying in Plano"));
        s.engine
            .contacts()
            .erase(&tid("default"), &cid("secret-lead"))
            .unwrap();
        s.advance_hours(24);
        let dry = FollowUpOptions {
            dry_run: true,
            ..Default::default()
        };
        assert!(s.engine.followups().run(&dry).unwrap().outcomes.is_empty());
    }
    let left: Vec<_> = all_keys(&file)
        .into_iter()
        .filter(|(_, k)| k.contains("secret-lead"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Item 4: an action marked in flight when the process died is never resent: after the
/// restart it is in the dead letters, saying why.
#[test]
fn an_action_left_in_flight_is_never_resent() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("q.redb");
    let key = SecretKey::generate();
    {
        let s = setup_with(Store::open(&file, key.clone()).unwrap(), |_| {});
        say(&s.engine, "default", "c1", &hit("buying in Plano"));
        let a = s.due().into_iter().next().unwrap();
        assert!(matches!(s.engine.outbox().begin(&a).unwrap(), Begin::Go(_)));
        // The process dies here: the call's outcome is never recorded.
    }
    let s = setup_with(Store::open(&file, key).unwrap(), |_| {});
    let before = s.due().len();
    assert_eq!(s.engine.outbox().recover().unwrap(), 1);
    assert_eq!(s.due().len(), before, "the in-flight action was never due");
    let dead = s.engine.outbox().dead_letters(None).unwrap();
    assert_eq!(dead.len(), 1);
    assert!(dead[0]
        .last_error
        .as_deref()
        .unwrap()
        .contains("at most once"));
}

/// Replicas on one PostgreSQL store: an action in flight may be another replica's
/// delivery, so `recover` (run by every replica at start and every minute) leaves it until
/// its lease has passed, then moves it to the dead letters, once.
#[test]
fn a_replica_leaves_another_replicas_delivery_alone_until_its_lease_passes() {
    let Some(db) = qualify_testkit::ScratchDatabase::create() else {
        return;
    };
    let key = SecretKey::generate();
    let a = setup_with(Store::open_postgres(&db.url, key.clone()).unwrap(), |_| {});
    let b = setup_with(Store::open_postgres(&db.url, key).unwrap(), |_| {});
    say(&a.engine, "default", "c1", &hit("buying in Plano"));
    let action = a.due().into_iter().next().unwrap();
    assert!(matches!(
        a.engine.outbox().begin(&action).unwrap(),
        Begin::Go(_)
    ));
    // B starts (or its minute comes) while A is calling GoHighLevel.
    assert_eq!(b.engine.outbox().recover().unwrap(), 0);
    b.clock
        .advance_secs(qualify_engine::engine::Outbox::IN_FLIGHT_LEASE.as_secs() as i64 - 1);
    assert_eq!(
        b.engine.outbox().recover().unwrap(),
        0,
        "still within the lease"
    );
    assert!(b.engine.outbox().dead_letters(None).unwrap().is_empty());
    // A died: past the lease, one replica moves it, once.
    b.clock.advance_secs(1);
    a.clock
        .advance_secs(qualify_engine::engine::Outbox::IN_FLIGHT_LEASE.as_secs() as i64);
    assert_eq!(b.engine.outbox().recover().unwrap(), 1);
    assert_eq!(a.engine.outbox().recover().unwrap(), 0);
    let dead = a.engine.outbox().dead_letters(None).unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].id, action.id);
}

/// Item 4: a follow-up whose hook fails is tried again later, further out each time, not
/// every second.
#[test]
fn a_failing_followup_hook_backs_off() {
    let s = setup_with(Store::in_memory(SecretKey::generate()).unwrap(), |dir| {
        write(
            &dir.join("points/followup.rhai"),
            "fn followup(lead, hours, cfg) { throw \"templates offline\"; }\n",
        );
    });
    say(&s.engine, "points", "c1", &hit("buying in Plano"));
    s.advance_hours(24);
    let first = s
        .engine
        .followups()
        .run(&FollowUpOptions::default())
        .unwrap();
    assert_eq!(first.outcomes.len(), 1);
    assert_eq!(first.outcomes[0].outcome, Outcome::Deferred);
    assert!(first.outcomes[0].reason.contains("templates offline"));
    let wait1 = first.outcomes[0]
        .until
        .unwrap()
        .duration_since(s.engine.now());
    assert_eq!(wait1, jiff::SignedDuration::from_mins(5));
    s.clock.advance_secs(1);
    let soon = s
        .engine
        .followups()
        .run(&FollowUpOptions::default())
        .unwrap();
    assert!(soon.outcomes.is_empty(), "not retried a second later");
    s.clock.advance_secs(5 * 60);
    let second = s
        .engine
        .followups()
        .run(&FollowUpOptions::default())
        .unwrap();
    let wait2 = second.outcomes[0]
        .until
        .unwrap()
        .duration_since(s.engine.now());
    assert_eq!(wait2, jiff::SignedDuration::from_mins(10));
}

/// Item 5: when the tenant's rules fail on a message, the message is stored anyway and
/// marked undecided; once the rules are fixed it is decided, and a retry of the same
/// message is not stored twice.
#[test]
fn a_message_is_kept_when_the_rules_fail_and_decided_once_they_work() {
    let s = setup_with(Store::in_memory(SecretKey::generate()).unwrap(), |dir| {
        write(
            &dir.join("points/zz_broken.rhai"),
            "fn score(lead, cfg) { if lead.facts.budget != () { throw \"scorer down\"; } #{score: 0, class: \"cold\"} }\n",
        );
    });
    let (t, c) = (tid("points"), cid("c1"));
    let err = s
        .engine
        .ingest(&t, &c, &hit("we can spend around 450k"))
        .unwrap_err();
    assert!(err.is_rules_failure(), "{err}");
    let kept = stored(&s.engine, "points", "c1");
    assert!(kept.undecided);
    assert_eq!(kept.history.len(), 1);
    assert_eq!(kept.facts["budget"], json!(450000));
    // Still broken: the retry fails too, and the message is not stored twice.
    assert!(s
        .engine
        .ingest(&t, &c, &hit("we can spend around 450k"))
        .is_err());
    assert_eq!(stored(&s.engine, "points", "c1").history.len(), 1);
    assert_eq!(s.engine.contacts().decide_pending(10).unwrap(), 0);
    // Fixed: the pending contact is decided.
    let rules = s.engine.rules().dir().unwrap().to_path_buf();
    std::fs::remove_file(rules.join("points/zz_broken.rhai")).unwrap();
    assert!(s.engine.rules().reload().errors.is_empty());
    assert_eq!(s.engine.contacts().decide_pending(10).unwrap(), 1);
    let decided = stored(&s.engine, "points", "c1");
    assert!(!decided.undecided);
    assert_eq!(decided.last.unwrap().score, 30);
    assert_eq!(s.engine.contacts().decide_pending(10).unwrap(), 0);
}

/// Item 11: facts over the tenant's limits are refused with the limit named, and nothing
/// is written.
fn facts_over_the_limits_are_refused_and_nothing_is_written(b: &Backend) {
    let s = setup_on(b);
    let (t, c) = (tid("default"), cid("c1"));
    let many: serde_json::Map<_, _> = (0..33).map(|i| (format!("f{i}"), json!(i))).collect();
    let cases = [
        (
            Inbound {
                facts: many,
                ..hit("hi")
            },
            "facts per message",
            32,
        ),
        (
            Inbound {
                facts: [("k".repeat(65), json!(1))].into_iter().collect(),
                ..hit("hi")
            },
            "fact name",
            64,
        ),
        (
            Inbound {
                facts: [("note".to_string(), json!("x".repeat(2000)))]
                    .into_iter()
                    .collect(),
                ..hit("hi")
            },
            "the value of fact \"note\"",
            1024,
        ),
    ];
    for (msg, what, want) in cases {
        match s.engine.ingest(&t, &c, &msg).unwrap_err() {
            Error::Limit { what: w, limit } => {
                assert!(w.starts_with(what), "{w}");
                assert_eq!(limit, want);
            }
            e => panic!("{e}"),
        }
    }
    assert!(s.engine.contacts().get(&t, &c).unwrap().is_none());
    // Per contact: 100 facts in all, a few messages at a time.
    for n in 0..5 {
        let facts = (0..25).map(|i| (format!("m{n}f{i}"), json!(i))).collect();
        let msg = Inbound { facts, ..hit("hi") };
        let r = s.engine.ingest(&t, &c, &msg);
        if n < 4 {
            r.unwrap();
        } else {
            assert!(matches!(r, Err(Error::Limit { limit: 100, .. })), "{r:?}");
        }
    }
}

/// Item 14: a window that cannot be read ("9am") is an error at load and in `check`,
/// never "always inside".
#[test]
fn an_unreadable_window_is_refused_at_load_and_by_check() {
    let rules = rules_copy();
    write(
        &rules.path().join("night/tenant.yaml"),
        "followup:\n  window: {start: \"9am\", end: \"20:00\"}\n",
    );
    let engine = Engine::open(rules.path()).unwrap();
    let problems: Vec<String> = engine
        .rules()
        .check()
        .iter()
        .map(|e| e.to_string())
        .collect();
    assert!(
        problems
            .iter()
            .any(|p| p.contains("night/tenant.yaml") && p.contains("\"9am\"")),
        "{problems:?}"
    );
    assert!(matches!(
        engine.score(&tid("night"), &Default::default()),
        Err(Error::TenantUnavailable { .. })
    ));
}

/// Item 15: when a tenant's rules are unavailable at due time, its follow-ups are kept,
/// not dropped, and go out once the rules are back.
#[test]
fn followups_wait_for_rules_that_are_unavailable() {
    let store = Arc::new(Store::in_memory(SecretKey::generate()).unwrap());
    let rules = rules_copy();
    let clock = Arc::new(ManualClock::new(T0.parse().unwrap()));
    let build = || {
        Engine::builder()
            .rules_dir(rules.path())
            .store(store.clone())
            .clock(clock.clone())
            .build()
            .unwrap()
    };
    let engine = build();
    say(&engine, "points", "c1", &hit("buying in Plano"));
    // The folder breaks and the process restarts: the tenant has no serving version.
    write(
        &rules.path().join("points/score.rhai"),
        "fn score(lead, cfg) {",
    );
    let engine = build();
    clock.advance_secs(24 * 3600);
    let run = engine.followups().run(&FollowUpOptions::default()).unwrap();
    assert_eq!(run.outcomes[0].outcome, Outcome::Deferred, "{run:?}");
    assert!(run.outcomes[0].reason.contains("rules unavailable"));
    // Fixed: it goes out at the next try.
    std::fs::copy(
        common::shipped_rules().join("points/score.rhai"),
        rules.path().join("points/score.rhai"),
    )
    .unwrap();
    engine.rules().reload();
    clock.advance_secs(6 * 60);
    let run = engine.followups().run(&FollowUpOptions::default()).unwrap();
    assert_eq!(run.count(Outcome::Sent), 1, "{run:?}");
}

/// Item 16: what cannot be right is refused: an `at` in the future or days in the past,
/// an unknown time zone, an empty text. Nothing is written.
fn implausible_messages_are_refused(b: &Backend) {
    let s = setup_on(b);
    let (t, c) = (tid("default"), cid("c1"));
    let at = |ts: &str| Inbound {
        at: Some(ts.parse().unwrap()),
        ..hit("buying")
    };
    let cases = [
        (at("2030-01-01T00:00:00Z"), "in the future"),
        (at("2026-01-10T15:00:00Z"), "more than 24 hours ago"),
        (
            Inbound {
                timezone: Some("Mars/Olympus".into()),
                ..hit("buying")
            },
            "unknown time zone",
        ),
        (hit("   "), "empty"),
    ];
    for (msg, why) in cases {
        match s.engine.ingest(&t, &c, &msg) {
            Err(Error::InvalidMessage(m)) => assert!(m.contains(why), "{m}"),
            other => panic!("{why}: {other:?}"),
        }
    }
    assert!(s.engine.contacts().get(&t, &c).unwrap().is_none());
    // Within the bounds: an hour ago is fine.
    s.engine
        .ingest(&t, &c, &at("2026-01-13T14:00:00Z"))
        .unwrap();
}

/// Item 16: two texts the bot sends one contact are never closer than the tenant's
/// minimum gap (a follow-up right after the question waits).
#[test]
fn bot_texts_keep_the_minimum_gap() {
    let s = setup_with(Store::in_memory(SecretKey::generate()).unwrap(), |dir| {
        write(
            &dir.join("points/tenant.yaml"),
            &(std::fs::read_to_string(dir.join("points/tenant.yaml")).unwrap()
                + "followup:\n  stages_hours: [1]\n  min_gap_minutes: 90\n"),
        );
    });
    let r = say(&s.engine, "points", "c1", &hit("buying"));
    assert!(
        r.decision.next_question.is_some(),
        "a question went out now"
    );
    s.advance_hours(1);
    let run = s
        .engine
        .followups()
        .run(&FollowUpOptions::default())
        .unwrap();
    let o = &run.outcomes[0];
    assert_eq!(o.outcome, Outcome::Deferred, "{o:?}");
    assert!(o.reason.contains("within 90 min"), "{o:?}");
    let earliest: jiff::Timestamp = "2026-01-13T16:30:00Z".parse().unwrap();
    assert_eq!(o.until, Some(earliest));
}

/// Item 8: a delivery's id is remembered while a replay could arrive, then forgotten (the
/// table does not grow without bound); a retry within that time gets the first result.
fn webhook_ids_are_remembered_for_their_window_then_forgotten(b: &Backend) {
    use qualify_engine::conversation::{Delivered, WebhookDelivery};
    let s = setup_on(b);
    let delivery = WebhookDelivery {
        id: "wh-1".into(),
        body_sha256: "ab".repeat(32),
        remember_for: std::time::Duration::from_secs(600),
    };
    let (t, c) = (tid("default"), cid("c1"));
    let msg = hit("buying in Plano");
    let first = s.engine.ingest_webhook(&t, &c, &msg, &delivery).unwrap();
    let Delivered::Fresh(first) = first else {
        panic!("a fresh delivery")
    };
    let again = s.engine.ingest_webhook(&t, &c, &msg, &delivery).unwrap();
    assert_eq!(
        again,
        Delivered::Replayed(serde_json::to_value(&*first).unwrap())
    );
    let other = WebhookDelivery {
        body_sha256: "cd".repeat(32),
        ..delivery.clone()
    };
    assert!(matches!(
        s.engine.ingest_webhook(&t, &c, &msg, &other),
        Err(Error::Replay(_))
    ));
    let forget = || s.engine.forget_expired_deliveries().unwrap();
    assert_eq!(forget(), 0, "still within its window");
    s.clock.advance_secs(601);
    assert_eq!(forget(), 1, "forgotten after it");
}

backend_tests!(
    stop_drops_the_queued_texts_of_that_contact,
    erasure_drops_every_queued_action_of_the_contact,
    delivery_rechecks_erasure_opt_out_and_the_window,
    an_action_that_keeps_failing_moves_to_the_dead_letters,
    facts_over_the_limits_are_refused_and_nothing_is_written,
    implausible_messages_are_refused,
    webhook_ids_are_remembered_for_their_window_then_forgotten,
);
