//! CLI commands: each takes its parsed arguments and writers, and returns an exit code,
//! so tests can run them in-process as well as through the binary.

use anyhow::{Context, Result};
use qualify_engine::{Engine, Lead};
use rayon::prelude::*;
use std::io::{BufRead, Read, Write};
use std::path::Path;

/// Where the rules come from: `--rules DIR`, else `./rules` when it exists, else the
/// default rules embedded in the binary.
pub fn engine_builder(rules: Option<&Path>) -> qualify_engine::EngineBuilder {
    match rules {
        Some(dir) => Engine::builder().rules_dir(dir),
        None if Path::new("rules").is_dir() => Engine::builder().rules_dir("rules"),
        None => {
            tracing::info!("no ./rules folder: using the embedded default rules");
            Engine::builder()
        }
    }
}

/// A stateless engine (no store) over the rules.
pub fn open_engine(rules: Option<&Path>) -> Result<Engine> {
    Ok(engine_builder(rules).build()?)
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

/// `qualify score`: one lead in, one decision out.
pub fn score(
    engine: &Engine,
    tenant: &str,
    input: Option<&Path>,
    pretty: bool,
    out: &mut impl Write,
) -> Result<()> {
    let text = read_input(input)?;
    let lead = Lead::from_json(&text)?;
    let decision = engine.score(tenant, &lead)?;
    if pretty {
        serde_json::to_writer_pretty(&mut *out, &decision)?;
    } else {
        serde_json::to_writer(&mut *out, &decision)?;
    }
    writeln!(out)?;
    Ok(())
}

/// Lines handed to the worker pool at a time: large enough to amortise the hand-off,
/// small enough to keep memory flat on a million-line file.
const BATCH: usize = 16 * 1024;

/// `qualify score --jsonl`: one lead per line in, one result per line out, in order,
/// spread over every core. A bad line yields `{"line": N, "error": ...}` in its place
/// (and on stderr); the others are still scored. Returns the number of bad lines.
pub fn score_jsonl(
    engine: &Engine,
    tenant: &str,
    input: Option<&Path>,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<usize> {
    let reader: Box<dyn BufRead> = match input {
        Some(p) if p != Path::new("-") => Box::new(std::io::BufReader::with_capacity(
            1 << 20,
            std::fs::File::open(p).with_context(|| format!("cannot read {}", p.display()))?,
        )),
        _ => Box::new(std::io::BufReader::with_capacity(1 << 20, std::io::stdin())),
    };
    let mut lines = reader.lines();
    let mut line_no = 0usize;
    let mut bad = 0usize;
    loop {
        let mut batch = Vec::with_capacity(BATCH);
        for line in lines.by_ref().take(BATCH) {
            line_no += 1;
            batch.push((line_no, line.context("cannot read input")?));
        }
        if batch.is_empty() {
            break;
        }
        let results: Vec<(Vec<u8>, Option<String>)> = batch
            .par_iter()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(n, l)| {
                let result = Lead::from_json(l).and_then(|lead| engine.score(tenant, &lead));
                match result {
                    Ok(d) => (serde_json::to_vec(&d).unwrap_or_default(), None),
                    Err(e) => {
                        let msg = e.to_string();
                        let obj = serde_json::json!({"line": n, "error": msg});
                        (
                            obj.to_string().into_bytes(),
                            Some(format!("line {n}: {msg}")),
                        )
                    }
                }
            })
            .collect();
        for (bytes, problem) in results {
            out.write_all(&bytes)?;
            out.write_all(b"\n")?;
            if let Some(p) = problem {
                bad += 1;
                writeln!(err, "qualify: {p}")?;
            }
        }
    }
    out.flush()?;
    Ok(bad)
}

/// `qualify check`: prints each problem as `file:line:column: message`; returns how many.
pub fn check(engine: &Engine, out: &mut impl Write) -> Result<usize> {
    let problems = engine.check();
    for p in &problems {
        writeln!(out, "{p}")?;
    }
    if problems.is_empty() {
        let tenants = engine.tenants();
        writeln!(
            out,
            "ok: {} tenant(s) checked: {}",
            tenants.len(),
            tenants.join(", ")
        )?;
    }
    Ok(problems.len())
}

/// `qualify test`: runs every tenant's cases; the last line is `N passed, N failed`.
/// Returns the number failed.
pub fn test(engine: &Engine, out: &mut impl Write) -> Result<usize> {
    let (mut passed, mut failed) = (0, 0);
    let load = engine.reload_all();
    for e in &load.errors {
        writeln!(out, "FAIL load: {e}")?;
        failed += 1;
    }
    for tenant in engine.tenants() {
        match engine.run_cases(&tenant) {
            Ok(report) => {
                for r in &report.results {
                    if r.passed() {
                        writeln!(out, "ok   {}: {}", r.tenant, r.name)?;
                    } else {
                        writeln!(out, "FAIL {}: {}", r.tenant, r.name)?;
                        for f in &r.failures {
                            writeln!(out, "       {f}")?;
                        }
                    }
                }
                passed += report.passed();
                failed += report.failed();
            }
            Err(e) => {
                writeln!(out, "FAIL {tenant}: {e}")?;
                failed += 1;
            }
        }
    }
    writeln!(out, "{passed} passed, {failed} failed")?;
    Ok(failed)
}

/// Reads a message from an argument, `-`, or standard input when absent.
pub fn text_arg(text: Option<&str>) -> Result<String> {
    match text {
        Some(t) if t != "-" => Ok(t.to_string()),
        _ => read_input(None),
    }
}

/// `qualify ingest`: one message (or, with `lines`, one per input line, each answered
/// with its result line after its commit is durable).
pub fn ingest(
    engine: &Engine,
    tenant: &str,
    contact: &str,
    tags: Option<Vec<String>>,
    text: Option<&str>,
    lines: bool,
    out: &mut impl Write,
) -> Result<()> {
    let message = |text: &str| qualify_engine::Inbound {
        tags: tags.clone(),
        ..qualify_engine::Inbound::text(text)
    };
    if lines {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            let line = line.context("cannot read standard input")?;
            if line.trim().is_empty() {
                continue;
            }
            let result = engine.ingest(tenant, contact, &message(&line))?;
            serde_json::to_writer(&mut *out, &result)?;
            writeln!(out)?;
            out.flush()?;
        }
        return Ok(());
    }
    let text = text_arg(text)?;
    let result = engine.ingest(tenant, contact, &message(text.trim_end_matches('\n')))?;
    serde_json::to_writer_pretty(&mut *out, &result)?;
    writeln!(out)?;
    Ok(())
}

/// `qualify redact`: the redacted text and each finding's entity and byte span.
pub fn redact(text: Option<&str>, out: &mut impl Write) -> Result<()> {
    let text = text_arg(text)?;
    let r = qualify_engine::redact::redact(text.strip_suffix('\n').unwrap_or(&text));
    serde_json::to_writer(&mut *out, &r)?;
    writeln!(out)?;
    Ok(())
}

/// Arguments of `qualify serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// Rules folder (one sub-folder per tenant). Default: ./rules if present, else the
    /// embedded default rules.
    #[arg(long, value_name = "DIR")]
    pub rules: Option<std::path::PathBuf>,
    /// Data folder holding the store (qualify.redb) and, in dev mode, master.key.
    #[arg(long, value_name = "DIR", default_value = "data")]
    pub data: std::path::PathBuf,
    /// File with the master key (64 hex characters). Else QUALIFY_MASTER_KEY, else a
    /// generated dev key in the data folder.
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<std::path::PathBuf>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: String,
    /// File with the admin key (else QUALIFY_ADMIN_KEY; in dev mode one is generated).
    #[arg(long, value_name = "FILE")]
    pub admin_key_file: Option<std::path::PathBuf>,
    /// GoHighLevel's webhook public key (Ed25519; PEM, base64 or hex).
    #[arg(long, value_name = "FILE")]
    pub ghl_public_key: Option<std::path::PathBuf>,
    /// GoHighLevel API base URL.
    #[arg(long, default_value = "https://services.leadconnectorhq.com")]
    pub ghl_base_url: String,
    /// Accept unsigned webhooks. Insecure: for local experiments only.
    #[arg(long)]
    pub insecure_skip_webhook_verification: bool,
    /// Turn per-tenant rate limits off (for load tests on loopback only).
    #[arg(long)]
    pub no_rate_limit: bool,
}

/// `qualify serve`: opens the store, prepares the dev tenant in dev mode, prints a
/// ready-to-paste `curl`, and serves until SIGINT/SIGTERM.
pub fn serve(args: ServeArgs) -> Result<()> {
    let mut err = std::io::stderr();
    let (store, source) = crate::keys::open_store(&args.data, args.key_file.as_deref(), &mut err)?;
    let dev = matches!(source, crate::keys::KeySource::Dev(_));
    let engine = engine_builder(args.rules.as_deref()).store(store).build()?;
    for e in engine.reload().errors {
        writeln!(err, "qualify: warning: {e}")?;
    }
    let mut config = crate::server::Config {
        ghl_base_url: args.ghl_base_url.clone(),
        verify_webhooks: !args.insecure_skip_webhook_verification,
        rate_limit: !args.no_rate_limit,
        ..Default::default()
    };
    if args.no_rate_limit {
        writeln!(
            err,
            "qualify: WARNING: per-tenant rate limits are OFF (load testing)"
        )?;
    }
    if let Some(f) = &args.ghl_public_key {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?;
        config.webhook_key =
            Some(crate::webhook::parse_public_key(&text).map_err(anyhow::Error::msg)?);
    }
    if !config.verify_webhooks {
        writeln!(
            err,
            "qualify: WARNING: webhook signature verification is OFF: anyone can post webhooks"
        )?;
    } else if config.webhook_key.is_none() {
        writeln!(err, "qualify: note: no --ghl-public-key: GHL webhooks will be refused until one is configured")?;
    }
    let admin_key = match (&args.admin_key_file, std::env::var("QUALIFY_ADMIN_KEY")) {
        (Some(f), _) => Some(
            std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?,
        ),
        (None, Ok(k)) => Some(k),
        (None, Err(_)) if dev => {
            let k = qualify_engine::SecretKey::generate().to_hex().to_string();
            writeln!(err, "qualify: dev admin key for this run: {k}")?;
            Some(k)
        }
        _ => {
            writeln!(err, "qualify: note: no admin key (--admin-key-file or QUALIFY_ADMIN_KEY): the admin API is disabled")?;
            None
        }
    };
    config.admin_key_hash = admin_key.as_deref().map(crate::server::hash_admin_key);
    let dev_key = if dev {
        // Dev mode: the dev tenant gets a fresh key each start, so the printed curl works.
        Some(if engine.is_registered("default") {
            engine.rotate_api_key("default")?
        } else {
            engine.add_tenant("default", "Dev tenant", qualify_engine::Tier::Starter)?
        })
    } else {
        None
    };
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.addr)
            .await
            .with_context(|| format!("cannot listen on {}", args.addr))?;
        let addr = listener.local_addr()?;
        let mut out = std::io::stdout();
        writeln!(out, "qualify: listening on http://{addr}")?;
        if let Some(key) = dev_key {
            writeln!(out, "qualify: dev tenant \"default\", API key (shown once): {}", key.as_str())?;
            writeln!(out, "Try it:")?;
            writeln!(
                out,
                "  curl -s -H 'Authorization: Bearer {}' -H 'Content-Type: application/json' -d '{{\"tags\":[\"Hit List\"],\"facts\":{{\"budget\":450000,\"location\":\"Plano\"}}}}' http://{addr}/v1/score",
                key.as_str()
            )?;
        }
        out.flush()?;
        let state = crate::server::AppState::new(engine, config);
        crate::server::serve(listener, state, crate::server::shutdown_signal()).await?;
        Ok(())
    })
}
