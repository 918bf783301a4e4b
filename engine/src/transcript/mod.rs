//! Transcripts in the prototype's formats: reading them (JSON in three shapes, CSV with
//! one row per message), per-conversation metrics and their CSV export, and the patterns
//! report over a set of transcripts. Pure: no store, no clock (the report's time is an
//! argument); the caller decides where transcripts go.
//!
//! Import never fails on one bad record: a transcript (JSON) or row (CSV) that cannot be
//! used is left out and listed in [`Parsed::skipped`] with where it was and why. Only
//! input that cannot be read at all (JSON that does not parse, a CSV without a required
//! column, an I/O error) is an [`Error`].
//!
//! ```
//! use qualify_engine::transcript::{metrics, parse_json, Pathway};
//!
//! let parsed = parse_json(r#"{"id": "t1", "lead_type": "seller", "outcome": "closed",
//!     "messages": [
//!         {"timestamp": "2026-01-05T10:00:00Z", "speaker": "bot", "message": "Any repairs needed?"},
//!         {"timestamp": "2026-01-05T10:01:30Z", "speaker": "user", "message": "It's a fixer, sold as-is"}
//!     ]}"#)?;
//! assert!(parsed.skipped.is_empty());
//! let m = metrics(&parsed.transcripts[0]);
//! assert_eq!((m.duration_minutes, m.avg_response_time_seconds), (1.5, 90.0));
//! assert_eq!(m.pathway_identified, Some(Pathway::Wholesale));
//! # Ok::<(), qualify_engine::Error>(())
//! ```

mod json;
mod metrics;
mod patterns;
mod rows;

pub use json::parse_json;
pub use metrics::{
    metrics, read_metrics_csv, write_metrics_csv, ConversationMetrics, Pathway, LISTING_WORDS,
    METRICS_HEADER, WHOLESALE_WORDS,
};
pub use patterns::{
    patterns, CloseRates, ClosingPhrase, ConversationsByType, Impact, PathwaySignals,
    PatternsReport, QuestionPosition, Recommendation, ReportMetrics, ReportPatterns, SignalCount,
    SignalDefaults, Summary, WinningQuestion, KEYWORDS,
};
pub use rows::parse_csv;

use crate::error::{Error, Result};
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

/// Who wrote a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Speaker {
    /// The lead (`"user"` in the prototype's files).
    #[serde(alias = "user")]
    Lead,
    /// The bot or a human agent (`"bot"` in the prototype's files).
    #[serde(alias = "bot")]
    Agent,
}

impl Speaker {
    /// Reads a speaker label: `user` or `lead` is the lead, `bot` or `agent` the agent,
    /// in any case, surrounding spaces ignored. Anything else is `None`.
    pub fn parse(label: &str) -> Option<Speaker> {
        let label = label.trim();
        if label.eq_ignore_ascii_case("user") || label.eq_ignore_ascii_case("lead") {
            Some(Speaker::Lead)
        } else if label.eq_ignore_ascii_case("bot") || label.eq_ignore_ascii_case("agent") {
            Some(Speaker::Agent)
        } else {
            None
        }
    }

    /// `lead` or `agent`.
    pub fn as_str(self) -> &'static str {
        match self {
            Speaker::Lead => "lead",
            Speaker::Agent => "agent",
        }
    }
}

/// One message of a transcript.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// When it was sent.
    pub at: Timestamp,
    /// Who sent it.
    pub speaker: Speaker,
    /// The text (empty when the file gave none).
    pub text: String,
    /// `metadata.stage` (e.g. `closing`), when given.
    pub stage: Option<String>,
    /// `metadata.question_type` (e.g. `budget`), when given.
    pub question_type: Option<String>,
}

/// One conversation as the prototype recorded it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transcript {
    /// The transcript's id, unique within an import.
    pub id: String,
    /// The `date` field as written (not interpreted).
    pub date: Option<String>,
    /// `buyer` or `seller` in the prototype's data; other values are kept.
    pub lead_type: String,
    /// `closed` or `lost` in the prototype's data; only `closed` counts as a success.
    pub outcome: String,
    /// Why it closed or was lost; an empty value reads as `None`.
    pub close_reason: Option<String>,
    /// The file's `questions_answered` (0 when absent, always 0 from CSV).
    pub questions_answered: u32,
    /// The messages, sorted by time; messages with the same time keep the file's order.
    /// Never empty.
    pub messages: Vec<Message>,
    /// `insights.pathway_signals`, flattened into one list in the file's order.
    pub pathway_signals: Vec<String>,
}

/// Where a skipped record was in its file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Location {
    /// JSON: the 0-based index of the transcript in its list (as in `jq '.[3]'`); a file
    /// holding one transcript object has index 0.
    Index(usize),
    /// CSV: the 1-based physical line where the row starts (the header is line 1).
    Line(u64),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Index(i) => write!(f, "transcript #{i}"),
            Location::Line(n) => write!(f, "line {n}"),
        }
    }
}

/// A transcript or row left out of an import, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// Where it was.
    pub at: Location,
    /// Its id, when it had a readable one.
    pub id: Option<String>,
    /// What is wrong, naming the field (`messages[2].timestamp: "yesterday" is not an
    /// ISO 8601 time`). Quotes short values (times, labels), never message text.
    pub reason: String,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.id {
            Some(id) => write!(f, "{} (id {id:?}): {}", self.at, self.reason),
            None => write!(f, "{}: {}", self.at, self.reason),
        }
    }
}

/// The result of an import: the transcripts kept, in the file's order (CSV: the order of
/// each id's first row), and what was left out.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Parsed {
    /// Valid transcripts.
    pub transcripts: Vec<Transcript>,
    /// Records left out, in the file's order.
    pub skipped: Vec<Skipped>,
}

/// Reads a transcript file: `.csv` (any case) as CSV, anything else as JSON.
///
/// A missing or unreadable file is [`Error::Io`] with the path; errors about the content
/// ([`Error::TranscriptInput`]) name the path too.
pub fn read_file(path: &Path) -> Result<Parsed> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let is_csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let parsed = if is_csv {
        let file = std::fs::File::open(path).map_err(io)?;
        parse_csv(file)
    } else {
        let bytes = std::fs::read(path).map_err(io)?;
        json::parse_json_bytes(&bytes)
    };
    parsed.map_err(|e| match e {
        Error::TranscriptInput {
            line,
            column,
            message,
            ..
        } => Error::TranscriptInput {
            file: path.to_path_buf(),
            line,
            column,
            message,
        },
        Error::Io { source, .. } => io(source),
        other => other,
    })
}

/// Reads a message time: RFC 3339 / ISO 8601 with `Z` or an offset
/// (`2026-01-05T10:00:00Z`, `2026-01-05T10:00:00.250-05:00`), or a time without an
/// offset, taken as UTC (`2026-01-05T10:00:00`, `2026-01-05 10:00:00`, seconds
/// optional). A space may replace the `T` in every form. Surrounding spaces are ignored.
pub fn parse_timestamp(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    if let Ok(t) = text.parse::<Timestamp>() {
        return Some(t);
    }
    // Without an offset: only a plain date and time, so that a date alone, a bad offset
    // or a time zone annotation is refused rather than silently read as UTC.
    let bytes = text.as_bytes();
    let plain = bytes.len() > 11
        && matches!(bytes[10], b'T' | b't' | b' ')
        && bytes[11..]
            .iter()
            .all(|b| b.is_ascii_digit() || matches!(b, b':' | b'.' | b','));
    if !plain {
        return None;
    }
    let civil: DateTime = text.parse().ok()?;
    TimeZone::UTC.to_timestamp(civil).ok()
}

/// The reason for a time that [`parse_timestamp`] refused.
fn bad_time(field: &str, value: &str) -> String {
    format!("{field}: {} is not an ISO 8601 time", quoted(value))
}

/// The reason for a speaker label that [`Speaker::parse`] refused.
fn bad_speaker(field: &str, value: &str) -> String {
    format!(
        "{field}: {} is not a speaker (user/lead or bot/agent)",
        quoted(value)
    )
}

/// A short value quoted for a reason: at most 40 characters, so a reason stays one
/// readable line even when a message's text landed in the wrong column.
fn quoted(value: &str) -> String {
    const MAX: usize = 40;
    match value.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}...", &value[..cut]),
        None => format!("{value:?}"),
    }
}

/// An empty or blank string as `None`.
fn non_empty(value: &str) -> Option<String> {
    (!value.trim().is_empty()).then(|| value.to_string())
}

/// The placeholder file name in errors about text that came from no file;
/// [`read_file`] replaces it with the path.
fn no_file() -> PathBuf {
    PathBuf::from("<input>")
}
