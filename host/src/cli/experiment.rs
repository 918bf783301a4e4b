//! `qualify experiment list|show|analyze|stop|assign`: a tenant's A/B experiments from
//! the command line. Definitions come from the tenant's `experiments.yaml`; exposures
//! and outcomes from the store. `analyze --counts FILE` analyses counts from anywhere,
//! without a store.

use super::{open_engine, open_with_store, print_json, read_input, DataArgs};
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use qualify_engine::experiment::stats::{self, Counts, Direction};
use qualify_engine::ContactId;
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// `qualify experiment ...`.
#[derive(Subcommand)]
pub enum ExperimentAction {
    /// One line per experiment of the tenant: status, exposures, the winner if declared.
    List(Scope),
    /// An experiment's definition, status and analysis (the same as `analyze`).
    Show(Keyed),
    /// Analyse an experiment from the store, or counts from a file (`--counts FILE`,
    /// no store needed): per arm n, rate and its 95 % interval, z, p-value, difference,
    /// lift, chance to beat control; sample-ratio mismatch; the winner, if any.
    Analyze(AnalyzeArgs),
    /// Stop an experiment now: no more exposures or outcomes; every contact gets the
    /// control from its next decision on. Recorded in the store (the file keeps the
    /// definition).
    Stop(Keyed),
    /// The variant contacts have (recorded) or would get (the hash), one JSON line per id.
    Assign(AssignArgs),
}

/// The store, the tenant and the rules.
#[derive(Args)]
pub struct Scope {
    #[command(flatten)]
    data: DataArgs,
    /// Rules folder (default: ./rules if present, else the embedded defaults).
    #[arg(long, value_name = "DIR")]
    rules: Option<PathBuf>,
}

/// [`Scope`] and an experiment key.
#[derive(Args)]
pub struct Keyed {
    #[command(flatten)]
    scope: Scope,
    /// The experiment's key.
    key: String,
}

/// Arguments of `qualify experiment analyze`.
#[derive(Args)]
pub struct AnalyzeArgs {
    #[command(flatten)]
    scope: Scope,
    /// The experiment's key (not with --counts).
    #[arg(required_unless_present = "counts", conflicts_with = "counts")]
    key: Option<String>,
    /// Analyse these counts instead: {"variants": [{"name", "n", "conversions", "weight"}]}
    /// (the first is the control; a numeric metric gives "mean" and "sd" instead of
    /// "conversions"). `-` reads standard input.
    #[arg(long, value_name = "FILE")]
    counts: Option<PathBuf>,
    /// With --counts: significance level.
    #[arg(long, default_value_t = 0.05)]
    alpha: f64,
    /// With --counts: exposures every arm needs before a winner is declared.
    #[arg(long, default_value_t = 30)]
    min_sample: u64,
    /// With --counts: sequential mode with this mixing parameter (the difference the
    /// test is tuned to find, e.g. 0.05 = five percentage points).
    #[arg(long, value_name = "TAU")]
    sequential: Option<f64>,
    /// With --counts: lower is better (e.g. an opt-out rate).
    #[arg(long)]
    lower_is_better: bool,
}

/// Arguments of `qualify experiment assign`.
#[derive(Args)]
pub struct AssignArgs {
    #[command(flatten)]
    keyed: Keyed,
    /// Contact ids.
    #[arg(required = true)]
    contacts: Vec<String>,
}

/// Runs `qualify experiment ...`.
pub fn run(action: ExperimentAction, out: &mut impl Write) -> Result<ExitCode> {
    match action {
        ExperimentAction::List(scope) => {
            let (engine, _) = open_with_store(scope.rules.as_deref(), &scope.data.store)?;
            print_json(out, &engine.experiments().list(&scope.data.tenant()?)?)?;
        }
        ExperimentAction::Show(Keyed { scope, key }) => show(&scope, &key, out)?,
        ExperimentAction::Analyze(args) => match (&args.counts, &args.key) {
            (Some(file), _) => analyze_counts(&args, file, out)?,
            (None, Some(key)) => show(&args.scope, key, out)?,
            (None, None) => unreachable!("clap requires a key or --counts"),
        },
        ExperimentAction::Stop(Keyed { scope, key }) => {
            let (engine, _) = open_with_store(scope.rules.as_deref(), &scope.data.store)?;
            let stopped = engine.experiments().stop(&scope.data.tenant()?, &key)?;
            print_json(
                out,
                &json!({"experiment": key, "stopped": stopped,
                "note": if stopped { "stopped now" } else { "already stopped" }}),
            )?;
        }
        ExperimentAction::Assign(args) => {
            let Keyed { scope, key } = &args.keyed;
            let tenant = scope.data.tenant()?;
            // Without a store folder the hash alone answers (nothing recorded to read).
            let engine = if scope.data.store.data.exists() {
                open_with_store(scope.rules.as_deref(), &scope.data.store)?.0
            } else {
                open_engine(scope.rules.as_deref())?
            };
            for id in &args.contacts {
                let contact = ContactId::new(id)?;
                let variant = engine.experiments().variant_of(&tenant, key, &contact)?;
                serde_json::to_writer(&mut *out, &json!({"contact_id": id, "variant": variant}))?;
                writeln!(out)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn show(scope: &Scope, key: &str, out: &mut impl Write) -> Result<()> {
    let (engine, _) = open_with_store(scope.rules.as_deref(), &scope.data.store)?;
    print_json(
        out,
        &engine.experiments().report(&scope.data.tenant()?, key)?,
    )
}

fn analyze_counts(args: &AnalyzeArgs, file: &std::path::Path, out: &mut impl Write) -> Result<()> {
    let text = read_input(Some(file))?;
    let counts: Counts = serde_json::from_str(&text)
        .with_context(|| format!("{}: not the counts JSON", file.display()))?;
    let settings = stats::Settings {
        alpha: args.alpha,
        min_sample: args.min_sample,
        sequential_tau: args.sequential,
        direction: if args.lower_is_better {
            Direction::Decrease
        } else {
            Direction::Increase
        },
    };
    print_json(out, &stats::analyze(&counts, &settings)?)
}
