//! A light tenant's batch is decided on rayon's pool, which every tenant's batches share.
//! When its leads turn slow (a script slow only for some leads), the rest of them must
//! not hold the pool's threads: another tenant's batch sent meanwhile is answered while
//! the slow leads are still being decided. One test in this binary: the counters it reads
//! are the process's.

#![allow(clippy::unwrap_used)]

mod support;

use axum::http::StatusCode;
use host::Config;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batchs_slow_leads_leave_the_shared_pool_to_other_tenants() {
    // As many slow batches at once as the shared pool has threads (rayon's default).
    let pool = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cfg = Config {
        rate_limit: false,
        tenant_concurrency: pool + 1,
        ..config()
    };
    let (_dir, server, api, sly) = with_sly_tenant(cfg).await;
    let other = api
        .add_tenant(json!({"tenant": "other", "tier": "enterprise"}))
        .await;
    // Both light so far (the sly one's batches go to the shared pool), their rule sets
    // compiled.
    for key in [&sly, &other] {
        let r = api.post("/v1/score", key, json!({})).await;
        assert_eq!(r.status(), StatusCode::OK);
    }

    // Each batch: a cheap first lead, then many that spin to the operation limit.
    let mut leads = vec![json!({})];
    leads.extend((0..999).map(|_| json!({"facts": {"slow": true}})));
    let slow: Vec<_> = (0..pool)
        .map(|_| {
            let (api, sly, leads) = (api.clone(), sly.clone(), leads.clone());
            tokio::spawn(async move {
                let r = api
                    .post("/v1/score/batch", &sly, json!({ "leads": leads }))
                    .await;
                let status = r.status();
                let body: Value = r.json().await.unwrap();
                (status, body["decisions"].as_array().map_or(0, Vec::len))
            })
        })
        .collect();
    // Every slow batch has found its slow leads and left the rest of them to decide, or
    // (the tenant weighed heavy by the first one's slow leads before another reached the
    // server) went to the low-priority pool: either way none is left to hold the pool.
    let waiting = Instant::now();
    let off = || async {
        counter(&api.base, "qualify_batches_off_shared_pool_total").await
            + counter(&api.base, "qualify_low_priority_decisions_total").await
    };
    while off().await < pool as f64 {
        assert!(
            waiting.elapsed() < Duration::from_secs(60),
            "the slow batches never found their slow leads"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let cheap: Vec<Value> = (0..20)
        .map(|i| json!({"tags": ["Hit List"], "facts": {"budget": 100_000 * i}}))
        .collect();
    let r = api
        .post("/v1/score/batch", &other, json!({ "leads": cheap }))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["decisions"].as_array().unwrap().len(), 20, "{body}");
    let unfinished = slow.iter().filter(|h| !h.is_finished()).count();
    assert_eq!(
        unfinished, pool,
        "another tenant's batch waited for a slow batch's leads to be decided"
    );
    // A slow batch is answered in full, or (on a machine busy enough that its slow leads,
    // at low priority, outlast the request timeout) with 503: it slows only itself.
    for h in slow {
        match h.await.unwrap() {
            (StatusCode::OK, decided) => assert_eq!(decided, 1000),
            (status, _) => assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE),
        }
    }
    server.stop().await;
}
