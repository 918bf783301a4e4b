//! Runs extraction alone in a loop, for profilers (`valgrind --tool=callgrind`, `perf`):
//! the SMS of `extract/sms`, or with `es` the Spanish one of `extract/sms_es`.
//!
//! Run with `cargo run --release -p qualify-engine --example extract_loop -- [en|es] [N]`.

use qualify_engine::{Engine, TenantId};

/// The allocator of the benches and the `qualify` binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The same texts as `benches/engine.rs`.
const SMS: &str = "Hi! We're relocating for work and want to buy a 3 bed 2 bath in Plano, pre-approved up to $450k. Hoping to move in the next 2 months. Is that doable?? Thanks!!!";
const SMS_ES: &str = "¡Hola! Queremos comprar casa en Plano por trabajo, 3 recámaras y 2 baños, presupuesto 400 mil, ya estamos preaprobados. Nos mudamos en 2 meses. ¿Es posible?!!!!";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let text = match args.get(1).map(String::as_str) {
        Some("es") => SMS_ES,
        _ => SMS,
    };
    let n: usize = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let engine = Engine::open(concat!(env!("CARGO_MANIFEST_DIR"), "/../rules")).expect("rules");
    let tenant = TenantId::default();
    let mut facts = 0;
    let start = std::time::Instant::now();
    for _ in 0..n {
        facts += engine
            .extract(&tenant, std::hint::black_box(text))
            .expect("extracts")
            .len();
    }
    let each = start.elapsed() / n.max(1) as u32;
    println!("{n} extractions, {facts} facts, {each:?} each");
}
