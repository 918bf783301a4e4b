//! Properties over generated input (proptest), through the public API: sealed values
//! read back equal (in memory, and from a reopened file; another key is refused), SMS
//! segment counting, redaction, and experiment assignment. Case counts are modest so the
//! file runs in seconds in a debug build; `PROPTEST_CASES=N` raises them for a deeper run.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod common;

use common::{cid, tid};
use proptest::prelude::*;
use qualify_engine::experiment::definition::parse;
use qualify_engine::model::{Author, Chosen};
use qualify_engine::text::redact::redact;
use qualify_engine::text::sms::{segments, sms_info, Encoding};
use qualify_engine::{ContactId, Engine, Error, Inbound, SecretKey, Store};
use serde_json::Value;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// `n` cases (or `PROPTEST_CASES`), and failures reported, not written to a regressions
/// file: a failure found here becomes a named test below.
fn cases(n: u32) -> ProptestConfig {
    let from_env = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok());
    ProptestConfig {
        cases: from_env.unwrap_or(n),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// GSM 03.38: the basic table (one septet each) and the extension table (two).
const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM_EXTENSION: &str = "^{}\\[~]|€\u{000C}";

fn is_gsm(c: char) -> bool {
    GSM_BASIC.contains(c) || GSM_EXTENSION.contains(c)
}

fn gsm_basic() -> impl Strategy<Value = char> {
    prop::sample::select(GSM_BASIC.chars().collect::<Vec<_>>())
}

fn gsm_any() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => gsm_basic(),
        1 => prop::sample::select(GSM_EXTENSION.chars().collect::<Vec<_>>()),
    ]
}

/// Characters outside GSM-7: one UTF-16 unit (Latin Extended-A, Cyrillic, CJK, curly
/// quotes) or two (emoji and other astral characters).
fn non_gsm() -> impl Strategy<Value = char> {
    prop_oneof![
        prop::char::range('\u{0100}', '\u{017F}'),
        prop::char::range('\u{0410}', '\u{044F}'),
        prop::char::range('\u{4E00}', '\u{4E80}'),
        Just('\u{2019}'),
        prop::char::range('\u{1F600}', '\u{1F64F}'),
    ]
}

fn any_sms_char() -> impl Strategy<Value = char> {
    prop_oneof![6 => gsm_any(), 1 => non_gsm(), 1 => any::<char>()]
}

fn text_of(chars: Vec<char>) -> String {
    chars.into_iter().collect()
}

proptest! {
    #![proptest_config(cases(256))]

    /// Basic-table texts: one segment up to 160 characters, then 153 per part.
    #[test]
    fn gsm_segments_are_160_then_153(chars in prop::collection::vec(gsm_basic(), 0..700)) {
        let text = text_of(chars);
        let n = text.chars().count();
        let info = sms_info(&text);
        prop_assert_eq!(info.encoding, Encoding::Gsm7);
        prop_assert_eq!(info.units, n);
        let want = match n { 0 => 0, 1..=160 => 1, _ => n.div_ceil(153) };
        prop_assert_eq!(info.segments, want, "{} septets", n);
    }

    /// One-unit UCS-2 texts (a non-GSM character among GSM ones): one segment up to 70
    /// units, then 67 per part.
    #[test]
    fn ucs2_segments_are_70_then_67(
        mut chars in prop::collection::vec(gsm_basic(), 0..300),
        c in prop_oneof![prop::char::range('\u{0100}', '\u{017F}'), prop::char::range('\u{0410}', '\u{044F}')],
        at in any::<prop::sample::Index>(),
    ) {
        chars.insert(at.index(chars.len() + 1), c);
        let text = text_of(chars);
        let n = text.chars().count();
        let info = sms_info(&text);
        prop_assert_eq!(info.encoding, Encoding::Ucs2);
        prop_assert_eq!(info.units, n);
        let want = if n <= 70 { 1 } else { n.div_ceil(67) };
        prop_assert_eq!(info.segments, want, "{} units", n);
    }

    /// With two-unit items (escape pairs, surrogate pairs), which never straddle two
    /// parts, a part carries its maximum or one unit less.
    #[test]
    fn segments_stay_within_the_part_sizes(chars in prop::collection::vec(any_sms_char(), 1..500)) {
        let text = text_of(chars);
        let info = sms_info(&text);
        let (single, multi) = match info.encoding {
            Encoding::Gsm7 => (160, 153),
            Encoding::Ucs2 => (70, 67),
        };
        if info.units <= single {
            prop_assert_eq!(info.segments, 1);
        } else {
            let (low, high) = (info.units.div_ceil(multi), info.units.div_ceil(multi - 1));
            prop_assert!((low..=high).contains(&info.segments), "{:?}", info);
        }
        prop_assert_eq!(segments(&text), info.segments);
    }

    /// Appending a character never makes a text cheaper.
    #[test]
    fn appending_never_lowers_the_segments(
        chars in prop::collection::vec(any_sms_char(), 0..400),
        c in any_sms_char(),
    ) {
        let text = text_of(chars);
        let longer = format!("{text}{c}");
        prop_assert!(segments(&longer) >= segments(&text), "{:?} + {:?}", sms_info(&text), c);
    }

    /// One non-GSM character anywhere switches the whole text to UCS-2 and is reported;
    /// GSM characters alone never do.
    #[test]
    fn one_non_gsm_char_means_ucs2(
        chars in prop::collection::vec(gsm_any(), 0..300),
        c in non_gsm(),
        at in any::<prop::sample::Index>(),
    ) {
        let gsm = text_of(chars.clone());
        let plain = sms_info(&gsm);
        prop_assert_eq!(plain.encoding, Encoding::Gsm7);
        prop_assert!(plain.non_gsm.is_empty());
        let mut with = chars;
        with.insert(at.index(with.len() + 1), c);
        let info = sms_info(&text_of(with));
        prop_assert!(!is_gsm(c));
        prop_assert_eq!(info.encoding, Encoding::Ucs2);
        prop_assert_eq!(info.non_gsm, vec![c]);
    }
}

/// Text pieces that look like PII, or almost do, for the redaction properties.
fn pii_like() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("jo@example.com".to_string()),
        Just("(214) 555-0199".to_string()),
        Just("214-555-0199".to_string()),
        Just("123-45-6789".to_string()),
        Just("SSN 219099999".to_string()),
        Just("4111 1111 1111 1111".to_string()),
        Just("account 12345678".to_string()),
        Just("[REDACTED_PHONE]".to_string()),
        "[0-9]{1,20}",
        "[0-9 ().+-]{1,20}",
        "[a-z0-9._%+-]{1,8}@[a-z0-9.-]{1,8}\\.[a-z]{2,4}",
        "[a-zA-Z ,.!?]{0,20}",
    ]
}

/// PII-like pieces run together with little or nothing between them.
fn pii_text() -> impl Strategy<Value = String> {
    prop::collection::vec((pii_like(), "[ ,;:.\n-]{0,2}"), 0..10)
        .prop_map(|parts| parts.into_iter().map(|(a, b)| a + b.as_str()).collect())
}

/// PII-like pieces with a word between each two, so digits of two pieces never join.
fn pii_sentences() -> impl Strategy<Value = String> {
    prop::collection::vec(pii_like(), 0..10).prop_map(|parts| parts.join(" and "))
}

/// An ASCII e-mail address.
fn email() -> impl Strategy<Value = String> {
    (
        "[a-z][a-z0-9._+-]{0,10}[a-z0-9]",
        "[a-z][a-z0-9-]{0,8}",
        prop::sample::select(vec!["com", "org", "net", "io", "co.uk"]),
    )
        .prop_map(|(local, domain, tld)| format!("{local}@{domain}.{tld}"))
}

/// A North American number in the formats people type: area and exchange 2-9xx, not
/// N11 service codes.
fn phone() -> impl Strategy<Value = String> {
    let part = || (2u32..=9, 0u32..=99).prop_filter("N11", |(_, r)| *r != 11);
    (part(), part(), 0u32..=9999, 0usize..7).prop_map(|((a, ar), (e, er), line, style)| {
        let (area, exch) = (format!("{a}{ar:02}"), format!("{e}{er:02}"));
        match style {
            0 => format!("({area}) {exch}-{line:04}"),
            1 => format!("{area}-{exch}-{line:04}"),
            2 => format!("{area}.{exch}.{line:04}"),
            3 => format!("{area}{exch}{line:04}"),
            4 => format!("+1 {area} {exch} {line:04}"),
            5 => format!("1-{area}-{exch}-{line:04}"),
            _ => format!("{area} {exch} {line:04}"),
        }
    })
}

/// Words around the PII: letters and punctuation, separated from it by a space.
fn around() -> impl Strategy<Value = String> {
    "[a-zA-Z ,.!?']{0,40}"
}

proptest! {
    #![proptest_config(cases(256))]

    /// Redacting the redacted text changes nothing (pieces apart from each other).
    #[test]
    fn redacting_twice_is_redacting_once(text in pii_sentences()) {
        let once = redact(&text);
        let twice = redact(&once.text);
        prop_assert_eq!(&twice.text, &once.text, "second pass found {:?}", twice.findings);
    }

    /// The same with the pieces run together: a second pass finds a card the first
    /// missed when digits ran on from a neighbour (see the card test below).
    #[test]
    fn redacting_twice_is_redacting_once_even_run_together(text in pii_text()) {
        let once = redact(&text);
        let twice = redact(&once.text);
        prop_assert_eq!(&twice.text, &once.text, "second pass found {:?}", twice.findings);
    }

    /// An e-mail address or a phone number written among words never survives.
    #[test]
    fn an_embedded_email_or_phone_never_survives(
        before in around(),
        pii in prop_oneof![email(), phone()],
        after in around(),
    ) {
        let text = format!("{before} {pii} {after}");
        let r = redact(&text);
        prop_assert!(!r.text.contains(&pii), "{:?} survived in {:?}", pii, r.text);
    }
}

/// E.164, the form GoHighLevel stores phone numbers in, is not found: the pattern wants
/// a word boundary between the country code `1` and the area code.
#[test]
fn e164_phone_numbers_are_redacted() {
    for text in ["call +12145550199", "call 12145550199 today"] {
        let r = redact(text);
        assert!(!r.text.contains("2145550199"), "{text:?} -> {:?}", r.text);
    }
}

/// A local part with a non-ASCII letter (`josé@`) stops the e-mail pattern, which allows
/// ASCII only, so the whole address is left as it is.
#[test]
fn non_ascii_email_addresses_are_redacted() {
    for (text, left) in [
        ("write to josé@example.com", "example.com"),
        ("maría.lópez@gmail.com", "gmail.com"),
        ("mail éjo@example.com", "jo@example.com"),
    ] {
        let r = redact(text);
        assert!(!r.text.contains(left), "{text:?} -> {:?}", r.text);
    }
}

/// A card number run on by more digits after one space (an expiry date, a room number
/// before it) makes a longer digit run that fails the Luhn check, and the real card
/// inside it is never tried.
#[test]
fn a_card_next_to_other_digits_is_still_redacted() {
    for text in [
        "card 4111 1111 1111 1111 12/25",
        "room 5 4111 1111 1111 1111",
        // The window with the email's first digit passes the Luhn check too; the email
        // is found first, so the card inside the run must be the shorter window (found by
        // `redacting_twice_is_redacting_once_even_run_together`: the first pass left the
        // card, the second redacted it).
        "4111 1111 1111 1111 3@a.aa",
    ] {
        let r = redact(text);
        assert!(
            !r.text.contains("4111 1111 1111 1111"),
            "{text:?} -> {:?}",
            r.text
        );
    }
}

/// One engine over the embedded default rules and an in-memory store for every case,
/// each case with contacts of its own.
fn memory_engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let store = Store::in_memory(SecretKey::generate()).unwrap();
        Engine::builder().store(store).build().unwrap()
    })
}

fn fresh_contact() -> ContactId {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    cid(&format!("p-{}", NEXT.fetch_add(1, Ordering::Relaxed)))
}

/// A message as a lead might send it: text with PII-like parts, tags, a name, and
/// facts under names the engine gives no meaning to.
fn inbound() -> impl Strategy<Value = Inbound> {
    (
        pii_text().prop_filter("not blank", |t| !t.trim().is_empty()),
        prop::option::of(prop::collection::vec("[A-Za-z -]{1,20}", 0..4)),
        prop::option::of("[A-Za-zé ]{1,20}"),
        prop::collection::btree_map(
            "note_[a-z0-9]{1,10}",
            prop_oneof![
                any::<i64>().prop_map(Value::from),
                "[ -~]{0,40}".prop_map(Value::from)
            ],
            0..4,
        ),
    )
        .prop_map(|(text, tags, name, facts)| Inbound {
            text,
            tags,
            name,
            facts: facts.into_iter().collect(),
            ..Inbound::default()
        })
}

proptest! {
    #![proptest_config(cases(64))]

    /// What is ingested is read back: the lead's message as stored (redacted), its tags,
    /// its facts; and two reads of the sealed record are equal.
    #[test]
    fn an_ingested_message_reads_back_equal(msg in inbound()) {
        let engine = memory_engine();
        let (t, c) = (tid("default"), fresh_contact());
        let ingested = engine.ingest(&t, &c, &msg).unwrap();
        prop_assert_eq!(&ingested.stored_text, &redact(&msg.text).text);
        let stored = engine.contacts().get(&t, &c).unwrap().unwrap();
        let lead_said: Vec<&str> = stored
            .history
            .iter()
            .filter(|m| m.from == Author::Lead)
            .map(|m| m.text.as_str())
            .collect();
        prop_assert_eq!(lead_said, vec![ingested.stored_text.as_str()]);
        if let Some(tags) = &msg.tags {
            for tag in tags {
                prop_assert!(stored.tags.contains(tag), "{:?} not in {:?}", tag, stored.tags);
            }
        }
        for (k, v) in &msg.facts {
            prop_assert_eq!(stored.facts.get(k), Some(v), "fact {}", k);
        }
        prop_assert_eq!(engine.contacts().get(&t, &c).unwrap().unwrap(), stored);
        prop_assert!(engine.contacts().export(&t, &c).unwrap().is_some());
    }
}

proptest! {
    // Each case writes a real file with durable commits.
    #![proptest_config(cases(12))]

    /// A file store reopened with its key reads every contact back equal; reopened with
    /// another key, it is refused as the wrong master key.
    #[test]
    fn a_reopened_file_store_reads_equal_and_refuses_another_key(
        messages in prop::collection::vec(inbound(), 1..4),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.redb");
        let key = SecretKey::generate();
        let t = tid("default");
        let before: Vec<_> = {
            let engine = Engine::builder()
                .store(Store::open(&path, key.clone()).unwrap())
                .build()
                .unwrap();
            messages
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    let c = cid(&format!("f-{i}"));
                    engine.ingest(&t, &c, m).unwrap();
                    (c.clone(), engine.contacts().get(&t, &c).unwrap().unwrap())
                })
                .collect()
        };
        let engine = Engine::builder()
            .store(Store::open(&path, key).unwrap())
            .build()
            .unwrap();
        for (c, contact) in &before {
            prop_assert_eq!(&engine.contacts().get(&t, c).unwrap().unwrap(), contact);
        }
        drop(engine);
        let wrong = Store::open(&path, SecretKey::generate());
        prop_assert!(matches!(wrong, Err(Error::WrongMasterKey)), "{:?}", wrong.err());
    }
}

/// An experiment with these weights, as `experiments.yaml` says it.
fn experiments_yaml(seed: &str, weights: &[u32]) -> String {
    let variants: Vec<String> = weights
        .iter()
        .enumerate()
        .map(|(i, w)| format!("      - {{name: v{i}, weight: {w}}}"))
        .collect();
    format!(
        "experiments:\n  - key: xp\n    seed: {seed:?}\n    metric: reached_hot\n    variants:\n{}\n",
        variants.join("\n")
    )
}

fn experiment(seed: &str, weights: &[u32]) -> qualify_engine::experiment::Experiment {
    parse(
        &experiments_yaml(seed, weights),
        Path::new("experiments.yaml"),
    )
    .unwrap()
    .remove(0)
}

proptest! {
    #![proptest_config(cases(64))]

    /// The same seed and contact id give the same variant, call after call and from a
    /// definition read again.
    #[test]
    fn assignment_is_stable(
        seed in "[a-z0-9-]{1,20}",
        weights in prop::collection::vec(1u32..10, 2..5),
        ids in prop::collection::vec("[A-Za-z0-9_-]{1,64}", 1..50),
    ) {
        let (a, b) = (experiment(&seed, &weights), experiment(&seed, &weights));
        for id in &ids {
            let first = a.assign(id);
            prop_assert!(first < weights.len());
            prop_assert_eq!(a.assign(id), first);
            prop_assert_eq!(b.assign(id), first);
        }
    }
}

proptest! {
    #![proptest_config(cases(24))]

    /// Over many ids each arm gets its share of the weight: within 0.04 of it over 4,000
    /// ids (five standard deviations of a fair share at worst).
    #[test]
    fn assignment_follows_the_weights(
        seed in "[a-z0-9-]{1,20}",
        weights in prop::collection::vec(1u32..10, 2..5),
    ) {
        const N: usize = 4000;
        let x = experiment(&seed, &weights);
        let mut counts = vec![0usize; weights.len()];
        for i in 0..N {
            counts[x.assign(&format!("contact-{i}"))] += 1;
        }
        let total: u32 = weights.iter().sum();
        for (arm, (n, w)) in counts.iter().zip(&weights).enumerate() {
            let (got, want) = (*n as f64 / N as f64, f64::from(*w) / f64::from(total));
            prop_assert!((got - want).abs() < 0.04, "arm {}: {} vs {} ({:?})", arm, got, want, counts);
        }
    }
}

proptest! {
    // Each case builds an engine over a rules folder and reloads it.
    #![proptest_config(cases(8))]

    /// What the engine documents (`experiment/assign.rs`): a contact's variant is
    /// recorded at its first exposure, so a weight change (here, the arms' weights
    /// redrawn) moves nobody already exposed; the hash alone would.
    #[test]
    fn a_weight_change_moves_nobody_exposed(
        seed in "[a-z0-9-]{1,20}",
        weights in prop::collection::vec(1u32..10, 2..4),
        new_weights in prop::collection::vec(1u32..10, 4),
    ) {
        let rules = tempfile::tempdir().unwrap();
        let file = rules.path().join("xp/experiments.yaml");
        common::write(&file, &experiments_yaml(&seed, &weights));
        let engine = Engine::builder()
            .rules_dir(rules.path())
            .store(Store::in_memory(SecretKey::generate()).unwrap())
            .build()
            .unwrap();
        let t = tid("xp");
        let contacts: Vec<ContactId> = (0..12).map(|i| cid(&format!("x-{i}"))).collect();
        let mut hello = Inbound::text("hello, buying in Plano");
        hello.tags = Some(vec!["Hit List".into()]);
        let mut first = Vec::new();
        for c in &contacts {
            let d = engine.ingest(&t, c, &hello).unwrap().decision;
            let exposure = d.experiments.iter().find(|e| e.experiment == "xp").unwrap();
            prop_assert_eq!(exposure.chosen, Chosen::Assigned);
            first.push(exposure.variant.clone());
        }
        let new_weights = &new_weights[..weights.len()];
        common::write(&file, &experiments_yaml(&seed, new_weights));
        let report = engine.rules().reload();
        prop_assert!(report.errors.is_empty(), "{:?}", report.errors);
        for (c, was) in contacts.iter().zip(&first) {
            prop_assert_eq!(&engine.experiments().variant_of(&t, "xp", c).unwrap(), was);
            let d = engine.ingest(&t, c, &Inbound::text("around 450k")).unwrap().decision;
            let exposure = d.experiments.iter().find(|e| e.experiment == "xp").unwrap();
            prop_assert_eq!(&exposure.variant, was);
            prop_assert_eq!(exposure.chosen, Chosen::Recorded);
        }
    }
}

/// The same check without a store, as a fixed example: an unexposed contact follows the
/// hash of the current weights (what `variant_of` reports for it).
#[test]
fn an_unexposed_contact_follows_the_current_weights() {
    let rules = tempfile::tempdir().unwrap();
    common::write(
        &rules.path().join("xp/experiments.yaml"),
        &experiments_yaml("s", &[1, 1]),
    );
    let engine = Engine::open(rules.path()).unwrap();
    let x = experiment("s", &[1, 1]);
    for i in 0..50 {
        let c = cid(&format!("u-{i}"));
        let want = format!("v{}", x.assign(c.as_str()));
        assert_eq!(
            engine
                .experiments()
                .variant_of(&tid("xp"), "xp", &c)
                .unwrap(),
            want
        );
    }
}

/// Runs `f` on its own thread; `None` when it has not returned within `limit` (the
/// thread is left spinning: a test of a hang must not hang the suite).
fn within<T: Send + 'static>(
    limit: std::time::Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).ok()
}

/// Found by the `script` fuzz target: Rhai's `pad` with an empty padding string never
/// returned, inside one native call, so neither the operation limit nor the hook's time
/// limit (checked between operations) stopped it. The sandbox replaces it: a clear error.
#[test]
fn padding_with_an_empty_string_is_stopped() {
    let rules = tempfile::tempdir().unwrap();
    common::write(
        &rules.path().join("fz/score.rhai"),
        "fn score(lead, cfg) {\n    let x = \"a\";\n    x.pad(2, \"\");\n    #{score: 1, class: \"hot\"}\n}\n",
    );
    let engine = Engine::open(rules.path()).unwrap();
    let lead = qualify_engine::Lead::from_json("{}").unwrap();
    let outcome = within(std::time::Duration::from_secs(10), move || {
        engine
            .score(&tid("fz"), &lead)
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
    let outcome = outcome.expect("scoring did not return within 10 s");
    assert!(
        matches!(&outcome, Err(e) if e.contains("padding string is empty") && e.contains("score.rhai:3")),
        "{outcome:?}"
    );
}

/// Found by the `score_lead` fuzz target: the sandbox's data limits (64 KiB of strings in
/// all, 10,000 array items, 1,000 map entries) apply to the lead the engine hands the
/// hooks, so a lead over one failed the default rules with a rules error (HTTP 500
/// `rules_error`, and an ingest stored undecided). Now such a lead is refused as input
/// over a limit before a script runs.
#[test]
fn a_lead_over_the_sandbox_limits_is_not_a_rules_failure() {
    let engine = Engine::open(common::shipped_rules()).unwrap();
    let facts: serde_json::Map<String, Value> = (0..1001)
        .map(|i| (format!("f{i}"), Value::from(i)))
        .collect();
    for (what, lead) in [
        (
            "a 33,000-character name",
            serde_json::json!({"name": "x".repeat(33_000)}),
        ),
        ("10,001 tags", serde_json::json!({"tags": vec![""; 10_001]})),
        ("1,001 facts", serde_json::json!({"facts": facts})),
    ] {
        let lead = qualify_engine::Lead::from_json(&lead.to_string()).unwrap();
        if let Err(e) = engine.score(&tid("default"), &lead) {
            assert!(!e.is_rules_failure(), "{what}: {e}");
        }
    }
}

/// Found with the `script` fuzz target's seeds: the hook's time limit is looked at every
/// 4,096 operations, and `matches()` with a new pattern each call compiles a regex of up
/// to 1 MiB in one operation (milliseconds each), so one hook call ran about 10 s
/// against its 500 ms limit here, and the process-wide pattern cache kept ~490 MB of
/// compiled patterns afterwards (it held up to 4,096, never evicted). Now the deadline is
/// looked at before each compile and the cache is bounded. The bound below is a hang
/// bound (ten times the limit), not a timing measurement.
#[test]
fn a_regex_storm_stops_near_the_time_limit() {
    let rules = tempfile::tempdir().unwrap();
    common::write(
        &rules.path().join("fz/score.rhai"),
        "fn score(lead, cfg) {\n    let i = 0;\n    loop { matches(\"x\", `\\w{20}z${i}`); i += 1; }\n}\n",
    );
    let engine = Engine::open(rules.path()).unwrap();
    let lead = qualify_engine::Lead::from_json("{}").unwrap();
    let started = std::time::Instant::now();
    let outcome = within(std::time::Duration::from_secs(60), move || {
        engine
            .score(&tid("fz"), &lead)
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
    let took = started.elapsed();
    assert!(
        matches!(&outcome, Some(Err(e)) if e.contains("time limit")),
        "{outcome:?}"
    );
    assert!(
        took < std::time::Duration::from_secs(5),
        "the hook ran {took:?} against a 500 ms limit"
    );
}

/// The two ways a second pass finds more, as fixed examples: a card run on from the
/// phone number before it (see `a_card_next_to_other_digits_is_still_redacted`), and a
/// bank number whose context word is more than 40 characters away in the raw text but
/// within 40 once the long e-mail address between them became `[REDACTED_EMAIL]`.
#[test]
fn redacting_twice_is_redacting_once_examples() {
    for text in [
        "(214) 555-0199 4111 1111 1111 1111",
        "routing no. for my savings: see jo.smith.long.address@example.com 12345678",
    ] {
        let once = redact(text).text;
        assert_eq!(redact(&once).text, once, "{text:?}");
    }
}
