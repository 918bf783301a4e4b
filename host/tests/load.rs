//! The server under load (issue 11): idempotent retries, load shedding before a queue
//! grows without bound, and a slow tenant that slows only itself.

#![allow(clippy::unwrap_used)]

mod support;

use axum::http::StatusCode;
use host::Config;
use serde_json::{json, Value};
use support::common::{cid, tid, write};
use support::*;

/// The same `Idempotency-Key` twice: one stored message, one set of queued actions, the
/// same response; the key with another body is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_makes_a_retry_harmless() {
    let (_dir, server, api) = fresh(config()).await;
    let key = api
        .add_tenant(json!({"tenant": "team-a", "ghl_token": "t"}))
        .await;
    let post = |body: Value| {
        api.http
            .post(format!("{}/v1/contacts/c1/messages", api.base))
            .bearer_auth(&key)
            .header("Idempotency-Key", "order-42")
            .json(&body)
            .send()
    };
    let body = json!({"text": "buying in Plano", "tags": ["Hit List"]});
    let first = post(body.clone()).await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let first: Value = first.json().await.unwrap();
    let queued = server.engine.outbox().len().unwrap();
    assert!(queued > 0);
    let again = post(body).await.unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    let c = server.engine.contacts().get(&tid("team-a"), &cid("c1"));
    assert_eq!(
        c.unwrap().unwrap().history.len(),
        2,
        "one message, one question"
    );
    assert_eq!(
        server.engine.outbox().len().unwrap(),
        queued,
        "nothing queued twice"
    );
    let other = post(json!({"text": "something else"})).await.unwrap();
    assert_eq!(error_of(other).await.0, StatusCode::CONFLICT);
    server.stop().await;
}

/// With a tiny in-flight limit, the requests over it are shed at once with 503 and
/// `Retry-After`, and nothing of theirs is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_in_flight_limit_requests_are_shed_and_nothing_is_half_written() {
    let cfg = Config {
        max_in_flight: 2,
        rate_limit: false,
        ..config()
    };
    let (_dir, server, api) = with_rules(cfg, |dir| {
        let slow = slow_score(dir, 30_000);
        write(&dir.join("slowpoke/score.rhai"), &slow);
    })
    .await;
    let key = api.add_tenant(json!({"tenant": "slowpoke"})).await;
    let sends = (0..12).map(|i| {
        let (api, key) = (&api, &key);
        async move {
            let body = json!({"text": format!("message {i}"), "tags": ["Hit List"]});
            let r = api
                .post(&format!("/v1/contacts/c{i}/messages"), key, body)
                .await;
            let retry = r.headers().get("retry-after").is_some();
            (i, r.status(), retry)
        }
    });
    let results = futures_join_all(sends).await;
    let shed: Vec<_> = results
        .iter()
        .filter(|(_, s, _)| *s == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert!(!shed.is_empty(), "{results:?}");
    assert!(shed.iter().all(|(_, _, retry)| *retry));
    for (i, status, _) in &results {
        let stored = server
            .engine
            .contacts()
            .get(&tid("slowpoke"), &cid(&format!("c{i}")))
            .unwrap();
        assert_eq!(
            stored.is_some(),
            *status == StatusCode::OK,
            "c{i}: {status}"
        );
    }
    server.stop().await;
}

/// A tenant whose hook spins until its limit, hammered by more clients than the server
/// takes requests at once, alongside other tenants: every request of the others
/// succeeds (without the per-tenant turns, the hog's requests would fill the server and
/// the others would be shed), and the hog's decisions run at low CPU priority.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_tenant_slows_only_itself() {
    let cfg = Config {
        tenant_concurrency: 1,
        tenant_queue: 4,
        max_in_flight: 24,
        rate_limit: false,
        ..config()
    };
    let (_dir, server, api) = with_rules(cfg, |dir| {
        write(
            &dir.join("hog/zz.rhai"),
            "fn score(lead, cfg) { let n = 0; loop { n += 1; } }\n",
        );
    })
    .await;
    let hog = api
        .add_tenant(json!({"tenant": "hog", "tier": "enterprise"}))
        .await;
    let mut others = Vec::new();
    for t in 0..4 {
        let tenant = format!("team-{t}");
        let key = api
            .add_tenant(json!({"tenant": tenant, "tier": "enterprise"}))
            .await;
        others.push(key);
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut hogs = Vec::new();
    for _ in 0..32 {
        let (http, base, hog, stop) = (
            api.http.clone(),
            api.base.clone(),
            hog.clone(),
            stop.clone(),
        );
        hogs.push(tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = http
                    .post(format!("{base}/v1/score"))
                    .bearer_auth(&hog)
                    .json(&json!({}))
                    .send()
                    .await;
            }
        }));
    }
    let lead = json!({"tags": ["Hit List"], "facts": {"budget": 450000}});
    let normal = others.iter().map(|key| {
        let (api, lead) = (&api, lead.clone());
        async move {
            let mut statuses = Vec::new();
            for _ in 0..30 {
                statuses.push(api.post("/v1/score", key, lead.clone()).await.status());
            }
            statuses
        }
    });
    let statuses: Vec<StatusCode> = futures_join_all(normal)
        .await
        .into_iter()
        .flatten()
        .collect();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for h in hogs {
        let _ = h.await;
    }
    assert_eq!(statuses.len(), 120);
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    // The hog's decisions (each spinning to its limit) moved to the low-priority pool,
    // whose threads run at nice 19: on busy cores the kernel gives them a sliver.
    let moved = || counter(&api.base, "qualify_low_priority_decisions_total");
    let before = moved().await;
    assert!(before > 0.0, "no decision ran at low priority");
    // Its batches too, decided there one lead after another, each lead's error its own.
    let r = api
        .post("/v1/score/batch", &hog, json!({"leads": [{}, {}]}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    let decisions = body["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 2);
    assert!(
        decisions
            .iter()
            .all(|d| d["error"]["type"] == "rules_error"),
        "{body}"
    );
    assert!(
        moved().await > before,
        "the batch did not run at low priority"
    );
    #[cfg(target_os = "linux")]
    {
        let nice: Vec<String> = std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|t| {
                let t = t.ok()?.path();
                let comm = std::fs::read_to_string(t.join("comm")).ok()?;
                comm.starts_with("qualify-low").then(|| {
                    // Field 19 of stat is the nice value; fields after the `(comm)`.
                    let stat = std::fs::read_to_string(t.join("stat")).unwrap();
                    let rest = &stat[stat.rfind(')').unwrap() + 2..];
                    rest.split(' ').nth(16).unwrap().to_string()
                })
            })
            .collect();
        assert!(!nice.is_empty(), "no low-priority thread");
        assert!(nice.iter().all(|n| n == "19"), "nice values: {nice:?}");
    }
    server.stop().await;
}

/// Runs futures concurrently, results in order.
async fn futures_join_all<F: std::future::Future>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futures {
        set.push(f);
    }
    let mut out = Vec::new();
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = set.into_iter().map(Box::pin).collect();
    let mut done: Vec<Option<F::Output>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if done[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => done[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    for d in done {
        out.push(d.unwrap());
    }
    out
}

/// A request abandoned while it waits for its tenant's turn (the client went away) gives
/// its place in the queue back: the queue never fills with ghosts. (Found by the load
/// script: after one wrk run every later request of the tenant was refused.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_abandoned_while_waiting_give_their_place_back() {
    let cfg = Config {
        tenant_concurrency: 1,
        tenant_queue: 2,
        rate_limit: false,
        ..config()
    };
    let (_dir, server, api) = with_rules(cfg, |dir| {
        let slow = slow_score(dir, 10_000);
        write(&dir.join("slowpoke/score.rhai"), &slow);
    })
    .await;
    let key = api.add_tenant(json!({"tenant": "slowpoke"})).await;
    // Clients that send a request and reset the connection 5 ms later (as wrk does when
    // it stops): the server drops their requests wherever they were.
    let addr = api.base.trim_start_matches("http://").to_string();
    let request = format!(
        "POST /v1/score HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}"
    );
    for _ in 0..3 {
        let resets = (0..3).map(|_| {
            let (addr, request) = (addr.clone(), request.clone());
            async move {
                use tokio::io::AsyncWriteExt;
                let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
                stream.write_all(request.as_bytes()).await.unwrap();
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                stream.set_zero_linger().unwrap();
            }
        });
        futures_join_all(resets).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let r = api.post("/v1/score", &key, json!({})).await;
    let status = r.status();
    assert_eq!(status, StatusCode::OK, "{}", r.text().await.unwrap());
    server.stop().await;
}

/// The in-flight limit is one for the whole server, not one per route: while slow
/// ingests fill it, a request on another route is shed too. (It was per route:
/// `Router::layer` makes a service per route, each with its own limit.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_in_flight_limit_counts_every_route_together() {
    let cfg = Config {
        max_in_flight: 2,
        rate_limit: false,
        ..config()
    };
    let (_dir, server, api) = with_rules(cfg, |dir| {
        // Near the operation limit: each of its ingests spins for a while.
        let slow = slow_score(dir, 50_000);
        write(&dir.join("slowpoke/score.rhai"), &slow);
    })
    .await;
    let slow_key = api.add_tenant(json!({"tenant": "slowpoke"})).await;
    let key = api.add_tenant(json!({"tenant": "quick"})).await;
    // Two clients, each sending slow ingests one after another (a shed one is sent
    // again), so the server's two places are nearly always taken.
    let slow: Vec<_> = (0..2)
        .map(|i| {
            let (api, key) = (api.clone(), slow_key.clone());
            tokio::spawn(async move {
                let mut taken = 0;
                for n in 0..500 {
                    let body = json!({"text": format!("message {n}")});
                    let r = api
                        .post(&format!("/v1/contacts/s{i}/messages"), &key, body)
                        .await;
                    if r.status() != StatusCode::SERVICE_UNAVAILABLE {
                        taken += 1;
                        if taken == 20 {
                            break;
                        }
                    }
                }
            })
        })
        .collect();
    // A quick tenant's `/v1/score`, another route: shed while the two are in flight.
    let mut shed = false;
    while !slow.iter().all(|h| h.is_finished()) {
        let r = api.post("/v1/score", &key, json!({})).await;
        if r.status() == StatusCode::SERVICE_UNAVAILABLE {
            assert!(r.headers().get("retry-after").is_some());
            shed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    assert!(shed, "a request on another route was let in past the limit");
    for h in slow {
        h.await.unwrap();
    }
    server.stop().await;
}

/// A client that sends its headers too slowly has its connection closed (it could hold
/// connections open for ever before: nothing timed the headers).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_too_slow_with_its_headers_is_disconnected() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let cfg = Config {
        header_read_timeout: std::time::Duration::from_millis(300),
        ..config()
    };
    let (_dir, server, _api) = fresh(cfg).await;
    let addr = server.base.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // Never the blank line that ends the headers: the server must hang up. The 30 s
    // bound only keeps a failure from hanging the suite.
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        stream.read_to_end(&mut rest),
    )
    .await;
    assert!(closed.is_ok(), "the connection was still open after 30 s");
    server.stop().await;
}
