//! The `qualify` command line: score leads, check and test tenants' rules.
//!
//! Run with `cargo run --release -- score examples/lead.json` (see the README).

use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "qualify",
    version,
    about = "Qualify real-estate leads with per-tenant rules"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct RulesArg {
    /// Rules folder (one sub-folder per tenant). Default: ./rules if present, else the
    /// embedded default rules.
    #[arg(long, value_name = "DIR")]
    rules: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Score one lead (JSON) and print the decision: score, class, tags, next question.
    Score {
        #[command(flatten)]
        rules: RulesArg,
        /// Tenant whose rules decide.
        #[arg(long, default_value = "default")]
        tenant: String,
        /// Read one lead per line and write one result per line (batch mode, all cores).
        #[arg(long)]
        jsonl: bool,
        /// Pretty-print the JSON.
        #[arg(long, conflicts_with = "jsonl")]
        pretty: bool,
        /// Lead file, or - for standard input.
        file: Option<PathBuf>,
    },
    /// Compile and validate every tenant's rules; print file:line:column: message per problem.
    Check {
        #[command(flatten)]
        rules: RulesArg,
    },
    /// Run every tenant's cases file and print `N passed, N failed`.
    Test {
        #[command(flatten)]
        rules: RulesArg,
    },
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let code = match cli.command {
        Command::Score {
            rules,
            tenant,
            jsonl,
            pretty,
            file,
        } => {
            let engine = host::cli::open_engine(rules.rules.as_deref())?;
            if jsonl {
                let bad = host::cli::score_jsonl(
                    &engine,
                    &tenant,
                    file.as_deref(),
                    &mut out,
                    &mut std::io::stderr(),
                )?;
                if bad > 0 {
                    ExitCode::FAILURE
                } else {
                    ExitCode::SUCCESS
                }
            } else {
                host::cli::score(&engine, &tenant, file.as_deref(), pretty, &mut out)?;
                ExitCode::SUCCESS
            }
        }
        Command::Check { rules } => {
            let engine = host::cli::open_engine(rules.rules.as_deref())?;
            if host::cli::check(&engine, &mut out)? > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Command::Test { rules } => {
            let engine = host::cli::open_engine(rules.rules.as_deref())?;
            if host::cli::test(&engine, &mut out)? > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
    };
    out.flush()?;
    Ok(code)
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            // One line, with the causes chained.
            let _ = writeln!(std::io::stderr(), "qualify: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
