//! Hybrid extraction (issue 15, item 6) against a fake OpenAI-compatible endpoint on
//! loopback: asked only about unsure messages, its answer merged where the extractors
//! left a point empty, a malformed, out-of-schema or slow answer ignored, the daily
//! budget respected, the message redacted before it is sent, answers cached.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod common;

use qualify_engine::conversation::DayRange;
use qualify_engine::{Engine, Inbound, SecretKey, Store};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the fake endpoint answers.
#[derive(Clone, Copy)]
enum Mode {
    /// A valid answer for every point asked.
    Good,
    /// A body that is not a chat completion.
    Malformed,
    /// A timeline outside the fixed set.
    OutsideSchema,
    /// A valid answer, a second late.
    Slow,
}

/// A fake chat-completions endpoint: records every request body it receives.
struct Fake {
    url: String,
    bodies: Arc<Mutex<Vec<String>>>,
    /// The `authorization` header of each request, when it had one.
    auth: Arc<Mutex<Vec<String>>>,
    mode: Arc<Mutex<Mode>>,
}

impl Fake {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let auth = Arc::new(Mutex::new(Vec::new()));
        let mode = Arc::new(Mutex::new(Mode::Good));
        let (b, a, m) = (bodies.clone(), auth.clone(), mode.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let (b, a, m) = (b.clone(), a.clone(), m.clone());
                std::thread::spawn(move || serve(stream, &b, &a, &m));
            }
        });
        Self {
            url,
            bodies,
            auth,
            mode,
        }
    }

    fn calls(&self) -> usize {
        self.bodies.lock().unwrap().len()
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }
}

/// Answers one request (one per connection).
fn serve(
    stream: std::net::TcpStream,
    bodies: &Mutex<Vec<String>>,
    auth: &Mutex<Vec<String>>,
    mode: &Mutex<Mode>,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap();
        }
        if lower.starts_with("authorization:") {
            auth.lock().unwrap().push(line[14..].trim().to_string());
        }
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    let body = String::from_utf8(body).unwrap();
    bodies.lock().unwrap().push(body.clone());
    let request: Value = serde_json::from_str(&body).unwrap();
    let mode = *mode.lock().unwrap();
    let schema = &request["response_format"]["json_schema"]["schema"];
    let mut answer = serde_json::Map::new();
    for point in schema["properties"].as_object().unwrap().keys() {
        let v = match point.as_str() {
            "budget" => json!(425000),
            "financing" => json!("pre-approved"),
            "timeline" if matches!(mode, Mode::OutsideSchema) => json!("whenever"),
            "timeline" => json!("next month"),
            "motivation" => json!("relocation"),
            "home_condition" => json!("needs work"),
            "bedrooms" => json!(3),
            _ => Value::Null,
        };
        answer.insert(point.clone(), v);
    }
    let completion = json!({
        "choices": [{"message": {"role": "assistant",
            "content": Value::Object(answer).to_string()}}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 10},
    });
    let text = match mode {
        Mode::Malformed => {
            "{\"choices\": [{\"message\": {\"content\": \"sure! budget 425k\"}}]}".to_string()
        }
        _ => completion.to_string(),
    };
    if matches!(mode, Mode::Slow) {
        std::thread::sleep(Duration::from_millis(1000));
    }
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
        text.len()
    );
}

/// An engine over the shipped rules with the default tenant's `llm:` settings set.
fn engine(llm: &str) -> (Engine, tempfile::TempDir) {
    let dir = common::rules_copy();
    let path = dir.path().join("default/tenant.yaml");
    let yaml = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{yaml}\nllm:\n{llm}")).unwrap();
    let store = Store::in_memory(SecretKey::generate()).unwrap();
    let engine = Engine::builder()
        .rules_dir(dir.path())
        .store(store)
        .build()
        .unwrap();
    (engine, dir)
}

fn settings(url: &str, extra: &str) -> String {
    format!("  enabled: true\n  base_url: {url}\n  model: test-model\n  timeout_ms: 200\n{extra}")
}

const UNSURE: [&str; 3] = [
    "our budget really depends on what we get for the current place",
    "still sorting out the mortgage side of things",
    "timing depends on the school year",
];
const SURE: [&str; 3] = [
    "budget is 450k",
    "we are pre-approved",
    "looking for 3 bedrooms",
];
const NO_CUE: [&str; 3] = ["hello!", "thanks!", "who is this?"];

/// Ingests `text` as a new contact's first message; the facts after it.
fn ingest(engine: &Engine, contact: &str, text: &str) -> qualify_engine::model::Facts {
    let ingested = common::say(engine, "default", contact, &Inbound::text(text));
    ingested.decision.facts
}

#[test]
fn asked_only_about_unsure_messages_and_its_answer_merged() {
    let fake = Fake::start();
    let (e, _dir) = engine(&settings(&fake.url, ""));
    for (i, text) in SURE.iter().chain(&NO_CUE).enumerate() {
        ingest(&e, &format!("s{i}"), text);
    }
    assert_eq!(fake.calls(), 0, "sure and cue-less messages are not sent");
    let budget = ingest(&e, "u0", UNSURE[0]);
    assert_eq!(budget["budget"], json!(425000), "{budget:?}");
    let financing = ingest(&e, "u1", UNSURE[1]);
    assert_eq!(
        financing["financing"],
        json!("pre-approved"),
        "{financing:?}"
    );
    let timeline = ingest(&e, "u2", UNSURE[2]);
    assert_eq!(timeline["timeline"], json!("next month"), "{timeline:?}");
    assert_eq!(fake.calls(), 3, "one call per unsure message");
    // Only the unsure points are asked about, with a strict schema.
    let first: Value = serde_json::from_str(&fake.bodies.lock().unwrap()[0]).unwrap();
    let format = &first["response_format"];
    assert_eq!(format["type"], "json_schema");
    assert_eq!(format["json_schema"]["strict"], true);
    assert_eq!(
        format["json_schema"]["schema"]["required"],
        json!(["budget"])
    );
    let usage = e.llm_usage(&common::tid("default"));
    assert_eq!((usage.calls, usage.answered), (3, 3));
    assert_eq!((usage.prompt_tokens, usage.completion_tokens), (300, 30));
    // The same counts in the tenant's analytics, with the messages they were for.
    assert_eq!(analytics_llm(&e), usage);
}

/// Hybrid extraction's counts in the tenant's analytics for today.
fn analytics_llm(e: &Engine) -> qualify_engine::conversation::LlmUsage {
    let today = e.today();
    let range = DayRange::new(Some(today), Some(today), today).unwrap();
    e.analytics(&common::tid("default"), range).unwrap().llm
}

#[test]
fn the_deterministic_result_stands_over_the_answer() {
    let fake = Fake::start();
    let (e, _dir) = engine(&settings(&fake.url, ""));
    // A budget is known from the first message; the second names the budget again
    // without a value: nothing to ask, and the known budget is kept.
    ingest(&e, "c", "budget is 450k");
    let facts = ingest(&e, "c", "the budget might change though");
    assert_eq!(facts["budget"], json!(450000));
    assert_eq!(fake.calls(), 0);
}

#[test]
fn a_malformed_out_of_schema_or_slow_answer_is_ignored() {
    let fake = Fake::start();
    let (e, _dir) = engine(&settings(&fake.url, ""));
    let cases = [
        (Mode::Malformed, UNSURE[0], "budget"),
        (
            Mode::OutsideSchema,
            "no idea on timing, maybe a few months or a year",
            "timeline",
        ),
        (Mode::Slow, UNSURE[1], "financing"),
    ];
    for (i, (mode, text, point)) in cases.into_iter().enumerate() {
        fake.set(mode);
        let deterministic = {
            let plain = Engine::builder()
                .rules_dir(common::shipped_rules())
                .build()
                .unwrap();
            plain.extract(&common::tid("default"), text).unwrap()
        };
        let facts = ingest(&e, &format!("m{i}"), text);
        assert_eq!(
            facts.get(point),
            deterministic.get(point),
            "{point}: {facts:?}"
        );
    }
    let usage = e.llm_usage(&common::tid("default"));
    assert_eq!((usage.answered, usage.failed), (0, usage.calls));
}

#[test]
fn the_daily_budget_is_respected() {
    let fake = Fake::start();
    let (e, _dir) = engine(&settings(&fake.url, "  daily_calls: 2\n"));
    for (i, text) in UNSURE.iter().enumerate() {
        ingest(&e, &format!("b{i}"), text);
    }
    assert_eq!(fake.calls(), 2, "the third unsure message is not sent");
    let usage = e.llm_usage(&common::tid("default"));
    assert_eq!((usage.calls, usage.over_budget), (2, 1));
    assert_eq!(
        analytics_llm(&e),
        usage,
        "over-budget messages are counted too"
    );
}

#[test]
fn the_message_is_redacted_before_it_is_sent() {
    let fake = Fake::start();
    let (e, _dir) = engine(&settings(&fake.url, ""));
    let text = "call me at 214-555-0123 or jo.smith@example.com, our budget depends on the sale";
    let facts = ingest(&e, "r", text);
    assert_eq!(facts["budget"], json!(425000));
    let bodies = fake.bodies.lock().unwrap();
    assert_eq!(bodies.len(), 1);
    assert!(!bodies[0].contains("214-555-0123") && !bodies[0].contains("555-0123"));
    assert!(!bodies[0].contains("jo.smith@example.com") && !bodies[0].contains("jo.smith"));
    assert!(bodies[0].contains("budget depends on the sale"));
}

#[test]
fn the_same_message_twice_is_one_call() {
    let fake = Fake::start();
    let (e, _dir) = engine(&settings(&fake.url, ""));
    let first = ingest(&e, "x", UNSURE[0]);
    let second = ingest(&e, "y", UNSURE[0]);
    assert_eq!(fake.calls(), 1);
    assert_eq!(first["budget"], second["budget"]);
    assert_eq!(e.llm_usage(&common::tid("default")).cached, 1);
}

#[test]
fn off_unless_enabled() {
    let fake = Fake::start();
    let llm = format!(
        "  enabled: false\n  base_url: {}\n  model: test-model\n",
        fake.url
    );
    let (e, _dir) = engine(&llm);
    for (i, text) in UNSURE.iter().enumerate() {
        ingest(&e, &format!("o{i}"), text);
    }
    assert_eq!(fake.calls(), 0);
}

#[test]
fn an_unreadable_key_file_keeps_the_deterministic_result() {
    let fake = Fake::start();
    let (e, _dir) = engine(&settings(
        &fake.url,
        "  key_file: /nonexistent/qualify-llm.key\n",
    ));
    let facts = ingest(&e, "k", UNSURE[0]);
    assert!(facts.get("budget").is_none());
    assert_eq!(fake.calls(), 0);
    assert_eq!(e.llm_usage(&common::tid("default")).failed, 1);
}

#[test]
fn the_key_is_sent_as_a_bearer_token() {
    let fake = Fake::start();
    let key = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(key.path(), "sk-test-123\n").unwrap();
    let extra = format!("  key_file: {}\n", key.path().display());
    let (e, _dir) = engine(&settings(&fake.url, &extra));
    ingest(&e, "k", UNSURE[0]);
    assert_eq!(fake.calls(), 1);
    assert_eq!(*fake.auth.lock().unwrap(), ["Bearer sk-test-123"]);
}

#[test]
fn check_reports_an_unreadable_key_file_and_a_bad_url() {
    let llm = "  enabled: true\n  base_url: api.example.com/v1\n  model: m\n  key_file: /nonexistent/qualify-llm.key\n";
    let (e, _dir) = engine(llm);
    let errors: Vec<String> = e.rules().check().iter().map(|e| e.to_string()).collect();
    assert!(
        errors.iter().any(|e| e.contains("llm.key_file")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("llm.base_url")),
        "{errors:?}"
    );
}
