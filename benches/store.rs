//! Criterion benchmarks of the stateful hot paths: a durable ingest on a real file, a
//! contact read, and redaction of a message. Results: BENCHMARKS.md.
//!
//! Run with `cargo bench --bench store`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use qualify_engine::{redact, Engine, Inbound, SecretKey, Store};
use std::hint::black_box;
use std::path::Path;

const SMS: &str = "Hi! We're relocating for work and want to buy a 3 bed 2 bath in Plano, pre-approved up to $450k. Call me at 214-555-0199 or jo@example.com";

fn engine(file: &Path) -> Engine {
    let store = Store::open(file, SecretKey::generate()).expect("store opens");
    Engine::builder()
        .rules_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("rules"))
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
            .ingest("default", &format!("c{i}"), &msg)
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
                .ingest("default", black_box(&id), black_box(&msg))
                .expect("ingest")
        })
    });
    g.bench_function("read_contact", |b| {
        b.iter(|| engine.contact("default", black_box("c500")).expect("read"))
    });
    g.finish();

    let mut g = c.benchmark_group("redact");
    g.throughput(Throughput::Bytes(SMS.len() as u64));
    g.bench_function("message", |b| b.iter(|| redact::redact(black_box(SMS))));
    g.finish();
}

criterion_group!(benches, bench_store);
criterion_main!(benches);
