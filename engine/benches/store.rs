//! Criterion benchmarks of the stateful hot paths: a durable ingest on a real file, a
//! contact read, and redaction of a message; the same ingest on PostgreSQL, by one store
//! and by two (two replicas) when `QUALIFY_TEST_DATABASE_URL` names a server (`.ci/pg
//! start`). Results: BENCHMARKS.md.
//!
//! Run with `cargo bench --bench store`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use qualify_engine::text::redact;
use qualify_engine::{ContactId, Engine, Inbound, SecretKey, Store, TenantId};
use std::hint::black_box;
use std::path::Path;

/// The allocator the `qualify` binary uses (see host/src/main.rs), so the figures are the
/// product's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SMS: &str = "Hi! We're relocating for work and want to buy a 3 bed 2 bath in Plano, pre-approved up to $450k. Call me at 214-555-0199 or jo@example.com";

fn engine(file: &Path) -> Engine {
    let store = Store::open(file, SecretKey::generate()).expect("store opens");
    Engine::builder()
        .rules_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules"))
        .store(store)
        .build()
        .expect("engine builds")
}

fn engine_over(store: Store) -> Engine {
    Engine::builder()
        .rules_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules"))
        .store(store)
        .build()
        .expect("engine builds")
}

fn bench_store(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = engine(&dir.path().join("bench.redb"));
    let msg = Inbound {
        tags: Some(vec!["Hit List".into()]),
        ..Inbound::text(SMS)
    };
    // 1,000 contacts with a short history each, so reads and writes hit a real tree.
    for i in 0..1000 {
        engine
            .ingest(&tid("default"), &cid(&format!("c{i}")), &msg)
            .expect("ingest");
    }
    let mut g = c.benchmark_group("store");
    g.throughput(Throughput::Elements(1));
    let mut i = 0u64;
    g.bench_function("ingest", |b| {
        b.iter(|| {
            i += 1;
            let id = format!("c{}", i % 1000);
            engine
                .ingest(&tid("default"), &cid(black_box(&id)), black_box(&msg))
                .expect("ingest")
        })
    });
    g.bench_function("read_contact", |b| {
        b.iter(|| {
            engine
                .contacts()
                .get(&tid("default"), &cid(black_box("c500")))
                .expect("read")
        })
    });
    g.finish();

    let mut g = c.benchmark_group("redact");
    g.throughput(Throughput::Bytes(SMS.len() as u64));
    g.bench_function("message", |b| b.iter(|| redact::redact(black_box(SMS))));
    g.finish();
}

/// `store/ingest_concurrent`: 64 threads ingesting at once into a real file, each message
/// durable before its caller returns; the figure is the time per message (so messages/s
/// is its inverse), with group commit sharing the fsyncs.
fn bench_ingest_concurrent(c: &mut Criterion) {
    const THREADS: u64 = 64;
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = engine(&dir.path().join("concurrent.redb"));
    let msg = Inbound {
        tags: Some(vec!["Hit List".into()]),
        ..Inbound::text(SMS)
    };
    let mut g = c.benchmark_group("store");
    g.throughput(Throughput::Elements(1));
    g.sample_size(10);
    g.bench_function("ingest_concurrent", |b| {
        b.iter_custom(|iters| ingest_from(&[&engine], THREADS, &msg, iters))
    });
    // The same on PostgreSQL: one store, then two stores on one database (two replicas
    // in one process, 32 threads each), each with its own group commit; every write
    // transaction of either takes the database's write lock.
    if let Some(db) = qualify_testkit::ScratchDatabase::create() {
        let key = SecretKey::generate();
        let open = || engine_over(Store::open_postgres(&db.url, key.clone()).expect("postgres"));
        let (a, b) = (open(), open());
        g.bench_function("ingest_concurrent_postgres", |bench| {
            bench.iter_custom(|iters| ingest_from(&[&a], THREADS, &msg, iters))
        });
        g.bench_function("ingest_concurrent_postgres_2_replicas", |bench| {
            bench.iter_custom(|iters| ingest_from(&[&a, &b], THREADS, &msg, iters))
        });
    }
    g.finish();
}

/// `threads` threads (spread over `engines`, each its own contact) ingesting `iters`
/// messages in all; the time per message.
fn ingest_from(
    engines: &[&Engine],
    threads: u64,
    msg: &Inbound,
    iters: u64,
) -> std::time::Duration {
    let tenant = tid("default");
    let per_thread = iters.div_ceil(threads);
    let start = std::time::Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let engine = engines[t as usize % engines.len()];
            let (msg, tenant) = (msg, &tenant);
            s.spawn(move || {
                let contact = cid(&format!("k{t}"));
                for _ in 0..per_thread {
                    engine.ingest(tenant, &contact, msg).expect("ingest");
                }
            });
        }
    });
    start.elapsed() * iters as u32 / (per_thread * threads) as u32
}

criterion_group!(
    benches,
    bench_store,
    bench_reengage,
    bench_ingest_concurrent,
    bench_analytics
);
criterion_main!(benches);

/// 1,000,000 contacts of which 1,000 are due: a follow-up run (dry, so every iteration
/// sees the same due set) costs what is due, not what is stored.
fn bench_reengage(c: &mut Criterion) {
    use qualify_engine::clock::ManualClock;
    use qualify_engine::conversation::FollowUpOptions;
    let t0: jiff::Timestamp = "2026-01-13T15:00:00Z".parse().expect("time");
    let clock = std::sync::Arc::new(ManualClock::new(t0));
    let engine = Engine::builder()
        .store(Store::in_memory(SecretKey::generate()).expect("store"))
        .clock(clock.clone())
        .build()
        .expect("engine");
    let msg = Inbound {
        tags: Some(vec!["Hit List".into()]),
        ..Inbound::text("we want to buy")
    };
    let total = 1_000_000usize;
    let due = 1_000usize;
    let import = |range: std::ops::Range<usize>| {
        let batch: Vec<(ContactId, Inbound)> = range
            .map(|i| (cid(&format!("c{i}")), msg.clone()))
            .collect();
        engine
            .ingest_batch(&tid("default"), &batch)
            .expect("import");
    };
    import(0..due);
    clock.advance_secs(6 * 3600); // everyone else went quiet 6 h later: not due yet
    for start in (due..total).step_by(10_000) {
        import(start..(start + 10_000).min(total));
    }
    let now = t0 + jiff::SignedDuration::from_hours(24) + jiff::SignedDuration::from_mins(1);
    let opts = FollowUpOptions {
        now: Some(now),
        dry_run: true,
        ..Default::default()
    };
    let report = engine.followups().run(&opts).expect("run");
    assert_eq!(report.outcomes.len(), due);
    assert_eq!(
        report.records_read,
        2 * due,
        "index entries + contacts, nothing else"
    );
    let mut g = c.benchmark_group("reengage");
    g.sample_size(10);
    g.throughput(Throughput::Elements(report.outcomes.len() as u64));
    g.bench_function("due_1k_of_1m", |b| {
        b.iter(|| engine.followups().run(black_box(&opts)).expect("run"))
    });
    g.finish();
}

fn tid(id: &str) -> TenantId {
    TenantId::new(id).expect("valid tenant id")
}

fn cid(id: &str) -> ContactId {
    ContactId::new(id).expect("valid contact id")
}

/// A tenant's analytics with 100,000 contacts written over 90 days: the report reads one
/// row per day, so its cost follows the days asked for, not the contacts. A tenant whose
/// experiment exposed every contact adds the experiment's report (a scan of its
/// exposures).
fn bench_analytics(c: &mut Criterion) {
    use qualify_engine::clock::ManualClock;
    use qualify_engine::conversation::DayRange;
    let rules = tempfile::tempdir().expect("temp dir");
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/default");
    std::fs::create_dir_all(rules.path().join("default")).expect("dir");
    for f in std::fs::read_dir(shipped).expect("rules") {
        let f = f.expect("entry");
        std::fs::copy(f.path(), rules.path().join("default").join(f.file_name())).expect("copy");
    }
    std::fs::create_dir_all(rules.path().join("abtest")).expect("dir");
    std::fs::write(
        rules.path().join("abtest/experiments.yaml"),
        "experiments:\n  - key: opener\n    metric: reached_hot\n    variants:\n      - name: control\n      - name: short\n        values:\n          questions:\n            buyer:\n              budget: \"Budget?\"\n",
    )
    .expect("write");
    let t0: jiff::Timestamp = "2026-01-01T15:00:00Z".parse().expect("time");
    let clock = std::sync::Arc::new(ManualClock::new(t0));
    let engine = Engine::builder()
        .rules_dir(rules.path())
        .store(Store::in_memory(SecretKey::generate()).expect("store"))
        .clock(clock.clone())
        .build()
        .expect("engine");
    let texts = [
        "we want to buy",
        "budget 400k in Plano",
        "Our budget is 400k, looking in Plano, we need to move next month",
    ];
    let (total, days) = (100_000usize, 90usize);
    for tenant in ["default", "abtest"] {
        for day in 0..days {
            clock.set(t0 + jiff::SignedDuration::from_hours(24 * day as i64));
            let batch: Vec<(ContactId, Inbound)> = (day * total / days..(day + 1) * total / days)
                .map(|i| {
                    let m = Inbound {
                        tags: Some(vec!["Hit List".into()]),
                        ..Inbound::text(texts[i % texts.len()])
                    };
                    (cid(&format!("c{i}")), m)
                })
                .collect();
            engine.ingest_batch(&tid(tenant), &batch).expect("ingest");
        }
    }
    let last: jiff::civil::Date = "2026-03-31".parse().expect("date");
    let range = |n: i64| {
        let from = last
            .checked_sub(jiff::Span::new().days(n - 1))
            .expect("date");
        DayRange::new(Some(from), Some(last), last).expect("range")
    };
    let mut g = c.benchmark_group("analytics");
    g.sample_size(20);
    g.bench_function("report_100k_contacts_30_days", |b| {
        b.iter(|| {
            engine
                .analytics(&tid("default"), black_box(range(30)))
                .expect("report")
        })
    });
    g.bench_function("report_100k_contacts_90_days", |b| {
        b.iter(|| {
            engine
                .analytics(&tid("default"), black_box(range(90)))
                .expect("report")
        })
    });
    g.bench_function("report_100k_exposed_experiment", |b| {
        b.iter(|| {
            engine
                .analytics(&tid("abtest"), black_box(range(30)))
                .expect("report")
        })
    });
    g.finish();
}
