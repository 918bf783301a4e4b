//! The bad-input catalogue: every HTTP route fed what a careless or hostile client sends
//! (malformed JSON, oversized bodies, wrong types, wrong content types, invalid UTF-8,
//! hostile ids and query strings, missing or bad keys and signatures), and the CLI fed
//! malformed files and arguments. Each HTTP case must get its 4xx with the JSON error
//! shape, never a 5xx or an empty body, and the store must be as it was; each CLI case
//! must exit non-zero with one clear line, never a panic.
//!
//! Table-driven: adding a case is one line in [`cases`] or [`cli_cases`]; a case found
//! failing is fixed with its line kept here (the comment above it says what it was).

#![allow(clippy::unwrap_used)]

mod support;

use assert_cmd::Command;
use base64::Engine as _;
use ed25519_dalek::{Signer, SigningKey};
use host::Config;
use serde_json::{json, Value};
use std::time::Duration;
use support::common::{cid, tid};
use support::*;

/// The tenant every case uses, and its contact that must stay as it is.
const TENANT: &str = "bad-a";
const KNOWN: &str = "known-1";
/// A contact id every refused message names: it must never come to exist.
const VICTIM: &str = "victim";

/// Who a request claims to be.
#[derive(Clone, Copy, Debug)]
enum Key {
    /// The tenant's API key.
    Tenant,
    /// The admin key.
    Admin,
    /// No `Authorization` header.
    Missing,
    /// `Bearer nope`.
    Garbage,
    /// A well-formed key of this tenant with the wrong secret.
    WrongSecret,
    /// `Basic` credentials.
    Basic,
    /// `Bearer ` and nothing.
    Empty,
    /// A 16 KiB bearer value.
    Huge,
}

/// How a webhook body is signed.
#[derive(Clone, Copy, Debug)]
enum Sig {
    /// No `X-GHL-Signature`.
    Unsigned,
    /// Signed with the configured key.
    Valid,
    /// Not base64.
    Garbage,
    /// A valid signature of another body.
    OtherBody,
}

/// What the answer's body must be.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Shape {
    /// `{"error": {"type", "message"}}`.
    Json,
    /// Not checked: hyper refuses the request line before the app sees it (and answers
    /// without a body); nothing of ours runs.
    Transport,
}

/// One bad request and the status it must get.
struct Case {
    name: &'static str,
    method: String,
    /// The request target exactly as sent (not normalised by a client library).
    target: Vec<u8>,
    key: Key,
    content_type: Option<&'static str>,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    sig: Sig,
    want: u16,
    /// Another status that is as right (a body both malformed and of the wrong type).
    or: Option<u16>,
    shape: Shape,
}

/// A case: `"POST /v1/score"`, who it claims to be, the body, the status it must get.
fn case(name: &'static str, req: &str, key: Key, body: impl Into<Vec<u8>>, want: u16) -> Case {
    let (method, target) = req.split_once(' ').unwrap();
    Case {
        name,
        method: method.to_string(),
        target: target.as_bytes().to_vec(),
        key,
        content_type: Some("application/json"),
        headers: Vec::new(),
        body: body.into(),
        sig: Sig::Unsigned,
        want,
        or: None,
        shape: Shape::Json,
    }
}

impl Case {
    fn content_type(mut self, ct: Option<&'static str>) -> Self {
        self.content_type = ct;
        self
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    fn sig(mut self, sig: Sig) -> Self {
        self.sig = sig;
        self
    }

    fn target(mut self, raw: &[u8]) -> Self {
        self.target = raw.to_vec();
        self
    }

    fn or(mut self, status: u16) -> Self {
        self.or = Some(status);
        self
    }

    fn transport(mut self) -> Self {
        self.shape = Shape::Transport;
        self
    }
}

fn j(v: Value) -> Vec<u8> {
    v.to_string().into_bytes()
}

/// A JSON message body padded to `bytes` with a long text.
fn body_of(bytes: usize) -> Vec<u8> {
    let mut b = br#"{"text": ""#.to_vec();
    b.resize(bytes, b'a');
    b.extend_from_slice(br#""}"#);
    b
}

fn long(n: usize) -> String {
    "a".repeat(n)
}

fn now() -> String {
    jiff::Timestamp::now().to_string()
}

/// A GHL message webhook from `location`/`contact`, sent now unless `ts` is given.
fn hook(location: &str, contact: &str, text: &str, ts: Option<Value>) -> Vec<u8> {
    j(json!({
        "type": "InboundMessage", "locationId": location, "contactId": contact,
        "body": text, "direction": "inbound", "webhookId": format!("wh-{}", text.len()),
        "timestamp": ts.unwrap_or_else(|| json!(now())),
    }))
}

/// Every bad request the server answers correctly today.
#[rustfmt::skip]
fn cases() -> Vec<Case> {
    use Key::*;
    let msgs = format!("POST /v1/contacts/{VICTIM}/messages");
    let m = msgs.as_str();
    let fifty_facts: serde_json::Map<String, Value> = (0..50).map(|i| (format!("f{i}"), json!(i))).collect();
    let batch_1001: Vec<Value> = (0..1001).map(|_| json!({})).collect();
    let deep = format!(r#"{{"facts": {}1{}}}"#, r#"{"a":"#.repeat(300), "}".repeat(300));
    let id65 = long(65);
    let facts_1001: serde_json::Map<String, Value> = (0..1001).map(|i| (format!("f{i}"), json!(i))).collect();
    vec![
        // POST /v1/score: the body.
        case("score: malformed JSON", "POST /v1/score", Tenant, r#"{"tags":"#, 400),
        case("score: empty body", "POST /v1/score", Tenant, "", 400),
        case("score: not JSON at all", "POST /v1/score", Tenant, "tags=x", 400),
        case("score: facts nested past the parser's limit", "POST /v1/score", Tenant, deep, 400),
        case("score: invalid UTF-8", "POST /v1/score", Tenant, b"{\"name\": \"\xff\xfe\"}".to_vec(), 400),
        case("score: tags a string", "POST /v1/score", Tenant, j(json!({"tags": "x"})), 422),
        case("score: text a number", "POST /v1/score", Tenant, j(json!({"messages": [{"text": 5}]})), 422),
        case("score: messages an object", "POST /v1/score", Tenant, j(json!({"messages": {"text": "hi"}})), 422),
        case("score: facts a string", "POST /v1/score", Tenant, j(json!({"facts": "budget"})), 422),
        case("score: from unknown", "POST /v1/score", Tenant, j(json!({"messages": [{"from": "robot", "text": "x"}]})), 422),
        case("score: null", "POST /v1/score", Tenant, "null", 422),
        case("score: a message over 10 KB", "POST /v1/score", Tenant, j(json!({"messages": [{"text": long(10_241)}]})), 413),
        case("score: body over 64 KiB", "POST /v1/score", Tenant, body_of(70 * 1024), 413),
        case("score: text/plain, malformed", "POST /v1/score", Tenant, "{", 400).or(415).content_type(Some("text/plain")),
        case("score: no content type, malformed", "POST /v1/score", Tenant, "{", 400).content_type(None),
        // POST /v1/score: who is asking.
        case("score: no key", "POST /v1/score", Missing, "{}", 401),
        case("score: garbage key", "POST /v1/score", Garbage, "{}", 401),
        case("score: right tenant, wrong secret", "POST /v1/score", WrongSecret, "{}", 401),
        case("score: basic auth", "POST /v1/score", Basic, "{}", 401),
        case("score: empty bearer", "POST /v1/score", Empty, "{}", 401),
        case("score: 16 KiB bearer", "POST /v1/score", Huge, "{}", 401),
        case("score: the admin key", "POST /v1/score", Admin, "{}", 401),
        // POST /v1/score/batch.
        case("batch: malformed", "POST /v1/score/batch", Tenant, "{\"leads\": [", 400),
        case("batch: leads missing", "POST /v1/score/batch", Tenant, "{}", 422),
        case("batch: leads a string", "POST /v1/score/batch", Tenant, j(json!({"leads": "x"})), 422),
        case("batch: a lead a number", "POST /v1/score/batch", Tenant, j(json!({"leads": [5]})), 422),
        case("batch: 1,001 leads", "POST /v1/score/batch", Tenant, j(json!({"leads": batch_1001})), 413),
        case("batch: a message over 10 KB", "POST /v1/score/batch", Tenant, j(json!({"leads": [{"messages": [{"text": long(10_241)}]}]})), 413),
        case("batch: body over 1 MiB", "POST /v1/score/batch", Tenant, body_of(1100 * 1024), 413),
        case("batch: no key", "POST /v1/score/batch", Missing, "{\"leads\": []}", 401),
        // POST /v1/contacts/{id}/messages: the body.
        case("message: malformed JSON", m, Tenant, r#"{"text": "hi""#, 400),
        case("message: empty body", m, Tenant, "", 400),
        case("message: invalid UTF-8", m, Tenant, b"{\"text\": \"\xff\xfe\"}".to_vec(), 400),
        case("message: no text", m, Tenant, "{}", 422),
        case("message: text a number", m, Tenant, j(json!({"text": 5})), 422),
        case("message: text empty", m, Tenant, j(json!({"text": ""})), 422),
        case("message: text blank", m, Tenant, j(json!({"text": " \n\t "})), 422),
        case("message: tags a string", m, Tenant, j(json!({"text": "hi", "tags": "x"})), 422),
        case("message: facts a list", m, Tenant, j(json!({"text": "hi", "facts": []})), 422),
        case("message: at not a time", m, Tenant, j(json!({"text": "hi", "at": "yesterday"})), 422),
        case("message: at in the future", m, Tenant, j(json!({"text": "hi", "at": "2999-01-01T00:00:00Z"})), 422),
        case("message: at in 1970", m, Tenant, j(json!({"text": "hi", "at": "1970-01-01T00:00:00Z"})), 422),
        case("message: unknown time zone", m, Tenant, j(json!({"text": "hi", "timezone": "Mars/Olympus"})), 422),
        case("message: a fact name over 64 bytes", m, Tenant, j(json!({"text": "hi", "facts": {long(65): 1}})), 422),
        case("message: a fact value over 1 KB", m, Tenant, j(json!({"text": "hi", "facts": {"budget": long(2000)}})), 422),
        case("message: 50 facts", m, Tenant, j(json!({"text": "hi", "facts": fifty_facts})), 422),
        case("message: text over 10 KB", m, Tenant, j(json!({"text": long(10_241)})), 413),
        case("message: body over 64 KiB", m, Tenant, body_of(70 * 1024), 413),
        case("message: null", m, Tenant, "null", 422),
        case("message: empty Idempotency-Key", m, Tenant, j(json!({"text": "hi"})), 422).header("idempotency-key", ""),
        case("message: 201-char Idempotency-Key", m, Tenant, j(json!({"text": "hi"})), 422).header("idempotency-key", long(201)),
        case("message: no key", m, Missing, j(json!({"text": "hi"})), 401),
        case("message: wrong secret", m, WrongSecret, j(json!({"text": "hi"})), 401),
        // POST /v1/contacts/{id}/messages: hostile ids.
        case("message: id ../etc (encoded)", "POST /v1/contacts/..%2Fetc/messages", Tenant, j(json!({"text": "hi"})), 422),
        case("message: id ../etc (raw)", "POST /v1/contacts/../etc/messages", Tenant, j(json!({"text": "hi"})), 404),
        case("message: id of 65 chars", &format!("POST /v1/contacts/{id65}/messages"), Tenant, j(json!({"text": "hi"})), 422),
        case("message: id é", "POST /v1/contacts/%C3%A9/messages", Tenant, j(json!({"text": "hi"})), 422),
        case("message: id not UTF-8", "POST /v1/contacts/%FF/messages", Tenant, j(json!({"text": "hi"})), 404),
        case("message: id empty", "POST /v1/contacts//messages", Tenant, j(json!({"text": "hi"})), 422),
        case("message: id a space", "POST /v1/contacts/%20/messages", Tenant, j(json!({"text": "hi"})), 422),
        case("message: id with NUL", "POST /v1/contacts/a%00b/messages", Tenant, j(json!({"text": "hi"})), 422),
        case("message: id with a dot", "POST /v1/contacts/a.b/messages", Tenant, j(json!({"text": "hi"})), 422),
        case("message: raw non-ASCII byte in the path", "POST /", Tenant, j(json!({"text": "hi"})), 400).target(b"/v1/contacts/\xff/messages").transport(),
        // GET / DELETE /v1/contacts/{id}, export.
        case("contact: unknown id", "GET /v1/contacts/nobody", Tenant, "", 404),
        case("contact: id ../etc", "GET /v1/contacts/..%2Fetc", Tenant, "", 422),
        case("contact: id of 65 chars", &format!("GET /v1/contacts/{id65}"), Tenant, "", 422),
        case("contact: id not UTF-8", "GET /v1/contacts/%FF", Tenant, "", 404),
        case("contact: no key", &format!("GET /v1/contacts/{KNOWN}"), Missing, "", 401),
        case("contact: garbage key", &format!("GET /v1/contacts/{KNOWN}"), Garbage, "", 401),
        case("export: unknown id", "GET /v1/contacts/nobody/export", Tenant, "", 404),
        case("export: id ../etc", "GET /v1/contacts/..%2Fetc/export", Tenant, "", 422),
        case("export: no key", &format!("GET /v1/contacts/{KNOWN}/export"), Missing, "", 401),
        case("erase: unknown id", "DELETE /v1/contacts/nobody", Tenant, "", 404),
        case("erase: id ../etc", "DELETE /v1/contacts/..%2Fetc", Tenant, "", 422),
        case("erase: no key", &format!("DELETE /v1/contacts/{KNOWN}"), Missing, "", 401),
        case("erase: the admin key", &format!("DELETE /v1/contacts/{KNOWN}"), Admin, "", 401),
        // Experiments (the shipped rules define none).
        case("experiments: no key", "GET /v1/experiments", Missing, "", 401),
        case("experiment: unknown key", "GET /v1/experiments/nope", Tenant, "", 404),
        case("experiment: key ../x", "GET /v1/experiments/..%2Fx", Tenant, "", 404),
        case("outcome: malformed", "POST /v1/experiments/nope/outcomes", Tenant, "{", 400),
        case("outcome: contact_id a number", "POST /v1/experiments/nope/outcomes", Tenant, j(json!({"contact_id": 5})), 422),
        case("outcome: no contact_id", "POST /v1/experiments/nope/outcomes", Tenant, "{}", 422),
        case("outcome: unknown experiment", "POST /v1/experiments/nope/outcomes", Tenant, j(json!({"contact_id": KNOWN})), 404),
        case("stop: unknown experiment", "POST /v1/experiments/nope/stop", Tenant, "", 404),
        case("stop: no key", "POST /v1/experiments/nope/stop", Missing, "", 401),
        // Analytics: hostile query strings.
        case("analytics: month 13", "GET /v1/analytics?from=2026-13-45", Tenant, "", 422),
        case("analytics: from after to", "GET /v1/analytics?from=2027-01-01&to=2026-01-01", Tenant, "", 422),
        case("analytics: from not UTF-8", "GET /v1/analytics?from=%FF", Tenant, "", 422),
        case("analytics: a century", "GET /v1/analytics?from=1900-01-01&to=2026-01-01", Tenant, "", 422),
        case("analytics: year 99999", "GET /v1/analytics?to=99999-01-01", Tenant, "", 422),
        case("analytics: no key", "GET /v1/analytics", Missing, "", 401),
        // Webhooks (verification on).
        case("webhook: unsigned", "POST /webhooks/ghl", Missing, hook(TENANT, VICTIM, "hi", None), 401),
        case("webhook: signature not base64", "POST /webhooks/ghl", Missing, hook(TENANT, VICTIM, "hi", None), 401).sig(Sig::Garbage),
        case("webhook: signature of another body", "POST /webhooks/ghl", Missing, hook(TENANT, VICTIM, "hi", None), 401).sig(Sig::OtherBody),
        case("webhook: signed, malformed", "POST /webhooks/ghl", Missing, "{\"type\":", 400).sig(Sig::Valid),
        case("webhook: signed, invalid UTF-8", "POST /webhooks/ghl", Missing, b"{\"body\": \"\xff\"}".to_vec(), 400).sig(Sig::Valid),
        case("webhook: signed, no timestamp", "POST /webhooks/ghl", Missing, j(json!({"locationId": TENANT, "contactId": VICTIM, "body": "hi"})), 422).sig(Sig::Valid),
        case("webhook: signed, stale", "POST /webhooks/ghl", Missing, hook(TENANT, VICTIM, "hi", Some(json!("2020-01-01T00:00:00Z"))), 401).sig(Sig::Valid),
        case("webhook: signed, timestamp garbage", "POST /webhooks/ghl", Missing, hook(TENANT, VICTIM, "hi", Some(json!("soon"))), 422).sig(Sig::Valid),
        case("webhook: signed, timestamp huge", "POST /webhooks/ghl", Missing, hook(TENANT, VICTIM, "hi", Some(json!(i64::MAX))), 422).sig(Sig::Valid),
        case("webhook: signed, no locationId", "POST /webhooks/ghl", Missing, j(json!({"contactId": VICTIM, "body": "hi", "timestamp": now()})), 422).sig(Sig::Valid),
        case("webhook: signed, no body", "POST /webhooks/ghl", Missing, j(json!({"locationId": TENANT, "contactId": VICTIM, "timestamp": now()})), 422).sig(Sig::Valid),
        case("webhook: signed, location ../etc", "POST /webhooks/ghl", Missing, hook("../etc", VICTIM, "hi", None), 422).sig(Sig::Valid),
        case("webhook: signed, contact of 65 chars", "POST /webhooks/ghl", Missing, hook(TENANT, &id65, "hi", None), 422).sig(Sig::Valid),
        case("webhook: signed, unknown location", "POST /webhooks/ghl", Missing, hook("nobody", VICTIM, "hi", None), 404).sig(Sig::Valid),
        case("webhook: signed, text over 10 KB", "POST /webhooks/ghl", Missing, hook(TENANT, VICTIM, &long(10_241), None), 413).sig(Sig::Valid),
        case("webhook: signed, empty text", "POST /webhooks/ghl", Missing, hook(TENANT, VICTIM, "", None), 422).sig(Sig::Valid),
        case("webhook: body over 64 KiB", "POST /webhooks/ghl", Missing, body_of(70 * 1024), 413).sig(Sig::Valid),
        case("webhook: signed tag update, location ../x", "POST /webhooks/ghl", Missing, j(json!({"type": "ContactTagUpdate", "locationId": "../x", "id": VICTIM, "tags": []})), 422).sig(Sig::Valid),
        case("webhook: signed tag update, id é", "POST /webhooks/ghl", Missing, j(json!({"type": "ContactTagUpdate", "locationId": TENANT, "id": "é", "tags": []})), 422).sig(Sig::Valid),
        case("webhook: signed tag update, tags a string", "POST /webhooks/ghl", Missing, j(json!({"type": "ContactTagUpdate", "locationId": TENANT, "id": VICTIM, "tags": "x"})), 422).sig(Sig::Valid),
        // Admin API.
        case("admin add: no key", "POST /admin/tenants", Missing, j(json!({"tenant": "t-new"})), 401),
        case("admin add: garbage key", "POST /admin/tenants", Garbage, j(json!({"tenant": "t-new"})), 401),
        case("admin add: a tenant's key", "POST /admin/tenants", Tenant, j(json!({"tenant": "t-new"})), 403),
        case("admin add: malformed", "POST /admin/tenants", Admin, "{\"tenant\"", 400),
        case("admin add: no tenant", "POST /admin/tenants", Admin, "{}", 422),
        case("admin add: tenant a number", "POST /admin/tenants", Admin, j(json!({"tenant": 5})), 422),
        case("admin add: tenant ../x", "POST /admin/tenants", Admin, j(json!({"tenant": "../x"})), 422),
        case("admin add: tenant of 65 chars", "POST /admin/tenants", Admin, j(json!({"tenant": id65})), 422),
        case("admin add: tier platinum", "POST /admin/tenants", Admin, j(json!({"tenant": "t-new", "tier": "platinum"})), 422),
        case("admin add: existing tenant", "POST /admin/tenants", Admin, j(json!({"tenant": TENANT})), 409),
        case("admin add: body over 64 KiB", "POST /admin/tenants", Admin, body_of(70 * 1024), 413),
        case("admin list: a tenant's key", "GET /admin/tenants", Tenant, "", 403),
        case("admin list: no key", "GET /admin/tenants", Missing, "", 401),
        case("admin remove: ../x", "DELETE /admin/tenants/..%2Fx", Admin, "", 422),
        case("admin remove: a tenant's key", &format!("DELETE /admin/tenants/{TENANT}"), Tenant, "", 403),
        case("admin rotate: ../x", "POST /admin/tenants/..%2Fx/rotate-key", Admin, "", 422),
        case("admin rotate: unknown tenant", "POST /admin/tenants/nobody/rotate-key", Admin, "", 404),
        case("admin rotate: no key", &format!("POST /admin/tenants/{TENANT}/rotate-key"), Missing, "", 401),
        case("admin failed: tenant ../x", "GET /admin/outbox/failed?tenant=..%2Fx", Admin, "", 422),
        case("admin failed: tenant not UTF-8", "GET /admin/outbox/failed?tenant=%FF", Admin, "", 422),
        case("admin failed: no key", "GET /admin/outbox/failed", Missing, "", 401),
        // axum's own rejections, in our shape (before 334c862 they came in plain text or
        // with no body).
        case("score: explain=maybe", "POST /v1/score?explain=maybe", Tenant, "{}", 400),
        case("score: explain not UTF-8", "POST /v1/score?explain=%FF", Tenant, "{}", 400),
        case("score: explain twice", "POST /v1/score?explain=false&explain=true", Tenant, "{}", 400),
        case("batch: explain=1", "POST /v1/score/batch?explain=1", Tenant, "{\"leads\": []}", 400),
        case("analytics: from twice", "GET /v1/analytics?from=2026-01-01&from=2026-02-01", Tenant, "", 400),
        case("experiment: key not UTF-8", "GET /v1/experiments/%FF", Tenant, "", 400),
        case("outcome: key not UTF-8", "POST /v1/experiments/%FF/outcomes", Tenant, "{}", 400),
        case("admin rotate: tenant not UTF-8", "POST /admin/tenants/%FF/rotate-key", Admin, "", 400),
        case("admin remove: tenant not UTF-8", "DELETE /admin/tenants/%FF", Admin, "", 400),
        case("dashboard: asset not UTF-8", "GET /dashboard/%FF", Missing, "", 400),
        case("score: GET", "GET /v1/score", Tenant, "", 405),
        case("message: GET", &format!("GET /v1/contacts/{VICTIM}/messages"), Tenant, "", 405),
        case("contact: PUT", &format!("PUT /v1/contacts/{KNOWN}"), Tenant, "{}", 405),
        case("admin tenants: PATCH", "PATCH /admin/tenants", Admin, "{}", 405),
        // The content type (before 334c862 it was never checked: JSON sent as text/plain
        // was scored and ingested), and a JSON array read as a lead by position (`[]` was
        // scored).
        case("score: valid JSON as text/plain", "POST /v1/score", Tenant, "{}", 415).content_type(Some("text/plain")),
        case("message: valid JSON as form data", &format!("POST /v1/contacts/{VICTIM}-form/messages"), Tenant, j(json!({"text": "hi"})), 415).content_type(Some("application/x-www-form-urlencoded")),
        case("score: a JSON array as the lead", "POST /v1/score", Tenant, "[]", 422),
        // A lead over the sandbox's data limits (64 KiB of strings in all, 10,000 items,
        // 1,000 entries): before, the shipped rules failed on it (500 rules_error, and an
        // ingest was kept undecided with its tags, so that contact's later messages
        // failed too); now it is input over a limit, refused before a script runs.
        case("score: a 33 KB name", "POST /v1/score", Tenant, j(json!({"name": long(33_000)})), 422),
        case("score: 10,001 tags", "POST /v1/score", Tenant, j(json!({"tags": vec![""; 10_001]})), 422),
        case("score: 1,001 facts", "POST /v1/score", Tenant, j(json!({"facts": facts_1001})), 422),
        case("message: 10,001 tags", &format!("POST /v1/contacts/{VICTIM}-tags/messages"), Tenant, j(json!({"text": "hi", "tags": vec![""; 10_001]})), 422),
        // Everything else.
        case("dashboard: asset ../", "GET /dashboard/..%2Fsecret", Missing, "", 404),
        case("unknown route", "GET /v2/score", Tenant, "", 404),
        case("unknown route, traversal", "GET /../../etc/passwd", Missing, "", 404),
    ]
}

/// What came back.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Sends `raw` over a new connection and reads the answer (the connection is closed by
/// the server after it). Raw so the target is exactly what the case says.
async fn send(addr: &str, raw: Vec<u8>) -> Answer {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(&raw).await.unwrap();
    let mut out = Vec::new();
    // A refused body may be left unread: the server can close before taking it all.
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out)).await;
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete answer: {:?}", String::from_utf8_lossy(&out)));
    let head = String::from_utf8_lossy(&out[..split]).to_string();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = out[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Answer {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&data[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[eol + 2..eol + 2 + size]);
        data = &data[eol + 2 + size + 2..];
    }
    out
}

/// What a request to the test server needs besides the case.
struct Env {
    addr: String,
    tenant_key: String,
    signing: SigningKey,
}

fn sign(key: &SigningKey, body: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(key.sign(body).to_bytes())
}

fn raw_request(env: &Env, c: &Case) -> Vec<u8> {
    let mut head = format!("{} ", c.method).into_bytes();
    head.extend_from_slice(&c.target);
    head.extend_from_slice(b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    let auth = match c.key {
        Key::Tenant => Some(format!("Bearer {}", env.tenant_key)),
        Key::Admin => Some(format!("Bearer {ADMIN}")),
        Key::Missing => None,
        Key::Garbage => Some("Bearer nope".into()),
        Key::WrongSecret => Some(format!("Bearer qfy_{TENANT}.{}", "0".repeat(64))),
        Key::Basic => Some("Basic Zm9vOmJhcg==".into()),
        Key::Empty => Some("Bearer ".into()),
        Key::Huge => Some(format!("Bearer {}", long(16 * 1024))),
    };
    let sig = match c.sig {
        Sig::Unsigned => None,
        Sig::Valid => Some(sign(&env.signing, &c.body)),
        Sig::Garbage => Some("not base64!".into()),
        Sig::OtherBody => Some(sign(&env.signing, b"{}")),
    };
    let mut headers: Vec<(&str, String)> = c.headers.clone();
    headers.extend(auth.map(|a| ("authorization", a)));
    headers.extend(sig.map(|s| ("x-ghl-signature", s)));
    headers.extend(c.content_type.map(|ct| ("content-type", ct.to_string())));
    headers.push(("content-length", c.body.len().to_string()));
    for (k, v) in headers {
        head.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    head.extend_from_slice(&c.body);
    head
}

/// The case's failure, if any: the status, a 5xx, the body's shape.
fn verdict(c: &Case, a: &Answer) -> Option<String> {
    let text = String::from_utf8_lossy(&a.body);
    let shown: String = text.chars().take(200).collect();
    if a.status >= 500 {
        let retry = a.headers.iter().any(|(k, _)| k == "retry-after");
        return Some(format!(
            "{} answered {} (retry-after: {retry}): {shown}",
            c.name, a.status
        ));
    }
    if a.status != c.want && Some(a.status) != c.or {
        return Some(format!(
            "{}: want {}, got {}: {shown}",
            c.name, c.want, a.status
        ));
    }
    if c.shape == Shape::Json {
        let v: Value = match serde_json::from_slice(&a.body) {
            Ok(v) => v,
            Err(_) => {
                return Some(format!(
                    "{}: {} without a JSON body: {shown:?}",
                    c.name, a.status
                ))
            }
        };
        let e = &v["error"];
        if !(e["type"].is_string() && e["message"].as_str().is_some_and(|m| !m.is_empty())) {
            return Some(format!(
                "{}: {} without the error shape: {shown}",
                c.name, a.status
            ));
        }
    }
    None
}

/// Everything a bad request must leave as it was.
struct Snapshot {
    known: Value,
    victims: Vec<bool>,
    tenants: Value,
    analytics: Value,
    queued: usize,
}

impl Snapshot {
    /// The parts that differ from `other`.
    fn differences(&self, other: &Snapshot) -> Vec<&'static str> {
        [
            ("the known contact", self.known != other.known),
            (
                "contacts created by refused requests",
                self.victims != other.victims,
            ),
            ("the tenants", self.tenants != other.tenants),
            ("the analytics", self.analytics != other.analytics),
            ("the outbox", self.queued != other.queued),
        ]
        .into_iter()
        .filter_map(|(what, differs)| differs.then_some(what))
        .collect()
    }
}

async fn snapshot(server: &Server, api: &Api, key: &str) -> Snapshot {
    let t = tid(TENANT);
    let e = &server.engine;
    let tenants: Value = api.get("/admin/tenants", ADMIN).await.json().await.unwrap();
    Snapshot {
        known: json!(e.contacts().get(&t, &cid(KNOWN)).unwrap().unwrap()),
        victims: [VICTIM, "victim-form", "victim-tags"]
            .iter()
            .map(|v| e.contacts().get(&t, &cid(v)).unwrap().is_some())
            .collect(),
        tenants,
        analytics: api.get("/v1/analytics", key).await.json().await.unwrap(),
        queued: e.outbox().len().unwrap(),
    }
}

/// A server with verification on, no rate limit (the catalogue is a burst of one
/// tenant's requests), a tenant and a contact of it.
async fn setup() -> (tempfile::TempDir, Server, Api, Env) {
    let (signing, cfg) = signing();
    let cfg = Config {
        rate_limit: false,
        ..cfg
    };
    let (dir, server, api) = fresh(cfg).await;
    let tenant_key = api
        .add_tenant(json!({"tenant": TENANT, "tier": "enterprise"}))
        .await;
    let first = json!({"text": "Buying in Plano, around 450k", "tags": ["Hit List"]});
    let r = api
        .post(
            &format!("/v1/contacts/{KNOWN}/messages"),
            &tenant_key,
            first,
        )
        .await;
    assert_eq!(r.status(), 200);
    let addr = server.base.trim_start_matches("http://").to_string();
    let env = Env {
        addr,
        tenant_key,
        signing,
    };
    (dir, server, api, env)
}

async fn run(cases: &[Case]) -> Vec<String> {
    let (_dir, server, api, env) = setup().await;
    let before = snapshot(&server, &api, &env.tenant_key).await;
    let mut failures = Vec::new();
    for c in cases {
        let answer = send(&env.addr, raw_request(&env, c)).await;
        failures.extend(verdict(c, &answer));
    }
    let after = snapshot(&server, &api, &env.tenant_key).await;
    let changed = before.differences(&after);
    if !changed.is_empty() {
        failures.push(format!("the store changed: {}", changed.join(", ")));
    }
    server.stop().await;
    failures
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_request_gets_a_clear_4xx_and_changes_nothing() {
    let cases = cases();
    let failures = run(&cases).await;
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Every case in the tables has a unique name (a failure names its case).
#[test]
fn case_names_are_unique() {
    let mut names: Vec<&str> = cases().iter().map(|c| c.name).collect();
    let n = names.len();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), n);
}

/// Over the tier's rate: 429 with `Retry-After` and the error shape, nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_rate_limit_is_a_clear_429() {
    let (_dir, server, api) = fresh(config()).await;
    let key = api
        .add_tenant(json!({"tenant": "slow", "tier": "starter"}))
        .await;
    let mut limited = 0;
    for _ in 0..15 {
        let r = api.post("/v1/score", &key, json!({})).await;
        let status = r.status().as_u16();
        let retry = r.headers().contains_key("retry-after");
        assert!(status == 200 || status == 429, "{status}");
        if status == 429 {
            limited += 1;
            assert!(retry, "429 without Retry-After");
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["error"]["type"], "rate_limited");
        }
    }
    assert!(limited > 0, "a starter tenant's burst is 10");
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// The command line.

/// What a command must do with its bad input.
#[derive(Clone, Copy, Debug)]
enum Exit {
    /// Non-zero, and one `qualify: error: ...` line on stderr (a warning may precede it).
    Error,
    /// Exit 2 with clap's usage error (`error: ...` and a hint).
    Usage,
    /// Non-zero, the problems listed on stdout (`check`, `score --jsonl`).
    Report,
    /// Zero: bad records are skipped and named on stderr (`transcripts import`).
    Skips,
}

/// One command: its arguments (`{data}` is the store folder, `{dir}` the case files'
/// folder), its standard input, and what it must do.
struct CliCase {
    name: &'static str,
    args: Vec<std::ffi::OsString>,
    stdin: Vec<u8>,
    exit: Exit,
}

fn cli(name: &'static str, args: &str, stdin: impl Into<Vec<u8>>, exit: Exit) -> CliCase {
    CliCase {
        name,
        args: args.split(' ').map(Into::into).collect(),
        stdin: stdin.into(),
        exit,
    }
}

/// The files the cases read, written into `dir`.
#[rustfmt::skip]
fn cli_files(dir: &std::path::Path) {
    let files: &[(&str, &[u8])] = &[
        ("malformed.json", b"{\"tags\":"),
        ("wrong-type.json", b"{\"tags\": \"x\"}"),
        ("binary.json", b"\xff\xfe{}\x00"),
        ("empty.json", b""),
        ("array.json", b"[1, 2]"),
        ("bad.jsonl", b"[1, 2\n{\"tags\": 5}\n"),
        ("bad.csv", b"id,date\n1,2\n"),
        ("counts-one.json", br#"{"variants": [{"name": "a", "n": 10, "conversions": 1}]}"#),
        ("counts-over.json", br#"{"variants": [{"name": "a", "n": 10, "conversions": 11}, {"name": "b", "n": 10, "conversions": 1}]}"#),
        ("counts-negative.json", br#"{"variants": [{"name": "a", "n": -1, "conversions": 0}, {"name": "b", "n": 10, "conversions": 1}]}"#),
        ("counts-weight.json", br#"{"variants": [{"name": "a", "n": 10, "conversions": 1, "weight": 0}, {"name": "b", "n": 10, "conversions": 1}]}"#),
        ("counts-sd.json", br#"{"variants": [{"name": "a", "n": 10, "mean": 1, "sd": -1}, {"name": "b", "n": 10, "mean": 2, "sd": 1}]}"#),
        ("bad-key", b"zz\n"),
    ];
    for (name, content) in files {
        std::fs::write(dir.join(name), content).unwrap();
    }
    let broken = dir.join("rules/broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("score.rhai"), "fn score(lead, cfg) { let x = ; }\n").unwrap();
    std::fs::write(broken.join("tenant.yaml"), "hot_threshold: [\n").unwrap();
}

#[rustfmt::skip]
fn cli_cases() -> Vec<CliCase> {
    use Exit::*;
    let n = String::new;
    let id65 = format!("ingest --data {{data}} --contact {} hello", long(65));
    let mut cases = vec![
        cli("score: malformed file", "score {dir}/malformed.json", n(), Error),
        cli("score: wrong types", "score {dir}/wrong-type.json", n(), Error),
        cli("score: not UTF-8", "score {dir}/binary.json", n(), Error),
        cli("score: empty file", "score {dir}/empty.json", n(), Error),
        cli("score: a JSON list of numbers", "score {dir}/array.json", n(), Error),
        cli("score: no such file", "score {dir}/nope.json", n(), Error),
        cli("score: a folder", "score {dir}", n(), Error),
        cli("score: malformed stdin", "score -", "{\"facts\": [", Error),
        cli("score: tenant ../etc", "score --tenant ../etc {dir}/empty.json", n(), Error),
        cli("score: unknown tenant", "score --tenant nobody examples/lead.json", n(), Error),
        cli("score: no such rules folder", "score --rules {dir}/nope examples/lead.json", n(), Error),
        cli("score --jsonl: bad lines", "score --jsonl {dir}/bad.jsonl", n(), Report),
        cli("ingest: contact ../etc", "ingest --data {data} --contact ../etc hello", n(), Error),
        cli("ingest: contact of 65 chars", &id65, n(), Error),
        cli("ingest: empty text", "ingest --data {data} --contact victim -", "", Error),
        cli("ingest: blank text", "ingest --data {data} --contact victim -", " \n ", Error),
        cli("ingest: text not UTF-8", "ingest --data {data} --contact victim -", b"\xff\xfe".to_vec(), Error),
        cli("ingest: key file not hex", "ingest --data {data} --key-file {dir}/bad-key --contact victim hi", n(), Error),
        cli("ingest: no such key file", "ingest --data {data} --key-file {dir}/nope --contact victim hi", n(), Error),
        cli("ingest: data folder is a file", "ingest --data {dir}/empty.json --contact victim hi", n(), Error),
        cli("ingest: no contact", "ingest --data {data} hi", n(), Usage),
        cli("check: no such rules folder", "check --rules {dir}/nope", n(), Error),
        cli("check: broken script and settings", "check --rules {dir}/rules", n(), Report),
        cli("analytics: month 13", "analytics --data {data} --from 2026-13-45", n(), Error),
        cli("analytics: from after to", "analytics --data {data} --from 2027-01-01 --to 2026-01-01", n(), Error),
        cli("analytics: tenant ../x", "analytics --data {data} --tenant ../x", n(), Error),
        cli("analytics: format xml", "analytics --data {data} --format xml", n(), Usage),
        cli("transcripts import: malformed", "transcripts import --data {data} {dir}/malformed.json", n(), Error),
        cli("transcripts import: not UTF-8", "transcripts import --data {data} {dir}/binary.json", n(), Error),
        cli("transcripts import: no such file", "transcripts import --data {data} {dir}/nope.json", n(), Error),
        cli("transcripts import: CSV without columns", "transcripts import --data {data} {dir}/bad.csv", n(), Error),
        cli("transcripts import: a list of numbers", "transcripts import --data {data} {dir}/array.json", n(), Skips),
        cli("transcripts import: tenant ../x", "transcripts import --data {data} --tenant ../x {dir}/array.json", n(), Error),
        cli("analyze --counts: malformed", "experiment analyze --counts {dir}/malformed.json", n(), Error),
        cli("analyze --counts: one arm", "experiment analyze --counts {dir}/counts-one.json", n(), Error),
        cli("analyze --counts: more conversions than n", "experiment analyze --counts {dir}/counts-over.json", n(), Error),
        cli("analyze --counts: negative n", "experiment analyze --counts {dir}/counts-negative.json", n(), Error),
        cli("analyze --counts: weight 0", "experiment analyze --counts {dir}/counts-weight.json", n(), Error),
        cli("analyze --counts: negative sd", "experiment analyze --counts {dir}/counts-sd.json", n(), Error),
        cli("analyze --counts: alpha 7", "experiment analyze --counts {dir}/counts-over.json --alpha 7", n(), Error),
        cli("analyze --counts: no such file", "experiment analyze --counts {dir}/nope.json", n(), Error),
        cli("redact: stdin not UTF-8", "redact -", b"\xff\xfe".to_vec(), Error),
        cli("sms-info: stdin not UTF-8", "sms-info -", b"\xff\xfe".to_vec(), Error),
        cli("unknown command", "frobnicate", n(), Usage),
    ];
    // An argument that is not UTF-8 (clap refuses it).
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt;
        for (name, cmd) in [("redact: argument not UTF-8", "redact"), ("sms-info: argument not UTF-8", "sms-info")] {
            let mut c = cli(name, cmd, n(), Usage);
            c.args.push(std::ffi::OsString::from_vec(b"\xff\xfe".to_vec()));
            cases.push(c);
        }
    }
    cases
}

const MASTER_KEY: &str = "4f1c2a9e8b7d6c5f4e3d2c1b0a99887766554433221100ffeeddccbbaa998877";

fn qualify() -> Command {
    let mut cmd = Command::cargo_bin("qualify").unwrap();
    cmd.current_dir(support::common::repo_root())
        .env("QUALIFY_MASTER_KEY", MASTER_KEY)
        .env_remove("RUST_LOG");
    cmd
}

/// The stored state the CLI cases must leave alone: the known contact.
fn cli_snapshot(data: &str) -> Vec<u8> {
    let out = qualify()
        .args(["contact", "show", "--data", data, KNOWN])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn cli_verdict(c: &CliCase, out: &std::process::Output) -> Option<String> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let code = out.status.code();
    let fail = |why: &str| {
        Some(format!(
            "{}: {why} (exit {code:?})\nstderr: {stderr}",
            c.name
        ))
    };
    if stderr.contains("panicked") || code.is_none() {
        return fail("panicked or was killed");
    }
    let errors = stderr
        .lines()
        .filter(|l| l.starts_with("qualify: error:"))
        .count();
    match c.exit {
        Exit::Error if out.status.success() => fail("succeeded"),
        Exit::Error
            if errors != 1
                || !stderr
                    .trim_end()
                    .lines()
                    .last()
                    .is_some_and(|l| l.starts_with("qualify: error:")) =>
        {
            fail("not one `qualify: error:` line, last")
        }
        Exit::Usage if code != Some(2) || !stderr.starts_with("error:") => {
            fail("not a usage error")
        }
        Exit::Report if out.status.success() || stdout.trim().is_empty() => {
            fail("no report on stdout")
        }
        Exit::Skips if !out.status.success() || !stderr.contains("skipped") => {
            fail("did not skip and name the bad records")
        }
        _ => None,
    }
}

#[test]
fn every_bad_command_fails_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    cli_files(dir.path());
    let data = dir.path().join("data");
    let (dir_s, data_s) = (dir.path().to_str().unwrap(), data.to_str().unwrap());
    qualify()
        .args([
            "ingest",
            "--data",
            data_s,
            "--contact",
            KNOWN,
            "Buying in Plano, around 450k",
        ])
        .assert()
        .success();
    let before = cli_snapshot(data_s);
    let mut failures = Vec::new();
    let cases = cli_cases();
    for c in &cases {
        let args: Vec<std::ffi::OsString> = c
            .args
            .iter()
            .map(|a| match a.to_str() {
                Some(s) => s.replace("{dir}", dir_s).replace("{data}", data_s).into(),
                None => a.clone(),
            })
            .collect();
        let out = qualify()
            .args(&args)
            .write_stdin(c.stdin.clone())
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap();
        failures.extend(cli_verdict(c, &out));
    }
    let after = cli_snapshot(data_s);
    if before != after {
        failures.push("the known contact changed".into());
    }
    let victim = qualify()
        .args(["contact", "show", "--data", data_s, VICTIM])
        .output()
        .unwrap();
    if victim.status.success() {
        failures.push(format!("contact {VICTIM} was created by a refused ingest"));
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
