//! Conversion between the engine's values and Rhai's: the lead as hooks see it (built
//! once per decision, shared by every hook without copying) and the hooks' results read
//! back into typed values, with an error naming the hook when a result has the wrong shape.

use crate::error::{Error, Result};
use crate::model::{Class, ConversationSize, Facts, Goal, Question};
use rhai::{Array, Dynamic, ImmutableString, Map, INT};
use serde_json::Value;

/// A JSON value as a Rhai value, built directly (no serde round trip on the hot path).
fn to_rhai(v: &Value) -> Dynamic {
    match v {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Dynamic::from_int(i),
            None => Dynamic::from_float(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => Dynamic::from(ImmutableString::from(s.as_str())),
        Value::Array(a) => Dynamic::from_array(a.iter().map(to_rhai).collect()),
        Value::Object(m) => Dynamic::from_map(
            m.iter()
                .map(|(k, v)| (k.as_str().into(), to_rhai(v)))
                .collect(),
        ),
    }
}

fn text(s: &str) -> Dynamic {
    Dynamic::from(ImmutableString::from(s))
}

/// The lead as scripts see it: `#{facts, tags, goal, name, history}`. Built once per
/// decision; handing it to each hook clones a reference, not the map.
#[derive(Clone)]
pub(crate) struct HookLead(pub(super) Dynamic);

impl HookLead {
    /// The lead for a decision; `variants` are (experiment key, variant name) for every
    /// experiment the tenant defines, read by `variant(lead, key)`.
    pub fn new(
        facts: &Facts,
        tags: &[String],
        size: ConversationSize,
        variants: &[(&str, &str)],
    ) -> Self {
        let mut m = Map::new();
        m.insert(
            "facts".into(),
            Dynamic::from_map(
                facts
                    .iter()
                    .map(|(k, v)| (k.as_str().into(), to_rhai(v)))
                    .collect(),
            ),
        );
        m.insert(
            "tags".into(),
            Dynamic::from_array(tags.iter().map(|t| text(t)).collect()),
        );
        m.insert(
            "goal".into(),
            Goal::of(facts).map_or(Dynamic::UNIT, |g| text(g.as_str())),
        );
        m.insert(
            "name".into(),
            facts
                .get("name")
                .and_then(Value::as_str)
                .filter(|n| !n.trim().is_empty())
                .map_or(Dynamic::UNIT, text),
        );
        let mut history = Map::new();
        history.insert("messages".into(), Dynamic::from_int(size.messages as INT));
        history.insert("inbound".into(), Dynamic::from_int(size.inbound as INT));
        history.insert("outbound".into(), Dynamic::from_int(size.outbound() as INT));
        m.insert("history".into(), Dynamic::from_map(history));
        if !variants.is_empty() {
            m.insert(
                "experiments".into(),
                Dynamic::from_map(
                    variants
                        .iter()
                        .map(|(k, v)| ((*k).into(), text(v)))
                        .collect(),
                ),
            );
        }
        Self(Dynamic::from_map(m))
    }
}

/// What the `score` hook returned, read into typed values. The raw map is kept: it is
/// the `result` argument of `next_question`.
pub(crate) struct Scored {
    pub score: i64,
    pub class: Class,
    pub percent: i64,
    pub answered: Vec<String>,
    pub tags: Vec<String>,
    pub remove_tags: Vec<String>,
    /// The rule that decided the class, as the script wrote it.
    pub rule: String,
    pub(super) raw: Dynamic,
}

/// An error in a hook's result, naming the tenant and the hook.
fn shape_error(tenant: &str, hook: &str, message: String) -> Error {
    Error::HookResult {
        tenant: tenant.to_string(),
        hook: hook.to_string(),
        message,
    }
}

impl Scored {
    /// Reads the `score` hook's map: `score` and `class` required, the rest optional.
    pub(super) fn read(tenant: &str, raw: Dynamic) -> Result<Self> {
        let err = |m: String| shape_error(tenant, "score", m);
        let mut scored = {
            let map = raw
                .read_lock::<Map>()
                .ok_or_else(|| err(format!("expected a map, got {}", raw.type_name())))?;
            let score = map
                .get("score")
                .and_then(|v| v.as_int().ok())
                .ok_or_else(|| err("`score` must be an integer".into()))?;
            let class_text = map
                .get("class")
                .and_then(|v| v.clone().into_immutable_string().ok());
            let class = class_text
                .as_deref()
                .and_then(Class::parse)
                .ok_or_else(|| {
                    err(format!(
                        "`class` must be \"hot\", \"warm\" or \"cold\", got {class_text:?}"
                    ))
                })?;
            let percent = match map.get("percent") {
                None => score.clamp(0, 100),
                Some(v) => v
                    .as_int()
                    .map_err(|t| err(format!("`percent` must be an integer, got {t}")))?,
            };
            let strings = |key: &str| -> Result<Vec<String>> {
                let bad = || err(format!("`{key}` must be an array of strings"));
                match map.get(key) {
                    None => Ok(Vec::new()),
                    Some(v) => v
                        .read_lock::<Array>()
                        .ok_or_else(bad)?
                        .iter()
                        .map(|s| s.clone().into_string().map_err(|_| bad()))
                        .collect(),
                }
            };
            Self {
                score,
                class,
                percent,
                answered: strings("answered")?,
                tags: strings("tags")?,
                remove_tags: strings("remove_tags")?,
                rule: map.get("rule").map(|r| r.to_string()).unwrap_or_default(),
                raw: Dynamic::UNIT,
            }
        };
        // The read lock is released: the map itself goes on to `next_question`.
        scored.raw = raw;
        Ok(scored)
    }
}

/// Reads the `next_question` hook's result: `()` for none, or `#{id, text, reason}`.
pub(super) fn read_question(tenant: &str, q: Dynamic) -> Result<Option<Question>> {
    if q.is_unit() {
        return Ok(None);
    }
    let err = |m: String| shape_error(tenant, "next_question", m);
    let map = q
        .read_lock::<Map>()
        .ok_or_else(|| err(format!("expected a map or (), got {}", q.type_name())))?;
    let field = |k: &str| map.get(k).and_then(|v| v.clone().into_string().ok());
    let text = field("text").ok_or_else(|| err("`text` must be a string".into()))?;
    Ok(Some(Question {
        id: field("id").unwrap_or_else(|| "question".into()),
        text,
        reason: field("reason").unwrap_or_default(),
    }))
}

/// Reads the `followup` hook's result: `()` for no text, or a string.
pub(super) fn read_followup(tenant: &str, out: Dynamic) -> Result<Option<String>> {
    if out.is_unit() {
        return Ok(None);
    }
    out.into_string().map(Some).map_err(|t| {
        shape_error(
            tenant,
            "followup",
            format!("expected a string or (), got {t}"),
        )
    })
}
