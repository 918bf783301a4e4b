//! The `qualify` command line: score leads, check and test tenants' rules, hold
//! conversations in the encrypted store, answer privacy requests, manage keys.
//!
//! Run with `cargo run --release -- serve` (see the README).

use anyhow::bail;
use clap::{Args, Parser, Subcommand};
use qualify_engine::Engine;
use std::io::Write;
use std::path::{Path, PathBuf};
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

#[derive(Args)]
struct RulesArg {
    /// Rules folder (one sub-folder per tenant). Default: ./rules if present, else the
    /// embedded default rules.
    #[arg(long, value_name = "DIR")]
    rules: Option<PathBuf>,
}

#[derive(Args)]
struct StoreArgs {
    /// Data folder holding the store (qualify.redb) and, in dev mode, master.key.
    #[arg(long, value_name = "DIR", default_value = "data")]
    data: PathBuf,
    /// File with the master key (64 hex characters). Else QUALIFY_MASTER_KEY, else a
    /// generated dev key in the data folder.
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,
}

#[derive(Args)]
struct DataArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Tenant.
    #[arg(long, default_value = "default")]
    tenant: String,
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
    /// Ingest an inbound message into a contact's stored conversation; print the result.
    Ingest {
        #[command(flatten)]
        rules: RulesArg,
        #[command(flatten)]
        data: DataArgs,
        /// Contact id.
        #[arg(long)]
        contact: String,
        /// The contact's CRM tags (repeat for several), e.g. --tag "Hit List".
        #[arg(long = "tag", value_name = "TAG")]
        tags: Vec<String>,
        /// Treat each line of standard input as one message; print one result line per
        /// message once it is durable.
        #[arg(long)]
        lines: bool,
        /// The message text, or - for standard input.
        text: Option<String>,
    },
    /// Show, export or erase a stored contact.
    Contact {
        #[command(subcommand)]
        action: ContactAction,
    },
    /// Tenant data management.
    Tenant {
        #[command(subcommand)]
        action: TenantAction,
    },
    /// Master and tenant key management.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Run the HTTP server (the main job). With no arguments: 127.0.0.1:8080, ./data,
    /// ./rules (or the embedded defaults), a dev master key and a dev tenant `default`.
    Serve(host::cli::ServeArgs),
    /// Send the follow-ups due now (24/48/72 h of silence by default); prints one JSON
    /// line per contact handled (sent, deferred, skipped), then a summary line.
    Reengage {
        #[command(flatten)]
        rules: RulesArg,
        #[command(flatten)]
        store: StoreArgs,
        /// Decide and print, change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Run as if it were this time (RFC 3339), e.g. 2026-03-09T15:00:00Z.
        #[arg(long, value_name = "TIME")]
        now: Option<String>,
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// SMS encoding and segments of a text: {"encoding", "segments", "units", "non_gsm"}.
    SmsInfo {
        /// The text, or - for standard input.
        text: Option<String>,
    },
    /// Redact PII from a text: prints {"text", "findings": [{"entity", "start", "end"}]}.
    Redact {
        /// The text, or - for standard input.
        text: Option<String>,
    },
}

#[derive(Subcommand)]
enum ContactAction {
    /// Print the contact's stored state as JSON.
    Show {
        #[command(flatten)]
        data: DataArgs,
        /// Contact id.
        id: String,
    },
    /// Print everything held on the contact (subject-access export) as JSON.
    Export {
        #[command(flatten)]
        data: DataArgs,
        /// Contact id.
        id: String,
    },
    /// Erase the contact.
    Erase {
        #[command(flatten)]
        data: DataArgs,
        /// Contact id.
        id: String,
    },
}

#[derive(Subcommand)]
enum TenantAction {
    /// Register a tenant (starter tier unless --tier); prints {"tenant", "api_key"} once.
    Add {
        #[command(flatten)]
        store: StoreArgs,
        /// Tenant id (e.g. the GHL location id).
        name: String,
        /// starter, professional or enterprise.
        #[arg(long, default_value = "starter")]
        tier: String,
        /// File holding the tenant's GoHighLevel token (stored sealed).
        #[arg(long, value_name = "FILE")]
        ghl_token_file: Option<PathBuf>,
        /// Check the token against the GoHighLevel API before registering.
        #[arg(long, requires = "ghl_token_file")]
        check_ghl: bool,
        /// GoHighLevel API base URL (for --check-ghl).
        #[arg(long, default_value = "https://services.leadconnectorhq.com")]
        ghl_base_url: String,
    },
    /// List registered tenants.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Replace a tenant's API keys with a new one (printed once).
    RotateKey {
        #[command(flatten)]
        store: StoreArgs,
        /// Tenant id.
        name: String,
    },
    /// Remove a tenant and erase all its data.
    Remove {
        #[command(flatten)]
        store: StoreArgs,
        /// Tenant id.
        name: String,
        /// Confirm: the data cannot be recovered.
        #[arg(long)]
        yes: bool,
    },
    /// Erase all of a tenant's data: destroy its data keys, delete its records, compact.
    Erase {
        #[command(flatten)]
        data: DataArgs,
        /// Confirm: the data cannot be recovered.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Subcommand)]
enum KeysAction {
    /// Re-wrap every tenant key under a new master key (data untouched).
    Rotate {
        #[command(flatten)]
        data: DataArgs,
        /// The new master key. Without it, only a dev key can be rotated (to a new dev key).
        #[arg(long, value_name = "FILE")]
        new_key_file: Option<PathBuf>,
    },
    /// Start a new data key version for --tenant (old versions stay readable).
    RotateTenant {
        #[command(flatten)]
        data: DataArgs,
    },
    /// Print a new random master key (64 hex characters).
    Generate,
}

fn stateful(
    rules: Option<&Path>,
    data: &StoreArgs,
) -> anyhow::Result<(Engine, host::keys::KeySource)> {
    let (store, source) =
        host::keys::open_store(&data.data, data.key_file.as_deref(), &mut std::io::stderr())?;
    Ok((
        host::cli::engine_builder(rules).store(store).build()?,
        source,
    ))
}

fn print_json(out: &mut impl Write, v: &impl serde::Serialize) -> anyhow::Result<()> {
    serde_json::to_writer_pretty(&mut *out, v)?;
    writeln!(out)?;
    Ok(())
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let ok = ExitCode::SUCCESS;
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
                    ok
                }
            } else {
                host::cli::score(&engine, &tenant, file.as_deref(), pretty, &mut out)?;
                ok
            }
        }
        Command::Check { rules } => {
            let engine = host::cli::open_engine(rules.rules.as_deref())?;
            if host::cli::check(&engine, &mut out)? > 0 {
                ExitCode::FAILURE
            } else {
                ok
            }
        }
        Command::Test { rules } => {
            let engine = host::cli::open_engine(rules.rules.as_deref())?;
            if host::cli::test(&engine, &mut out)? > 0 {
                ExitCode::FAILURE
            } else {
                ok
            }
        }
        Command::Ingest {
            rules,
            data,
            contact,
            tags,
            lines,
            text,
        } => {
            let (engine, _) = stateful(rules.rules.as_deref(), &data.store)?;
            let tags = (!tags.is_empty()).then_some(tags);
            host::cli::ingest(
                &engine,
                &data.tenant,
                &contact,
                tags,
                text.as_deref(),
                lines,
                &mut out,
            )?;
            ok
        }
        Command::Contact { action } => match action {
            ContactAction::Show { data, id } => {
                let (engine, _) = stateful(None, &data.store)?;
                match engine.contact(&data.tenant, &id)? {
                    Some(c) => print_json(&mut out, &c)?,
                    None => bail!("no contact {id:?} in tenant {:?}", data.tenant),
                }
                ok
            }
            ContactAction::Export { data, id } => {
                let (engine, _) = stateful(None, &data.store)?;
                match engine.export_contact(&data.tenant, &id)? {
                    Some(v) => print_json(&mut out, &v)?,
                    None => bail!("no contact {id:?} in tenant {:?}", data.tenant),
                }
                ok
            }
            ContactAction::Erase { data, id } => {
                let (engine, _) = stateful(None, &data.store)?;
                if !engine.erase_contact(&data.tenant, &id)? {
                    bail!("no contact {id:?} in tenant {:?}", data.tenant);
                }
                print_json(
                    &mut out,
                    &serde_json::json!({"erased": id, "tenant": data.tenant}),
                )?;
                ok
            }
        },
        Command::Tenant {
            action:
                TenantAction::Add {
                    store,
                    name,
                    tier,
                    ghl_token_file,
                    check_ghl,
                    ghl_base_url,
                },
        } => {
            let tier = qualify_engine::Tier::parse(&tier).ok_or_else(|| {
                anyhow::anyhow!("unknown tier {tier:?}: starter, professional or enterprise")
            })?;
            qualify_engine::TenantId::new(&name)?;
            let token = match &ghl_token_file {
                Some(f) => Some(
                    std::fs::read_to_string(f)
                        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", f.display()))?
                        .trim()
                        .to_string(),
                ),
                None => None,
            };
            if check_ghl {
                let token = token.clone().unwrap_or_default();
                let rt = tokio::runtime::Runtime::new()?;
                rt.block_on(host::ghl::check_token(&ghl_base_url, &token, &name))?;
            }
            let (engine, _) = stateful(None, &store)?;
            let key = engine.add_tenant(&name, &name, tier)?;
            if let Some(t) = token {
                engine.set_ghl_token(&name, &t)?;
            }
            print_json(
                &mut out,
                &serde_json::json!({"tenant": name, "api_key": key.as_str()}),
            )?;
            ok
        }
        Command::Tenant {
            action: TenantAction::List { store },
        } => {
            let (engine, _) = stateful(None, &store)?;
            print_json(&mut out, &engine.list_tenants()?)?;
            ok
        }
        Command::Tenant {
            action: TenantAction::RotateKey { store, name },
        } => {
            let (engine, _) = stateful(None, &store)?;
            let key = engine.rotate_api_key(&name)?;
            print_json(
                &mut out,
                &serde_json::json!({"tenant": name, "api_key": key.as_str()}),
            )?;
            ok
        }
        Command::Tenant {
            action: TenantAction::Remove { store, name, yes },
        } => {
            if !yes {
                bail!("removing tenant {name:?} erases its data for good: add --yes to confirm");
            }
            let (engine, _) = stateful(None, &store)?;
            let n = engine.remove_tenant(&name)?;
            print_json(
                &mut out,
                &serde_json::json!({"removed": name, "contacts_erased": n}),
            )?;
            ok
        }
        Command::Serve(args) => {
            out.flush()?;
            host::cli::serve(args)?;
            ok
        }
        Command::Tenant {
            action: TenantAction::Erase { data, yes },
        } => {
            if !yes {
                bail!(
                    "erasing tenant {:?} destroys its data for good: add --yes to confirm",
                    data.tenant
                );
            }
            let (engine, _) = stateful(None, &data.store)?;
            let n = engine.erase_tenant(&data.tenant)?;
            print_json(
                &mut out,
                &serde_json::json!({"erased_tenant": data.tenant, "contacts_removed": n}),
            )?;
            ok
        }
        Command::Keys { action } => match action {
            KeysAction::Rotate { data, new_key_file } => {
                let (engine, source) = stateful(None, &data.store)?;
                let n = host::keys::rotate(engine.store()?, &source, new_key_file.as_deref())?;
                print_json(&mut out, &serde_json::json!({"rewrapped_tenant_keys": n}))?;
                ok
            }
            KeysAction::RotateTenant { data } => {
                let (engine, _) = stateful(None, &data.store)?;
                let v = engine.rotate_tenant_key(&data.tenant)?;
                print_json(
                    &mut out,
                    &serde_json::json!({"tenant": data.tenant, "key_version": v}),
                )?;
                ok
            }
            KeysAction::Generate => {
                writeln!(
                    out,
                    "{}",
                    qualify_engine::SecretKey::generate().to_hex().as_str()
                )?;
                ok
            }
        },
        Command::Reengage {
            rules,
            store,
            dry_run,
            now,
            tenant,
        } => {
            let now = match now {
                Some(t) => Some(
                    t.parse::<jiff::Timestamp>()
                        .map_err(|e| anyhow::anyhow!("--now {t:?}: expected RFC 3339 ({e})"))?,
                ),
                None => None,
            };
            let (engine, _) = stateful(rules.rules.as_deref(), &store)?;
            let opts = qualify_engine::ReengageOptions {
                now,
                tenant,
                dry_run,
                ..Default::default()
            };
            // One line per contact as soon as it is durable, so progress is visible and an
            // interrupted run shows exactly what was done.
            // A progress bar on stderr when it is a terminal (never in pipes or logs).
            let bar = std::io::IsTerminal::is_terminal(&std::io::stderr()).then(|| {
                let bar = indicatif::ProgressBar::new_spinner();
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{spinner} {pos} follow-ups handled {msg}",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
                );
                bar
            });
            let report = engine.reengage_each(&opts, |o| {
                let _ = serde_json::to_writer(&mut out, o);
                let _ = writeln!(out);
                let _ = out.flush();
                if let Some(bar) = &bar {
                    bar.inc(1);
                    bar.set_message(format!("({} {})", o.outcome, o.contact));
                }
            })?;
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            let count = |k: &str| report.outcomes.iter().filter(|o| o.outcome == k).count();
            serde_json::to_writer(
                &mut out,
                &serde_json::json!({"summary": {"sent": count("sent"), "deferred": count("deferred"), "skipped": count("skipped"), "records_read": report.records_read, "dry_run": dry_run}}),
            )?;
            writeln!(out)?;
            ok
        }
        Command::SmsInfo { text } => {
            let text = host::cli::text_arg(text.as_deref())?;
            let info = qualify_engine::sms::sms_info(text.strip_suffix('\n').unwrap_or(&text));
            serde_json::to_writer(&mut out, &info)?;
            writeln!(out)?;
            ok
        }
        Command::Redact { text } => {
            host::cli::redact(text.as_deref(), &mut out)?;
            ok
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
