//! The `qualify` command line: score leads, check and test tenants' rules, hold
//! conversations in the encrypted store, answer privacy requests, manage keys, serve HTTP.
//!
//! Run with `cargo run --release -- serve` (see the README).

use clap::Parser;
use host::cli::{
    analytics, audit, bench, conversation, experiment, replay, rules, score, serve, shadow, store,
    tenant, text, transcripts, Cli, Command,
};
use std::io::Write;
use std::process::ExitCode;

/// mimalloc instead of glibc's malloc: the engine hands work between threads (the
/// server's blocking pool, group commit, shadow mode), and glibc serialises a thread's
/// allocations behind another thread's frees of memory from the same arena; measured in
/// BENCHMARKS.md ("Shadow mode's cost").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// One line per command: each lives in its `cli` module.
fn run(cli: Cli, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Score(args) => score::run(args, out),
        Command::Check(args) => rules::run_check(args, out),
        Command::Bench(args) => bench::run(args, out),
        Command::Test(args) => rules::run_test(args, out),
        Command::Replay(args) => replay::run(args, out).map(|()| ExitCode::SUCCESS),
        Command::Shadow { action } => shadow::run(action, out).map(|()| ExitCode::SUCCESS),
        Command::Ingest(args) => conversation::ingest(args, out),
        Command::Contact { action } => conversation::contact(action, out),
        Command::Reengage(args) => conversation::reengage(args, out),
        Command::Tenant { action } => tenant::tenant(action, out),
        Command::Keys { action } => tenant::keys(action, out),
        Command::Transcripts { action } => transcripts::run(action, out),
        Command::Analytics(args) => analytics::run(args, out).map(|()| ExitCode::SUCCESS),
        Command::Experiment { action } => experiment::run(action, out),
        Command::Outbox { action } => tenant::outbox(action, out),
        Command::Serve(args) => serve::run(args),
        Command::SmsInfo(args) => text::sms_info(args, out),
        Command::Redact(args) => text::redact(args, out),
        Command::Audit(args) => audit::run(args, out),
        Command::Migrate(args) => store::migrate(args, out).map(|()| ExitCode::SUCCESS),
        Command::Store { action } => store::run(action, out).map(|()| ExitCode::SUCCESS),
    }
}

/// An error and its causes on one line, each cause once: a cause whose text the message
/// already ends with (an error that displays its own source) is not repeated.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.ends_with(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// Transparent huge pages off for this process. mimalloc gives each thread its own heap
/// and asks the kernel for huge pages, so every new thread's first allocations fault in
/// (and zero) whole 2 MiB pages: when a burst of ingests wakes ~64 blocking threads at
/// once, the kernel spent a quarter of the server's CPU zeroing ~230 MB, and the first
/// second of the burst had a p99 of 80-120 ms instead of 12-16 ms (BENCHMARKS.md, "The
/// first second of an ingest burst"). With 4 KiB pages the same server holds ~80 MB.
/// Best effort: a kernel that refuses only costs that first second.
fn no_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    if let Err(e) = nix::sys::prctl::set_thp_disable(true) {
        tracing::debug!(error = %e, "transparent huge pages stay on");
    }
}

fn main() -> ExitCode {
    // RUST_LOG filters (default: warnings); QUALIFY_LOG_FORMAT=json gives one JSON
    // object per line for a log shipper.
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr);
    if std::env::var("QUALIFY_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        logs.json().init();
    } else {
        logs.init();
    }
    no_transparent_huge_pages();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let result = run(Cli::parse(), &mut out);
    let flushed = out.flush();
    match result.and_then(|code| flushed.map(|_| code).map_err(Into::into)) {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "qualify: error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}
