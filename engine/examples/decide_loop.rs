//! Runs the default decision in a loop, for profilers (`valgrind --tool=callgrind`,
//! `perf`): the same lead as `score/default_facts` (or, with `messages`, as
//! `score/default_messages`); a third argument `quiet` leaves the explanation out.
//!
//! `QUALIFY_RULES=DIR` uses another rules folder; `QUALIFY_LOWERING=off` runs the hooks
//! on Rhai's interpreter; `QUALIFY_LEAD=JSON` decides that lead
//! instead (such as the lead of `host/benches/load.sh`).
//!
//! Run with `cargo run --release -p qualify-engine --example decide_loop -- [facts|messages] [N] [quiet]`.

use qualify_engine::{Engine, Lead, TenantId};

/// The allocator `qualify` and the benches use, so instruction counts match them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let kind = args.get(1).map_or("facts", String::as_str);
    let n: usize = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(10_000);
    // `QUALIFY_RULES=DIR` decides under another rules folder (to weigh a script change).
    let rules = std::env::var("QUALIFY_RULES")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../rules").to_string());
    // `QUALIFY_LOWERING=off`: every hook on Rhai's interpreter, as for `qualify`.
    let lowering = std::env::var("QUALIFY_LOWERING").map_or(true, |v| v != "off");
    let engine = Engine::builder()
        .rules_dir(rules)
        .lowering(lowering)
        .build()
        .expect("rules");
    let given = std::env::var("QUALIFY_LEAD").ok();
    let lead = match kind {
        _ if given.is_some() => given.as_deref().unwrap_or_default(),
        "messages" => {
            r#"{"tags": ["Hit List"], "messages": [{"from": "agent", "text": "Hey! Looking to buy or sell?"}, {"from": "lead", "text": "Hi! We're relocating for work and want to buy a 3 bed 2 bath in Plano, pre-approved up to $450k. Hoping to move in the next 2 months. Is that doable?? Thanks!!!"}]}"#
        }
        _ => {
            r#"{"tags": ["Hit List", "Cold-Lead"], "facts": {"budget": 450000, "location": "Plano", "financing": "not sure"}}"#
        }
    };
    let lead = Lead::from_json(lead).expect("lead");
    let tenant = TenantId::default();
    let options = qualify_engine::decide::ScoreOptions {
        explain: args.get(3).map(String::as_str) != Some("quiet"),
    };
    let mut total = 0i64;
    for _ in 0..n {
        total += engine
            .score_with(&tenant, &lead, &options)
            .expect("decides")
            .score;
    }
    println!("{n} decisions, score sum {total}");
}
