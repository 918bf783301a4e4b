//! The fuzz targets on stable Rust, without coverage guidance: each target runs for a
//! bounded time on inputs from a seeded RNG (generated, mutated seeds, raw bytes).
//!
//! Run with `cargo run --release --no-default-features --features smoke --bin smoke --
//! [--seconds N] [--seed S] [TARGET...]` (all targets when none is named), or replay a
//! saved input with `-- --replay TARGET FILE`. A panic or an input slower than
//! `--hang-seconds` (default 10) is saved under `artifacts/TARGET/` and the run exits 1.

use qualify_fuzz::gen::{self, Rng};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The checked-in seeds of a target (`seeds/TARGET/*`).
fn seeds(target: &str) -> Vec<Vec<u8>> {
    let Ok(dir) = std::fs::read_dir(fuzz_dir().join("seeds").join(target)) else {
        return Vec::new();
    };
    dir.filter_map(|e| std::fs::read(e.ok()?.path()).ok())
        .collect()
}

/// Saves a failing input; its path.
fn save(target: &str, kind: &str, input: &[u8]) -> PathBuf {
    let dir = fuzz_dir().join("artifacts").join(target);
    let _ = std::fs::create_dir_all(&dir);
    // FNV-1a: a stable name for the same input.
    let hash = input.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    });
    let path = dir.join(format!("{kind}-{hash:016x}"));
    let _ = std::fs::write(&path, input);
    path
}

struct Args {
    seconds: u64,
    seed: u64,
    hang: u64,
    targets: Vec<String>,
    replay: Option<(String, PathBuf)>,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        seconds: 60,
        seed: 1,
        hang: 10,
        targets: Vec::new(),
        replay: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut num = |name: &str| -> Result<u64, String> {
            it.next()
                .and_then(|v| v.parse().ok())
                .ok_or(format!("{name} needs a number"))
        };
        match arg.as_str() {
            "--seconds" => a.seconds = num("--seconds")?,
            "--seed" => a.seed = num("--seed")?,
            "--hang-seconds" => a.hang = num("--hang-seconds")?,
            "--replay" => {
                let t = it.next().ok_or("--replay TARGET FILE")?;
                let f = it.next().ok_or("--replay TARGET FILE")?;
                a.replay = Some((t, PathBuf::from(f)));
            }
            t if qualify_fuzz::target(t).is_some() => a.targets.push(t.to_string()),
            other => return Err(format!("unknown argument or target {other:?}")),
        }
    }
    if a.targets.is_empty() {
        a.targets = qualify_fuzz::TARGETS
            .iter()
            .map(|(n, _)| n.to_string())
            .collect();
    }
    Ok(a)
}

fn replay(target: &str, file: &Path) -> std::process::ExitCode {
    let Some(f) = qualify_fuzz::target(target) else {
        eprintln!("smoke: unknown target {target:?}");
        return std::process::ExitCode::FAILURE;
    };
    let input = match std::fs::read(file) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("smoke: {}: {e}", file.display());
            return std::process::ExitCode::FAILURE;
        }
    };
    let started = Instant::now();
    f(&input);
    println!("{target}: no panic in {:?}", started.elapsed());
    std::process::ExitCode::SUCCESS
}

fn main() -> std::process::ExitCode {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("smoke: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    if let Some((t, f)) = &a.replay {
        return replay(t, f);
    }
    // The input being run and when it started, for the hang watchdog.
    let current: Arc<Mutex<(String, Vec<u8>)>> = Arc::default();
    let started_ms = Arc::new(AtomicU64::new(0));
    let epoch = Instant::now();
    {
        let (current, started_ms, hang) = (current.clone(), started_ms.clone(), a.hang);
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(250));
            let s = started_ms.load(Ordering::Acquire);
            let now = epoch.elapsed().as_millis() as u64;
            if s != 0 && now.saturating_sub(s) > hang * 1000 {
                let (t, input) = current.lock().unwrap_or_else(|e| e.into_inner()).clone();
                let path = save(&t, "timeout", &input);
                eprintln!(
                    "{t}: HANG: one input ran over {hang} s; saved {}",
                    path.display()
                );
                std::process::exit(1);
            }
        });
    }
    let mut failed = false;
    for target in &a.targets {
        let f = qualify_fuzz::target(target).expect("checked in args");
        let seeds = seeds(target);
        let mut rng = Rng::new(a.seed ^ target.len() as u64);
        let (mut runs, mut crashes, mut slowest) = (0u64, 0u64, Duration::ZERO);
        gen::take_tally();
        let until = Instant::now() + Duration::from_secs(a.seconds);
        while Instant::now() < until {
            let input = gen::input(target, &mut rng, &seeds);
            *current.lock().unwrap_or_else(|e| e.into_inner()) = (target.clone(), input.clone());
            let t0 = Instant::now();
            started_ms.store(
                (epoch.elapsed().as_millis() as u64).max(1),
                Ordering::Release,
            );
            let result = std::panic::catch_unwind(|| f(&input));
            started_ms.store(0, Ordering::Release);
            slowest = slowest.max(t0.elapsed());
            runs += 1;
            if result.is_err() {
                crashes += 1;
                let path = save(target, "crash", &input);
                eprintln!("{target}: CRASH saved {}", path.display());
                if crashes >= 5 {
                    break;
                }
            }
        }
        let tally: Vec<String> = gen::take_tally()
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        println!(
            "{target}: {runs} inputs in {} s, {crashes} crashes, slowest {:.1} ms{}{}",
            a.seconds,
            slowest.as_secs_f64() * 1e3,
            if tally.is_empty() { "" } else { "; " },
            tally.join(" ")
        );
        failed |= crashes > 0;
    }
    if failed {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}
