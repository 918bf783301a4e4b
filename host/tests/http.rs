//! The HTTP server end to end: a real server on port 0, a real HTTP client, and a fake
//! GoHighLevel on loopback that records every call.

#![allow(clippy::unwrap_used)]

mod support;

use axum::http::StatusCode;
use base64::Engine as _;
use ed25519_dalek::{Signer, SigningKey};
use host::Config;
use qualify_engine::model::Tier;
use qualify_engine::SecretKey;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::time::Duration;
use support::common::{cid, tid};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scoring_and_a_conversation_through_messages() {
    let (_dir, server, api) = fresh(config()).await;
    let key = api
        .add_tenant(json!({"tenant": "team-a", "tier": "enterprise"}))
        .await;

    // Stateless scoring: same output as `qualify score`.
    let lead = json!({"tags": ["Hit List"], "facts": {"budget": 450000, "location": "Plano"}});
    let r = api.post("/v1/score", &key, lead).await;
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
    let mut classes = Vec::new();
    for (i, text) in [
        "Hi, we want to buy",
        "around 450k",
        "in Frisco",
        "asap please",
    ]
    .iter()
    .enumerate()
    {
        let mut body = json!({"text": text});
        if i == 0 {
            body["tags"] = json!(["Hit List"]);
        }
        let r = api.post("/v1/contacts/lead-1/messages", &key, body).await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        classes.push(v["decision"]["class"].as_str().unwrap().to_string());
        assert_eq!(
            v["queued"], false,
            "no GHL token: actions are returned, not queued"
        );
    }
    assert_eq!(classes, ["cold", "cold", "warm", "hot"]);
    let c: Value = api
        .get("/v1/contacts/lead-1", &key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(c["facts"]["location"], "Frisco");
    let export: Value = api
        .get("/v1/contacts/lead-1/export", &key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(export["contact"]["id"], "lead-1");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_never_see_each_other() {
    let (_dir, server, api) = fresh(config()).await;
    let key_a = api.add_tenant(json!({"tenant": "team-a"})).await;
    let key_b = api.add_tenant(json!({"tenant": "team-b"})).await;
    let msg = json!({"text": "buying in Frisco", "tags": ["Hit List"]});
    let r = api.post("/v1/contacts/lead-1/messages", &key_a, msg).await;
    assert_eq!(r.status(), StatusCode::OK);

    // Tenant B's key on tenant A's contact: not found, nothing leaked, nothing erased.
    for r in [
        api.get("/v1/contacts/lead-1", &key_b).await,
        api.get("/v1/contacts/lead-1/export", &key_b).await,
        api.delete("/v1/contacts/lead-1", &key_b).await,
    ] {
        let status = r.status();
        let text = r.text().await.unwrap();
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(!text.contains("Frisco"), "{text}");
    }
    // A tenant key on the admin API.
    let r = api.get("/admin/tenants", &key_a).await;
    assert_eq!(
        error_of(r).await,
        (StatusCode::FORBIDDEN, "forbidden".into())
    );
    // The owner erases it.
    assert_eq!(
        api.delete("/v1/contacts/lead-1", &key_a).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        api.get("/v1/contacts/lead-1", &key_a).await.status(),
        StatusCode::NOT_FOUND
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_has_its_status_and_shape() {
    let (_dir, server, api) = fresh(config()).await;
    let key = api
        .add_tenant(json!({"tenant": "team-a", "tier": "enterprise"}))
        .await;
    let score = format!("{}/v1/score", api.base);
    let r = api.http.post(&score).json(&json!({})).send().await.unwrap();
    assert_eq!(
        error_of(r).await,
        (StatusCode::UNAUTHORIZED, "unauthorized".into())
    );
    let r = api.post("/v1/score", "qfy_team-a.0000", json!({})).await;
    assert_eq!(error_of(r).await.0, StatusCode::UNAUTHORIZED);
    let r = api
        .http
        .post(&score)
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body("{\"facts\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(r).await,
        (StatusCode::BAD_REQUEST, "malformed_json".into())
    );
    let r = api
        .post("/v1/score", &key, json!({"tags": "Hit List"}))
        .await;
    assert_eq!(
        error_of(r).await,
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid".into())
    );
    let huge = json!({"facts": {"note": "x".repeat(70 * 1024)}});
    let r = api.post("/v1/score", &key, huge).await;
    assert_eq!(
        error_of(r).await,
        (StatusCode::PAYLOAD_TOO_LARGE, "too_large".into())
    );
    let long = json!({"text": "y".repeat(11 * 1024)});
    let r = api.post("/v1/contacts/c/messages", &key, long).await;
    assert_eq!(
        error_of(r).await,
        (StatusCode::PAYLOAD_TOO_LARGE, "too_large".into())
    );
    let r = api
        .post("/v1/contacts/bad.id/messages", &key, json!({"text": "hi"}))
        .await;
    assert_eq!(
        error_of(r).await,
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid".into())
    );
    let r = api
        .http
        .get(format!("{}/nope", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, StatusCode::NOT_FOUND);
    let r = api
        .post("/admin/tenants", ADMIN, json!({"tenant": "team-a"}))
        .await;
    assert_eq!(error_of(r).await.0, StatusCode::CONFLICT);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_by_tier_with_retry_after() {
    let (_dir, server, api) = fresh(config()).await;
    let key_a = api
        .add_tenant(json!({"tenant": "team-a", "tier": "enterprise"}))
        .await;
    let key_b = api.add_tenant(json!({"tenant": "team-b"})).await;
    // Starter is burst 10, 60/min: the 11th quick request is refused with Retry-After,
    // and a request after that wait succeeds.
    let mut limited = None;
    for _ in 0..12 {
        let r = api.post("/v1/score", &key_b, json!({})).await;
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
    let r = api.post("/v1/score", &key_a, json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let r = api.post("/v1/score", &key_b, json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness() {
    let (_dir, server, api) = fresh(config()).await;
    let r = api
        .http
        .get(format!("{}/healthz", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = api
        .http
        .get(format!("{}/readyz", api.base))
        .send()
        .await
        .unwrap();
    let ready: Value = r.json().await.unwrap();
    assert_eq!(ready["ready"], true);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_webhooks_are_ingested_once_and_bad_ones_refused() {
    let signing = SigningKey::from_bytes(&[7u8; 32]);
    let cfg = Config {
        webhook_key: Some(signing.verifying_key()),
        ..config()
    };
    let (_dir, server, api) = fresh(cfg).await;
    api.add_tenant(json!({"tenant": "loc-1"})).await;
    let now = jiff::Timestamp::now();

    let (raw, sig) = signed(&signing, &inbound_event("wh-1", now));
    let r = api.webhook(&raw, Some(&sig)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["result"]["decision"]["score"], 2);
    let stored = server.engine.contacts().get(&tid("loc-1"), &cid("ct-9"));
    assert!(stored.unwrap().is_some());

    // The same delivery again (GHL retrying): the first result, nothing ingested twice.
    let r = api.webhook(&raw, Some(&sig)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap(), v);
    let c = server.engine.contacts().get(&tid("loc-1"), &cid("ct-9"));
    assert_eq!(
        c.unwrap().unwrap().history.len(),
        1,
        "the message is stored once"
    );
    // A bad signature (the body changed), a missing one, a stale timestamp.
    let r = api.webhook(&raw.replace("450k", "950k"), Some(&sig)).await;
    assert_eq!(error_of(r).await.0, StatusCode::UNAUTHORIZED);
    let r = api.webhook(&raw, None).await;
    assert_eq!(error_of(r).await.0, StatusCode::UNAUTHORIZED);
    let stale = now - jiff::SignedDuration::from_mins(10);
    let (raw, sig) = signed(&signing, &inbound_event("wh-2", stale));
    let r = api.webhook(&raw, Some(&sig)).await;
    assert_eq!(error_of(r).await.0, StatusCode::UNAUTHORIZED);
    // The prototype's payload shape, outbound direction: accepted and ignored.
    let (raw, sig) = signed(
        &signing,
        &json!({"contactId": "ct-9", "locationId": "loc-1", "webhookId": "wh-3", "timestamp": now.to_string(),
        "message": {"type": "SMS", "body": "agent text", "direction": "outbound"}, "contact": {"firstName": "Ana", "tags": ["Hit List"]}}),
    );
    let r = api.webhook(&raw, Some(&sig)).await;
    assert_eq!(
        r.json::<Value>().await.unwrap()["ignored"],
        "not an inbound message"
    );
    // Malformed JSON with a valid signature.
    let raw = "{not json";
    let sig =
        base64::engine::general_purpose::STANDARD.encode(signing.sign(raw.as_bytes()).to_bytes());
    let r = api.webhook(raw, Some(&sig)).await;
    assert_eq!(error_of(r).await.0, StatusCode::BAD_REQUEST);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_public_key_every_webhook_is_refused() {
    let signing = SigningKey::from_bytes(&[7u8; 32]);
    let (_dir, server, api) = fresh(config()).await;
    let (raw, sig) = signed(&signing, &inbound_event("wh-9", jiff::Timestamp::now()));
    let r = api.webhook(&raw, Some(&sig)).await;
    assert_eq!(error_of(r).await.0, StatusCode::UNAUTHORIZED);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_reach_ghl_once_with_a_retry() {
    let (fake, ghl_url) = start_fake().await;
    let cfg = Config {
        ghl_base_url: ghl_url.clone(),
        ..config()
    };
    let (_dir, server, api) = fresh(cfg).await;
    // The onboarding token check goes to the configured API.
    host::ghl::check_token(&ghl_url, "ghl-secret", "loc-7")
        .await
        .unwrap();
    fake.calls.lock().unwrap().clear();
    let key = api
        .add_tenant(json!({"tenant": "loc-7", "tier": "professional", "ghl_token": "ghl-secret"}))
        .await;
    assert_eq!(
        server.engine.accounts().tier(&tid("loc-7")),
        Tier::Professional
    );

    // One message: tags are added with POST (never PUT) and the question is sent once.
    // The first call fails with a 500 and is retried.
    fake.fail_next.store(1, Ordering::SeqCst);
    let msg = json!({"text": "hi, looking to buy around 400k", "tags": ["Hit List"]});
    let v: Value = api
        .post("/v1/contacts/c1/messages", &key, msg)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["queued"], true);
    let expected = v["actions"].as_array().unwrap().len();
    assert_eq!(expected, 2, "{v}"); // add tags + send message
    wait_for(|| calls(&fake).len() >= expected).await;
    tokio::time::sleep(Duration::from_millis(300)).await; // nothing more arrives
    let calls = calls(&fake);
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
    assert_eq!(server.engine.outbox().len().unwrap(), 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_actions_survive_an_outage_and_a_restart_and_go_out_once() {
    let (fake, ghl_url) = start_fake().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("q.redb");
    let key = SecretKey::generate();
    let cfg = || Config {
        ghl_base_url: ghl_url.clone(),
        ..config()
    };
    let server = Server::start(&file, &key, cfg()).await;
    let api = Api::new(&server);
    let token = json!({"tenant": "loc-7", "ghl_token": "ghl-secret"});
    let api_key = api.add_tenant(token).await;
    let first = json!({"text": "hi, looking to buy around 400k", "tags": ["Hit List"]});
    api.post("/v1/contacts/c1/messages", &api_key, first).await;
    wait_for(|| server.engine.outbox().len().unwrap() == 0).await;

    // GHL goes down; two more messages queue their actions; Qualify restarts; GHL comes
    // back: every queued action is delivered exactly once.
    fake.down.store(1, Ordering::SeqCst);
    assert!(host::ghl::check_token(&ghl_url, "ghl-secret", "loc-7")
        .await
        .is_err());
    let before = calls(&fake).len();
    for text in ["Frisco please", "we are pre-approved"] {
        let msg = json!({"text": text});
        api.post("/v1/contacts/c1/messages", &api_key, msg).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let queued = server.engine.outbox().len().unwrap();
    assert!(queued >= 4, "{queued} queued");
    server.stop().await;

    fake.down.store(0, Ordering::SeqCst);
    let server = Server::start(&file, &key, cfg()).await;
    wait_for(|| server.engine.outbox().len().unwrap() == 0).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let calls = calls(&fake);
    assert_eq!(
        calls.len() - before,
        queued,
        "each queued action exactly once: {calls:?}"
    );
    // The hand-off went out once, and the removal of the old class tags used DELETE.
    let handoffs = calls.iter().filter(|(_, _, b)| {
        b["message"]
            .as_str()
            .is_some_and(|m| m.contains("call you"))
    });
    assert_eq!(handoffs.count(), 1);
    assert!(calls
        .iter()
        .any(|(m, p, _)| m == "DELETE" && p == "/contacts/c1/tags"));
    server.stop().await;
}

/// Issue 10: a batch of leads in one request, decided in order; `?explain=false`; over
/// 1,000 leads refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_scoring_in_order_with_its_own_limits() {
    let (_dir, server, api) = fresh(config()).await;
    let key = api
        .add_tenant(json!({"tenant": "team-a", "tier": "enterprise"}))
        .await;
    let leads: Vec<Value> = (0..900)
        .map(|i| {
            let note = "a note the rules do not read ".repeat(2);
            if i % 3 == 0 {
                json!({"tags": ["Hit List"], "facts": {"budget": 450000, "location": "Plano", "note": note}})
            } else {
                json!({"tags": ["Hit List"], "facts": {"budget": 450000, "note": note}})
            }
        })
        .collect();
    let body = json!({"leads": leads});
    assert!(
        body.to_string().len() > 64 * 1024,
        "bigger than a single request may be"
    );
    let r = api.post("/v1/score/batch?explain=false", &key, body).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    let decisions = v["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 900);
    for (i, d) in decisions.iter().enumerate() {
        assert_eq!(d["score"], if i % 3 == 0 { 2 } else { 1 }, "{i}");
        assert_eq!(d["explain"]["class_rule"], "");
    }
    let too_many = json!({"leads": vec![json!({}); 1001]});
    let r = api.post("/v1/score/batch", &key, too_many).await;
    assert_eq!(error_of(r).await.0, StatusCode::PAYLOAD_TOO_LARGE);
    let r = api.post("/v1/score?explain=false", &key, json!({})).await;
    let d: Value = r.json().await.unwrap();
    assert_eq!(d["explain"]["gate"], "");
    server.stop().await;
}

/// A key stops working the moment it is rotated away or its tenant removed: nothing on
/// the request path remembers an accepted key (authentication hashes the key and looks
/// the hash up in the registry the admin call has already refreshed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_and_removed_keys_stop_at_once() {
    let (_dir, server, api) = fresh(config()).await;
    let old = api
        .add_tenant(json!({"tenant": "team-a", "tier": "enterprise"}))
        .await;
    for _ in 0..3 {
        let r = api.post("/v1/score", &old, json!({})).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = api
        .post("/admin/tenants/team-a/rotate-key", ADMIN, json!({}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let rotated: Value = r.json().await.unwrap();
    let new = rotated["api_key"].as_str().unwrap().to_string();
    let r = api.post("/v1/score", &old, json!({})).await;
    assert_eq!(error_of(r).await.0, StatusCode::UNAUTHORIZED);
    let r = api.post("/v1/score", &new, json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = api.delete("/admin/tenants/team-a", ADMIN).await;
    assert_eq!(r.status(), StatusCode::OK);
    for key in [&old, &new] {
        let r = api.post("/v1/score", key, json!({})).await;
        assert_eq!(error_of(r).await.0, StatusCode::UNAUTHORIZED);
    }
    server.stop().await;
}

/// A batch answers each lead exactly as `POST /v1/score` does (the batch is written
/// straight to bytes, the single answer too), an undecidable lead as its error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_answers_match_single_answers() {
    let (_dir, server, api) = fresh(config()).await;
    let key = api
        .add_tenant(json!({"tenant": "team-a", "tier": "enterprise"}))
        .await;
    let leads = [
        json!({}),
        json!({"tags": ["Hit List"], "messages": [{"from": "lead", "text": "We want to buy a 3 bed in Plano, around 450k, pre-approved"}]}),
        json!({"tags": ["Hit List"], "facts": {"budget": 450000, "location": "Plano", "note": "a \"quoted\" note\n"}}),
    ];
    let r = api
        .post("/v1/score/batch", &key, json!({"leads": leads}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/json");
    let batch: Value = r.json().await.unwrap();
    let decisions = batch["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), leads.len());
    for (lead, in_batch) in leads.iter().zip(decisions) {
        let r = api.post("/v1/score", &key, lead.clone()).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-type"], "application/json");
        let single: Value = r.json().await.unwrap();
        assert_eq!(&single, in_batch);
    }
    server.stop().await;
}
