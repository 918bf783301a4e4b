//! Follow-ups: after a lead's last message, the tenant's stage texts (24 h, 48 h, 72 h by
//! default), each at most once per silence, only inside the contact's local window
//! (deferred, never dropped), never to opted-out, deactivated or handed-off contacts.
//! Due contacts come from an index ordered by due time, so a run reads what is due and
//! nothing else. Which stage is due is a pure function ([`due_stage`]); each send records
//! the stage, the next due entry and the outbox action in one transaction, so a crash
//! neither double-sends nor skips.

use super::experiments;
use super::template::stage_text;
use crate::clock::millis;
use crate::error::Result;
use crate::ids::{ContactId, TenantId};
use crate::model::{ActionKind, Contact, Message, Origin};
use crate::rules::{RuleSet, Settings};
use crate::store::{DueEntry, Store, WriteTx};
use crate::text::sms;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::Serialize;
use std::sync::Arc;

/// How to run.
#[derive(Clone, Debug)]
pub struct FollowUpOptions {
    /// The time to run at (default: the engine's clock).
    pub now: Option<Timestamp>,
    /// Only this tenant.
    pub tenant: Option<TenantId>,
    /// Decide and report, write nothing.
    pub dry_run: bool,
    /// Most index entries to handle in one run.
    pub limit: usize,
}

impl Default for FollowUpOptions {
    fn default() -> Self {
        Self {
            now: None,
            tenant: None,
            dry_run: false,
            limit: 10_000,
        }
    }
}

/// What happened to one due contact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The stage's text was sent (queued in the outbox, recorded in the history).
    Sent,
    /// Outside the contact's window: tried again at the next window start.
    Deferred,
    /// Nothing sent, for the reason given.
    Skipped,
}

impl Outcome {
    /// `sent`, `deferred` or `skipped`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Sent => "sent",
            Outcome::Deferred => "deferred",
            Outcome::Skipped => "skipped",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One due contact's outcome, with the details.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FollowUpOutcome {
    /// Tenant.
    pub tenant: TenantId,
    /// Contact.
    pub contact: ContactId,
    /// Sent, deferred or skipped.
    pub outcome: Outcome,
    /// The stage (hours of silence) concerned, if any.
    pub stage_hours: Option<u32>,
    /// The text sent (or that would be, in a dry run).
    pub text: Option<String>,
    /// When a deferred follow-up will be tried again.
    pub until: Option<Timestamp>,
    /// Why.
    pub reason: String,
}

impl FollowUpOutcome {
    fn skipped(entry: &DueEntry, reason: String) -> Self {
        Self {
            tenant: entry.tenant.clone(),
            contact: entry.contact.clone(),
            outcome: Outcome::Skipped,
            stage_hours: None,
            text: None,
            until: None,
            reason,
        }
    }
}

/// A run's outcomes and how many records it read.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FollowUpReport {
    /// One per due index entry handled.
    pub outcomes: Vec<FollowUpOutcome>,
    /// Index entries plus contact records read: grows with what is due, not with contacts.
    pub records_read: usize,
}

impl FollowUpReport {
    /// How many outcomes were `outcome`.
    pub fn count(&self, outcome: Outcome) -> usize {
        self.outcomes
            .iter()
            .filter(|o| o.outcome == outcome)
            .count()
    }
}

/// `None` when `now` is inside the window `[start, end)` in `tz`; else the next window
/// start.
pub fn next_window_start(
    now: Timestamp,
    tz: &TimeZone,
    start: jiff::civil::Time,
    end: jiff::civil::Time,
) -> Option<Timestamp> {
    let local = now.to_zoned_datetime(tz.clone());
    let t = local.time();
    if t >= start && t < end {
        return None;
    }
    let date = if t < start {
        local.date()
    } else {
        local.date().tomorrow().ok()?
    };
    // Compatible disambiguation: a start inside a DST gap moves forward, never back.
    date.to_datetime(start)
        .to_zoned_datetime(tz.clone())
        .ok()
        .map(|z| z.timestamp())
}

/// The contact's time zone (the tenant's default when unknown) and its name.
fn zone(c: &Contact, settings: &Settings) -> (TimeZone, String) {
    let name = c
        .timezone
        .clone()
        .unwrap_or_else(|| settings.followup.default_timezone.clone());
    let tz = TimeZone::get(&name)
        .or_else(|_| TimeZone::get(&settings.followup.default_timezone))
        .unwrap_or(TimeZone::UTC);
    (tz, name)
}

/// When a text the bot starts may go to `c`, if not now: the next start of the contact's
/// window, and never within the tenant's minimum gap after the last text it was sent.
pub(crate) fn window_wait(c: &Contact, settings: &Settings, now: Timestamp) -> Option<Timestamp> {
    let gap = jiff::SignedDuration::from_mins(i64::from(settings.followup.min_gap_minutes));
    let after_gap = c
        .last_sent_at()
        .and_then(|t| t.checked_add(gap).ok())
        .filter(|t| *t > now);
    let at = after_gap.unwrap_or(now);
    let (tz, _) = zone(c, settings);
    let w = &settings.followup.window;
    match next_window_start(at, &tz, w.start.0, w.end.0) {
        Some(start) => Some(start),
        None => after_gap,
    }
}

/// What is due for a contact now.
#[derive(Debug, PartialEq)]
pub(crate) enum Due {
    /// Nothing to send, and why.
    Skip(String),
    /// A stage is due, but outside the contact's window.
    Defer {
        hours: u32,
        until: Timestamp,
        reason: String,
    },
    /// Stage number `stage` (0-based) is due and may be sent now.
    Send { stage: usize },
}

/// The pure decision: which stage (if any) is due for `c` at `now` under `settings`.
/// After downtime, only the latest stage whose time has come is sent.
pub(crate) fn due_stage(c: &Contact, settings: &Settings, now: Timestamp) -> Due {
    if c.opted_out {
        return Due::Skip("opted out".into());
    }
    if let Err(why) = settings.gate(&c.tags) {
        return Due::Skip(format!("automation off: {why}"));
    }
    if c.last
        .as_ref()
        .is_some_and(|l| l.question.as_deref() == Some("handoff"))
    {
        return Due::Skip("handed off to the agent".into());
    }
    let Some(silent_since) = c.last_inbound_at else {
        return Due::Skip("no inbound message".into());
    };
    let stages = &settings.followup.stages_hours;
    let silence_h = now.duration_since(silent_since).as_secs() / 3600;
    let from = c.followup.stage as usize;
    let Some(stage) = (from..stages.len())
        .rev()
        .find(|k| silence_h >= i64::from(stages[*k]))
    else {
        return Due::Skip("no stage due".into());
    };
    let Some(until) = window_wait(c, settings, now) else {
        return Due::Send { stage };
    };
    let (tz, tz_name) = zone(c, settings);
    let w = &settings.followup.window;
    let reason = if next_window_start(now, &tz, w.start.0, w.end.0).is_some() {
        format!("outside {}-{} in {tz_name}", w.start, w.end)
    } else {
        let gap = settings.followup.min_gap_minutes;
        format!("within {gap} min of the last text sent")
    };
    Due::Defer {
        hours: stages[stage],
        until,
        reason,
    }
}

/// The wait before trying a contact's follow-up again after `failures` failed runs:
/// 5 minutes, doubling, at most a day.
fn retry_after(failures: u32) -> jiff::SignedDuration {
    let mins = 5i64.saturating_mul(1 << failures.min(9)).min(24 * 60);
    jiff::SignedDuration::from_mins(mins)
}

/// Sends (or defers, or skips) every follow-up due at `now`, calling `each` with every
/// outcome as soon as its transaction has committed. `rules_for` finds a tenant's rules.
pub(crate) fn run(
    store: &Store,
    rules_for: impl Fn(&TenantId) -> Result<Arc<RuleSet>>,
    opts: &FollowUpOptions,
    now: Timestamp,
    mut each: impl FnMut(&FollowUpOutcome),
) -> Result<FollowUpReport> {
    let entries = store.due_followups(millis(now), opts.limit)?;
    let mut report = FollowUpReport {
        records_read: entries.len(),
        ..Default::default()
    };
    for entry in entries {
        if opts.tenant.as_ref().is_some_and(|t| *t != entry.tenant) {
            continue;
        }
        let handle = |tx: &mut WriteTx<'_>| handle_due(tx, &rules_for, now, &entry);
        let outcome = if opts.dry_run {
            store.rehearse(handle)
        } else {
            store.write(handle)
        };
        match outcome {
            Ok((o, read)) => {
                metrics::counter!("qualify_followups_total", "outcome" => o.outcome.as_str())
                    .increment(1);
                report.records_read += read;
                each(&o);
                report.outcomes.push(o);
            }
            Err(e) => {
                // Rolled back; the entry stays due. Push it out so a failing hook is not
                // retried every second (nothing is written in a dry run).
                tracing::warn!(tenant = %entry.tenant, "follow-up failed: {e}");
                let until = if opts.dry_run {
                    None
                } else {
                    store.write(|tx| back_off(tx, &entry, now)).ok().flatten()
                };
                metrics::counter!("qualify_followups_total", "outcome" => "deferred").increment(1);
                report.outcomes.push(FollowUpOutcome {
                    outcome: Outcome::Deferred,
                    until,
                    ..FollowUpOutcome::skipped(&entry, format!("error, tried again later: {e}"))
                });
            }
        }
    }
    Ok(report)
}

/// One due index entry, in its own transaction: the outcome and the records read.
fn handle_due(
    tx: &mut WriteTx<'_>,
    rules_for: impl Fn(&TenantId) -> Result<Arc<RuleSet>>,
    now: Timestamp,
    entry: &DueEntry,
) -> Result<(FollowUpOutcome, usize)> {
    let (tenant, id) = (&entry.tenant, &entry.contact);
    let skipped = |reason: String| FollowUpOutcome::skipped(entry, reason);
    let rules = match rules_for(tenant) {
        Ok(r) => r,
        Err(e) => {
            // Kept, not dropped: tried again when the rules may be back.
            let until = back_off(tx, entry, now)?;
            let outcome = FollowUpOutcome {
                outcome: Outcome::Deferred,
                until,
                ..skipped(format!("rules unavailable, kept: {e}"))
            };
            return Ok((outcome, 1));
        }
    };
    tx.unschedule(entry.due_ms, tenant, id)?;
    let Some(mut c) = tx.contact(tenant, id)? else {
        return Ok((skipped("contact erased".into()), 1));
    };
    if c.followup.due_ms != Some(entry.due_ms) {
        let why = "stale index entry (the lead wrote since)";
        return Ok((skipped(why.into()), 1));
    }
    c.followup.due_ms = None;
    let stopped = tx.stopped_experiments(tenant)?;
    let picks = experiments::picks_for(&rules, &c, &stopped, now);
    let rules = rules.tuned(&picks);
    let outcome = match due_stage(&c, &rules.settings, now) {
        Due::Skip(reason) => skipped(reason),
        Due::Defer {
            hours,
            until,
            reason,
        } => {
            tx.schedule(millis(until), tenant, id)?;
            c.followup.due_ms = Some(millis(until));
            FollowUpOutcome {
                outcome: Outcome::Deferred,
                stage_hours: Some(hours),
                until: Some(until),
                reason,
                ..skipped(String::new())
            }
        }
        Due::Send { stage } => match stage_text(rules, &c, stage, &picks)? {
            None => skipped("no text for this stage".into()),
            Some(text) => {
                let segments = sms::segments(&text);
                if segments > rules.settings.sms_segment_budget {
                    skipped(format!("text is {segments} SMS segments, over the budget"))
                } else {
                    let exposures = experiments::expose(rules, &mut c, &picks, now);
                    for (key, variant) in &exposures {
                        tx.expose(tenant, key, id, variant, millis(now))?;
                    }
                    return record_send(tx, entry, rules, c, stage, text, now);
                }
            }
        },
    };
    tx.put_contact(tenant, &mut c)?;
    Ok((outcome, 1))
}

/// Records a sent stage: the stage and the next one's due entry on the contact, the text
/// in its history, and the SMS in the outbox, all in the caller's transaction.
fn record_send(
    tx: &mut WriteTx<'_>,
    entry: &DueEntry,
    rules: &RuleSet,
    mut c: Contact,
    stage: usize,
    text: String,
    now: Timestamp,
) -> Result<(FollowUpOutcome, usize)> {
    let (tenant, id) = (&entry.tenant, &entry.contact);
    let stages = &rules.settings.followup.stages_hours;
    let hours = stages[stage];
    c.followup.stage = stage as u32 + 1;
    c.followup.last_sent_at = Some(now);
    c.followup.failures = 0;
    if let (Some(next), Some(silent_since)) = (stages.get(stage + 1), c.last_inbound_at) {
        let at = millis(silent_since) + u64::from(*next) * 3_600_000;
        tx.schedule(at, tenant, id)?;
        c.followup.due_ms = Some(at);
    }
    c.push_message(
        Message::from_agent(&text, now),
        rules.settings.history_limit,
    );
    c.updated_at = now;
    tx.put_contact(tenant, &mut c)?;
    let (day, counted) = super::analytics::count_followup(now, hours);
    tx.tally(tenant, day, &counted);
    if tx.ghl_connected(tenant)? {
        let sms = ActionKind::sms(text.clone());
        tx.enqueue(tenant, id, sms, Origin::BotInitiated, millis(now))?;
    }
    let outcome = FollowUpOutcome {
        tenant: tenant.clone(),
        contact: id.clone(),
        outcome: Outcome::Sent,
        stage_hours: Some(hours),
        text: Some(text),
        until: None,
        reason: format!("{hours} h of silence"),
    };
    Ok((outcome, 1))
}

/// Moves a due entry whose run failed further out (growing with each failure); the
/// contact's next try, if the contact still exists and the entry is still its own.
fn back_off(tx: &mut WriteTx<'_>, entry: &DueEntry, now: Timestamp) -> Result<Option<Timestamp>> {
    let (tenant, id) = (&entry.tenant, &entry.contact);
    let Some(mut c) = tx.contact(tenant, id)? else {
        tx.unschedule(entry.due_ms, tenant, id)?;
        return Ok(None);
    };
    if c.followup.due_ms != Some(entry.due_ms) {
        tx.unschedule(entry.due_ms, tenant, id)?;
        return Ok(None);
    }
    let until = now
        .checked_add(retry_after(c.followup.failures))
        .unwrap_or(now);
    c.followup.failures = c.followup.failures.saturating_add(1);
    tx.unschedule(entry.due_ms, tenant, id)?;
    tx.schedule(millis(until), tenant, id)?;
    c.followup.due_ms = Some(millis(until));
    tx.put_contact(tenant, &mut c)?;
    Ok(Some(until))
}
