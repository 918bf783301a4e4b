//! Experiment definitions: a tenant's `experiments.yaml`, read into typed values and
//! checked (keys, variants and weights, the metric, alpha, the sequential mixing
//! parameter, the time window). A definition is data: the rules layer applies each
//! variant's `values` over the tenant's settings, the store records exposures and
//! outcomes, the statistics read them.

use super::stats::{self, Direction};
use crate::error::{Error, Result};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::path::Path;

/// Conversion events the engine records itself, from what it sees in ingest and
/// follow-ups.
pub const ENGINE_EVENTS: [&str; 4] = [
    "reached_hot",
    "replied_within_24h",
    "handed_off",
    "opted_out",
];

/// The mixing parameter of the sequential test when a conversion experiment does not set
/// one: tuned to find a difference of five percentage points.
pub const DEFAULT_TAU: f64 = 0.05;

/// Settings keys a variant may not change: one extractor serves every variant.
const FIXED_KEYS: [&str; 1] = ["extract"];

/// How a numeric metric counts an exposed contact that reported no value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Missing {
    /// As 0: the mean is per exposed contact (revenue per lead).
    #[default]
    Zero,
    /// Left out: the mean is over the contacts that reported a value.
    Skip,
}

/// `sequential: true` or `sequential: {tau: 0.05}` in the file.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
enum SequentialSpec {
    On(bool),
    Tuned { tau: f64 },
}

/// One variant: its name, its share of new contacts, and the settings it changes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// Name, unique within the experiment (`[A-Za-z0-9_-]{1,64}`).
    pub name: String,
    /// Relative weight (any positive number; the shares are weight / total).
    #[serde(default = "one")]
    pub weight: f64,
    /// Settings merged over the tenant's `tenant.yaml` for contacts in this variant,
    /// the same way `tenant.yaml` merges over the default's: a question's text, the
    /// hand-off line, a follow-up template, or any value a script reads.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub values: Map<String, Value>,
}

fn one() -> f64 {
    1.0
}

fn alpha() -> f64 {
    0.05
}

fn thirty() -> u64 {
    30
}

/// An experiment as the tenant defined it. The first variant is the control.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// Key, unique within the tenant (`[A-Za-z0-9_-]{1,64}`); used in URLs and commands.
    pub key: String,
    /// What the experiment tests, for people.
    #[serde(default)]
    pub description: String,
    /// Seed of the assignment hash (default: the key). Changing it reshuffles contacts
    /// not yet exposed; exposed ones keep their recorded variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
    /// What counts as success: one of [`ENGINE_EVENTS`], or the name of an outside event
    /// (or number, with `numeric: true`) reported through the outcomes API.
    pub metric: String,
    /// The metric is a number per contact (reported through the API), not a conversion.
    #[serde(default)]
    pub numeric: bool,
    /// For a numeric metric: how a contact with no value counts.
    #[serde(default)]
    pub missing: Missing,
    /// Which way is better (default: `decrease` for `opted_out`, else `increase`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// Conversion metrics analysed beside the main one (e.g. `opted_out`); they never
    /// decide the winner.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guardrails: Vec<String>,
    /// Significance level (default 0.05).
    #[serde(default = "alpha")]
    pub alpha: f64,
    /// Exposures every arm needs before a winner may be declared (default 30).
    #[serde(default = "thirty")]
    pub min_sample: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sequential: Option<SequentialSpec>,
    /// When contacts start being exposed (default: at once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<Timestamp>,
    /// When exposure and counting end (default: never; or `qualify experiment stop`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Timestamp>,
    /// Two or more variants, the control first.
    pub variants: Vec<Variant>,
}

/// The file: `experiments: [...]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    experiments: Vec<Experiment>,
}

impl Experiment {
    /// The seed the assignment hashes with.
    pub fn seed(&self) -> &str {
        self.seed.as_deref().unwrap_or(&self.key)
    }

    /// Which way is better for the main metric.
    pub fn direction(&self) -> Direction {
        self.direction.unwrap_or(direction_of(&self.metric))
    }

    /// The sequential test's mixing parameter, when sequential mode is on.
    pub fn sequential_tau(&self) -> Option<f64> {
        match self.sequential {
            None | Some(SequentialSpec::On(false)) => None,
            Some(SequentialSpec::On(true)) => Some(DEFAULT_TAU),
            Some(SequentialSpec::Tuned { tau }) => Some(tau),
        }
    }

    /// The analysis settings for the main metric.
    pub fn analysis(&self) -> stats::Settings {
        stats::Settings {
            alpha: self.alpha,
            min_sample: self.min_sample,
            sequential_tau: self.sequential_tau(),
            direction: self.direction(),
        }
    }

    /// The analysis settings for a guard-rail metric (a conversion).
    pub fn guardrail_analysis(&self, metric: &str) -> stats::Settings {
        stats::Settings {
            sequential_tau: self.sequential_tau().map(|_| DEFAULT_TAU),
            direction: direction_of(metric),
            ..self.analysis()
        }
    }

    /// True while `now` is inside the experiment's window (a stop recorded in the store
    /// is checked separately).
    pub fn in_window(&self, now: Timestamp) -> bool {
        self.start.is_none_or(|s| now >= s) && self.stop.is_none_or(|s| now < s)
    }

    /// Whether `metric` is one the engine records itself.
    pub fn is_engine_event(metric: &str) -> bool {
        ENGINE_EVENTS.contains(&metric)
    }

    /// The metrics this experiment counts: the main one, then the guard-rails.
    pub fn metrics(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.metric.as_str()).chain(self.guardrails.iter().map(String::as_str))
    }

    /// The index of the variant called `name`.
    pub fn variant_index(&self, name: &str) -> Option<usize> {
        self.variants.iter().position(|v| v.name == name)
    }

    /// True when some variant changes settings.
    pub fn has_values(&self) -> bool {
        self.variants.iter().any(|v| !v.values.is_empty())
    }
}

/// Lower is better for opting out; higher for everything else.
fn direction_of(metric: &str) -> Direction {
    if metric == "opted_out" {
        Direction::Decrease
    } else {
        Direction::Increase
    }
}

/// Reads and checks `experiments.yaml`. Every problem found is returned, each naming the
/// file (and the line, for a syntax error) and the experiment.
pub fn parse(text: &str, file: &Path) -> std::result::Result<Vec<Experiment>, Vec<Error>> {
    let err = |message: String| Error::Settings {
        file: file.to_owned(),
        message,
    };
    let parsed: File = match serde_yaml::from_str::<Option<File>>(text) {
        Ok(f) => f.unwrap_or(File {
            experiments: Vec::new(),
        }),
        Err(e) => return Err(vec![err(e.to_string())]),
    };
    let mut errors = Vec::new();
    let mut keys = HashSet::new();
    for x in &parsed.experiments {
        if !keys.insert(x.key.as_str()) {
            errors.push(err(format!("experiment {:?} is defined twice", x.key)));
        }
        for message in problems(x) {
            errors.push(err(format!("experiment {:?}: {message}", x.key)));
        }
    }
    if errors.is_empty() {
        Ok(parsed.experiments)
    } else {
        Err(errors)
    }
}

/// A name usable in URLs and commands.
fn is_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// What is wrong with one experiment.
fn problems(x: &Experiment) -> Vec<String> {
    let mut out = Vec::new();
    let name_rule = "1-64 characters of A-Z, a-z, 0-9, '_' or '-'";
    if !is_name(&x.key) {
        out.push(format!("key: {name_rule}"));
    }
    if x.variants.len() < 2 {
        out.push(format!(
            "needs two or more variants (the first is the control), found {}",
            x.variants.len()
        ));
    }
    let mut names = HashSet::new();
    for v in &x.variants {
        if !is_name(&v.name) {
            out.push(format!("variant {:?}: name: {name_rule}", v.name));
        }
        if !names.insert(v.name.as_str()) {
            out.push(format!("variant {:?} is named twice", v.name));
        }
        if !(v.weight.is_finite() && v.weight > 0.0) {
            out.push(format!(
                "variant {:?}: weight {} must be a positive number",
                v.name, v.weight
            ));
        }
        for key in FIXED_KEYS {
            if v.values.contains_key(key) {
                out.push(format!(
                    "variant {:?}: values may not change `{key}` (one extractor serves every variant)",
                    v.name
                ));
            }
        }
    }
    for metric in x.metrics() {
        if !is_name(metric) {
            out.push(format!("metric {metric:?}: {name_rule}"));
        }
    }
    if x.numeric && Experiment::is_engine_event(&x.metric) {
        out.push(format!(
            "metric {:?} is a conversion the engine records; `numeric: true` is for a number reported through the API",
            x.metric
        ));
    }
    if x.guardrails.contains(&x.metric) {
        out.push(format!(
            "metric {:?} is also listed as a guard-rail",
            x.metric
        ));
    }
    if !(x.alpha > 0.0 && x.alpha < 0.5) {
        out.push(format!("alpha {} must lie between 0 and 0.5", x.alpha));
    }
    if x.min_sample == 0 {
        out.push("min_sample must be at least 1".into());
    }
    match x.sequential {
        Some(SequentialSpec::Tuned { tau }) if !(tau.is_finite() && tau > 0.0) => {
            out.push(format!(
                "sequential.tau {tau} must be a positive number (the difference the test is tuned to find)"
            ));
        }
        Some(SequentialSpec::On(true)) if x.numeric => out.push(
            "a numeric metric in sequential mode needs `sequential: {tau: ...}` on the metric's own scale"
                .into(),
        ),
        _ => {}
    }
    if let (Some(start), Some(stop)) = (x.start, x.stop) {
        if start >= stop {
            out.push(format!("start {start} is not before stop {stop}"));
        }
    }
    out
}

/// Parses a definition file, turning a list of problems into one error per line.
pub fn parse_one_error(text: &str, file: &Path) -> Result<Vec<Experiment>> {
    parse(text, file).map_err(|errors| Error::Settings {
        file: file.to_owned(),
        message: errors
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("; "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> std::result::Result<Vec<Experiment>, Vec<String>> {
        parse(text, Path::new("acme/experiments.yaml"))
            .map_err(|es| es.into_iter().map(|e| e.to_string()).collect())
    }

    #[test]
    fn a_full_definition_reads() {
        let xs = parse_str(
            r#"
experiments:
  - key: budget_wording
    description: friendlier budget question
    seed: s1
    metric: reached_hot
    guardrails: [opted_out]
    alpha: 0.01
    min_sample: 100
    sequential: {tau: 0.03}
    start: 2026-11-01T00:00:00Z
    stop: 2026-12-01T00:00:00Z
    variants:
      - name: control
        weight: 2
      - name: friendly
        values: {questions: {buy: {budget: "Ballpark price range?"}}}
"#,
        )
        .unwrap();
        let x = &xs[0];
        assert_eq!((x.seed(), x.min_sample, x.alpha), ("s1", 100, 0.01));
        assert_eq!(x.sequential_tau(), Some(0.03));
        assert_eq!(x.variants[1].weight, 1.0);
        assert_eq!(x.direction(), Direction::Increase);
        assert_eq!(
            x.guardrail_analysis("opted_out").direction,
            Direction::Decrease
        );
        assert!(x.in_window("2026-11-15T00:00:00Z".parse().unwrap()));
        assert!(!x.in_window("2026-12-01T00:00:00Z".parse().unwrap()));
        assert!(x.has_values());
    }

    #[test]
    fn an_empty_file_has_no_experiments() {
        assert!(parse_str("").unwrap().is_empty());
        assert!(parse_str("experiments: []").unwrap().is_empty());
    }

    #[test]
    fn every_problem_is_named() {
        let errors = parse_str(
            r#"
experiments:
  - key: "bad key"
    metric: reached_hot
    numeric: true
    alpha: 0.7
    min_sample: 0
    sequential: {tau: -1}
    start: 2026-12-01T00:00:00Z
    stop: 2026-11-01T00:00:00Z
    variants:
      - {name: a, weight: 0}
      - {name: a, values: {extract: {}}}
"#,
        )
        .unwrap_err();
        let all = errors.join("\n");
        for needle in [
            "key: 1-64",
            "weight 0 must be a positive",
            "named twice",
            "may not change `extract`",
            "`numeric: true` is for",
            "alpha 0.7",
            "min_sample must be",
            "sequential.tau -1",
            "is not before stop",
        ] {
            assert!(all.contains(needle), "{needle:?} not in {all}");
        }
        assert!(all.starts_with("acme/experiments.yaml: experiment \"bad key\""));
    }

    #[test]
    fn syntax_errors_give_the_line() {
        let errors = parse_str("experiments:\n  - key: a\n    metrc: reached_hot\n").unwrap_err();
        assert!(errors[0].contains("line 3"), "{}", errors[0]);
        assert!(errors[0].contains("unknown field `metrc`"), "{}", errors[0]);
    }

    #[test]
    fn one_variant_is_not_an_experiment() {
        let errors =
            parse_str("experiments:\n  - {key: a, metric: handed_off, variants: [{name: c}]}")
                .unwrap_err();
        assert!(errors[0].contains("two or more variants"), "{errors:?}");
    }
}
