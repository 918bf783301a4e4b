//! Ingesting one inbound message, as named steps: check it, redact it, merge it into the
//! contact (extracting facts from the raw text), decide, apply compliance (opt-out,
//! resubscribe, help), plan the CRM actions (a pure function of the decision and the
//! contact), apply the decision to the contact, and record everything in the caller's
//! write transaction. When the tenant's rules fail, the message is still stored, marked
//! undecided, for a retry or a fixed rule set to decide ([`record_undecided`],
//! [`decide_again`]).

use super::analytics::{count, Event, Prior};
use super::experiments;
use super::llm::{Hints, LlmUsage};
use crate::clock::millis;
use crate::decide::{evaluate, evaluate_quiet};
use crate::error::Error;
use crate::error::Result;
use crate::experiment::Pick;
use crate::ids::{ContactId, TenantId};
use crate::model::{
    day_of, ActionKind, Author, Contact, DayStats, Decision, Facts, LastDecision, Message, Origin,
};
use crate::rules::{LimitSettings, RuleSet, Settings};
use crate::store::{ContactChange, ContactView, WriteTx};
use crate::text::compliance::{self, Request};
use crate::text::is_answered;
use crate::text::redact::{self, Finding};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// One inbound message from a lead, with what the CRM knows alongside it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Inbound {
    /// The message text, raw (it is redacted before it is stored).
    #[serde(alias = "body", alias = "message")]
    pub text: String,
    /// When the lead wrote it (default: now by the engine's clock).
    #[serde(default)]
    pub at: Option<Timestamp>,
    /// The contact's current CRM tags; replaces the stored tags when given.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// Facts supplied with the message; they override extracted and older facts.
    #[serde(default)]
    pub facts: Facts,
    /// The lead's first name, when the CRM knows it.
    #[serde(default)]
    pub name: Option<String>,
    /// The contact's IANA time zone, when the CRM knows it.
    #[serde(default)]
    pub timezone: Option<String>,
}

impl Inbound {
    /// A message with nothing else known.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            ..Self::default()
        }
    }
}

/// What an ingest did, returned once the transaction is durable.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Ingested {
    /// The decision after this message, on all facts known.
    pub decision: Decision,
    /// The message as stored (redacted when the tenant's setting is on).
    pub stored_text: String,
    /// PII found in the message: type and byte span in the raw text.
    pub findings: Vec<Finding>,
    /// CRM actions the decision calls for (tags, message, workflow, custom field).
    pub actions: Vec<ActionKind>,
    /// The compliance request the message made (opt-out, resubscribe, help), if any.
    pub compliance: Option<Request>,
    /// True when the actions were queued in the outbox for delivery to GoHighLevel
    /// (the tenant has a GHL token); otherwise the caller applies them.
    pub queued: bool,
}

fn same_tag(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// Step 0: a message that cannot be right is refused before anything is written: empty
/// text, an `at` in the future (a minute of clock skew allowed) or older than the tenant
/// allows, an unknown time zone, supplied facts over the tenant's limits.
fn check(message: &Inbound, limits: &LimitSettings, at: Timestamp, now: Timestamp) -> Result<()> {
    let invalid = |m: String| Err(Error::InvalidMessage(m));
    if message.text.trim().is_empty() {
        return invalid("the text is empty".into());
    }
    if at.duration_since(now) > jiff::SignedDuration::from_mins(1) {
        return invalid(format!("`at` {at} is in the future"));
    }
    let oldest = jiff::SignedDuration::from_hours(i64::from(limits.max_backdate_hours));
    if now.duration_since(at) > oldest {
        return invalid(format!(
            "`at` {at} is more than {} hours ago (import dated transcripts instead)",
            limits.max_backdate_hours
        ));
    }
    if let Some(tz) = &message.timezone {
        if jiff::tz::TimeZone::get(tz).is_err() {
            return invalid(format!(
                "unknown time zone {tz:?} (an IANA name such as America/Chicago)"
            ));
        }
    }
    check_facts(
        &message.facts,
        limits,
        "facts per message",
        limits.max_facts_per_message,
    )
}

/// Fact count, name and value sizes against the limits.
fn check_facts(facts: &Facts, limits: &LimitSettings, what: &str, most: usize) -> Result<()> {
    let over = |what: String, limit: usize| Err(Error::Limit { what, limit });
    if facts.len() > most {
        return over(what.into(), most);
    }
    for (k, v) in facts {
        if k.len() > limits.max_fact_key_bytes {
            return over(
                format!("fact name {:?}", k.chars().take(40).collect::<String>()),
                limits.max_fact_key_bytes,
            );
        }
        if v.to_string().len() > limits.max_fact_value_bytes {
            return over(
                format!("the value of fact {k:?}"),
                limits.max_fact_value_bytes,
            );
        }
    }
    Ok(())
}

/// The stored text: redacted unless the tenant turned that off.
pub(crate) fn stored_text(rules: &RuleSet, message: &Inbound) -> (String, Vec<Finding>) {
    let redacted = redact::redact(&message.text);
    let text = if rules.settings.redact_history {
        redacted.text
    } else {
        message.text.clone()
    };
    (text, redacted.findings)
}

/// Prepares the ingest of `message` for `contact` from a snapshot of it: the result, and
/// the change that records it (nothing is written here; the caller commits the change,
/// and decides again if the contact changed meanwhile). `hints` are what hybrid
/// extraction read (see `llm.rs`): its facts fill only data points still unanswered, and
/// its calls and tokens are counted in the day's analytics row.
pub(crate) fn prepare(
    view: ContactView,
    tenant: &TenantId,
    rules: &RuleSet,
    contact: &ContactId,
    message: &Inbound,
    hints: &Hints,
    now: Timestamp,
) -> Result<(Ingested, ContactChange)> {
    let at = message.at.unwrap_or(now);
    check(message, &rules.settings.limits, at, now)?;
    let (stored_text, findings) = stored_text(rules, message);
    let expected = view.contact.as_ref().map(|c| c.version);
    let prior = Prior::of(view.contact.as_ref());
    let mut c = view
        .contact
        .unwrap_or_else(|| Contact::new(contact.clone(), now));
    let Decided {
        rules,
        decision,
        picks,
        request,
        reply,
        replied,
    } = decide_message(
        &mut c,
        tenant,
        rules,
        message,
        hints.facts.as_ref(),
        &stored_text,
        &view.stopped,
        now,
        true,
    )?;
    let mut planned = Vec::new();
    if decision.active {
        planned = plan_actions(&decision, &c.tags, &rules.settings, Origin::Reply);
        apply_decision(&mut c, &decision, now);
    }
    if let Some(text) = reply {
        planned.push((ActionKind::sms(text.clone()), Origin::Compliance));
        c.history.push(Message::from_agent(text, now));
    }
    let actions = planned.iter().map(|(kind, _)| kind.clone()).collect();
    let outcomes = experiments::conversions(rules, &c, &picks, &decision, replied, now);
    let exposures = experiments::expose(rules, &mut c, &picks, now);
    let mut change = finish(
        c,
        expected,
        tenant,
        rules,
        &decision,
        planned,
        view.connected,
        now,
    );
    // Nothing queued earlier may go out after STOP (the confirmation is queued with it).
    change.drop_texts = request == Some(Request::OptOut);
    change.exposures = exposures;
    change.outcomes = outcomes;
    change.tally = count(
        &prior,
        &mut change.contact,
        &Event {
            at,
            inbound: replied,
            decision: Some(&decision),
            stages_hours: &rules.settings.followup.stages_hours,
        },
    );
    if hints.usage != LlmUsage::default() {
        let llm = DayStats {
            llm: hints.usage,
            ..DayStats::default()
        };
        change.tally.push((day_of(now), llm));
    }
    let ingested = Ingested {
        decision,
        stored_text,
        findings,
        actions,
        compliance: request,
        queued: view.connected,
    };
    Ok((ingested, change))
}

/// A message decided on its contact (steps 1–3): what `prepare` records, and what
/// shadow mode compares with the candidate's.
pub(crate) struct Decided<'r> {
    /// The rules that decided: the tenant's, tuned to the experiments' variants.
    pub rules: &'r RuleSet,
    /// The decision, compliance applied.
    pub decision: Decision,
    /// The experiments' variants in use.
    pub picks: Vec<Pick>,
    /// The compliance request the message made.
    pub request: Option<Request>,
    /// The compliance reply to send, if any.
    pub reply: Option<String>,
    /// True when the message is new (see `merge`).
    pub replied: bool,
}

/// Steps 1–3 on a contact: merge the message in (see `merge`; `c` is changed; the
/// history gets `stored_text`), pick the experiments' variants, run the tenant's hooks
/// (with the explanation when `explain`), and apply compliance.
#[allow(clippy::too_many_arguments)]
pub(crate) fn decide_message<'r>(
    c: &mut Contact,
    tenant: &TenantId,
    rules: &'r RuleSet,
    message: &Inbound,
    hints: Option<&Facts>,
    stored_text: &str,
    stopped: &[String],
    now: Timestamp,
    explain: bool,
) -> Result<Decided<'r>> {
    let at = message.at.unwrap_or(now);
    let replied = merge(c, rules, message, hints, stored_text, at)?;
    let picks = experiments::picks_for(rules, c, stopped, now);
    let rules = rules.tuned(&picks);
    let (facts, size) = (c.facts.clone(), c.size());
    let mut decision = if explain {
        evaluate(tenant, rules, facts, &c.tags, size, &picks)?
    } else {
        evaluate_quiet(tenant, rules, facts, &c.tags, size, &picks)?
    };
    let request = compliance::classify(&message.text);
    let reply = apply_compliance(c, &mut decision, request, &rules.settings);
    Ok(Decided {
        rules,
        decision,
        picks,
        request,
        reply,
        replied,
    })
}

/// The whole of an ingest inside the caller's write transaction (imports: many messages,
/// one transaction); nothing is written if it fails.
pub(crate) fn ingest(
    tx: &mut WriteTx<'_>,
    tenant: &TenantId,
    rules: &RuleSet,
    contact: &ContactId,
    message: &Inbound,
    now: Timestamp,
) -> Result<Ingested> {
    let view = tx.view(tenant, contact, None)?;
    // Inside the writer: no hybrid extraction here (imports and batches are deterministic).
    let none = Hints::default();
    let (ingested, mut change) = prepare(view, tenant, rules, contact, message, &none, now)?;
    tx.apply(&mut change)?;
    Ok(ingested)
}

/// When the tenant's rules failed on `message`: the change that stores it anyway (merged
/// into the contact, facts extracted) and marks the contact undecided.
pub(crate) fn prepare_undecided(
    view: ContactView,
    tenant: &TenantId,
    rules: &RuleSet,
    contact: &ContactId,
    message: &Inbound,
    now: Timestamp,
) -> Result<ContactChange> {
    let at = message.at.unwrap_or(now);
    check(message, &rules.settings.limits, at, now)?;
    let (stored_text, _) = stored_text(rules, message);
    let expected = view.contact.as_ref().map(|c| c.version);
    let prior = Prior::of(view.contact.as_ref());
    let mut c = view
        .contact
        .unwrap_or_else(|| Contact::new(contact.clone(), now));
    let new = merge(&mut c, rules, message, None, &stored_text, at)?;
    c.trim_history(rules.settings.history_limit);
    c.undecided = true;
    c.updated_at = now;
    // The reply (no stages given) and the answer are counted when it is decided.
    let event = Event {
        at,
        inbound: new,
        decision: None,
        stages_hours: &[],
    };
    let tally = count(&prior, &mut c, &event);
    Ok(ContactChange {
        tenant: tenant.clone(),
        contact: c,
        expected,
        unschedule: None,
        schedule: None,
        drop_texts: false,
        enqueue: Vec::new(),
        now_ms: millis(now),
        pending: true,
        delivery: None,
        exposures: Vec::new(),
        outcomes: Vec::new(),
        tally,
    })
}

/// Decides a stored contact again without a new message (its rules were fixed, or its tags
/// changed), in the caller's transaction: the actions it calls for are texts the bot
/// starts. `None` when there is no such contact.
pub(crate) fn decide_again(
    tx: &mut WriteTx<'_>,
    tenant: &TenantId,
    rules: &RuleSet,
    contact: &ContactId,
    now: Timestamp,
) -> Result<Option<Decision>> {
    let view = tx.view(tenant, contact, None)?;
    let Some(mut c) = view.contact else {
        tx.set_pending(tenant, contact, false)?;
        return Ok(None);
    };
    let expected = Some(c.version);
    let prior = Prior::of(Some(&c));
    let picks = experiments::picks_for(rules, &c, &view.stopped, now);
    let rules = rules.tuned(&picks);
    let mut decision = evaluate(tenant, rules, c.facts.clone(), &c.tags, c.size(), &picks)?;
    apply_compliance(&mut c, &mut decision, None, &rules.settings);
    let mut planned = Vec::new();
    if decision.active {
        planned = plan_actions(&decision, &c.tags, &rules.settings, Origin::BotInitiated);
        apply_decision(&mut c, &decision, now);
    }
    let outcomes = experiments::conversions(rules, &c, &picks, &decision, false, now);
    let exposures = experiments::expose(rules, &mut c, &picks, now);
    let mut change = finish(
        c,
        expected,
        tenant,
        rules,
        &decision,
        planned,
        view.connected,
        now,
    );
    change.exposures = exposures;
    change.outcomes = outcomes;
    change.tally = count(
        &prior,
        &mut change.contact,
        &Event {
            at: now,
            inbound: false,
            decision: Some(&decision),
            stages_hours: &rules.settings.followup.stages_hours,
        },
    );
    tx.apply(&mut change)?;
    Ok(Some(decision))
}

/// The data point the contact's last message asked about, when the agent wrote last.
pub(super) fn asked_of(c: Option<&Contact>, rules: &RuleSet) -> Option<String> {
    c?.history
        .last()
        .filter(|m| m.from == Author::Agent)
        .and_then(|m| rules.extractor.topic_of_question(&m.text))
}

/// Step 1: the message into the contact. Facts are extracted from the raw text (a "not
/// sure" is filed under what the last agent message asked), hybrid extraction's `hints`
/// fill what is still unanswered, then supplied facts, name, time zone and tags
/// override; the stored (redacted) text joins the history. True when the message is new
/// (not a retry of one the rules failed on).
fn merge(
    c: &mut Contact,
    rules: &RuleSet,
    message: &Inbound,
    hints: Option<&Facts>,
    stored_text: &str,
    at: Timestamp,
) -> Result<bool> {
    let asked = asked_of(Some(c), rules);
    let started = std::time::Instant::now();
    rules
        .extractor
        .extract_into(&message.text, asked.as_deref(), &mut c.facts);
    metrics::histogram!("qualify_extraction_seconds").record(started.elapsed().as_secs_f64());
    for (k, v) in hints.into_iter().flatten() {
        // The deterministic result stands: a hint only fills an unanswered point.
        if !c.facts.get(k).is_some_and(is_answered) {
            c.facts.insert(k.clone(), v.clone());
        }
    }
    for (k, v) in &message.facts {
        c.facts.insert(k.clone(), v.clone());
    }
    if let Some(name) = message.name.as_ref().filter(|n| !n.trim().is_empty()) {
        c.facts.insert("name".into(), json!(name));
    }
    if let Some(tz) = &message.timezone {
        c.timezone = Some(tz.clone());
    }
    if let Some(tags) = &message.tags {
        c.tags = tags.clone();
    }
    let limits = &rules.settings.limits;
    check_facts(
        &c.facts,
        limits,
        "facts per contact",
        limits.max_facts_per_contact,
    )?;
    // A retry of the message the rules failed on is already in the history.
    let retry = c.undecided
        && c.history
            .iter()
            .rev()
            .find(|m| m.from == Author::Lead)
            .is_some_and(|m| m.text == stored_text);
    if !retry {
        // Trimmed at the end of the ingest: the hooks see the whole conversation first.
        c.history.push(Message {
            from: Author::Lead,
            text: stored_text.to_string(),
            at: Some(at.to_string()),
        });
    }
    c.last_inbound_at = Some(at);
    Ok(!retry)
}

/// Step 3: compliance first. An opt-out, resubscribe or help message gets its fixed reply
/// (returned) and nothing else; an opted-out contact gets nothing at all.
fn apply_compliance(
    c: &mut Contact,
    decision: &mut Decision,
    request: Option<Request>,
    settings: &Settings,
) -> Option<String> {
    let replies = &settings.compliance;
    let reply = match request {
        Some(Request::OptOut) => {
            let first = !c.opted_out;
            c.opted_out = true;
            replies.opt_out_confirmation.clone().filter(|_| first)
        }
        Some(Request::Resubscribe) => {
            let was = c.opted_out;
            c.opted_out = false;
            replies.resubscribe_confirmation.clone().filter(|_| was)
        }
        Some(Request::Help) => replies.help_reply.clone(),
        None => None,
    };
    if c.opted_out || request.is_some() {
        decision.question = None;
        decision.next_question = None;
        decision.handoff = false;
        if c.opted_out {
            decision.active = false;
            decision.explain.gate = "contact opted out: no automated texts".into();
        }
        decision.explain.question = format!("compliance message ({request:?}): no question");
    }
    reply
}

/// Step 4 (pure): the CRM actions an active decision calls for, given the tags the
/// contact carries: class tags to remove and add, the question, the notify-agent workflow
/// at hand-off, the score field; each with why it is queued.
fn plan_actions(
    decision: &Decision,
    tags: &[String],
    settings: &Settings,
    origin: Origin,
) -> Vec<(ActionKind, Origin)> {
    let carries = |t: &str| tags.iter().any(|have| same_tag(have, t));
    let removed: Vec<String> = decision
        .remove_tags
        .iter()
        .filter(|r| carries(r))
        .cloned()
        .collect();
    let added: Vec<String> = decision
        .tags
        .iter()
        .filter(|t| !carries(t))
        .cloned()
        .collect();
    let mut actions = Vec::new();
    if !removed.is_empty() {
        actions.push(ActionKind::RemoveTags { tags: removed });
    }
    if !added.is_empty() {
        actions.push(ActionKind::AddTags { tags: added });
    }
    if let Some(q) = &decision.question {
        actions.push(ActionKind::sms(q.text.clone()));
    }
    if decision.handoff {
        if let Some(w) = &settings.ghl.notify_agent_workflow {
            actions.push(ActionKind::TriggerWorkflow {
                workflow_id: w.clone(),
            });
        }
    }
    if let Some(field) = &settings.ghl.lead_score_field {
        actions.push(ActionKind::UpdateCustomField {
            field: field.clone(),
            value: json!(decision.score),
        });
    }
    actions.into_iter().map(|a| (a, origin)).collect()
}

/// Step 5: an active decision's tags and question onto the contact.
fn apply_decision(c: &mut Contact, decision: &Decision, now: Timestamp) {
    c.tags
        .retain(|t| !decision.remove_tags.iter().any(|r| same_tag(r, t)));
    for t in &decision.tags {
        if !c.tags.iter().any(|have| same_tag(have, t)) {
            c.tags.push(t.clone());
        }
    }
    if let Some(q) = &decision.question {
        c.history.push(Message::from_agent(&q.text, now));
    }
}

/// Steps 6 and 7: the decision onto the contact, then the change that records it: the
/// follow-ups restart (a reply makes the next one the first stage again, counted from the
/// lead's last message), and the actions are queued (when the tenant is connected) in the
/// same transaction as the state they describe: a crash loses neither, and a GHL outage
/// only delays them.
#[allow(clippy::too_many_arguments)]
fn finish(
    mut c: Contact,
    expected: Option<u64>,
    tenant: &TenantId,
    rules: &RuleSet,
    decision: &Decision,
    planned: Vec<(ActionKind, Origin)>,
    connected: bool,
    now: Timestamp,
) -> ContactChange {
    c.trim_history(rules.settings.history_limit);
    c.last = Some(LastDecision {
        score: decision.score,
        class: decision.class,
        percent: decision.percent,
        answered: decision.answered.clone(),
        question: decision.question.as_ref().map(|q| q.id.clone()),
        at: now,
        rules_version: Some(decision.rules_version.clone()),
    });
    c.undecided = false;
    c.updated_at = now;
    let unschedule = c.followup.due_ms;
    c.followup = Default::default();
    let first_stage = rules.settings.followup.stages_hours.first();
    if let (true, Some(hours), Some(at)) = (decision.active, first_stage, c.last_inbound_at) {
        c.followup.due_ms = Some(millis(at) + u64::from(*hours) * 3_600_000);
    }
    ContactChange {
        tenant: tenant.clone(),
        schedule: c.followup.due_ms,
        contact: c,
        expected,
        unschedule,
        drop_texts: false,
        enqueue: if connected { planned } else { Vec::new() },
        now_ms: millis(now),
        pending: false,
        delivery: None,
        exposures: Vec::new(),
        outcomes: Vec::new(),
        tally: Vec::new(),
    }
}
