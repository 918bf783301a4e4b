//! `/metrics` through a real server: the Prometheus text format parses (with the
//! `prometheus-parse` crate, an independent reader), the counts move when requests are
//! made, latency histograms have real buckets, and nothing names a tenant or a contact.

#![allow(clippy::unwrap_used)]

mod support;

use reqwest::StatusCode;
use serde_json::json;
use support::{config, fresh};

async fn scrape(base: &str) -> (String, prometheus_parse::Scrape) {
    let r = reqwest::get(format!("{base}/metrics")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = r.text().await.unwrap();
    let lines = text.lines().map(|l| Ok(l.to_string()));
    (
        text.clone(),
        prometheus_parse::Scrape::parse(lines).unwrap(),
    )
}

/// The value of a counter sample with these labels (0 when absent).
fn counter(s: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    s.samples
        .iter()
        .filter(|x| x.metric == name)
        .filter(|x| labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .map(|x| match x.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_and_move_with_requests() {
    let (_dir, server, api) = fresh(config()).await;
    let key = api.add_tenant(json!({"tenant": "secretteam"})).await;
    let (_, before) = scrape(&server.base).await;
    let route = [
        ("route", "/v1/contacts/:contact/messages"),
        ("status", "200"),
    ];
    let sent_before = counter(&before, "qualify_http_requests_total", &route);
    for i in 0..3 {
        let r = api
            .post(
                &format!("/v1/contacts/lead-{i}/messages"),
                &key,
                json!({"text": "budget 400k in Plano", "tags": ["Hit List"]}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = api.get("/v1/analytics", "qfy_secretteam.wrong").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let (text, after) = scrape(&server.base).await;
    assert_eq!(
        counter(&after, "qualify_http_requests_total", &route) - sent_before,
        3.0
    );
    assert!(
        counter(
            &after,
            "qualify_http_requests_total",
            &[("route", "/v1/analytics"), ("status", "401")]
        ) >= 1.0
    );
    assert!(
        counter(
            &after,
            "qualify_rule_evaluations_total",
            &[("hook", "score")]
        ) >= 3.0
    );
    // A latency histogram with real buckets.
    let histogram = after
        .samples
        .iter()
        .find(|x| {
            x.metric == "qualify_http_request_duration_seconds"
                && x.labels.get("route") == Some("/v1/contacts/:contact/messages")
        })
        .unwrap();
    match &histogram.value {
        prometheus_parse::Value::Histogram(buckets) => {
            assert!(buckets.len() >= 10, "{buckets:?}");
            assert!(buckets.iter().any(|b| b.less_than == 0.005));
        }
        other => panic!("not a histogram: {other:?}"),
    }
    for name in [
        "qualify_store_commit_seconds",
        "qualify_extraction_seconds",
        "qualify_group_commit_batch_size",
        "qualify_outbox_depth",
    ] {
        assert!(text.contains(name), "no {name} in\n{text}");
    }
    // Nothing tenant- or contact-identifying.
    for secret in ["secretteam", "lead-0", "Plano"] {
        assert!(!text.contains(secret), "{secret} in /metrics");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_labels_only_when_asked() {
    let cfg = host::server::Config {
        metrics_tenant_labels: true,
        ..config()
    };
    let (_dir, server, api) = fresh(cfg).await;
    let key = api.add_tenant(json!({"tenant": "labelled"})).await;
    let lead = json!({"tags": ["Hit List"], "facts": {"budget": 400000}});
    assert_eq!(
        api.post("/v1/score", &key, lead).await.status(),
        StatusCode::OK
    );
    let (_, s) = scrape(&server.base).await;
    let labels = [("route", "/v1/score"), ("tenant", "labelled")];
    assert_eq!(counter(&s, "qualify_http_requests_total", &labels), 1.0);
}
