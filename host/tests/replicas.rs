//! Several `qualify serve` processes sharing one PostgreSQL store (issue 17): a tenant
//! created through one replica works through the other (and a key rotated through one is
//! refused by the other); a storm of messages through both lands whole and in order; a
//! follow-up run on both at once queues each due stage once, and the outbox delivers each
//! action once across replicas (a fake GoHighLevel on loopback counts); killing one
//! replica mid-storm loses no acknowledged message. Each test has a scratch database and
//! skips (loudly) without a PostgreSQL server, except under `CI=true`.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod support;

use qualify_engine::model::{ActionKind, Author};
use qualify_engine::{Engine, Inbound, SecretKey, Store};
use qualify_testkit::ScratchDatabase;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::common::{cid, tid};

const ADMIN: &str = "replica-admin";

/// One deployment: a scratch database, its master key and admin key in files, a rules
/// folder.
struct Deployment {
    db: ScratchDatabase,
    key: SecretKey,
    dir: tempfile::TempDir,
    rules: PathBuf,
}

impl Deployment {
    fn new(rules: PathBuf) -> Option<Self> {
        let db = ScratchDatabase::create()?;
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::generate();
        let key_file = dir.path().join("master.key");
        std::fs::write(&key_file, key.to_hex()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let owner_only = std::fs::Permissions::from_mode(0o600);
            std::fs::set_permissions(&key_file, owner_only).unwrap();
        }
        std::fs::write(dir.path().join("admin.key"), ADMIN).unwrap();
        Some(Deployment {
            db,
            key,
            dir,
            rules,
        })
    }

    fn key_file(&self) -> PathBuf {
        self.dir.path().join("master.key")
    }

    /// A `qualify` command on this deployment's database.
    fn qualify(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_qualify"));
        cmd.args(args)
            .arg("--rules")
            .arg(&self.rules)
            .arg("--database")
            .arg(&self.db.url)
            .arg("--key-file")
            .arg(self.key_file())
            .env_remove("QUALIFY_MASTER_KEY");
        cmd
    }

    /// A replica: `qualify serve` on a free loopback port.
    fn replica(&self, ghl: &str) -> Replica {
        let mut child = self
            .qualify(&["serve", "--addr", "127.0.0.1:0", "--no-rate-limit"])
            .arg("--admin-key-file")
            .arg(self.dir.path().join("admin.key"))
            .args(["--ghl-base-url", ghl])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = lines
            .by_ref()
            .map(|l| l.unwrap())
            .find(|l| l.contains("listening on"))
            .expect("the replica starts");
        // Keep reading what it prints, so it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        let base = line
            .split("listening on ")
            .nth(1)
            .unwrap()
            .trim()
            .to_string();
        Replica { child, base }
    }

    /// An engine on the same database, in this process (to seed and to inspect).
    fn engine(&self, clock: Option<jiff::Timestamp>) -> Engine {
        let mut b = Engine::builder()
            .rules_dir(&self.rules)
            .store(Store::open_postgres(&self.db.url, self.key.clone()).unwrap());
        if let Some(at) = clock {
            b = b.clock(qualify_engine::clock::ManualClock::new(at));
        }
        b.build().unwrap()
    }
}

struct Replica {
    child: Child,
    base: String,
}

impl Replica {
    fn kill(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn add_tenant(http: &reqwest::Client, base: &str, body: Value) -> String {
    let r = http
        .post(format!("{base}/admin/tenants"))
        .bearer_auth(ADMIN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    v["api_key"].as_str().unwrap().to_string()
}

async fn send(http: &reqwest::Client, base: &str, key: &str, contact: &str, text: &str) -> u16 {
    http.post(format!("{base}/v1/contacts/{contact}/messages"))
        .bearer_auth(key)
        .json(&json!({"text": text, "tags": ["Hit List"]}))
        .send()
        .await
        .map_or(0, |r| r.status().as_u16())
}

/// Runs synchronous store work from a test's async body (the `postgres` client may not
/// block a thread that drives the runtime).
fn sync<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// The numbers of a contact's stored inbound messages ("message N"), in stored order.
fn numbers(engine: &Engine, tenant: &str, contact: &str) -> Vec<usize> {
    let Some(c) = engine.contacts().get(&tid(tenant), &cid(contact)).unwrap() else {
        return Vec::new();
    };
    c.history
        .iter()
        .filter(|m| m.from == Author::Lead)
        .map(|m| m.text.trim_start_matches("message ").parse().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_created_through_one_replica_is_usable_through_the_other() {
    let Some(d) = sync(|| Deployment::new(support::common::shipped_rules())) else {
        return;
    };
    let (a, b) = (
        d.replica("http://127.0.0.1:9"),
        d.replica("http://127.0.0.1:9"),
    );
    let http = reqwest::Client::new();
    let key = add_tenant(&http, &a.base, json!({"tenant": "team"})).await;
    assert_eq!(send(&http, &b.base, &key, "c1", "message 0").await, 200);
    assert_eq!(send(&http, &a.base, &key, "c1", "message 1").await, 200);
    let r = http
        .get(format!("{}/v1/contacts/c1", b.base))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let contact: Value = r.json().await.unwrap();
    let inbound = contact["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["from"] == "lead")
        .count();
    assert_eq!(inbound, 2, "{contact}");

    // A key rotated through B stops opening A within the registry's refresh (1 s).
    let r = http
        .post(format!("{}/admin/tenants/team/rotate-key", b.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let fresh: Value = r.json().await.unwrap();
    let fresh = fresh["api_key"].as_str().unwrap().to_string();
    assert_eq!(send(&http, &a.base, &fresh, "c1", "message 2").await, 200);
    let mut refused = false;
    for _ in 0..40 {
        if send(&http, &a.base, &key, "c1", "old key").await == 401 {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refused, "the rotated key still opens the other replica");
}

/// A deployment on the shipped rules, two replicas, and the key of a tenant `storm`
/// registered through the first (`None`: no PostgreSQL server).
async fn storm() -> Option<(Deployment, [Replica; 2], String)> {
    let d = sync(|| Deployment::new(support::common::shipped_rules()))?;
    let replicas = [
        d.replica("http://127.0.0.1:9"),
        d.replica("http://127.0.0.1:9"),
    ];
    let body = json!({"tenant": "storm", "tier": "enterprise"});
    let key = add_tenant(&reqwest::Client::new(), &replicas[0].base, body).await;
    Some((d, replicas, key))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_through_both_replicas_lands_every_message_in_order() {
    let Some((d, replicas, key)) = storm().await else {
        return;
    };
    let bases: Vec<String> = replicas.iter().map(|r| r.base.clone()).collect();
    let http = reqwest::Client::new();
    // 50 contacts × 20 messages = 1,000, each contact's messages one after the other,
    // taking turns between the replicas; all contacts at once.
    let mut clients = Vec::new();
    for c in 0..50 {
        let (http, bases, key) = (http.clone(), bases.clone(), key.clone());
        clients.push(tokio::spawn(async move {
            for m in 0..20 {
                let base = &bases[(c + m) % 2];
                let status =
                    send(&http, base, &key, &format!("c{c}"), &format!("message {m}")).await;
                assert_eq!(status, 200, "c{c} message {m} through {base}");
            }
        }));
    }
    for client in clients {
        client.await.unwrap();
    }
    sync(|| {
        let engine = d.engine(None);
        for c in 0..50 {
            let got = numbers(&engine, "storm", &format!("c{c}"));
            let want: Vec<usize> = (0..20).collect();
            assert_eq!(got, want, "c{c}: every message, in order");
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_one_replica_mid_storm_loses_no_acknowledged_message() {
    let Some((d, mut replicas, key)) = storm().await else {
        return;
    };
    let bases: Vec<String> = replicas.iter().map(|r| r.base.clone()).collect();
    let http = reqwest::Client::new();
    // 32 clients per replica, each its own contact, sending until its replica fails it
    // (or it has sent them all).
    const PER_CLIENT: usize = 100;
    let acked: Arc<Mutex<Vec<usize>>> = Arc::new(Mutex::new(vec![0; 64]));
    let mut clients = Vec::new();
    for c in 0..64 {
        let (http, base, key, acked) = (
            http.clone(),
            bases[c % 2].clone(),
            key.clone(),
            acked.clone(),
        );
        clients.push(tokio::spawn(async move {
            for m in 0..PER_CLIENT {
                match send(
                    &http,
                    &base,
                    &key,
                    &format!("c{c}"),
                    &format!("message {m}"),
                )
                .await
                {
                    200 => acked.lock().unwrap()[c] = m + 1,
                    _ => return,
                }
            }
        }));
    }
    // Kill A once the storm on it is well under way (however slow the machine).
    let on_a = || acked.lock().unwrap().iter().step_by(2).sum::<usize>();
    for _ in 0..600 {
        if on_a() > 64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    replicas[0].kill();
    for client in clients {
        let _ = client.await;
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.iter().step_by(2).sum::<usize>() > 64,
        "the storm ran on A: {acked:?}"
    );
    assert!(
        acked.iter().skip(1).step_by(2).all(|n| *n == PER_CLIENT),
        "B kept serving: {acked:?}"
    );
    // Every acknowledged message is there; a killed request's message is wholly there
    // or wholly absent (the run is unbroken, at most one past the last acknowledged).
    let stored: Vec<Vec<usize>> = sync(|| {
        let engine = d.engine(None);
        (0..64)
            .map(|c| numbers(&engine, "storm", &format!("c{c}")))
            .collect()
    });
    for (c, (&n, got)) in acked.iter().zip(&stored).enumerate() {
        let first = got.first().copied().unwrap_or(0);
        assert!(got.windows(2).all(|w| w[1] == w[0] + 1), "c{c}: {got:?}");
        let last = got.last().map_or(0, |l| l + 1);
        assert!(
            (last == n || last == n + 1) && (got.is_empty() || first + got.len() == last),
            "c{c}: {n} acknowledged, stored {got:?}"
        );
    }
}

/// The outbox actions queued per contact of a tenant.
fn queued(engine: &Engine, tenant: &str) -> HashMap<String, Vec<ActionKind>> {
    let mut out: HashMap<String, Vec<ActionKind>> = HashMap::new();
    for a in engine.outbox().queued(Some(&tid(tenant))).unwrap() {
        out.entry(a.contact.to_string()).or_default().push(a.kind);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follow_up_run_on_both_replicas_sends_each_due_stage_once() {
    // A tenant whose window is (nearly) the whole day and with no gap between texts, so
    // the delivery, which runs at the real time right after the replies went out, is
    // never deferred.
    let rules = support::common::rules_copy();
    support::common::write(
        &rules.path().join("team/tenant.yaml"),
        "followup:\n  window: {start: \"00:00\", end: \"23:59\"}\n  min_gap_minutes: 0\n",
    );
    let Some(d) = sync(|| Deployment::new(rules.path().to_path_buf())) else {
        return;
    };
    let t0: jiff::Timestamp = "2026-01-13T15:00:00Z".parse().unwrap();
    let contacts = 40;
    sync(|| {
        let engine = d.engine(Some(t0));
        engine
            .accounts()
            .add(&tid("team"), "Team", Default::default())
            .unwrap();
        engine
            .accounts()
            .set_ghl_token(&tid("team"), "team-token")
            .unwrap();
        for i in 0..contacts {
            let msg = Inbound {
                tags: Some(vec!["Hit List".into()]),
                ..Inbound::text("we want to buy")
            };
            engine
                .ingest(&tid("team"), &cid(&format!("c{i}")), &msg)
                .unwrap();
        }
    });
    let before = sync(|| queued(&d.engine(None), "team"));
    // Two follow-up runs at once, 25 hours later (the 24-hour stage is due).
    let run = || {
        d.qualify(&["reengage", "--now", "2026-01-14T16:00:00Z"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let (mut r1, mut r2) = (run(), run());
    assert!(r1.wait().unwrap().success() && r2.wait().unwrap().success());
    let after = sync(|| queued(&d.engine(None), "team"));
    for i in 0..contacts {
        let c = format!("c{i}");
        let (was, now) = (
            before.get(&c).map_or(0, Vec::len),
            after.get(&c).map_or(0, Vec::len),
        );
        assert_eq!(
            now,
            was + 1,
            "{c}: exactly one follow-up queued by the two runs"
        );
    }

    // Two replicas deliver the outbox to a fake GoHighLevel: each action once.
    let (fake, ghl) = support::start_fake().await;
    let replicas = [d.replica(&ghl), d.replica(&ghl)];
    let inspect = sync(|| d.engine(None));
    for _ in 0..300 {
        if sync(|| inspect.outbox().is_empty().unwrap()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sync(|| {
        assert!(inspect.outbox().is_empty().unwrap(), "the outbox drained");
        assert!(inspect.outbox().dead_letters(None).unwrap().is_empty());
        drop(inspect);
    });
    drop(replicas);
    // Every action reached GoHighLevel exactly once: per contact, no call twice (texts
    // name the contact in the body, the rest in the path), and at least the actions
    // queued above (the replicas' own follow-up runs, at the real time, may add a later
    // stage: once, too).
    let mut per_contact: HashMap<String, Vec<String>> = HashMap::new();
    for (method, path, body) in support::calls(&fake) {
        let contact = match body["contactId"].as_str() {
            Some(c) => c.to_string(),
            None => path.split('/').nth(2).unwrap_or_default().to_string(),
        };
        per_contact
            .entry(contact)
            .or_default()
            .push(format!("{method} {path} {body}"));
    }
    for i in 0..contacts {
        let c = format!("c{i}");
        let calls = per_contact.remove(&c).unwrap_or_default();
        let mut distinct = calls.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(
            distinct.len(),
            calls.len(),
            "{c}: a call made twice: {calls:?}"
        );
        assert!(
            calls.len() >= after[&c].len(),
            "{c}: {calls:?} for {:?}",
            after[&c]
        );
        let followup = calls
            .iter()
            .filter(|call| call.contains("Just checking in"))
            .count();
        assert_eq!(followup, 1, "{c}: the 24-hour stage once: {calls:?}");
    }
    assert!(
        per_contact.is_empty(),
        "calls for no contact: {per_contact:?}"
    );
}

/// `qualify store copy` moves a data folder's store into PostgreSQL and back: the
/// contacts read the same through the CLI at every step, a second copy into a store that
/// holds data is refused, and the database holds none of the plaintext.
#[test]
fn store_copy_moves_a_deployment_to_postgres_and_back() {
    let Some(d) = Deployment::new(support::common::shipped_rules()) else {
        return;
    };
    let folder = d.dir.path().join("data");
    let back = d.dir.path().join("back");
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_qualify"))
            .args(args)
            .arg("--key-file")
            .arg(d.key_file())
            .env_remove("QUALIFY_MASTER_KEY")
            .env_remove("QUALIFY_DATABASE_URL")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let folder_s = folder.to_str().unwrap();
    let rules = d.rules.to_str().unwrap();
    for (contact, text) in [
        ("c1", "budget 450k in Plano"),
        ("c2", "Marguerite, selling"),
    ] {
        let (ok, _, err) = run(&[
            "ingest",
            "--rules",
            rules,
            "--data",
            folder_s,
            "--tenant",
            "points",
            "--contact",
            contact,
            "--tag",
            "Hit List",
            text,
        ]);
        assert!(ok, "{err}");
    }
    let show = |place: &[&str], contact: &str| {
        let mut args = vec!["contact", "show", "--tenant", "points", contact];
        args.extend_from_slice(place);
        let (ok, out, err) = run(&args);
        assert!(ok, "{err}");
        let mut v: Value = serde_json::from_str(&out).unwrap();
        v.as_object_mut().unwrap().remove("updated_at");
        v
    };
    let url = d.db.url.as_str();
    let (ok, out, err) = run(&["store", "copy", "--from", folder_s, "--to", url]);
    assert!(ok, "{err}");
    assert!(
        out.contains("counts match") && out.contains("2 contacts opened"),
        "{out}"
    );
    for c in ["c1", "c2"] {
        assert_eq!(
            show(&["--data", folder_s], c),
            show(&["--database", url], c)
        );
    }
    // A destination with data is refused, and left as it was.
    let (ok, _, err) = run(&["store", "copy", "--from", folder_s, "--to", url]);
    assert!(!ok && err.contains("already holds data"), "{err}");
    // And back, into a new folder.
    let back_s = back.to_str().unwrap();
    let (ok, out, err) = run(&["store", "copy", "--from", url, "--to", back_s]);
    assert!(ok, "{err}: {out}");
    for c in ["c1", "c2"] {
        assert_eq!(show(&["--data", back_s], c), show(&["--database", url], c));
    }
    let dump = d.db.dump();
    for secret in ["Marguerite", "Plano", "450000"] {
        let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
        for needle in [secret.to_string(), hex] {
            assert!(
                !dump.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{secret} in the database"
            );
        }
    }
}
