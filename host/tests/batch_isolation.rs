//! A batch whose first lead is cheap and whose other leads are slow (a script slow only
//! for some leads) must not hold the pool every tenant's batches share: its slow leads
//! are weighed, so the tenant's next calls run at low priority. One test in this binary:
//! the counters it reads are the process's.

#![allow(clippy::unwrap_used)]

mod support;

use axum::http::StatusCode;
use host::Config;
use serde_json::{json, Value};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_slow_after_its_first_lead_moves_its_tenant_to_low_priority() {
    let cfg = Config {
        rate_limit: false,
        ..config()
    };
    let (_dir, server, api, sly) = with_sly_tenant(cfg).await;
    let moved = || counter(&api.base, "qualify_low_priority_decisions_total");
    // Cheap single decisions first: the tenant is light, decided on the normal pools.
    for _ in 0..3 {
        let r = api.post("/v1/score", &sly, json!({})).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    assert_eq!(moved().await, 0.0);
    let mut leads = vec![json!({})];
    leads.extend((0..40).map(|_| json!({"facts": {"slow": true}})));
    let r = api
        .post("/v1/score/batch", &sly, json!({ "leads": leads }))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    let decisions = body["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 41);
    assert_eq!(decisions[0]["class"], "cold", "{}", decisions[0]);
    assert!(
        decisions[1..]
            .iter()
            .all(|d| d["error"]["type"] == "rules_error"),
        "{body}"
    );
    assert_eq!(
        counter(&api.base, "qualify_batches_off_shared_pool_total").await,
        1.0
    );
    // Its slow leads were weighed: the next decision runs at low priority.
    let r = api.post("/v1/score", &sly, json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        moved().await > 0.0,
        "the tenant's slow leads went unweighed"
    );
    server.stop().await;
}
