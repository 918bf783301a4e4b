//! Criterion benchmarks of the engine's hot paths. Setup happens outside `b.iter`;
//! compiling is measured apart from evaluating. Results: BENCHMARKS.md.
//!
//! Run with `cargo bench --bench engine` (or `-- score/` for one group).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use qualify_engine::{Engine, Lead, TenantId};
use serde_json::json;
use std::hint::black_box;
use std::path::Path;

/// The allocator the `qualify` binary uses (see host/src/main.rs), so the figures are the
/// product's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A typical inbound SMS: 160 characters, several facts in it.
const SMS: &str = "Hi! We're relocating for work and want to buy a 3 bed 2 bath in Plano, pre-approved up to $450k. Hoping to move in the next 2 months. Is that doable?? Thanks!!!";

/// The same in Spanish: 160 characters (accents make it 164 bytes), the same kinds of
/// facts ("400 mil", "recámaras", "preaprobados", "en 2 meses").
const SMS_ES: &str = "¡Hola! Queremos comprar casa en Plano por trabajo, 3 recámaras y 2 baños, presupuesto 400 mil, ya estamos preaprobados. Nos mudamos en 2 meses. ¿Es posible?!!!!";

/// One running experiment on the budget question (the embedded default rules otherwise).
const EXPERIMENT: &str = "experiments:
  - key: budget_wording
    metric: reached_hot
    variants:
      - name: control
      - name: ballpark
        values: {questions: {buyer: {budget: \"Ballpark, what price range?\"}}}
";

fn engine() -> Engine {
    Engine::open(Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules")).expect("rules load")
}

/// The same rules with every hook on Rhai's interpreter (lowering off): the `_interpreted`
/// benches, the floor lowering is measured against in the same sitting.
fn interpreted_engine() -> Engine {
    Engine::builder()
        .rules_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules"))
        .lowering(false)
        .build()
        .expect("rules load")
}

fn facts_lead() -> Lead {
    serde_json::from_value(json!({
        "tags": ["Hit List", "Cold-Lead"],
        "facts": {"budget": 450000, "location": "Plano", "financing": "not sure"}
    }))
    .expect("valid lead")
}

fn messages_lead() -> Lead {
    serde_json::from_value(json!({
        "tags": ["Hit List"],
        "messages": [{"from": "agent", "text": "Hey! Looking to buy or sell?"}, {"from": "lead", "text": SMS}]
    }))
    .expect("valid lead")
}

fn bench_score(c: &mut Criterion) {
    assert_eq!(SMS.len(), 160);
    let engine = engine();
    let (default, points) = (tid("default"), tid("points"));
    let mut g = c.benchmark_group("score");
    g.throughput(Throughput::Elements(1));
    let lead = facts_lead();
    g.bench_function("default_facts", |b| {
        b.iter(|| {
            engine
                .score(black_box(&default), black_box(&lead))
                .expect("scores")
        })
    });
    let quiet = qualify_engine::decide::ScoreOptions { explain: false };
    g.bench_function("default_facts_no_explain", |b| {
        b.iter(|| {
            engine
                .score_with(black_box(&default), black_box(&lead), &quiet)
                .expect("scores")
        })
    });
    g.bench_function("points_facts", |b| {
        b.iter(|| {
            engine
                .score(black_box(&points), black_box(&lead))
                .expect("scores")
        })
    });
    let lead = messages_lead();
    g.bench_function("default_messages", |b| {
        b.iter(|| {
            engine
                .score(black_box(&default), black_box(&lead))
                .expect("scores")
        })
    });
    let interpreted = interpreted_engine();
    g.bench_function("default_messages_interpreted", |b| {
        b.iter(|| {
            interpreted
                .score(black_box(&default), black_box(&lead))
                .expect("scores")
        })
    });
    // The same decision with one experiment running whose variant changes a question's
    // text: the assignment hash and the tuned rule set's lookup on top.
    let dir = tempfile::tempdir().expect("temp dir");
    let ab = dir.path().join("ab");
    std::fs::create_dir_all(&ab).expect("tenant folder");
    std::fs::write(ab.join("experiments.yaml"), EXPERIMENT).expect("experiments file");
    let with_experiment = Engine::open(dir.path()).expect("rules load");
    let mut lead = facts_lead();
    lead.contact_id = Some("contact-42".into());
    let ab = tid("ab");
    g.bench_function("default_facts_with_experiment", |b| {
        b.iter(|| {
            with_experiment
                .score(black_box(&ab), black_box(&lead))
                .expect("scores")
        })
    });
    // The floor: the same decision written in plain Rust on the same JSON facts.
    let lead = facts_lead();
    g.bench_function("plain_rust_floor", |b| {
        b.iter(|| floor::decide(black_box(&lead)))
    });
    g.finish();
}

/// The lead of `host/benches/load.sh`'s `batch_100` scenario (hot, one message).
const LOAD_LEAD: &str = r#"{"tags":["Hit List"],"messages":[{"from":"lead","text":"We want to buy a 3 bed in Plano, around 450k, pre-approved"}]}"#;

/// `POST /v1/score/batch`'s engine work without HTTP: 100 leads under one `Engine::batch`,
/// on the calling thread and on every core (rayon's pool, the server's way for a light
/// tenant). Throughput in leads.
fn bench_batch(c: &mut Criterion) {
    let engine = engine();
    let default = tid("default");
    let options = qualify_engine::decide::ScoreOptions::default();
    let lead: Lead = serde_json::from_str(LOAD_LEAD).expect("valid lead");
    let leads = vec![lead; 100];
    let mut g = c.benchmark_group("batch");
    g.throughput(Throughput::Elements(leads.len() as u64));
    g.bench_function("load_lead_100_here", |b| {
        b.iter(|| {
            let batch = engine.batch(&default, &options).expect("batch");
            batch.decide_here(black_box(&leads))
        })
    });
    g.bench_function("load_lead_100_all_cores", |b| {
        b.iter(|| {
            let batch = engine.batch(&default, &options).expect("batch");
            batch.decide_on_all_cores(black_box(&leads))
        })
    });
    let interpreted = interpreted_engine();
    g.bench_function("load_lead_100_all_cores_interpreted", |b| {
        b.iter(|| {
            let batch = interpreted.batch(&default, &options).expect("batch");
            batch.decide_on_all_cores(black_box(&leads))
        })
    });
    g.finish();
}

fn bench_extract(c: &mut Criterion) {
    let engine = engine();
    let default = tid("default");
    let mut g = c.benchmark_group("extract");
    g.throughput(Throughput::Bytes(SMS.len() as u64));
    g.bench_function("sms", |b| {
        b.iter(|| {
            engine
                .extract(black_box(&default), black_box(SMS))
                .expect("extracts")
        })
    });
    assert_eq!(SMS_ES.chars().count(), 160);
    g.throughput(Throughput::Bytes(SMS_ES.len() as u64));
    g.bench_function("sms_es", |b| {
        b.iter(|| {
            engine
                .extract(black_box(&default), black_box(SMS_ES))
                .expect("extracts")
        })
    });
    g.finish();
}

fn bench_compile(c: &mut Criterion) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules");
    let mut g = c.benchmark_group("compile");
    g.sample_size(20);
    // Everything `build` does for the embedded default tenant: read, compile the
    // scripts, parse settings, build the tenant's extractor.
    g.bench_function("default", |b| {
        b.iter(|| Engine::builder().build().expect("builds"))
    });
    g.bench_function("all_shipped_tenants", |b| {
        b.iter(|| Engine::open(black_box(&dir)).expect("builds"))
    });
    g.finish();
}

/// Jorge's method hand-written in Rust: the floor any scripted version is measured against.
mod floor {
    use qualify_engine::text::{is_answered, parse_money};
    use qualify_engine::Lead;

    #[allow(dead_code)] // computed to be timed, never read
    pub struct Out {
        pub score: usize,
        pub class: &'static str,
        pub percent: u8,
        pub tags: Vec<String>,
        pub question: Option<&'static str>,
    }

    pub fn decide(lead: &Lead) -> Out {
        let f = &lead.facts;
        let has = |k: &str| f.get(k).is_some_and(is_answered);
        let answered = [
            has("budget"),
            has("location"),
            has("timeline"),
            has("bedrooms") || has("bathrooms") || has("must_haves"),
            has("financing"),
            has("motivation"),
            has("home_condition"),
        ];
        let score = answered.iter().filter(|a| **a).count();
        let class = if score >= 3 {
            "hot"
        } else if score >= 2 {
            "warm"
        } else {
            "cold"
        };
        let percent = [5, 15, 30, 50, 65, 75, 85, 100][score];
        let mut tags: Vec<String> = match class {
            "hot" => vec!["Hot-Lead".into(), "AI-Qualified".into()],
            "warm" => vec!["Warm-Lead".into(), "AI-Engaged".into()],
            _ => vec!["Cold-Lead".into()],
        };
        if let Some(b) = f.get("budget").and_then(parse_money) {
            tags.push(
                if b < 300_000 {
                    "Budget-Under-300k"
                } else if b < 500_000 {
                    "Budget-300k-500k"
                } else {
                    "Budget-Over-500k"
                }
                .into(),
            );
        }
        if let Some(l) = f.get("location").and_then(|v| v.as_str()) {
            tags.push(format!("Location-{l}"));
        }
        let order = [
            "budget",
            "location",
            "timeline",
            "property",
            "financing",
            "motivation",
        ];
        let idx = [0, 1, 2, 3, 4, 5];
        let question = if class == "hot" {
            Some("handoff")
        } else {
            idx.iter().find(|i| !answered[**i]).map(|i| order[*i])
        };
        Out {
            score,
            class,
            percent,
            tags,
            question,
        }
    }
}

/// Shadow mode's cost to the live request: the same full decision (extraction over an
/// SMS, hooks, explanation) for a tenant without and with a `candidate/` (one question
/// text changed), and with a candidate sampling a tenth of the decisions
/// (`shadow: {sample: 0.1}`). One caller thread on a 2-core machine is half load; the
/// candidate's decisions run on shadow mode's own thread. What it dropped is printed.
fn bench_shadow(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    for tenant in ["plain", "shadowed", "sampled"] {
        let folder = dir.path().join(tenant);
        std::fs::create_dir_all(folder.join("candidate")).expect("tenant folder");
        std::fs::write(folder.join("tenant.yaml"), "name: Bench\n").expect("settings");
    }
    std::fs::remove_dir(dir.path().join("plain/candidate")).expect("no candidate");
    std::fs::write(
        dir.path().join("shadowed/candidate/tenant.yaml"),
        "questions: {buyer: {timeline: \"When would you like to move in?\"}}\n",
    )
    .expect("candidate settings");
    std::fs::write(
        dir.path().join("sampled/candidate/tenant.yaml"),
        "questions: {buyer: {timeline: \"When would you like to move in?\"}}\nshadow: {sample: 0.1}\n",
    )
    .expect("candidate settings");
    let engine = Engine::open(dir.path()).expect("rules load");
    let lead = messages_lead();
    let mut g = c.benchmark_group("shadow/overhead");
    g.throughput(Throughput::Elements(1));
    let tenants = [
        ("off", tid("plain")),
        ("on", tid("shadowed")),
        ("sampled_10pct", tid("sampled")),
    ];
    for (name, tenant) in tenants {
        g.bench_function(name, |b| {
            b.iter(|| {
                engine
                    .score(black_box(&tenant), black_box(&lead))
                    .expect("scores")
            })
        });
    }
    g.finish();
    for (name, tenant) in [("on", "shadowed"), ("sampled_10pct", "sampled")] {
        let report = engine.rules().shadow(&tid(tenant)).expect("a report");
        eprintln!(
            "shadow/overhead/{name}: {} decisions, {} left out by the sample, {} compared, {} dropped (queue full), {} pending",
            report.decisions, report.skipped, report.compared, report.dropped, report.pending
        );
    }
}

criterion_group!(
    benches,
    bench_score,
    bench_batch,
    bench_extract,
    bench_compile,
    bench_shadow
);
criterion_main!(benches);

fn tid(id: &str) -> TenantId {
    TenantId::new(id).expect("valid tenant id")
}
