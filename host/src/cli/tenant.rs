//! Tenants and keys from the command line: `qualify tenant add|list|rotate-key|remove|
//! erase` and `qualify keys rotate|rotate-tenant|generate`.

use super::{open_with_store, print_json, DataArgs, StoreArgs};
use anyhow::{anyhow, bail, Result};
use clap::{Args, Subcommand};
use qualify_engine::model::Tier;
use qualify_engine::{SecretKey, TenantId};
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// `qualify tenant ...`.
#[derive(Subcommand)]
pub enum TenantAction {
    /// Register a tenant (starter tier unless --tier); prints {"tenant", "api_key"} once.
    Add(AddArgs),
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

/// Arguments of `qualify tenant add`.
#[derive(Args)]
pub struct AddArgs {
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
}

/// Runs `qualify tenant ...`.
pub fn tenant(action: TenantAction, out: &mut impl Write) -> Result<ExitCode> {
    match action {
        TenantAction::Add(args) => add(args, out)?,
        TenantAction::List { store } => {
            let (engine, _) = open_with_store(None, &store)?;
            print_json(out, &engine.accounts().list()?)?;
        }
        TenantAction::RotateKey { store, name } => {
            let (engine, _) = open_with_store(None, &store)?;
            let key = engine.accounts().rotate_key(&TenantId::new(&name)?)?;
            print_json(out, &json!({"tenant": name, "api_key": key.as_str()}))?;
        }
        TenantAction::Remove { store, name, yes } => {
            if !yes {
                bail!("removing tenant {name:?} erases its data for good: add --yes to confirm");
            }
            let (engine, _) = open_with_store(None, &store)?;
            let n = engine.accounts().remove(&TenantId::new(&name)?)?;
            print_json(out, &json!({"removed": name, "contacts_erased": n}))?;
        }
        TenantAction::Erase { data, yes } => {
            if !yes {
                bail!(
                    "erasing tenant {:?} destroys its data for good: add --yes to confirm",
                    data.tenant
                );
            }
            let (engine, _) = open_with_store(None, &data.store)?;
            let n = engine.accounts().erase_data(&data.tenant()?)?;
            print_json(
                out,
                &json!({"erased_tenant": data.tenant, "contacts_removed": n}),
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `qualify tenant add`: validates the id, tier and (when asked) the GHL token first.
fn add(args: AddArgs, out: &mut impl Write) -> Result<()> {
    let tier = Tier::parse(&args.tier).ok_or_else(|| {
        anyhow!(
            "unknown tier {:?}: starter, professional or enterprise",
            args.tier
        )
    })?;
    let tenant = TenantId::new(&args.name)?;
    let token = match &args.ghl_token_file {
        Some(f) => Some(
            std::fs::read_to_string(f)
                .map_err(|e| anyhow!("cannot read {}: {e}", f.display()))?
                .trim()
                .to_string(),
        ),
        None => None,
    };
    if args.check_ghl {
        let token = token.clone().unwrap_or_default();
        let rt = tokio::runtime::Runtime::new()?;
        rt.block_on(crate::ghl::check_token(
            &args.ghl_base_url,
            &token,
            &args.name,
        ))?;
    }
    let (engine, _) = open_with_store(None, &args.store)?;
    let key = engine.accounts().add(&tenant, &args.name, tier)?;
    if let Some(t) = token {
        engine.accounts().set_ghl_token(&tenant, &t)?;
    }
    print_json(out, &json!({"tenant": tenant, "api_key": key.as_str()}))
}

/// `qualify keys ...`.
#[derive(Subcommand)]
pub enum KeysAction {
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

/// Runs `qualify keys ...`.
pub fn keys(action: KeysAction, out: &mut impl Write) -> Result<ExitCode> {
    match action {
        KeysAction::Rotate { data, new_key_file } => {
            let (engine, source) = open_with_store(None, &data.store)?;
            let n = crate::keys::rotate(engine.store()?, &source, new_key_file.as_deref())?;
            print_json(out, &json!({"rewrapped_tenant_keys": n}))?;
        }
        KeysAction::RotateTenant { data } => {
            let (engine, _) = open_with_store(None, &data.store)?;
            let v = engine.accounts().rotate_data_key(&data.tenant()?)?;
            print_json(out, &json!({"tenant": data.tenant, "key_version": v}))?;
        }
        KeysAction::Generate => writeln!(out, "{}", SecretKey::generate().to_hex().as_str())?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `qualify outbox ...`.
#[derive(Subcommand)]
pub enum OutboxAction {
    /// Print the queued actions as JSON; with --failed, the dead letters (each with why).
    List {
        #[command(flatten)]
        store: StoreArgs,
        /// The actions that will not be delivered (attempts spent, or in flight at a crash).
        #[arg(long)]
        failed: bool,
        /// Only this tenant's.
        #[arg(long)]
        tenant: Option<String>,
    },
}

/// Runs `qualify outbox ...`.
pub fn outbox(action: OutboxAction, out: &mut impl Write) -> Result<ExitCode> {
    let OutboxAction::List {
        store,
        failed,
        tenant,
    } = action;
    let tenant = tenant.as_deref().map(TenantId::new).transpose()?;
    let (engine, _) = open_with_store(None, &store)?;
    let outbox = engine.outbox();
    let list = if failed {
        outbox.dead_letters(tenant.as_ref())?
    } else {
        outbox.queued(tenant.as_ref())?
    };
    print_json(out, &list)?;
    Ok(ExitCode::SUCCESS)
}
