//! Importing transcripts (the prototype's JSON and CSV) into a tenant as contacts and
//! conversations: each transcript becomes a contact whose history is dated as in the
//! file, its facts extracted from the lead's messages and its class decided after each
//! of them, so analytics count the imported conversations on their own days. Nothing
//! is sent: no GoHighLevel action is queued, no follow-up is scheduled, no experiment
//! exposes anyone. Each transcript's metrics are kept (sealed) for the metrics export.

use super::analytics::{count, Event, Prior};
use crate::decide::evaluate;
use crate::error::Result;
use crate::ids::{ContactId, TenantId};
use crate::model::{day_of, Author, Contact, DayStats, LastDecision, Message};
use crate::rules::RuleSet;
use crate::store::{Store, WriteTx};
use crate::text::compliance::{self, Request};
use crate::text::redact;
use crate::transcript::{metrics, Speaker, Transcript};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Transcripts per write transaction (one durable commit each).
const BATCH: usize = 500;

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ImportReport {
    /// Transcripts stored as new contacts.
    pub imported: usize,
    /// Messages stored with them.
    pub messages: usize,
    /// Transcripts already imported into this tenant (same id), left as they were.
    pub already_imported: Vec<String>,
    /// Transcript ids that are not valid contact ids, and the contact id used instead.
    pub renamed: Vec<(String, String)>,
    /// Transcripts that could not be imported (the tenant's rules failed on them, or
    /// the contact id is taken by a live contact), with why.
    pub failed: Vec<(String, String)>,
}

/// The contact id for a transcript id: itself when valid, else its letters, digits,
/// `_` and `-` (others as `_`, at most 47) and 16 hex digits of its SHA-256, so two
/// different ids never share a contact.
pub fn contact_id_for(transcript_id: &str) -> Result<ContactId> {
    if let Ok(id) = ContactId::new(transcript_id) {
        return Ok(id);
    }
    let clean: String = transcript_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(47)
        .collect();
    let hash = Sha256::digest(transcript_id.as_bytes());
    let hex: String = hash[..8].iter().map(|b| format!("{b:02x}")).collect();
    ContactId::new(&format!("{clean}-{hex}"))
}

/// Imports `transcripts` into `tenant`, `BATCH` per transaction; `progress` hears the
/// number done after each commit.
pub(crate) fn import(
    store: &Store,
    tenant: &TenantId,
    rules: &RuleSet,
    transcripts: &[Transcript],
    progress: &mut dyn FnMut(usize),
) -> Result<ImportReport> {
    let mut report = ImportReport::default();
    let mut done = 0;
    for batch in transcripts.chunks(BATCH) {
        let part = store.write(|tx| {
            let mut part = ImportReport::default();
            for t in batch {
                import_one(tx, tenant, rules, t, &mut part)?;
            }
            Ok(part)
        })?;
        report.imported += part.imported;
        report.messages += part.messages;
        report.already_imported.extend(part.already_imported);
        report.renamed.extend(part.renamed);
        report.failed.extend(part.failed);
        done += batch.len();
        progress(done);
    }
    Ok(report)
}

fn import_one(
    tx: &mut WriteTx<'_>,
    tenant: &TenantId,
    rules: &RuleSet,
    t: &Transcript,
    report: &mut ImportReport,
) -> Result<()> {
    if tx.has_transcript(tenant, &t.id)? {
        report.already_imported.push(t.id.clone());
        return Ok(());
    }
    let id = contact_id_for(&t.id)?;
    if tx.contact_version(tenant, &id)?.is_some() {
        report.failed.push((
            t.id.clone(),
            format!("contact {id} already exists in the tenant (not from this import)"),
        ));
        return Ok(());
    }
    let (mut c, tallies) = match replay(tenant, rules, &id, t) {
        Ok(done) => done,
        Err(e) => {
            report.failed.push((t.id.clone(), e.to_string()));
            return Ok(());
        }
    };
    if id.as_str() != t.id {
        report.renamed.push((t.id.clone(), id.to_string()));
    }
    tx.put_contact(tenant, &mut c)?;
    for (day, stats) in &tallies {
        tx.tally(tenant, *day, stats);
    }
    tx.put_transcript(tenant, &metrics(t))?;
    report.imported += 1;
    report.messages += t.messages.len();
    Ok(())
}

/// The transcript as a contact: each agent message recorded (its question noted for
/// the next answer), each lead message merged (facts extracted from the raw text, the
/// history redacted as the tenant's setting says) and decided, every step counted.
fn replay(
    tenant: &TenantId,
    rules: &RuleSet,
    id: &ContactId,
    t: &Transcript,
) -> Result<(Contact, Vec<(u32, DayStats)>)> {
    let first = t.messages.first().map(|m| m.at).unwrap_or_default();
    let mut c = Contact::new(id.clone(), first);
    let mut tallies: Vec<(u32, DayStats)> = Vec::new();
    let settings = &rules.settings;
    for m in &t.messages {
        let text = if settings.redact_history {
            redact::redact(&m.text).text
        } else {
            m.text.clone()
        };
        match m.speaker {
            Speaker::Agent => {
                let topic = m
                    .question_type
                    .clone()
                    .or_else(|| rules.extractor.topic_of_question(&m.text));
                if let Some(q) = topic.filter(|_| m.text.contains('?')) {
                    let day = day_of(m.at);
                    let mut s = DayStats::default();
                    s.asked.insert(q.clone(), 1);
                    tallies.push((day, s));
                    c.journey.asked = Some((q, day));
                }
                c.history.push(Message::from_agent(text, m.at));
            }
            Speaker::Lead => {
                let prior = Prior::of((c.journey.cohort_day > 0).then_some(&c));
                let asked = c
                    .history
                    .last()
                    .filter(|h| h.from == Author::Agent)
                    .and_then(|h| rules.extractor.topic_of_question(&h.text));
                rules
                    .extractor
                    .extract_into(&m.text, asked.as_deref(), &mut c.facts);
                c.history.push(Message {
                    from: Author::Lead,
                    text,
                    at: Some(m.at.to_string()),
                });
                c.last_inbound_at = Some(m.at);
                match compliance::classify(&m.text) {
                    Some(Request::OptOut) => c.opted_out = true,
                    Some(Request::Resubscribe) => c.opted_out = false,
                    _ => {}
                }
                let mut d = evaluate(tenant, rules, c.facts.clone(), &c.tags, c.size(), &[])?;
                // Nothing was sent by Qualify: the transcript's own agent messages are
                // the questions asked.
                d.question = None;
                d.next_question = None;
                c.last = Some(LastDecision {
                    score: d.score,
                    class: d.class,
                    percent: d.percent,
                    answered: d.answered.clone(),
                    question: None,
                    at: m.at,
                    rules_version: Some(d.rules_version.clone()),
                });
                let event = Event {
                    at: m.at,
                    inbound: true,
                    decision: Some(&d),
                    stages_hours: &[],
                };
                tallies.extend(count(&prior, &mut c, &event));
            }
        }
    }
    c.trim_history(settings.history_limit);
    c.updated_at = t.messages.last().map_or(first, |m| m.at);
    Ok((c, tallies))
}
