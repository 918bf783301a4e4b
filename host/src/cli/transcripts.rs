//! `qualify transcripts import|export-metrics|report`: the prototype's transcript files
//! (JSON or CSV) into a tenant's store, the imported transcripts' metrics out as CSV,
//! and the patterns report of a file.

use super::{open_with_store, print_json, DataArgs};
use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use qualify_engine::transcript::{self, write_metrics_csv};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `qualify transcripts ...`.
#[derive(Subcommand)]
pub enum TranscriptsAction {
    /// Import a transcript file (JSON: one transcript, a list, or {"transcripts": [...]};
    /// CSV: one row per message) into a tenant as contacts and conversations, dated as
    /// in the file. Nothing is sent: no GoHighLevel action, no follow-up. Each malformed
    /// record is reported (CSV by line, JSON by index) and skipped; a summary ends it.
    Import(ImportArgs),
    /// Write the metrics of every transcript imported into the tenant as CSV (the
    /// prototype's ten columns; the header even when there is nothing to export).
    ExportMetrics(ExportArgs),
    /// The patterns report of a transcript file (no store): winning questions, closing
    /// phrases, question order, keywords, close rates, recommendations.
    Report(ReportArgs),
}

/// Arguments of `qualify transcripts import`.
#[derive(Args)]
pub struct ImportArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Rules folder (default: ./rules if present, else the embedded defaults).
    #[arg(long, value_name = "DIR")]
    rules: Option<PathBuf>,
    /// The transcript file (.csv is read as CSV, anything else as JSON).
    file: PathBuf,
}

/// Arguments of `qualify transcripts export-metrics`.
#[derive(Args)]
pub struct ExportArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Rules folder (default: ./rules if present, else the embedded defaults).
    #[arg(long, value_name = "DIR")]
    rules: Option<PathBuf>,
    /// The CSV file to write (`-` for standard output).
    file: PathBuf,
}

/// Report formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Plain text for a person.
    Text,
    /// The report as JSON.
    Json,
}

/// Arguments of `qualify transcripts report`.
#[derive(Args)]
pub struct ReportArgs {
    /// The transcript file.
    file: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    format: ReportFormat,
}

/// Runs `qualify transcripts ...`.
pub fn run(action: TranscriptsAction, out: &mut impl Write) -> Result<ExitCode> {
    match action {
        TranscriptsAction::Import(args) => import(args, out),
        TranscriptsAction::ExportMetrics(args) => export(args, out),
        TranscriptsAction::Report(args) => {
            let parsed = transcript::read_file(&args.file)?;
            report_skipped(&args.file, &parsed.skipped);
            let report = transcript::patterns(&parsed.transcripts, jiff::Timestamp::now());
            match args.format {
                ReportFormat::Json => print_json(out, &report)?,
                ReportFormat::Text => out.write_all(report.to_text().as_bytes())?,
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Each skipped record on standard error, with where it is.
fn report_skipped(file: &Path, skipped: &[transcript::Skipped]) {
    for s in skipped {
        eprintln!("{}: skipped {s}", file.display());
    }
}

fn import(args: ImportArgs, out: &mut impl Write) -> Result<ExitCode> {
    let tenant = args.data.tenant()?;
    let parsed = transcript::read_file(&args.file)?;
    report_skipped(&args.file, &parsed.skipped);
    let (engine, _) = open_with_store(args.rules.as_deref(), &args.data.store)?;
    let total = parsed.transcripts.len();
    let bar = std::io::IsTerminal::is_terminal(&std::io::stderr()).then(|| {
        let bar = indicatif::ProgressBar::new(total as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} transcripts imported ({eta} left)",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let report = engine
        .transcripts()
        .import(&tenant, &parsed.transcripts, &mut |done| {
            if let Some(b) = &bar {
                b.set_position(done as u64);
            }
        })
        .with_context(|| format!("importing {}", args.file.display()))?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    for (id, reason) in &report.failed {
        eprintln!(
            "{}: transcript {id:?} not imported: {reason}",
            args.file.display()
        );
    }
    let summary = json!({
        "file": args.file.display().to_string(),
        "tenant": tenant.as_str(),
        "read": total + parsed.skipped.len(),
        "imported": report.imported,
        "messages": report.messages,
        "already_imported": report.already_imported.len(),
        "renamed": report.renamed.iter().map(|(from, to)| json!({"transcript": from, "contact": to})).collect::<Vec<_>>(),
        "skipped": parsed.skipped.iter().map(|s| json!({"at": s.at.to_string(), "id": s.id, "reason": s.reason})).collect::<Vec<_>>(),
        "failed": report.failed.iter().map(|(id, reason)| json!({"transcript": id, "reason": reason})).collect::<Vec<_>>(),
    });
    print_json(out, &summary)?;
    Ok(ExitCode::SUCCESS)
}

fn export(args: ExportArgs, out: &mut impl Write) -> Result<ExitCode> {
    let tenant = args.data.tenant()?;
    let (engine, _) = open_with_store(args.rules.as_deref(), &args.data.store)?;
    let (rows, unreadable) = engine.transcripts().metrics(&tenant)?;
    if unreadable > 0 {
        eprintln!(
            "warning: {unreadable} stored transcript rows could not be opened and were left out"
        );
    }
    if args.file == Path::new("-") {
        write_metrics_csv(&mut *out, &rows)?;
    } else {
        let file = std::fs::File::create(&args.file)
            .with_context(|| format!("cannot create {}", args.file.display()))?;
        let mut w = std::io::BufWriter::new(file);
        write_metrics_csv(&mut w, &rows)?;
        w.flush()
            .with_context(|| format!("cannot write {}", args.file.display()))?;
        eprintln!(
            "{} transcripts' metrics written to {}",
            rows.len(),
            args.file.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
