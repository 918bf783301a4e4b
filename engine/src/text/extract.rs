//! Deterministic fact extraction from message text, English and Spanish: budgets, rooms,
//! must-haves, timelines, financing, motivation, home condition, locations (service
//! areas, neighbourhoods, zip codes), goal, pathway, name, disqualifying signals and the
//! lead's language.
//!
//! A message is scanned once (`scan`: tokens, each word looked up once in the `lexicon`),
//! then each data point's reader (`read`) looks at the phrases and numbers found, in
//! context: negation, hedges, past events, the question the agent just asked. A tenant's
//! extractor adds its places, zip codes, market and extra patterns, compiled once per
//! tenant version.

use super::facts::is_answered;
use super::found::{Fact, Found};
use super::language;
use super::lexicon::{Cue, LEXICON};
use super::read::{self, Ctx};
use super::scan::{hash, Kind, Msg, WordTable};
use crate::model::{Author, Facts, Message};
use regex::{Regex, RegexBuilder};
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// One extra extraction pattern from `tenant.yaml`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatternSetting {
    /// A regular expression (Rust `regex` syntax); case-insensitive unless it says otherwise.
    #[serde(rename = "match")]
    pub pattern: String,
    /// The value recorded when it matches; the matched text when absent.
    #[serde(default)]
    pub value: Option<Value>,
}

/// Extraction settings for one fact (`extract.<fact>` in `tenant.yaml`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FactExtraction {
    /// Patterns tried before the built-in ones, in order.
    #[serde(default)]
    pub patterns: Vec<PatternSetting>,
    /// Keep the built-in patterns for this fact (default true).
    #[serde(default = "yes")]
    pub builtin: bool,
}

fn yes() -> bool {
    true
}

/// Question texts by goal and data point (`questions.buyer.budget`).
pub(crate) type QuestionTexts = BTreeMap<String, BTreeMap<String, String>>;

/// What a tenant's extractor is built from (all of it from `tenant.yaml`).
pub(crate) struct ExtractorSpec<'a> {
    /// Service areas and neighbourhoods, matched as whole words.
    pub places: Vec<&'a str>,
    /// Zip codes of the service area: five digits, or a three-digit prefix ("752").
    pub zip_codes: Vec<&'a str>,
    /// Extra or replacement patterns by fact.
    pub patterns: &'a BTreeMap<String, FactExtraction>,
    /// Question texts by goal and data point, in every language the tenant writes, to
    /// tell what an agent message asked.
    pub questions: Vec<&'a QuestionTexts>,
    /// The market's price range: bare numbers ("350-400") are thousands inside it.
    pub market: (f64, f64),
    /// Budgets outside this band are not counted but kept as `budget_unconfirmed`.
    pub plausible: (f64, f64),
}

/// The fact an implausible budget is kept under (not counted; the rules ask to confirm).
pub const BUDGET_UNCONFIRMED: &str = "budget_unconfirmed";

/// The fact a disqualifying signal is kept under: `already_bought`, `not_interested`,
/// `wrong_number` or `has_agent`.
pub const DISQUALIFIED: &str = "disqualified";

/// The fact the lead's language is kept under (`es`, or `en` once a Spanish-writing lead
/// writes English).
pub const LANGUAGE: &str = "language";

/// A tenant's extra patterns for one fact: each regex with the value it records
/// (`None`: the matched text).
type FactPatterns = (String, Vec<(Regex, Option<Value>)>);

/// Places sharing a first word: each one's other words, with its index in `names`.
type SameStart = Vec<(Box<[Box<str>]>, usize)>;

/// The tenant's places: names by their first folded word, each with its other words.
struct Places {
    table: WordTable<SameStart>,
    names: Vec<String>,
    /// Lower-cased name to the name as configured (for "in <Place>" phrases).
    canonical: HashMap<String, String>,
    zips: Vec<String>,
    zip_prefixes: Vec<String>,
    /// A 1,024-bit filter of the first words' hashes: most words of a message are no
    /// place's first word, and one bit test says so.
    starts: [u64; 16],
}

impl Places {
    fn new(names: &[&str], zips: &[&str]) -> Self {
        let mut by_first: Vec<(String, SameStart)> = Vec::new();
        let mut list = Vec::new();
        let mut canonical = HashMap::new();
        for name in names {
            let key = name.to_lowercase();
            if canonical.contains_key(&key) {
                continue;
            }
            canonical.insert(key, name.to_string());
            let m = Msg::scan(name, &LEXICON);
            let words: Vec<Box<str>> = (0..m.toks.len())
                .filter(|&k| m.toks[k].kind == Kind::Word)
                .map(|k| m.word(k).into())
                .collect();
            let Some((first, rest)) = words.split_first() else {
                continue;
            };
            let idx = list.len();
            list.push(name.to_string());
            match by_first.iter_mut().find(|(f, _)| **f == **first) {
                Some((_, v)) => v.push((rest.into(), idx)),
                None => by_first.push((first.to_string(), vec![(rest.into(), idx)])),
            }
        }
        for (_, v) in &mut by_first {
            v.sort_by_key(|(rest, _)| std::cmp::Reverse(rest.len()));
        }
        let mut starts = [0u64; 16];
        for (first, _) in &by_first {
            let b = filter_bit(hash(first.as_bytes()));
            starts[b / 64] |= 1 << (b % 64);
        }
        let (prefixes, exact): (Vec<&str>, Vec<&str>) =
            zips.iter().map(|z| z.trim()).partition(|z| z.len() < 5);
        Self {
            table: WordTable::new(by_first),
            names: list,
            canonical,
            zips: exact.into_iter().map(String::from).collect(),
            zip_prefixes: prefixes.into_iter().map(String::from).collect(),
            starts,
        }
    }

    /// False when no place starts with the word of hash `h` (true may be a false alarm).
    #[inline]
    fn may_start(&self, h: u64) -> bool {
        let b = filter_bit(h);
        self.starts[b / 64] & (1 << (b % 64)) != 0
    }

    fn is_zip(&self, code: &str) -> bool {
        self.zips.iter().any(|z| z == code)
            || self
                .zip_prefixes
                .iter()
                .any(|p| code.starts_with(p.as_str()))
    }
}

/// The bit of the places filter for a word's hash (ten bits the table's slot does not use).
#[inline]
fn filter_bit(h: u64) -> usize {
    (h >> 2) as usize & 1023
}

/// A tenant's compiled extractor: the built-in readers plus its places, zip codes, market
/// and extra patterns.
pub struct Extractor {
    places: Places,
    custom: Vec<FactPatterns>,
    builtin_off: Vec<String>,
    questions: Vec<(String, String)>,
    market: (f64, f64),
    plausible: (f64, f64),
}

/// Builds a case-insensitive pattern from tenant text, naming the fact on error.
fn tenant_regex(fact: &str, pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .case_insensitive(true)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| format!("extract.{fact}: invalid pattern {pattern:?}: {e}"))
}

/// The data points agent questions are filed under, in the order a question naming
/// several is filed (the property question is filed under `bedrooms`).
const TOPICS: [&str; 7] = [
    "budget",
    "location",
    "timeline",
    "bedrooms",
    "financing",
    "motivation",
    "home_condition",
];

impl Extractor {
    /// Compiles a tenant's extractor; an invalid tenant pattern is an error message.
    pub(crate) fn new(spec: ExtractorSpec<'_>) -> Result<Self, String> {
        let mut custom = Vec::new();
        let mut builtin_off = Vec::new();
        for (fact, ext) in spec.patterns {
            let mut list = Vec::new();
            for p in &ext.patterns {
                list.push((tenant_regex(fact, &p.pattern)?, p.value.clone()));
            }
            custom.push((fact.clone(), list));
            if !ext.builtin {
                builtin_off.push(fact.clone());
            }
        }
        let mut questions = Vec::new();
        for texts in spec.questions.iter().flat_map(|q| q.values()) {
            for (id, text) in texts {
                // The property question is filed under `bedrooms`; a confirming question
                // ("budget_confirm") under what it confirms.
                let id = id.strip_suffix("_confirm").unwrap_or(id);
                let topic = if id == "property" { "bedrooms" } else { id };
                questions.push((text.to_lowercase(), topic.to_string()));
            }
        }
        Ok(Self {
            places: Places::new(&spec.places, &spec.zip_codes),
            custom,
            builtin_off,
            questions,
            market: spec.market,
            plausible: spec.plausible,
        })
    }

    fn builtin(&self, fact: &str) -> bool {
        !self.builtin_off.iter().any(|f| f == fact)
    }

    /// The data point an agent message asks about (used to read short answers and to file
    /// "not sure" answers): one of the tenant's question texts, else a question naming a
    /// data point ("When do you need to move?", "¿Cuál es su presupuesto?").
    pub(crate) fn topic_of_question(&self, text: &str) -> Option<String> {
        let lower = text.to_lowercase();
        if let Some((_, topic)) = self
            .questions
            .iter()
            .find(|(q, _)| lower.contains(q.as_str()))
        {
            return Some(topic.clone());
        }
        if !lower.contains('?') {
            return None;
        }
        let m = Msg::scan(text, &LEXICON);
        TOPICS
            .iter()
            .find(|t| m.hits.iter().any(|h| h.cue == Cue::Topic(t)))
            .map(|t| t.to_string())
    }

    /// The tenant's own patterns, first match per fact (on the raw text).
    fn custom_facts<'a>(&'a self, text: &str, found: &mut Found<'a>) {
        for (fact, list) in &self.custom {
            if let Some(v) = list.iter().find_map(|(r, v)| {
                r.find(text)
                    .map(|m| v.clone().unwrap_or_else(|| Value::from(m.as_str())))
            }) {
                found.custom(fact, v);
            }
        }
    }

    /// Extracts facts from one lead message into `out` (later values override older ones).
    /// `asked` is the data point the previous agent message asked about, if any: it tells
    /// what a short answer answers ("around 400", "3 months", "yes").
    pub fn extract_into(&self, text: &str, asked: Option<&str>, out: &mut Facts) {
        let mut found = Found::new();
        if !self.custom.is_empty() {
            self.custom_facts(text, &mut found);
        }
        let m = Msg::scan(text, &LEXICON);
        let put = |found: &mut Found<'_>, fact: Fact, v: Value| {
            if self.builtin(fact.name()) {
                found.put(fact, v);
            }
        };
        let mut places: Vec<String> = Vec::new();
        let (mut taken, mut covered) = (Vec::new(), Vec::new());
        self.areas_and_zips(&m, asked, &mut places, &mut taken, &mut covered);
        let ctx = Ctx {
            asked,
            market: self.market,
            band: self.plausible,
            taken: &taken,
        };
        let has = |cues: &[Cue]| m.has(cues.iter().fold(0, |b, c| b | c.bit()));
        let asks = |point: &str| asked == Some(point);
        // Each reader runs only when the message holds something it reads.
        if m.nums > 0 || has(&[Cue::Amount(0.0)]) {
            let budget = read::budget(&m, &ctx);
            if let Some(b) = budget.plausible {
                put(&mut found, Fact::Budget, Value::from(b.round() as i64));
            } else if let Some(b) = budget.implausible {
                put(
                    &mut found,
                    Fact::BudgetUnconfirmed,
                    Value::from(b.round() as i64),
                );
            }
        }
        if has(&[Cue::Bed, Cue::Bath]) || (m.nums > 1 || asks("bedrooms")) {
            let (beds, baths) = read::rooms(&m, &ctx);
            let number = |n: f64| {
                if n.fract() == 0.0 {
                    Value::from(n as i64)
                } else {
                    Value::from(n)
                }
            };
            if let Some(n) = beds {
                put(&mut found, Fact::Bedrooms, number(n));
            }
            if let Some(n) = baths {
                put(&mut found, Fact::Bathrooms, number(n));
            }
        }
        if has(&[Cue::MustHave("")]) {
            let must = read::must_haves(&m, &ctx);
            if !must.is_empty() {
                put(&mut found, Fact::MustHaves, Value::from(must));
            }
        }
        if let Some(t) = read::timeline(&m, &ctx) {
            put(&mut found, Fact::Timeline, Value::String(t));
        }
        if has(&[Cue::Financing(""), Cue::Lender, Cue::Program, Cue::Va]) || asks("financing") {
            if let Some(f) = read::financing(&m, &ctx) {
                put(&mut found, Fact::Financing, Value::from(f));
            }
        }
        if has(&[Cue::Motivation(""), Cue::Reason, Cue::ReasonWord("")]) {
            if let Some(v) = read::motivation(&m, &ctx) {
                put(&mut found, Fact::Motivation, Value::String(v));
            }
        }
        if has(&[Cue::Condition(""), Cue::CondItem]) {
            if let Some(v) = read::condition(&m) {
                put(&mut found, Fact::HomeCondition, Value::from(v));
            }
        }
        if let Some(v) = read::goal(&m) {
            put(&mut found, Fact::Goal, Value::from(v));
        }
        if let Some(v) = read::pathway(&m) {
            put(&mut found, Fact::Pathway, Value::from(v));
        }
        if has(&[Cue::NameIntro]) {
            if let Some(v) = read::name(&m) {
                put(&mut found, Fact::Name, Value::String(v));
            }
        }
        if self.builtin("location") && !found.contains_key("location") {
            read::places(&m, &covered, &mut |p: String| {
                let p = self
                    .places
                    .canonical
                    .get(&p.to_lowercase())
                    .cloned()
                    .unwrap_or(p);
                push_place(&mut places, p);
            });
            if asked == Some("location") {
                short_places(&m, &covered, &mut places);
            }
            match places.len() {
                0 => {}
                1 => {
                    found.put(Fact::Location, Value::String(places.remove(0)));
                }
                _ => {
                    found.put(Fact::Location, Value::from(places));
                }
            }
        }
        if has(&[Cue::Disqualify(""), Cue::NotInterested]) {
            if let Some(v) = read::disqualified(&m) {
                put(&mut found, Fact::Disqualified, Value::from(v));
            }
        }
        if let Some((phrase, topic)) = has(&[Cue::Unsure]).then(|| read::unsure(&m)).flatten() {
            // File the unsure answer under the topic the message names, else the one
            // the agent just asked about; never over a value this message gave.
            if let Some(topic) = topic.or(asked) {
                let known = out.get(topic).is_some_and(is_answered);
                if !found.contains_key(topic) && !known {
                    found.unsure(topic, Value::String(phrase));
                }
            }
        }
        match language::decide(m.lang.0, m.lang.1) {
            Some("es") => put(&mut found, Fact::Language, Value::from("es")),
            // English is recorded only as a change back from Spanish: a lead who never
            // wrote Spanish carries no language fact.
            Some(lang) if out.contains_key(LANGUAGE) => {
                put(&mut found, Fact::Language, Value::from(lang))
            }
            _ => {}
        }
        if found.get("budget").is_some_and(is_answered) {
            out.remove(BUDGET_UNCONFIRMED);
        }
        found.merge_into(out);
        m.recycle();
    }

    /// The tenant's areas and neighbourhoods named in the message, and its zip codes
    /// (five digits not written as money); the tokens of the zip codes go to `taken`.
    fn areas_and_zips(
        &self,
        m: &Msg,
        asked: Option<&str>,
        places: &mut Vec<String>,
        taken: &mut Vec<usize>,
        covered: &mut Vec<usize>,
    ) {
        if !self.builtin("location") {
            return;
        }
        let p = &self.places;
        let n = m.toks.len();
        let mut i = 0;
        while i < n {
            let t = m.toks[i];
            match t.kind {
                Kind::Word if p.may_start(t.hash) => {
                    let found = p
                        .table
                        .get(t.hash, (t.n1 - t.n0) as usize)
                        .and_then(|list| {
                            list.iter().find_map(|(rest, idx)| {
                                let all = rest.iter().enumerate().all(|(k, w)| m.is(i + 1 + k, w));
                                all.then_some((i + 1 + rest.len(), *idx))
                            })
                        });
                    if let Some((end, idx)) = found {
                        push_place(places, p.names[idx].clone());
                        covered.extend(i..end);
                        i = end;
                        continue;
                    }
                }
                Kind::Num if t.digits == 5 && !t.grouped && t.val.fract() == 0.0 => {
                    let code = m.original(i, i + 1);
                    if code.len() == 5 && p.is_zip(code) && self.zip_in_context(m, i, asked) {
                        taken.push(i);
                        push_place(places, code.to_string());
                    }
                }
                _ => {}
            }
            i += 1;
        }
    }

    /// A five-digit number is a zip code unless it is written as money ("$75,024", "75k")
    /// or stands by a budget word without a zip word ("budget 75000").
    fn zip_in_context(&self, m: &Msg, i: usize, asked: Option<&str>) -> bool {
        if i > 0 && m.sym(i - 1, b'$') {
            return false;
        }
        let unit = m
            .at(
                i + 1,
                Cue::Unit(0.0).bit() | Cue::Mil.bit() | Cue::Dollars.bit(),
            )
            .is_some();
        if unit {
            return false;
        }
        let zip_word = m.has(Cue::ZipWord.bit());
        // "around 75024" is a place, "budget 75000" money: words of nearness say nothing.
        const NEAR: &[&str] = &[
            "around",
            "about",
            "under",
            "below",
            "between",
            "somewhere",
            "range",
        ];
        let clause = m.toks[i].clause;
        let money_word = (i.saturating_sub(4)..i).any(|k| {
            m.toks[k].clause == clause
                && m.at(k, Cue::BudgetWord.bit()).is_some()
                && !m.is_any(k, NEAR)
        });
        zip_word || !(money_word || asked == Some("budget"))
    }
}

fn push_place(places: &mut Vec<String>, p: String) {
    if !places.iter().any(|q| q.eq_ignore_ascii_case(&p)) {
        places.push(p);
    }
}

/// A short answer to the location question (at most eight words): each run of one to
/// three capitalised names not already read as one of the tenant's places ("probably
/// Allen, Fairview or Lucas" adds Lucas; "Round Rock or Georgetown").
fn short_places(m: &Msg, covered: &[usize], places: &mut Vec<String>) {
    if m.words() > 8 {
        return;
    }
    let mut group: Vec<&str> = Vec::new();
    let flush = |group: &mut Vec<&str>, places: &mut Vec<String>| {
        if !group.is_empty() && group.len() <= 3 {
            push_place(places, group.join(" "));
        }
        group.clear();
    };
    for k in 0..m.toks.len() {
        let t = m.toks[k];
        let name = t.kind == Kind::Word
            && !covered.contains(&k)
            && m.text.as_bytes()[t.start as usize].is_ascii_uppercase()
            && t.mask & Cue::NotName.bit() == 0;
        if name {
            group.push(m.original(k, k + 1));
        } else {
            flush(&mut group, places);
        }
    }
    flush(&mut group, places);
}

/// The data points hybrid extraction may fill, each with the cue kinds that say a
/// message is about it: a message with such a cue that left the point unanswered is
/// one the extractors are unsure about.
const UNSURE_CUES: [(&str, u64); 6] = [
    ("budget", Cue::BudgetWord.bit() | Cue::Amount(0.0).bit()),
    (
        "timeline",
        Cue::TimePeriod.bit() | Cue::TimeMonth.bit() | Cue::TimeSeason.bit() | Cue::TimeWhole.bit(),
    ),
    (
        "financing",
        Cue::Financing("").bit() | Cue::Lender.bit() | Cue::Program.bit() | Cue::Loan.bit(),
    ),
    ("motivation", Cue::Motivation("").bit() | Cue::Reason.bit()),
    (
        "home_condition",
        Cue::Condition("").bit() | Cue::CondItem.bit(),
    ),
    ("bedrooms", Cue::Bed.bit()),
];

impl Extractor {
    /// The data points `text` has cue words for (a budget word, a period, a loan, a
    /// reason, a repair, a bedroom count, or a word naming the point) but that are still
    /// unanswered in `known` (the contact's facts after the deterministic pass over this
    /// message). Only hybrid extraction calls this: the ingest path never pays for it.
    pub(crate) fn unsure(&self, text: &str, known: &Facts) -> Vec<&'static str> {
        let m = Msg::scan(text, &LEXICON);
        let named = |point: &'static str| m.hits.iter().any(|h| h.cue == Cue::Topic(point));
        let points = UNSURE_CUES
            .iter()
            .filter(|(point, bits)| {
                let answered = known.get(*point).is_some_and(is_answered)
                    || (*point == "budget" && known.contains_key(BUDGET_UNCONFIRMED));
                !answered && self.builtin(point) && (m.has(*bits) || named(point))
            })
            .map(|(point, _)| *point)
            .collect();
        m.recycle();
        points
    }
}

impl Extractor {
    /// Extracts facts from a whole conversation, oldest message first; agent messages are
    /// read to learn which data point a lead's short or "not sure" answer answers.
    pub fn extract_messages(&self, messages: &[Message], out: &mut Facts) {
        let mut asked: Option<String> = None;
        for m in messages {
            match m.from {
                Author::Agent => asked = self.topic_of_question(&m.text),
                Author::Lead => {
                    self.extract_into(&m.text, asked.as_deref(), out);
                    asked = None;
                }
            }
        }
    }
}
