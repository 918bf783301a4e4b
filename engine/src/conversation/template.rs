//! A follow-up stage's text for a contact: the tenant's `followup` hook when its scripts
//! define one, else the stage's template for the contact's goal (buyer, seller, general)
//! with placeholders filled from what is known of the contact.

use crate::error::{Error, Result};
use crate::experiment::{assign, Pick};
use crate::model::{Contact, Goal};
use crate::rules::{HookLead, RuleSet};
use crate::text::template::render;
use serde_json::Value;

/// The text for stage number `stage` (0-based), or `None` when there is none.
/// `picks` are the experiments' variants in use (`rules` is already tuned to them).
pub(super) fn stage_text(
    rules: &RuleSet,
    c: &Contact,
    stage: usize,
    picks: &[Pick],
) -> Result<Option<String>> {
    let hours = rules.settings.followup.stages_hours[stage];
    if rules.has_followup_hook() {
        let variants = assign::variant_names(&rules.experiments, picks);
        let lead = HookLead::new(&c.facts, &c.tags, c.size(), &variants);
        return rules.followup(&lead, hours);
    }
    let templates = &rules.settings.followup.templates;
    let goal = match Goal::of(&c.facts) {
        Some(Goal::Buy) => "buyer",
        Some(Goal::Sell) => "seller",
        None => "general",
    };
    let Some(template) = templates
        .get(goal)
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

/// A fact as template text: trimmed strings, numbers, lists joined with commas.
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

/// Placeholder values for a contact; a missing first name reads "there", never "None".
fn placeholder(rules: &RuleSet, c: &Contact, name: &str) -> Option<String> {
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
