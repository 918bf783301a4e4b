//! Analytics through the public API: a scripted set of conversations with known
//! outcomes (ingests and follow-ups on a clock the test moves), and every number the
//! report gives for three ranges checked by hand; ranges, isolation, reopening.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod common;

use common::{cid, tid};
use qualify_engine::clock::ManualClock;
use qualify_engine::conversation::{Analytics, DayRange, FollowUpOptions};
use qualify_engine::{Engine, Inbound, SecretKey, Store};
use std::sync::Arc;

/// Day 0: 2026-01-13, 15:00 UTC (09:00 in Chicago, inside the follow-up window).
const T0: &str = "2026-01-13T15:00:00Z";
const DAY0: &str = "2026-01-13";
const DAY1: &str = "2026-01-14";

fn at(minutes: i64) -> jiff::Timestamp {
    T0.parse::<jiff::Timestamp>().unwrap() + jiff::SignedDuration::from_mins(minutes)
}

fn date(s: &str) -> jiff::civil::Date {
    s.parse().unwrap()
}

/// Says `text` as `contact` at T0 + `minutes`.
fn say(engine: &Engine, clock: &ManualClock, minutes: i64, contact: &str, text: &str) {
    clock.set(at(minutes));
    let m = Inbound {
        tags: Some(vec!["Hit List".into()]),
        ..Inbound::text(text)
    };
    engine.ingest(&tid("default"), &cid(contact), &m).unwrap();
}

fn report(engine: &Engine, from: &str, to: &str) -> Analytics {
    let range = DayRange::new(Some(date(from)), Some(date(to)), engine.today()).unwrap();
    engine.analytics(&tid("default"), range).unwrap()
}

/// The script (minutes after T0; day 1 starts at +540):
/// - A answers one question per message and reaches hot in 30 minutes, 4 messages;
/// - E gives budget, area and timeline at once: hot at its first message;
/// - B answers nothing, gets the 24 h follow-up on day 1, then answers the budget;
/// - C is asked the budget and answers STOP;
/// - D (day 1) gives budget and area: warm, asked the timeline.
fn scripted(engine: &Engine, clock: &ManualClock) {
    say(engine, clock, 0, "a", "We want to buy a house");
    say(engine, clock, 0, "b", "Hi, I'm interested");
    say(engine, clock, 1, "c", "We want to buy a house");
    say(engine, clock, 10, "a", "Our budget is 400k");
    say(engine, clock, 20, "a", "Looking in Plano");
    say(engine, clock, 30, "a", "We need to move next month");
    say(
        engine,
        clock,
        60,
        "e",
        "Our budget is 400k, looking in Plano, we need to move next month",
    );
    say(engine, clock, 120, "c", "STOP");
    clock.set(at(24 * 60));
    let run = engine.followups().run(&FollowUpOptions::default()).unwrap();
    let sent: Vec<_> = run
        .outcomes
        .iter()
        .filter(|o| o.outcome.to_string() == "sent")
        .map(|o| (o.contact.to_string(), o.stage_hours))
        .collect();
    assert_eq!(sent, vec![("b".to_string(), Some(24))], "{run:?}");
    say(engine, clock, 25 * 60, "b", "Our budget is 350k");
    say(engine, clock, 26 * 60, "d", "Budget 500k in Frisco");
}

fn setup() -> (Engine, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(at(0)));
    let engine = Engine::builder()
        .store(Store::in_memory(SecretKey::generate()).unwrap())
        .clock(clock.clone())
        .build()
        .unwrap();
    (engine, clock)
}

fn questions(r: &Analytics) -> Vec<(&str, u64, u64, Option<f64>)> {
    r.questions
        .iter()
        .map(|q| (q.id.as_str(), q.asked, q.answered_next, q.answer_rate))
        .collect()
}

fn followups(r: &Analytics) -> Vec<(u32, u64, u64, Option<f64>)> {
    r.followups
        .iter()
        .map(|f| (f.stage_hours, f.sent, f.replied, f.response_rate))
        .collect()
}

fn classes(r: &Analytics) -> Vec<(String, i64, i64, i64)> {
    r.classes_by_day
        .iter()
        .map(|d| (d.day.to_string(), d.cold, d.warm, d.hot))
        .collect()
}

fn funnel(r: &Analytics) -> [u64; 4] {
    let f = &r.funnel;
    [f.contacts, f.warm, f.hot, f.handed_off]
}

fn conversion(r: &Analytics) -> [Option<f64>; 3] {
    let c = &r.conversion;
    [c.warm, c.hot, c.handed_off]
}

#[test]
fn every_number_of_a_scripted_set_of_conversations() {
    let (engine, clock) = setup();
    scripted(&engine, &clock);

    let both = report(&engine, DAY0, DAY1);
    assert_eq!(funnel(&both), [5, 3, 2, 2]);
    assert_eq!(conversion(&both), [Some(0.6), Some(2.0 / 3.0), Some(1.0)]);
    assert_eq!(both.messages.inbound, 10);
    assert_eq!((both.opt_outs.count, both.opt_outs.rate), (1, Some(0.2)));
    assert_eq!(
        questions(&both),
        vec![
            ("budget", 3, 2, Some(2.0 / 3.0)),
            ("location", 2, 1, Some(0.5)),
            ("timeline", 2, 1, Some(0.5)),
        ]
    );
    assert_eq!(
        followups(&both),
        vec![(24, 1, 1, Some(1.0)), (48, 0, 0, None), (72, 0, 0, None)]
    );
    assert_eq!(
        classes(&both),
        vec![(DAY0.into(), 2, 0, 2), (DAY1.into(), 2, 1, 2)]
    );
    // A: 30 minutes and 4 messages; E: 0 minutes and 1 message (linear percentiles).
    let h = &both.to_hot;
    assert_eq!(h.contacts, 2);
    assert_eq!(
        (h.median_minutes, h.median_messages),
        (Some(15.0), Some(2.5))
    );
    let (p90m, p90n) = (h.p90_minutes.unwrap(), h.p90_messages.unwrap());
    assert!(
        (p90m - 27.0).abs() < 1e-9 && (p90n - 3.7).abs() < 1e-9,
        "{h:?}"
    );
    assert!(both.experiments.is_empty());
    assert_eq!(both.unreadable_days, 0);

    // Day 0 alone: B's answer (day 1) counts for the question asked on day 0.
    let first = report(&engine, DAY0, DAY0);
    assert_eq!(funnel(&first), [4, 2, 2, 2]);
    assert_eq!(conversion(&first), [Some(0.5), Some(1.0), Some(1.0)]);
    assert_eq!(first.messages.inbound, 8);
    assert_eq!((first.opt_outs.count, first.opt_outs.rate), (1, Some(0.25)));
    assert_eq!(
        questions(&first),
        vec![
            ("budget", 3, 2, Some(2.0 / 3.0)),
            ("location", 1, 1, Some(1.0)),
            ("timeline", 1, 1, Some(1.0)),
        ]
    );
    assert_eq!(
        followups(&first),
        vec![(24, 0, 0, None), (48, 0, 0, None), (72, 0, 0, None)]
    );
    assert_eq!(classes(&first), vec![(DAY0.into(), 2, 0, 2)]);
    assert_eq!(first.to_hot.contacts, 2);

    // Day 1 alone: D's cohort; the class mix carries day 0's contacts.
    let second = report(&engine, DAY1, DAY1);
    assert_eq!(funnel(&second), [1, 1, 0, 0]);
    assert_eq!(conversion(&second), [Some(1.0), Some(0.0), None]);
    assert_eq!(second.messages.inbound, 2);
    assert_eq!(
        (second.opt_outs.count, second.opt_outs.rate),
        (0, Some(0.0))
    );
    assert_eq!(
        questions(&second),
        vec![("location", 1, 0, Some(0.0)), ("timeline", 1, 0, Some(0.0))]
    );
    assert_eq!(
        followups(&second),
        vec![(24, 1, 1, Some(1.0)), (48, 0, 0, None), (72, 0, 0, None)]
    );
    assert_eq!(classes(&second), vec![(DAY1.into(), 2, 1, 2)]);
    let h = &second.to_hot;
    assert_eq!(
        (
            h.contacts,
            h.median_minutes,
            h.p90_minutes,
            h.median_messages
        ),
        (0, None, None, None)
    );
}

#[test]
fn an_erased_contact_leaves_the_class_mix_from_that_day_on() {
    let (engine, clock) = setup();
    say(&engine, &clock, 0, "w", "Budget 500k in Frisco");
    say(
        &engine,
        &clock,
        5,
        "h",
        "Budget 400k, Plano, moving next month",
    );
    let before = report(&engine, DAY0, DAY1);
    assert_eq!(
        classes(&before),
        [(DAY0.into(), 0, 1, 1), (DAY1.into(), 0, 1, 1)]
    );
    clock.set(at(24 * 60));
    assert!(engine.contacts().erase(&tid("default"), &cid("h")).unwrap());
    let after = report(&engine, DAY0, DAY1);
    // Day 0 is history: the contact was hot then. From day 1 it is gone.
    assert_eq!(
        classes(&after),
        [(DAY0.into(), 0, 1, 1), (DAY1.into(), 0, 1, 0)]
    );
    // Its milestones happened and stay counted.
    assert_eq!(funnel(&after), funnel(&before));
    // Erasing it again changes nothing.
    assert!(!engine.contacts().erase(&tid("default"), &cid("h")).unwrap());
    assert_eq!(classes(&report(&engine, DAY0, DAY1)), classes(&after));
}

#[test]
fn a_range_before_anything_happened_is_all_zeros_and_nulls() {
    let (engine, clock) = setup();
    scripted(&engine, &clock);
    let r = report(&engine, "2025-12-01", "2025-12-03");
    assert_eq!(funnel(&r), [0; 4]);
    assert_eq!(conversion(&r), [None; 3]);
    assert_eq!(r.opt_outs.rate, None);
    assert_eq!(r.classes_by_day.len(), 3);
    assert!(r
        .classes_by_day
        .iter()
        .all(|d| (d.cold, d.warm, d.hot) == (0, 0, 0)));
    assert!(r.questions.is_empty());
    // After everything: the class mix stays as it was at the end of day 1.
    let later = report(&engine, "2026-02-01", "2026-02-01");
    assert_eq!(classes(&later), vec![("2026-02-01".into(), 2, 1, 2)]);
    assert_eq!(funnel(&later), [0; 4]);
}

#[test]
fn the_default_range_is_the_last_30_days_and_bad_ranges_are_refused() {
    let (engine, clock) = setup();
    scripted(&engine, &clock);
    let today = engine.today();
    assert_eq!(today, date(DAY1));
    let r = engine
        .analytics(&tid("default"), DayRange::new(None, None, today).unwrap())
        .unwrap();
    assert_eq!((r.from, r.to), (date("2025-12-16"), date(DAY1)));
    assert_eq!(r.classes_by_day.len(), 30);
    assert_eq!(funnel(&r), [5, 3, 2, 2]);

    let err = DayRange::new(Some(date(DAY1)), Some(date(DAY0)), today).unwrap_err();
    assert!(err.to_string().contains("is after"), "{err}");
    let err = DayRange::new(Some(date("2000-01-01")), Some(date(DAY1)), today).unwrap_err();
    assert!(err.to_string().contains("longer than"), "{err}");
    let err = DayRange::parse_day("from", "13/01/2026").unwrap_err();
    assert!(err.to_string().contains("`from`"), "{err}");
}

#[test]
fn tenants_see_only_their_own_numbers_and_they_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("q.redb");
    let key = SecretKey::generate();
    let clock = Arc::new(ManualClock::new(at(0)));
    let rules = common::rules_copy();
    common::write(
        &rules.path().join("other/tenant.yaml"),
        "name: Another team\n",
    );
    {
        let engine = Engine::builder()
            .rules_dir(rules.path())
            .store(Store::open(&file, key.clone()).unwrap())
            .clock(clock.clone())
            .build()
            .unwrap();
        scripted(&engine, &clock);
        let other = engine
            .analytics(
                &tid("other"),
                DayRange::new(Some(date(DAY0)), Some(date(DAY1)), engine.today()).unwrap(),
            )
            .unwrap();
        assert_eq!(funnel(&other), [0; 4]);
        assert_eq!(other.messages.inbound, 0);
    }
    let engine = Engine::builder()
        .rules_dir(rules.path())
        .store(Store::open(&file, key).unwrap())
        .clock(clock.clone())
        .build()
        .unwrap();
    let r = report(&engine, DAY0, DAY1);
    assert_eq!(funnel(&r), [5, 3, 2, 2]);
    assert_eq!(r.messages.inbound, 10);
    // Erasing the tenant's data removes its analytics too.
    engine.accounts().erase_data(&tid("default")).unwrap();
    assert_eq!(funnel(&report(&engine, DAY0, DAY1)), [0; 4]);
}
