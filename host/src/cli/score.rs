//! `qualify score`: one lead (JSON) in, one decision out; or, with `--jsonl`, one lead per
//! line in and one result per line out, in order, spread over every core.

use super::{open_engine, read_input, RulesArg};
use anyhow::{Context, Result};
use clap::Args;
use qualify_engine::decide::ScoreOptions;
use qualify_engine::{Engine, Lead, TenantId};
use rayon::prelude::*;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Arguments of `qualify score`.
#[derive(Args)]
pub struct ScoreArgs {
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
    /// Leave the explanation out (faster; `explain` comes back empty).
    #[arg(long)]
    no_explain: bool,
    /// Lead file, or - for standard input.
    file: Option<PathBuf>,
}

/// Runs `qualify score`; with `--jsonl`, fails when any line was bad.
pub fn run(args: ScoreArgs, out: &mut impl Write) -> Result<ExitCode> {
    let engine = open_engine(args.rules.rules.as_deref())?;
    let tenant = TenantId::new(&args.tenant)?;
    let options = ScoreOptions {
        explain: !args.no_explain,
    };
    if args.jsonl {
        let input = args.file.as_deref();
        let bad = jsonl(
            &engine,
            &tenant,
            &options,
            input,
            out,
            &mut std::io::stderr(),
        )?;
        return Ok(if bad > 0 {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        });
    }
    let lead = Lead::from_json(&read_input(args.file.as_deref())?)?;
    let decision = engine.score_with(&tenant, &lead, &options)?;
    if args.pretty {
        serde_json::to_writer_pretty(&mut *out, &decision)?;
    } else {
        serde_json::to_writer(&mut *out, &decision)?;
    }
    writeln!(out)?;
    Ok(ExitCode::SUCCESS)
}

/// Lines handed to the worker pool at a time: large enough to amortise the hand-off,
/// small enough to keep memory flat on a million-line file.
const BATCH: usize = 16 * 1024;

/// `qualify score --jsonl`: one lead per line in, one result per line out, in order,
/// spread over every core. Reading, deciding and writing overlap: a reader thread hands
/// batches of lines to the decision pool (parsing happens there too) and a writer thread
/// writes each batch's results while the next is decided. A bad line yields `{"line": N,
/// "error": ...}` in its place (and on `err`); the others are still scored. Returns the
/// number of bad lines.
pub fn jsonl(
    engine: &Engine,
    tenant: &TenantId,
    options: &ScoreOptions,
    input: Option<&Path>,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<usize> {
    let reader: Box<dyn BufRead + Send> = match input {
        Some(p) if p != Path::new("-") => Box::new(std::io::BufReader::with_capacity(
            1 << 20,
            std::fs::File::open(p).with_context(|| format!("cannot read {}", p.display()))?,
        )),
        _ => Box::new(std::io::BufReader::with_capacity(1 << 20, std::io::stdin())),
    };
    type Decided = Result<(Vec<u8>, Vec<String>)>;
    let (lines_tx, lines_rx) = std::sync::mpsc::sync_channel::<Result<Vec<(usize, String)>>>(2);
    let (out_tx, out_rx) = std::sync::mpsc::sync_channel::<Decided>(2);
    std::thread::scope(|s| {
        s.spawn(move || read_batches(reader, lines_tx));
        s.spawn(move || {
            for batch in lines_rx {
                let decided = batch.map(|b| decide_batch(engine, tenant, options, &b));
                if out_tx.send(decided).is_err() {
                    return; // the writer stopped on an error
                }
            }
        });
        let mut bad = 0;
        for decided in out_rx {
            let (bytes, problems) = decided?;
            out.write_all(&bytes)?;
            for p in problems {
                bad += 1;
                writeln!(err, "qualify: {p}")?;
            }
        }
        out.flush()?;
        Ok(bad)
    })
}

/// Reads lines in batches, numbered from 1, until the end or a read error.
fn read_batches(
    reader: Box<dyn BufRead + Send>,
    tx: std::sync::mpsc::SyncSender<Result<Vec<(usize, String)>>>,
) {
    let mut lines = reader.lines();
    let mut line_no = 0usize;
    loop {
        let mut batch = Vec::with_capacity(BATCH);
        for line in lines.by_ref().take(BATCH) {
            line_no += 1;
            match line {
                Ok(l) => batch.push((line_no, l)),
                Err(e) => {
                    let _ = tx.send(Err(anyhow::Error::new(e).context("cannot read input")));
                    return;
                }
            }
        }
        if batch.is_empty() || tx.send(Ok(batch)).is_err() {
            return;
        }
    }
}

/// One batch decided on every core: the output bytes, in order, and the bad lines.
fn decide_batch(
    engine: &Engine,
    tenant: &TenantId,
    options: &ScoreOptions,
    batch: &[(usize, String)],
) -> (Vec<u8>, Vec<String>) {
    let results: Vec<(Vec<u8>, Option<String>)> = batch
        .par_iter()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| {
            let result =
                Lead::from_json(l).and_then(|lead| engine.score_with(tenant, &lead, options));
            match result {
                Ok(d) => {
                    let mut bytes = serde_json::to_vec(&d).unwrap_or_default();
                    bytes.push(b'\n');
                    (bytes, None)
                }
                Err(e) => {
                    let msg = e.to_string();
                    let obj = serde_json::json!({"line": n, "error": msg});
                    let mut bytes = obj.to_string().into_bytes();
                    bytes.push(b'\n');
                    (bytes, Some(format!("line {n}: {msg}")))
                }
            }
        })
        .collect();
    let mut bytes = Vec::with_capacity(results.iter().map(|(b, _)| b.len()).sum());
    let mut problems = Vec::new();
    for (b, p) in results {
        bytes.extend_from_slice(&b);
        problems.extend(p);
    }
    (bytes, problems)
}
