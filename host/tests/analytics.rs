//! Analytics over HTTP (`GET /v1/analytics`) and through the binary (`qualify
//! analytics`): the numbers of a few known conversations, the range parameters and their
//! errors, and tenant isolation.

#![allow(clippy::unwrap_used)]

mod support;

use assert_cmd::Command;
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{config, error_of, fresh};

/// Hot at once, warm at once, cold: (contact, text).
const LEADS: [(&str, &str); 3] = [
    (
        "hot1",
        "Our budget is 400k, looking in Plano, we need to move next month",
    ),
    ("warm1", "Budget 500k in Frisco"),
    ("cold1", "Hi, I'm interested"),
];

async fn message_of(r: reqwest::Response) -> (StatusCode, String) {
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    (status, v["error"]["message"].as_str().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_analytics_api() {
    let (_dir, _server, api) = fresh(config()).await;
    let key = api.add_tenant(json!({"tenant": "team"})).await;
    let other = api.add_tenant(json!({"tenant": "other"})).await;
    for (id, text) in LEADS {
        let r = api
            .post(
                &format!("/v1/contacts/{id}/messages"),
                &key,
                json!({"text": text, "tags": ["Hit List"]}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let v: Value = api.get("/v1/analytics", &key).await.json().await.unwrap();
    assert_eq!(
        v["funnel"],
        json!({"contacts": 3, "warm": 2, "hot": 1, "handed_off": 1})
    );
    assert_eq!(
        v["conversion"],
        json!({"warm": 2.0 / 3.0, "hot": 0.5, "handed_off": 1.0})
    );
    assert_eq!(v["messages"]["inbound"], 3);
    assert_eq!(v["opt_outs"], json!({"count": 0, "rate": 0.0}));
    assert_eq!(v["classes_by_day"].as_array().unwrap().len(), 30);
    let today = v["to"].as_str().unwrap().to_string();
    let last = &v["classes_by_day"][29];
    assert_eq!(
        (
            last["day"].as_str(),
            &last["cold"],
            &last["warm"],
            &last["hot"]
        ),
        (Some(today.as_str()), &json!(1), &json!(1), &json!(1))
    );
    // The warm lead is asked the timeline, the cold one the budget.
    let asked: Vec<(String, u64)> = v["questions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| {
            (
                q["id"].as_str().unwrap().into(),
                q["asked"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(asked, vec![("budget".into(), 1), ("timeline".into(), 1)]);
    assert_eq!(v["to_hot"]["contacts"], 1);
    assert_eq!(v["to_hot"]["median_messages"], 1.0);

    // One day, given explicitly.
    let one: Value = api
        .get(&format!("/v1/analytics?from={today}&to={today}"), &key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["funnel"], v["funnel"]);
    assert_eq!(one["classes_by_day"].as_array().unwrap().len(), 1);

    // Another tenant sees none of it.
    let theirs: Value = api.get("/v1/analytics", &other).await.json().await.unwrap();
    assert_eq!(theirs["funnel"]["contacts"], 0);
    assert_eq!(theirs["conversion"]["warm"], Value::Null);

    // Errors: a bad date, a reversed range, no key.
    let (status, body) = message_of(api.get("/v1/analytics?from=yesterday", &key).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.contains("`from` \"yesterday\" is not a date"),
        "{body}"
    );
    let (status, body) = message_of(
        api.get("/v1/analytics?from=2026-02-01&to=2026-01-01", &key)
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("is after"), "{body}");
    let (status, _) = error_of(api.get("/v1/analytics", "qfy_team.wrong").await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[test]
fn the_analytics_command() {
    // No ./rules in the working folder: the embedded default rules.
    let rules = tempfile::tempdir().unwrap();
    let data = rules.path().join("data").display().to_string();
    let qualify = || {
        let mut cmd = Command::cargo_bin("qualify").unwrap();
        cmd.current_dir(rules.path())
            .env_remove("QUALIFY_MASTER_KEY");
        cmd
    };
    for (id, text) in LEADS {
        qualify()
            .args([
                "ingest",
                "--data",
                &data,
                "--tag",
                "Hit List",
                "--contact",
                id,
                text,
            ])
            .assert()
            .success();
    }
    let out = qualify()
        .args(["analytics", "--data", &data, "--format", "json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        v["funnel"],
        json!({"contacts": 3, "warm": 2, "hot": 1, "handed_off": 1})
    );
    let out = qualify()
        .args(["analytics", "--data", &data])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let table = String::from_utf8(out).unwrap();
    let lines: Vec<String> = table
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    for line in [
        "Funnel (contacts first seen in the range)",
        "hot 1 50.0 %",
        "budget 1 0 0.0 %",
        "timeline 1 0 0.0 %",
        "24 h 0 0 -",
    ] {
        assert!(lines.iter().any(|l| l == line), "no {line:?} in\n{table}");
    }
    let err = qualify()
        .args(["analytics", "--data", &data, "--from", "2026-13-01"])
        .assert()
        .failure()
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8(err).unwrap();
    assert!(err.contains("`from` \"2026-13-01\" is not a date"), "{err}");
}
