//! Replay: every stored conversation of a tenant decided again, message by message, under
//! a candidate rule version and under the serving one, and the differences counted (class,
//! score, tags, next question, hand-off), with a class transition matrix and a few
//! redacted examples per kind of change. Reads the store only; decides on every core.
//!
//! What a stored conversation can give back is its stored history: redacted when the
//! tenant redacts (the default) and trimmed to its `history_limit`. Each inbound message
//! is decided from the history up to it, facts re-extracted from those messages, with the
//! contact's stored tags, time zone and experiment variants. Facts a CRM supplied with a
//! message are not kept per message, so they are not replayed; the report says all this
//! in its `basis`.

use crate::decide::evaluate_quiet;
use crate::error::{Error, Result};
use crate::experiment::assign;
use crate::ids::{ContactId, TenantId};
use crate::model::{Author, Class, Contact, ConversationSize, Decision, Facts};
use crate::rules::RuleSet;
use crate::store::Store;
use crate::text::redact;
use jiff::civil::Date;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicUsize, Ordering};

/// What to replay and how much to show.
#[derive(Clone, Debug)]
pub struct ReplayOptions {
    /// Only inbound messages written on or after this day (UTC); messages without a
    /// time are left out when a range is given.
    pub from: Option<Date>,
    /// Only inbound messages written on or before this day (UTC).
    pub to: Option<Date>,
    /// Examples kept per kind of change (the first ones in contact order).
    pub examples: usize,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        Self {
            from: None,
            to: None,
            examples: 3,
        }
    }
}

/// How many replayed decisions changed, by what changed. One decision may change in
/// several ways; `any` counts it once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    /// Decisions that changed in any of the ways below.
    pub any: usize,
    /// The class changed.
    pub class: usize,
    /// The score changed.
    pub score: usize,
    /// The tags to add or to remove changed (compared as sets).
    pub tags: usize,
    /// The next question changed (its id, or its text, or whether there is one).
    pub question: usize,
    /// Whether the lead is handed off changed.
    pub handoff: usize,
}

/// One cell of the class transition matrix: decisions of class `from` under the serving
/// version and `to` under the candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// Class under the serving version.
    pub from: Class,
    /// Class under the candidate.
    pub to: Class,
    /// How many decisions.
    pub count: usize,
}

/// One side of an example: what a version decided.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Side {
    /// The score.
    pub score: i64,
    /// The class.
    pub class: Class,
    /// Tags to add.
    pub tags: Vec<String>,
    /// Tags to remove.
    pub remove_tags: Vec<String>,
    /// The next question's id (`handoff` at hand-off), if any.
    pub question: Option<String>,
    /// The next question's text, if any.
    pub question_text: Option<String>,
    /// Whether the lead is handed off.
    pub handoff: bool,
}

impl From<&Decision> for Side {
    fn from(d: &Decision) -> Self {
        Self {
            score: d.score,
            class: d.class,
            tags: d.tags.clone(),
            remove_tags: d.remove_tags.clone(),
            question: d.question.as_ref().map(|q| q.id.clone()),
            question_text: d.next_question.clone(),
            handoff: d.handoff,
        }
    }
}

/// A decision that changed: which message, its text (redacted), and both outcomes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Example {
    /// The contact.
    pub contact: ContactId,
    /// Which of the contact's stored inbound messages (1: the first kept).
    pub message: usize,
    /// The message as stored, redacted again (whatever the tenant's setting).
    pub text: String,
    /// The serving version's decision.
    pub serving: Side,
    /// The candidate's decision.
    pub candidate: Side,
}

/// Examples by kind of change.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Examples {
    /// The class changed.
    pub class: Vec<Example>,
    /// The score changed.
    pub score: Vec<Example>,
    /// The tags changed.
    pub tags: Vec<Example>,
    /// The next question changed.
    pub question: Vec<Example>,
    /// The hand-off changed.
    pub handoff: Vec<Example>,
}

/// Decisions the rules failed to make (a script error, a limit): counted apart, with the
/// first error of each side (errors name files and lines, never message text).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Failures {
    /// Messages the serving version failed on.
    pub serving: usize,
    /// Messages the candidate failed on.
    pub candidate: usize,
    /// The serving version's first error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serving_first: Option<String>,
    /// The candidate's first error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate_first: Option<String>,
}

/// What a replay found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReplayReport {
    /// The tenant replayed.
    pub tenant: TenantId,
    /// The serving rules version (`r-…`).
    pub serving_version: String,
    /// The candidate's rules version.
    pub candidate_version: String,
    /// What each decision was made from.
    pub basis: String,
    /// The first day replayed, if limited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Date>,
    /// The last day replayed, if limited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Date>,
    /// Stored contacts of the tenant.
    pub contacts: usize,
    /// Stored contacts that could not be opened (left out).
    pub unreadable: usize,
    /// Contacts whose history is at the tenant's `history_limit` (older messages may
    /// have been trimmed away: those are not replayed).
    pub at_history_limit: usize,
    /// Inbound messages replayed (each decided under both versions).
    pub messages: usize,
    /// Decisions both versions made, compared below.
    pub compared: usize,
    /// How many compared decisions changed, by kind.
    pub changed: Changes,
    /// Class under the serving version → class under the candidate, every non-empty
    /// cell (unchanged classes included).
    pub transitions: Vec<Transition>,
    /// A few examples per kind of change.
    pub examples: Examples,
    /// Decisions a version failed to make.
    pub failures: Failures,
}

/// Decisions of two versions compared: how many, what changed, the class transitions
/// (shared by replay and shadow mode).
#[derive(Clone, Default)]
pub(crate) struct Tally {
    pub compared: usize,
    pub changed: Changes,
    matrix: [[usize; 3]; 3],
}

/// What kinds of change one pair of decisions shows: class, score, tags, question,
/// hand-off.
type Kinds = [bool; 5];

impl Tally {
    /// Counts one pair of decisions; what changed.
    pub fn add(&mut self, serving: &Side, candidate: &Side) -> Kinds {
        self.compared += 1;
        self.matrix[class_index(serving.class)][class_index(candidate.class)] += 1;
        let kinds = [
            serving.class != candidate.class,
            serving.score != candidate.score,
            !same_set(&serving.tags, &candidate.tags)
                || !same_set(&serving.remove_tags, &candidate.remove_tags),
            (&serving.question, &serving.question_text)
                != (&candidate.question, &candidate.question_text),
            serving.handoff != candidate.handoff,
        ];
        if kinds.contains(&true) {
            let c = &mut self.changed;
            c.any += 1;
            for (changed, count) in kinds.into_iter().zip([
                &mut c.class,
                &mut c.score,
                &mut c.tags,
                &mut c.question,
                &mut c.handoff,
            ]) {
                *count += usize::from(changed);
            }
        }
        kinds
    }

    fn merge(&mut self, other: &Tally) {
        self.compared += other.compared;
        let (a, b) = (&mut self.changed, other.changed);
        a.any += b.any;
        a.class += b.class;
        a.score += b.score;
        a.tags += b.tags;
        a.question += b.question;
        a.handoff += b.handoff;
        for (row, other_row) in self.matrix.iter_mut().zip(other.matrix) {
            for (cell, n) in row.iter_mut().zip(other_row) {
                *cell += n;
            }
        }
    }

    /// Every non-empty cell of the class transition matrix.
    pub fn transitions(&self) -> Vec<Transition> {
        CLASSES
            .iter()
            .flat_map(|&from| CLASSES.iter().map(move |&to| (from, to)))
            .map(|(from, to)| Transition {
                from,
                to,
                count: self.matrix[class_index(from)][class_index(to)],
            })
            .filter(|t| t.count > 0)
            .collect()
    }
}

/// One contact's part of the report (merged in contact order, so examples are stable).
#[derive(Default)]
struct Partial {
    unreadable: usize,
    at_limit: usize,
    messages: usize,
    tally: Tally,
    examples: Examples,
    failures: Failures,
}

fn class_index(c: Class) -> usize {
    match c {
        Class::Hot => 0,
        Class::Warm => 1,
        Class::Cold => 2,
    }
}

const CLASSES: [Class; 3] = [Class::Hot, Class::Warm, Class::Cold];

fn same_set(a: &[String], b: &[String]) -> bool {
    let mut a: Vec<&String> = a.iter().collect();
    let mut b: Vec<&String> = b.iter().collect();
    a.sort();
    b.sort();
    a == b
}

fn keep(list: &mut Vec<Example>, limit: usize, example: impl FnOnce() -> Example) {
    if list.len() < limit {
        list.push(example());
    }
}

impl Partial {
    fn merge(&mut self, other: Partial, limit: usize) {
        self.unreadable += other.unreadable;
        self.at_limit += other.at_limit;
        self.messages += other.messages;
        self.tally.merge(&other.tally);
        let (e, o) = (&mut self.examples, other.examples);
        for (mine, theirs) in [
            (&mut e.class, o.class),
            (&mut e.score, o.score),
            (&mut e.tags, o.tags),
            (&mut e.question, o.question),
            (&mut e.handoff, o.handoff),
        ] {
            let room = limit.saturating_sub(mine.len());
            mine.extend(theirs.into_iter().take(room));
        }
        let (f, g) = (&mut self.failures, other.failures);
        f.serving += g.serving;
        f.candidate += g.candidate;
        f.serving_first = f.serving_first.take().or(g.serving_first);
        f.candidate_first = f.candidate_first.take().or(g.candidate_first);
    }

    /// Compares the two versions' decisions on one message.
    fn compare(
        &mut self,
        contact: &ContactId,
        nth: usize,
        text: &str,
        serving: &Decision,
        candidate: &Decision,
        limit: usize,
    ) {
        let (serving, candidate) = (Side::from(serving), Side::from(candidate));
        let kinds = self.tally.add(&serving, &candidate);
        if !kinds.contains(&true) {
            return;
        }
        let example = || Example {
            contact: contact.clone(),
            message: nth,
            text: redact::redact(text).text,
            serving: serving.clone(),
            candidate: candidate.clone(),
        };
        let e = &mut self.examples;
        for (changed, list) in kinds.into_iter().zip([
            &mut e.class,
            &mut e.score,
            &mut e.tags,
            &mut e.question,
            &mut e.handoff,
        ]) {
            if changed {
                keep(list, limit, example);
            }
        }
    }
}

/// The versions compared and what they run with.
pub(crate) struct Versions<'a> {
    pub serving: &'a RuleSet,
    pub candidate: &'a RuleSet,
    pub stopped: &'a [String],
    pub now: Timestamp,
}

/// True when a message written at `at` is in the range.
fn in_range(at: Option<&str>, options: &ReplayOptions) -> bool {
    if options.from.is_none() && options.to.is_none() {
        return true;
    }
    let Some(day) = at
        .and_then(|a| a.parse::<Timestamp>().ok())
        .map(|t| super::day_date(crate::model::day_of(t)))
    else {
        return false;
    };
    options.from.is_none_or(|f| day >= f) && options.to.is_none_or(|t| day <= t)
}

/// One decision of a stored conversation, as of its first `upto` messages: facts
/// extracted from them, the contact's tags, time zone and experiment variants.
fn decide_at(
    tenant: &TenantId,
    rules: &RuleSet,
    contact: &Contact,
    upto: usize,
    versions: &Versions<'_>,
) -> Result<Decision> {
    let messages = &contact.history[..upto];
    let mut facts = Facts::new();
    rules.extractor.extract_messages(messages, &mut facts);
    if let Some(tz) = &contact.timezone {
        facts.insert("timezone".into(), tz.clone().into());
    }
    let picks = if rules.experiments.is_empty() {
        Vec::new()
    } else {
        let stopped = |key: &str| versions.stopped.iter().any(|s| s == key);
        assign::pick(
            &rules.experiments,
            Some(contact.id.as_str()),
            &contact.experiments,
            versions.now,
            &stopped,
        )
    };
    evaluate_quiet(
        tenant,
        rules,
        facts,
        &contact.tags,
        ConversationSize::of(messages),
        &picks,
    )
}

/// Replays one contact.
fn replay_contact(
    tenant: &TenantId,
    contact: &Contact,
    versions: &Versions<'_>,
    options: &ReplayOptions,
) -> Partial {
    let mut p = Partial::default();
    if contact.history.len() >= versions.serving.settings.history_limit.max(1) {
        p.at_limit = 1;
    }
    let mut nth = 0;
    for (i, m) in contact.history.iter().enumerate() {
        if m.from != Author::Lead {
            continue;
        }
        nth += 1;
        if !in_range(m.at.as_deref(), options) {
            continue;
        }
        p.messages += 1;
        let serving = decide_at(tenant, versions.serving, contact, i + 1, versions);
        let candidate = decide_at(tenant, versions.candidate, contact, i + 1, versions);
        match (serving, candidate) {
            (Ok(s), Ok(c)) => p.compare(&contact.id, nth, &m.text, &s, &c, options.examples),
            (s, c) => {
                let f = &mut p.failures;
                if let Err(e) = s {
                    f.serving += 1;
                    f.serving_first.get_or_insert_with(|| e.to_string());
                }
                if let Err(e) = c {
                    f.candidate += 1;
                    f.candidate_first.get_or_insert_with(|| e.to_string());
                }
            }
        }
    }
    p
}

/// Contacts read per page: each page is read, then decided on every core.
const PAGE: usize = 512;

/// Replays every stored contact of `tenant` (see the module documentation); `progress`
/// hears `(done, total)` contacts as they finish, from any thread.
pub(crate) fn replay(
    store: &Store,
    tenant: &TenantId,
    versions: &Versions<'_>,
    options: &ReplayOptions,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<ReplayReport> {
    use rayon::prelude::*;
    if let (Some(from), Some(to)) = (options.from, options.to) {
        if from > to {
            return Err(Error::InvalidRange(format!(
                "`from` {from} is after `to` {to}"
            )));
        }
    }
    let ids = store.contact_ids_of(tenant)?;
    let total = ids.len();
    let done = AtomicUsize::new(0);
    progress(0, total);
    let mut all = Partial::default();
    for page in ids.chunks(PAGE) {
        let parts: Vec<Partial> = page
            .par_iter()
            .map(|id| {
                let part = match store.contact(tenant, id) {
                    Ok(Some(c)) => replay_contact(tenant, &c, versions, options),
                    Ok(None) => Partial::default(), // erased meanwhile
                    Err(e) => {
                        tracing::warn!(tenant = %tenant, "replay: a stored contact does not open: {e}");
                        Partial {
                            unreadable: 1,
                            ..Partial::default()
                        }
                    }
                };
                progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
                part
            })
            .collect();
        for part in parts {
            all.merge(part, options.examples);
        }
    }
    let transitions = all.tally.transitions();
    let settings = &versions.serving.settings;
    let basis = format!(
        "each stored inbound message, decided from the stored conversation up to it: {}, \
         at most the last {} messages per contact (older ones were trimmed and are not \
         replayed); facts re-extracted from those messages (facts a CRM supplied with a \
         message are not stored per message and are not replayed); the contact's current \
         tags, time zone and experiment variants",
        if settings.redact_history {
            "redacted"
        } else {
            "not redacted (the tenant keeps raw history; examples are redacted)"
        },
        settings.history_limit
    );
    Ok(ReplayReport {
        tenant: tenant.clone(),
        serving_version: versions.serving.version.to_string(),
        candidate_version: versions.candidate.version.to_string(),
        basis,
        from: options.from,
        to: options.to,
        contacts: total,
        unreadable: all.unreadable,
        at_history_limit: all.at_limit,
        messages: all.messages,
        compared: all.tally.compared,
        changed: all.tally.changed,
        transitions,
        examples: all.examples,
        failures: all.failures,
    })
}
