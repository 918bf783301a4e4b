//! Rule cases as data: each tenant's `cases.yaml` lists leads and the decision expected
//! for each; one runner checks them all (used by `qualify test` and the test suite).
//!
//! ```yaml
//! - name: budget and location only
//!   lead: {tags: [Hit List], facts: {budget: 450000, location: Plano}}
//!   expect: {score: 2, class: warm, tags: [Warm-Lead, AI-Engaged, Budget-300k-500k, Location-Plano], question: timeline}
//! ```
//!
//! Every `expect` key is optional: `score`, `class`, `percent`, `answered` and `tags`
//! (compared as sets), `remove_tags`, `question` (the chosen question's id, or null for
//! none), `handoff`, `active`, and `facts` (each listed fact must be present with that value).

use super::folder::Source;
use crate::error::{Error, Result};
use crate::ids::TenantId;
use crate::model::{Class, Decision, Facts, Lead};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    lead: Lead,
    expect: Expect,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    score: Option<i64>,
    class: Option<Class>,
    percent: Option<i64>,
    answered: Option<Vec<String>>,
    tags: Option<Vec<String>>,
    remove_tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    question: Option<Value>,
    handoff: Option<bool>,
    active: Option<bool>,
    facts: Option<Facts>,
}

/// The outcome of one case.
#[derive(Clone, Debug)]
pub struct CaseResult {
    /// Tenant the case belongs to.
    pub tenant: TenantId,
    /// The case's name.
    pub name: String,
    /// What differed from the expectation; empty when the case passed.
    pub failures: Vec<String>,
}

impl CaseResult {
    /// True when the decision matched every expectation.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Outcomes of a tenant's (or every tenant's) cases.
#[derive(Clone, Debug, Default)]
pub struct CasesReport {
    /// One entry per case, in file order.
    pub results: Vec<CaseResult>,
}

impl CasesReport {
    /// Cases that passed.
    pub fn passed(&self) -> usize {
        self.results.iter().filter(|r| r.passed()).count()
    }

    /// Cases that failed.
    pub fn failed(&self) -> usize {
        self.results.len() - self.passed()
    }
}

fn same_set(a: &[String], b: &[String]) -> bool {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort();
    b.sort();
    a == b
}

/// Runs a cases file: each case's lead through `decide`, its decision against the
/// expectation. A file that does not parse is an error naming the file, line and column.
pub(crate) fn run(
    tenant: &TenantId,
    source: &Source,
    decide: impl Fn(&Lead) -> Result<Decision>,
) -> Result<CasesReport> {
    let cases: Vec<Case> = serde_yaml::from_str(&source.text).map_err(|e| Error::Settings {
        file: source.path.clone(),
        message: e.to_string(),
    })?;
    let results = cases
        .into_iter()
        .map(|case| CaseResult {
            tenant: tenant.clone(),
            failures: match decide(&case.lead) {
                Ok(d) => case.expect.differences(&d),
                Err(err) => vec![err.to_string()],
            },
            name: case.name,
        })
        .collect();
    Ok(CasesReport { results })
}

impl Expect {
    /// What differs between this expectation and a decision: one line per difference.
    fn differences(&self, d: &Decision) -> Vec<String> {
        let mut f = Vec::new();
        let mut differ = |what: &str, want: String, got: String| {
            f.push(format!("{what}: expected {want}, got {got}"))
        };
        if let Some(want) = self.score.filter(|w| *w != d.score) {
            differ("score", want.to_string(), d.score.to_string());
        }
        if let Some(want) = self.class.filter(|w| *w != d.class) {
            differ("class", want.as_str().into(), d.class.as_str().into());
        }
        if let Some(want) = self.percent.filter(|w| *w != d.percent) {
            differ("percent", want.to_string(), d.percent.to_string());
        }
        for (what, want, got) in [
            ("answered", &self.answered, &d.answered),
            ("tags", &self.tags, &d.tags),
            ("remove_tags", &self.remove_tags, &d.remove_tags),
        ] {
            if let Some(want) = want.as_ref().filter(|w| !same_set(w, got)) {
                differ(what, format!("{want:?}"), format!("{got:?}"));
            }
        }
        if let Some(want) = &self.question {
            let got = d
                .question
                .as_ref()
                .map(|q| Value::String(q.id.clone()))
                .unwrap_or(Value::Null);
            if *want != got {
                differ("question", want.to_string(), got.to_string());
            }
        }
        if let Some(want) = self.handoff.filter(|w| *w != d.handoff) {
            differ("handoff", want.to_string(), d.handoff.to_string());
        }
        if let Some(want) = self.active.filter(|w| *w != d.active) {
            differ("active", want.to_string(), d.active.to_string());
        }
        for (k, want) in self.facts.iter().flatten() {
            let got = d.facts.get(k).cloned().unwrap_or(Value::Null);
            if *want != got {
                differ(&format!("facts.{k}"), want.to_string(), got.to_string());
            }
        }
        f
    }
}
