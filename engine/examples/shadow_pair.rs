//! Shadow mode's cost to the live request, measured in pairs: one caller thread makes the
//! decision of `shadow/overhead` (the SMS lead: extraction, hooks, explanation) for a
//! tenant without a candidate and for one with a candidate, in alternating blocks, and
//! prints the median of the per-round ratios. On a shared virtual machine whose speed
//! drifts by a third within minutes, a ratio of blocks a few milliseconds apart is what
//! holds still; criterion's separate runs of `off` and `on` do not.
//!
//! Run with `cargo run --profile bench -p qualify-engine --example shadow_pair -- [ROUNDS]
//! [BLOCK]` (defaults 200 rounds of 2,000 decisions); `-- on SECONDS` or `-- off SECONDS`
//! runs one variant alone, for a profiler (`perf record`).

use qualify_engine::{Engine, Lead, TenantId};
use std::hint::black_box;
use std::time::Instant;

/// The allocator the `qualify` binary uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The SMS of `benches/engine.rs`.
const SMS: &str = "Hi! We're relocating for work and want to buy a 3 bed 2 bath in Plano, pre-approved up to $450k. Hoping to move in the next 2 months. Is that doable?? Thanks!!!";

fn main() {
    let only = std::env::args().nth(1).filter(|a| a == "on" || a == "off");
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let rounds = args.first().copied().unwrap_or(200);
    let block = args.get(1).copied().unwrap_or(2_000);
    let dir = tempfile::tempdir().expect("temp dir");
    for (tenant, candidate) in [
        ("plain", None),
        ("twin", None),
        (
            "shadowed",
            Some("questions: {buyer: {timeline: \"When would you like to move in?\"}}\n"),
        ),
        (
            "sampled",
            Some("questions: {buyer: {timeline: \"When would you like to move in?\"}}\nshadow: {sample: 0.1}\n"),
        ),
    ] {
        let folder = dir.path().join(tenant);
        std::fs::create_dir_all(&folder).expect("tenant folder");
        std::fs::write(folder.join("tenant.yaml"), "name: Bench\n").expect("settings");
        if let Some(settings) = candidate {
            std::fs::create_dir_all(folder.join("candidate")).expect("candidate folder");
            std::fs::write(folder.join("candidate/tenant.yaml"), settings).expect("settings");
        }
    }
    let engine = Engine::open(dir.path()).expect("rules load");
    let lead: Lead = serde_json::from_value(serde_json::json!({
        "tags": ["Hit List"],
        "messages": [{"from": "agent", "text": "Hey! Looking to buy or sell?"}, {"from": "lead", "text": SMS}]
    }))
    .expect("valid lead");
    let tenant = |t: &str| TenantId::new(t).expect("tenant id");
    // `twin` is `plain` again under another name: its ratio to `off` is the harness's
    // own (another compiled rule set, its place in the rotation), the baseline that the
    // other ratios are read against.
    let variants = [
        tenant("plain"),
        tenant("shadowed"),
        tenant("sampled"),
        tenant("twin"),
    ];
    let run = |t: &TenantId| {
        let start = Instant::now();
        for _ in 0..block {
            black_box(
                engine
                    .score(black_box(t), black_box(&lead))
                    .expect("scores"),
            );
        }
        start.elapsed().as_nanos() as f64 / block as f64
    };
    if let Some(only) = only {
        // One variant alone for `rounds` seconds, for a profiler.
        let t = &variants[usize::from(only == "on")];
        let start = Instant::now();
        let mut n = 0;
        while start.elapsed().as_secs() < rounds as u64 {
            run(t);
            n += block;
        }
        println!(
            "{only}: {n} decisions, {:.2} µs each",
            start.elapsed().as_secs_f64() * 1e6 / n as f64
        );
        return;
    }
    // Warm up every variant (and start shadow mode's threads).
    variants.iter().for_each(|t| {
        run(t);
    });
    let mut times: [Vec<f64>; 4] = Default::default();
    for r in 0..rounds {
        // Each round runs the variants in a rotated order, so none always follows another.
        for k in 0..variants.len() {
            let v = (r + k) % variants.len();
            times[v].push(run(&variants[v]));
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[v.len() / 4], v[v.len() / 2], v[v.len() * 3 / 4])
    };
    let off = &times[0];
    let (q1, m, q3) = median(off.clone());
    println!(
        "off: median {:.2} µs per decision (quartiles {:.2} – {:.2})",
        m / 1e3,
        q1 / 1e3,
        q3 / 1e3
    );
    for (name, v) in [("twin", 3), ("on", 1), ("sampled_10pct", 2)] {
        let ratios: Vec<f64> = times[v].iter().zip(off).map(|(a, b)| a / b).collect();
        let (q1, m, q3) = median(ratios);
        let (_, abs, _) = median(times[v].clone());
        if name == "twin" {
            println!(
                "twin (no candidate, the harness's baseline): median {:.2} µs; paired ratio to off: median {m:.3} (quartiles {q1:.3} – {q3:.3})",
                abs / 1e3
            );
            continue;
        }
        let report = engine.rules().shadow(&variants[v]).expect("a report");
        println!(
            "{name}: median {:.2} µs; paired ratio to off: median {m:.3} (quartiles {q1:.3} – {q3:.3}); {} decisions, {} compared, {} dropped, {} skipped by the sample",
            abs / 1e3,
            report.decisions,
            report.compared,
            report.dropped,
            report.skipped
        );
    }
}
