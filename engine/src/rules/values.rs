//! Conversion between the engine's values and Rhai's: the lead as hooks see it (built
//! once per decision, its data sizes counted on the way) and the hooks' results read
//! back into typed values, with an error naming the hook when a result has the wrong shape.

use crate::error::{Error, Result};
use crate::model::{Class, ConversationSize, Facts, Goal, Question};
use rhai::{Array, Dynamic, ImmutableString, Map, INT};
use serde_json::Value;

/// What a value counts against the sandbox's data limits, as Rhai counts it: array
/// items, map entries and string bytes, each summed over everything nested.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct DataSizes {
    pub items: usize,
    pub entries: usize,
    pub bytes: usize,
}

/// A JSON value as a Rhai value, built directly (no serde round trip on the hot path),
/// its data sizes added to `sizes` on the way (so the lead is never walked twice).
fn to_rhai(v: &Value, sizes: &mut DataSizes) -> Dynamic {
    match v {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Dynamic::from_int(i),
            None => Dynamic::from_float(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => text_sized(s, sizes),
        Value::Array(a) => {
            sizes.items += a.len();
            Dynamic::from_array(a.iter().map(|v| to_rhai(v, sizes)).collect())
        }
        Value::Object(m) => {
            sizes.entries += m.len();
            Dynamic::from_map(
                m.iter()
                    .map(|(k, v)| (k.as_str().into(), to_rhai(v, sizes)))
                    .collect(),
            )
        }
    }
}

/// A string as a Rhai value, its bytes counted.
fn text_sized(s: &str, sizes: &mut DataSizes) -> Dynamic {
    sizes.bytes += s.len();
    text(s)
}

fn text(s: &str) -> Dynamic {
    Dynamic::from(ImmutableString::from(s))
}

/// The lead as scripts see it: `#{facts, tags, goal, name, history}`. Built once per
/// decision; its data sizes are counted as it is built, for the sandbox's admission check.
#[derive(Clone)]
pub(crate) struct HookLead {
    pub(super) value: Dynamic,
    pub(super) sizes: DataSizes,
}

impl HookLead {
    /// The lead for a decision; `variants` are (experiment key, variant name) for every
    /// experiment the tenant defines, read by `variant(lead, key)`.
    pub fn new(
        facts: &Facts,
        tags: &[String],
        size: ConversationSize,
        variants: &[(&str, &str)],
    ) -> Self {
        let mut sizes = DataSizes::default();
        let mut m = Map::new();
        sizes.entries += facts.len();
        m.insert(
            "facts".into(),
            Dynamic::from_map(
                facts
                    .iter()
                    .map(|(k, v)| (k.as_str().into(), to_rhai(v, &mut sizes)))
                    .collect(),
            ),
        );
        sizes.items += tags.len();
        m.insert(
            "tags".into(),
            Dynamic::from_array(tags.iter().map(|t| text_sized(t, &mut sizes)).collect()),
        );
        m.insert(
            "goal".into(),
            Goal::of(facts).map_or(Dynamic::UNIT, |g| text_sized(g.as_str(), &mut sizes)),
        );
        m.insert(
            "name".into(),
            facts
                .get("name")
                .and_then(Value::as_str)
                .filter(|n| !n.trim().is_empty())
                .map_or(Dynamic::UNIT, |n| text_sized(n, &mut sizes)),
        );
        let mut history = Map::new();
        history.insert("messages".into(), Dynamic::from_int(size.messages as INT));
        history.insert("inbound".into(), Dynamic::from_int(size.inbound as INT));
        history.insert("outbound".into(), Dynamic::from_int(size.outbound() as INT));
        sizes.entries += history.len();
        m.insert("history".into(), Dynamic::from_map(history));
        if !variants.is_empty() {
            sizes.entries += variants.len();
            m.insert(
                "experiments".into(),
                Dynamic::from_map(
                    variants
                        .iter()
                        .map(|(k, v)| ((*k).into(), text_sized(v, &mut sizes)))
                        .collect(),
                ),
            );
        }
        sizes.entries += m.len();
        Self {
            value: Dynamic::from_map(m),
            sizes,
        }
    }
}

/// [`DataSizes`] of a Rhai value, by walking it, as Rhai counts them for its limits
/// (lowered runs check their values with it; the tests check the counts
/// [`HookLead::new`] keeps as it builds against it).
pub(super) fn data_sizes(v: &Dynamic) -> DataSizes {
    let add = |a: DataSizes, b: DataSizes| DataSizes {
        items: a.items + b.items,
        entries: a.entries + b.entries,
        bytes: a.bytes + b.bytes,
    };
    if v.is_string() {
        DataSizes {
            bytes: v.read_lock::<ImmutableString>().map_or(0, |s| s.len()),
            ..DataSizes::default()
        }
    } else if let Some(a) = v.read_lock::<Array>() {
        let own = DataSizes {
            items: a.len(),
            ..DataSizes::default()
        };
        a.iter().map(data_sizes).fold(own, add)
    } else if let Some(map) = v.read_lock::<Map>() {
        let own = DataSizes {
            entries: map.len(),
            ..DataSizes::default()
        };
        map.values().map(data_sizes).fold(own, add)
    } else {
        DataSizes::default()
    }
}

/// `v` with its own copy of every string, array and map in it (tags and read-only marks
/// kept): a value equal to `v` that shares no reference count with it. Threads that each
/// run a rule set often read their own copy of its settings and constants
/// ([`super::RuleSet`]): a copy of a shared string is an atomic count on one cache line
/// every core's decisions would otherwise contend on.
pub(super) fn unshared(v: &Dynamic) -> Dynamic {
    let mut out = if let Some(s) = v.read_lock::<ImmutableString>() {
        Dynamic::from(ImmutableString::from(s.as_str()))
    } else if let Some(a) = v.read_lock::<Array>() {
        Dynamic::from_array(a.iter().map(unshared).collect())
    } else if let Some(m) = v.read_lock::<Map>() {
        Dynamic::from_map(m.iter().map(|(k, v)| (k.clone(), unshared(v))).collect())
    } else {
        return v.clone();
    };
    out.set_tag(v.tag());
    if v.is_read_only() {
        out = out.into_read_only();
    }
    out
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

/// Where a hook is defined (`file:line:column`), worked out only for an error.
pub(super) type At<'a> = &'a dyn Fn() -> String;

/// An error in a hook's result, naming the tenant, the hook and where it is defined.
fn shape_error(tenant: &str, hook: &str, at: At<'_>, message: String) -> Error {
    Error::HookResult {
        at: at(),
        tenant: tenant.to_string(),
        hook: hook.to_string(),
        message,
    }
}

/// A value's kind in a tenant's words (never a Rust type name).
fn kind(v: &Dynamic) -> &'static str {
    if v.is_unit() {
        "nothing (`()`)"
    } else if v.is_int() {
        "an integer"
    } else if v.is_float() {
        "a decimal number"
    } else if v.is_bool() {
        "true or false"
    } else if v.is_string() {
        "a string"
    } else if v.is_array() {
        "an array"
    } else if v.is_map() {
        "a map"
    } else {
        "another kind of value"
    }
}

impl Scored {
    /// Reads the `score` hook's map: `score` and `class` required, the rest optional and
    /// filled in with their defaults (so `next_question` always sees the whole result).
    pub(super) fn read(tenant: &str, at: At<'_>, mut raw: Dynamic) -> Result<Self> {
        let err = |m: String| shape_error(tenant, "score", at, m);
        if !raw.is_map() {
            return Err(err(format!(
                "the result must be a map such as #{{ score: 2, class: \"warm\" }}, got {}",
                kind(&raw)
            )));
        }
        let mut scored = {
            let map = raw
                .read_lock::<Map>()
                .ok_or_else(|| err(format!("the result must be a map, got {}", kind(&raw))))?;
            let score = match map.get("score") {
                None => return Err(err("`score` is missing (required: an integer)".into())),
                Some(v) => v
                    .as_int()
                    .map_err(|_| err(format!("`score` must be an integer, got {}", kind(v))))?,
            };
            let class = match map.get("class") {
                None => {
                    return Err(err(
                        "`class` is missing (required: \"hot\", \"warm\" or \"cold\")".into(),
                    ))
                }
                Some(v) => match v.clone().into_immutable_string() {
                    Ok(text) => Class::parse(&text).ok_or_else(|| {
                        err(format!(
                            "`class` must be \"hot\", \"warm\" or \"cold\", got \"{text}\""
                        ))
                    })?,
                    Err(_) => {
                        return Err(err(format!(
                            "`class` must be \"hot\", \"warm\" or \"cold\", got {}",
                            kind(v)
                        )))
                    }
                },
            };
            let percent = match map.get("percent") {
                None => score.clamp(0, 100),
                Some(v) => v
                    .as_int()
                    .map_err(|_| err(format!("`percent` must be an integer, got {}", kind(v))))?,
            };
            let strings = |key: &str| -> Result<Vec<String>> {
                match map.get(key) {
                    None => Ok(Vec::new()),
                    Some(v) => {
                        let bad = || {
                            err(format!(
                                "`{key}` must be an array of strings such as [\"budget\"], got {}",
                                kind(v)
                            ))
                        };
                        v.read_lock::<Array>()
                            .ok_or_else(bad)?
                            .iter()
                            .map(|s| s.clone().into_string().map_err(|_| bad()))
                            .collect()
                    }
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
        // The documented defaults go into the map that `next_question` receives, so an
        // inherited `next_question` works with a `score` that returns only what is
        // required.
        // Each is built only when missing (a full result, the usual case, costs nothing).
        if let Some(mut map) = raw.write_lock::<Map>() {
            let defaults: [(&str, &dyn Fn() -> Dynamic); 5] = [
                ("percent", &|| Dynamic::from_int(scored.percent)),
                ("answered", &|| Dynamic::from_array(Array::new())),
                ("tags", &|| Dynamic::from_array(Array::new())),
                ("remove_tags", &|| Dynamic::from_array(Array::new())),
                ("rule", &|| Dynamic::from(scored.rule.clone())),
            ];
            for (key, value) in defaults {
                if !map.contains_key(key) {
                    map.insert(key.into(), value());
                }
            }
        }
        // The read lock is released: the map itself goes on to `next_question`.
        scored.raw = raw;
        Ok(scored)
    }
}

/// Reads the `next_question` hook's result: `()` for none, or `#{id, text, reason}`.
pub(super) fn read_question(tenant: &str, at: At<'_>, q: Dynamic) -> Result<Option<Question>> {
    if q.is_unit() {
        return Ok(None);
    }
    let err = |m: String| shape_error(tenant, "next_question", at, m);
    let map = q.read_lock::<Map>().ok_or_else(|| {
        err(format!(
            "the result must be a map such as #{{ id: \"budget\", text: \"...\" }} or (), got {}",
            kind(&q)
        ))
    })?;
    let field = |k: &str| map.get(k).and_then(|v| v.clone().into_string().ok());
    let text = match map.get("text") {
        None => return Err(err("`text` is missing (required: the text to send)".into())),
        Some(v) => {
            field("text").ok_or_else(|| err(format!("`text` must be a string, got {}", kind(v))))?
        }
    };
    Ok(Some(Question {
        id: field("id").unwrap_or_else(|| "question".into()),
        text,
        reason: field("reason").unwrap_or_default(),
    }))
}

/// Reads the `followup` hook's result: `()` for no text, or a string.
pub(super) fn read_followup(tenant: &str, at: At<'_>, out: Dynamic) -> Result<Option<String>> {
    if out.is_unit() {
        return Ok(None);
    }
    let what = kind(&out);
    out.into_string().map(Some).map_err(|_| {
        shape_error(
            tenant,
            "followup",
            at,
            format!("the result must be a string or (), got {what}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A thread's copy of a rule set's values equals them, marks and all, and shares no
    /// string with them.
    #[test]
    fn an_unshared_copy_is_equal_and_shares_no_string() {
        let mut tagged = Dynamic::from(ImmutableString::from("Hot-Lead"));
        tagged.set_tag(7);
        let list: Array = vec![tagged, Dynamic::from_int(3), Dynamic::from_float(0.5)];
        let mut map = Map::new();
        map.insert("tags".into(), Dynamic::from_array(list));
        map.insert("name".into(), Dynamic::from(ImmutableString::from("Jorge")));
        map.insert("none".into(), Dynamic::UNIT);
        let original = Dynamic::from_map(map).into_read_only();
        let copy = unshared(&original);
        assert_eq!(format!("{copy:?}"), format!("{original:?}"));
        assert!(copy.is_read_only());
        let (a, b) = (
            original.read_lock::<Map>().unwrap(),
            copy.read_lock::<Map>().unwrap(),
        );
        let strings = |m: &Map| {
            let tags = m["tags"].read_lock::<Array>().unwrap();
            let first = tags[0].clone();
            (first, m["name"].clone())
        };
        let ((t1, n1), (t2, n2)) = (strings(&a), strings(&b));
        assert_eq!(t2.tag(), 7);
        for (x, y) in [(t1, t2), (n1, n2)] {
            let (x, y) = (
                x.into_immutable_string().unwrap(),
                y.into_immutable_string().unwrap(),
            );
            assert_eq!(x, y);
            assert!(!x.ptr_eq(&y), "{x} is shared");
        }
    }

    /// The sizes counted while building the lead are the ones Rhai's own walk of the
    /// built value gives (the admission check relies on them).
    #[test]
    fn the_sizes_counted_while_building_a_lead_match_a_walk_of_it() {
        let facts: Facts = serde_json::from_value(json!({
            "budget": 450000,
            "location": ["Plano", "Frisco"],
            "must_haves": {"garage": true, "notes": ["big yard", "pool"]},
            "name": "Maria",
            "goal": "buy",
            "pre_approved": null,
            "rate": 6.5
        }))
        .unwrap();
        let tags = ["Hit List".to_string(), "Cold-Lead".to_string()];
        let size = ConversationSize {
            messages: 3,
            inbound: 2,
        };
        for variants in [&[][..], &[("opener", "short"), ("tone", "warm")][..]] {
            let lead = HookLead::new(&facts, &tags, size, variants);
            assert_eq!(lead.sizes, data_sizes(&lead.value), "variants {variants:?}");
        }
    }
}
