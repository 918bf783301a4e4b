//! `qualify shadow report --tenant T`: what shadow mode has counted for a tenant, asked
//! of the running server (shadow mode runs inside `qualify serve`; its counts are the
//! server's, in memory) over the admin API, as a table or JSON.

use super::analytics::Format;
use super::print_json;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use qualify_engine::conversation::ShadowReport;
use qualify_engine::TenantId;
use std::io::Write;
use std::path::PathBuf;

/// `qualify shadow …`.
#[derive(Subcommand)]
pub enum ShadowAction {
    /// A tenant's live decisions made again under its `candidate/` by the running server,
    /// and how many changed, by kind (class, score, tags, question, hand-off).
    Report(ReportArgs),
}

/// Arguments of `qualify shadow report`.
#[derive(Args)]
pub struct ReportArgs {
    /// Tenant.
    #[arg(long, default_value = "default")]
    tenant: String,
    /// The running server's base URL.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// File with the admin key (else QUALIFY_ADMIN_KEY, else the dev admin key that
    /// `qualify serve` wrote in the data folder).
    #[arg(long, value_name = "FILE")]
    admin_key_file: Option<PathBuf>,
    /// The server's data folder (where a dev server keeps `dev-admin-key`).
    #[arg(long, value_name = "DIR", default_value = "data")]
    data: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// Runs `qualify shadow …`.
pub fn run(action: ShadowAction, out: &mut impl Write) -> Result<()> {
    match action {
        ShadowAction::Report(args) => report(args, out),
    }
}

/// The admin key: `--admin-key-file`, QUALIFY_ADMIN_KEY, or a dev server's.
fn admin_key(args: &ReportArgs) -> Result<String> {
    let read = |path: &PathBuf| {
        std::fs::read_to_string(path)
            .map(|k| k.trim().to_owned())
            .with_context(|| format!("cannot read the admin key from {}", path.display()))
    };
    if let Some(file) = &args.admin_key_file {
        return read(file);
    }
    if let Ok(key) = std::env::var("QUALIFY_ADMIN_KEY") {
        return Ok(key.trim().to_owned());
    }
    let dev = args.data.join("dev-admin-key");
    if dev.is_file() {
        return read(&dev);
    }
    bail!("no admin key: give --admin-key-file or set QUALIFY_ADMIN_KEY")
}

fn report(args: ReportArgs, out: &mut impl Write) -> Result<()> {
    let tenant = TenantId::new(&args.tenant)?;
    let key = admin_key(&args)?;
    let url = format!(
        "{}/admin/tenants/{tenant}/shadow",
        args.server.trim_end_matches('/')
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (status, body) = runtime.block_on(async {
        let response = reqwest::Client::new()
            .get(&url)
            .bearer_auth(&key)
            .timeout(std::time::Duration::from_secs(30))
            .send()
            .await
            .with_context(|| {
                format!(
                    "no answer from {} (is `qualify serve` running there?)",
                    args.server
                )
            })?;
        let status = response.status();
        anyhow::Ok((status, response.text().await?))
    })?;
    if !status.is_success() {
        let why = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
            .unwrap_or(body);
        bail!("the server answered {status}: {why}");
    }
    let report: ShadowReport = serde_json::from_str(&body)
        .with_context(|| format!("the server's answer is not a shadow report: {body}"))?;
    match args.format {
        Format::Json => print_json(out, &report),
        Format::Table => Ok(out.write_all(table(&report).as_bytes())?),
    }
}

/// The report for a person.
pub fn table(r: &ShadowReport) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let Some(candidate) = &r.candidate_version else {
        let _ = match &r.candidate_error {
            Some(why) => writeln!(
                s,
                "Tenant {}: its candidate does not load, nothing is shadowed (serving {} is unaffected):\n  {why}",
                r.tenant, r.serving_version
            ),
            None => writeln!(
                s,
                "Tenant {}: no candidate/ folder, nothing is shadowed (serving {}).",
                r.tenant, r.serving_version
            ),
        };
        return s;
    };
    let _ = writeln!(
        s,
        "Shadow mode for tenant {}: serving {} vs candidate {}",
        r.tenant, r.serving_version, candidate
    );
    if let Some(since) = r.since {
        let _ = writeln!(s, "Since {since} (counted by the server, in memory)");
    }
    let _ = write!(s, "\n{} live decisions", r.decisions);
    if r.skipped > 0 || r.sample < 1.0 {
        let _ = write!(
            s,
            " ({} left out by the sample of {}%)",
            r.skipped,
            // At most one decimal: 0.07 is "7%", not "7.000000000000001%".
            (r.sample * 1000.0).round() / 10.0
        );
    }
    let _ = writeln!(
        s,
        ": {} compared, {} pending, {} dropped (shadow threads busy), {} the candidate failed",
        r.compared, r.pending, r.dropped, r.failed
    );
    if let Some(why) = &r.first_failure {
        let _ = writeln!(s, "The candidate's first failure: {why}");
    }
    super::replay::changes(&mut s, &r.changed, r.compared, &r.transitions);
    s
}
