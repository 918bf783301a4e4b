//! Health, alerts and errors over HTTP with a clock the test moves: a tenant whose rules
//! turn slow goes degraded with the figure that decided it and raises one alert; when
//! the rules are fast again and the slow requests have left the window it is healthy and
//! the alert resolved. Errors are counted by category and kept redacted; tenants see
//! only their own.

#![allow(clippy::unwrap_used)]

mod support;

use qualify_engine::clock::ManualClock;
use qualify_engine::{Engine, SecretKey, Store};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use support::common::{rules_copy, write};
use support::{config, slow_score, Api, Server};

async fn get(api: &Api, path: &str, key: &str) -> Value {
    let r = api.get(path, key).await;
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    r.json().await.unwrap()
}

fn check<'a>(health: &'a Value, name: &str) -> &'a Value {
    health["health"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowness_degrades_health_and_it_recovers_by_itself() {
    let rules = rules_copy();
    let default_score = std::fs::read_to_string(rules.path().join("default/score.rhai")).unwrap();
    write(
        &rules.path().join("team/score.rhai"),
        &slow_score(rules.path(), 300_000),
    );
    let t0: jiff::Timestamp = "2026-03-02T15:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(t0));
    // A wide operation limit, so the slow rules are slow (tens of ms) on a fast moment
    // too, far from the 10 ms threshold (30,000 spins under the default limit measured
    // 9 ms once on a quiet moment, and the test failed).
    let limits = qualify_engine::rules::Limits {
        max_operations: 5_000_000,
        ..Default::default()
    };
    let engine = Engine::builder()
        .limits(limits)
        .rules_dir(rules.path())
        .store(Store::open(rules.path().join("q.redb"), SecretKey::generate()).unwrap())
        .clock(clock.clone())
        .build()
        .unwrap();
    let mut cfg = config();
    cfg.rate_limit = false;
    cfg.monitor.window = Duration::from_secs(60);
    cfg.monitor.min_samples = 5;
    cfg.monitor.p95_warning = Duration::from_millis(10);
    cfg.monitor.p95_critical = Duration::from_secs(30);
    let server = Server::start_engine(engine, cfg).await;
    let api = Api::new(&server);
    let key = api.add_tenant(json!({"tenant": "team"})).await;
    let other = api.add_tenant(json!({"tenant": "other"})).await;
    let lead = json!({"tags": ["Hit List"], "facts": {"budget": 400000}});

    // Too few samples: nothing judged, healthy.
    let h = get(&api, "/v1/health", &key).await;
    assert_eq!(h["health"]["status"], "healthy", "{h}");
    assert_eq!(check(&h, "p95_latency_ms")["figure"], Value::Null);

    for _ in 0..6 {
        assert_eq!(
            api.post("/v1/score", &key, lead.clone()).await.status(),
            StatusCode::OK
        );
    }
    let h = get(&api, "/v1/health", &key).await;
    assert_eq!(h["health"]["status"], "degraded", "{h}");
    let p95 = check(&h, "p95_latency_ms");
    eprintln!("slow p95: {p95}");
    assert_eq!(p95["level"], "warning");
    assert!(p95["figure"].as_f64().unwrap() > 10.0, "{p95}");
    let alerts = get(&api, "/v1/alerts", &key).await;
    let active = alerts["active"].as_array().unwrap();
    assert_eq!(active.len(), 1, "{alerts}");
    assert_eq!(
        (&active[0]["check"], &active[0]["severity"]),
        (&json!("p95_latency_ms"), &json!("warning"))
    );
    // Raised once per episode: asking again raises nothing new.
    let again = get(&api, "/v1/alerts", &key).await;
    assert_eq!(again["active"].as_array().unwrap().len(), 1);
    // Another tenant is not affected and sees nothing of it.
    let theirs = get(&api, "/v1/health", &other).await;
    assert_eq!(theirs["health"]["status"], "healthy");
    assert_eq!(get(&api, "/v1/alerts", &other).await["active"], json!([]));

    // The rules are fast again (reloaded on the next tick) and the slow requests leave
    // the window: healthy, the alert resolved, with no restart.
    write(&rules.path().join("team/score.rhai"), &default_score);
    tokio::time::sleep(Duration::from_millis(400)).await;
    clock.advance_secs(61);
    let mut status = String::new();
    for _ in 0..50 {
        for _ in 0..6 {
            api.post("/v1/score", &key, lead.clone()).await;
        }
        let h = get(&api, "/v1/health", &key).await;
        status = h["health"]["status"].as_str().unwrap().to_string();
        if status == "healthy" {
            break;
        }
        // Still reading the slow version: let the reload land, then look again.
        tokio::time::sleep(Duration::from_millis(100)).await;
        clock.advance_secs(61);
    }
    assert_eq!(status, "healthy");
    let alerts = get(&api, "/v1/alerts", &key).await;
    assert_eq!(alerts["active"], json!([]), "{alerts}");
    assert_eq!(alerts["resolved"][0]["check"], "p95_latency_ms");
    assert!(alerts["resolved"][0]["resolved_at"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_counted_by_category_and_kept_redacted() {
    let (_dir, _server, api) = support::fresh(config()).await;
    let key = api.add_tenant(json!({"tenant": "team"})).await;
    let other = api.add_tenant(json!({"tenant": "other"})).await;
    // Input: an unknown time zone that is really an e-mail address.
    let r = api
        .post(
            "/v1/contacts/c1/messages",
            &key,
            json!({"text": "hi", "timezone": "jo.doe@example.com"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Input: malformed JSON.
    let r = api
        .http
        .post(format!("{}/v1/score", api.base))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let e = get(&api, "/v1/errors", &key).await;
    assert_eq!(e["counts"]["input"], 2, "{e}");
    assert_eq!(e["counts"]["script"], 0);
    let recent = e["recent"].as_array().unwrap();
    assert_eq!(recent.len(), 2);
    assert_eq!(recent[1]["source"], "/v1/contacts/:contact/messages");
    let text = e.to_string();
    assert!(!text.contains("jo.doe@example.com"), "{text}");
    assert!(text.contains("time zone"), "{text}");
    // Another tenant's errors are its own.
    assert_eq!(get(&api, "/v1/errors", &other).await["counts"]["input"], 0);
    // No key: 401, counted for nobody's tenant.
    assert_eq!(
        api.get("/v1/errors", "qfy_team.wrong").await.status(),
        StatusCode::UNAUTHORIZED
    );
}
