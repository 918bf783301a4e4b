//! The JSON import: the prototype's three shapes (one transcript object, a list, or
//! `{"transcripts": [...], ...}`), each transcript checked field by field so that a wrong
//! type or a bad time skips that transcript with a reason instead of failing the file.
//!
//! The text is read straight into loose records ([`Loose`]: a field holds the expected
//! kind, null, or a note of the wrong kind found), borrowing unescaped strings, rather
//! than into a `serde_json::Value` tree: building and dropping a map per message was most
//! of the time of a large import. Only JSON syntax can fail the whole file.

use super::{bad_speaker, bad_time, no_file, non_empty, parse_timestamp, quoted};
use super::{Location, Message, Parsed, Skipped, Speaker, Transcript};
use crate::error::{Error, Result};
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Number;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;

/// Parses transcripts from JSON text in any of the three shapes.
///
/// Text that is not JSON is [`Error::TranscriptInput`] with the line and column; so is a
/// top-level value that is not an object or a list, or a `transcripts` key that does not
/// hold a list. A transcript that is not valid (missing `id`, `lead_type` or `outcome`,
/// no messages, a value of the wrong type, a time that does not parse, an unknown
/// speaker, an id seen earlier in the file) is skipped and listed in
/// [`Parsed::skipped`] by its index. When a key appears twice in one object, the last
/// one counts.
pub fn parse_json(text: &str) -> Result<Parsed> {
    parse_json_bytes(text.as_bytes())
}

/// [`parse_json`] over bytes, so a file is checked for UTF-8 by the JSON parser, which
/// reports where.
pub(super) fn parse_json_bytes(bytes: &[u8]) -> Result<Parsed> {
    let top: Loose<Top<'_>> = serde_json::from_slice(bytes).map_err(|e| {
        let full = e.to_string();
        // serde_json appends " at line L column C"; the error carries them as fields.
        let message = match full.rfind(" at line ") {
            Some(cut) => &full[..cut],
            None => &full[..],
        };
        Error::TranscriptInput {
            file: no_file(),
            line: e.line() as u64,
            column: e.column() as u64,
            message: format!("invalid JSON: {message}"),
        }
    })?;
    let shape_error = |message: String| Error::TranscriptInput {
        file: no_file(),
        line: 0,
        column: 0,
        message,
    };
    let items = match top {
        Loose::Value(Top::List(items)) => items,
        Loose::Value(Top::Object(mut one)) => match one.transcripts.take() {
            None => vec![Loose::Value(one)],
            Some(Loose::Value(items)) => items,
            Some(other) => {
                return Err(shape_error(format!(
                    "\"transcripts\" must be a list, found {}",
                    other.kind()
                )))
            }
        },
        other => {
            return Err(shape_error(format!(
                "expected a transcript object, a list of transcripts or {{\"transcripts\": [...]}}, found {}",
                other.kind()
            )))
        }
    };

    let mut parsed = Parsed::default();
    let mut seen: HashMap<String, usize> = HashMap::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let at = Location::Index(index);
        let mut raw = match item {
            Loose::Value(raw) => raw,
            other => {
                parsed.skipped.push(Skipped {
                    at,
                    id: None,
                    reason: format!("expected a transcript object, found {}", other.kind()),
                });
                continue;
            }
        };
        let id = match required(std::mem::take(&mut raw.id), "id") {
            Ok(id) => id,
            Err(reason) => {
                parsed.skipped.push(Skipped {
                    at,
                    id: None,
                    reason,
                });
                continue;
            }
        };
        if let Some(first) = seen.get(&id) {
            let reason = format!("id: {} repeats transcript #{first}", quoted(&id));
            parsed.skipped.push(Skipped {
                at,
                id: Some(id),
                reason,
            });
            continue;
        }
        match transcript(id.clone(), raw) {
            Ok(t) => {
                seen.insert(id, index);
                parsed.transcripts.push(t);
            }
            Err(reason) => parsed.skipped.push(Skipped {
                at,
                id: Some(id),
                reason,
            }),
        }
    }
    Ok(parsed)
}

/// One transcript, its id already read. Errors are `field: problem`.
fn transcript(id: String, raw: RawTranscript<'_>) -> Result<Transcript, String> {
    let lead_type = required(raw.lead_type, "lead_type")?;
    let outcome = required(raw.outcome, "outcome")?;
    let date = optional(raw.date, "date")?;
    let close_reason = optional(raw.close_reason, "close_reason")?;
    let questions_answered = match raw.questions_answered {
        Loose::Null => 0,
        Loose::Value(n) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| format!("questions_answered: {n} is not a count"))?,
        other => return Err(wrong("questions_answered", "a number", &other)),
    };
    let list = match raw.messages {
        Loose::Null => return Err("messages: missing".into()),
        Loose::Value(list) if list.is_empty() => return Err("messages: empty list".into()),
        Loose::Value(list) => list,
        other => return Err(wrong("messages", "a list", &other)),
    };
    let mut messages = Vec::with_capacity(list.len());
    for (i, item) in list.into_iter().enumerate() {
        match item {
            Loose::Value(m) => messages.push(message(m).map_err(|e| format!("messages[{i}].{e}"))?),
            other => return Err(wrong(&format!("messages[{i}]"), "an object", &other)),
        }
    }
    // Stable: messages with the same time keep the file's order.
    messages.sort_by_key(|m| m.at);
    let pathway_signals = match raw.insights {
        Loose::Null => Vec::new(),
        Loose::Value(insights) => signals(insights.pathway_signals)?,
        other => return Err(wrong("insights", "an object", &other)),
    };
    Ok(Transcript {
        id,
        date,
        lead_type,
        outcome,
        close_reason,
        questions_answered,
        messages,
        pathway_signals,
    })
}

/// One message. Errors are `field: problem`.
fn message(raw: RawMessage<'_>) -> Result<Message, String> {
    let time = required(raw.timestamp, "timestamp")?;
    let at = parse_timestamp(&time).ok_or_else(|| bad_time("timestamp", &time))?;
    let label = required(raw.speaker, "speaker")?;
    let speaker = Speaker::parse(&label).ok_or_else(|| bad_speaker("speaker", &label))?;
    // A message without text (a media message, say) is kept with empty text.
    let text = match raw.message {
        Loose::Null => String::new(),
        Loose::Value(text) => text.into_owned(),
        other => return Err(wrong("message", "a string", &other)),
    };
    let (stage, question_type) = match raw.metadata {
        Loose::Null => (None, None),
        Loose::Value(meta) => (
            optional(meta.stage, "metadata.stage")?,
            optional(meta.question_type, "metadata.question_type")?,
        ),
        other => return Err(wrong("metadata", "an object", &other)),
    };
    Ok(Message {
        at,
        speaker,
        text,
        stage,
        question_type,
    })
}

/// `insights.pathway_signals`: a list of strings, or an object whose values are lists of
/// strings (e.g. `{"wholesale": [...], "listing": [...]}`), flattened in the file's
/// order. Blank strings are dropped.
fn signals(value: Loose<Signals<'_>>) -> Result<Vec<String>, String> {
    const FIELD: &str = "insights.pathway_signals";
    let mut out = Vec::new();
    match value {
        Loose::Null => {}
        Loose::Value(Signals::List(list)) => strings(list, FIELD, &mut out)?,
        Loose::Value(Signals::Groups(groups)) => {
            for (key, group) in groups {
                match group {
                    Loose::Null => {}
                    Loose::Value(list) => strings(list, &format!("{FIELD}.{key}"), &mut out)?,
                    other => return Err(wrong(&format!("{FIELD}.{key}"), "a list", &other)),
                }
            }
        }
        other => return Err(wrong(FIELD, "a list or an object of lists", &other)),
    }
    Ok(out)
}

/// Appends a list's strings to `out`; `field` names the list in errors.
fn strings(list: Strings<'_>, field: &str, out: &mut Vec<String>) -> Result<(), String> {
    for (i, item) in list.into_iter().enumerate() {
        match item {
            Loose::Value(s) => out.extend(non_empty(&s)),
            other => return Err(wrong(&format!("{field}[{i}]"), "a string", &other)),
        }
    }
    Ok(())
}

/// A string field that must be present and not blank.
fn required(value: Loose<Cow<'_, str>>, field: &str) -> Result<String, String> {
    match value {
        Loose::Null => Err(format!("{field}: missing")),
        Loose::Value(s) if s.trim().is_empty() => Err(format!("{field}: empty")),
        Loose::Value(s) => Ok(s.into_owned()),
        other => Err(wrong(field, "a string", &other)),
    }
}

/// A string field that may be absent, null or blank (all `None`).
fn optional(value: Loose<Cow<'_, str>>, field: &str) -> Result<Option<String>, String> {
    match value {
        Loose::Null => Ok(None),
        Loose::Value(s) => Ok(non_empty(&s)),
        other => Err(wrong(field, "a string", &other)),
    }
}

/// `field: expected <expected>, found <kind>`.
fn wrong<T>(field: &str, expected: &str, found: &Loose<T>) -> String {
    format!("{field}: expected {expected}, found {}", found.kind())
}

// ---------------------------------------------------------------- loose records

/// A JSON value read without failing on its kind: the kind expected (`Value`), `null` or
/// an absent key (`Null`), or anything else (`Wrong`, consumed and named).
#[derive(Default)]
enum Loose<T> {
    #[default]
    Null,
    Value(T),
    Wrong(&'static str),
}

impl<T> Loose<T> {
    /// What was found, for reasons ("found a number"); only asked of a `Null` or a
    /// `Wrong`.
    fn kind(&self) -> &'static str {
        match self {
            Loose::Null => "null",
            Loose::Value(_) => "a value of the expected kind",
            Loose::Wrong(kind) => kind,
        }
    }
}

/// The JSON kinds a loose field accepts; every other kind is consumed and becomes
/// [`Loose::Wrong`].
trait Accept<'de>: Sized {
    fn from_str(_: Cow<'de, str>) -> Option<Self> {
        None
    }

    fn from_number(_: Number) -> Option<Self> {
        None
    }

    fn from_seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Self>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

impl<'de> Accept<'de> for Cow<'de, str> {
    fn from_str(s: Cow<'de, str>) -> Option<Self> {
        Some(s)
    }
}

impl Accept<'_> for Number {
    fn from_number(n: Number) -> Option<Self> {
        Some(n)
    }
}

impl<'de, E: Deserialize<'de>> Accept<'de> for Vec<E> {
    fn from_seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Self>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Some(items))
    }
}

impl<'de, T: Accept<'de>> Deserialize<'de> for Loose<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LooseVisitor(PhantomData))
    }
}

struct LooseVisitor<T>(PhantomData<T>);

fn accepted<T>(value: Option<T>, kind: &'static str) -> Loose<T> {
    value.map_or(Loose::Wrong(kind), Loose::Value)
}

impl<'de, T: Accept<'de>> Visitor<'de> for LooseVisitor<T> {
    type Value = Loose<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Loose<T>, E> {
        Ok(Loose::Null)
    }

    fn visit_none<E>(self) -> Result<Loose<T>, E> {
        Ok(Loose::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Loose<T>, D::Error> {
        Loose::deserialize(d)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Loose<T>, E> {
        Ok(Loose::Wrong("a boolean"))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Loose<T>, E> {
        Ok(accepted(T::from_number(n.into()), "a number"))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Loose<T>, E> {
        Ok(accepted(T::from_number(n.into()), "a number"))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Loose<T>, E> {
        Ok(accepted(
            Number::from_f64(n).and_then(T::from_number),
            "a number",
        ))
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Loose<T>, E> {
        Ok(accepted(T::from_str(Cow::Borrowed(s)), "a string"))
    }

    fn visit_str<E>(self, s: &str) -> Result<Loose<T>, E> {
        Ok(accepted(T::from_str(Cow::Owned(s.to_string())), "a string"))
    }

    fn visit_string<E>(self, s: String) -> Result<Loose<T>, E> {
        Ok(accepted(T::from_str(Cow::Owned(s)), "a string"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Loose<T>, A::Error> {
        Ok(accepted(T::from_seq(seq)?, "a list"))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Loose<T>, A::Error> {
        Ok(accepted(T::from_map(map)?, "an object"))
    }
}

/// An object key, borrowed from the text unless it holds escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_string())))
            }
            fn visit_string<E>(self, s: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// Reads an object's fields: `$( "key" => field )*`, unknown keys skipped, the last of
/// a repeated key kept.
macro_rules! fields {
    ($map:ident, $record:ident { $($key:literal => $field:ident),* $(,)? }) => {{
        let mut record = $record::default();
        while let Some(Key(key)) = $map.next_key()? {
            match &*key {
                $($key => record.$field = $map.next_value()?,)*
                _ => {
                    $map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Some(record))
    }};
}

/// The top level: a list of transcripts, or one object (a transcript, or the wrapper
/// when it has a `transcripts` key).
enum Top<'de> {
    List(Vec<Loose<RawTranscript<'de>>>),
    Object(RawTranscript<'de>),
}

impl<'de> Accept<'de> for Top<'de> {
    fn from_seq<A: SeqAccess<'de>>(seq: A) -> Result<Option<Self>, A::Error> {
        Ok(Vec::from_seq(seq)?.map(Top::List))
    }

    fn from_map<A: MapAccess<'de>>(map: A) -> Result<Option<Self>, A::Error> {
        Ok(RawTranscript::from_map(map)?.map(Top::Object))
    }
}

#[derive(Default)]
struct RawTranscript<'de> {
    id: Loose<Cow<'de, str>>,
    date: Loose<Cow<'de, str>>,
    lead_type: Loose<Cow<'de, str>>,
    outcome: Loose<Cow<'de, str>>,
    close_reason: Loose<Cow<'de, str>>,
    questions_answered: Loose<Number>,
    messages: Loose<Vec<Loose<RawMessage<'de>>>>,
    insights: Loose<RawInsights<'de>>,
    /// Only meaningful at the top level, where it makes the object the wrapper.
    transcripts: Option<Loose<Vec<Loose<RawTranscript<'de>>>>>,
}

impl<'de> Accept<'de> for RawTranscript<'de> {
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        fields!(map, RawTranscript {
            "id" => id,
            "date" => date,
            "lead_type" => lead_type,
            "outcome" => outcome,
            "close_reason" => close_reason,
            "questions_answered" => questions_answered,
            "messages" => messages,
            "insights" => insights,
            "transcripts" => transcripts,
        })
    }
}

#[derive(Default)]
struct RawMessage<'de> {
    timestamp: Loose<Cow<'de, str>>,
    speaker: Loose<Cow<'de, str>>,
    message: Loose<Cow<'de, str>>,
    metadata: Loose<RawMetadata<'de>>,
}

impl<'de> Accept<'de> for RawMessage<'de> {
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        fields!(map, RawMessage {
            "timestamp" => timestamp,
            "speaker" => speaker,
            "message" => message,
            "metadata" => metadata,
        })
    }
}

#[derive(Default)]
struct RawMetadata<'de> {
    stage: Loose<Cow<'de, str>>,
    question_type: Loose<Cow<'de, str>>,
}

impl<'de> Accept<'de> for RawMetadata<'de> {
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        fields!(map, RawMetadata {
            "stage" => stage,
            "question_type" => question_type,
        })
    }
}

#[derive(Default)]
struct RawInsights<'de> {
    pathway_signals: Loose<Signals<'de>>,
}

impl<'de> Accept<'de> for RawInsights<'de> {
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        fields!(map, RawInsights {
            "pathway_signals" => pathway_signals,
        })
    }
}

/// A list of loose strings.
type Strings<'de> = Vec<Loose<Cow<'de, str>>>;

/// `pathway_signals` in either of its shapes.
enum Signals<'de> {
    List(Strings<'de>),
    Groups(Vec<(String, Loose<Strings<'de>>)>),
}

impl<'de> Accept<'de> for Signals<'de> {
    fn from_seq<A: SeqAccess<'de>>(seq: A) -> Result<Option<Self>, A::Error> {
        Ok(Vec::from_seq(seq)?.map(Signals::List))
    }

    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        let mut groups = Vec::new();
        while let Some(Key(key)) = map.next_key()? {
            groups.push((key.into_owned(), map.next_value()?));
        }
        Ok(Some(Signals::Groups(groups)))
    }
}
