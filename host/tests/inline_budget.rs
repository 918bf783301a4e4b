//! A decision made on the request's async thread (its tenant's decisions have been cheap)
//! that runs long is stopped at the server's inline budget and made again on the pool:
//! the client gets the full decision, and the async thread is not held for the hooks'
//! time limit. One test in this binary: the counters it reads are the process's.

#![allow(clippy::unwrap_used)]

mod support;

use axum::http::StatusCode;
use host::Config;
use serde_json::{json, Value};
use std::time::Duration;
use support::common::write;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_decision_on_the_request_thread_is_made_again_on_the_pool() {
    // A bound far above a cheap decision in a debug build, and the smallest budget: only
    // a hook past a few thousand operations ever looks at the clock, so the cheap
    // decisions are never stopped and the long one always is (no timing involved).
    let cfg = Config {
        inline_below: Duration::from_millis(20),
        inline_budget: Duration::from_nanos(1),
        rate_limit: false,
        ..config()
    };
    let (_dir, server, api) = with_rules(cfg, |dir| {
        write(
            &dir.join("flip/zz.rhai"),
            "fn score(lead, cfg) {\n\
             \x20   let n = 0;\n\
             \x20   if lead.facts.long == true { while n < 20000 { n += 1; } }\n\
             \x20   #{ score: n, class: \"cold\" }\n\
             }\n",
        );
    })
    .await;
    let key = api
        .add_tenant(json!({"tenant": "flip", "tier": "enterprise"}))
        .await;
    let inline = || counter(&server.base, "qualify_request_thread_decisions_total");
    let over = || {
        counter(
            &server.base,
            "qualify_request_thread_decisions_over_budget_total",
        )
    };
    for _ in 0..40 {
        let r = api.post("/v1/score", &key, json!({})).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let before = inline().await;
    assert!(
        before > 0.0,
        "the cheap decisions never moved to the request thread"
    );
    assert_eq!(over().await, 0.0);
    let r = api
        .post("/v1/score", &key, json!({"facts": {"long": true}}))
        .await;
    let status = r.status();
    let d: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{d}");
    assert_eq!(d["score"], 20000, "{d}");
    assert_eq!(inline().await, before + 1.0);
    assert_eq!(over().await, 1.0);
    server.stop().await;
}
