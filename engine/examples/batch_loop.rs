//! The work of `POST /v1/score/batch` without HTTP, in a loop, for profilers: parse a
//! body of 100 leads, decide them under one rule set on every core (rayon's pool, where
//! the server decides a light tenant's batch) and write the decisions as the server
//! writes them; then print the process's CPU time a lead (user + system, all threads;
//! Linux). `THREADS=N` runs N such loops at once (the batches shared out among them).
//! Measure as the server runs with `MIMALLOC_ALLOW_THP=0`.
//!
//! The lead is `host/benches/load.sh`'s (or `QUALIFY_LEAD=JSON`); `QUALIFY_RULES=DIR`
//! uses another rules folder; a third argument `here` decides on the calling thread only,
//! `write_on_worker` writes each decision as JSON on the pool thread that made it (the
//! server's way since the sixth sitting).
//!
//! Run with `cargo run --profile bench -p qualify-engine --example batch_loop -- [BATCHES] [LEADS] [here|write_on_worker]`.

use qualify_engine::decide::ScoreOptions;
use qualify_engine::{Engine, Lead, TenantId};

/// The allocator `qualify` uses, so the figures match the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(serde::Deserialize)]
struct Body {
    leads: Vec<Lead>,
}

/// The process's CPU time so far (user + system, every thread), from `/proc/self/stat`
/// (in clock ticks of 10 ms: run for seconds).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the command's closing parenthesis: utime and stime are the 12th and
    // 13th of them.
    let rest = &stat[stat.rfind(')').expect("stat") + 2..];
    let ticks: Vec<f64> = rest
        .split(' ')
        .skip(11)
        .take(2)
        .map(|t| t.parse().expect("ticks"))
        .collect();
    (ticks[0] + ticks[1]) / 100.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let batches: usize = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(2_000);
    let per: usize = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(100);
    let here = args.get(3).map(String::as_str) == Some("here");
    let on_worker = args.get(3).map(String::as_str) == Some("write_on_worker");
    let rules = std::env::var("QUALIFY_RULES")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../rules").to_string());
    let lead = std::env::var("QUALIFY_LEAD").unwrap_or_else(|_| {
        r#"{"tags":["Hit List"],"messages":[{"from":"lead","text":"We want to buy a 3 bed in Plano, around 450k, pre-approved"}]}"#.to_string()
    });
    let body = format!("{{\"leads\":[{}]}}", vec![lead; per].join(","));
    // `QUALIFY_LOWERING=off`: every hook on Rhai's interpreter, as for `qualify`.
    let lowering = std::env::var("QUALIFY_LOWERING").map_or(true, |v| v != "off");
    let engine = Engine::builder()
        .rules_dir(rules)
        .lowering(lowering)
        .build()
        .expect("rules");
    let tenant = TenantId::default();
    let options = ScoreOptions::default();
    let threads: usize = std::env::var("THREADS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let (start, cpu) = (std::time::Instant::now(), cpu_seconds());
    let run = |batches: usize| {
        let mut bytes = 0;
        for _ in 0..batches {
            let Body { leads } = serde_json::from_slice(body.as_bytes()).expect("body");
            let batch = engine.batch(&tenant, &options).expect("batch");
            if on_worker {
                use rayon::prelude::*;
                let parts: Vec<Vec<u8>> = leads
                    .par_iter()
                    .map(|l| {
                        serde_json::to_vec(&batch.decide(l).expect("decides")).expect("writes")
                    })
                    .collect();
                let mut out = Vec::with_capacity(64 + parts.iter().map(Vec::len).sum::<usize>());
                out.extend_from_slice(b"{\"decisions\":[");
                for (i, p) in parts.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(p);
                }
                out.extend_from_slice(b"]}");
                bytes += out.len();
                continue;
            }
            let results = if here {
                batch.decide_here(&leads)
            } else {
                batch.decide_on_all_cores(&leads)
            };
            let mut out = Vec::with_capacity(64 + results.len() * 1024);
            out.extend_from_slice(b"{\"decisions\":[");
            for (i, r) in results.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut out, &r.expect("decides")).expect("writes");
            }
            out.extend_from_slice(b"]}");
            bytes += out.len();
        }
        bytes
    };
    let bytes: usize = std::thread::scope(|s| {
        let all: Vec<_> = (0..threads)
            .map(|_| s.spawn(|| run(batches / threads)))
            .collect();
        all.into_iter().map(|h| h.join().expect("thread")).sum()
    });
    let (wall, cpu) = (start.elapsed().as_secs_f64(), cpu_seconds() - cpu);
    let leads = (batches * per) as f64;
    println!(
        "{} leads: {:.2} µs of CPU a lead, {:.0} leads/s, {} bytes out",
        batches * per,
        cpu / leads * 1e6,
        leads / wall,
        bytes
    );
}
