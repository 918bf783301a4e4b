//! Experiments in a conversation: which variants a stored contact's decision uses (its
//! recorded ones first), recording first exposures, the conversions the engine sees
//! (`reached_hot`, `handed_off`, `opted_out`, `replied_within_24h`), outcomes reported
//! from outside, and the report that counts exposures and outcomes per arm and hands them
//! to the statistics.

use crate::clock::millis;
use crate::error::{Error, Result};
use crate::experiment::stats::{self, Analysis, ArmCounts, Counts};
use crate::experiment::{assign, Experiment, Missing, Pick};
use crate::ids::{ContactId, TenantId};
use crate::model::{Assigned, Chosen, Class, Contact, Decision};
use crate::rules::RuleSet;
use crate::store::{ExperimentRows, Store};
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// The variants a stored contact's decision uses: recorded ones, else assigned now.
pub(crate) fn picks_for(
    rules: &RuleSet,
    c: &Contact,
    stopped: &[String],
    now: Timestamp,
) -> Vec<Pick> {
    if rules.experiments.is_empty() {
        return Vec::new();
    }
    let stopped = |key: &str| stopped.iter().any(|s| s == key);
    assign::pick(
        &rules.experiments,
        Some(c.id.as_str()),
        &c.experiments,
        now,
        &stopped,
    )
}

/// Records first exposures on the contact; returns them (experiment key, variant) for
/// the change to write.
pub(crate) fn expose(
    rules: &RuleSet,
    c: &mut Contact,
    picks: &[Pick],
    now: Timestamp,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in picks.iter().filter(|p| p.chosen == Chosen::Assigned) {
        let x = &rules.experiments[p.experiment];
        let variant = x.variants[p.variant].name.clone();
        c.experiments.insert(
            x.key.clone(),
            Assigned {
                variant: variant.clone(),
                at: now,
            },
        );
        out.push((x.key.clone(), variant));
    }
    out
}

/// Conversions the engine saw in one ingest, for every running experiment the contact is
/// exposed to (including one exposed by this very decision) and measures them: (key,
/// metric). `replied` says the lead wrote a new message; it converts
/// `replied_within_24h` for exposures made before it, at most 24 hours earlier.
pub(crate) fn conversions(
    rules: &RuleSet,
    c: &Contact,
    picks: &[Pick],
    decision: &Decision,
    replied: bool,
    now: Timestamp,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in picks.iter().filter(|p| p.chosen != Chosen::NoContact) {
        let x = &rules.experiments[p.experiment];
        let earlier = c
            .experiments
            .get(&x.key)
            .filter(|_| p.chosen == Chosen::Recorded)
            .map(|a| now.duration_since(a.at));
        let replied_in_time = replied
            && earlier
                .is_some_and(|d| d > SignedDuration::ZERO && d <= SignedDuration::from_hours(24));
        for metric in x.metrics() {
            let happened = match metric {
                "reached_hot" => decision.class == Class::Hot,
                "handed_off" => decision.handoff,
                "opted_out" => c.opted_out,
                "replied_within_24h" => replied_in_time,
                _ => false,
            };
            if happened {
                out.push((x.key.clone(), metric.to_string()));
            }
        }
    }
    out
}

/// Where an experiment stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Its start lies ahead.
    Scheduled,
    /// Exposing contacts and counting outcomes.
    Running,
    /// Past the stop of its definition.
    Ended,
    /// Stopped by a person (recorded in the store).
    Stopped,
}

/// An experiment's definition, state and analysis.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The tenant.
    pub tenant: TenantId,
    /// The definition, as read from `experiments.yaml`.
    pub definition: Experiment,
    /// Where it stands.
    pub status: Status,
    /// When it was stopped, if it was.
    pub stopped_at: Option<Timestamp>,
    /// Contacts exposed, all arms.
    pub exposures: u64,
    /// Exposures naming a variant the definition no longer has (left out of the arms).
    pub unknown_variant_exposures: u64,
    /// Rows that could not be opened (tampered, or their key is gone), left out.
    pub unreadable_rows: usize,
    /// The main metric's analysis.
    pub analysis: Analysis,
    /// Each guard-rail metric's analysis (never decides the winner).
    pub guardrails: BTreeMap<String, Analysis>,
}

/// One line of a listing.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// The key.
    pub key: String,
    /// What it tests.
    pub description: String,
    /// The main metric.
    pub metric: String,
    /// Where it stands.
    pub status: Status,
    /// Variant names, the control first.
    pub variants: Vec<String>,
    /// Contacts exposed, all arms.
    pub exposures: u64,
    /// The winner, when the analysis declares one.
    pub winner: Option<String>,
}

impl From<&Report> for Summary {
    fn from(r: &Report) -> Self {
        Self {
            key: r.definition.key.clone(),
            description: r.definition.description.clone(),
            metric: r.definition.metric.clone(),
            status: r.status,
            variants: r
                .definition
                .variants
                .iter()
                .map(|v| v.name.clone())
                .collect(),
            exposures: r.exposures,
            winner: r.analysis.winner.clone(),
        }
    }
}

/// The experiment called `key` among a tenant's definitions.
pub(crate) fn find<'r>(rules: &'r RuleSet, tenant: &TenantId, key: &str) -> Result<&'r Experiment> {
    rules
        .experiments
        .iter()
        .find(|x| x.key == key)
        .ok_or_else(|| Error::UnknownExperiment {
            tenant: tenant.to_string(),
            key: key.to_string(),
        })
}

fn status(x: &Experiment, rows: &ExperimentRows, now: Timestamp) -> Status {
    if rows.stopped.is_some() {
        Status::Stopped
    } else if x.start.is_some_and(|s| now < s) {
        Status::Scheduled
    } else if x.stop.is_some_and(|s| now >= s) {
        Status::Ended
    } else {
        Status::Running
    }
}

/// Counts exposures and outcomes per arm from the store and analyses them.
pub(crate) fn report(
    store: &Store,
    tenant: &TenantId,
    x: &Experiment,
    now: Timestamp,
) -> Result<Report> {
    let metrics: Vec<&str> = x.metrics().collect();
    let rows = store.experiment_rows(tenant, &x.key, &metrics)?;
    let mut arms: Vec<Vec<&str>> = vec![Vec::new(); x.variants.len()];
    let mut unknown = 0;
    for e in &rows.exposures {
        match x.variant_index(&e.variant) {
            Some(i) => arms[i].push(e.contact.as_str()),
            None => unknown += 1,
        }
    }
    let none = HashMap::new();
    let outcomes = |metric: &str| rows.outcomes.get(metric).unwrap_or(&none);
    let analysis = if x.numeric {
        stats::analyze(
            &numeric_counts(x, &arms, outcomes(&x.metric)),
            &x.analysis(),
        )?
    } else {
        stats::analyze(
            &conversion_counts(x, &arms, outcomes(&x.metric)),
            &x.analysis(),
        )?
    };
    let mut guardrails = BTreeMap::new();
    for g in &x.guardrails {
        let counts = conversion_counts(x, &arms, outcomes(g));
        guardrails.insert(
            g.clone(),
            stats::analyze(&counts, &x.guardrail_analysis(g))?,
        );
    }
    Ok(Report {
        tenant: tenant.clone(),
        status: status(x, &rows, now),
        stopped_at: rows
            .stopped
            .as_ref()
            .and_then(|s| Timestamp::from_millisecond(s.at_ms as i64).ok()),
        exposures: arms.iter().map(|a| a.len() as u64).sum(),
        unknown_variant_exposures: unknown,
        unreadable_rows: rows.unreadable,
        analysis,
        guardrails,
        definition: x.clone(),
    })
}

/// Exposed contacts and those among them that converted, per arm.
fn conversion_counts(
    x: &Experiment,
    arms: &[Vec<&str>],
    converted: &HashMap<String, f64>,
) -> Counts {
    Counts {
        variants: x
            .variants
            .iter()
            .zip(arms)
            .map(|(v, contacts)| ArmCounts {
                name: v.name.clone(),
                weight: v.weight,
                n: contacts.len() as u64,
                conversions: Some(
                    contacts
                        .iter()
                        .filter(|c| converted.contains_key(**c))
                        .count() as u64,
                ),
                mean: None,
                sd: None,
            })
            .collect(),
    }
}

/// Mean and sample standard deviation of the reported values per arm (a contact with
/// none counts as 0, or is left out, as the definition says).
fn numeric_counts(x: &Experiment, arms: &[Vec<&str>], values: &HashMap<String, f64>) -> Counts {
    Counts {
        variants: x
            .variants
            .iter()
            .zip(arms)
            .map(|(v, contacts)| {
                let xs: Vec<f64> = contacts
                    .iter()
                    .filter_map(|c| match (values.get(*c), x.missing) {
                        (Some(v), _) => Some(*v),
                        (None, Missing::Zero) => Some(0.0),
                        (None, Missing::Skip) => None,
                    })
                    .collect();
                let n = xs.len() as f64;
                let mean = (n > 0.0).then(|| xs.iter().sum::<f64>() / n);
                let sd = mean
                    .filter(|_| n > 1.0)
                    .map(|m| (xs.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt());
                ArmCounts {
                    name: v.name.clone(),
                    weight: v.weight,
                    n: xs.len() as u64,
                    conversions: None,
                    mean: Some(mean.unwrap_or(0.0)),
                    sd: Some(sd.unwrap_or(0.0)),
                }
            })
            .collect(),
    }
}

/// An outcome reported from outside (an appointment booked, a deal's value).
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize)]
pub struct OutcomeReport {
    /// The contact it happened to (it must have been exposed).
    pub contact_id: String,
    /// The metric (default: the experiment's main metric).
    #[serde(default)]
    pub metric: Option<String>,
    /// The number, for a numeric metric; absent (or 1) for a conversion.
    #[serde(default)]
    pub value: Option<f64>,
}

/// What recording an outcome did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OutcomeRecorded {
    /// The experiment.
    pub experiment: String,
    /// The metric counted.
    pub metric: String,
    /// The contact's variant.
    pub variant: String,
    /// False when this contact had already counted for this metric (nothing changed:
    /// each contact counts once per metric).
    pub recorded: bool,
}

/// Records an outside outcome for an exposed contact of a running experiment.
pub(crate) fn record_outcome(
    store: &Store,
    tenant: &TenantId,
    x: &Experiment,
    outcome: &OutcomeReport,
    now: Timestamp,
) -> Result<OutcomeRecorded> {
    let fail = |message: String| Error::Outcome {
        key: x.key.clone(),
        message,
    };
    let contact = ContactId::new(&outcome.contact_id)?;
    let metric = outcome.metric.clone().unwrap_or_else(|| x.metric.clone());
    if !x.metrics().any(|m| m == metric) {
        return Err(fail(format!(
            "it does not measure {metric:?} (it measures: {})",
            x.metrics().collect::<Vec<_>>().join(", ")
        )));
    }
    if Experiment::is_engine_event(&metric) {
        return Err(fail(format!(
            "{metric:?} is recorded by the engine from the conversation, not through the API"
        )));
    }
    let numeric = x.numeric && metric == x.metric;
    let value = match (numeric, outcome.value) {
        (true, Some(v)) if v.is_finite() => v,
        (true, _) => {
            return Err(fail(format!(
                "{metric:?} is numeric: give a finite `value`"
            )))
        }
        (false, None) => 1.0,
        (false, Some(1.0)) => 1.0,
        (false, Some(v)) => {
            return Err(fail(format!(
                "{metric:?} is a conversion: leave `value` out (or give 1), not {v}"
            )))
        }
    };
    let at = millis(now);
    store.write(|tx| {
        if let Some(stop) = tx.experiment_stop(tenant, &x.key)? {
            return Err(fail(format!(
                "stopped at {}: outcomes are no longer counted",
                Timestamp::from_millisecond(stop.at_ms as i64).unwrap_or(now)
            )));
        }
        if !x.in_window(now) {
            return Err(fail(
                "not running: outcomes are counted only while it runs".into(),
            ));
        }
        let Some(variant) = tx.exposure(tenant, &x.key, &contact)? else {
            return Err(fail(format!(
                "contact {contact} was never exposed to it: only exposed contacts count"
            )));
        };
        let recorded = tx.record_outcome(tenant, &x.key, &metric, &contact, value, at)?;
        Ok(OutcomeRecorded {
            experiment: x.key.clone(),
            metric: metric.clone(),
            variant,
            recorded,
        })
    })
}
