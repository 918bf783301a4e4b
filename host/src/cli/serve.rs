//! `qualify serve`: opens the store, prepares the dev tenant in dev mode, prints a
//! ready-to-paste `curl`, and serves until SIGINT/SIGTERM.

use super::{engine_builder, RulesArg, StoreArgs};
use crate::keys::KeySource;
use crate::server::{hash_admin_key, AppState, Config};
use anyhow::{Context, Result};
use qualify_engine::model::Tier;
use qualify_engine::{Engine, SecretKey, TenantId};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use zeroize::Zeroizing;

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
}

/// Runs `qualify serve` until SIGINT or SIGTERM.
pub fn run(args: ServeArgs) -> Result<ExitCode> {
    let mut err = std::io::stderr();
    let (store, source) =
        crate::keys::open_store(&args.store.data, args.store.key_file.as_deref(), &mut err)?;
    let dev = matches!(source, KeySource::Dev(_));
    let engine = engine_builder(args.rules.rules.as_deref())
        .store(store)
        .build()?;
    for e in engine.rules().reload().errors {
        writeln!(err, "qualify: warning: {e}")?;
    }
    let config = config(&args, dev, &mut err)?;
    let dev_key = dev.then(|| dev_tenant_key(&engine)).transpose()?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.addr)
            .await
            .with_context(|| format!("cannot listen on {}", args.addr))?;
        banner(
            &listener.local_addr()?,
            dev_key.as_ref().map(|k| k.as_str()),
        )?;
        let state = AppState::new(engine, config);
        crate::server::serve(listener, state, crate::server::shutdown_signal()).await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// The server's settings from the arguments, with a warning for each insecure choice.
fn config(args: &ServeArgs, dev: bool, err: &mut impl Write) -> Result<Config> {
    let mut config = Config {
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
        (None, Err(_)) if dev => {
            let k = SecretKey::generate().to_hex().to_string();
            writeln!(err, "qualify: dev admin key for this run: {k}")?;
            Some(k)
        }
        _ => {
            writeln!(err, "qualify: note: no admin key (--admin-key-file or QUALIFY_ADMIN_KEY): the admin API is disabled")?;
            None
        }
    };
    config.admin_key_hash = admin_key.as_deref().map(hash_admin_key);
    Ok(config)
}

/// Dev mode: the dev tenant `default` gets a fresh key each start, so the printed curl
/// works.
fn dev_tenant_key(engine: &Engine) -> Result<Zeroizing<String>> {
    let tenant = TenantId::default();
    let accounts = engine.accounts();
    Ok(if accounts.is_registered(&tenant) {
        accounts.rotate_key(&tenant)?
    } else {
        accounts.add(&tenant, "Dev tenant", Tier::Starter)?
    })
}

/// Where the server listens and, in dev mode, the key and a `curl` to try.
fn banner(addr: &std::net::SocketAddr, dev_key: Option<&str>) -> Result<()> {
    let mut out = std::io::stdout();
    writeln!(out, "qualify: listening on http://{addr}")?;
    if let Some(key) = dev_key {
        writeln!(
            out,
            "qualify: dev tenant \"default\", API key (shown once): {key}"
        )?;
        writeln!(out, "Try it:")?;
        writeln!(
            out,
            "  curl -s -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' -d '{{\"tags\":[\"Hit List\"],\"facts\":{{\"budget\":450000,\"location\":\"Plano\"}}}}' http://{addr}/v1/score"
        )?;
    }
    out.flush()?;
    Ok(())
}
