//! `qualify migrate` and `qualify store copy`: a PostgreSQL store's schema, and moving a
//! deployment between the redb file and PostgreSQL (either way).

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use qualify_engine::Store;
use std::io::Write;
use std::path::PathBuf;

/// `qualify migrate`.
#[derive(Args)]
pub struct MigrateArgs {
    /// The PostgreSQL database (postgres://user:password@host:port/database).
    #[arg(
        long,
        value_name = "URL",
        env = "QUALIFY_DATABASE_URL",
        hide_env_values = true
    )]
    pub database: String,
}

/// `qualify store …`.
#[derive(Subcommand)]
pub enum StoreAction {
    /// Copy a whole store to an empty one (a data folder's file to PostgreSQL, or back),
    /// then check the copy: row counts per table and a sample of contacts opened in both.
    /// Values are copied sealed; both ends use the same master key. Stop the servers
    /// first: a copy of a store being written is not a snapshot.
    Copy(CopyArgs),
}

/// `qualify store copy`.
#[derive(Args)]
pub struct CopyArgs {
    /// The source: a data folder (holding qualify.redb) or a postgres:// URL.
    #[arg(long, value_name = "DIR|URL")]
    pub from: String,
    /// The destination, empty: a data folder or a postgres:// URL.
    #[arg(long, value_name = "DIR|URL")]
    pub to: String,
    /// File with the master key (64 hex characters). Else QUALIFY_MASTER_KEY.
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// Contacts opened in both stores after the copy, spread over all of them.
    #[arg(long, default_value_t = 100)]
    pub sample: usize,
}

pub fn migrate(args: MigrateArgs, out: &mut impl Write) -> Result<()> {
    let applied = Store::migrate_postgres(&args.database)?;
    if applied.is_empty() {
        writeln!(out, "the schema is up to date")?;
    }
    for m in applied {
        writeln!(out, "applied {m}")?;
    }
    Ok(())
}

fn is_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// Opens one end of a copy: an existing source, or a destination created empty.
fn open_end(place: &str, key: &qualify_engine::SecretKey, source: bool) -> Result<Store> {
    if is_url(place) {
        return Ok(Store::open_postgres(place, key.clone())?);
    }
    let file = std::path::Path::new(place).join("qualify.redb");
    if source && !file.is_file() {
        bail!(
            "no store at {} (give the data folder that holds qualify.redb)",
            file.display()
        );
    }
    if !source {
        crate::keys::create_data_dir(std::path::Path::new(place))?;
    }
    Ok(Store::open(&file, key.clone())?)
}

pub fn run(action: StoreAction, out: &mut impl Write) -> Result<()> {
    let StoreAction::Copy(args) = action;
    if args.key_file.is_none() && std::env::var_os(crate::keys::KEY_ENV).is_none() {
        let dev = std::path::Path::new(&args.from).join("master.key");
        if is_url(&args.from) || !dev.is_file() {
            bail!(
                "give the store's master key with --key-file or {}",
                crate::keys::KEY_ENV
            );
        }
    }
    let mut warn = std::io::stderr();
    let dev_folder = if is_url(&args.from) {
        ""
    } else {
        args.from.as_str()
    };
    let (key, _) = crate::keys::master_key(
        std::path::Path::new(dev_folder),
        args.key_file.as_deref(),
        &mut warn,
    )?;
    let from = open_end(&args.from, &key, true)?;
    let to = open_end(&args.to, &key, false)?;
    let bar = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let report = from.copy_into(&to, args.sample, &mut |table, rows| {
        bar.set_message(format!("{table}: {rows} rows"));
        bar.tick();
    })?;
    bar.finish_and_clear();
    for (table, rows) in &report.tables {
        writeln!(out, "{table:<18} {rows:>10} rows")?;
    }
    writeln!(
        out,
        "copied {} rows from {} to {}; counts match; {} contacts opened in both and equal",
        report.rows(),
        from.location(),
        to.location(),
        report.contacts_checked
    )?;
    Ok(())
}
