//! Per-conversation metrics (the prototype's `ConversationMetrics`: duration, message
//! count, response time, questions asked, the wholesale/listing pathway) and their CSV
//! export, which reads back to exactly the values written.

use super::{no_file, Speaker, Transcript};
use crate::error::{Error, Result};
use csv::{ReaderBuilder, StringRecord, WriterBuilder};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::PathBuf;

/// Words that point to a wholesale deal (a quick cash sale of a house needing work).
pub const WHOLESALE_WORDS: [&str; 8] = [
    "as-is",
    "cash offer",
    "fast sale",
    "quick",
    "inherited",
    "fixer",
    "needs work",
    "no repairs",
];

/// Words that point to a listing (a house in good shape sold at market value).
pub const LISTING_WORDS: [&str; 7] = [
    "top dollar",
    "best price",
    "market value",
    "move-in ready",
    "updated",
    "renovated",
    "excellent condition",
];

/// The metrics CSV's columns, in the prototype's order.
pub const METRICS_HEADER: [&str; 10] = [
    "transcript_id",
    "lead_type",
    "outcome",
    "close_reason",
    "questions_answered",
    "duration_minutes",
    "message_count",
    "avg_response_time_seconds",
    "questions_asked",
    "pathway_identified",
];

/// How a seller's property would be sold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pathway {
    /// A quick cash sale, as-is.
    Wholesale,
    /// A listing at market value.
    Listing,
}

impl Pathway {
    /// `wholesale` or `listing`.
    pub fn as_str(self) -> &'static str {
        match self {
            Pathway::Wholesale => "wholesale",
            Pathway::Listing => "listing",
        }
    }

    /// The inverse of [`Pathway::as_str`] (exact, lower case).
    pub fn parse(label: &str) -> Option<Pathway> {
        match label {
            "wholesale" => Some(Pathway::Wholesale),
            "listing" => Some(Pathway::Listing),
            _ => None,
        }
    }
}

/// One transcript's metrics: a row of the export CSV.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConversationMetrics {
    /// The transcript's id.
    pub transcript_id: String,
    /// Its lead type.
    pub lead_type: String,
    /// Its outcome.
    pub outcome: String,
    /// Its close reason, when given.
    pub close_reason: Option<String>,
    /// The transcript's own `questions_answered`.
    pub questions_answered: u32,
    /// Minutes from the first message to the last (0 with fewer than two messages).
    pub duration_minutes: f64,
    /// Number of messages.
    pub message_count: u32,
    /// Mean gap, in seconds, before each message whose speaker differs from the previous
    /// message's (0 when the speaker never changes).
    pub avg_response_time_seconds: f64,
    /// Agent messages containing `?`.
    pub questions_asked: u32,
    /// The pathway the words point to: the side of [`WHOLESALE_WORDS`] and
    /// [`LISTING_WORDS`] with more hits, at least one; `None` on a tie.
    pub pathway_identified: Option<Pathway>,
}

/// The prototype's metrics of one transcript.
pub fn metrics(t: &Transcript) -> ConversationMetrics {
    let messages = &t.messages;
    let duration_minutes = match (messages.first(), messages.last()) {
        (Some(first), Some(last)) if messages.len() >= 2 => {
            last.at.duration_since(first.at).as_secs_f64() / 60.0
        }
        _ => 0.0,
    };
    let (mut gaps, mut total) = (0u32, 0.0f64);
    for pair in messages.windows(2) {
        if pair[0].speaker != pair[1].speaker {
            gaps += 1;
            total += pair[1].at.duration_since(pair[0].at).as_secs_f64();
        }
    }
    ConversationMetrics {
        transcript_id: t.id.clone(),
        lead_type: t.lead_type.clone(),
        outcome: t.outcome.clone(),
        close_reason: t.close_reason.clone(),
        questions_answered: t.questions_answered,
        duration_minutes,
        message_count: count(messages.len()),
        avg_response_time_seconds: if gaps == 0 {
            0.0
        } else {
            total / f64::from(gaps)
        },
        questions_asked: count(
            messages
                .iter()
                .filter(|m| m.speaker == Speaker::Agent && m.text.contains('?'))
                .count(),
        ),
        pathway_identified: pathway(t),
    }
}

/// Counts every occurrence of each word in each message (lower-cased), message by
/// message so that no hit spans two messages; the side with more hits wins.
pub(super) fn pathway(t: &Transcript) -> Option<Pathway> {
    let (mut wholesale, mut listing) = (0usize, 0usize);
    for m in &t.messages {
        let text = m.text.to_lowercase();
        wholesale += hits(&text, &WHOLESALE_WORDS);
        listing += hits(&text, &LISTING_WORDS);
    }
    match wholesale.cmp(&listing) {
        std::cmp::Ordering::Greater => Some(Pathway::Wholesale),
        std::cmp::Ordering::Less => Some(Pathway::Listing),
        std::cmp::Ordering::Equal => None,
    }
}

fn hits(text: &str, words: &[&str]) -> usize {
    words.iter().map(|w| text.matches(w).count()).sum()
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Writes the metrics CSV: the header (always, even with no rows) and one row per
/// metrics value. `None` is an empty cell; numbers use Rust's shortest representation
/// that reads back to the same `f64`, so [`read_metrics_csv`] returns exactly `rows`
/// (except that a close reason of `Some("")` reads back as `None`).
///
/// A write failure is [`Error::Io`] with the path `<output>`.
pub fn write_metrics_csv(w: impl Write, rows: &[ConversationMetrics]) -> Result<()> {
    let mut out = WriterBuilder::new().from_writer(w);
    out.write_record(METRICS_HEADER).map_err(write_error)?;
    for m in rows {
        out.write_record([
            m.transcript_id.as_str(),
            &m.lead_type,
            &m.outcome,
            m.close_reason.as_deref().unwrap_or(""),
            &m.questions_answered.to_string(),
            &m.duration_minutes.to_string(),
            &m.message_count.to_string(),
            &m.avg_response_time_seconds.to_string(),
            &m.questions_asked.to_string(),
            m.pathway_identified.map_or("", Pathway::as_str),
        ])
        .map_err(write_error)?;
    }
    out.flush().map_err(|source| Error::Io {
        path: PathBuf::from("<output>"),
        source,
    })
}

/// Reads a metrics CSV written by [`write_metrics_csv`] (columns found by header name,
/// in any order). Unlike a transcript import this is strict: the file is our own
/// output, so any row that does not parse is [`Error::TranscriptInput`] with its line.
pub fn read_metrics_csv(r: impl Read) -> Result<Vec<ConversationMetrics>> {
    let mut csv = ReaderBuilder::new().flexible(true).from_reader(r);
    let header = csv.headers().map_err(read_error)?.clone();
    let mut columns = [0usize; METRICS_HEADER.len()];
    for (slot, name) in columns.iter_mut().zip(METRICS_HEADER) {
        *slot = header
            .iter()
            .position(|h| h.trim_start_matches('\u{feff}') == name)
            .ok_or_else(|| input_error(1, format!("missing column {name:?}")))?;
    }
    let mut rows = Vec::new();
    let mut record = StringRecord::new();
    while csv.read_record(&mut record).map_err(read_error)? {
        let line = record.position().map_or(0, |p| p.line());
        if record.len() != header.len() {
            return Err(input_error(
                line,
                format!(
                    "expected {} fields (as the header), found {}",
                    header.len(),
                    record.len()
                ),
            ));
        }
        let cell = |i: usize| record.get(columns[i]).unwrap_or_default();
        let number = |i: usize| -> Result<f64> {
            cell(i).parse().map_err(|_| {
                input_error(
                    line,
                    format!("{}: {:?} is not a number", METRICS_HEADER[i], cell(i)),
                )
            })
        };
        let whole = |i: usize| -> Result<u32> {
            cell(i).parse().map_err(|_| {
                input_error(
                    line,
                    format!("{}: {:?} is not a count", METRICS_HEADER[i], cell(i)),
                )
            })
        };
        let pathway_identified = match cell(9) {
            "" => None,
            label => Some(Pathway::parse(label).ok_or_else(|| {
                input_error(
                    line,
                    format!("pathway_identified: {label:?} is not wholesale or listing"),
                )
            })?),
        };
        rows.push(ConversationMetrics {
            transcript_id: cell(0).to_string(),
            lead_type: cell(1).to_string(),
            outcome: cell(2).to_string(),
            close_reason: (!cell(3).is_empty()).then(|| cell(3).to_string()),
            questions_answered: whole(4)?,
            duration_minutes: number(5)?,
            message_count: whole(6)?,
            avg_response_time_seconds: number(7)?,
            questions_asked: whole(8)?,
            pathway_identified,
        });
    }
    Ok(rows)
}

fn input_error(line: u64, message: String) -> Error {
    Error::TranscriptInput {
        file: no_file(),
        line,
        column: 0,
        message,
    }
}

fn read_error(e: csv::Error) -> Error {
    let line = e.position().map_or(0, |p| p.line());
    let message = format!("unreadable CSV: {e}");
    match e.into_kind() {
        csv::ErrorKind::Io(source) => Error::Io {
            path: no_file(),
            source,
        },
        _ => input_error(line, message),
    }
}

fn write_error(e: csv::Error) -> Error {
    let source = match e.into_kind() {
        csv::ErrorKind::Io(source) => source,
        other => std::io::Error::other(format!("{other:?}")),
    };
    Error::Io {
        path: PathBuf::from("<output>"),
        source,
    }
}
