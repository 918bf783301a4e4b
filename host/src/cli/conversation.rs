//! Conversations in the store from the command line: `qualify ingest`, `qualify contact
//! show|export|erase` and `qualify reengage` (follow-ups).

use super::{open_with_store, print_json, text_arg, DataArgs, RulesArg, StoreArgs};
use anyhow::{anyhow, Context, Result};
use clap::{Args, Subcommand};
use qualify_engine::conversation::{FollowUpOptions, Outcome};
use qualify_engine::{ContactId, Inbound, TenantId};
use std::io::{BufRead, Write};
use std::process::ExitCode;

/// Arguments of `qualify ingest`.
#[derive(Args)]
pub struct IngestArgs {
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
}

/// `qualify ingest`: one message (or, with `--lines`, one per input line, each answered
/// with its result line after its commit is durable).
pub fn ingest(args: IngestArgs, out: &mut impl Write) -> Result<ExitCode> {
    let (engine, _) = open_with_store(args.rules.rules.as_deref(), &args.data.store)?;
    let tenant = args.data.tenant()?;
    let contact = ContactId::new(&args.contact)?;
    let tags = (!args.tags.is_empty()).then_some(args.tags);
    let message = |text: &str| Inbound {
        tags: tags.clone(),
        ..Inbound::text(text)
    };
    if args.lines {
        for line in std::io::stdin().lock().lines() {
            let line = line.context("cannot read standard input")?;
            if line.trim().is_empty() {
                continue;
            }
            let result = engine.ingest(&tenant, &contact, &message(&line))?;
            serde_json::to_writer(&mut *out, &result)?;
            writeln!(out)?;
            out.flush()?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let text = text_arg(args.text.as_deref())?;
    let result = engine.ingest(&tenant, &contact, &message(text.trim_end_matches('\n')))?;
    print_json(out, &result)?;
    Ok(ExitCode::SUCCESS)
}

/// `qualify contact ...`.
#[derive(Subcommand)]
pub enum ContactAction {
    /// Print the contact's stored state as JSON.
    Show(ContactArgs),
    /// Print everything held on the contact (subject-access export) as JSON.
    Export(ContactArgs),
    /// Erase the contact.
    Erase(ContactArgs),
}

/// A stored contact.
#[derive(Args)]
pub struct ContactArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Contact id.
    id: String,
}

/// Runs `qualify contact show|export|erase`; an unknown contact is an error.
pub fn contact(action: ContactAction, out: &mut impl Write) -> Result<ExitCode> {
    let (ContactAction::Show(args) | ContactAction::Export(args) | ContactAction::Erase(args)) =
        &action;
    let (engine, _) = open_with_store(None, &args.data.store)?;
    let tenant = args.data.tenant()?;
    let id = ContactId::new(&args.id)?;
    let contacts = engine.contacts();
    let missing = || anyhow!("no contact {:?} in tenant {:?}", args.id, args.data.tenant);
    match &action {
        ContactAction::Show(_) => {
            print_json(out, &contacts.get(&tenant, &id)?.ok_or_else(missing)?)?
        }
        ContactAction::Export(_) => {
            print_json(out, &contacts.export(&tenant, &id)?.ok_or_else(missing)?)?
        }
        ContactAction::Erase(_) => {
            if !contacts.erase(&tenant, &id)? {
                return Err(missing());
            }
            print_json(out, &serde_json::json!({"erased": id, "tenant": tenant}))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `qualify reengage`.
#[derive(Args)]
pub struct ReengageArgs {
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
}

/// `qualify reengage`: one JSON line per contact as soon as its outcome is durable (so
/// progress is visible and an interrupted run shows exactly what was done), then a
/// summary line; a progress bar on stderr when it is a terminal.
pub fn reengage(args: ReengageArgs, out: &mut impl Write) -> Result<ExitCode> {
    let now = match &args.now {
        Some(t) => Some(
            t.parse::<jiff::Timestamp>()
                .map_err(|e| anyhow!("--now {t:?}: expected RFC 3339 ({e})"))?,
        ),
        None => None,
    };
    let tenant = args.tenant.as_deref().map(TenantId::new).transpose()?;
    let (engine, _) = open_with_store(args.rules.rules.as_deref(), &args.store)?;
    let opts = FollowUpOptions {
        now,
        tenant,
        dry_run: args.dry_run,
        ..Default::default()
    };
    let bar = progress_bar();
    let report = engine.followups().run_each(&opts, |o| {
        let _ = serde_json::to_writer(&mut *out, o);
        let _ = writeln!(out);
        let _ = out.flush();
        if let Some(bar) = &bar {
            bar.inc(1);
            bar.set_message(format!("({} {})", o.outcome.as_str(), o.contact));
        }
    })?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let summary = serde_json::json!({"summary": {
        "sent": report.count(Outcome::Sent),
        "deferred": report.count(Outcome::Deferred),
        "skipped": report.count(Outcome::Skipped),
        "records_read": report.records_read,
        "dry_run": args.dry_run,
    }});
    serde_json::to_writer(&mut *out, &summary)?;
    writeln!(out)?;
    Ok(ExitCode::SUCCESS)
}

/// A spinner on stderr when it is a terminal (never in pipes or logs).
fn progress_bar() -> Option<indicatif::ProgressBar> {
    std::io::IsTerminal::is_terminal(&std::io::stderr()).then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {pos} follow-ups handled {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar
    })
}
