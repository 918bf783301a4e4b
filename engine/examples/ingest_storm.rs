//! A durable ingest storm, alone, for profilers and for the latency the criterion bench
//! does not report: `THREADS` threads (default 64) ingest the SMS of
//! `store/ingest_concurrent` into a real redb file, each into its own contact, for
//! `SECONDS` (default 10); prints messages/s and the per-message latency percentiles,
//! and the store's group-commit figures.
//!
//! Run with `cargo run --profile bench -p qualify-engine --example ingest_storm --
//! [THREADS] [SECONDS]`.

use qualify_engine::{ContactId, Engine, Inbound, SecretKey, Store, TenantId};
use std::time::{Duration, Instant};

/// The allocator of the benches and the `qualify` binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The text of `benches/store.rs`.
const SMS: &str = "Hi! We're relocating for work and want to buy a 3 bed 2 bath in Plano, pre-approved up to $450k. Call me at 214-555-0199 or jo@example.com";

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let threads = args.first().copied().unwrap_or(64);
    let seconds = args.get(1).copied().unwrap_or(10);
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path().join("storm.redb"), SecretKey::generate()).expect("store");
    let engine = Engine::builder()
        .rules_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../rules"))
        .store(store)
        .build()
        .expect("engine");
    let msg = Inbound {
        tags: Some(vec!["Hit List".into()]),
        ..Inbound::text(SMS)
    };
    let tenant = TenantId::default();
    let until = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let mut latencies: Vec<Duration> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (engine, msg, tenant) = (&engine, &msg, &tenant);
                s.spawn(move || {
                    let contact = ContactId::new(&format!("k{t}")).expect("contact id");
                    let mut took = Vec::new();
                    while Instant::now() < until {
                        let at = Instant::now();
                        engine.ingest(tenant, &contact, msg).expect("ingest");
                        took.push(at.elapsed());
                    }
                    took
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("worker"))
            .collect()
    });
    let elapsed = start.elapsed();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    println!(
        "{threads} threads, {} messages in {:.1} s: {:.0} messages/s; latency p50 {:?}, p99 {:?}, max {:?}",
        latencies.len(),
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        at(0.5),
        at(0.99),
        at(1.0)
    );
    if let Ok(store) = engine.store() {
        let stats = store.commit_stats();
        println!("{stats:?}");
    }
}
