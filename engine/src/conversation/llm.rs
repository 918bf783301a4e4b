//! Hybrid extraction: when a tenant turns it on (`llm:` in `tenant.yaml`) and the
//! deterministic extractors are unsure about a message (cue words for a data point, no
//! value), an OpenAI-compatible chat-completions endpoint is asked for those points only,
//! with a strict JSON schema, before the decision.
//!
//! Invariants: the message is redacted before it leaves the process; the call runs on
//! this module's own small pool of threads (never in the store's writer, never in the
//! pure decision, which gets the answer as facts); the caller waits at most the tenant's
//! timeout; each tenant has a daily budget of calls; answers are cached by a hash of the
//! redacted message; and whatever fails (an unreachable or slow endpoint, an error
//! status, an answer outside the schema) leaves the deterministic result as it is.
//! Answers only fill data points that are still unanswered, and each value is checked:
//! a budget must be a number within the tenant's plausible band, the other points come
//! from fixed sets.

use super::ingest::asked_of;
use super::Inbound;
use crate::error::Error;
use crate::ids::TenantId;
use crate::model::Facts;
use crate::rules::{LlmSettings, RuleSet};
use crate::store::ContactView;
use crate::text::redact;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use zeroize::Zeroizing;

/// Threads that make calls: a slow endpoint ties up these, not the host's workers.
const POOL_THREADS: usize = 2;
/// Calls waiting for a thread; beyond this a message keeps its deterministic result.
const QUEUE: usize = 32;
/// Answers kept; the cache is emptied when full (answers are cheap to ask again and a
/// day's budget bounds the cost).
const CACHE_ENTRIES: usize = 4096;
/// The most of a response body read.
const MAX_BODY: u64 = 64 * 1024;

/// Timelines an answer may give (the default rules count the first three as urgent).
pub(crate) const TIMELINES: [&str; 7] = [
    "asap",
    "this month",
    "next month",
    "in 3 months",
    "in 6 months",
    "within a year",
    "over a year",
];
/// Financing statuses an answer may give (the extractors' own labels).
const FINANCING: [&str; 4] = ["pre-approved", "pre-qualified", "cash", "not started"];
/// Motivations an answer may give (the extractors' own labels).
const MOTIVATIONS: [&str; 13] = [
    "relocation",
    "growing family",
    "downsizing",
    "divorce",
    "caring for family",
    "retirement",
    "first home",
    "investment",
    "closer to family or work",
    "inherited property",
    "financial",
    "stop renting",
    "schools",
];
/// Home conditions an answer may give (the extractors' own labels).
const CONDITIONS: [&str; 3] = ["fixer-upper", "needs work", "move-in ready"];

const SYSTEM: &str = "You read one SMS from a real-estate lead and extract only the data \
points asked for. Answer null for a point the message does not state. Never guess. \
Budgets are in US dollars (\"400k\" is 400000). Personal data in the message is replaced \
by placeholders such as [REDACTED_PHONE]; ignore them.";

/// How one attempt ended, as the `outcome` label of `qualify_llm_calls_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// Answered within the schema.
    Ok,
    /// Answered from the cache: no call.
    Cached,
    /// The day's budget is spent: no call.
    OverBudget,
    /// Every pool thread busy and the queue full: no call.
    Busy,
    /// No answer within the timeout.
    Timeout,
    /// Unreachable, an error status, or no key.
    Error,
    /// Answered outside the schema.
    Invalid,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Cached => "cached",
            Outcome::OverBudget => "over_budget",
            Outcome::Busy => "busy",
            Outcome::Timeout => "timeout",
            Outcome::Error => "error",
            Outcome::Invalid => "invalid",
        }
    }
}

pub use crate::model::LlmUsage;

/// What hybrid extraction gave one message: the facts it read (they fill only data
/// points still unanswered), and what it cost, which is counted in the day's analytics
/// row in the transaction that records the message.
#[derive(Clone, Debug, Default)]
pub(crate) struct Hints {
    pub facts: Option<Facts>,
    pub usage: LlmUsage,
}

/// One call for a pool thread.
struct Job {
    url: String,
    key: Option<Zeroizing<String>>,
    body: String,
    timeout: Duration,
    reply: SyncSender<Result<String, (Outcome, String)>>,
}

/// The engine's hybrid-extraction state: the pool (started at the first call, so an
/// engine whose tenants never turn the feature on starts no thread), the cache, the
/// budgets and the usage counts.
#[derive(Default)]
pub(crate) struct Hybrid {
    pool: OnceLock<SyncSender<Job>>,
    cache: Mutex<HashMap<[u8; 32], Facts>>,
    /// Calls made today, by tenant: (day number since 1970 UTC, count).
    spent: Mutex<HashMap<TenantId, (i64, u32)>>,
    usage: Mutex<HashMap<TenantId, LlmUsage>>,
}

/// Locks a mutex, recovering the data if a thread panicked holding it (every update
/// here is a single assignment, so the data is never half-written).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Hybrid {
    /// A tenant's usage counts.
    pub(crate) fn usage(&self, tenant: &TenantId) -> LlmUsage {
        lock(&self.usage).get(tenant).copied().unwrap_or_default()
    }

    fn pool(&self) -> &SyncSender<Job> {
        self.pool.get_or_init(|| {
            let (tx, rx) = mpsc::sync_channel::<Job>(QUEUE);
            let rx = Arc::new(Mutex::new(rx));
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(true)
                .build()
                .into();
            for n in 0..POOL_THREADS {
                let (rx, agent) = (rx.clone(), agent.clone());
                let spawned = std::thread::Builder::new()
                    .name(format!("qualify-llm-{n}"))
                    .spawn(move || worker(&rx, &agent));
                if let Err(e) = spawned {
                    tracing::error!("could not start an LLM thread: {e}");
                }
            }
            tx
        })
    }

    /// Counts one unsure message's outcome (the metrics, the tenant's usage) and returns
    /// it as a usage of its own, for the message's analytics.
    fn record(&self, tenant: &TenantId, outcome: Outcome, tokens: (u64, u64)) -> LlmUsage {
        metrics::counter!("qualify_llm_calls_total", "outcome" => outcome.label()).increment(1);
        let mut one = LlmUsage::default();
        match outcome {
            Outcome::Ok => one.answered = 1,
            Outcome::Cached => one.cached = 1,
            Outcome::OverBudget => one.over_budget = 1,
            Outcome::Busy => {}
            Outcome::Timeout | Outcome::Error | Outcome::Invalid => one.failed = 1,
        }
        if !matches!(
            outcome,
            Outcome::Cached | Outcome::OverBudget | Outcome::Busy
        ) {
            one.calls = 1;
        }
        (one.prompt_tokens, one.completion_tokens) = tokens;
        if tokens != (0, 0) {
            metrics::counter!("qualify_llm_tokens_total", "kind" => "prompt").increment(tokens.0);
            metrics::counter!("qualify_llm_tokens_total", "kind" => "completion")
                .increment(tokens.1);
        }
        lock(&self.usage)
            .entry(tenant.clone())
            .or_default()
            .add(&one);
        one
    }

    /// Takes one call from the tenant's budget for `day`; false when it is spent.
    fn spend(&self, tenant: &TenantId, day: i64, most: u32) -> bool {
        let mut spent = lock(&self.spent);
        let entry = spent.entry(tenant.clone()).or_insert((day, 0));
        if entry.0 != day {
            *entry = (day, 0);
        }
        if entry.1 >= most {
            return false;
        }
        entry.1 += 1;
        true
    }

    /// Asks the tenant's endpoint about `points` in `redacted`; the facts it gave, checked,
    /// or `None` (and the failure logged and counted).
    fn ask(
        &self,
        tenant: &TenantId,
        llm: &LlmSettings,
        band: (f64, f64),
        points: &[&'static str],
        redacted: &str,
        day: i64,
    ) -> Hints {
        let key = cache_key(tenant, llm, points, redacted);
        let cached = lock(&self.cache).get(&key).cloned();
        if let Some(facts) = cached {
            let usage = self.record(tenant, Outcome::Cached, (0, 0));
            return Hints {
                facts: Some(facts),
                usage,
            };
        }
        if !self.spend(tenant, day, llm.daily_calls) {
            let usage = self.record(tenant, Outcome::OverBudget, (0, 0));
            return Hints { facts: None, usage };
        }
        let answer = self.call(llm, points, redacted).and_then(|body| {
            let tokens = tokens_of(&body);
            match parse_answer(&body, points, band) {
                Ok(facts) => Ok((facts, tokens)),
                Err(reason) => Err((Outcome::Invalid, reason, tokens)),
            }
        });
        match answer {
            Ok((facts, tokens)) => {
                let usage = self.record(tenant, Outcome::Ok, tokens);
                let mut cache = lock(&self.cache);
                if cache.len() >= CACHE_ENTRIES {
                    cache.clear();
                }
                cache.insert(key, facts.clone());
                Hints {
                    facts: Some(facts),
                    usage,
                }
            }
            Err((outcome, reason, tokens)) => {
                let usage = self.record(tenant, outcome, tokens);
                let e = Error::Llm {
                    tenant: tenant.to_string(),
                    reason,
                };
                tracing::warn!(outcome = outcome.label(), "{e}");
                Hints { facts: None, usage }
            }
        }
    }

    /// One call on the pool, waiting at most the tenant's timeout: the response body.
    fn call(
        &self,
        llm: &LlmSettings,
        points: &[&'static str],
        redacted: &str,
    ) -> Result<String, (Outcome, String, (u64, u64))> {
        let fail = |o: Outcome, r: String| (o, r, (0, 0));
        let key = match &llm.key_file {
            Some(path) => match std::fs::read_to_string(path) {
                Ok(k) => Some(Zeroizing::new(k.trim().to_string())),
                Err(e) => {
                    let reason = format!("key file {}: {e}", path.display());
                    return Err(fail(Outcome::Error, reason));
                }
            },
            None => None,
        };
        let timeout = Duration::from_millis(llm.timeout_ms);
        let (reply, answer) = mpsc::sync_channel(1);
        let job = Job {
            url: format!("{}/chat/completions", llm.base_url.trim_end_matches('/')),
            key,
            body: request(llm, points, redacted).to_string(),
            timeout,
            reply,
        };
        match self.pool().try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                return Err(fail(Outcome::Busy, "every LLM thread is busy".into()))
            }
            Err(TrySendError::Disconnected(_)) => {
                return Err(fail(Outcome::Error, "no LLM thread is running".into()))
            }
        }
        // The thread's own timeout ends the call; this one bounds the wait for a queued
        // call too.
        match answer.recv_timeout(timeout) {
            Ok(Ok(body)) => Ok(body),
            Ok(Err((o, r))) => Err(fail(o, r)),
            Err(RecvTimeoutError::Timeout) => Err(fail(
                Outcome::Timeout,
                format!("no answer within {} ms", llm.timeout_ms),
            )),
            Err(RecvTimeoutError::Disconnected) => {
                Err(fail(Outcome::Error, "the LLM thread stopped".into()))
            }
        }
    }
}

/// A pool thread: takes calls until the engine is dropped.
fn worker(jobs: &Mutex<Receiver<Job>>, agent: &ureq::Agent) {
    loop {
        let job = match lock(jobs).recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        let result = post(agent, &job);
        // The caller may have stopped waiting: nothing to do then.
        let _ = job.reply.try_send(result);
    }
}

/// Posts one request; the body, or how it failed (never the key or the message).
fn post(agent: &ureq::Agent, job: &Job) -> Result<String, (Outcome, String)> {
    let mut request = agent
        .post(&job.url)
        .config()
        .timeout_global(Some(job.timeout))
        .build()
        .header("content-type", "application/json");
    if let Some(key) = &job.key {
        request = request.header("authorization", format!("Bearer {}", key.as_str()));
    }
    let failed = |e: ureq::Error| match e {
        ureq::Error::Timeout(_) => (Outcome::Timeout, format!("timed out: {e}")),
        e => (Outcome::Error, e.to_string()),
    };
    let mut response = request.send(job.body.as_str()).map_err(failed)?;
    response
        .body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_string()
        .map_err(failed)
}

/// The cache key: tenant, endpoint, model, points asked and the redacted message.
fn cache_key(tenant: &TenantId, llm: &LlmSettings, points: &[&str], redacted: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [tenant.as_str(), &llm.base_url, &llm.model] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    for p in points {
        h.update(p.as_bytes());
        h.update([0]);
    }
    h.update(redacted.as_bytes());
    h.finalize().into()
}

/// The JSON schema of one point's answer: a value from its set, or null.
fn point_schema(point: &str) -> Value {
    let one_of = |set: &[&str]| {
        let mut values: Vec<Value> = set.iter().map(|s| json!(s)).collect();
        values.push(Value::Null);
        json!({"type": ["string", "null"], "enum": values})
    };
    match point {
        "budget" => json!({"type": ["number", "null"], "description": "US dollars"}),
        "bedrooms" => json!({"type": ["integer", "null"]}),
        "timeline" => one_of(&TIMELINES),
        "financing" => one_of(&FINANCING),
        "motivation" => one_of(&MOTIVATIONS),
        _ => one_of(&CONDITIONS),
    }
}

/// The chat-completions request: the points asked, a strict schema, the redacted text.
fn request(llm: &LlmSettings, points: &[&'static str], redacted: &str) -> Value {
    let properties: Map<String, Value> = points
        .iter()
        .map(|p| (p.to_string(), point_schema(p)))
        .collect();
    json!({
        "model": llm.model,
        "temperature": 0,
        "max_tokens": llm.max_tokens,
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": format!(
                "Data points: {}\nMessage: {redacted}", points.join(", "))},
        ],
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": "lead_facts",
                "strict": true,
                "schema": {
                    "type": "object",
                    "properties": properties,
                    "required": points,
                    "additionalProperties": false,
                },
            },
        },
    })
}

/// The token counts a response reports (zero when it reports none).
fn tokens_of(body: &str) -> (u64, u64) {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return (0, 0);
    };
    let n = |k: &str| v["usage"][k].as_u64().unwrap_or(0);
    (n("prompt_tokens"), n("completion_tokens"))
}

/// The facts in a response body, checked against the schema and the tenant's band; an
/// error (naming what is wrong, never the text) when the answer is outside the schema.
/// A budget outside the band is dropped, as the extractors would not count it either.
pub(crate) fn parse_answer(body: &str, points: &[&str], band: (f64, f64)) -> Result<Facts, String> {
    let v: Value = serde_json::from_str(body).map_err(|e| format!("response not JSON: {e}"))?;
    let content = v["choices"][0]["message"]["content"]
        .as_str()
        .ok_or("no choices[0].message.content")?;
    let answer: Value =
        serde_json::from_str(content).map_err(|e| format!("content not JSON: {e}"))?;
    let object = answer.as_object().ok_or("content is not an object")?;
    let mut facts = Facts::new();
    for (k, v) in object {
        let Some(point) = points.iter().find(|p| **p == k) else {
            return Err(format!(
                "unasked key {:?}",
                k.chars().take(40).collect::<String>()
            ));
        };
        if v.is_null() {
            continue;
        }
        let bad = || format!("{point}: a value outside the schema");
        let value = match *point {
            "budget" => {
                let n = v.as_f64().filter(|n| n.is_finite()).ok_or_else(bad)?;
                if n <= 0.0 || n < band.0 || n > band.1 {
                    continue;
                }
                json!(n.round() as i64)
            }
            "bedrooms" => {
                let n = v
                    .as_u64()
                    .filter(|n| (1..=12).contains(n))
                    .ok_or_else(bad)?;
                json!(n)
            }
            point => {
                let set: &[&str] = match point {
                    "timeline" => &TIMELINES,
                    "financing" => &FINANCING,
                    "motivation" => &MOTIVATIONS,
                    _ => &CONDITIONS,
                };
                let s = v.as_str().filter(|s| set.contains(s)).ok_or_else(bad)?;
                json!(s)
            }
        };
        facts.insert(point.to_string(), value);
    }
    Ok(facts)
}

/// What hybrid extraction adds to `message` for the contact in `view`: no facts when the
/// tenant has it off, nothing is unsure, or the call failed; what it cost. Called before
/// the decision, outside any transaction.
pub(crate) fn hints(
    hybrid: &Hybrid,
    view: &ContactView,
    tenant: &TenantId,
    rules: &RuleSet,
    message: &Inbound,
    day: i64,
) -> Hints {
    let Some(llm) = rules.settings.hybrid() else {
        return Hints::default();
    };
    let contact = view.contact.as_ref();
    let asked = asked_of(contact, rules);
    let mut known = contact.map(|c| c.facts.clone()).unwrap_or_default();
    rules
        .extractor
        .extract_into(&message.text, asked.as_deref(), &mut known);
    for (k, v) in &message.facts {
        known.insert(k.clone(), v.clone());
    }
    let points = rules.extractor.unsure(&message.text, &known);
    if points.is_empty() {
        return Hints::default();
    }
    // Never the raw text: phone numbers, emails and the like are replaced first.
    let redacted = redact::redact(&message.text).text;
    let band = rules.settings.plausible_band();
    hybrid.ask(tenant, llm, (band.min, band.max), &points, &redacted, day)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn body(content: &str) -> String {
        json!({"choices": [{"message": {"content": content}}]}).to_string()
    }

    const BAND: (f64, f64) = (10_000.0, 20_000_000.0);

    #[test]
    fn values_are_checked() {
        let points = ["budget", "timeline", "bedrooms"];
        let ok = parse_answer(
            &body(r#"{"budget": 425000.4, "timeline": "next month", "bedrooms": null}"#),
            &points,
            BAND,
        )
        .unwrap();
        assert_eq!(
            ok,
            json!({"budget": 425000, "timeline": "next month"})
                .as_object()
                .cloned()
                .unwrap()
        );
        // A budget outside the band is dropped, not an error; the rest stands.
        let low = parse_answer(
            &body(r#"{"budget": 400, "timeline": "asap"}"#),
            &points,
            BAND,
        );
        assert_eq!(low.unwrap().keys().collect::<Vec<_>>(), ["timeline"]);
        for wrong in [
            r#"{"budget": "400k"}"#,
            r#"{"timeline": "tomorrow"}"#,
            r#"{"bedrooms": 40}"#,
            r#"{"financing": "cash"}"#,
            r#"["budget"]"#,
            "budget is 400k",
        ] {
            assert!(
                parse_answer(&body(wrong), &points, BAND).is_err(),
                "{wrong}"
            );
        }
        assert!(parse_answer("<html>", &points, BAND).is_err());
    }

    #[test]
    fn the_request_asks_for_the_points_with_a_strict_schema() {
        let llm = LlmSettings {
            enabled: true,
            base_url: "http://127.0.0.1:1/v1".into(),
            model: "m".into(),
            key_file: None,
            timeout_ms: 100,
            daily_calls: 1,
            max_tokens: 50,
        };
        let r = request(&llm, &["financing"], "still sorting out the mortgage");
        let schema = &r["response_format"]["json_schema"]["schema"];
        assert_eq!(schema["required"], json!(["financing"]));
        assert_eq!(schema["additionalProperties"], json!(false));
        assert!(schema["properties"]["financing"]["enum"]
            .as_array()
            .unwrap()
            .contains(&json!("cash")));
        assert_eq!(
            tokens_of(r#"{"usage": {"prompt_tokens": 7, "completion_tokens": 2}}"#),
            (7, 2)
        );
    }
}
