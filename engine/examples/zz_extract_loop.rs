//! Scratch (removed before hand-off): extraction in a loop for callgrind/perf.
use qualify_engine::{Engine, TenantId};
const SMS: &str = "Hi! We're relocating for work and want to buy a 3 bed 2 bath in Plano, pre-approved up to $450k. Hoping to move in the next 2 months. Is that doable?? Thanks!!!";
const SMS_ES: &str = "¡Hola! Queremos comprar casa en Plano por trabajo, 3 recámaras y 2 baños, presupuesto 400 mil, ya estamos preaprobados. Nos mudamos en 2 meses. ¿Es posible?!!!!";
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let custom = std::env::var("ZZ_TEXT").ok();
    let text = match (custom.as_deref(), args.get(2).map(String::as_str)) {
        (Some(t), _) => t,
        (_, Some("es")) => SMS_ES,
        _ => SMS,
    };
    let engine = Engine::open(concat!(env!("CARGO_MANIFEST_DIR"), "/../rules")).expect("rules");
    let t = TenantId::default();
    let mut total = 0;
    let start = std::time::Instant::now();
    for _ in 0..n {
        total += engine
            .extract(&t, std::hint::black_box(text))
            .expect("x")
            .len();
    }
    println!(
        "{n} x, {total} facts, {:?} each",
        start.elapsed() / n as u32
    );
}
