//! The decision itself, pure (no I/O): facts from the lead's messages merged with the
//! supplied ones, the tenant's `score` hook, the activation gate, the `next_question`
//! hook, and an explanation of each step (which facts counted and why the others did not,
//! which rule set the class, why this question). Also the validation `check` runs on a
//! rule set.

mod check;

pub(crate) use check::check;

use crate::error::Result;
use crate::experiment::{assign, Pick};
use crate::ids::TenantId;
use crate::model::Question;
use crate::model::{ConversationSize, Decision, Explain, Facts, Lead};
use crate::rules::{HookLead, RuleSet};
use crate::text::{is_answered, is_unsure, DATA_POINTS, PROPERTY_FACTS};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// How a stateless decision is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoreOptions {
    /// Build the explanation (which facts counted, which rule set the class, why this
    /// question). Off, `explain` comes back empty and the decision is cheaper.
    pub explain: bool,
}

impl Default for ScoreOptions {
    fn default() -> Self {
        Self { explain: true }
    }
}

/// The full decision for a lead as a caller describes it: extraction over its messages,
/// then its supplied facts (and goal, name, time zone) over what was extracted.
/// `tenant` is the tenant asking: a registered tenant without a rules folder of its own
/// is decided by the default rule set but named in its decisions.
/// Each running experiment (not in `stopped`) gets the variant its hash gives the lead's
/// `contact_id`, or the control when it has none; nothing is recorded.
pub(crate) fn decide(
    tenant: &TenantId,
    rules: &RuleSet,
    lead: &Lead,
    options: &ScoreOptions,
    stopped: &[String],
    now: Timestamp,
) -> Result<Decision> {
    let mut facts = Facts::new();
    rules.extractor.extract_messages(&lead.messages, &mut facts);
    for (k, v) in &lead.facts {
        facts.insert(k.clone(), v.clone());
    }
    for (key, value) in [
        ("goal", &lead.goal),
        ("name", &lead.name),
        ("timezone", &lead.timezone),
    ] {
        if let Some(v) = value {
            facts.insert(key.to_string(), json!(v));
        }
    }
    let picks = if rules.experiments.is_empty() {
        Vec::new()
    } else {
        let stopped = |key: &str| stopped.iter().any(|s| s == key);
        let none = BTreeMap::new();
        assign::pick(
            &rules.experiments,
            lead.contact_id.as_deref(),
            &none,
            now,
            &stopped,
        )
    };
    evaluate_with(
        tenant,
        rules,
        facts,
        &lead.tags,
        ConversationSize::of(&lead.messages),
        &picks,
        options,
    )
}

/// Runs the tenant's hooks on known facts (no extraction): the shared second half of a
/// stateless decision and of an ingest. `picks` are the experiments' variants in use:
/// the hooks run with their settings and see them through `variant(lead, key)`.
pub(crate) fn evaluate(
    tenant: &TenantId,
    rules: &RuleSet,
    facts: Facts,
    tags: &[String],
    size: ConversationSize,
    picks: &[Pick],
) -> Result<Decision> {
    evaluate_with(
        tenant,
        rules,
        facts,
        tags,
        size,
        picks,
        &ScoreOptions::default(),
    )
}

/// [`evaluate`] without the explanation (a replay compares outcomes only).
pub(crate) fn evaluate_quiet(
    tenant: &TenantId,
    rules: &RuleSet,
    facts: Facts,
    tags: &[String],
    size: ConversationSize,
    picks: &[Pick],
) -> Result<Decision> {
    let quiet = ScoreOptions { explain: false };
    evaluate_with(tenant, rules, facts, tags, size, picks, &quiet)
}

/// [`evaluate`], with the options of a stateless call.
fn evaluate_with(
    tenant: &TenantId,
    rules: &RuleSet,
    facts: Facts,
    tags: &[String],
    size: ConversationSize,
    picks: &[Pick],
    options: &ScoreOptions,
) -> Result<Decision> {
    let variants = assign::variant_names(&rules.experiments, picks);
    let rules = rules.tuned(picks);
    let lead = HookLead::new(&facts, tags, size, &variants);
    let mut scored = rules.score(&lead)?;
    let (active, gate) = match rules.settings.gate(tags) {
        Ok(why) => (true, why),
        Err(why) => (false, why),
    };
    let question = if active {
        rules.next_question(lead, &mut scored)?
    } else {
        None
    };
    let experiments = assign::exposures(&rules.experiments, picks);
    let explain = if options.explain {
        Explain {
            counted: counted(&facts, &scored.answered),
            not_counted: not_counted(&facts, &scored.answered),
            class_rule: std::mem::take(&mut scored.rule),
            gate,
            question: why_question(question.as_ref(), active),
            variants: assign::explain(&experiments),
        }
    } else {
        Explain::default()
    };
    Ok(Decision {
        tenant: tenant.clone(),
        score: scored.score,
        class: scored.class,
        percent: scored.percent,
        answered: scored.answered,
        facts,
        tags: scored.tags,
        remove_tags: scored.remove_tags,
        active,
        handoff: question.as_ref().is_some_and(|q| q.id == "handoff"),
        next_question: question.as_ref().map(|q| q.text.clone()),
        question,
        explain,
        experiments,
        rules_version: rules.version.to_string(),
    })
}

/// The data points that counted, with the value that made each count (`property` with
/// the parts that answered it).
fn counted(facts: &Facts, answered: &[String]) -> Facts {
    let mut out = Facts::new();
    for name in answered {
        if name == "property" {
            let parts: Facts = PROPERTY_FACTS
                .iter()
                .filter_map(|k| {
                    facts
                        .get(*k)
                        .filter(|v| is_answered(v))
                        .map(|v| (k.to_string(), v.clone()))
                })
                .collect();
            out.insert(name.clone(), Value::Object(parts));
        } else {
            out.insert(
                name.clone(),
                facts.get(name).cloned().unwrap_or(Value::Null),
            );
        }
    }
    out
}

/// Data points holding a value that did not count, and why.
fn not_counted(facts: &Facts, answered: &[String]) -> serde_json::Map<String, Value> {
    let mut out = serde_json::Map::new();
    for key in DATA_POINTS.iter().chain(PROPERTY_FACTS.iter()) {
        let point = if PROPERTY_FACTS.contains(key) {
            "property"
        } else {
            key
        };
        if answered.iter().any(|a| a == point) {
            continue;
        }
        if let Some(v) = facts.get(*key).filter(|v| !v.is_null()) {
            let why = if is_unsure(v) {
                format!("{v} says the lead does not know")
            } else {
                format!("{v} holds no answer")
            };
            out.insert(key.to_string(), json!(why));
        }
    }
    out
}

/// Why this question (or none) was chosen.
fn why_question(question: Option<&Question>, active: bool) -> String {
    match question {
        Some(q) => format!("{}: {}", q.id, q.reason),
        None if active => "nothing left to ask".to_string(),
        None => "automation off: no question".to_string(),
    }
}
