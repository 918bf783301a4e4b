//! The dashboard at `/dashboard` in a real headless Chromium: a server seeded through the
//! public API (conversations and a couple of bad requests), the page opened with
//! `#key=...`, and every number of `/v1/analytics` found in the rendered DOM
//! (`data-metric` / `data-value`) with the live health, alerts and errors of
//! `/v1/health`, `/v1/alerts` and `/v1/errors`, charts drawn, no script error or CSP
//! violation; a wrong key shows a clear message and the key form; desktop
//! and phone screenshots land in the target folder. Without Chromium the browser test is
//! skipped loudly (and fails on CI, whose `.ci/run` installs Debian's `chromium`).

#![allow(clippy::unwrap_used)]

mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::common::write;
use support::{config, with_rules, Api};

/// The policy the page is served with (and so every script and style must live with).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const ASSETS: [(&str, &str); 3] = [
    ("app.js", "text/javascript"),
    ("charts.js", "text/javascript"),
    ("style.css", "text/css"),
];

/// An experiment on the opening question, so the page has arms to draw.
const EXPERIMENT: &str = r#"
experiments:
  - key: budget_wording
    seed: dashboard-test
    metric: reached_hot
    variants:
      - name: control
      - name: friendly
        values:
          questions:
            buyer:
              budget: "Ballpark, what price range feels comfortable?"
"#;

/// The tenant the page is opened for.
const TENANT: &str = "demo";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assets_are_embedded_with_strict_headers_and_nothing_else_is_served() {
    let (_rules, server, api) = with_rules(config(), |_| {}).await;
    let page = api
        .http
        .get(format!("{}/dashboard", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let header = |r: &reqwest::Response, name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    assert!(header(&page, "content-type").starts_with("text/html"));
    assert_eq!(header(&page, "content-security-policy"), CSP);
    assert_eq!(header(&page, "cache-control"), "no-store");
    assert_eq!(header(&page, "x-content-type-options"), "nosniff");
    assert_eq!(header(&page, "referrer-policy"), "no-referrer");
    let html = page.text().await.unwrap();
    // Under the CSP an inline script or style would not run: the page has none.
    assert!(!html.contains("<style"), "inline <style> in the page");
    assert!(!html.contains(" style="), "inline style= in the page");
    assert!(
        !html.contains("<script>") && !html.contains("<script type=\"module\">"),
        "inline script in the page"
    );
    assert!(html.contains("/dashboard/app.js") && html.contains("/dashboard/style.css"));
    for (name, kind) in ASSETS {
        let r = api
            .http
            .get(format!("{}/dashboard/{name}", api.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{name}");
        assert!(header(&r, "content-type").starts_with(kind), "{name}");
        assert_eq!(header(&r, "content-security-policy"), CSP, "{name}");
        assert_eq!(header(&r, "cache-control"), "no-store", "{name}");
        assert_eq!(header(&r, "x-content-type-options"), "nosniff", "{name}");
        let text = r.text().await.unwrap();
        // Tenant data (question ids, experiment names) only ever becomes text nodes.
        assert!(!text.contains("innerHTML"), "{name} uses innerHTML");
        assert!(!text.contains("insertAdjacentHTML"), "{name} builds markup");
        assert!(
            !text.contains("document.write"),
            "{name} uses document.write"
        );
    }
    for path in [
        "/dashboard/unknown.js",
        "/dashboard/index.html",
        "/dashboard/..%2Fmod.rs",
    ] {
        let r = api
            .http
            .get(format!("{}{path}", api.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_every_number_of_the_analytics_in_a_real_browser() {
    let Some(browser) = browser_or_skip() else {
        return;
    };
    // Many calls in a row: the starter tier's rate limit is not what this tests.
    let mut cfg = host::server::Config {
        rate_limit: false,
        ..config()
    };
    // Health that does not hang on this machine's speed: any response time is over the
    // warning threshold and none is critical, so the tenant is degraded with one active
    // alert whenever it is asked; no webhooks, so that check has too few samples.
    cfg.monitor.min_samples = 5;
    cfg.monitor.p95_warning = Duration::ZERO;
    cfg.monitor.p95_critical = Duration::from_secs(3600);
    let (_rules, server, api) = with_rules(cfg, |dir| {
        write(&dir.join(format!("{TENANT}/experiments.yaml")), EXPERIMENT);
    })
    .await;
    let key = api.add_tenant(json!({"tenant": TENANT})).await;
    seed(&api, &key).await;
    seed_errors(&api, &key).await;

    let r = api.get("/v1/analytics", &key).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let analytics: Value = r.json().await.unwrap();
    // The seeded conversations make a report worth drawing.
    assert!(
        analytics["funnel"]["hot"].as_u64().unwrap() >= 1,
        "{analytics}"
    );
    assert!(
        analytics["funnel"]["contacts"].as_u64() > analytics["funnel"]["hot"].as_u64(),
        "{analytics}"
    );
    assert!(!analytics["experiments"].as_array().unwrap().is_empty());
    let health = get_json(&api, "/v1/health", &key).await;
    let alerts = get_json(&api, "/v1/alerts", &key).await;
    let errors = get_json(&api, "/v1/errors", &key).await;
    assert_eq!(health["health"]["status"], "degraded", "{health}");
    assert_eq!(alerts["active"][0]["check"], "p95_latency_ms", "{alerts}");
    assert_eq!(errors["counts"]["input"], 2, "{errors}");

    let url = format!("{}/dashboard#key={key}", api.base);
    let run = open(&browser, &url, &["--dump-dom"]).await;
    assert!(
        run.dom.contains("data-state=\"ready\""),
        "the page did not finish; DOM:\n{}\nlog:\n{}",
        run.dom,
        run.log
    );
    // Chromium logs the page's console: a script error, a CSP violation (worded "Refused
    // to ..." by older versions), a failed load.
    for needle in [
        "Uncaught",
        "Refused to",
        "Content Security Policy",
        "Failed to load resource",
    ] {
        assert!(
            !run.log.contains(needle),
            "{needle} in Chromium's log:\n{}",
            run.log
        );
    }
    assert!(!run.dom.contains(&key), "the key is not left in the page");
    let shown = metrics(&run.dom);
    let want = expected(&analytics);
    assert!(want.len() > 30, "{want:?}");
    for (path, value) in &want {
        let Some(got) = shown.get(path) else {
            panic!("no data-metric=\"{path}\" in the page; it has {shown:?}");
        };
        assert!(same(got, value), "{path}: page {got}, API {value}");
    }
    // The live cards: status, every check's verdict, alerts, errors by category.
    assert_eq!(
        run.dom.matches("data-card-state=\"ready\"").count(),
        2,
        "a live card did not load:\n{}",
        run.dom
    );
    let live = expected_live(&health, &alerts, &errors);
    for (path, value) in &live {
        let Some(got) = shown.get(path) else {
            panic!("no data-metric=\"{path}\" in the page; it has {shown:?}");
        };
        assert!(same(got, value), "{path}: page {got}, API {value}");
    }
    // Response times differ from one request to the next: the page shows one.
    let p95 = shown["health.p95_latency_ms.figure"].parse::<f64>();
    assert!(p95.is_ok_and(|ms| ms > 0.0), "{shown:?}");
    assert!(
        run.dom.contains("not enough data"),
        "the webhook check has no figure:\n{}",
        run.dom
    );
    // The recent errors are listed as text, redacted by the server.
    assert!(run.dom.contains("time zone"), "{}", run.dom);
    assert!(run.dom.contains("/v1/score"), "{}", run.dom);
    assert!(!run.dom.contains("jo.doe@example.com"), "{}", run.dom);
    let svgs = run.dom.matches("<svg").count();
    let rects = run.dom.matches("<rect").count();
    assert!(svgs >= 4, "{svgs} charts drawn");
    assert!(rects >= 8, "{rects} bars drawn");
    assert!(run.dom.contains("<circle"), "no experiment arm drawn");

    // A range without data: each chart says so instead of drawing nothing.
    let quiet = format!(
        "{}/dashboard?from=2020-01-01&to=2020-01-30#key={key}",
        api.base
    );
    let run = open(&browser, &quiet, &["--dump-dom"]).await;
    assert!(run.dom.contains("data-state=\"ready\""), "{}", run.dom);
    let shown = metrics(&run.dom);
    assert_eq!(shown["range.from"], "2020-01-01");
    assert_eq!(shown["funnel.contacts"], "0");
    // The live cards do not follow the range.
    assert_eq!(shown["errors.input"], "2");
    assert_eq!(shown["health.status"], "degraded");
    let empty = run.dom.matches("No data in this range.").count();
    assert!(empty >= 4, "{empty} empty charts:\n{}", run.dom);

    // A wrong key: a clear message and the key form again, never a blank page.
    let wrong = format!("{}/dashboard#key=qfy_{TENANT}.wrong", api.base);
    let run = open(&browser, &wrong, &["--dump-dom"]).await;
    assert!(run.dom.contains("data-state=\"error\""), "{}", run.dom);
    assert!(
        run.dom.contains("data-error=\"unauthorized\""),
        "{}",
        run.dom
    );
    assert!(run.dom.contains("This key was not accepted"), "{}", run.dom);
    assert!(key_form_shown(&run.dom), "{}", run.dom);
    assert!(metrics(&run.dom).is_empty(), "{}", run.dom);

    // No key at all: the form, asking for one.
    let run = open(
        &browser,
        &format!("{}/dashboard", api.base),
        &["--dump-dom"],
    )
    .await;
    assert!(run.dom.contains("data-state=\"key\""), "{}", run.dom);
    assert!(key_form_shown(&run.dom), "{}", run.dom);

    // What a person sees, on a desktop and on a phone.
    let target = target_dir();
    std::fs::create_dir_all(&target).unwrap();
    for (file, size) in [
        ("dashboard.png", "1280,1800"),
        // Tall enough to reach the report below the health and errors cards.
        ("dashboard-phone.png", "390,2400"),
    ] {
        let png = target.join(file);
        let _ = std::fs::remove_file(&png);
        let shot = format!("--screenshot={}", png.display());
        let size = format!("--window-size={size}");
        let run = open(&browser, &url, &[&shot, &size]).await;
        let bytes = std::fs::read(&png)
            .unwrap_or_else(|e| panic!("no {}: {e}; log:\n{}", png.display(), run.log));
        assert!(
            bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000,
            "{file}"
        );
    }
    server.stop().await;
}

/// Conversations through the public API: some leads reach hot, some stay warm or cold,
/// one opts out.
async fn seed(api: &Api, key: &str) {
    let hot = [
        "Hi, we want to buy",
        "around 450k",
        "in Frisco",
        "asap please",
    ];
    let conversations: [(&str, &[&str]); 7] = [
        ("hot-1", &hot),
        ("hot-2", &hot),
        ("hot-3", &hot),
        ("warm-1", &hot[..3]),
        ("cold-1", &hot[..1]),
        ("cold-2", &["Hi, we want to buy", "not sure yet"]),
        ("stop-1", &["Hi, we want to buy", "STOP"]),
    ];
    for (contact, texts) in conversations {
        for (i, text) in texts.iter().enumerate() {
            let mut body = json!({"text": text});
            if i == 0 {
                body["tags"] = json!(["Hit List"]);
            }
            let r = api
                .post(&format!("/v1/contacts/{contact}/messages"), key, body)
                .await;
            assert_eq!(r.status(), StatusCode::OK, "{contact}: {text}");
        }
    }
}

/// Bad requests through the public API, each counted as an `input` error of the tenant:
/// a time zone that is really an e-mail address (redacted in the error kept) and
/// malformed JSON.
async fn seed_errors(api: &Api, key: &str) {
    let r = api
        .post(
            "/v1/contacts/typo-1/messages",
            key,
            json!({"text": "hi", "timezone": "jo.doe@example.com"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = api
        .http
        .post(format!("{}/v1/score", api.base))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

async fn get_json(api: &Api, path: &str, key: &str) -> Value {
    let r = api.get(path, key).await;
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    r.json().await.unwrap()
}

/// The live figures the page shows, by `data-metric` path: health status and each
/// check's verdict and thresholds (and its figure, but for the response time, which
/// moves with every request), the active alerts, the error counts.
fn expected_live(health: &Value, alerts: &Value, errors: &Value) -> Vec<(String, Value)> {
    let h = &health["health"];
    let mut want = vec![
        ("health.status".to_string(), h["status"].clone()),
        (
            "health.window_seconds".to_string(),
            h["window_seconds"].clone(),
        ),
    ];
    let checks = h["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 4, "{health}");
    for c in checks {
        let base = format!("health.{}", c["name"].as_str().unwrap());
        want.push((format!("{base}.level"), c["level"].clone()));
        want.push((format!("{base}.critical"), c["critical"].clone()));
        if c["warning"] != c["critical"] {
            want.push((format!("{base}.warning"), c["warning"].clone()));
        }
        if c["name"] != "p95_latency_ms" {
            want.push((format!("{base}.figure"), c["figure"].clone()));
        }
    }
    let active = alerts["active"].as_array().unwrap();
    want.push(("alerts.active.count".to_string(), json!(active.len())));
    for a in active {
        want.push((
            format!("alerts.active.{}.severity", a["check"].as_str().unwrap()),
            a["severity"].clone(),
        ));
    }
    for (category, n) in errors["counts"].as_object().unwrap() {
        want.push((format!("errors.{category}"), n.clone()));
    }
    want.push((
        "errors.recent.count".to_string(),
        json!(errors["recent"].as_array().unwrap().len()),
    ));
    want
}

/// Each number of the report, by the `data-metric` path the page shows it under.
fn expected(a: &Value) -> Vec<(String, Value)> {
    let mut want = vec![
        ("tenant".to_string(), a["tenant"].clone()),
        ("range.from".to_string(), a["from"].clone()),
        ("range.to".to_string(), a["to"].clone()),
        (
            "messages.inbound".to_string(),
            a["messages"]["inbound"].clone(),
        ),
    ];
    let fields = |prefix: &str, v: &Value, want: &mut Vec<(String, Value)>| {
        for (k, v) in v.as_object().unwrap() {
            want.push((format!("{prefix}.{k}"), v.clone()));
        }
    };
    fields("funnel", &a["funnel"], &mut want);
    fields("conversion", &a["conversion"], &mut want);
    fields("opt_outs", &a["opt_outs"], &mut want);
    fields("to_hot", &a["to_hot"], &mut want);
    for day in a["classes_by_day"].as_array().unwrap() {
        for class in ["cold", "warm", "hot"] {
            want.push((
                format!("classes.{}.{class}", day["day"].as_str().unwrap()),
                day[class].clone(),
            ));
        }
    }
    for q in a["questions"].as_array().unwrap() {
        for field in ["asked", "answered_next", "answer_rate"] {
            want.push((
                format!("questions.{}.{field}", q["id"].as_str().unwrap()),
                q[field].clone(),
            ));
        }
    }
    for f in a["followups"].as_array().unwrap() {
        for field in ["sent", "replied", "response_rate"] {
            want.push((
                format!("followups.{}.{field}", f["stage_hours"]),
                f[field].clone(),
            ));
        }
    }
    for x in a["experiments"].as_array().unwrap() {
        let base = format!("experiments.{}", x["key"].as_str().unwrap());
        want.push((format!("{base}.status"), x["status"].clone()));
        want.push((format!("{base}.winner"), x["winner"].clone()));
        for v in x["variants"].as_array().unwrap() {
            let arm = format!("{base}.{}", v["name"].as_str().unwrap());
            // A conversion metric has conversions, rate and rate_ci95; a numeric one
            // mean and mean_ci95.
            let (fields, ci) = if x["kind"] == "numeric" {
                (&["n", "mean"][..], &v["mean_ci95"])
            } else {
                (&["n", "conversions", "rate"][..], &v["rate_ci95"])
            };
            for field in fields {
                want.push((format!("{arm}.{field}"), v[field].clone()));
            }
            want.push((
                format!("{arm}.ci_low"),
                ci.get(0).cloned().unwrap_or(Value::Null),
            ));
            want.push((
                format!("{arm}.ci_high"),
                ci.get(1).cloned().unwrap_or(Value::Null),
            ));
        }
    }
    want
}

/// A page's `data-value` against the API's value: numbers compared as numbers (the page
/// writes `40` where serde writes `40.0`), `null` for none, strings as they are.
fn same(shown: &str, want: &Value) -> bool {
    match want {
        Value::Null => shown == "null",
        Value::Number(n) => shown
            .parse::<f64>()
            .is_ok_and(|s| (s - n.as_f64().unwrap()).abs() < 1e-9),
        Value::String(s) => shown == s,
        _ => false,
    }
}

/// Every `data-metric` of a dumped DOM with its `data-value`; a path shown twice fails.
fn metrics(dom: &str) -> HashMap<String, String> {
    let mut found = HashMap::new();
    for (at, _) in dom.match_indices("data-metric=\"") {
        let tag = &dom[at..at + dom[at..].find('>').unwrap()];
        let path = attribute(tag, "data-metric").unwrap();
        let value = attribute(tag, "data-value")
            .unwrap_or_else(|| panic!("data-metric without data-value: {tag}"));
        assert!(
            found.insert(path.clone(), value).is_none(),
            "{path} shown twice"
        );
    }
    found
}

/// An attribute's value in a serialized start tag, unescaped.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
    let len = tag[start..].find('"')?;
    Some(
        tag[start..start + len]
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&nbsp;", "\u{a0}")
            .replace("&amp;", "&"),
    )
}

/// The key form is in the page without `hidden`.
fn key_form_shown(dom: &str) -> bool {
    let at = dom.find("id=\"key-form\"").unwrap();
    let open = dom[..at].rfind('<').unwrap();
    let tag = &dom[open..at + dom[at..].find('>').unwrap()];
    !tag.contains("hidden")
}

/// What a Chromium run left: the DOM it dumped (stdout) and its log (stderr).
struct Run {
    dom: String,
    log: String,
}

/// Opens `url` in a fresh headless Chromium with `args`, waiting until the page is idle
/// (virtual time) and at most 60 s.
async fn open(browser: &Path, url: &str, args: &[&str]) -> Run {
    let (browser, url) = (browser.to_path_buf(), url.to_string());
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    // Chromium blocks; the server it talks to runs on this test's runtime.
    tokio::task::spawn_blocking(move || run_chromium(&browser, &url, &args))
        .await
        .unwrap()
}

fn run_chromium(browser: &Path, url: &str, args: &[String]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            // This machine's network is closed: no background traffic to wait for.
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--virtual-time-budget=15000",
            "--run-all-compositor-stages-before-draw",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "Chromium did not finish in 60 s; its log:\n{}",
                std::fs::read_to_string(&err).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let run = Run {
        dom: std::fs::read_to_string(&out).unwrap(),
        log: std::fs::read_to_string(&err).unwrap(),
    };
    assert!(status.success(), "Chromium failed ({status}):\n{}", run.log);
    run
}

/// Chromium from `CHROMIUM`, or `chromium`, `chromium-browser` or `google-chrome` on the
/// PATH; none: a loud skip, or a failure on CI (where `.ci/run` installs it).
fn browser_or_skip() -> Option<PathBuf> {
    let from_env = std::env::var_os("CHROMIUM").filter(|p| !p.is_empty());
    let on_path = || {
        let path = std::env::var_os("PATH").unwrap_or_default();
        ["chromium", "chromium-browser", "google-chrome"]
            .iter()
            .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
            .find(|p| p.is_file())
    };
    if let Some(found) = from_env.map(PathBuf::from).or_else(on_path) {
        return Some(found);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("no Chromium on CI: .ci/run should have installed Debian's chromium");
    }
    // Straight to the process's stderr: `eprintln!` would be captured by the test
    // harness and never shown for a test that passes.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "\n==========\nSKIPPED: the dashboard browser test needs Chromium (chromium, \
         chromium-browser or google-chrome on PATH, or CHROMIUM=/path): install Debian's \
         chromium (apt-get install chromium)\n==========\n"
    );
    None
}

/// Where the screenshots go: `CARGO_TARGET_DIR`, or the workspace's `target`.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}
