//! The patterns report over a set of transcripts: what the closed conversations had in
//! common (questions, their order, closing lines, keywords, pathway signals), close rates
//! by lead type, and recommendations drawn only from what the data shows. Every rate is a
//! percentage in 0..=100 and every average is `None` (JSON `null`) when there is nothing
//! to divide by.

use super::metrics::pathway;
use super::{Pathway, Speaker, Transcript};
use jiff::Timestamp;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

/// The words [`ReportPatterns::keyword_patterns`] counts, in report order.
pub const KEYWORDS: [&str; 17] = [
    "budget",
    "location",
    "timeline",
    "beds",
    "baths",
    "pre-approved",
    "asap",
    "urgent",
    "cash",
    "financing",
    "schools",
    "move-in ready",
    "fixer",
    "as-is",
    "renovated",
    "updated",
    "condition",
];

/// The prototype's fallback cues, reported as defaults, never as data.
const DEFAULT_WHOLESALE: [&str; 6] = [
    "as-is",
    "fast",
    "cash offer",
    "no repairs",
    "inherited",
    "fixer",
];
const DEFAULT_LISTING: [&str; 6] = [
    "top dollar",
    "best price",
    "market value",
    "move-in ready",
    "updated",
    "renovated",
];

/// How many closing phrases the report keeps.
const CLOSING_PHRASES: usize = 10;

/// The prototype's thresholds for the efficiency and pacing recommendations.
const EFFICIENT_QUESTIONS: f64 = 7.0;
const BRISK_MINUTES: f64 = 10.0;

/// The report, with the prototype's keys. Serialize it for the JSON form; see
/// [`PatternsReport::to_text`] for the readable one.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PatternsReport {
    /// When the report was made (the `now` given to [`patterns`]).
    pub generated_at: Timestamp,
    /// Totals and averages.
    pub summary: Summary,
    /// What the closed conversations had in common.
    pub patterns: ReportPatterns,
    /// Close rates and counts by lead type.
    pub metrics: ReportMetrics,
    /// What to change, each backed by the data above.
    pub recommendations: Vec<Recommendation>,
}

/// Totals and averages. A conversation is a success when its outcome is `closed` (any
/// case).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    /// Transcripts in the report.
    pub total_transcripts: u32,
    /// Of which closed.
    pub successful_closes: u32,
    /// `successful_closes / total_transcripts` in percent; `None` without transcripts.
    pub close_rate: Option<f64>,
    /// Mean `questions_answered` of the closed transcripts that recorded one (a 0 means
    /// not recorded: the CSV format has no such column); `None` when none did.
    pub avg_questions_to_close: Option<f64>,
    /// Mean duration in minutes of the closed transcripts; `None` when none closed.
    pub avg_conversation_duration_minutes: Option<f64>,
}

/// What the closed conversations had in common.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReportPatterns {
    /// Question types the agent asked in closed conversations, most asked first.
    pub winning_questions: Vec<WinningQuestion>,
    /// The agent's most frequent messages at the `closing` stage of closed conversations
    /// (at most 10, most frequent first).
    pub successful_closing_phrases: Vec<ClosingPhrase>,
    /// Question types by their average first position in closed conversations.
    pub optimal_question_order: Vec<QuestionPosition>,
    /// For each of [`KEYWORDS`], in that order, how many closed conversations mention it
    /// (any speaker, any case). A JSON object in the report.
    #[serde(serialize_with = "as_map")]
    pub keyword_patterns: Vec<(String, u32)>,
    /// The `insights.pathway_signals` of closed conversations, by detected pathway.
    pub pathway_signals: PathwaySignals,
}

/// One question type of the closed conversations.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WinningQuestion {
    /// The agent messages' `metadata.question_type`.
    pub question_type: String,
    /// How many times it was asked, in all closed conversations together.
    pub frequency: u32,
    /// In how many closed conversations it was asked at least once.
    pub transcripts: u32,
    /// `transcripts` as a percentage of the closed conversations: 0..=100 (the prototype
    /// divided `frequency`, which passes 100 when a question is asked twice).
    pub appears_in_percent: f64,
    /// Asked in more than half of the closed conversations.
    pub recommended: bool,
}

/// A closing line and how often it was used.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClosingPhrase {
    /// The message text (trimmed).
    pub phrase: String,
    /// Times used in closed conversations.
    pub frequency: u32,
}

/// Where a question type tends to come first.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QuestionPosition {
    /// The question type.
    pub question_type: String,
    /// Mean 0-based index, among a conversation's messages, of the first message asking
    /// it, over the closed conversations that asked it.
    pub average_first_position: f64,
    /// Closed conversations that asked it.
    pub transcripts: u32,
}

/// Pathway signals as found in the data, with the prototype's defaults kept apart.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PathwaySignals {
    /// Signals of closed conversations detected as wholesale, most common first.
    pub wholesale: Vec<SignalCount>,
    /// Signals of closed conversations detected as listing, most common first.
    pub listing: Vec<SignalCount>,
    /// The prototype's fixed cues: not from the data, shown as a starting point.
    pub defaults: SignalDefaults,
}

/// One signal and how many conversations gave it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SignalCount {
    /// The signal as first written.
    pub signal: String,
    /// Closed conversations whose insights list it (compared ignoring case).
    pub transcripts: u32,
}

/// The prototype's fallback cues for each pathway.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SignalDefaults {
    /// Wholesale cues.
    pub wholesale: &'static [&'static str],
    /// Listing cues.
    pub listing: &'static [&'static str],
}

/// Close rates and counts by lead type.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReportMetrics {
    /// Percentages closed.
    pub close_rates: CloseRates,
    /// Conversations by lead type.
    pub conversations_by_type: ConversationsByType,
}

/// Close rates in percent, `None` (JSON `null`) when there is no conversation to count.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CloseRates {
    /// Of buyer conversations.
    pub buyer: Option<f64>,
    /// Of seller conversations.
    pub seller: Option<f64>,
    /// Of all conversations, whatever their lead type.
    pub overall: Option<f64>,
}

/// Conversations by lead type (`buyer`/`seller` in any case; anything else is other).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConversationsByType {
    /// Buyers.
    pub buyer: u32,
    /// Sellers.
    pub seller: u32,
    /// Any other lead type.
    pub other: u32,
    /// All of them.
    pub total: u32,
}

/// A recommendation and what backs it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Recommendation {
    /// `Question Sequencing`, `Qualification Efficiency`, `Conversation Pacing`,
    /// `Pathway Detection` or `Closing Language`.
    pub category: String,
    /// What to do, with the numbers behind it.
    pub recommendation: String,
    /// How much it matters.
    pub impact: Impact,
    /// How to do it.
    pub implementation: String,
}

/// How much a recommendation matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Impact {
    /// Worth doing first.
    High,
    /// Worth doing.
    Medium,
}

impl Impact {
    /// `high` or `medium`.
    pub fn as_str(self) -> &'static str {
        match self {
            Impact::High => "high",
            Impact::Medium => "medium",
        }
    }
}

/// The patterns report over `transcripts`, dated `now`.
pub fn patterns(transcripts: &[Transcript], now: Timestamp) -> PatternsReport {
    let closed: Vec<&Transcript> = transcripts
        .iter()
        .filter(|t| t.outcome.trim().eq_ignore_ascii_case("closed"))
        .collect();
    let n_closed = closed.len();

    let mut asked = Tally::default();
    let mut asked_in = Tally::default();
    let mut first_positions = Tally::default();
    let mut phrases = Tally::default();
    let mut keywords = [0u32; KEYWORDS.len()];
    let mut wholesale = Tally::default();
    let mut listing = Tally::default();
    let (mut recorded_questions, mut answered_sum, mut duration_sum) = (0u32, 0.0, 0.0);

    for t in &closed {
        let mut seen: HashSet<&str> = HashSet::new();
        for (position, m) in t.messages.iter().enumerate() {
            if m.speaker != Speaker::Agent {
                continue;
            }
            if let Some(q) = m.question_type.as_deref() {
                asked.add(q, 1.0);
                if seen.insert(q) {
                    asked_in.add(q, 1.0);
                    first_positions.add(q, position as f64);
                }
            }
            if m.stage.as_deref() == Some("closing") && !m.text.trim().is_empty() {
                phrases.add(m.text.trim(), 1.0);
            }
        }
        let lowered: Vec<String> = t.messages.iter().map(|m| m.text.to_lowercase()).collect();
        for (count, word) in keywords.iter_mut().zip(KEYWORDS) {
            if lowered.iter().any(|text| text.contains(word)) {
                *count += 1;
            }
        }
        let side = match pathway(t) {
            Some(Pathway::Wholesale) => Some(&mut wholesale),
            Some(Pathway::Listing) => Some(&mut listing),
            None => None,
        };
        if let Some(side) = side {
            let mut once: HashSet<String> = HashSet::new();
            for signal in &t.pathway_signals {
                let signal = signal.trim();
                if once.insert(signal.to_lowercase()) {
                    side.add_folded(signal, 1.0);
                }
            }
        }
        if t.questions_answered > 0 {
            recorded_questions += 1;
            answered_sum += f64::from(t.questions_answered);
        }
        if let (Some(first), Some(last)) = (t.messages.first(), t.messages.last()) {
            duration_sum += last.at.duration_since(first.at).as_secs_f64() / 60.0;
        }
    }

    let winning_questions = asked
        .most_common()
        .into_iter()
        .map(|(question_type, frequency)| {
            let transcripts = asked_in.get(&question_type) as u32;
            // A question is only counted inside a closed transcript, so n_closed > 0 and
            // transcripts <= n_closed: the share is within 0..=100.
            WinningQuestion {
                question_type,
                frequency: frequency as u32,
                transcripts,
                appears_in_percent: percent(transcripts, count(n_closed)).unwrap_or(0.0),
                recommended: 2 * u64::from(transcripts) > n_closed as u64,
            }
        })
        .collect();
    let mut optimal_question_order: Vec<QuestionPosition> = first_positions
        .entries()
        .map(|(question_type, sum)| {
            let transcripts = asked_in.get(question_type) as u32;
            QuestionPosition {
                question_type: question_type.to_string(),
                average_first_position: sum / f64::from(transcripts),
                transcripts,
            }
        })
        .collect();
    // Stable: equal averages keep the order of first appearance.
    optimal_question_order.sort_by(|a, b| {
        a.average_first_position
            .total_cmp(&b.average_first_position)
    });
    let mut successful_closing_phrases: Vec<ClosingPhrase> = phrases
        .most_common()
        .into_iter()
        .map(|(phrase, frequency)| ClosingPhrase {
            phrase,
            frequency: frequency as u32,
        })
        .collect();
    successful_closing_phrases.truncate(CLOSING_PHRASES);
    let signals = |tally: Tally| -> Vec<SignalCount> {
        tally
            .most_common()
            .into_iter()
            .map(|(signal, n)| SignalCount {
                signal,
                transcripts: n as u32,
            })
            .collect()
    };

    let lead = |kind: &str| {
        let of_kind = transcripts
            .iter()
            .filter(|t| t.lead_type.trim().eq_ignore_ascii_case(kind));
        let (mut total, mut won) = (0u32, 0u32);
        for t in of_kind {
            total += 1;
            won += u32::from(t.outcome.trim().eq_ignore_ascii_case("closed"));
        }
        (total, won)
    };
    let (buyers, buyers_closed) = lead("buyer");
    let (sellers, sellers_closed) = lead("seller");
    let total = count(transcripts.len());
    let successful_closes = count(n_closed);

    let summary = Summary {
        total_transcripts: total,
        successful_closes,
        close_rate: percent(successful_closes, total),
        avg_questions_to_close: mean(answered_sum, recorded_questions),
        avg_conversation_duration_minutes: mean(duration_sum, successful_closes),
    };
    let patterns = ReportPatterns {
        winning_questions,
        successful_closing_phrases,
        optimal_question_order,
        keyword_patterns: KEYWORDS
            .iter()
            .zip(keywords)
            .map(|(word, n)| (word.to_string(), n))
            .collect(),
        pathway_signals: PathwaySignals {
            wholesale: signals(wholesale),
            listing: signals(listing),
            defaults: SignalDefaults {
                wholesale: &DEFAULT_WHOLESALE,
                listing: &DEFAULT_LISTING,
            },
        },
    };
    let metrics = ReportMetrics {
        close_rates: CloseRates {
            buyer: percent(buyers_closed, buyers),
            seller: percent(sellers_closed, sellers),
            overall: percent(successful_closes, total),
        },
        conversations_by_type: ConversationsByType {
            buyer: buyers,
            seller: sellers,
            other: total.saturating_sub(buyers).saturating_sub(sellers),
            total,
        },
    };
    let recommendations = recommend(&summary, &patterns);
    PatternsReport {
        generated_at: now,
        summary,
        patterns,
        metrics,
        recommendations,
    }
}

/// The prototype's five rules, each firing only on evidence in the report.
fn recommend(summary: &Summary, p: &ReportPatterns) -> Vec<Recommendation> {
    let mut out = Vec::new();
    let mut add = |category: &str, impact, recommendation: String, implementation: &str| {
        out.push(Recommendation {
            category: category.to_string(),
            recommendation,
            impact,
            implementation: implementation.to_string(),
        })
    };
    if !p.optimal_question_order.is_empty() {
        let order: Vec<&str> = p
            .optimal_question_order
            .iter()
            .map(|q| q.question_type.as_str())
            .collect();
        add(
            "Question Sequencing",
            Impact::High,
            format!(
                "Ask in the order that closed conversations followed: {}",
                order.join(" → ")
            ),
            "Order the tenant's questions in the rules to follow this sequence.",
        );
    }
    if let Some(avg) = summary
        .avg_questions_to_close
        .filter(|&a| a < EFFICIENT_QUESTIONS)
    {
        add(
            "Qualification Efficiency",
            Impact::High,
            format!(
                "Closed conversations answered {avg:.1} questions on average: keep qualification under {EFFICIENT_QUESTIONS} questions."
            ),
            "Ask only the questions that move the score; leave the rest to the agent.",
        );
    }
    if let Some(avg) = summary
        .avg_conversation_duration_minutes
        .filter(|&a| a < BRISK_MINUTES)
    {
        add(
            "Conversation Pacing",
            Impact::Medium,
            format!(
                "Closed conversations took {avg:.1} minutes on average: answer quickly and keep the momentum."
            ),
            "Keep replies and follow-ups prompt; avoid long gaps between questions.",
        );
    }
    // Only signals found in the data count: the defaults alone recommend nothing.
    let signals = &p.pathway_signals;
    let cues: Vec<String> = [
        ("wholesale", &signals.wholesale),
        ("listing", &signals.listing),
    ]
    .into_iter()
    .filter(|(_, side)| !side.is_empty())
    .map(|(name, side)| {
        let top: Vec<&str> = side.iter().take(3).map(|s| s.signal.as_str()).collect();
        format!("{name} ({})", top.join(", "))
    })
    .collect();
    if !cues.is_empty() {
        add(
            "Pathway Detection",
            Impact::High,
            format!(
                "Sellers in closed conversations showed their pathway; listen for the cues they gave: {}.",
                cues.join("; ")
            ),
            "Tag wholesale and listing leads early from these cues and route each to its offer.",
        );
    }
    if let Some(best) = p.successful_closing_phrases.first() {
        add(
            "Closing Language",
            Impact::Medium,
            format!(
                "Reuse the closing lines that worked; the most used was {:?} ({}).",
                best.phrase,
                plural(best.frequency, "time")
            ),
            "Use these lines in the closing stage's templates.",
        );
    }
    out
}

impl PatternsReport {
    /// The report as plain text, for a terminal or an e-mail.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = self.write_text(&mut out);
        out
    }

    fn write_text(&self, out: &mut String) -> std::fmt::Result {
        let s = &self.summary;
        let p = &self.patterns;
        let m = &self.metrics;
        writeln!(out, "Transcript patterns report, {}", self.generated_at)?;
        writeln!(out)?;
        writeln!(out, "Summary")?;
        writeln!(out, "  transcripts:               {}", s.total_transcripts)?;
        writeln!(out, "  closed:                    {}", s.successful_closes)?;
        writeln!(out, "  close rate:                {}", pct(s.close_rate))?;
        writeln!(
            out,
            "  avg questions to close:    {}",
            num(s.avg_questions_to_close, "")
        )?;
        writeln!(
            out,
            "  avg duration (closed):     {}",
            num(s.avg_conversation_duration_minutes, " min")
        )?;
        writeln!(out)?;
        let by = &m.conversations_by_type;
        writeln!(out, "Close rates")?;
        writeln!(
            out,
            "  buyer:   {} of {}",
            pct(m.close_rates.buyer),
            by.buyer
        )?;
        writeln!(
            out,
            "  seller:  {} of {}",
            pct(m.close_rates.seller),
            by.seller
        )?;
        if by.other > 0 {
            writeln!(out, "  (other lead types: {})", by.other)?;
        }
        writeln!(
            out,
            "  overall: {} of {}",
            pct(m.close_rates.overall),
            by.total
        )?;
        writeln!(out)?;
        writeln!(out, "Winning questions (closed conversations)")?;
        if p.winning_questions.is_empty() {
            writeln!(out, "  none")?;
        }
        for q in &p.winning_questions {
            writeln!(
                out,
                "  {:<20} asked {:>4}x, in {} of {} closed ({:.1}%){}",
                q.question_type,
                q.frequency,
                q.transcripts,
                s.successful_closes,
                q.appears_in_percent,
                if q.recommended { "  recommended" } else { "" }
            )?;
        }
        writeln!(out)?;
        writeln!(out, "Question order (average first position)")?;
        if p.optimal_question_order.is_empty() {
            writeln!(out, "  none")?;
        }
        for (i, q) in p.optimal_question_order.iter().enumerate() {
            writeln!(
                out,
                "  {}. {} (position {:.1}, {})",
                i + 1,
                q.question_type,
                q.average_first_position,
                plural(q.transcripts, "conversation")
            )?;
        }
        writeln!(out)?;
        writeln!(out, "Closing phrases")?;
        if p.successful_closing_phrases.is_empty() {
            writeln!(out, "  none")?;
        }
        for c in &p.successful_closing_phrases {
            writeln!(out, "  {:>4}x {:?}", c.frequency, c.phrase)?;
        }
        writeln!(out)?;
        writeln!(out, "Keywords (closed conversations mentioning each)")?;
        let found: Vec<String> = p
            .keyword_patterns
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(word, n)| format!("{word} {n}"))
            .collect();
        writeln!(
            out,
            "  {}",
            if found.is_empty() {
                "none".to_string()
            } else {
                found.join(", ")
            }
        )?;
        writeln!(out)?;
        writeln!(out, "Pathway signals (from the data)")?;
        let sig = &p.pathway_signals;
        for (name, side) in [("wholesale", &sig.wholesale), ("listing", &sig.listing)] {
            let list: Vec<String> = side
                .iter()
                .map(|s| format!("{} ({})", s.signal, s.transcripts))
                .collect();
            writeln!(
                out,
                "  {name}: {}",
                if list.is_empty() {
                    "none found".to_string()
                } else {
                    list.join(", ")
                }
            )?;
        }
        writeln!(
            out,
            "  default cues, not from the data: wholesale {}; listing {}",
            sig.defaults.wholesale.join(", "),
            sig.defaults.listing.join(", ")
        )?;
        writeln!(out)?;
        writeln!(out, "Recommendations")?;
        if self.recommendations.is_empty() {
            writeln!(out, "  none: the data backs no change")?;
        }
        for r in &self.recommendations {
            let impact = r.impact.as_str();
            writeln!(out, "  [{impact}] {}: {}", r.category, r.recommendation)?;
            writeln!(out, "      how: {}", r.implementation)?;
        }
        Ok(())
    }
}

/// Counts by key, remembering the order in which keys first appeared so that ties rank
/// the way the prototype's `Counter.most_common` ranks them.
#[derive(Default)]
struct Tally {
    index: HashMap<String, usize>,
    entries: Vec<(String, f64)>,
}

impl Tally {
    fn add(&mut self, key: &str, by: f64) {
        match self.index.get(key) {
            Some(&i) => self.entries[i].1 += by,
            None => {
                self.index.insert(key.to_string(), self.entries.len());
                self.entries.push((key.to_string(), by));
            }
        }
    }

    /// Like [`Tally::add`], keys compared ignoring case; the first spelling is kept.
    fn add_folded(&mut self, key: &str, by: f64) {
        let folded = key.to_lowercase();
        match self.index.get(&folded) {
            Some(&i) => self.entries[i].1 += by,
            None => {
                self.index.insert(folded, self.entries.len());
                self.entries.push((key.to_string(), by));
            }
        }
    }

    fn get(&self, key: &str) -> f64 {
        self.index.get(key).map_or(0.0, |&i| self.entries[i].1)
    }

    fn entries(&self) -> impl Iterator<Item = (&str, f64)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// Highest count first; equal counts in order of first appearance.
    fn most_common(self) -> Vec<(String, f64)> {
        let mut entries = self.entries;
        entries.sort_by(|a, b| b.1.total_cmp(&a.1));
        entries
    }
}

/// `part / whole` in percent, `None` when `whole` is 0.
fn percent(part: u32, whole: u32) -> Option<f64> {
    (whole > 0).then(|| f64::from(part) * 100.0 / f64::from(whole))
}

/// `sum / n`, `None` when `n` is 0.
fn mean(sum: f64, n: u32) -> Option<f64> {
    (n > 0).then(|| sum / f64::from(n))
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// `1 time`, `2 times`.
fn plural(n: u32, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn pct(rate: Option<f64>) -> String {
    rate.map_or_else(|| "n/a".to_string(), |r| format!("{r:.1}%"))
}

fn num(value: Option<f64>, unit: &str) -> String {
    value.map_or_else(|| "n/a".to_string(), |v| format!("{v:.1}{unit}"))
}

/// Pairs serialized as a JSON object, keeping their order.
fn as_map<S: Serializer>(pairs: &[(String, u32)], s: S) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(pairs.len()))?;
    for (key, value) in pairs {
        map.serialize_entry(key, value)?;
    }
    map.end()
}
