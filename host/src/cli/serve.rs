//! `qualify serve`: opens the store, prepares the dev tenant in dev mode, prints a
//! ready-to-paste `curl`, and serves until SIGINT/SIGTERM.

use super::{engine_builder, RulesArg, StoreArgs};
use crate::server::{hash_admin_key, AppState, Config};
use anyhow::{Context, Result};
use qualify_engine::model::Tier;
use qualify_engine::TenantId;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Arguments of `qualify serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    rules: RulesArg,
    #[command(flatten)]
    store: StoreArgs,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: String,
    /// File with the admin key (else QUALIFY_ADMIN_KEY; in dev mode one is generated).
    #[arg(long, value_name = "FILE")]
    admin_key_file: Option<PathBuf>,
    /// GoHighLevel's webhook public key (Ed25519; PEM, base64 or hex).
    #[arg(long, value_name = "FILE")]
    ghl_public_key: Option<PathBuf>,
    /// GoHighLevel API base URL.
    #[arg(long, default_value = "https://services.leadconnectorhq.com")]
    ghl_base_url: String,
    /// Accept unsigned webhooks. Insecure: for local experiments only.
    #[arg(long)]
    insecure_skip_webhook_verification: bool,
    /// Turn per-tenant rate limits off (for load tests on loopback only).
    #[arg(long)]
    no_rate_limit: bool,
    /// Requests handled at once; past it, 503 with Retry-After.
    #[arg(long, value_name = "N")]
    max_in_flight: Option<usize>,
    /// Seconds one request may take before it is answered 503 with Retry-After.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    request_timeout: u64,
    /// Seconds a client may take to send a request's headers before its connection is
    /// closed (slow clients must not hold connections open).
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    header_read_timeout: u64,
    /// Engine calls of one tenant at once (default: the cores); lower it on a server
    /// shared by many tenants, so one whose rules are slow leaves the others room.
    #[arg(long, value_name = "N")]
    tenant_concurrency: Option<usize>,
    /// Threads that run the HTTP side (parsing, routing, answering; decisions run on
    /// their own threads). Default: twice the cores, which measured a shorter latency
    /// tail under load than one per core (BENCHMARKS.md, "Threads for the HTTP side").
    #[arg(long, value_name = "N")]
    http_threads: Option<usize>,
    /// Post alert events (raised, escalated, resolved) as JSON to this URL.
    #[arg(long, value_name = "URL")]
    alert_webhook: Option<String>,
    /// Label request counts in /metrics with the tenant (which /metrics otherwise never
    /// names, since it needs no key).
    #[arg(long)]
    metrics_tenant_labels: bool,
}

/// Where `serve`'s startup warnings go: standard error as written, or, with
/// `QUALIFY_LOG_FORMAT=json`, one log event per line, so every line a log shipper reads
/// is JSON.
#[derive(Default)]
struct Notices {
    line: Vec<u8>,
}

impl Write for Notices {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if !std::env::var("QUALIFY_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
            return std::io::stderr().write(buf);
        }
        self.line.extend_from_slice(buf);
        while let Some(end) = self.line.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.line.drain(..=end).collect();
            let text = String::from_utf8_lossy(&line);
            tracing::warn!("{}", text.trim_end().trim_start_matches("qualify: "));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Runs `qualify serve` until SIGINT or SIGTERM.
pub fn run(args: ServeArgs) -> Result<ExitCode> {
    let mut err = Notices::default();
    let (store, source) = crate::keys::open_store(&args.store, &mut err)?;
    let dev = crate::keys::dev_secrets(&source)?;
    if dev.is_some() {
        refuse_dev_off_loopback(&args.addr)?;
    }
    let engine = engine_builder(args.rules.rules.as_deref())
        .store(store)
        .build()?;
    for e in engine.rules().reload().errors {
        writeln!(err, "qualify: warning: {e}")?;
    }
    let mut config = config(&args, dev.is_some(), &mut err)?;
    let dev_keys = match &dev {
        Some((tenant_secret, admin)) => {
            let key = engine.accounts().ensure_key(
                &TenantId::default(),
                "Dev tenant",
                Tier::Starter,
                tenant_secret,
            )?;
            let admin = admin.to_hex();
            config.admin_key_hash = config.admin_key_hash.or(Some(hash_admin_key(&admin)));
            Some((key, admin))
        }
        None => None,
    };
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.http_threads.unwrap_or(2 * cores).max(1))
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.addr)
            .await
            .with_context(|| format!("cannot listen on {}", args.addr))?;
        let addr = listener.local_addr()?;
        writeln!(std::io::stdout(), "qualify: listening on http://{addr}")?;
        if let Some((key, admin)) = &dev_keys {
            show_dev_keys(&addr, &args.store.data, key, admin)?;
        }
        let state = AppState::new(engine, config);
        crate::server::serve(listener, state, crate::server::shutdown_signal()).await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Dev mode protects nothing (its key sits beside the data): loopback addresses only.
fn refuse_dev_off_loopback(addr: &str) -> Result<()> {
    use std::net::ToSocketAddrs;
    let resolved: Vec<_> = addr
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {addr}"))?
        .collect();
    if resolved.iter().any(|a| !a.ip().is_loopback()) {
        anyhow::bail!(
            "refusing to serve on {addr} with the generated dev master key: give a master key \
             (--key-file or QUALIFY_MASTER_KEY) to listen beyond loopback"
        );
    }
    Ok(())
}

/// The dev tenant's key, the dev admin key and a `curl` to try: printed on a terminal,
/// otherwise (logs, pipes) written to owner-only files in the data folder whose paths
/// are printed.
fn show_dev_keys(
    addr: &std::net::SocketAddr,
    data: &std::path::Path,
    key: &str,
    admin: &str,
) -> Result<()> {
    let mut out = std::io::stdout();
    let lead = r#"{"tags":["Hit List"],"facts":{"budget":450000,"location":"Plano"}}"#;
    let bearer = if std::io::IsTerminal::is_terminal(&out) {
        writeln!(out, "qualify: dev tenant \"default\", API key: {key}")?;
        writeln!(out, "qualify: dev admin key: {admin}")?;
        key.to_string()
    } else {
        let (key_file, admin_file) = (data.join("dev-api-key"), data.join("dev-admin-key"));
        crate::keys::write_secret_file(&key_file, key)?;
        crate::keys::write_secret_file(&admin_file, admin)?;
        writeln!(
            out,
            "qualify: dev keys (the same after a restart) in {} and {} (owner-only)",
            key_file.display(),
            admin_file.display()
        )?;
        format!("$(cat {})", key_file.display())
    };
    writeln!(out, "Dashboard (the key stays in that browser tab):")?;
    writeln!(out, "  http://{addr}/dashboard#key={bearer}")?;
    writeln!(out, "Try it:")?;
    writeln!(
        out,
        "  curl -s -H \"Authorization: Bearer {bearer}\" -H 'Content-Type: application/json' -d '{lead}' http://{addr}/v1/score"
    )?;
    out.flush()?;
    Ok(())
}
/// The server's settings from the arguments, with a warning for each insecure choice.
fn config(args: &ServeArgs, dev: bool, err: &mut impl Write) -> Result<Config> {
    let mut config = Config {
        ghl_base_url: args.ghl_base_url.clone(),
        verify_webhooks: !args.insecure_skip_webhook_verification,
        rate_limit: !args.no_rate_limit,
        request_timeout: Duration::from_secs(args.request_timeout.max(1)),
        header_read_timeout: Duration::from_secs(args.header_read_timeout.max(1)),
        ..Default::default()
    };
    if let Some(n) = args.max_in_flight {
        config.max_in_flight = n.max(1);
    }
    config.monitor.alert_webhook = args.alert_webhook.clone();
    config.metrics_tenant_labels = args.metrics_tenant_labels;
    if let Some(n) = args.tenant_concurrency {
        config.tenant_concurrency = n.max(1);
    }
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
            Some(crate::server::webhook::parse_public_key(&text).map_err(anyhow::Error::msg)?);
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
        (None, Err(_)) if dev => None, // derived from the dev master key
        _ => {
            writeln!(err, "qualify: note: no admin key (--admin-key-file or QUALIFY_ADMIN_KEY): the admin API is disabled")?;
            None
        }
    };
    config.admin_key_hash = admin_key.as_deref().map(hash_admin_key);
    Ok(config)
}
