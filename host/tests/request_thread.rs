//! Where `/v1/score` decisions are made (issue 11, the lean request path): a tenant whose
//! decisions are cheap has them made on the request's own async thread once it has a
//! record of cheap ones, and one expensive decision sends it back to the blocking pool.
//! Counted by `qualify_request_thread_decisions_total`, which is per process: this file
//! holds one test so no other server shares the count.

#![allow(clippy::unwrap_used)]

mod support;

use axum::http::StatusCode;
use host::Config;
use serde_json::json;
use std::time::Duration;
use support::common::write;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cheap_decisions_move_to_the_request_thread_and_an_expensive_one_sends_them_back() {
    // A bound far above a default decision in a debug build (~0.5 ms) and far below the
    // slow script's (~15 ms of CPU), so the test does not depend on the machine's speed.
    let cfg = Config {
        inline_below: Duration::from_millis(5),
        rate_limit: false,
        ..config()
    };
    let (dir, server, api) = with_rules(cfg, |_| {}).await;
    let key = api
        .add_tenant(json!({"tenant": "team", "tier": "enterprise"}))
        .await;
    let lead = json!({"tags": ["Hit List"], "facts": {"budget": 450000, "location": "Plano"}});
    let score = |n: usize| {
        let (api, key, lead) = (&api, &key, &lead);
        async move {
            let mut classes = Vec::new();
            for _ in 0..n {
                let r = api.post("/v1/score", key, lead.clone()).await;
                let status = r.status();
                let d: serde_json::Value = r.json().await.unwrap();
                assert_eq!(status, StatusCode::OK, "{d}");
                classes.push(d["class"].as_str().unwrap().to_string());
            }
            classes
        }
    };
    // Sixteen cheap decisions on the pool make a record (more when one pays for
    // compiling the rule set or a pool thread's first use of it); the decisions after
    // them are made on the request thread.
    let count = || counter(&server.base, "qualify_request_thread_decisions_total");
    score(16).await;
    assert_eq!(count().await, 0.0);
    let classes = score(24).await;
    assert!(classes.iter().all(|c| c == "warm"), "{classes:?}");
    let before = count().await;
    assert!((1.0..=24.0).contains(&before), "{before}");

    // The tenant's score hook turns expensive (still a valid decision): the first
    // decision after the change runs where a cheap one would, and sends the rest back
    // (to the blocking pool, then, as their average passes 500 µs, to the low-priority
    // pool, where on a busy machine they may run out of time: their statuses vary).
    let slow = slow_score(dir.path(), 0).replace(
        "let spin = 0; while spin < 0 { spin += 1; }",
        "let pad = []; for i in 0..400 { pad.pad(5000, 0); pad.clear(); }",
    );
    assert!(slow.contains("pad.pad"), "the slow script was not built");
    write(&dir.path().join("team/zz.rhai"), &slow);
    server.engine.rules().reload();
    let first = api.post("/v1/score", &key, lead.clone()).await;
    assert_eq!(first.status(), StatusCode::OK);
    for _ in 0..5 {
        api.post("/v1/score", &key, lead.clone()).await;
    }
    assert_eq!(count().await, before + 1.0);

    // Cheap again: back on the request thread once the average has fallen and a new run
    // of cheap decisions is made.
    std::fs::remove_dir_all(dir.path().join("team")).unwrap();
    server.engine.rules().reload();
    let classes = score(80).await;
    assert!(classes.iter().all(|c| c == "warm"), "{classes:?}");
    let back = count().await - (before + 1.0);
    assert!((1.0..=64.0).contains(&back), "{back}");
    server.stop().await;
}
