//! The `qualify` command line: the command tree (clap) and what the commands share (where
//! rules come from, opening the store, reading input). Each command lives in the module
//! for its topic and takes its parsed arguments and a writer, so tests can run it
//! in-process as well as through the binary.

pub mod analytics;
pub mod audit;
pub mod bench;
pub mod conversation;
pub mod experiment;
pub mod replay;
pub mod rules;
pub mod score;
pub mod serve;
pub mod shadow;
pub mod store;
pub mod tenant;
pub mod text;
pub mod transcripts;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use qualify_engine::engine::EngineBuilder;
use qualify_engine::{Engine, TenantId};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The command line.
#[derive(Parser)]
#[command(
    name = "qualify",
    version,
    about = "Qualify real-estate leads with per-tenant rules"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Every command.
#[derive(Subcommand)]
pub enum Command {
    /// Score one lead (JSON) and print the decision: score, class, tags, next question.
    Score(score::ScoreArgs),
    /// Compile and validate every tenant's rules; print file:line:column: message per problem.
    Check(RulesArg),
    /// Measure a tenant's rules: decisions per second and latency on the leads of a file
    /// (or a built-in mix); prints JSON.
    Bench(bench::BenchArgs),
    /// Run every tenant's cases file and print `N passed, N failed`; with --coverage,
    /// which script lines and branches the cases never ran.
    Test(rules::TestArgs),
    /// Replay every stored conversation of a tenant under a candidate rule folder and
    /// the serving version: how many decisions change (class, score, tags, question,
    /// hand-off), the class transitions and examples. Reads the store only.
    Replay(replay::ReplayArgs),
    /// Shadow mode: what the running server counted for a tenant's `candidate/` (its
    /// live decisions made again under it, and what changed).
    Shadow {
        /// What to do.
        #[command(subcommand)]
        action: shadow::ShadowAction,
    },
    /// Ingest an inbound message into a contact's stored conversation; print the result.
    Ingest(conversation::IngestArgs),
    /// Show, export or erase a stored contact.
    Contact {
        /// What to do with it.
        #[command(subcommand)]
        action: conversation::ContactAction,
    },
    /// Tenant registration and data management.
    Tenant {
        /// What to do.
        #[command(subcommand)]
        action: tenant::TenantAction,
    },
    /// The outbox of CRM actions: what waits, and (with --failed) what will not be sent.
    Outbox {
        /// What to do.
        #[command(subcommand)]
        action: tenant::OutboxAction,
    },
    /// A/B experiments: list, show, analyze (also counts from a file), stop, assign.
    Experiment {
        /// What to do.
        #[command(subcommand)]
        action: experiment::ExperimentAction,
    },
    /// A tenant's analytics over a range of days (UTC; default the last 30): funnel,
    /// class mix by day, time to hot, question answer rates, follow-up response by stage,
    /// opt-outs, experiments.
    Analytics(analytics::AnalyticsArgs),
    /// The prototype's transcripts: import a file into a tenant, export the imported
    /// transcripts' metrics as CSV, print a file's patterns report.
    Transcripts {
        /// What to do.
        #[command(subcommand)]
        action: transcripts::TranscriptsAction,
    },
    /// Master and tenant key management.
    Keys {
        /// What to do.
        #[command(subcommand)]
        action: tenant::KeysAction,
    },
    /// Run the HTTP server (the main job). With no arguments: 127.0.0.1:8080, ./data,
    /// ./rules (or the embedded defaults), a dev master key and a dev tenant `default`.
    Serve(serve::ServeArgs),
    /// Send the follow-ups due now (24/48/72 h of silence by default); prints one JSON
    /// line per contact handled (sent, deferred, skipped), then a summary line.
    Reengage(conversation::ReengageArgs),
    /// SMS encoding and segments of a text: {"encoding", "segments", "units", "non_gsm"}.
    SmsInfo(text::TextArg),
    /// Redact PII from a text: prints {"text", "findings": [{"entity", "start", "end"}]}.
    Redact(text::TextArg),
    /// Bring a PostgreSQL store's schema up to date (`serve` does it too, under a lock).
    Migrate(store::MigrateArgs),
    /// Move a whole store between a data folder and PostgreSQL (either way), checked.
    Store {
        /// What to do.
        #[command(subcommand)]
        action: store::StoreAction,
    },
    /// Check a deployment (keys, permissions, plaintext in the database file, webhook
    /// verification, rules); one finding per line; exit status 2 when any is high.
    Audit(audit::AuditArgs),
}

/// `--rules DIR`.
#[derive(Args)]
pub struct RulesArg {
    /// Rules folder (one sub-folder per tenant). Default: ./rules if present, else the
    /// embedded default rules.
    #[arg(long, value_name = "DIR")]
    pub rules: Option<PathBuf>,
}

/// Where the store is and which master key opens it.
#[derive(Args)]
pub struct StoreArgs {
    /// Data folder holding the store (qualify.redb) and, in dev mode, master.key.
    #[arg(long, value_name = "DIR", default_value = "data")]
    pub data: PathBuf,
    /// Keep the store in PostgreSQL instead of the data folder's file
    /// (postgres://user:password@host:port/database; add ?sslmode=require for TLS).
    /// Replicas given the same database and master key share one state.
    #[arg(
        long,
        value_name = "URL",
        env = "QUALIFY_DATABASE_URL",
        hide_env_values = true
    )]
    pub database: Option<String>,
    /// File with the master key (64 hex characters). Else QUALIFY_MASTER_KEY, else a
    /// generated dev key in the data folder.
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// Memory for the store's page cache, in MiB (what a long-running server's store
    /// may hold in memory besides its working set).
    #[arg(
        long,
        value_name = "MIB",
        env = "QUALIFY_STORE_CACHE_MIB",
        default_value_t = 64
    )]
    pub cache_mib: usize,
}

/// The store and a tenant in it.
#[derive(Args)]
pub struct DataArgs {
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Tenant.
    #[arg(long, default_value = "default")]
    pub tenant: String,
}

impl DataArgs {
    /// The tenant, checked (an invalid id is an error naming it).
    pub fn tenant(&self) -> Result<TenantId> {
        Ok(TenantId::new(&self.tenant)?)
    }
}

/// Where the rules come from: `--rules DIR`, else `./rules` when it exists, else the
/// default rules embedded in the binary.
/// `QUALIFY_LOWERING=off` runs every hook on Rhai's interpreter (see
/// [`EngineBuilder::lowering`]).
pub fn engine_builder(rules: Option<&Path>) -> EngineBuilder {
    let builder = match rules {
        Some(dir) => Engine::builder().rules_dir(dir),
        None if Path::new("rules").is_dir() => Engine::builder().rules_dir("rules"),
        None => {
            tracing::info!("no ./rules folder: using the embedded default rules");
            Engine::builder()
        }
    };
    let lowering = std::env::var("QUALIFY_LOWERING").map_or(true, |v| v != "off");
    if !lowering {
        tracing::info!("QUALIFY_LOWERING=off: every hook runs on Rhai's interpreter");
    }
    builder.lowering(lowering)
}

/// A stateless engine (no store) over the rules.
pub fn open_engine(rules: Option<&Path>) -> Result<Engine> {
    Ok(engine_builder(rules).build()?)
}

/// An engine with the store in `data`, and where its master key came from.
pub fn open_with_store(
    rules: Option<&Path>,
    data: &StoreArgs,
) -> Result<(Engine, crate::keys::KeySource)> {
    let (store, source) = crate::keys::open_store(data, &mut std::io::stderr())?;
    Ok((engine_builder(rules).store(store).build()?, source))
}

/// Reads a whole input: a file path, or `-` / nothing for standard input.
pub fn read_input(input: Option<&Path>) -> Result<String> {
    let mut text = String::new();
    match input {
        Some(p) if p != Path::new("-") => {
            text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?;
        }
        _ => {
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read standard input")?;
        }
    }
    Ok(text)
}

/// Reads a message from an argument, `-`, or standard input when absent.
pub fn text_arg(text: Option<&str>) -> Result<String> {
    match text {
        Some(t) if t != "-" => Ok(t.to_string()),
        _ => read_input(None),
    }
}

/// Writes a value as pretty JSON and a newline.
pub fn print_json(out: &mut impl Write, v: &impl serde::Serialize) -> Result<()> {
    serde_json::to_writer_pretty(&mut *out, v)?;
    writeln!(out)?;
    Ok(())
}
