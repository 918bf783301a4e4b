//! The HTTP server end to end: a real server on port 0, a real HTTP client, and a fake
//! GoHighLevel on loopback that records every call.

#[path = "../../engine/tests/common/mod.rs"]
mod common;

use common::{cid, tid};

use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use base64::Engine as _;
use ed25519_dalek::{Signer, SigningKey};
use host::{AppState, Config};
use qualify_engine::model::Tier;
use qualify_engine::{Engine, SecretKey, Store};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ADMIN: &str = "admin-secret-for-tests";

struct Server {
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    engine: Engine,
}

impl Server {
    async fn start(file: &Path, key: &SecretKey, config: Config) -> Self {
        let store = Store::open(file, key.clone()).unwrap();
        let engine = Engine::builder()
            .rules_dir(common::shipped_rules())
            .store(store)
            .build()
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let state = AppState::new(engine.clone(), config);
        let task = tokio::spawn(async move {
            host::serve(listener, state, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        Self {
            base,
            stop: Some(tx),
            task: Some(task),
            engine,
        }
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap();
    }
}

fn config() -> Config {
    Config {
        admin_key_hash: Some(host::server::hash_admin_key(ADMIN)),
        tick: Duration::from_millis(50),
        retry_base: Duration::from_millis(50),
        ..Config::default()
    }
}

async fn add_tenant(http: &reqwest::Client, base: &str, body: Value) -> String {
    let r = send(
        http,
        Method::POST,
        format!("{base}/admin/tenants"),
        ADMIN,
        Some(&body),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    v["api_key"].as_str().unwrap().to_string()
}

/// One request with a bearer key and, optionally, a JSON body.
async fn send(
    http: &reqwest::Client,
    method: Method,
    url: impl reqwest::IntoUrl,
    key: &str,
    body: Option<&Value>,
) -> reqwest::Response {
    let mut req = http.request(method, url).bearer_auth(key);
    if let Some(b) = body {
        req = req.json(b);
    }
    req.send().await.unwrap()
}

async fn error_of(r: reqwest::Response) -> (StatusCode, String) {
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    (status, v["error"]["type"].as_str().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scoring_conversations_privacy_and_every_error_status() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("q.redb"), &SecretKey::generate(), config()).await;
    let base = &server.base;
    let http = reqwest::Client::new();
    let key_a = add_tenant(
        &http,
        base,
        json!({"tenant": "team-a", "tier": "enterprise"}),
    )
    .await;
    let key_b = add_tenant(&http, base, json!({"tenant": "team-b"})).await;

    // Stateless scoring: same output as `qualify score`.
    let r = send(
        &http,
        Method::POST,
        format!("{base}/v1/score"),
        &key_a,
        Some(&json!({"tags": ["Hit List"], "facts": {"budget": 450000, "location": "Plano"}})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let d: Value = r.json().await.unwrap();
    assert_eq!(
        (d["score"].as_i64(), d["class"].as_str()),
        (Some(2), Some("warm"))
    );
    assert_eq!(
        d["tenant"], "team-a",
        "a registered tenant without a folder runs the default rules"
    );

    // A conversation through /messages goes cold -> warm -> hot.
    let msgs = [
        "Hi, we want to buy",
        "around 450k",
        "in Frisco",
        "asap please",
    ];
    let mut classes = Vec::new();
    for (i, text) in msgs.iter().enumerate() {
        let mut body = json!({"text": text});
        if i == 0 {
            body["tags"] = json!(["Hit List"]);
        }
        let r = send(
            &http,
            Method::POST,
            format!("{base}/v1/contacts/lead-1/messages"),
            &key_a,
            Some(&body),
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        classes.push(v["decision"]["class"].as_str().unwrap().to_string());
        assert_eq!(
            v["queued"], false,
            "no GHL token: actions are returned, not queued"
        );
    }
    assert_eq!(classes, ["cold", "cold", "warm", "hot"]);

    let r = send(
        &http,
        Method::GET,
        format!("{base}/v1/contacts/lead-1"),
        &key_a,
        None,
    )
    .await;
    let c: Value = r.json().await.unwrap();
    assert_eq!(c["facts"]["location"], "Frisco");
    let r = send(
        &http,
        Method::GET,
        format!("{base}/v1/contacts/lead-1/export"),
        &key_a,
        None,
    )
    .await;
    assert_eq!(r.json::<Value>().await.unwrap()["contact"]["id"], "lead-1");

    // Tenant B's key on tenant A's contact: not found, nothing leaked, nothing erased.
    for r in [
        send(
            &http,
            Method::GET,
            format!("{base}/v1/contacts/lead-1"),
            &key_b,
            None,
        )
        .await,
        send(
            &http,
            Method::GET,
            format!("{base}/v1/contacts/lead-1/export"),
            &key_b,
            None,
        )
        .await,
        send(
            &http,
            Method::DELETE,
            format!("{base}/v1/contacts/lead-1"),
            &key_b,
            None,
        )
        .await,
    ] {
        let status = r.status();
        let text = r.text().await.unwrap();
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(!text.contains("Frisco"), "{text}");
    }
    // A tenant key on the admin API.
    let r = send(
        &http,
        Method::GET,
        format!("{base}/admin/tenants"),
        &key_a,
        None,
    )
    .await;
    assert_eq!(
        error_of(r).await,
        (StatusCode::FORBIDDEN, "forbidden".into())
    );

    // Erase.
    let r = send(
        &http,
        Method::DELETE,
        format!("{base}/v1/contacts/lead-1"),
        &key_a,
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = send(
        &http,
        Method::GET,
        format!("{base}/v1/contacts/lead-1"),
        &key_a,
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Errors, each with the JSON error shape.
    let score = format!("{base}/v1/score");
    let r = http.post(&score).json(&json!({})).send().await.unwrap();
    assert_eq!(
        error_of(r).await,
        (StatusCode::UNAUTHORIZED, "unauthorized".into())
    );
    let r = send(
        &http,
        Method::POST,
        score.clone(),
        "qfy_team-a.0000",
        Some(&json!({})),
    )
    .await;
    assert_eq!(error_of(r).await.0, StatusCode::UNAUTHORIZED);
    let r = http
        .post(&score)
        .bearer_auth(&key_a)
        .header("content-type", "application/json")
        .body("{\"facts\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(r).await,
        (StatusCode::BAD_REQUEST, "malformed_json".into())
    );
    let r = send(
        &http,
        Method::POST,
        score.clone(),
        &key_a,
        Some(&json!({"tags": "Hit List"})),
    )
    .await;
    assert_eq!(
        error_of(r).await,
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid".into())
    );
    let huge = json!({"facts": {"note": "x".repeat(70 * 1024)}});
    let r = send(&http, Method::POST, score.clone(), &key_a, Some(&huge)).await;
    assert_eq!(
        error_of(r).await,
        (StatusCode::PAYLOAD_TOO_LARGE, "too_large".into())
    );
    let long = json!({"text": "y".repeat(11 * 1024)});
    let r = send(
        &http,
        Method::POST,
        format!("{base}/v1/contacts/c/messages"),
        &key_a,
        Some(&long),
    )
    .await;
    assert_eq!(
        error_of(r).await,
        (StatusCode::PAYLOAD_TOO_LARGE, "too_large".into())
    );
    let r = send(
        &http,
        Method::POST,
        format!("{base}/v1/contacts/bad.id/messages"),
        &key_a,
        Some(&json!({"text": "hi"})),
    )
    .await;
    assert_eq!(
        error_of(r).await,
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid".into())
    );
    let r = http.get(format!("{base}/nope")).send().await.unwrap();
    assert_eq!(error_of(r).await.0, StatusCode::NOT_FOUND);
    let r = send(
        &http,
        Method::POST,
        format!("{base}/admin/tenants"),
        ADMIN,
        Some(&json!({"tenant": "team-a"})),
    )
    .await;
    assert_eq!(error_of(r).await.0, StatusCode::CONFLICT);

    // Rate limit: starter is burst 10, 60/min; the 11th quick request is refused with
    // Retry-After, and a request after that wait succeeds.
    let mut limited = None;
    for _ in 0..12 {
        let r = send(&http, Method::POST, score.clone(), &key_b, Some(&json!({}))).await;
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(r);
            break;
        }
    }
    let r = limited.expect("a 429 within 12 quick requests");
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    assert_eq!(error_of(r).await.1, "rate_limited");
    // Tenant A (another tenant, enterprise) is unaffected.
    assert_eq!(
        send(&http, Method::POST, score.clone(), &key_a, Some(&json!({})))
            .await
            .status(),
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_secs(wait)).await;
    assert_eq!(
        send(&http, Method::POST, score.clone(), &key_b, Some(&json!({})))
            .await
            .status(),
        StatusCode::OK
    );

    assert_eq!(
        http.get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let ready: Value = http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["ready"], true);
    server.stop().await;
}

fn signed(key: &SigningKey, body: &Value) -> (String, String) {
    let raw = body.to_string();
    let sig = base64::engine::general_purpose::STANDARD.encode(key.sign(raw.as_bytes()).to_bytes());
    (raw, sig)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_verified() {
    let dir = tempfile::tempdir().unwrap();
    let signing = SigningKey::from_bytes(&[7u8; 32]);
    let cfg = Config {
        webhook_key: Some(signing.verifying_key()),
        ..config()
    };
    let server = Server::start(&dir.path().join("q.redb"), &SecretKey::generate(), cfg).await;
    let base = &server.base;
    let http = reqwest::Client::new();
    add_tenant(&http, base, json!({"tenant": "loc-1"})).await;
    let url = format!("{base}/webhooks/ghl");
    let now = jiff::Timestamp::now();
    let event = |id: &str, ts: jiff::Timestamp| {
        json!({
            "type": "InboundMessage", "locationId": "loc-1", "contactId": "ct-9", "conversationId": "cv-1",
            "body": "We want to buy in Plano, budget 450k", "messageType": "SMS", "direction": "inbound",
            "dateAdded": ts.to_string(), "messageId": "m-1", "webhookId": id, "timestamp": ts.to_string()
        })
    };

    let (raw, sig) = signed(&signing, &event("wh-1", now));
    let r = http
        .post(&url)
        .header("x-ghl-signature", &sig)
        .header("content-type", "application/json")
        .body(raw.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["result"]["decision"]["score"], 2);
    assert!(server
        .engine
        .contacts()
        .get(&tid("loc-1"), &cid("ct-9"))
        .unwrap()
        .is_some());

    // The same delivery again: a replay.
    let r = http
        .post(&url)
        .header("x-ghl-signature", &sig)
        .body(raw.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await, (StatusCode::CONFLICT, "replay".into()));
    // A bad signature (the body changed), a missing one, a stale timestamp.
    let tampered = raw.replace("450k", "950k");
    let r = http
        .post(&url)
        .header("x-ghl-signature", &sig)
        .body(tampered)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, StatusCode::UNAUTHORIZED);
    let r = http.post(&url).body(raw.clone()).send().await.unwrap();
    assert_eq!(error_of(r).await.0, StatusCode::UNAUTHORIZED);
    let (raw, sig) = signed(
        &signing,
        &event("wh-2", now - jiff::SignedDuration::from_mins(10)),
    );
    let r = http
        .post(&url)
        .header("x-ghl-signature", &sig)
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, StatusCode::UNAUTHORIZED);
    // The prototype's payload shape, outbound direction: accepted and ignored.
    let (raw, sig) = signed(
        &signing,
        &json!({"contactId": "ct-9", "locationId": "loc-1", "webhookId": "wh-3",
        "message": {"type": "SMS", "body": "agent text", "direction": "outbound"}, "contact": {"firstName": "Ana", "tags": ["Hit List"]}}),
    );
    let r = http
        .post(&url)
        .header("x-ghl-signature", &sig)
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap()["ignored"],
        "not an inbound message"
    );
    // Malformed JSON with a valid signature.
    let raw = "{not json".to_string();
    let sig =
        base64::engine::general_purpose::STANDARD.encode(signing.sign(raw.as_bytes()).to_bytes());
    let r = http
        .post(&url)
        .header("x-ghl-signature", &sig)
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, StatusCode::BAD_REQUEST);
    server.stop().await;

    // No public key configured: unsigned (and signed) webhooks are refused.
    let server = Server::start(
        &dir.path().join("q2.redb"),
        &SecretKey::generate(),
        config(),
    )
    .await;
    let (raw, sig) = signed(&signing, &event("wh-9", jiff::Timestamp::now()));
    let r = http
        .post(format!("{}/webhooks/ghl", server.base))
        .header("x-ghl-signature", &sig)
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, StatusCode::UNAUTHORIZED);
    server.stop().await;
}

/// A fake GoHighLevel that records calls and can fail on demand.
#[derive(Clone, Default)]
struct FakeGhl {
    calls: Arc<Mutex<Vec<(String, String, Value)>>>,
    fail_next: Arc<AtomicU32>,
    down: Arc<AtomicU32>,
}

async fn fake_handler(
    State(f): State<FakeGhl>,
    method: Method,
    uri: Uri,
    body: axum::body::Bytes,
) -> (StatusCode, String) {
    if f.down.load(Ordering::SeqCst) == 1 {
        return (StatusCode::SERVICE_UNAVAILABLE, "down".into());
    }
    if f.fail_next.load(Ordering::SeqCst) > 0 {
        f.fail_next.fetch_sub(1, Ordering::SeqCst);
        return (StatusCode::INTERNAL_SERVER_ERROR, "oops".into());
    }
    let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
    f.calls
        .lock()
        .unwrap()
        .push((method.to_string(), uri.path().to_string(), v));
    (StatusCode::OK, "{}".into())
}

async fn start_fake() -> (FakeGhl, String) {
    let fake = FakeGhl::default();
    let app = axum::Router::new()
        .fallback(fake_handler)
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (fake, url)
}

async fn wait_for(mut f: impl FnMut() -> bool) {
    for _ in 0..200 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("condition not reached in 5 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_reach_ghl_once_with_retries_and_across_an_outage_and_restart() {
    let (fake, ghl_url) = start_fake().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("q.redb");
    let key = SecretKey::generate();
    let cfg = || Config {
        ghl_base_url: ghl_url.clone(),
        ..config()
    };
    let server = Server::start(&file, &key, cfg()).await;
    let http = reqwest::Client::new();
    // The onboarding token check goes to the configured API.
    host::ghl::check_token(&ghl_url, "ghl-secret", "loc-7")
        .await
        .unwrap();
    fake.calls.lock().unwrap().clear();
    let api = add_tenant(
        &http,
        &server.base,
        json!({"tenant": "loc-7", "tier": "professional", "ghl_token": "ghl-secret"}),
    )
    .await;
    assert_eq!(
        server.engine.accounts().tier(&tid("loc-7")),
        Tier::Professional
    );

    // One message: tags are added with POST (never PUT) and the question is sent once.
    // The first call fails with a 500 and is retried.
    fake.fail_next.store(1, Ordering::SeqCst);
    let r = send(
        &http,
        Method::POST,
        format!("{}/v1/contacts/c1/messages", server.base),
        &api,
        Some(&json!({"text": "hi, looking to buy around 400k", "tags": ["Hit List"]})),
    )
    .await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["queued"], true);
    let expected = v["actions"].as_array().unwrap().len();
    assert_eq!(expected, 2, "{v}"); // add tags + send message
    wait_for(|| fake.calls.lock().unwrap().len() >= expected).await;
    tokio::time::sleep(Duration::from_millis(300)).await; // nothing more arrives
    {
        let calls = fake.calls.lock().unwrap();
        assert_eq!(calls.len(), expected, "{calls:?}");
        assert!(calls.iter().all(|(m, _, _)| m != "PUT"));
        let tags = calls
            .iter()
            .find(|(_, p, _)| p == "/contacts/c1/tags")
            .expect("tags call");
        assert_eq!(tags.0, "POST");
        assert_eq!(tags.2["tags"], json!(["Cold-Lead", "Budget-300k-500k"]));
        let sends: Vec<_> = calls
            .iter()
            .filter(|(_, p, _)| p == "/conversations/messages")
            .collect();
        assert_eq!(sends.len(), 1);
        assert_eq!(sends[0].2["message"], "What area are you interested in?");
        assert_eq!(sends[0].2["contactId"], "c1");
    }
    assert_eq!(server.engine.outbox().len().unwrap(), 0);

    // GHL goes down; two more messages queue their actions; Qualify restarts; GHL comes
    // back: every queued action is delivered exactly once.
    fake.down.store(1, Ordering::SeqCst);
    assert!(host::ghl::check_token(&ghl_url, "ghl-secret", "loc-7")
        .await
        .is_err());
    let before = fake.calls.lock().unwrap().len();
    for text in ["Frisco please", "we are pre-approved"] {
        send(
            &http,
            Method::POST,
            format!("{}/v1/contacts/c1/messages", server.base),
            &api,
            Some(&json!({"text": text})),
        )
        .await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let queued = server.engine.outbox().len().unwrap();
    assert!(queued >= 4, "{queued} queued");
    server.stop().await;

    fake.down.store(0, Ordering::SeqCst);
    let server = Server::start(&file, &key, cfg()).await;
    wait_for(|| server.engine.outbox().len().unwrap() == 0).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let calls = fake.calls.lock().unwrap().clone();
    assert_eq!(
        calls.len() - before,
        queued,
        "each queued action exactly once: {calls:?}"
    );
    // The hand-off went out once, and the removal of the old class tags used DELETE.
    assert_eq!(
        calls
            .iter()
            .filter(|(_, _, b)| b["message"]
                .as_str()
                .is_some_and(|m| m.contains("call you")))
            .count(),
        1
    );
    assert!(calls
        .iter()
        .any(|(m, p, _)| m == "DELETE" && p == "/contacts/c1/tags"));
    server.stop().await;
}
