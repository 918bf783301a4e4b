//! The CSV import: one row per message, columns found by header name, rows grouped by
//! transcript id in order of first appearance (one hash lookup per row, so a large file
//! is linear), each bad row skipped with its line number.

use super::{bad_speaker, bad_time, no_file, non_empty, parse_timestamp};
use super::{Location, Message, Parsed, Skipped, Speaker, Transcript};
use crate::error::{Error, Result};
use csv::{ByteRecord, ReaderBuilder};
use std::collections::HashMap;
use std::io::Read;

/// Columns a transcript CSV must have.
const REQUIRED: [&str; 6] = [
    "id",
    "lead_type",
    "outcome",
    "timestamp",
    "speaker",
    "message",
];

/// Parses transcripts from CSV with a header row.
///
/// Columns are found by name (any order, any case): `id`, `lead_type`, `outcome`,
/// `timestamp`, `speaker` and `message` are required; `date`, `close_reason`, and the
/// message metadata `stage` and `question_type` are optional; other columns are ignored.
/// A missing required column is [`Error::TranscriptInput`].
///
/// Rows with the same id form one transcript, whatever their order in the file; its
/// `date`, `lead_type`, `outcome` and `close_reason` come from its first kept row, its
/// messages are sorted by time (same times keep the file's order), and
/// `questions_answered` is 0 (the format has no such column). Transcripts come out in the
/// order of their ids' first kept rows.
///
/// Skipped and reported by line: a row whose number of fields differs from the header's,
/// one without an id, with a time that does not parse, an unknown speaker, or a field
/// that is not UTF-8; and a transcript whose first kept row has no `lead_type` or
/// `outcome` (reported at that row).
pub fn parse_csv(reader: impl Read) -> Result<Parsed> {
    let mut csv = ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_reader(reader);
    let header = csv.byte_headers().map_err(read_error)?.clone();
    let columns = Columns::find(&header)?;

    let mut skipped = Vec::new();
    let mut groups: Vec<Group> = Vec::new();
    let mut by_id: HashMap<String, usize> = HashMap::new();
    let mut record = ByteRecord::new();
    while csv.read_byte_record(&mut record).map_err(read_error)? {
        let line = record.position().map_or(0, |p| p.line());
        let at = Location::Line(line);
        if record.len() != header.len() {
            skipped.push(Skipped {
                at,
                id: None,
                reason: format!(
                    "expected {} fields (as the header), found {}",
                    header.len(),
                    record.len()
                ),
            });
            continue;
        }
        let row = match Row::read(&record, &columns) {
            Ok(row) => row,
            Err((id, reason)) => {
                skipped.push(Skipped { at, id, reason });
                continue;
            }
        };
        let index = match by_id.get(&row.id) {
            Some(&i) => i,
            None => {
                by_id.insert(row.id.clone(), groups.len());
                groups.push(Group {
                    line,
                    id: row.id.clone(),
                    date: row.date,
                    lead_type: row.lead_type,
                    outcome: row.outcome,
                    close_reason: row.close_reason,
                    messages: Vec::new(),
                });
                groups.len() - 1
            }
        };
        groups[index].messages.push(row.message);
    }

    let mut parsed = Parsed {
        transcripts: Vec::with_capacity(groups.len()),
        skipped,
    };
    for group in groups {
        match (group.lead_type, group.outcome) {
            (Some(lead_type), Some(outcome)) => {
                let mut messages = group.messages;
                messages.sort_by_key(|m| m.at);
                parsed.transcripts.push(Transcript {
                    id: group.id,
                    date: group.date,
                    lead_type,
                    outcome,
                    close_reason: group.close_reason,
                    questions_answered: 0,
                    messages,
                    pathway_signals: Vec::new(),
                });
            }
            (lead_type, _) => parsed.skipped.push(Skipped {
                at: Location::Line(group.line),
                id: Some(group.id),
                reason: format!(
                    "{}: empty on the transcript's first row",
                    if lead_type.is_none() {
                        "lead_type"
                    } else {
                        "outcome"
                    }
                ),
            }),
        }
    }
    // Rows come first, transcripts at their first row's line: one order, the file's.
    parsed.skipped.sort_by_key(|s| match s.at {
        Location::Line(n) => n,
        Location::Index(i) => i as u64,
    });
    Ok(parsed)
}

/// One transcript being gathered: its metadata from its first kept row.
struct Group {
    line: u64,
    id: String,
    date: Option<String>,
    lead_type: Option<String>,
    outcome: Option<String>,
    close_reason: Option<String>,
    messages: Vec<Message>,
}

/// Where each column is in a row.
struct Columns {
    id: usize,
    lead_type: usize,
    outcome: usize,
    timestamp: usize,
    speaker: usize,
    message: usize,
    date: Option<usize>,
    close_reason: Option<usize>,
    stage: Option<usize>,
    question_type: Option<usize>,
}

impl Columns {
    fn find(header: &ByteRecord) -> Result<Columns> {
        let names: Vec<String> = header
            .iter()
            .map(|field| {
                String::from_utf8_lossy(field)
                    .trim_start_matches('\u{feff}')
                    .trim()
                    .to_ascii_lowercase()
            })
            .collect();
        let position = |name: &str| names.iter().position(|n| n == name);
        if let Some(absent) = REQUIRED.iter().find(|name| position(name).is_none()) {
            let message = if header.is_empty() {
                "no header row: the file is empty".to_string()
            } else {
                format!(
                    "missing column {absent:?}: a transcript CSV needs {} (found {})",
                    REQUIRED.join(", "),
                    names.join(", ")
                )
            };
            return Err(Error::TranscriptInput {
                file: no_file(),
                line: header.position().map_or(1, |p| p.line()),
                column: 0,
                message,
            });
        }
        let at = |name: &str| position(name).unwrap_or(usize::MAX);
        Ok(Columns {
            id: at("id"),
            lead_type: at("lead_type"),
            outcome: at("outcome"),
            timestamp: at("timestamp"),
            speaker: at("speaker"),
            message: at("message"),
            date: position("date"),
            close_reason: position("close_reason"),
            stage: position("stage"),
            question_type: position("question_type"),
        })
    }
}

/// One row, checked.
struct Row {
    id: String,
    date: Option<String>,
    lead_type: Option<String>,
    outcome: Option<String>,
    close_reason: Option<String>,
    message: Message,
}

impl Row {
    /// The row's fields, or its id (when readable) and why it is skipped. The record has
    /// as many fields as the header.
    fn read(record: &ByteRecord, c: &Columns) -> Result<Row, (Option<String>, String)> {
        let field = |i: usize, name: &str| -> Result<&str, String> {
            std::str::from_utf8(record.get(i).unwrap_or_default())
                .map_err(|_| format!("{name}: not valid UTF-8"))
        };
        let optional = |i: Option<usize>, name: &str| -> Result<Option<String>, String> {
            i.map_or(Ok(None), |i| field(i, name).map(non_empty))
        };
        let id = field(c.id, "id").map_err(|e| (None, e))?.trim();
        if id.is_empty() {
            return Err((None, "id: missing".into()));
        }
        let id = id.to_string();
        let rest = || -> Result<Row, String> {
            let time = field(c.timestamp, "timestamp")?;
            let at = parse_timestamp(time).ok_or_else(|| bad_time("timestamp", time))?;
            let label = field(c.speaker, "speaker")?;
            let speaker = Speaker::parse(label).ok_or_else(|| bad_speaker("speaker", label))?;
            Ok(Row {
                id: id.clone(),
                date: optional(c.date, "date")?,
                lead_type: optional(Some(c.lead_type), "lead_type")?,
                outcome: optional(Some(c.outcome), "outcome")?,
                close_reason: optional(c.close_reason, "close_reason")?,
                message: Message {
                    at,
                    speaker,
                    text: field(c.message, "message")?.to_string(),
                    stage: optional(c.stage, "stage")?,
                    question_type: optional(c.question_type, "question_type")?,
                },
            })
        };
        rest().map_err(|reason| (Some(id.clone()), reason))
    }
}

/// A failure of the CSV reader itself (I/O; with flexible records and byte fields
/// nothing else can fail). Bytes that are not UTF-8 are handled per field.
fn read_error(e: csv::Error) -> Error {
    let line = e.position().map_or(0, |p| p.line());
    let message = format!("unreadable CSV: {e}");
    match e.into_kind() {
        csv::ErrorKind::Io(source) => Error::Io {
            path: no_file(),
            source,
        },
        _ => Error::TranscriptInput {
            file: no_file(),
            line,
            column: 0,
            message,
        },
    }
}
