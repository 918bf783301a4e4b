//! Re-engagement: after a lead's last message, send the tenant's stage texts (24 h, 48 h,
//! 72 h by default), each at most once per silence, only inside the contact's local
//! window (deferred, never dropped), never to opted-out, deactivated or handed-off
//! contacts. Due contacts come from an index ordered by due time, so a run reads what is
//! due and nothing else. Each send records the stage, the next due entry and the outbox
//! action in one transaction: a crash neither double-sends nor skips.

use crate::contact::Contact;
use crate::engine::{Counts, Engine};
use crate::error::{Error, Result};
use crate::lead::{From, Message};
use crate::rules::TenantRules;
use crate::sms;
use crate::tenants::{Action, ActionKind, TenantRecord};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;

/// Placeholders a template may use.
pub const PLACEHOLDERS: [&str; 5] = [
    "first_name",
    "last_name",
    "agent_name",
    "budget",
    "location",
];

/// How to run.
#[derive(Clone, Debug)]
pub struct ReengageOptions {
    /// The time to run at (default: the engine's clock).
    pub now: Option<Timestamp>,
    /// Only this tenant.
    pub tenant: Option<String>,
    /// Decide and report, write nothing.
    pub dry_run: bool,
    /// Most index entries to handle in one run.
    pub limit: usize,
}

impl Default for ReengageOptions {
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
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FollowUpOutcome {
    /// Tenant.
    pub tenant: String,
    /// Contact.
    pub contact: String,
    /// `sent`, `deferred` or `skipped`.
    pub outcome: &'static str,
    /// The stage (hours of silence) concerned, if any.
    pub stage_hours: Option<u32>,
    /// The text sent (or that would be, in a dry run).
    pub text: Option<String>,
    /// When a deferred follow-up will be tried again.
    pub until: Option<Timestamp>,
    /// Why.
    pub reason: String,
}

/// A run's outcomes and how many records it read.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ReengageReport {
    /// One per due index entry handled.
    pub outcomes: Vec<FollowUpOutcome>,
    /// Index entries plus contact records read: grows with what is due, not with contacts.
    pub records_read: usize,
}

/// Fills `{placeholder}`s; an unknown one is an error naming it.
pub fn render(
    template: &str,
    value: impl Fn(&str) -> Option<String>,
) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("unclosed '{{' in {template:?}"))?;
        let name = &after[..close];
        if !PLACEHOLDERS.contains(&name) {
            return Err(format!(
                "unknown placeholder {{{name}}} (allowed: {})",
                PLACEHOLDERS.join(", ")
            ));
        }
        out.push_str(&value(name).unwrap_or_default());
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn text_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(a) => Some(
            a.iter()
                .filter_map(|x| text_of(Some(x)))
                .collect::<Vec<_>>()
                .join(", "),
        )
        .filter(|s| !s.is_empty()),
        _ => None,
    }
}

/// The template goal for a contact: buyer, seller, or general when unknown.
fn goal_key(c: &Contact) -> &'static str {
    match c
        .facts
        .get("goal")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
    {
        Some(g) if g.contains("buy") || g.contains("purchas") => "buyer",
        Some(g) if g.contains("sell") || g.contains("list") => "seller",
        _ => "general",
    }
}

/// Placeholder values for a contact; a missing first name reads "there", never "None".
fn placeholder(rules: &TenantRules, c: &Contact, name: &str) -> Option<String> {
    match name {
        "first_name" => text_of(c.facts.get("name"))
            .and_then(|n| n.split_whitespace().next().map(str::to_string))
            .filter(|n| !n.eq_ignore_ascii_case("none") && !n.eq_ignore_ascii_case("null"))
            .or_else(|| Some("there".into())),
        "last_name" => text_of(c.facts.get("last_name")),
        "agent_name" => Some(rules.settings.agent_name.clone())
            .filter(|a| !a.is_empty())
            .or_else(|| Some("our team".into())),
        "budget" => text_of(c.facts.get("budget")),
        "location" => text_of(c.facts.get("location")),
        _ => None,
    }
}

fn parse_hm(s: &str) -> Option<jiff::civil::Time> {
    let (h, m) = s.trim().split_once(':')?;
    jiff::civil::Time::new(h.parse().ok()?, m.parse().ok()?, 0, 0).ok()
}

/// `None` when `now` is inside the window in `tz`; else the next window start.
pub fn next_window_start(
    now: Timestamp,
    tz: &TimeZone,
    start: &str,
    end: &str,
) -> Option<Timestamp> {
    let (start, end) = (parse_hm(start)?, parse_hm(end)?);
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

impl Engine {
    fn followup_text(
        &self,
        tenant: &str,
        rules: &TenantRules,
        c: &Contact,
        stage: usize,
    ) -> Result<Option<String>> {
        let hours = rules.settings.followup.stages_hours[stage];
        if rules
            .ast
            .iter_functions()
            .any(|f| f.name == "followup" && f.params.len() == 3)
        {
            let inbound = c.history.iter().filter(|m| m.from == From::Lead).count();
            let counts = Counts {
                messages: c.history.len(),
                inbound,
            };
            let lead = crate::engine::lead_dynamic(&c.facts, &c.tags, counts);
            let out = self.call(
                rules,
                "followup",
                (
                    lead,
                    rhai::Dynamic::from(hours as rhai::INT),
                    rules.cfg_dynamic(),
                ),
            )?;
            if out.is_unit() {
                return Ok(None);
            }
            return out.into_string().map(Some).map_err(|t| Error::HookResult {
                tenant: tenant.to_string(),
                hook: "followup".into(),
                message: format!("expected a string or (), got {t}"),
            });
        }
        let templates = &rules.settings.followup.templates;
        let Some(template) = templates
            .get(goal_key(c))
            .or_else(|| templates.get("general"))
            .and_then(|t| t.get(stage))
        else {
            return Ok(None);
        };
        render(template, |name| placeholder(rules, c, name))
            .map(Some)
            .map_err(|message| Error::Settings {
                file: rules.yaml_file.clone(),
                message,
            })
    }

    /// Sends (or defers, or skips) every follow-up due now. See the module docs.
    pub fn reengage(&self, opts: &ReengageOptions) -> Result<ReengageReport> {
        self.reengage_each(opts, |_| {})
    }

    /// [`Engine::reengage`], calling `each` with every outcome as soon as its transaction
    /// has committed (to stream progress).
    pub fn reengage_each(
        &self,
        opts: &ReengageOptions,
        mut each: impl FnMut(&FollowUpOutcome),
    ) -> Result<ReengageReport> {
        let now = opts.now.unwrap_or_else(|| self.now());
        let now_ms = now.as_millisecond().max(0) as u64;
        let store = self.store()?.clone();
        let entries = store.due_followups(now_ms, opts.limit)?;
        let mut report = ReengageReport {
            records_read: entries.len(),
            ..Default::default()
        };
        for (due, tenant, contact) in entries {
            if opts.tenant.as_ref().is_some_and(|t| *t != tenant) {
                continue;
            }
            let run = |tx: &mut crate::store::WriteTx<'_>| {
                self.handle_due(tx, now, due, &tenant, &contact)
            };
            let outcome = if opts.dry_run {
                store.rehearse(run)
            } else {
                store.write(run)
            };
            match outcome {
                Ok((o, read)) => {
                    report.records_read += read;
                    each(&o);
                    report.outcomes.push(o);
                }
                Err(e) => {
                    tracing::warn!(tenant = %tenant, "follow-up failed: {e}");
                    report.outcomes.push(FollowUpOutcome {
                        tenant,
                        contact,
                        outcome: "skipped",
                        stage_hours: None,
                        text: None,
                        until: None,
                        reason: format!("error: {e}"),
                    });
                }
            }
        }
        Ok(report)
    }

    fn handle_due(
        &self,
        tx: &mut crate::store::WriteTx<'_>,
        now: Timestamp,
        due: u64,
        tenant: &str,
        id: &str,
    ) -> Result<(FollowUpOutcome, usize)> {
        let outcome = |o: &'static str,
                       stage: Option<u32>,
                       text: Option<String>,
                       until: Option<Timestamp>,
                       reason: String| FollowUpOutcome {
            tenant: tenant.to_string(),
            contact: id.to_string(),
            outcome: o,
            stage_hours: stage,
            text,
            until,
            reason,
        };
        tx.unschedule(due, tenant, id)?;
        let rules = match self.rules(tenant) {
            Ok(r) => r,
            Err(e) => {
                return Ok((
                    outcome("skipped", None, None, None, format!("no rules: {e}")),
                    0,
                ))
            }
        };
        let Some(mut c) = tx.contact(tenant, id)? else {
            return Ok((
                outcome("skipped", None, None, None, "contact erased".into()),
                1,
            ));
        };
        if c.followup.due_ms != Some(due) {
            return Ok((
                outcome(
                    "skipped",
                    None,
                    None,
                    None,
                    "stale index entry (the lead wrote since)".into(),
                ),
                1,
            ));
        }
        c.followup.due_ms = None;
        let mut skip = |c: &mut Contact, reason: String| -> Result<(FollowUpOutcome, usize)> {
            tx.put_contact(tenant, c)?;
            Ok((outcome("skipped", None, None, None, reason), 1))
        };
        if c.opted_out {
            return skip(&mut c, "opted out".into());
        }
        if let Err(why) = rules.settings.gate(&c.tags) {
            return skip(&mut c, format!("automation off: {why}"));
        }
        if c.last
            .as_ref()
            .is_some_and(|l| l.question.as_deref() == Some("handoff"))
        {
            return skip(&mut c, "handed off to the agent".into());
        }
        let stages = &rules.settings.followup.stages_hours;
        let Some(silent_since) = c.last_inbound_at else {
            return skip(&mut c, "no inbound message".into());
        };
        let silence_h = now.duration_since(silent_since).as_secs() / 3600;
        // The latest stage whose time has come (after downtime, the latest only).
        let from = c.followup.stage as usize;
        let Some(stage) = (from..stages.len())
            .rev()
            .find(|k| silence_h >= i64::from(stages[*k]))
        else {
            return skip(&mut c, "no stage due".into());
        };
        let hours = stages[stage];
        let tz_name = c
            .timezone
            .clone()
            .unwrap_or_else(|| rules.settings.followup.default_timezone.clone());
        let tz = TimeZone::get(&tz_name)
            .or_else(|_| TimeZone::get(&rules.settings.followup.default_timezone))
            .unwrap_or(TimeZone::UTC);
        let window = &rules.settings.followup.window;
        if let Some(until) = next_window_start(now, &tz, &window.start, &window.end) {
            let at = until.as_millisecond().max(0) as u64;
            tx.schedule(at, tenant, id)?;
            c.followup.due_ms = Some(at);
            tx.put_contact(tenant, &c)?;
            return Ok((
                outcome(
                    "deferred",
                    Some(hours),
                    None,
                    Some(until),
                    format!("outside {}-{} in {tz_name}", window.start, window.end),
                ),
                1,
            ));
        }
        let Some(text) = self.followup_text(tenant, &rules, &c, stage)? else {
            return skip(&mut c, "no text for this stage".into());
        };
        let segments = sms::segments(&text);
        if segments > rules.settings.sms_segment_budget {
            return skip(
                &mut c,
                format!("text is {segments} SMS segments, over the budget"),
            );
        }
        c.followup.stage = stage as u32 + 1;
        c.followup.last_sent_at = Some(now);
        if let Some(next) = stages.get(stage + 1) {
            let at = silent_since.as_millisecond().max(0) as u64 + u64::from(*next) * 3_600_000;
            tx.schedule(at, tenant, id)?;
            c.followup.due_ms = Some(at);
        }
        c.history.push(Message {
            from: From::Agent,
            text: text.clone(),
            at: Some(now.to_string()),
        });
        let limit = rules.settings.history_limit.max(1);
        if c.history.len() > limit {
            let excess = c.history.len() - limit;
            c.history.drain(..excess);
        }
        c.updated_at = now;
        tx.put_contact(tenant, &c)?;
        if tx
            .tenant::<TenantRecord>(tenant)?
            .is_some_and(|r| r.ghl_token.is_some())
        {
            let now_ms = now.as_millisecond().max(0) as u64;
            let action = Action {
                id: crate::stateful::action_id(),
                tenant: tenant.to_string(),
                contact: id.to_string(),
                kind: ActionKind::SendMessage {
                    message: text.clone(),
                    channel: "SMS".into(),
                },
                attempts: 0,
                last_error: None,
                due_ms: now_ms,
            };
            tx.enqueue(tenant, now_ms, action.id, &action)?;
        }
        Ok((
            outcome(
                "sent",
                Some(hours),
                Some(text),
                None,
                format!("{hours} h of silence"),
            ),
            1,
        ))
    }
}
