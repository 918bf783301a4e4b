//! Transcripts through the public API: the prototype's JSON shapes and CSV read from the
//! fixtures, metrics and the patterns report worked out by hand, the metrics CSV (header
//! always, exact round trip), and generated imports with planted bad records whose
//! skipped locations must come back exactly. Each of the prototype's defects has a test
//! that its behaviour would fail.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod common;

use common::Rng;
use jiff::Timestamp;
use qualify_engine::transcript::*;
use qualify_engine::Error;
use std::path::{Path, PathBuf};
use std::time::Instant;

const HEADER: &str = "transcript_id,lead_type,outcome,close_reason,questions_answered,duration_minutes,message_count,avg_response_time_seconds,questions_asked,pathway_identified\n";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/transcripts")
        .join(name)
}

fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn read_clean(name: &str) -> Vec<Transcript> {
    let parsed = read_file(&fixture(name)).unwrap();
    assert_eq!(parsed.skipped, vec![], "{name}");
    parsed.transcripts
}

fn approx(actual: f64, expected: f64) {
    assert!(
        (actual - expected).abs() < 1e-9,
        "{actual} is not {expected}"
    );
}

fn some_approx(actual: Option<f64>, expected: f64) {
    approx(actual.unwrap_or(f64::NAN), expected);
}

fn skip(at: Location, id: Option<&str>, reason: &str) -> Skipped {
    Skipped {
        at,
        id: id.map(str::to_string),
        reason: reason.to_string(),
    }
}

// ---------------------------------------------------------------- the fixtures' shapes

#[test]
fn json_object_list_and_wrapper_read_alike() {
    let single = read_clean("single.json");
    let list = read_clean("list.json");
    let wrapped = read_clean("wrapped.json");
    assert_eq!(single.len(), 1);
    assert_eq!(single[0], list[0]);
    // The seller's naive time is written `T` in one file and with a space in the other.
    assert_eq!(list, wrapped);

    let buyer = &list[0];
    assert_eq!(buyer.id, "buyer-001");
    assert_eq!(buyer.date.as_deref(), Some("2024-01-15"));
    assert_eq!(
        (buyer.lead_type.as_str(), buyer.outcome.as_str()),
        ("buyer", "closed")
    );
    assert_eq!(
        buyer.close_reason.as_deref(),
        Some("Pre-approved, showing booked")
    );
    assert_eq!(buyer.questions_answered, 3);
    assert_eq!(buyer.messages.len(), 7);
    let m = &buyer.messages[2];
    assert_eq!(
        (m.speaker, m.at),
        (Speaker::Agent, ts("2024-01-15T10:01:00Z"))
    );
    assert_eq!(m.stage.as_deref(), Some("qualification"));
    assert_eq!(m.question_type.as_deref(), Some("budget"));
    // 04:02:30-06:00 is 10:02:30 UTC: fourth in time as in the file.
    assert_eq!(buyer.messages[3].at, ts("2024-01-15T10:02:30Z"));
    assert_eq!(buyer.messages[3].speaker, Speaker::Lead);
    assert_eq!(
        buyer.messages[3].text,
        "Around $450k, and we're pre-approved."
    );
    assert_eq!(buyer.messages[3].stage, None);
    let closing = &buyer.messages[6];
    assert_eq!(
        (closing.stage.as_deref(), closing.question_type.as_deref()),
        (Some("closing"), None)
    );
    assert!(
        buyer.pathway_signals.is_empty(),
        "insights without pathway_signals"
    );

    let seller = &list[1];
    assert_eq!(
        (seller.id.as_str(), seller.outcome.as_str()),
        ("seller-002", "lost")
    );
    assert_eq!(seller.messages[3].at, ts("2024-01-16T14:10:00Z"));
    assert_eq!(
        seller.pathway_signals,
        ["inherited", "needs work", "cash offer"],
        "the object of lists is flattened"
    );
}

#[test]
fn csv_rows_group_by_id_in_order_of_first_appearance() {
    let from_csv = read_clean("grouped.csv");
    let from_json = read_clean("list.json");
    let ids: Vec<&str> = from_csv.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["buyer-001", "seller-002"]);
    // The CSV has no questions_answered, metadata or insights; everything else matches,
    // messages sorted by time although the rows are shuffled.
    let expected: Vec<Transcript> = from_json
        .into_iter()
        .map(|mut t| {
            t.questions_answered = 0;
            t.pathway_signals.clear();
            for m in &mut t.messages {
                m.stage = None;
                m.question_type = None;
            }
            t
        })
        .collect();
    assert_eq!(from_csv, expected);
}

// ---------------------------------------------------------------- metrics

#[test]
fn metrics_of_the_samples_worked_by_hand() {
    let list = read_clean("list.json");
    // Buyer: 10:00:00 -> 10:05:30 is 5.5 min; the speaker changes at all six gaps
    // (45, 15, 90, 30, 120, 30 s: 330 / 6 = 55 s); three bot messages hold a '?'; no
    // pathway word ("move asap" is not "move-in ready").
    assert_eq!(
        metrics(&list[0]),
        ConversationMetrics {
            transcript_id: "buyer-001".into(),
            lead_type: "buyer".into(),
            outcome: "closed".into(),
            close_reason: Some("Pre-approved, showing booked".into()),
            questions_answered: 3,
            duration_minutes: 5.5,
            message_count: 7,
            avg_response_time_seconds: 55.0,
            questions_asked: 3,
            pathway_identified: None,
        }
    );
    // Seller: 14:00 -> 14:11 is 11 min; gaps 120, 60, 420, 60 s: 660 / 4 = 165 s; three
    // questions; wholesale words inherited, needs work, cash offer, fixer, as-is (5)
    // against no listing word.
    assert_eq!(
        metrics(&list[1]),
        ConversationMetrics {
            transcript_id: "seller-002".into(),
            lead_type: "seller".into(),
            outcome: "lost".into(),
            close_reason: Some("Stopped responding".into()),
            questions_answered: 2,
            duration_minutes: 11.0,
            message_count: 5,
            avg_response_time_seconds: 165.0,
            questions_asked: 3,
            pathway_identified: Some(Pathway::Wholesale),
        }
    );
}

#[test]
fn metrics_edge_cases_one_message_one_speaker_and_ties() {
    let one = parse_json(
        r#"{"id": "a", "lead_type": "buyer", "outcome": "lost", "messages": [
        {"timestamp": "2024-01-01T00:00:00Z", "speaker": "bot", "message": "Cash offer or top dollar?"}]}"#,
    )
    .unwrap();
    let m = metrics(&one.transcripts[0]);
    // One message: no duration, no response; one hit each side is a tie.
    assert_eq!(
        (m.duration_minutes, m.avg_response_time_seconds),
        (0.0, 0.0)
    );
    assert_eq!((m.message_count, m.questions_asked), (1, 1));
    assert_eq!(m.pathway_identified, None);

    let monologue = parse_json(
        r#"{"id": "b", "lead_type": "seller", "outcome": "lost", "messages": [
        {"timestamp": "2024-01-01T00:00:00Z", "speaker": "bot", "message": "Hello"},
        {"timestamp": "2024-01-01T00:03:00Z", "speaker": "bot", "message": "Still there? It's UPDATED and renovated"}]}"#,
    )
    .unwrap();
    let m = metrics(&monologue.transcripts[0]);
    assert_eq!(
        (m.duration_minutes, m.avg_response_time_seconds),
        (3.0, 0.0)
    );
    assert_eq!(
        m.pathway_identified,
        Some(Pathway::Listing),
        "case-insensitive"
    );
}

// ---------------------------------------------------------------- the metrics CSV

#[test]
fn empty_export_writes_exactly_the_header() {
    // The prototype wrote an empty file with no header.
    let mut out = Vec::new();
    write_metrics_csv(&mut out, &[]).unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), HEADER);
    assert_eq!(read_metrics_csv(HEADER.as_bytes()).unwrap(), vec![]);
}

#[test]
fn export_of_the_samples_reads_back() {
    let rows: Vec<ConversationMetrics> = read_clean("wrapped.json").iter().map(metrics).collect();
    let mut out = Vec::new();
    write_metrics_csv(&mut out, &rows).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
        text,
        format!(
            "{HEADER}buyer-001,buyer,closed,\"Pre-approved, showing booked\",3,5.5,7,55,3,\n\
             seller-002,seller,lost,Stopped responding,2,11,5,165,3,wholesale\n"
        )
    );
    assert_eq!(read_metrics_csv(text.as_bytes()).unwrap(), rows);
}

const AWKWARD: [&str; 14] = [
    "plain",
    "comma, inside",
    "\"quoted\"",
    "she said \"hi\", then left",
    "line\nbreak",
    "crlf\r\nbreak",
    "  padded  ",
    "ünïcødé – 🏠 東京",
    "#hash",
    "trailing newline\n",
    "\n",
    ",",
    "'single'",
    "",
];

#[test]
fn metrics_csv_round_trips_awkward_rows_exactly() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let specials = [
        0.0,
        0.1 + 0.2,
        1e-300,
        1e300,
        123_456_789.123,
        1.0 / 3.0,
        5e-324,
    ];
    let rows: Vec<ConversationMetrics> = (0..400)
        .map(|i| {
            let number = |rng: &mut Rng| {
                if rng.below(4) == 0 {
                    specials[rng.below(specials.len())]
                } else {
                    // 53 random bits scaled over several magnitudes.
                    (rng.next() >> 11) as f64 / (1u64 << 53) as f64
                        * 10f64.powi(rng.below(12) as i32 - 4)
                }
            };
            let close_reason = match rng.below(3) {
                0 => None,
                _ => Some(format!(
                    "{}{}",
                    rng.pick(&AWKWARD[..13]),
                    rng.pick(&AWKWARD)
                )),
            };
            ConversationMetrics {
                transcript_id: format!("t{i}{}", rng.pick(&AWKWARD)),
                lead_type: rng.pick(&AWKWARD).to_string(),
                outcome: rng.pick(&["closed", "lost", "Closed, finally"]).to_string(),
                close_reason,
                questions_answered: rng.next() as u32,
                duration_minutes: number(&mut rng),
                message_count: rng.below(500) as u32,
                avg_response_time_seconds: number(&mut rng),
                questions_asked: rng.next() as u32,
                pathway_identified: [None, Some(Pathway::Wholesale), Some(Pathway::Listing)]
                    [rng.below(3)],
            }
        })
        .collect();
    let mut out = Vec::new();
    write_metrics_csv(&mut out, &rows).unwrap();
    assert!(out.starts_with(HEADER.as_bytes()));
    let back = read_metrics_csv(out.as_slice()).unwrap();
    assert_eq!(back.len(), rows.len());
    for (a, b) in back.iter().zip(&rows) {
        assert_eq!(a, b);
        // Bit for bit, not just ==.
        assert_eq!(a.duration_minutes.to_bits(), b.duration_minutes.to_bits());
    }
}

#[test]
fn reading_a_bad_metrics_row_names_its_line() {
    let text = format!("{HEADER}a,buyer,closed,,1,2.5,3,4,5,\nb,buyer,closed,,1,soon,3,4,5,\n");
    let err = read_metrics_csv(text.as_bytes()).unwrap_err();
    assert!(
        matches!(&err, Error::TranscriptInput { line: 3, message, .. } if message.contains("duration_minutes")),
        "{err}"
    );
    let err = read_metrics_csv("transcript_id,lead_type\n".as_bytes()).unwrap_err();
    assert!(
        err.to_string().contains("missing column \"outcome\""),
        "{err}"
    );
}

// ---------------------------------------------------------------- the patterns report

/// Seconds after 2024-05-01T12:00:00Z.
fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(1_714_564_800 + secs).unwrap()
}

fn agent(secs: i64, text: &str, question_type: Option<&str>) -> Message {
    Message {
        at: at(secs),
        speaker: Speaker::Agent,
        text: text.into(),
        stage: question_type.map(|_| "qualification".to_string()),
        question_type: question_type.map(str::to_string),
    }
}

fn closing(secs: i64, text: &str) -> Message {
    Message {
        stage: Some("closing".into()),
        ..agent(secs, text, None)
    }
}

fn lead(secs: i64, text: &str) -> Message {
    Message {
        at: at(secs),
        speaker: Speaker::Lead,
        text: text.into(),
        stage: None,
        question_type: None,
    }
}

fn conversation(
    id: &str,
    lead_type: &str,
    outcome: &str,
    questions_answered: u32,
    messages: Vec<Message>,
    signals: &[&str],
) -> Transcript {
    Transcript {
        id: id.into(),
        date: None,
        lead_type: lead_type.into(),
        outcome: outcome.into(),
        close_reason: None,
        questions_answered,
        messages,
        pathway_signals: signals.iter().map(|s| s.to_string()).collect(),
    }
}

/// Five conversations, three closed (A buyer, B seller, E investor), worked by hand in
/// `patterns_of_a_hand_worked_set`.
fn hand_worked_set() -> Vec<Transcript> {
    let call = "Great, an agent will call you today.";
    vec![
        conversation(
            "A",
            "buyer",
            "closed",
            5,
            vec![
                agent(0, "What's your budget?", Some("budget")),
                lead(60, "About 500k"),
                agent(120, "Is that budget pre-approved?", Some("budget")),
                lead(180, "Yes, pre-approved"),
                agent(240, "And the max budget?", Some("budget")),
                lead(300, "550k"),
                agent(360, "Which location?", Some("location")),
                lead(420, "Plano, near schools"),
                closing(480, call),
            ],
            // No pathway detected in A: its signals are not reported.
            &["pre-approved"],
        ),
        conversation(
            "B",
            "seller",
            "Closed",
            9,
            vec![
                agent(0, "Where is the property?", Some("location")),
                lead(120, "Dallas. It's inherited, a fixer, sold as-is"),
                agent(180, "What's your budget for the next home?", Some("budget")),
                lead(300, "No idea"),
                agent(360, "When do you want to sell?", Some("timeline")),
                lead(600, "asap"),
                closing(900, call),
            ],
            &["As-Is", "inherited", "as-is"],
        ),
        conversation(
            "C",
            "buyer",
            "lost",
            1,
            vec![
                agent(0, "What's your budget?", Some("budget")),
                lead(60, "Just looking"),
            ],
            &[],
        ),
        conversation(
            "D",
            "seller",
            "lost",
            2,
            vec![
                agent(0, "Where is the property?", Some("location")),
                lead(30, "I need a cash offer, quick"),
            ],
            &["cash offer"],
        ),
        conversation(
            "E",
            "investor",
            "closed",
            0,
            vec![
                closing(0, "Ready to book a call?"),
                lead(30, "Yes. Updated and renovated, I want top dollar"),
            ],
            &["Top dollar"],
        ),
    ]
}

#[test]
fn patterns_of_a_hand_worked_set() {
    let now = ts("2026-03-02T15:00:00Z");
    let r = patterns(&hand_worked_set(), now);
    assert_eq!(r.generated_at, now);

    // Closed: A, B ("Closed" in any case) and E: 3 of 5.
    let s = &r.summary;
    assert_eq!((s.total_transcripts, s.successful_closes), (5, 3));
    some_approx(s.close_rate, 60.0);
    // questions_answered of closed: A 5, B 9, E 0 = not recorded: (5 + 9) / 2.
    some_approx(s.avg_questions_to_close, 7.0);
    // Durations of closed: A 480 s = 8, B 900 s = 15, E 30 s = 0.5 minutes.
    some_approx(s.avg_conversation_duration_minutes, 23.5 / 3.0);

    // Agent question types in closed conversations only (C's budget is not counted):
    // budget 3 in A + 1 in B = 4 asks in 2 of 3 conversations; the prototype divided
    // the 4 asks by 3 closed: 133 %.
    let p = &r.patterns;
    let q: Vec<(&str, u32, u32, bool)> = p
        .winning_questions
        .iter()
        .map(|w| {
            (
                w.question_type.as_str(),
                w.frequency,
                w.transcripts,
                w.recommended,
            )
        })
        .collect();
    assert_eq!(
        q,
        [
            ("budget", 4, 2, true),
            ("location", 2, 2, true),
            ("timeline", 1, 1, false)
        ]
    );
    approx(p.winning_questions[0].appears_in_percent, 200.0 / 3.0);
    approx(p.winning_questions[1].appears_in_percent, 200.0 / 3.0);
    approx(p.winning_questions[2].appears_in_percent, 100.0 / 3.0);

    // First positions: budget A 0, B 2 (avg 1); location A 6, B 0 (avg 3); timeline B 4.
    let order: Vec<(&str, f64, u32)> = p
        .optimal_question_order
        .iter()
        .map(|o| {
            (
                o.question_type.as_str(),
                o.average_first_position,
                o.transcripts,
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            ("budget", 1.0, 2),
            ("location", 3.0, 2),
            ("timeline", 4.0, 1)
        ]
    );

    let phrases: Vec<(&str, u32)> = p
        .successful_closing_phrases
        .iter()
        .map(|c| (c.phrase.as_str(), c.frequency))
        .collect();
    assert_eq!(
        phrases,
        [
            ("Great, an agent will call you today.", 2),
            ("Ready to book a call?", 1)
        ]
    );

    // Closed conversations mentioning each word, any speaker; D's "cash offer" is lost.
    let keywords: Vec<(&str, u32)> = p
        .keyword_patterns
        .iter()
        .map(|(k, n)| (k.as_str(), *n))
        .collect();
    assert_eq!(
        keywords,
        [
            ("budget", 2),
            ("location", 1),
            ("timeline", 0),
            ("beds", 0),
            ("baths", 0),
            ("pre-approved", 1),
            ("asap", 1),
            ("urgent", 0),
            ("cash", 0),
            ("financing", 0),
            ("schools", 1),
            ("move-in ready", 0),
            ("fixer", 1),
            ("as-is", 1),
            ("renovated", 1),
            ("updated", 1),
            ("condition", 0),
        ]
    );

    // B is wholesale (inherited, fixer, as-is), E listing (updated, renovated, top
    // dollar); A has no pathway; D is lost. "As-Is" and "as-is" are one signal of B.
    let signals = &p.pathway_signals;
    let side = |list: &[SignalCount]| -> Vec<(String, u32)> {
        list.iter()
            .map(|s| (s.signal.clone(), s.transcripts))
            .collect()
    };
    assert_eq!(
        side(&signals.wholesale),
        [("As-Is".to_string(), 1), ("inherited".to_string(), 1)]
    );
    assert_eq!(side(&signals.listing), [("Top dollar".to_string(), 1)]);

    // Rates: buyers A closed, C lost; sellers B closed, D lost; E counts only overall.
    let m = &r.metrics;
    some_approx(m.close_rates.buyer, 50.0);
    some_approx(m.close_rates.seller, 50.0);
    some_approx(m.close_rates.overall, 60.0);
    let by = &m.conversations_by_type;
    assert_eq!((by.buyer, by.seller, by.other, by.total), (2, 2, 1, 5));

    // Average questions 7.0 is not below 7: no "Qualification Efficiency".
    let recs: Vec<(&str, Impact)> = r
        .recommendations
        .iter()
        .map(|x| (x.category.as_str(), x.impact))
        .collect();
    assert_eq!(
        recs,
        [
            ("Question Sequencing", Impact::High),
            ("Conversation Pacing", Impact::Medium),
            ("Pathway Detection", Impact::High),
            ("Closing Language", Impact::Medium),
        ]
    );
    assert!(r.recommendations[0]
        .recommendation
        .contains("budget → location → timeline"));

    let text = r.to_text();
    for line in [
        "close rate:                60.0%",
        "budget               asked    4x, in 2 of 3 closed (66.7%)  recommended",
        "1. budget (position 1.0, 2 conversations)",
        "wholesale: As-Is (1), inherited (1)",
        "[high] Pathway Detection",
    ] {
        assert!(text.contains(line), "{line:?} not in\n{text}");
    }
}

#[test]
fn a_question_asked_many_times_in_one_conversation_stays_within_100_percent() {
    let t = conversation(
        "only",
        "buyer",
        "closed",
        3,
        vec![
            agent(0, "Budget?", Some("budget")),
            lead(10, "Not sure"),
            agent(20, "Roughly, budget?", Some("budget")),
            lead(30, "Maybe 300k"),
            agent(40, "So 300k budget?", Some("budget")),
        ],
        &[],
    );
    let r = patterns(&[t], ts("2026-01-01T00:00:00Z"));
    let w = &r.patterns.winning_questions[0];
    // The prototype: 3 asks / 1 closed = 300 %.
    assert_eq!(
        (
            w.frequency,
            w.transcripts,
            w.appears_in_percent,
            w.recommended
        ),
        (3, 1, 100.0, true)
    );
}

#[test]
fn no_closed_conversations_give_nulls_never_nan() {
    let set = hand_worked_set();
    let lost: Vec<Transcript> = set.into_iter().filter(|t| t.outcome == "lost").collect();
    let r = patterns(&lost, ts("2026-01-01T00:00:00Z"));
    assert_eq!(r.summary.close_rate, Some(0.0));
    assert_eq!(r.summary.avg_questions_to_close, None);
    assert_eq!(r.summary.avg_conversation_duration_minutes, None);
    assert_eq!(r.metrics.close_rates.buyer, Some(0.0));
    assert!(r.patterns.winning_questions.is_empty());
    assert!(r.patterns.optimal_question_order.is_empty());
    assert!(r.recommendations.is_empty());

    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(
        json["summary"]["avg_questions_to_close"],
        serde_json::Value::Null
    );
    assert_eq!(
        json["summary"]["avg_conversation_duration_minutes"],
        serde_json::Value::Null
    );

    // Nothing at all: every rate and average is null.
    let empty = patterns(&[], ts("2026-01-01T00:00:00Z"));
    let json = serde_json::to_value(&empty).unwrap();
    for rate in ["buyer", "seller", "overall"] {
        assert_eq!(
            json["metrics"]["close_rates"][rate],
            serde_json::Value::Null,
            "{rate}"
        );
    }
    assert_eq!(json["summary"]["close_rate"], serde_json::Value::Null);
    assert_eq!(json["summary"]["total_transcripts"], 0);
    let text = serde_json::to_string(&empty).unwrap();
    assert!(!text.contains("NaN"), "{text}");
    assert!(empty.to_text().contains("close rate:                n/a"));

    // Sellers only: the buyer rate is null, not 0 and not NaN.
    let sellers = patterns(&lost[1..], ts("2026-01-01T00:00:00Z"));
    assert_eq!(sellers.metrics.close_rates.buyer, None);
    assert_eq!(sellers.metrics.close_rates.seller, Some(0.0));
}

#[test]
fn pathway_recommendation_needs_signals_from_the_data() {
    // Closed conversations with a detected pathway but no insights: the prototype's
    // fallback lists made "Pathway Detection" fire anyway.
    let mut set = hand_worked_set();
    for t in &mut set {
        t.pathway_signals.clear();
    }
    let r = patterns(&set, ts("2026-01-01T00:00:00Z"));
    let signals = &r.patterns.pathway_signals;
    assert!(signals.wholesale.is_empty() && signals.listing.is_empty());
    assert!(
        signals.defaults.wholesale.contains(&"cash offer"),
        "defaults kept, labelled"
    );
    assert!(!r
        .recommendations
        .iter()
        .any(|x| x.category == "Pathway Detection"));
    assert!(r
        .to_text()
        .contains("default cues, not from the data: wholesale as-is, fast"));
}

#[test]
fn report_json_has_the_prototype_keys() {
    let r = patterns(&hand_worked_set(), ts("2026-03-02T15:00:00Z"));
    let json = serde_json::to_value(&r).unwrap();
    let keys =
        |v: &serde_json::Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(
        keys(&json),
        [
            "generated_at",
            "summary",
            "patterns",
            "metrics",
            "recommendations"
        ]
    );
    assert_eq!(json["generated_at"], "2026-03-02T15:00:00Z");
    assert_eq!(
        keys(&json["summary"]),
        [
            "total_transcripts",
            "successful_closes",
            "close_rate",
            "avg_questions_to_close",
            "avg_conversation_duration_minutes"
        ]
    );
    assert_eq!(
        keys(&json["patterns"]),
        [
            "winning_questions",
            "successful_closing_phrases",
            "optimal_question_order",
            "keyword_patterns",
            "pathway_signals"
        ]
    );
    assert_eq!(
        keys(&json["metrics"]),
        ["close_rates", "conversations_by_type"]
    );
    assert_eq!(json["patterns"]["keyword_patterns"]["budget"], 2);
    assert_eq!(
        keys(&json["recommendations"][0]),
        ["category", "recommendation", "impact", "implementation"]
    );
    assert_eq!(json["recommendations"][0]["impact"], "high");
    assert_eq!(
        json["patterns"]["winning_questions"][0]["recommended"],
        true
    );
}

// ---------------------------------------------------------------- bad input

#[test]
fn json_records_of_the_wrong_shape_are_skipped_with_reasons() {
    let ok_messages =
        r#"[{"timestamp": "2024-01-01T00:00:00Z", "speaker": "bot", "message": "Hi?"}]"#;
    let cases = [
        (
            r#"{"id": 5, "lead_type": "buyer", "outcome": "lost", "messages": M}"#,
            None,
            "id: expected a string, found a number",
        ),
        (
            r#"{"lead_type": "buyer", "outcome": "lost", "messages": M}"#,
            None,
            "id: missing",
        ),
        (
            r#"{"id": " ", "lead_type": "buyer", "outcome": "lost", "messages": M}"#,
            None,
            "id: empty",
        ),
        (
            r#"{"id": "x", "outcome": "lost", "messages": M}"#,
            Some("x"),
            "lead_type: missing",
        ),
        (
            r#"{"id": "x", "lead_type": "buyer", "outcome": null, "messages": M}"#,
            Some("x"),
            "outcome: missing",
        ),
        (
            r#"{"id": "x", "lead_type": "buyer", "outcome": "lost", "messages": "hi"}"#,
            Some("x"),
            "messages: expected a list, found a string",
        ),
        (
            r#"{"id": "x", "lead_type": "buyer", "outcome": "lost", "messages": []}"#,
            Some("x"),
            "messages: empty list",
        ),
        (
            r#"{"id": "x", "lead_type": "buyer", "outcome": "lost"}"#,
            Some("x"),
            "messages: missing",
        ),
        (
            r#"{"id": "x", "lead_type": "buyer", "outcome": "lost", "messages": [7]}"#,
            Some("x"),
            "messages[0]: expected an object, found a number",
        ),
        (
            r#"{"id": "x", "lead_type": "buyer", "outcome": "lost", "messages": [{"timestamp": "yesterday", "speaker": "bot"}]}"#,
            Some("x"),
            "messages[0].timestamp: \"yesterday\" is not an ISO 8601 time",
        ),
        (
            r#"{"id": "x", "lead_type": "buyer", "outcome": "lost", "messages": [{"timestamp": 1704067200, "speaker": "bot"}]}"#,
            Some("x"),
            "messages[0].timestamp: expected a string, found a number",
        ),
        (
            r#"{"id": "x", "lead_type": "buyer", "outcome": "lost", "messages": [{"timestamp": "2024-01-01T00:00:00Z", "speaker": "robot"}]}"#,
            Some("x"),
            "messages[0].speaker: \"robot\" is not a speaker (user/lead or bot/agent)",
        ),
        (
            r#"{"id": "x", "lead_type": "buyer", "outcome": "lost", "messages": [{"timestamp": "2024-01-01T00:00:00Z", "speaker": "bot", "message": ["hi"]}]}"#,
            Some("x"),
            "messages[0].message: expected a string, found a list",
        ),
        (
            r#"{"id": "x", "lead_type": "buyer", "outcome": "lost", "messages": [{"timestamp": "2024-01-01T00:00:00Z", "speaker": "bot", "metadata": {"stage": 3}}]}"#,
            Some("x"),
            "messages[0].metadata.stage: expected a string, found a number",
        ),
        (
            r#"{"id": "x", "lead_type": "buyer", "outcome": "lost", "questions_answered": -1, "messages": M}"#,
            Some("x"),
            "questions_answered: -1 is not a count",
        ),
        (
            r#"{"id": "x", "lead_type": "buyer", "outcome": "lost", "questions_answered": "3", "messages": M}"#,
            Some("x"),
            "questions_answered: expected a number, found a string",
        ),
        (
            r#"{"id": "x", "lead_type": "buyer", "outcome": "lost", "close_reason": false, "messages": M}"#,
            Some("x"),
            "close_reason: expected a string, found a boolean",
        ),
        (
            r#"{"id": "x", "lead_type": "buyer", "outcome": "lost", "messages": M, "insights": []}"#,
            Some("x"),
            "insights: expected an object, found a list",
        ),
        (
            r#"{"id": "x", "lead_type": "buyer", "outcome": "lost", "messages": M, "insights": {"pathway_signals": {"wholesale": ["cash", 2]}}}"#,
            Some("x"),
            "insights.pathway_signals.wholesale[1]: expected a string, found a number",
        ),
        (
            r#"{"id": "x", "lead_type": "buyer", "outcome": "lost", "messages": M, "insights": {"pathway_signals": "cash"}}"#,
            Some("x"),
            "insights.pathway_signals: expected a list or an object of lists, found a string",
        ),
        (
            r#""just text""#,
            None,
            "expected a transcript object, found a string",
        ),
    ];
    for (record, id, reason) in cases {
        let record = record.replace('M', ok_messages);
        // In a list with a good transcript on each side: only the bad one goes.
        let good = |id: &str| {
            format!(
                r#"{{"id": "{id}", "lead_type": "seller", "outcome": "closed", "messages": {ok_messages}}}"#
            )
        };
        let text = format!("[{}, {record}, {}]", good("before"), good("after"));
        let parsed = parse_json(&text).unwrap();
        assert_eq!(
            parsed.skipped,
            [skip(Location::Index(1), id, reason)],
            "{record}"
        );
        let kept: Vec<&str> = parsed.transcripts.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(kept, ["before", "after"]);
    }
}

#[test]
fn bad_json_names_line_and_column_and_the_file() {
    let text = "[\n  {\"id\": \"a\",}\n]";
    let err = parse_json(text).unwrap_err();
    assert!(
        matches!(&err, Error::TranscriptInput { line: 2, column, message, .. } if *column > 0 && message.starts_with("invalid JSON")),
        "{err:?}"
    );
    assert!(err.to_string().starts_with("<input>:2:"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.json");
    std::fs::write(&path, text).unwrap();
    let err = read_file(&path).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("{}:2:", path.display())),
        "{err}"
    );
}

#[test]
fn a_top_level_value_of_the_wrong_kind_is_an_error() {
    for text in ["42", "\"a\"", "null", r#"{"transcripts": "none"}"#] {
        let err = parse_json(text).unwrap_err();
        assert!(
            matches!(err, Error::TranscriptInput { .. }),
            "{text}: {err:?}"
        );
    }
    assert_eq!(parse_json("[]").unwrap(), Parsed::default());
    assert_eq!(
        parse_json(r#"{"transcripts": []}"#).unwrap(),
        Parsed::default()
    );
}

#[test]
fn a_missing_file_is_an_io_error_with_its_path() {
    let path = fixture("no-such-file.json");
    match read_file(&path) {
        Err(Error::Io { path: p, source }) => {
            assert_eq!(p, path);
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        read_file(&fixture("no-such-file.csv")),
        Err(Error::Io { .. })
    ));
}

#[test]
fn timestamps_with_offsets_or_naive_utc_are_accepted() {
    let at = ts("2024-01-15T10:00:00Z");
    for text in [
        "2024-01-15T10:00:00Z",
        "2024-01-15T10:00:00z",
        "2024-01-15T10:00:00+00:00",
        "2024-01-15T05:00:00-05:00",
        "2024-01-15T10:00:00",
        "2024-01-15 10:00:00",
        "2024-01-15 10:00:00Z",
        " 2024-01-15T10:00 ",
        "2024-01-15T10:00:00.000",
    ] {
        assert_eq!(parse_timestamp(text), Some(at), "{text:?}");
    }
    assert_eq!(
        parse_timestamp("2024-01-15T10:00:00.250Z"),
        Some(ts("2024-01-15T10:00:00.25Z"))
    );
    for text in [
        "yesterday",
        "",
        "2024-01-15",
        "2024-01-15T25:00:00",
        "2024-13-01 10:00:00",
        "2024-01-15T10:00:00[America/Chicago]",
        "2024-01-15T10:00:00 PST",
        "15/01/2024 10:00",
        "1705312800",
    ] {
        assert_eq!(parse_timestamp(text), None, "{text:?}");
    }
}

#[test]
fn speakers_accept_the_prototype_labels_and_ours() {
    for (label, speaker) in [
        ("user", Some(Speaker::Lead)),
        ("Lead", Some(Speaker::Lead)),
        (" USER ", Some(Speaker::Lead)),
        ("bot", Some(Speaker::Agent)),
        ("AGENT", Some(Speaker::Agent)),
        ("robot", None),
        ("", None),
    ] {
        assert_eq!(Speaker::parse(label), speaker, "{label:?}");
    }
}

#[test]
fn locations_read_as_transcript_index_or_line() {
    assert_eq!(Location::Index(3).to_string(), "transcript #3");
    assert_eq!(Location::Line(17).to_string(), "line 17");
    let s = skip(Location::Line(17), Some("c1"), "id: missing");
    assert_eq!(s.to_string(), "line 17 (id \"c1\"): id: missing");
}

#[test]
fn csv_needs_its_columns_and_takes_optional_metadata() {
    let err = parse_csv("id,date,lead_type,outcome,timestamp,speaker\n".as_bytes()).unwrap_err();
    assert!(
        matches!(&err, Error::TranscriptInput { line: 1, message, .. } if message.contains("missing column \"message\"")),
        "{err}"
    );
    assert!(parse_csv("".as_bytes()).is_err(), "no header at all");

    // A byte-order mark, columns in another order and case, metadata columns, CRLF.
    let text = "\u{feff}Message,SPEAKER,timestamp,id,outcome,lead_type,stage,question_type,extra\r\n\
                What's your budget?,bot,2024-01-01T00:00:00Z,x,closed,buyer,qualification,budget,\r\n\
                Done!,bot,2024-01-01T00:02:00Z,x,lost,seller,closing,,ignored\r\n";
    let parsed = parse_csv(text.as_bytes()).unwrap();
    assert_eq!(parsed.skipped, []);
    let t = &parsed.transcripts[0];
    assert_eq!(
        (t.lead_type.as_str(), t.outcome.as_str()),
        ("buyer", "closed"),
        "first row wins"
    );
    assert_eq!((t.date.clone(), t.close_reason.clone()), (None, None));
    assert_eq!(t.messages[0].question_type.as_deref(), Some("budget"));
    assert_eq!(t.messages[1].stage.as_deref(), Some("closing"));
    assert_eq!(t.messages[1].question_type, None);
}

#[test]
fn csv_bytes_that_are_not_utf8_skip_only_their_row() {
    let mut text = b"id,lead_type,outcome,timestamp,speaker,message\n".to_vec();
    text.extend_from_slice(b"x,buyer,closed,2024-01-01T00:00:00Z,bot,caf\xe9?\n");
    text.extend_from_slice(b"x,buyer,closed,2024-01-01T00:01:00Z,user,fine\n");
    let parsed = parse_csv(text.as_slice()).unwrap();
    assert_eq!(
        parsed.skipped,
        [skip(
            Location::Line(2),
            Some("x"),
            "message: not valid UTF-8"
        )]
    );
    assert_eq!(parsed.transcripts[0].messages.len(), 1);
}

// ---------------------------------------------------------------- generated imports

/// One generated transcript as a JSON object with ten messages.
fn generated_json(i: usize, corrupt: &str) -> String {
    let mut messages = Vec::new();
    for j in 0..10 {
        let (speaker, text, meta) = if j % 2 == 0 {
            (
                "bot",
                format!("Question {j} of {i}?"),
                r#", "metadata": {"stage": "qualification", "question_type": "budget"}"#,
            )
        } else {
            ("user", format!("Answer {j}, \"quoted\" — ok"), "")
        };
        let speaker = if corrupt == "speaker" && j == 9 {
            "robot"
        } else {
            speaker
        };
        let time = if corrupt == "time" && j == 2 {
            "yesterday".to_string()
        } else {
            // Out of order in the file (the last in time first): sorting puts it back.
            let secs = i * 7 % 3000 + (j + 9) % 10 * 30;
            format!(
                "2024-02-01T{:02}:{:02}:{:02}Z",
                10 + i % 8,
                secs / 60,
                secs % 60
            )
        };
        messages.push(format!(
            r#"{{"timestamp": "{time}", "speaker": "{speaker}", "message": {text:?}{meta}}}"#
        ));
    }
    let messages = match corrupt {
        "messages" => "\"hi\"".to_string(),
        "empty" => "[]".to_string(),
        _ => format!("[{}]", messages.join(",")),
    };
    let id = match corrupt {
        "id-number" => format!("\"id\": {i}, "),
        "id-missing" => String::new(),
        "duplicate" => "\"id\": \"t00000\", ".to_string(),
        _ => format!("\"id\": \"t{i:05}\", "),
    };
    let lead_type = if corrupt == "lead_type" {
        ""
    } else {
        r#""lead_type": "buyer", "#
    };
    let answered = if corrupt == "answered" { r#""3""# } else { "4" };
    format!(
        r#"{{{id}"date": "2024-02-01", {lead_type}"outcome": "{}", "close_reason": null, "questions_answered": {answered}, "messages": {messages}}}"#,
        if i % 3 == 0 { "closed" } else { "lost" }
    )
}

#[test]
fn ten_thousand_json_transcripts_with_planted_bad_records() {
    let planted: [(usize, &str, Option<&str>, &str); 9] = [
        (
            17,
            "id-number",
            None,
            "id: expected a string, found a number",
        ),
        (
            256,
            "messages",
            Some("t00256"),
            "messages: expected a list, found a string",
        ),
        (
            1000,
            "time",
            Some("t01000"),
            "messages[2].timestamp: \"yesterday\" is not an ISO 8601 time",
        ),
        (4096, "id-missing", None, "id: missing"),
        (5000, "lead_type", Some("t05000"), "lead_type: missing"),
        (
            7000,
            "duplicate",
            Some("t00000"),
            "id: \"t00000\" repeats transcript #0",
        ),
        (
            8191,
            "speaker",
            Some("t08191"),
            "messages[9].speaker: \"robot\" is not a speaker (user/lead or bot/agent)",
        ),
        (
            9000,
            "answered",
            Some("t09000"),
            "questions_answered: expected a number, found a string",
        ),
        (9999, "empty", Some("t09999"), "messages: empty list"),
    ];
    let items: Vec<String> = (0..10_000)
        .map(|i| {
            let corrupt = planted.iter().find(|p| p.0 == i).map_or("", |p| p.1);
            generated_json(i, corrupt)
        })
        .collect();
    let text = format!(
        "{{\"schema_version\": \"1.0\", \"description\": \"generated\", \"transcripts\": [\n{}\n]}}",
        items.join(",\n")
    );

    let started = Instant::now();
    let parsed = parse_json(&text).unwrap();
    eprintln!("parsed {} bytes in {:?}", text.len(), started.elapsed());

    let expected: Vec<Skipped> = planted
        .iter()
        .map(|&(i, _, id, reason)| skip(Location::Index(i), id, reason))
        .collect();
    assert_eq!(parsed.skipped, expected);
    assert_eq!(parsed.transcripts.len(), 10_000 - planted.len());
    let ids: Vec<String> = (0..10_000)
        .filter(|i| !planted.iter().any(|p| p.0 == *i))
        .map(|i| format!("t{i:05}"))
        .collect();
    assert!(parsed.transcripts.iter().map(|t| &t.id).eq(ids.iter()));
    for t in &parsed.transcripts {
        assert_eq!(t.messages.len(), 10);
        assert!(t.messages.windows(2).all(|w| w[0].at <= w[1].at));
    }
    // t00001: message j at 11:00:07 + ((j + 9) % 10) * 30 s, so the first in the file
    // (a question) is the last in time, after the nine others alternating user/bot
    // every 30 s: 9 changes of speaker, 270 s, five questions.
    let t1 = &parsed.transcripts[1];
    assert_eq!(t1.messages[0].text, "Answer 1, \"quoted\" — ok");
    assert_eq!(t1.messages[9].text, "Question 0 of 1?");
    let m = metrics(t1);
    assert_eq!(
        (
            m.duration_minutes,
            m.avg_response_time_seconds,
            m.questions_asked
        ),
        (4.5, 30.0, 5)
    );
}

/// A CSV field, quoted when it must be.
fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

#[test]
fn generated_csv_reports_bad_rows_by_physical_line() {
    struct Row {
        text: String,
        // Some((id, reason)) for a row that must be skipped; id "" for none.
        bad: Option<(&'static str, &'static str)>,
    }
    let good = |k: usize, j: usize| {
        let id = format!("c{k:04}");
        let (lead_type, outcome) = if k % 2 == 0 {
            ("buyer", "closed")
        } else {
            ("seller", "lost")
        };
        let reason = if k % 5 == 0 {
            "Went with \"another\" agent, sadly"
        } else {
            ""
        };
        let secs = k * 60 + j * 15;
        let time = match j {
            // The same instant in three spellings.
            1 => format!(
                "2024-03-01 {:02}:{:02}:{:02}",
                9 + secs / 3600,
                secs / 60 % 60,
                secs % 60
            ),
            2 => format!(
                "2024-03-01T{:02}:{:02}:{:02}+01:00",
                10 + secs / 3600,
                secs / 60 % 60,
                secs % 60
            ),
            _ => format!(
                "2024-03-01T{:02}:{:02}:{:02}Z",
                9 + secs / 3600,
                secs / 60 % 60,
                secs % 60
            ),
        };
        let speaker = if j % 2 == 0 { "bot" } else { "user" };
        // Some messages span two physical lines.
        let message = if k % 7 == 0 && j == 1 {
            format!("msg {j}\nsecond line")
        } else {
            format!("msg {j}, ok")
        };
        [
            id.as_str(),
            "2024-03-01",
            lead_type,
            outcome,
            reason,
            &time,
            speaker,
            &message,
        ]
        .map(field)
        .join(",")
    };
    let mut rows: Vec<Row> = (0..500)
        .flat_map(|k| (0..4).map(move |j| (k, j)))
        .map(|(k, j)| Row {
            text: good(k, j),
            bad: None,
        })
        .collect();
    let mut rng = Rng(42);
    for i in (1..rows.len()).rev() {
        rows.swap(i, rng.below(i + 1));
    }
    let planted = [
        (
            "c0003,2024-03-01,buyer,closed,,2024-03-01T09:03:00Z,bot",
            "",
            "expected 8 fields (as the header), found 7",
        ),
        (
            "c0003,2024-03-01,buyer,closed,,2024-03-01T09:03:00Z,bot,hi,extra",
            "",
            "expected 8 fields (as the header), found 9",
        ),
        (
            ",2024-03-01,buyer,closed,,2024-03-01T09:00:00Z,bot,no id here",
            "",
            "id: missing",
        ),
        (
            "c0010,2024-03-01,buyer,closed,,yesterday,bot,hello",
            "c0010",
            "timestamp: \"yesterday\" is not an ISO 8601 time",
        ),
        (
            "c0011,2024-03-01,buyer,closed,,2024-03-01,bot,hello",
            "c0011",
            "timestamp: \"2024-03-01\" is not an ISO 8601 time",
        ),
        (
            "c0012,2024-03-01,buyer,closed,,2024-03-01T09:00:00Z,robot,hello",
            "c0012",
            "speaker: \"robot\" is not a speaker (user/lead or bot/agent)",
        ),
        (
            "c9999,2024-03-01,buyer,closed,,soon,bot,\"a bad row\nover two lines\"",
            "c9999",
            "timestamp: \"soon\" is not an ISO 8601 time",
        ),
    ];
    for (n, (text, id, reason)) in planted.iter().enumerate() {
        let at = 100 + n * 250;
        rows.insert(
            at,
            Row {
                text: text.to_string(),
                bad: Some((id, reason)),
            },
        );
    }
    // A transcript whose first row has no lead type: skipped as a whole, at that row.
    rows.insert(
        1500,
        Row {
            text: "c8888,2024-03-01,,closed,,2024-03-01T09:00:00Z,bot,first".into(),
            bad: Some(("c8888", "lead_type: empty on the transcript's first row")),
        },
    );
    rows.insert(
        1600,
        Row {
            text: "c8888,2024-03-01,buyer,closed,,2024-03-01T09:01:00Z,user,second".into(),
            bad: None,
        },
    );

    let mut text =
        String::from("id,date,lead_type,outcome,close_reason,timestamp,speaker,message\n");
    let mut line = 2u64;
    let mut expected = Vec::new();
    let mut first_seen: Vec<String> = Vec::new();
    for row in &rows {
        match row.bad {
            Some((id, reason)) => {
                let id = (!id.is_empty()).then_some(id);
                expected.push(skip(Location::Line(line), id, reason));
            }
            None => {
                let id = row.text.split(',').next().unwrap().to_string();
                if id != "c8888" && !first_seen.contains(&id) {
                    first_seen.push(id);
                }
            }
        }
        text.push_str(&row.text);
        text.push('\n');
        line += 1 + row.text.matches('\n').count() as u64;
    }

    let started = Instant::now();
    let parsed = parse_csv(text.as_bytes()).unwrap();
    eprintln!("parsed {} rows in {:?}", rows.len(), started.elapsed());

    assert_eq!(parsed.skipped, expected);
    assert_eq!(parsed.transcripts.len(), 500);
    let ids: Vec<&String> = parsed.transcripts.iter().map(|t| &t.id).collect();
    assert_eq!(ids, first_seen.iter().collect::<Vec<_>>());
    for t in &parsed.transcripts {
        let texts: Vec<&str> = t.messages.iter().map(|m| m.text.as_str()).collect();
        assert_eq!(texts.len(), 4, "{}", t.id);
        assert!(
            texts[0] == "msg 0, ok" && texts[2] == "msg 2, ok" && texts[3] == "msg 3, ok",
            "{texts:?}"
        );
        let k: usize = t.id[1..].parse().unwrap();
        let m = metrics(t);
        // 0, 15, 30, 45 s after the start, the speaker changing each time.
        assert_eq!(
            (m.duration_minutes, m.avg_response_time_seconds),
            (0.75, 15.0),
            "{}",
            t.id
        );
        assert_eq!(t.close_reason.is_some(), k % 5 == 0);
        assert_eq!(t.outcome, if k % 2 == 0 { "closed" } else { "lost" });
    }
    let c7 = parsed.transcripts.iter().find(|t| t.id == "c0007").unwrap();
    assert_eq!(c7.messages[1].text, "msg 1\nsecond line");
    let c5 = parsed.transcripts.iter().find(|t| t.id == "c0005").unwrap();
    assert_eq!(
        c5.close_reason.as_deref(),
        Some("Went with \"another\" agent, sadly")
    );
}
