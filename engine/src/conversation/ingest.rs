//! Ingesting one inbound message, as named steps: redact it, merge it into the contact
//! (extracting facts from the raw text), decide, apply compliance (opt-out, resubscribe,
//! help), plan the CRM actions (a pure function of the decision and the contact), apply
//! the decision to the contact, and record everything in the caller's write transaction.

use crate::clock::millis;
use crate::decide::evaluate;
use crate::error::Result;
use crate::ids::{ContactId, TenantId};
use crate::model::{ActionKind, Author, Contact, Decision, Facts, LastDecision, Message};
use crate::rules::{RuleSet, Settings};
use crate::store::WriteTx;
use crate::text::compliance::{self, Request};
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

/// The whole of an ingest of `message` for `contact` of `tenant` (decided by `rules`),
/// inside the caller's write transaction; nothing is written if it fails.
pub(crate) fn ingest(
    tx: &mut WriteTx<'_>,
    tenant: &TenantId,
    rules: &RuleSet,
    contact: &ContactId,
    message: &Inbound,
    now: Timestamp,
) -> Result<Ingested> {
    let at = message.at.unwrap_or(now);
    let redacted = redact::redact(&message.text);
    let stored_text = if rules.settings.redact_history {
        redacted.text.clone()
    } else {
        message.text.clone()
    };
    let mut c = tx
        .contact(tenant, contact)?
        .unwrap_or_else(|| Contact::new(contact.clone(), now));
    merge(&mut c, rules, message, &stored_text, at);
    let mut decision = evaluate(tenant, rules, c.facts.clone(), &c.tags, c.size())?;
    let request = compliance::classify(&message.text);
    let reply = apply_compliance(&mut c, &mut decision, request, &rules.settings);
    let mut actions = Vec::new();
    if decision.active {
        actions = plan_actions(&decision, &c.tags, &rules.settings);
        apply_decision(&mut c, &decision, now);
    }
    if let Some(text) = reply {
        actions.push(ActionKind::sms(text.clone()));
        c.history.push(Message::from_agent(text, now));
    }
    c.trim_history(rules.settings.history_limit);
    remember(&mut c, &decision, at, now);
    let queued = record(tx, tenant, rules, &mut c, decision.active, &actions, now)?;
    Ok(Ingested {
        decision,
        stored_text,
        findings: redacted.findings,
        actions,
        compliance: request,
        queued,
    })
}

/// Step 1: the message into the contact. Facts are extracted from the raw text (a "not
/// sure" is filed under what the last agent message asked), then supplied facts, name,
/// time zone and tags override; the stored (redacted) text joins the history.
fn merge(c: &mut Contact, rules: &RuleSet, message: &Inbound, stored_text: &str, at: Timestamp) {
    let asked = c
        .history
        .last()
        .filter(|m| m.from == Author::Agent)
        .and_then(|m| rules.extractor.topic_of_question(&m.text));
    rules
        .extractor
        .extract_into(&message.text, asked.as_deref(), &mut c.facts);
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
    // Trimmed at the end of the ingest: the hooks see the whole conversation first.
    c.history.push(Message {
        from: Author::Lead,
        text: stored_text.to_string(),
        at: Some(at.to_string()),
    });
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
/// at hand-off, the score field.
fn plan_actions(decision: &Decision, tags: &[String], settings: &Settings) -> Vec<ActionKind> {
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
    actions
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

/// Step 6: the decision and the start of the new silence onto the contact.
fn remember(c: &mut Contact, decision: &Decision, at: Timestamp, now: Timestamp) {
    c.last = Some(LastDecision {
        score: decision.score,
        class: decision.class,
        percent: decision.percent,
        answered: decision.answered.clone(),
        question: decision.question.as_ref().map(|q| q.id.clone()),
        at: now,
    });
    c.last_inbound_at = Some(at);
    c.updated_at = now;
}

/// Step 7: restarts the follow-ups (a reply makes the next one the first stage again),
/// writes the contact, and queues the actions in the same transaction as the state they
/// describe: a crash loses neither, and a GHL outage only delays them. Returns whether
/// the actions were queued (the tenant is connected to GoHighLevel).
fn record(
    tx: &mut WriteTx<'_>,
    tenant: &TenantId,
    rules: &RuleSet,
    c: &mut Contact,
    active: bool,
    actions: &[ActionKind],
    now: Timestamp,
) -> Result<bool> {
    if let Some(old) = c.followup.due_ms {
        tx.unschedule(old, tenant, &c.id)?;
    }
    c.followup = Default::default();
    let first_stage = rules.settings.followup.stages_hours.first();
    if let (true, Some(hours), Some(at)) = (active, first_stage, c.last_inbound_at) {
        let due = millis(at) + u64::from(*hours) * 3_600_000;
        tx.schedule(due, tenant, &c.id)?;
        c.followup.due_ms = Some(due);
    }
    tx.put_contact(tenant, c)?;
    let connected = tx.ghl_connected(tenant)?;
    if connected {
        for kind in actions {
            tx.enqueue(tenant, &c.id, kind.clone(), millis(now))?;
        }
    }
    Ok(connected)
}
