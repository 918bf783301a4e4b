//! The decision itself, pure (no I/O): facts from the lead's messages merged with the
//! supplied ones, the tenant's `score` hook, the activation gate, the `next_question`
//! hook, and an explanation of each step (which facts counted and why the others did not,
//! which rule set the class, why this question). Also the validation `check` runs on a
//! rule set.

mod check;

/// A caller's time budget for the hooks of the decisions it makes on one thread.
pub use crate::rules::within_budget;
pub(crate) use check::check;

use crate::error::Result;
use crate::experiment::{assign, Pick};
use crate::ids::TenantId;
use crate::model::Question;
use crate::model::{ConversationSize, Decision, Explain, Facts, Lead};
use crate::rules::{HookLead, RuleSet};
use crate::text::extract::BUDGET_UNCONFIRMED;
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
    let (mut active, mut gate) = match rules.settings.gate(tags) {
        Ok(why) => (true, why),
        Err(why) => (false, why),
    };
    let disqualified = rules.settings.disqualified(&facts);
    if let Some(signal) = disqualified {
        let outcome = &rules.settings.disqualify;
        for t in &outcome.tags {
            if !scored.tags.iter().any(|have| have.eq_ignore_ascii_case(t)) {
                scored.tags.push(t.clone());
            }
        }
        let why = disqualified_why(signal, &outcome.tags, outcome.automation_off);
        gate = if active {
            why
        } else {
            format!("{gate}; {why}")
        };
        active &= !outcome.automation_off;
    }
    let question = if active {
        rules.next_question(lead, &mut scored)?
    } else {
        None
    };
    let experiments = assign::exposures(&rules.experiments, picks);
    let explain = if options.explain {
        Explain {
            counted: counted(&facts, &scored.answered),
            not_counted: not_counted(&facts, &scored.answered, rules.settings.plausible_band()),
            class_rule: std::mem::take(&mut scored.rule),
            gate,
            question: why_question(question.as_ref(), active, disqualified.is_some()),
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
                crate::model::fact(facts, name)
                    .cloned()
                    .unwrap_or(Value::Null),
            );
        }
    }
    out
}

/// Why a disqualified lead's automation changed: the signal in words, and the outcome.
fn disqualified_why(signal: &str, tags: &[String], off: bool) -> String {
    let said = match signal {
        "already_bought" => "the lead already bought",
        "not_interested" => "the lead is not interested",
        "wrong_number" => "wrong number",
        "has_agent" => "the lead already has an agent",
        other => other,
    };
    let tags = if tags.is_empty() {
        "no tag".to_string()
    } else {
        format!("tags {}", tags.join(", "))
    };
    let automation = if off {
        "automation off: no question, no follow-ups"
    } else {
        "automation stays on"
    };
    format!("disqualified ({signal}: {said}): {tags}; {automation}")
}

/// Dollars for an explanation: "$45,000,000".
fn dollars(n: f64) -> String {
    let digits = format!("{}", n.round() as i64);
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("${out}")
}

/// Data points holding a value that did not count, and why. A budget outside the tenant's
/// plausible band (`budget_unconfirmed`) is named under `budget`.
fn not_counted(
    facts: &Facts,
    answered: &[String],
    band: crate::rules::PriceRange,
) -> serde_json::Map<String, Value> {
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
        if let Some(v) = crate::model::fact(facts, key).filter(|v| !v.is_null()) {
            let why = if is_unsure(v) {
                format!("{v} says the lead does not know")
            } else {
                format!("{v} holds no answer")
            };
            out.insert(key.to_string(), json!(why));
        }
    }
    let unconfirmed = crate::model::fact(facts, BUDGET_UNCONFIRMED).and_then(Value::as_f64);
    if let Some(amount) = unconfirmed.filter(|_| !answered.iter().any(|a| a == "budget")) {
        let why = format!(
            "{} is outside the plausible budget band {} to {} for this market: not counted, asked to confirm",
            dollars(amount),
            dollars(band.min),
            dollars(band.max)
        );
        let why = match out.get("budget").and_then(Value::as_str) {
            Some(before) => format!("{before}; {why}"),
            None => why,
        };
        out.insert("budget".into(), json!(why));
    }
    out
}

/// Why this question (or none) was chosen.
fn why_question(question: Option<&Question>, active: bool, disqualified: bool) -> String {
    match question {
        Some(q) => format!("{}: {}", q.id, q.reason),
        None if active => "nothing left to ask".to_string(),
        None if disqualified => "disqualified: no question".to_string(),
        None => "automation off: no question".to_string(),
    }
}
