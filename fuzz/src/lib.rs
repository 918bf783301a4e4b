//! Qualify's fuzz targets: each is a function over raw bytes that panics only on a bug.
//!
//! The libFuzzer entry points in `fuzz_targets/` and the stable `smoke` loop both call
//! these, so a crash found by either replays with the other (`smoke --replay`). Besides
//! "no panic, no hang", each target checks what must hold for every input:
//!
//! | target | drives | checks |
//! |---|---|---|
//! | `extract` | `Engine::extract` (default and `points` tenants), opt-out keywords, the answer and money helpers | deterministic |
//! | `redact` | `text::redact::{redact, find}` | findings sorted, disjoint, on char boundaries; the text rebuilt from them; redacting the output again changes nothing |
//! | `sms` | `text::sms::{sms_info, segments, normalize}` | encoding iff non-GSM chars; units; segment bounds for 160/153 and 70/67; `normalize` idempotent |
//! | `webhook` | the host's GHL payload type (`GhlWebhook`) and its accessors, `Inbound`, `Lead`, the public-key and signature parsers | no panic |
//! | `score_lead` | `Lead::from_json` then a decision under each shipped tenant | the shipped rules never fail on a lead that parsed |
//! | `script` | the input as a tenant's `score.rhai`, compiled into a fresh engine, scoring a lead | `Ok` or a clean `Err` within 5 s (the hook limits are 200k operations and 500 ms) |
//! | `http` | one request through `host::app` (in-memory store, real handlers) | never 5xx (503 only with `Retry-After`); every 4xx has the `{"error": {"type", "message"}}` shape |

pub mod gen;

use qualify_engine::decide::ScoreOptions;
use qualify_engine::model::Tier;
use qualify_engine::text::{compliance, is_answered, is_unsure, is_unsure_text, parse_money};
use qualify_engine::text::{redact as red, sms as sm};
use qualify_engine::{ContactId, Engine, Inbound, Lead, SecretKey, Store, TenantId};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A fuzz target: raw bytes in, a panic on a bug.
pub type Target = fn(&[u8]);

/// Every target by name (the smoke loop and replays look them up here).
pub const TARGETS: &[(&str, Target)] = &[
    ("extract", extract),
    ("redact", redact),
    ("sms", sms),
    ("webhook", webhook),
    ("score_lead", score_lead),
    ("script", script),
    ("http", http),
];

/// The target called `name`.
pub fn target(name: &str) -> Option<Target> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// The repository's `rules/` (default and `points`).
fn shipped_rules() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules")
}

fn tid(id: &str) -> TenantId {
    TenantId::new(id).expect("a valid tenant id")
}

/// One engine over the shipped rules for the stateless targets.
fn shipped() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::open(shipped_rules()).expect("the shipped rules load"))
}

/// `Engine::extract` on arbitrary text under both shipped tenants, and the text helpers
/// the extractor builds on.
pub fn extract(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let engine = shipped();
    for tenant in ["default", "points"] {
        let t = tid(tenant);
        let first = engine.extract(&t, &text).expect("a shipped tenant serves");
        let again = engine.extract(&t, &text).expect("a shipped tenant serves");
        assert_eq!(first, again, "extraction is deterministic");
        for v in first.values() {
            is_answered(v);
            parse_money(v);
        }
    }
    compliance::classify(&text);
    is_unsure_text(&text);
    let v = Value::String(text.into_owned());
    is_answered(&v);
    is_unsure(&v);
    parse_money(&v);
}

/// Findings must be sorted, disjoint, inside the text and on char boundaries.
pub fn check_findings(text: &str, findings: &[red::Finding]) {
    let mut end = 0;
    for f in findings {
        assert!(
            f.start >= end,
            "findings overlap or are unsorted: {findings:?}"
        );
        assert!(
            f.start < f.end && f.end <= text.len(),
            "span out of the text: {f:?}"
        );
        assert!(
            text.is_char_boundary(f.start) && text.is_char_boundary(f.end),
            "span off a char boundary: {f:?}"
        );
        end = f.end;
    }
}

/// The redactor: well-formed findings, the output rebuilt from them, and idempotence.
pub fn redact(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let r = red::redact(&text);
    check_findings(&text, &r.findings);
    assert_eq!(red::find(&text), r.findings, "find and redact agree");
    let mut rebuilt = String::with_capacity(text.len());
    let mut at = 0;
    for f in &r.findings {
        rebuilt.push_str(&text[at..f.start]);
        rebuilt.push_str(f.entity.token());
        at = f.end;
    }
    rebuilt.push_str(&text[at..]);
    assert_eq!(
        rebuilt, r.text,
        "the output is the text with each finding replaced"
    );
    // Known (reported, `engine/tests/properties.rs`): a second pass can find a card the
    // first missed when digits ran on from a neighbour, or a bank number whose context
    // word came within reach once a longer finding before it became a shorter token.
    // Anything else a second pass finds is new.
    let twice = red::redact(&r.text);
    let known =
        |f: &red::Finding| matches!(f.entity, red::Entity::CreditCard | red::Entity::BankAccount);
    assert!(
        twice.text == r.text || twice.findings.iter().all(known),
        "redacting the redacted text changed it (findings {:?}): {:?} -> {:?}",
        twice.findings,
        r.text,
        twice.text
    );
}

/// The SMS segment counter: encoding, units and the segment bounds.
pub fn sms(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let info = sm::sms_info(&text);
    assert_eq!(sm::segments(&text), info.segments);
    assert_eq!(info.segments == 0, text.is_empty(), "{info:?}");
    let (single, multi) = match info.encoding {
        sm::Encoding::Gsm7 => {
            assert!(info.non_gsm.is_empty());
            (160, 153)
        }
        sm::Encoding::Ucs2 => {
            assert!(!info.non_gsm.is_empty(), "UCS-2 only for a reason");
            assert_eq!(info.units, text.encode_utf16().count());
            (70, 67)
        }
    };
    for (i, c) in info.non_gsm.iter().enumerate() {
        assert!(
            !info.non_gsm[..i].contains(c),
            "non_gsm lists each char once"
        );
        assert!(text.contains(*c));
        assert_eq!(sm::sms_info(&c.to_string()).encoding, sm::Encoding::Ucs2);
    }
    if !text.is_empty() {
        if info.units <= single {
            assert_eq!(info.segments, 1, "{info:?}");
        } else {
            // A part carries `multi` units, or one less when a pair would straddle it.
            let low = info.units.div_ceil(multi);
            let high = info.units.div_ceil(multi - 1);
            assert!(
                (low..=high).contains(&info.segments),
                "{} units in {} segments: {info:?}",
                info.units,
                info.segments
            );
        }
    }
    let once = sm::normalize(&text);
    assert_eq!(sm::normalize(&once), once, "normalize is idempotent");
}

/// The webhook payload parsers: the host's GHL type and its accessors, the message and
/// lead types a body may also be read as, and the key and signature parsers.
pub fn webhook(data: &[u8]) {
    use host::server::webhook::{parse_public_key, verify, GhlWebhook};
    if let Ok(hook) = serde_json::from_slice::<GhlWebhook>(data) {
        if let Some(tags) = hook.tag_event() {
            let _ = (TenantId::new(&tags.location), ContactId::new(&tags.contact));
        }
        hook.delivery_id("0".repeat(64).as_str());
        hook.sent_at();
        if let Ok(event) = hook.event() {
            let _ = (
                TenantId::new(&event.location),
                ContactId::new(&event.contact),
            );
        }
    }
    let _ = serde_json::from_slice::<Inbound>(data);
    let text = String::from_utf8_lossy(data);
    let _ = Lead::from_json(&text);
    let _ = parse_public_key(&text);
    if data.len() >= 32 {
        let hex: String = data[..32].iter().map(|b| format!("{b:02x}")).collect();
        if let Ok(key) = parse_public_key(&hex) {
            let rest = String::from_utf8_lossy(&data[32..]);
            let (sig, body) = rest.split_once('\n').unwrap_or((&rest, ""));
            verify(&key, sig, body.as_bytes());
        }
    }
}

/// A lead as JSON, decided under each shipped tenant: the shipped rules must not fail on
/// anything that parsed as a lead (a client would get a 500 `rules_error` for its input).
pub fn score_lead(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(lead) = Lead::from_json(&text) else {
        return;
    };
    let engine = shipped();
    for (tenant, explain) in [("default", true), ("points", false)] {
        match engine.score_with(&tid(tenant), &lead, &ScoreOptions { explain }) {
            Ok(d) => {
                serde_json::to_string(&d).expect("a decision serialises");
            }
            // Known (reported, `engine/tests/properties.rs`): a lead over the sandbox's
            // data limits (strings over 64 KiB in all, 10,000 tags, 1,000 facts) fails
            // the rules. Any other failure is new.
            Err(e) => assert!(
                !e.is_rules_failure() || e.to_string().contains("exceeds its size limit"),
                "the shipped {tenant} rules failed on a lead that parsed: {e}"
            ),
        }
    }
}

/// The lead every hostile script is asked to score: facts, tags and a short conversation.
const SCRIPT_LEAD: &str = r#"{"tags": ["Hit List"], "name": "Maria", "contact_id": "c-1",
  "facts": {"budget": "$450k", "location": ["Plano", "Frisco"], "timeline": "not sure"},
  "messages": [{"from": "agent", "text": "Hi! Buy or sell?"},
               {"from": "lead", "text": "buy, 3 bed, pre-approved"}]}"#;

/// How long one hostile script may take to compile and score (two hooks, each stopped
/// at 500 ms), with room for a loaded machine and sanitizers.
pub const SCRIPT_TIME_BOUND: Duration = Duration::from_secs(5);

/// The input as tenant `fz`'s `score.rhai` (it may define any function: all of a
/// tenant's scripts are merged), in a fresh engine over a temp rules folder; scoring must
/// return `Ok` or a clean `Err` in bounded time.
pub fn script(data: &[u8]) {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let d = tempfile::tempdir().expect("a temp folder");
        std::fs::create_dir(d.path().join("fz")).expect("the tenant folder");
        d
    });
    let src = String::from_utf8_lossy(data);
    std::fs::write(dir.path().join("fz/score.rhai"), src.as_bytes()).expect("write the script");
    let started = Instant::now();
    let engine = Engine::builder()
        .rules_dir(dir.path())
        .build()
        .expect("an engine builds whatever a tenant's script says");
    let lead = Lead::from_json(SCRIPT_LEAD).expect("the sample lead parses");
    let t = tid("fz");
    let outcome = match engine.score(&t, &lead) {
        Ok(d) => {
            serde_json::to_string(&d).expect("a decision serialises");
            "ok"
        }
        Err(e) => {
            assert!(!e.to_string().is_empty(), "an error says what went wrong");
            if e.is_rules_failure() {
                "script_error"
            } else {
                "unavailable"
            }
        }
    };
    gen::note(&format!("script/{outcome}"));
    assert!(
        started.elapsed() < SCRIPT_TIME_BOUND,
        "compiling and scoring took {:?} (outcome {outcome})",
        started.elapsed()
    );
    let _ = engine.rules().check();
}

/// The admin key of the `http` target's server.
pub const HTTP_ADMIN: &str = "fuzz-admin-key";

struct HttpEnv {
    rt: tokio::runtime::Runtime,
    app: axum::Router,
    /// API keys of tenants `fz-a` (default rules) and `points`.
    keys: [String; 2],
}

fn http_env() -> &'static HttpEnv {
    static ENV: OnceLock<HttpEnv> = OnceLock::new();
    ENV.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        let store = Store::in_memory(SecretKey::generate()).expect("an in-memory store");
        let engine = Engine::builder()
            .rules_dir(shipped_rules())
            .store(store)
            .build()
            .expect("the shipped rules load");
        let add = |t: &str| {
            engine
                .accounts()
                .add(&tid(t), t, Tier::Enterprise)
                .expect("a tenant registers")
                .to_string()
        };
        let keys = [add("fz-a"), add("points")];
        let known = ContactId::new("known").expect("valid");
        engine
            .ingest(
                &tid("fz-a"),
                &known,
                &Inbound::text("Buying in Plano, 450k"),
            )
            .expect("a first message");
        let config = host::Config {
            admin_key_hash: Some(host::server::hash_admin_key(HTTP_ADMIN)),
            rate_limit: false,
            // Unsigned bodies reach the parser; the `webhook` target covers signatures.
            verify_webhooks: false,
            ..host::Config::default()
        };
        let app = rt.block_on(async { host::app(host::AppState::new(engine, config)) });
        HttpEnv { rt, app, keys }
    })
}

/// One request decoded from the input ([`gen::request`]) through the real router.
pub fn http(data: &[u8]) {
    use tower::ServiceExt;
    let env = http_env();
    let Some(req) = gen::request(data, &env.keys) else {
        return;
    };
    let what = format!("{} {}", req.method(), req.uri());
    let (status, retry_after, body) = env.rt.block_on(async {
        let resp = env
            .app
            .clone()
            .oneshot(req)
            .await
            .expect("the router is infallible");
        let status = resp.status().as_u16();
        let retry = resp.headers().contains_key("retry-after");
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("a body");
        (status, retry, body)
    });
    gen::note(&format!("http/{status}"));
    let text = String::from_utf8_lossy(&body);
    // Known (reported, `host/tests/bad_input.rs` `known_bugs`): a lead over the sandbox's
    // data limits is a 500 `rules_error`. Any other 5xx is new.
    let known_500 = status == 500 && text.contains("exceeds its size limit");
    assert!(
        status < 500 || (status == 503 && retry_after) || known_500,
        "{what}: {status} {text}"
    );
    if (400..500).contains(&status) {
        let v: Value = serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("{what}: {status} without a JSON body ({e}): {text}"));
        assert!(
            v["error"]["type"].is_string() && v["error"]["message"].is_string(),
            "{what}: {status} without the error shape: {text}"
        );
    }
}
