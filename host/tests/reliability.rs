//! Nothing lost, nothing sent that should not be, over HTTP: delivery fairness, webhook
//! replays across restarts, GHL tag updates, a broken store, readiness, a huge
//! `Retry-After`, dead letters, and errors that never show a server path (issue 9).

#![allow(clippy::unwrap_used)]

mod support;

use axum::http::StatusCode;
use host::Config;
use qualify_engine::{SecretKey, Store};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use support::common::{cid, tid, write};
use support::*;

fn ghl(url: &str) -> Config {
    Config {
        ghl_base_url: url.to_string(),
        ..config()
    }
}

/// Item 3: one tenant's hanging GHL endpoint does not hold back another's delivery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_tenants_hanging_endpoint_does_not_hold_back_the_others() {
    let (fake, url) = start_fake().await;
    *fake.hold.lock().unwrap() = Some("token-a".into());
    let (_dir, server, api) = fresh(ghl(&url)).await;
    let a = api
        .add_tenant(json!({"tenant": "team-a", "ghl_token": "token-a"}))
        .await;
    let b = api
        .add_tenant(json!({"tenant": "team-b", "ghl_token": "token-b"}))
        .await;
    let msg = json!({"text": "buying in Plano", "tags": ["Hit List"]});
    api.post("/v1/contacts/c1/messages", &a, msg.clone()).await;
    api.post("/v1/contacts/c1/messages", &b, msg).await;
    wait_for(|| fake.tokens.lock().unwrap().iter().any(|t| t == "token-b")).await;
    assert!(
        !fake.tokens.lock().unwrap().iter().any(|t| t == "token-a"),
        "team-a's endpoint is still blocked"
    );
    fake.release.notify_waiters();
    *fake.hold.lock().unwrap() = None;
    fake.release.notify_waiters();
    wait_for(|| server.engine.outbox().is_empty().unwrap()).await;
    server.stop().await;
}

/// Item 8: a delivery is remembered in the store: after a restart GHL's retry still gets
/// the first result and nothing is ingested twice; a different body under a seen id is
/// refused; a message webhook without a timestamp is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_ids_are_remembered_across_a_restart() {
    let (signing, cfg) = signing();
    let dir = tempfile::tempdir().unwrap();
    let (file, key) = (dir.path().join("q.redb"), SecretKey::generate());
    let server = Server::start(&file, &key, cfg.clone()).await;
    let api = Api::new(&server);
    api.add_tenant(json!({"tenant": "loc-1"})).await;
    let event = message_event("loc-1", "ct-1", "wh-1", "buying in Plano, around 450k");
    let (raw, sig) = signed(&signing, &event);
    let first: Value = api.webhook(&raw, Some(&sig)).await.json().await.unwrap();
    server.stop().await;

    let server = Server::start(&file, &key, cfg).await;
    let api = Api::new(&server);
    let r = api.webhook(&raw, Some(&sig)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap(), first);
    let c = server.engine.contacts().get(&tid("loc-1"), &cid("ct-1"));
    assert_eq!(c.unwrap().unwrap().history.len(), 1);

    let mut other = event.clone();
    other["body"] = json!("a different message under the same id");
    let (raw, sig) = signed(&signing, &other);
    let r = api.webhook(&raw, Some(&sig)).await;
    assert_eq!(error_of(r).await, (StatusCode::CONFLICT, "replay".into()));

    let mut undated = message_event("loc-1", "ct-1", "wh-2", "hello");
    undated.as_object_mut().unwrap().remove("timestamp");
    let (raw, sig) = signed(&signing, &undated);
    let r = api.webhook(&raw, Some(&sig)).await;
    assert_eq!(error_of(r).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    server.stop().await;
}

/// Items 5, 8 and 20: when the tenant's rules fail, the webhook answers 500 naming the
/// tenant's own file (never a server path) and the message is kept; GHL's retry after the
/// rules are fixed decides it, storing it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_a_failed_decision_decides_again() {
    let (signing, cfg) = signing();
    let broken = "fn score(lead, cfg) { throw \"scorer down\"; }\n";
    let (rules, server, api) = with_rules(cfg, |dir| {
        write(&dir.join("flaky/tenant.yaml"), "name: Flaky\n");
        write(&dir.join("flaky/zz.rhai"), broken);
    })
    .await;
    api.add_tenant(json!({"tenant": "flaky"})).await;
    let event = message_event("flaky", "ct-1", "wh-1", "buying in Plano, around 450k");
    let (raw, sig) = signed(&signing, &event);
    let r = api.webhook(&raw, Some(&sig)).await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let text = r.text().await.unwrap();
    assert!(text.contains("flaky/zz.rhai"), "{text}");
    let server_path = rules.path().to_string_lossy().to_string();
    assert!(!text.contains(&server_path), "a server path leaked: {text}");
    let kept = server.engine.contacts().get(&tid("flaky"), &cid("ct-1"));
    assert!(kept.unwrap().unwrap().undecided);

    std::fs::remove_file(rules.path().join("flaky/zz.rhai")).unwrap();
    server.engine.rules().reload();
    let r = api.webhook(&raw, Some(&sig)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["result"]["decision"]["score"], 2);
    let c = server.engine.contacts().get(&tid("flaky"), &cid("ct-1"));
    let c = c.unwrap().unwrap();
    assert!(!c.undecided);
    assert_eq!(c.history.len(), 1, "stored once");
    server.stop().await;
}

/// Item 10: GHL's contact tag update (signed, no timestamp) turns automation on for a
/// contact who wrote before (the next question is queued) and off again (its follow-up
/// is unscheduled).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ghl_tag_updates_turn_automation_on_and_off() {
    let (signing, cfg) = signing();
    let (_dir, server, api) = fresh(cfg).await;
    api.add_tenant(json!({"tenant": "loc-1"})).await;
    let (raw, sig) = signed(
        &signing,
        &message_event("loc-1", "ct-1", "wh-1", "buying in Plano, around 450k"),
    );
    let v: Value = api.webhook(&raw, Some(&sig)).await.json().await.unwrap();
    assert_eq!(
        v["result"]["decision"]["active"], false,
        "no activation tag yet"
    );
    let tags = |tags: Value| json!({"type": "ContactTagUpdate", "locationId": "loc-1", "id": "ct-1", "name": "Ana", "tags": tags});
    let (raw, sig) = signed(&signing, &tags(json!(["Hit List"])));
    let r = api.webhook(&raw, Some(&sig)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["decision"]["active"], true, "{v}");
    assert_eq!(v["decision"]["question"]["id"], "timeline");
    let c = server.engine.contacts().get(&tid("loc-1"), &cid("ct-1"));
    let c = c.unwrap().unwrap();
    assert!(c.tags.iter().any(|t| t == "Hit List"), "{:?}", c.tags);
    assert!(c.followup.due_ms.is_some(), "follow-ups scheduled");

    let (raw, sig) = signed(&signing, &tags(json!(["Hit List", "AI-Off"])));
    assert_eq!(api.webhook(&raw, Some(&sig)).await.status(), StatusCode::OK);
    let c = server.engine.contacts().get(&tid("loc-1"), &cid("ct-1"));
    assert!(
        c.unwrap().unwrap().followup.due_ms.is_none(),
        "follow-ups off"
    );
    // Unsigned: refused like any webhook.
    let r = api.webhook(&raw, None).await;
    assert_eq!(error_of(r).await.0, StatusCode::UNAUTHORIZED);
    server.stop().await;
}

/// A storage backend whose writes start failing on demand (a disk gone bad).
#[derive(Debug)]
struct FailingDisk {
    inner: redb::backends::InMemoryBackend,
    failing: Arc<AtomicBool>,
}

impl redb::StorageBackend for FailingDisk {
    fn len(&self) -> Result<u64, std::io::Error> {
        self.inner.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        self.inner.read(offset, out)
    }
    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        self.inner.set_len(len)
    }
    fn sync_data(&self) -> Result<(), std::io::Error> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(std::io::Error::other("disk gone"));
        }
        self.inner.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(std::io::Error::other("disk gone"));
        }
        self.inner.write(offset, data)
    }
}

/// Items 12 and 13: after an I/O error the store is unusable; readiness does a real read
/// and says so (booleans and counts only, no tenant ids), and the server stops with an
/// error so a supervisor restarts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_store_fails_readiness_and_stops_the_server() {
    let failing = Arc::new(AtomicBool::new(false));
    let disk = FailingDisk {
        inner: redb::backends::InMemoryBackend::new(),
        failing: failing.clone(),
    };
    let store = Store::with_backend(disk, SecretKey::generate()).unwrap();
    let server = Server::start_with(store, config()).await;
    let api = Api::new(&server);
    let key = api
        .add_tenant(json!({"tenant": "secret-tenant-name"}))
        .await;
    let ready = api
        .http
        .get(format!("{}/readyz", api.base))
        .send()
        .await
        .unwrap();
    let text = ready.text().await.unwrap();
    assert!(
        !text.contains("secret-tenant-name") && !text.contains("default"),
        "{text}"
    );
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (v["ready"].as_bool(), v["rules_loaded"].as_u64()),
        (Some(true), Some(2))
    );

    failing.store(true, Ordering::SeqCst);
    let msg = json!({"text": "buying", "tags": ["Hit List"]});
    let r = api
        .http
        .post(format!("{}/v1/contacts/c1/messages", api.base))
        .bearer_auth(&key)
        .json(&msg)
        .send()
        .await;
    // A 503, or the connection closed as the server stops: never a success.
    assert!(r.is_err() || r.unwrap().status().is_server_error());
    let result = server.finished().await;
    let err = result.expect_err("serve returns the store's error");
    assert!(err.to_string().contains("store unusable"), "{err}");
}

/// Item 17: a huge `Retry-After` is clamped (an hour at most), never an overflow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_retry_after_is_clamped() {
    let (fake, url) = start_fake().await;
    *fake.retry_after.lock().unwrap() = Some("99999999999999999999999999".into());
    let (_dir, server, api) = fresh(ghl(&url)).await;
    let key = api
        .add_tenant(json!({"tenant": "team-a", "ghl_token": "t"}))
        .await;
    let msg = json!({"text": "buying in Plano", "tags": ["Hit List"]});
    api.post("/v1/contacts/c1/messages", &key, msg).await;
    let retried = || {
        let queued = server.engine.outbox().queued(None).unwrap();
        !queued.is_empty() && queued.iter().all(|a| a.attempts == 1)
    };
    wait_for(retried).await;
    let latest = jiff::Timestamp::now().as_millisecond() as u64 + 3_600_000;
    for a in server.engine.outbox().queued(None).unwrap() {
        assert!(a.due_ms <= latest, "retried within the hour: {a:?}");
    }
    let r = api.post("/v1/score", &key, json!({})).await;
    assert_eq!(r.status(), StatusCode::OK, "the server is still fine");
    server.stop().await;
}

/// Item 1: an action that keeps failing lands in the dead letters, listed by the admin
/// route (tenant keys refused).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_actions_are_listed_as_dead_letters() {
    let (fake, url) = start_fake().await;
    fake.fail_next.store(1000, Ordering::SeqCst);
    let (_rules, server, api) = with_rules(ghl(&url), |dir| {
        write(
            &dir.join("team-a/tenant.yaml"),
            "outbox:\n  max_attempts: 2\n",
        );
    })
    .await;
    let key = api
        .add_tenant(json!({"tenant": "team-a", "ghl_token": "t"}))
        .await;
    let msg = json!({"text": "buying in Plano", "tags": ["Hit List"]});
    api.post("/v1/contacts/c1/messages", &key, msg).await;
    wait_for(|| server.engine.outbox().is_empty().unwrap()).await;
    let r = api.get("/admin/outbox/failed", ADMIN).await;
    assert_eq!(r.status(), StatusCode::OK);
    let dead: Vec<Value> = r.json().await.unwrap();
    assert_eq!(dead.len(), 2, "{dead:?}"); // the tags and the question
    assert!(dead.iter().all(|a| a["attempts"] == 2
        && a["last_error"]
            .as_str()
            .unwrap()
            .starts_with("gave up after 2 attempts")));
    let r = api.get("/admin/outbox/failed?tenant=team-a", &key).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    server.stop().await;
}

/// Item 9: a key whose tenant part names another tenant is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_with_another_tenants_prefix_is_refused() {
    let (_dir, server, api) = fresh(config()).await;
    let key = api.add_tenant(json!({"tenant": "team-a"})).await;
    api.add_tenant(json!({"tenant": "team-b"})).await;
    let forged = key.replacen("qfy_team-a.", "qfy_team-b.", 1);
    let r = api.post("/v1/score", &forged, json!({})).await;
    assert_eq!(error_of(r).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        api.post("/v1/score", &key, json!({})).await.status(),
        StatusCode::OK
    );
    server.stop().await;
}
