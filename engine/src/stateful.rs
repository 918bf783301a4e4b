//! Stateful conversations: `ingest` one inbound message (redact, extract, merge, score,
//! pick the next question, record) in one durable write transaction, and the privacy
//! requests: read, export and erase a contact, erase a tenant.

use crate::compliance::{self, Request};
use crate::contact::{Contact, LastDecision};
use crate::engine::{Counts, Engine};
use crate::error::Result;
use crate::lead::{Decision, Facts, From, Message};
use crate::redact::{self, Finding};
use crate::tenants::{Action, ActionKind, TenantRecord};
use crate::{ContactId, TenantId};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

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

/// What [`Engine::ingest`] did, returned once the transaction is durable.
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

pub(crate) fn action_id() -> u64 {
    let k = crate::crypto::SecretKey::generate();
    let b = k.bytes();
    u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

fn same_tag(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

impl Engine {
    /// Ingests one inbound message: redacts it, extracts facts from the raw text, merges
    /// them (later values override older), scores, picks the next question, records the
    /// decision and resets the silence clock, all in one write transaction. Returns only
    /// after the commit is durable; on any error nothing is written.
    ///
    /// ```
    /// use qualify_engine::{Engine, Inbound, SecretKey, Store};
    /// let engine = Engine::builder().store(Store::in_memory(SecretKey::generate())?).build()?;
    /// let mut msg = Inbound::text("We want to buy in Plano, around 450k");
    /// msg.tags = Some(vec!["Hit List".into()]);
    /// let first = engine.ingest("default", "c1", &msg)?;
    /// assert_eq!(first.decision.class.as_str(), "warm");
    /// let second = engine.ingest("default", "c1", &Inbound::text("pre-approved, moving asap"))?;
    /// assert_eq!(second.decision.class.as_str(), "hot");
    /// # Ok::<(), qualify_engine::Error>(())
    /// ```
    pub fn ingest(&self, tenant: &str, contact: &str, message: &Inbound) -> Result<Ingested> {
        let contact_id = ContactId::new(contact)?;
        let rules = self.rules(tenant)?;
        let now = self.now();
        let result = self
            .store()?
            .write(|tx| self.ingest_in(tx, &rules, tenant, &contact_id, message, now))?;
        tracing::debug!(
            tenant,
            class = result.decision.class.as_str(),
            score = result.decision.score,
            "ingested"
        );
        Ok(result)
    }

    /// Ingests many messages in one transaction (imports, backfills): all or nothing.
    /// Each message is handled exactly as [`Engine::ingest`] would, in order.
    pub fn ingest_batch(
        &self,
        tenant: &str,
        messages: &[(String, Inbound)],
    ) -> Result<Vec<Ingested>> {
        let rules = self.rules(tenant)?;
        let ids = messages
            .iter()
            .map(|(c, _)| ContactId::new(c))
            .collect::<Result<Vec<_>>>()?;
        let now = self.now();
        self.store()?.write(|tx| {
            ids.iter()
                .zip(messages)
                .map(|(id, (_, m))| self.ingest_in(tx, &rules, tenant, id, m, now))
                .collect()
        })
    }

    /// One message inside a write transaction: the whole of an ingest.
    fn ingest_in(
        &self,
        tx: &mut crate::store::WriteTx<'_>,
        rules: &crate::rules::TenantRules,
        tenant: &str,
        contact_id: &ContactId,
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
            .contact(tenant, contact_id.as_str())?
            .unwrap_or_else(|| Contact::new(contact_id.as_str(), now));
        let asked = c
            .history
            .last()
            .filter(|m| m.from == From::Agent)
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
        c.history.push(Message {
            from: From::Lead,
            text: stored_text.clone(),
            at: Some(at.to_string()),
        });
        let inbound = c.history.iter().filter(|m| m.from == From::Lead).count();
        let counts = Counts {
            messages: c.history.len(),
            inbound,
        };
        let mut decision = self.evaluate(tenant, rules, c.facts.clone(), &c.tags, counts)?;
        // Compliance first: an opt-out, resubscribe or help message gets its fixed
        // reply and nothing else; an opted-out contact gets nothing at all.
        let request = compliance::classify(&message.text);
        let replies = &rules.settings.compliance;
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
        let mut actions = Vec::new();
        if decision.active {
            let removed: Vec<String> = decision
                .remove_tags
                .iter()
                .filter(|r| c.tags.iter().any(|t| same_tag(r, t)))
                .cloned()
                .collect();
            let added: Vec<String> = decision
                .tags
                .iter()
                .filter(|t| !c.tags.iter().any(|have| same_tag(have, t)))
                .cloned()
                .collect();
            if !removed.is_empty() {
                actions.push(ActionKind::RemoveTags { tags: removed });
            }
            if !added.is_empty() {
                actions.push(ActionKind::AddTags { tags: added });
            }
            if let Some(q) = &decision.question {
                actions.push(ActionKind::SendMessage {
                    message: q.text.clone(),
                    channel: "SMS".into(),
                });
            }
            if decision.handoff {
                if let Some(w) = &rules.settings.ghl.notify_agent_workflow {
                    actions.push(ActionKind::TriggerWorkflow {
                        workflow_id: w.clone(),
                    });
                }
            }
            if let Some(field) = &rules.settings.ghl.lead_score_field {
                actions.push(ActionKind::UpdateCustomField {
                    field: field.clone(),
                    value: json!(decision.score),
                });
            }
            c.tags
                .retain(|t| !decision.remove_tags.iter().any(|r| same_tag(r, t)));
            for t in &decision.tags {
                if !c.tags.iter().any(|have| same_tag(have, t)) {
                    c.tags.push(t.clone());
                }
            }
            if let Some(q) = &decision.question {
                c.history.push(Message {
                    from: From::Agent,
                    text: q.text.clone(),
                    at: Some(now.to_string()),
                });
            }
        }
        if let Some(text) = reply {
            actions.push(ActionKind::SendMessage {
                message: text.clone(),
                channel: "SMS".into(),
            });
            c.history.push(Message {
                from: From::Agent,
                text,
                at: Some(now.to_string()),
            });
        }
        let limit = rules.settings.history_limit.max(1);
        if c.history.len() > limit {
            let excess = c.history.len() - limit;
            c.history.drain(..excess);
        }
        c.last = Some(LastDecision {
            score: decision.score,
            class: decision.class,
            percent: decision.percent,
            answered: decision.answered.clone(),
            question: decision.question.as_ref().map(|q| q.id.clone()),
            at: now,
        });
        c.last_inbound_at = Some(at);
        // A reply starts a new silence: the next follow-up is the first stage again.
        if let Some(old) = c.followup.due_ms {
            tx.unschedule(old, tenant, contact_id.as_str())?;
        }
        c.followup = Default::default();
        if decision.active {
            if let Some(hours) = rules.settings.followup.stages_hours.first() {
                let due = at.as_millisecond().max(0) as u64 + u64::from(*hours) * 3_600_000;
                tx.schedule(due, tenant, contact_id.as_str())?;
                c.followup.due_ms = Some(due);
            }
        }
        c.updated_at = now;
        tx.put_contact(tenant, &c)?;
        // The actions join the outbox in the same transaction as the state they
        // describe: a crash loses neither, and a GHL outage only delays them.
        let connected = tx
            .tenant::<TenantRecord>(tenant)?
            .is_some_and(|r| r.ghl_token.is_some());
        if connected {
            let due = now.as_millisecond().max(0) as u64;
            for kind in &actions {
                let action = Action {
                    id: action_id(),
                    tenant: tenant.to_string(),
                    contact: contact_id.as_str().to_string(),
                    kind: kind.clone(),
                    attempts: 0,
                    last_error: None,
                    due_ms: due,
                };
                tx.enqueue(tenant, due, action.id, &action)?;
            }
        }
        Ok(Ingested {
            decision,
            stored_text,
            findings: redacted.findings,
            actions,
            compliance: request,
            queued: connected,
        })
    }

    /// Everything held on a contact, or `None` when this tenant has no such contact.
    pub fn contact(&self, tenant: &str, id: &str) -> Result<Option<Contact>> {
        TenantId::new(tenant)?;
        ContactId::new(id)?;
        self.store()?.contact(tenant, id)
    }

    /// A subject-access export: everything held on the contact, as JSON.
    pub fn export_contact(&self, tenant: &str, id: &str) -> Result<Option<Value>> {
        Ok(self.contact(tenant, id)?.map(|c| {
            json!({
                "tenant": tenant,
                "exported_at": self.now().to_string(),
                "contact": c,
            })
        }))
    }

    /// Erases a contact of this tenant; true when it existed.
    pub fn erase_contact(&self, tenant: &str, id: &str) -> Result<bool> {
        TenantId::new(tenant)?;
        ContactId::new(id)?;
        self.store()?.write(|tx| tx.delete_contact(tenant, id))
    }

    /// Erases a tenant's data: destroys its data keys (crypto-shredding), deletes its
    /// records and compacts the file. Returns the number of contacts removed.
    pub fn erase_tenant(&self, tenant: &str) -> Result<usize> {
        TenantId::new(tenant)?;
        self.store()?.erase_tenant(tenant)
    }

    /// Starts a new data key version for a tenant; older values stay readable.
    pub fn rotate_tenant_key(&self, tenant: &str) -> Result<u32> {
        TenantId::new(tenant)?;
        self.store()?.rotate_tenant_key(tenant)
    }
}
