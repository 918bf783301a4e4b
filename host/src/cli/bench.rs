//! `qualify bench`: a tenant's own rules, measured (like `opa bench`). Warms up, then
//! decides the leads of a file (JSON lines; a built-in realistic mix without one) on N
//! threads for S seconds, and prints what it measured as JSON.

use super::{open_engine, RulesArg};
use anyhow::{bail, Context, Result};
use clap::Args;
use qualify_engine::decide::ScoreOptions;
use qualify_engine::{Engine, Lead, TenantId};
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The built-in mix: supplied facts and short conversations, buyers and sellers, active
/// and deactivated contacts.
const MIX: &str = include_str!("bench_leads.jsonl");

/// Arguments of `qualify bench`.
#[derive(Args)]
pub struct BenchArgs {
    #[command(flatten)]
    rules: RulesArg,
    /// Tenant whose rules are measured.
    #[arg(long, default_value = "default")]
    tenant: String,
    /// Leave the explanation out.
    #[arg(long)]
    no_explain: bool,
    /// Threads deciding at once (default: every core).
    #[arg(long)]
    threads: Option<usize>,
    /// How long to measure, in seconds (after a warm-up of a tenth of it).
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Leads, one JSON object per line (default: a built-in mix).
    file: Option<PathBuf>,
}

/// What `qualify bench` measured.
#[derive(Debug, Serialize)]
pub struct BenchReport {
    /// The tenant measured.
    pub tenant: TenantId,
    /// Decisions made while measuring.
    pub decisions: u64,
    /// Decisions per second, all threads.
    pub decisions_per_s: f64,
    /// `decisions_per_s` divided by the threads.
    pub per_core_per_s: f64,
    /// Median time of one decision.
    pub p50_ns: u64,
    /// 99th percentile.
    pub p99_ns: u64,
    /// Threads used.
    pub threads: usize,
    /// Whether explanations were built.
    pub explain: bool,
    /// The tenant's script functions that run on Rhai's interpreter rather than lowered
    /// (empty: every hook runs lowered; see rules/README.md, "Speed"), with why.
    pub interpreted: Vec<Interpreted>,
}

/// A script function that runs interpreted, and why.
#[derive(Debug, Serialize)]
pub struct Interpreted {
    /// The function's name.
    pub function: String,
    /// What kept it from being lowered ("it has a loop", ...).
    pub reason: String,
}

/// Reads the leads: every line must be a lead, and there must be one.
fn leads(file: Option<&std::path::Path>) -> Result<Vec<Lead>> {
    let text = match file {
        Some(f) => {
            std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?
        }
        None => MIX.to_string(),
    };
    let mut leads = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        leads.push(Lead::from_json(line).with_context(|| format!("line {}", i + 1))?);
    }
    if leads.is_empty() {
        bail!("no leads to measure: the file has no lines");
    }
    Ok(leads)
}

/// One thread's loop until `until`: decisions made and a sample of their times.
fn run_thread(
    engine: &Engine,
    tenant: &TenantId,
    leads: &[Lead],
    options: &ScoreOptions,
    until: Instant,
) -> Result<(u64, Vec<u32>)> {
    let mut done = 0u64;
    let mut times = Vec::with_capacity(1 << 16);
    while Instant::now() < until {
        for lead in leads {
            let start = Instant::now();
            engine.score_with(tenant, lead, options)?;
            let ns = start.elapsed().as_nanos();
            done += 1;
            if times.len() < 4_000_000 {
                times.push(u32::try_from(ns).unwrap_or(u32::MAX));
            }
        }
    }
    Ok((done, times))
}

/// Measures; the report.
pub fn measure(
    engine: &Engine,
    tenant: &TenantId,
    leads: &[Lead],
    options: &ScoreOptions,
    threads: usize,
    seconds: f64,
) -> Result<BenchReport> {
    engine.score_with(tenant, &leads[0], options)?; // a bad tenant fails here, at once
    let warm = Instant::now() + Duration::from_secs_f64(seconds / 10.0);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| s.spawn(|| run_thread(engine, tenant, leads, options, warm)))
            .collect();
        handles
            .into_iter()
            .try_for_each(|h| h.join().expect("bench thread").map(|_| ()))
    })?;
    let start = Instant::now();
    let until = start + Duration::from_secs_f64(seconds);
    let results = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| s.spawn(|| run_thread(engine, tenant, leads, options, until)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("bench thread"))
            .collect::<Result<Vec<_>>>()
    })?;
    let elapsed = start.elapsed().as_secs_f64();
    let decisions: u64 = results.iter().map(|(n, _)| n).sum();
    let mut times: Vec<u32> = results.into_iter().flat_map(|(_, t)| t).collect();
    times.sort_unstable();
    let pct = |p: f64| {
        times
            .get(((times.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(0)
    };
    let decisions_per_s = decisions as f64 / elapsed;
    Ok(BenchReport {
        tenant: tenant.clone(),
        decisions,
        decisions_per_s,
        per_core_per_s: decisions_per_s / threads as f64,
        p50_ns: u64::from(pct(0.50)),
        p99_ns: u64::from(pct(0.99)),
        threads,
        explain: options.explain,
        interpreted: engine
            .rules()
            .interpreted(tenant)?
            .into_iter()
            .map(|(function, reason)| Interpreted { function, reason })
            .collect(),
    })
}

/// Runs `qualify bench`: JSON on stdout; a human summary on stderr when it is a terminal.
pub fn run(args: BenchArgs, out: &mut impl Write) -> Result<ExitCode> {
    if !(args.seconds > 0.0 && args.seconds.is_finite()) {
        bail!("--seconds must be a positive number of seconds");
    }
    let engine = open_engine(args.rules.rules.as_deref())?;
    let tenant = TenantId::new(&args.tenant)?;
    let leads = leads(args.file.as_deref())?;
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let options = ScoreOptions {
        explain: !args.no_explain,
    };
    let report = measure(&engine, &tenant, &leads, &options, threads, args.seconds)?;
    serde_json::to_writer(&mut *out, &report)?;
    writeln!(out)?;
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        eprintln!(
            "{}: {:.0} decisions/s on {} thread(s) ({:.0} per core), median {:.2} µs, p99 {:.2} µs{}",
            report.tenant,
            report.decisions_per_s,
            report.threads,
            report.per_core_per_s,
            report.p50_ns as f64 / 1000.0,
            report.p99_ns as f64 / 1000.0,
            if report.explain { "" } else { ", explanations off" }
        );
        for f in &report.interpreted {
            eprintln!(
                "  interpreted, not lowered: fn {}: {}",
                f.function, f.reason
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
