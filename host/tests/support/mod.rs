//! What the HTTP tests share: a real server on port 0 over a real store, a small client,
//! signed webhooks, and a fake GoHighLevel on loopback that records every call and can
//! fail, hang or throttle on demand.

#![allow(dead_code)] // each test binary uses a part

use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use base64::Engine as _;
use ed25519_dalek::{Signer, SigningKey};
use host::{AppState, Config};
use qualify_engine::{Engine, SecretKey, Store};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[path = "../../../engine/tests/common/mod.rs"]
pub mod common;

pub const ADMIN: &str = "admin-secret-for-tests";

pub struct Server {
    pub base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    pub engine: Engine,
}

impl Server {
    pub async fn start(file: &Path, key: &SecretKey, config: Config) -> Self {
        // A server just stopped may still be letting go of the file (its last connection
        // tasks end after `serve` returns); a new process would not see this.
        let mut tries = 0;
        let store = loop {
            match Store::open(file, key.clone()) {
                Err(e) if tries < 100 && e.to_string().contains("already open") => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                other => break other.unwrap(),
            }
        };
        Self::start_with(store, config).await
    }

    pub async fn start_with(store: Store, config: Config) -> Self {
        Self::start_full(store, &common::shipped_rules(), config).await
    }

    /// A server over `store` and the rules folder `rules`.
    pub async fn start_full(store: Store, rules: &Path, config: Config) -> Self {
        let engine = Engine::builder()
            .rules_dir(rules)
            .store(store)
            .build()
            .unwrap();
        Self::start_engine(engine, config).await
    }

    /// A server over an engine built by the test (e.g. with a clock it moves).
    pub async fn start_engine(engine: Engine, config: Config) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let state = AppState::new(engine.clone(), config);
        let task = tokio::spawn(async move {
            host::serve(listener, state, async {
                let _ = rx.await;
            })
            .await
        });
        Self {
            base,
            stop: Some(tx),
            task: Some(task),
            engine,
        }
    }

    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap().unwrap();
    }

    /// Waits (at most 5 s) for the server to stop on its own; what `serve` returned.
    pub async fn finished(mut self) -> std::io::Result<()> {
        let task = self.task.take().unwrap();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the server stopped on its own")
            .unwrap()
    }
}

pub fn config() -> Config {
    Config {
        admin_key_hash: Some(host::server::hash_admin_key(ADMIN)),
        tick: Duration::from_millis(50),
        retry_base: Duration::from_millis(50),
        ..Config::default()
    }
}

/// A test's view of a running server: requests with a bearer key and a JSON body.
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
}

impl Api {
    pub fn new(server: &Server) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: server.base.clone(),
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        key: &str,
        body: Option<&Value>,
    ) -> reqwest::Response {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(key);
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send().await.unwrap()
    }

    pub async fn get(&self, path: &str, key: &str) -> reqwest::Response {
        self.call(Method::GET, path, key, None).await
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> reqwest::Response {
        self.call(Method::POST, path, key, Some(&body)).await
    }

    pub async fn delete(&self, path: &str, key: &str) -> reqwest::Response {
        self.call(Method::DELETE, path, key, None).await
    }

    /// Registers a tenant through the admin API; its API key.
    pub async fn add_tenant(&self, body: Value) -> String {
        let r = self.post("/admin/tenants", ADMIN, body).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let v: Value = r.json().await.unwrap();
        v["api_key"].as_str().unwrap().to_string()
    }
}

/// A server on a fresh store in a temporary folder.
pub async fn fresh(config: Config) -> (tempfile::TempDir, Server, Api) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("q.redb"), &SecretKey::generate(), config).await;
    let api = Api::new(&server);
    (dir, server, api)
}

pub async fn error_of(r: reqwest::Response) -> (StatusCode, String) {
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    (status, v["error"]["type"].as_str().unwrap().to_string())
}

pub fn signed(key: &SigningKey, body: &Value) -> (String, String) {
    let raw = body.to_string();
    let sig = base64::engine::general_purpose::STANDARD.encode(key.sign(raw.as_bytes()).to_bytes());
    (raw, sig)
}

/// A GHL InboundMessage webhook with its `webhookId` and send time.
pub fn inbound_event(id: &str, ts: jiff::Timestamp) -> Value {
    json!({
        "type": "InboundMessage", "locationId": "loc-1", "contactId": "ct-9", "conversationId": "cv-1",
        "body": "We want to buy in Plano, budget 450k", "messageType": "SMS", "direction": "inbound",
        "dateAdded": ts.to_string(), "messageId": "m-1", "webhookId": id, "timestamp": ts.to_string()
    })
}

impl Api {
    /// Posts a raw webhook body, with a signature header when one is given.
    pub async fn webhook(&self, raw: &str, sig: Option<&str>) -> reqwest::Response {
        let mut req = self
            .http
            .post(format!("{}/webhooks/ghl", self.base))
            .header("content-type", "application/json")
            .body(raw.to_string());
        if let Some(sig) = sig {
            req = req.header("x-ghl-signature", sig);
        }
        req.send().await.unwrap()
    }
}

/// A fake GoHighLevel that records calls and can fail on demand.
#[derive(Clone, Default)]
pub struct FakeGhl {
    /// (method, path, body, bearer token) of every call answered 200, in order.
    pub calls: Arc<Mutex<Vec<(String, String, Value)>>>,
    pub tokens: Arc<Mutex<Vec<String>>>,
    pub fail_next: Arc<AtomicU32>,
    pub down: Arc<AtomicU32>,
    /// Calls with this bearer token hang until `release` is notified.
    pub hold: Arc<Mutex<Option<String>>>,
    pub release: Arc<tokio::sync::Notify>,
    /// When set, every call is answered 429 with this `Retry-After`.
    pub retry_after: Arc<Mutex<Option<String>>>,
}

pub async fn fake_handler(
    State(f): State<FakeGhl>,
    method: Method,
    uri: Uri,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim_start_matches("Bearer ")
        .to_string();
    let held = f.hold.lock().unwrap().clone();
    if held.as_deref() == Some(token.as_str()) {
        f.release.notified().await;
    }
    if let Some(wait) = f.retry_after.lock().unwrap().clone() {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", wait)],
            "slow down",
        )
            .into_response();
    }
    if f.down.load(Ordering::SeqCst) == 1 {
        return (StatusCode::SERVICE_UNAVAILABLE, "down").into_response();
    }
    if f.fail_next.load(Ordering::SeqCst) > 0 {
        f.fail_next.fetch_sub(1, Ordering::SeqCst);
        return (StatusCode::INTERNAL_SERVER_ERROR, "oops").into_response();
    }
    let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
    f.calls
        .lock()
        .unwrap()
        .push((method.to_string(), uri.path().to_string(), v));
    f.tokens.lock().unwrap().push(token);
    (StatusCode::OK, "{}").into_response()
}

pub async fn start_fake() -> (FakeGhl, String) {
    let fake = FakeGhl::default();
    let app = axum::Router::new()
        .fallback(fake_handler)
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (fake, url)
}

pub async fn wait_for(mut f: impl FnMut() -> bool) {
    for _ in 0..200 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("condition not reached in 5 s");
}

/// The GHL calls recorded so far, in order.
pub fn calls(fake: &FakeGhl) -> Vec<(String, String, Value)> {
    fake.calls.lock().unwrap().clone()
}

/// A signed GHL InboundMessage from `contact` of `location`, sent now.
pub fn message_event(location: &str, contact: &str, id: &str, text: &str) -> Value {
    let now = jiff::Timestamp::now().to_string();
    json!({
        "type": "InboundMessage", "locationId": location, "contactId": contact,
        "body": text, "messageType": "SMS", "direction": "inbound",
        "dateAdded": now, "messageId": format!("m-{id}"), "webhookId": id, "timestamp": now
    })
}

/// The key every signed webhook of the tests is signed with, and a config that verifies it.
pub fn signing() -> (SigningKey, Config) {
    let key = SigningKey::from_bytes(&[7u8; 32]);
    let cfg = Config {
        webhook_key: Some(key.verifying_key()),
        ..config()
    };
    (key, cfg)
}

/// A server over a copy of the shipped rules (edited by `edit`) and a fresh store file.
pub async fn with_rules(
    config: Config,
    edit: impl FnOnce(&Path),
) -> (tempfile::TempDir, Server, Api) {
    let rules = common::rules_copy();
    edit(rules.path());
    let store = Store::open(rules.path().join("q.redb"), SecretKey::generate()).unwrap();
    let server = Server::start_full(store, rules.path(), config).await;
    let api = Api::new(&server);
    (rules, server, api)
}

/// A score hook that spins `n` times first: slow rules.
pub fn slow_score(rules: &Path, n: u64) -> String {
    std::fs::read_to_string(rules.join("default/score.rhai"))
        .unwrap()
        .replace(
            "fn score(lead, cfg) {",
            &format!("fn score(lead, cfg) {{\n    let spin = 0; while spin < {n} {{ spin += 1; }}"),
        )
}

/// A server whose tenant `sly` has a score hook that spins to its operation limit for a
/// lead with the fact `slow: true` and is cheap for any other, and the tenant's API key.
pub async fn with_sly_tenant(config: Config) -> (tempfile::TempDir, Server, Api, String) {
    let (dir, server, api) = with_rules(config, |dir| {
        common::write(
            &dir.join("sly/zz.rhai"),
            "fn score(lead, cfg) {\n\
             \x20   if lead.facts.slow == true { let n = 0; loop { n += 1; } }\n\
             \x20   #{ score: 0, class: \"cold\" }\n\
             }\n",
        );
    })
    .await;
    let sly = api
        .add_tenant(serde_json::json!({"tenant": "sly", "tier": "enterprise"}))
        .await;
    (dir, server, api, sly)
}

/// An unlabelled counter of the server's `/metrics` (0 when it has not counted yet).
pub async fn counter(base: &str, name: &str) -> f64 {
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let prefix = format!("{name} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0)
}
