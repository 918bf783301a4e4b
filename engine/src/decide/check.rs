//! What `qualify check` validates on a compiled rule set beyond compiling: every question
//! and hand-off text within the tenant's SMS segment budget, every follow-up template
//! rendered with long sample names within it, the hooks run on sample leads, and hybrid
//! extraction's endpoint and key file when a tenant turns it on.

use super::decide;
use crate::error::Error;
use crate::model::Lead;
use crate::rules::RuleSet;
use crate::text::{sms, template};
use serde_json::{json, Value};

/// Every problem found in a rule set (empty when all is well).
/// Each combination of experiment variants that changes settings is checked the same
/// way; a problem only a variant has is reported against `experiments.yaml`, naming it.
pub(crate) fn check(rules: &RuleSet) -> Vec<Error> {
    let mut errors = check_one(rules);
    let seen: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    for tuned in rules.tunings() {
        for e in check_one(tuned) {
            let text = e.to_string();
            if seen.contains(&text) {
                continue;
            }
            errors.push(Error::Settings {
                file: rules.experiments_file.clone().unwrap_or_default(),
                message: format!(
                    "with {}: {text}",
                    tuned.tuning.as_deref().unwrap_or("the variants' values")
                ),
            });
        }
    }
    errors
}

fn check_one(rules: &RuleSet) -> Vec<Error> {
    let mut errors = Vec::new();
    question_texts(rules, &mut errors);
    followup_templates(rules, &mut errors);
    sample_decisions(rules, &mut errors);
    hybrid_settings(rules, &mut errors);
    errors
}

/// Hybrid extraction, when on: an http(s) base URL and a readable, non-empty key file
/// (its content never appears in the error).
fn hybrid_settings(rules: &RuleSet, errors: &mut Vec<Error>) {
    let Some(llm) = rules.settings.hybrid() else {
        return;
    };
    let url = llm.base_url.trim();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        errors.push(settings_error(
            rules,
            format!("llm.base_url {url:?}: expected an http:// or https:// URL"),
        ));
    }
    if let Some(path) = &llm.key_file {
        let problem = match std::fs::read_to_string(path) {
            Ok(key) if key.trim().is_empty() => Some("is empty".to_string()),
            Ok(_) => None,
            Err(e) => Some(format!("cannot be read: {e}")),
        };
        if let Some(problem) = problem {
            errors.push(settings_error(
                rules,
                format!("llm.key_file {} {problem}", path.display()),
            ));
        }
    }
}

fn settings_error(rules: &RuleSet, message: String) -> Error {
    Error::Settings {
        file: rules.yaml_file.clone(),
        message,
    }
}

/// Question texts and the hand-off line, in every language, against the segment budget
/// (a Spanish text with accents is UCS-2: 70 characters to a segment, not 160).
fn question_texts(rules: &RuleSet, errors: &mut Vec<Error>) {
    let budget = rules.settings.sms_segment_budget;
    for (key, text) in rules.settings.texts() {
        let info = sms::sms_info(text);
        if info.segments > budget {
            errors.push(settings_error(
                rules,
                format!(
                    "{key}: {} SMS segments ({}, {} units) over the budget of {budget}",
                    info.segments,
                    serde_json::to_string(&info.encoding).unwrap_or_default(),
                    info.units
                ),
            ));
        }
    }
}

/// A long value for each placeholder: templates must fit their budget with these.
fn long_sample(name: &str) -> Option<String> {
    Some(
        match name {
            "first_name" => "Maximilian-Alexander",
            "last_name" => "Featherstonehaugh-Montgomery",
            "agent_name" => "Jorge",
            "budget" => "$1,250,000",
            _ => "Stonebridge Ranch, Craig Ranch",
        }
        .to_string(),
    )
}

/// Follow-up templates: known placeholders only, within budget with long names.
fn followup_templates(rules: &RuleSet, errors: &mut Vec<Error>) {
    let budget = rules.settings.sms_segment_budget;
    for (goal, list) in &rules.settings.followup.templates {
        for (i, text) in list.iter().enumerate() {
            let key = format!("followup.templates.{goal}[{i}]");
            match template::render(text, long_sample) {
                Ok(text) => {
                    let segments = sms::segments(&text);
                    if segments > budget {
                        errors.push(settings_error(
                            rules,
                            format!("{key}: {segments} SMS segments with long sample names, over the budget of {budget}"),
                        ));
                    }
                }
                Err(message) => errors.push(settings_error(rules, format!("{key}: {message}"))),
            }
        }
    }
}

/// The hooks on sample leads: they must run, and the questions they pick must fit.
fn sample_decisions(rules: &RuleSet, errors: &mut Vec<Error>) {
    let budget = rules.settings.sms_segment_budget;
    for lead in sample_leads(&rules.settings.activation_tags) {
        let now = jiff::Timestamp::now();
        match decide(&rules.id, rules, &lead, &Default::default(), &[], now) {
            Ok(d) => {
                if let Some(q) = d.question {
                    let n = sms::segments(&q.text);
                    if n > budget {
                        errors.push(Error::HookResult {
                            at: String::new(),
                            tenant: rules.id.to_string(),
                            hook: "next_question".into(),
                            message: format!(
                                "question {:?} is {n} SMS segments, over the budget of {budget}",
                                q.id
                            ),
                        });
                    }
                }
            }
            Err(e) => {
                errors.push(e);
                break;
            }
        }
    }
}

/// Leads `check` runs every tenant's hooks on: nothing known, a buyer, a seller, a hot
/// lead, each again as a lead writing Spanish, and a buyer whose budget needs confirming.
fn sample_leads(activation: &[String]) -> Vec<Lead> {
    let tags: Vec<String> = activation.iter().take(1).cloned().collect();
    let lead = |facts: Value| Lead {
        facts: facts.as_object().cloned().unwrap_or_default(),
        tags: tags.clone(),
        name: Some("Maximilian-Alexander".into()),
        ..Lead::default()
    };
    let facts = [
        json!({}),
        json!({"goal": "buy", "budget": 450000}),
        json!({"goal": "sell", "motivation": "downsizing", "timeline": "not sure"}),
        json!({"budget": "$450k", "location": ["Plano", "Frisco"], "timeline": "asap", "bedrooms": 3, "financing": "cash", "motivation": "relocation", "home_condition": "move-in ready"}),
        json!({"goal": "buy", "budget_unconfirmed": 45000000}),
        json!({"goal": "sell", "location": "Plano", "budget_unconfirmed": 45000000}),
    ];
    let mut leads: Vec<Lead> = facts.iter().map(|f| lead(f.clone())).collect();
    for f in facts {
        let mut f = f;
        f["language"] = json!("es");
        leads.push(lead(f));
    }
    leads
}
