//! Deterministic fact extraction from message text: budgets, rooms, timelines, financing,
//! motivation, home condition, locations, goal, pathway and name.
//!
//! One `RegexSet` pass tells which categories a message touches; only those categories'
//! patterns then run. Built-in patterns are compiled once per process; a tenant's service
//! areas and extra patterns once per tenant version.

use super::facts::{is_answered, money_mentions, UNSURE_PATTERN};
use crate::model::{Author, Facts, Message};
use regex::{Regex, RegexBuilder, RegexSet};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

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

/// What a tenant's extractor is built from (all of it from `tenant.yaml`).
pub(crate) struct ExtractorSpec<'a> {
    /// Service areas and neighbourhoods, matched as whole words.
    pub places: Vec<&'a str>,
    /// Extra or replacement patterns by fact.
    pub patterns: &'a BTreeMap<String, FactExtraction>,
    /// Question texts by goal and data point, to tell what an agent message asked.
    pub questions: &'a BTreeMap<String, BTreeMap<String, String>>,
}

/// Rewrites `\b` to an ASCII word boundary, which keeps the regex crate on its fast DFA
/// paths; our vocabulary is ASCII, so nothing is lost.
fn ascii_b(pattern: &str) -> String {
    pattern.replace(r"\b", r"(?-u:\b)")
}

/// Built-in patterns are lower case and run on the lower-cased message: case-sensitive
/// matching keeps the regex crate's literal prefilters sharp (about twice as fast as `(?i)`).
fn re(pattern: &str) -> Regex {
    RegexBuilder::new(&ascii_b(pattern))
        .build()
        .expect("built-in pattern is valid")
}

const NUM_WORD: &str = r"\d{1,2}(?:\.5)?|one|two|three|four|five|six|seven|eight|nine|ten";
const MONTHS: &str = "january|february|march|april|may|june|july|august|september|october|november|december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec";
const SEASONS: &str = "spring|summer|fall|autumn|winter";

fn number_word(text: &str) -> Option<Value> {
    let t = text.to_ascii_lowercase();
    let n = match t.as_str() {
        "one" => 1,
        "two" => 2,
        "three" => 3,
        "four" => 4,
        "five" => 5,
        "six" => 6,
        "seven" => 7,
        "eight" => 8,
        "nine" => 9,
        "ten" => 10,
        _ => {
            let f: f64 = t.parse().ok()?;
            return if f.fract() == 0.0 {
                Some(json!(f as i64))
            } else {
                Some(json!(f))
            };
        }
    };
    Some(json!(n))
}

/// Categories, in the order of the prefilter set.
#[derive(Clone, Copy)]
enum Cat {
    Budget,
    Bedrooms,
    Bathrooms,
    MustHaves,
    Timeline,
    Financing,
    Motivation,
    Condition,
    Goal,
    Pathway,
    Name,
    Place,
    Unsure,
}

const CATS: [Cat; 13] = [
    Cat::Budget,
    Cat::Bedrooms,
    Cat::Bathrooms,
    Cat::MustHaves,
    Cat::Timeline,
    Cat::Financing,
    Cat::Motivation,
    Cat::Condition,
    Cat::Goal,
    Cat::Pathway,
    Cat::Name,
    Cat::Place,
    Cat::Unsure,
];

struct Builtins {
    set: RegexSet,
    budget_context: Regex,
    bedrooms: Regex,
    bathrooms: Regex,
    must_have_verb: Regex,
    must_haves: Vec<(Regex, &'static str)>,
    timeline: Regex,
    financing: Vec<(Regex, &'static str)>,
    motivation: Vec<(Regex, &'static str)>,
    condition: Vec<(Regex, &'static str)>,
    buy: Regex,
    sell: Regex,
    wholesale: Regex,
    listing: Regex,
    worth: Regex,
    worth_object: Regex,
    name: Regex,
    place: Regex,
    unsure: Regex,
    topics: Vec<(Regex, &'static str)>,
}

fn alternation(list: &[(&str, &'static str)]) -> String {
    list.iter()
        .map(|(p, _)| format!("(?:{p})"))
        .collect::<Vec<_>>()
        .join("|")
}

static BUILTINS: LazyLock<Builtins> = LazyLock::new(|| {
    let budget = r"\$|\d\s*(?:k|thousand|grand|m|mil|million)\b|\b\d{1,3}(?:,\d{3})+|\bmil(?:lion|l)?\b|\d{5,}";
    let bedrooms = format!(r"\b({NUM_WORD})[\s-]*(?:bed(?:room)?s?|br|bd|bdrms?)\b");
    let bathrooms = format!(r"\b({NUM_WORD})[\s-]*(?:bath(?:room)?s?|ba)\b");
    let must_haves: &[(&str, &'static str)] = &[
        (r"\bpool\b", "pool"),
        (r"\b(?:\d[\s-]*car\s+)?garage\b", "garage"),
        (
            r"\b(?:big|large|huge|fenced|nice)\s+(?:back\s*)?yard\b|\bbackyard\b",
            "yard",
        ),
        (r"\bhome\s+office\b|\boffice\s+space\b", "home office"),
        (r"\bgood\s+schools?\b|\bschool\s+district\b", "good schools"),
        (
            r"\bsingle[\s-]+stor(?:y|ey)\b|\bone[\s-]+stor(?:y|ey)\b",
            "single story",
        ),
        (r"\bbasement\b", "basement"),
        (
            r"\bopen\s+(?:floor\s*)?(?:plan|concept)\b",
            "open floor plan",
        ),
    ];
    let must_have_verb = r"\b(?:need|needs|want|wants|must|looking\s+for|has\s+to\s+have|have\s+to\s+have|would\s+love|prefer|with|require)\b";
    let timeline = format!(
        r"\b(?:asap|a\.s\.a\.p|as\s+soon\s+as\s+possible|immediately|right\s+away|urgent(?:ly)?|soon|(?:this|next)\s+(?:week|month|year|{SEASONS})|(?:in|within)\s+(?:the\s+)?(?:next\s+)?(?:\d+|a|one|two|three|four|five|six|nine|twelve|a\s+few|few|a\s+couple(?:\s+of)?|couple(?:\s+of)?)\s+(?:days?|weeks?|months?|years?)|(?:by|before|in|this|early|mid|late|end\s+of)[\s-]+(?:the\s+)?(?:{SEASONS}|{MONTHS}|end\s+of\s+(?:the\s+)?(?:year|month|{SEASONS})|20\d\d)|end\s+of\s+(?:the\s+)?(?:year|month)|(?:\d+|a\s+few|few|a\s+couple\s+of|couple\s+of)\s+(?:weeks?|months?)\s+from\s+now|no\s+rush|not\s+in\s+a\s+(?:rush|hurry)|just\s+(?:browsing|looking))\b"
    );
    let financing: &[(&str, &'static str)] = &[
        (
            r"\b(?:need|needs|looking\s+for|don'?t\s+have|do\s+not\s+have|haven'?t\s+(?:found|got|talked\s+to))\s+(?:a\s+)?(?:lender|loan\s+officer|mortgage\s+broker)\b|\bnot\s+(?:yet\s+)?pre[\s-]?(?:approved|qualified)\b|\bhaven'?t\s+(?:been\s+|gotten\s+|got\s+)?pre[\s-]?(?:approved|qualified)\b|\bneed\s+(?:to\s+get\s+)?pre[\s-]?approved\b|\bneed\s+financing\b",
            "not started",
        ),
        (
            r"\bpre[\s-]?approved\b|\bpre[\s-]?approval\b",
            "pre-approved",
        ),
        (r"\bpre[\s-]?qualified\b|\bpre[\s-]?qual\b", "pre-qualified"),
        (
            r"\b(?:paying|pay|buying\s+with|all)[\s-]+(?:in\s+|all\s+)?cash\b|\bcash\s+(?:buyer|purchase)\b",
            "cash",
        ),
        (r"\b(?:fha|va|usda|conventional)\s+loan\b", "loan"),
    ];
    let motivation: &[(&str, &'static str)] = &[
        (
            r"\brelocat(?:e|ed|ing|ion)\b|\bjob\s+transfer\b|\b(?:got\s+)?transferred\b|\bmoving\s+for\s+(?:work|a\s+job)\b|\bnew\s+job\b",
            "relocation",
        ),
        (
            r"\bgrowing\s+family\b|\bbaby\s+on\s+the\s+way\b|\bexpecting\s+a\s+baby\b|\boutgr[eo]wn?\b|\bneed\s+more\s+(?:space|room)\b|\bupsiz(?:e|ing)\b",
            "growing family",
        ),
        (
            r"\bdownsiz(?:e|ing)\b|\bempty\s+nest(?:ers?)?\b",
            "downsizing",
        ),
        (r"\bdivorc(?:e|ed|ing)\b|\bseparat(?:ed|ing)\b", "divorce"),
        (r"\bretir(?:e|ed|ing|ement)\b", "retirement"),
        (
            r"\bfirst[\s-]+(?:home|house)\b|\bfirst[\s-]+time\s+(?:home\s*)?buyers?\b",
            "first home",
        ),
        (
            r"\binvest(?:ment|or|ing)\b|\brental\s+property\b",
            "investment",
        ),
        (
            r"\bcloser\s+to\s+(?:family|work|my\s+(?:parents|kids|family|job))\b",
            "closer to family or work",
        ),
        (r"\binherit(?:ed|ance)?\b", "inherited property"),
        (
            r"\bforeclos(?:ure|ing)\b|\bbehind\s+on\s+(?:payments|the\s+mortgage)\b|\bcan'?t\s+afford\s+the\s+(?:payments|mortgage)\b",
            "financial",
        ),
        (
            r"\btired\s+of\s+renting\b|\bstop\s+renting\b|\bdone\s+renting\b",
            "stop renting",
        ),
    ];
    let condition: &[(&str, &'static str)] = &[
        (
            r"\bfixer(?:[\s-]*upper)?\b|\bneeds\s+a\s+lot\s+of\s+work\b|\bneeds\s+major\b|\brough\s+shape\b|\btear[\s-]*down\b|\bgut\s+(?:job|it)\b",
            "fixer-upper",
        ),
        (
            r"\bneeds\s+(?:some\s+|a\s+little\s+|a\s+bit\s+of\s+)?(?:work|repairs?|updating|updates|tlc|love)\b|\bsome\s+repairs\b|\bdated\b",
            "needs work",
        ),
        (
            r"\bmove[\s-]*in[\s-]*ready\b|\bturn[\s-]*key\b|\b(?:great|good|excellent|perfect)\s+(?:shape|condition)\b|\b(?:fully|recently)\s+(?:updated|renovated|remodeled)\b",
            "move-in ready",
        ),
    ];
    let buy = r"\b(?:buy|buying|purchase|purchasing|home\s*buyer|looking\s+for\s+a\s+(?:home|house|place))\b";
    let sell = r"\b(?:sell|selling|list|listing)\b";
    let wholesale = r"\b(?:as[\s-]is|fast\s+sale|quick\s+sale|cash\s+offer|quick(?:ly)?|need\s+to\s+sell\s+fast|sell\s+(?:it\s+)?fast|don'?t\s+want\s+to\s+(?:fix|repair))\b";
    let listing = r"\b(?:best\s+price|top\s+dollar|what'?s\s+it\s+worth|how\s+much\s+(?:can|could|would)\s+i\s+get|market\s+value|list\s+it|mls)\b";
    let worth = r"\bworth\b";
    let name = r"\b(?:my\s+name\s+is|my\s+name'?s|this\s+is)\s+";
    let topics: &[(&str, &'static str)] = &[
        (r"\b(?:budget|price|afford|spend|cost|worth)\b", "budget"),
        (
            r"\b(?:area|location|where|neighbou?rhood|city|part\s+of\s+town)\b",
            "location",
        ),
        (
            r"\b(?:when|timeline|timing|how\s+soon|timeframe|time\s+frame)\b",
            "timeline",
        ),
        (
            r"\b(?:beds?|bedrooms?|baths?|bathrooms?|must[\s-]haves?|features)\b",
            "bedrooms",
        ),
        (
            r"\b(?:financ\w*|lender|loan|mortgage|pre[\s-]?approv\w*|cash)\b",
            "financing",
        ),
        (r"\b(?:why|reason|motivat\w*|prompting)\b", "motivation"),
        (
            r"\b(?:condition|repairs?|shape|move[\s-]in\s+ready|fixer)\b",
            "home_condition",
        ),
    ];

    let patterns: Vec<String> = CATS
        .iter()
        .map(|c| match c {
            Cat::Budget => budget.to_string(),
            Cat::Bedrooms => bedrooms.clone(),
            Cat::Bathrooms => bathrooms.clone(),
            Cat::MustHaves => alternation(must_haves),
            Cat::Timeline => timeline.clone(),
            Cat::Financing => alternation(financing),
            Cat::Motivation => alternation(motivation),
            Cat::Condition => alternation(condition),
            Cat::Goal => format!("{buy}|{sell}"),
            Cat::Pathway => format!("{wholesale}|{listing}|{worth}"),
            Cat::Name => name.to_string(),
            Cat::Place => r"\b(?:in|near|around|close\s+to)\s+\S".to_string(),
            Cat::Unsure => UNSURE_PATTERN.trim_start_matches("(?i)").to_string(),
        })
        .map(|p| ascii_b(&p))
        .collect();
    let list = |l: &[(&str, &'static str)]| l.iter().map(|(p, v)| (re(p), *v)).collect();
    Builtins {
        set: regex::RegexSetBuilder::new(patterns).build().expect("valid"),
        budget_context: re(r"\b(?:budget|price|afford|spend|pay|offer|range|around|about|up\s+to|under|below|max(?:imum)?|less\s+than|between)\b"),
        bedrooms: re(&bedrooms),
        bathrooms: re(&bathrooms),
        must_have_verb: re(must_have_verb),
        must_haves: list(must_haves),
        timeline: re(&timeline),
        financing: list(financing),
        motivation: list(motivation),
        condition: list(condition),
        buy: re(buy),
        sell: re(sell),
        wholesale: re(wholesale),
        listing: re(listing),
        worth: re(worth),
        worth_object: re(r"\b(?:house|home|property|place|it)\b"),
        // Case matters for the name itself: only the lead-in is case-insensitive.
        name: Regex::new(&ascii_b(&format!(r"(?i:{name})([A-Z][a-zA-Z'-]{{1,30}})"))).expect("valid"),
        place: Regex::new(&ascii_b(r"(?i:\b(?:in|near|around|close\s+to)\s+)([A-Z][a-zA-Z'-]*[a-zA-Z](?:[ \t]+[A-Z][a-zA-Z'-]*[a-zA-Z]){0,2})")).expect("valid"),
        unsure: Regex::new(&ascii_b(UNSURE_PATTERN)).expect("valid"),
        topics: list(topics),
    }
});

/// Words that follow "in"/"near" with a capital letter but are not places.
fn not_a_place(word: &str) -> bool {
    const STOP: &[&str] = &[
        "I",
        "A",
        "An",
        "The",
        "My",
        "Our",
        "Your",
        "It",
        "This",
        "That",
        "Cash",
        "Person",
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
        "Spring",
        "Summer",
        "Fall",
        "Autumn",
        "Winter",
        "Touch",
        "Mind",
        "Advance",
        "Fact",
        "General",
        "Total",
    ];
    STOP.contains(&word)
}

/// The label of the first pattern that matches.
fn first_label(list: &[(Regex, &'static str)], text: &str) -> Option<Value> {
    list.iter()
        .find(|(r, _)| r.is_match(text))
        .map(|(_, v)| json!(v))
}

impl Builtins {
    /// The fact one category finds in the lower-cased `text` (`original` for names,
    /// whose capitals matter), as (fact name, value).
    fn fact(&self, cat: Cat, text: &str, original: &str) -> Option<(&'static str, Value)> {
        let number = |r: &Regex| r.captures(text).and_then(|c| number_word(&c[1]));
        Some(match cat {
            Cat::Budget => ("budget", json!(self.budget(text)?)),
            Cat::Bedrooms => ("bedrooms", number(&self.bedrooms)?),
            Cat::Bathrooms => ("bathrooms", number(&self.bathrooms)?),
            Cat::MustHaves => ("must_haves", self.must_haves(text)?),
            Cat::Timeline => (
                "timeline",
                json!(self.timeline.find(text)?.as_str().to_lowercase()),
            ),
            Cat::Financing => ("financing", first_label(&self.financing, text)?),
            Cat::Motivation => ("motivation", first_label(&self.motivation, text)?),
            Cat::Condition => ("home_condition", first_label(&self.condition, text)?),
            Cat::Goal => ("goal", json!(self.goal(text)?)),
            Cat::Pathway => ("pathway", json!(self.pathway(text)?)),
            Cat::Name => {
                let c = self.name.captures(original)?;
                let name = c.get(1)?.as_str();
                if not_a_place(name) {
                    return None;
                }
                ("name", json!(name))
            }
            Cat::Place | Cat::Unsure => return None,
        })
    }

    /// The largest amount written as money (or, after budget words, a bare number of at
    /// least 10,000), in whole dollars.
    fn budget(&self, text: &str) -> Option<i64> {
        let context = self.budget_context.is_match(text);
        money_mentions(text)
            .filter(|(n, explicit)| (*explicit || (context && *n >= 10_000.0)) && *n >= 1_000.0)
            .map(|(n, _)| n)
            .fold(None, |m: Option<f64>, n| Some(m.map_or(n, |m| m.max(n))))
            .map(|n| n.round() as i64)
    }

    /// Must-haves, only after a verb of wanting ("need", "want", "must have").
    fn must_haves(&self, text: &str) -> Option<Value> {
        if !self.must_have_verb.is_match(text) {
            return None;
        }
        let list: Vec<Value> = self
            .must_haves
            .iter()
            .filter(|(r, _)| r.is_match(text))
            .map(|(_, v)| json!(v))
            .collect();
        (!list.is_empty()).then_some(Value::Array(list))
    }

    /// `buy` or `sell`, whichever the message says first.
    fn goal(&self, text: &str) -> Option<&'static str> {
        let buy = self.buy.find(text).map(|m| m.start());
        let sell = self.sell.find(text).map(|m| m.start());
        match (buy, sell) {
            (Some(x), Some(y)) => Some(if x <= y { "buy" } else { "sell" }),
            (Some(_), None) => Some("buy"),
            (None, Some(_)) => Some("sell"),
            (None, None) => None,
        }
    }

    /// `wholesale` or `listing`, from the prototype's phrases.
    fn pathway(&self, text: &str) -> Option<&'static str> {
        if self.wholesale.is_match(text) {
            Some("wholesale")
        } else if self.listing.is_match(text)
            || (self.worth.is_match(text) && self.worth_object.is_match(text))
        {
            Some("listing")
        } else {
            None
        }
    }
}

/// A tenant's extra patterns for one fact: each regex with the value it records
/// (`None`: the matched text).
type FactPatterns = (String, Vec<(Regex, Option<Value>)>);

/// A tenant's compiled extractor: the built-ins plus its service areas and extra patterns.
pub struct Extractor {
    areas: Option<Regex>,
    area_names: HashMap<String, String>,
    custom: Vec<FactPatterns>,
    builtin_off: Vec<String>,
    questions: Vec<(String, String)>,
}

/// Builds a case-insensitive pattern from tenant text, naming the fact on error.
fn tenant_regex(fact: &str, pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .case_insensitive(true)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| format!("extract.{fact}: invalid pattern {pattern:?}: {e}"))
}

impl Extractor {
    /// Compiles a tenant's extractor; an invalid tenant pattern is an error message.
    pub(crate) fn new(spec: ExtractorSpec<'_>) -> Result<Self, String> {
        let mut area_names = HashMap::new();
        for name in spec.places {
            area_names.insert(name.to_lowercase(), name.to_string());
        }
        let areas = if area_names.is_empty() {
            None
        } else {
            let mut names: Vec<&String> = area_names.keys().collect();
            // Longest first so "Highland Park" wins over "Park" style prefixes.
            names.sort_by_key(|n| std::cmp::Reverse(n.len()));
            let alt = names
                .iter()
                .map(|n| regex::escape(n).replace(' ', r"\s+"))
                .collect::<Vec<_>>()
                .join("|");
            Some(
                RegexBuilder::new(&ascii_b(&format!(r"\b(?:{alt})\b")))
                    .case_insensitive(true)
                    .build()
                    .map_err(|e| format!("service_areas: {e}"))?,
            )
        };
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
        for texts in spec.questions.values() {
            for (id, text) in texts {
                let topic = if id == "property" { "bedrooms" } else { id };
                questions.push((text.to_lowercase(), topic.to_string()));
            }
        }
        Ok(Self {
            areas,
            area_names,
            custom,
            builtin_off,
            questions,
        })
    }

    fn builtin(&self, fact: &str) -> bool {
        !self.builtin_off.iter().any(|f| f == fact)
    }

    /// The data point an agent message asks about (used to file "not sure" answers).
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
        BUILTINS
            .topics
            .iter()
            .find(|(r, _)| r.is_match(&lower))
            .map(|(_, t)| t.to_string())
    }

    /// The tenant's own patterns, first match per fact (on the raw text).
    fn custom_facts(&self, text: &str) -> Facts {
        let mut found = Facts::new();
        for (fact, list) in &self.custom {
            if let Some(v) = list.iter().find_map(|(r, v)| {
                r.find(text)
                    .map(|m| v.clone().unwrap_or_else(|| json!(m.as_str())))
            }) {
                found.insert(fact.clone(), v);
            }
        }
        found
    }

    /// Extracts facts from one lead message into `out` (later values override older ones).
    /// `asked` is the data point the previous agent message asked about, if any.
    pub fn extract_into(&self, text: &str, asked: Option<&str>, out: &mut Facts) {
        let b = &*BUILTINS;
        let mut found = self.custom_facts(text);
        // ASCII lower-casing keeps byte offsets, so spans found in `lower` index `text` too.
        let lower = text.to_ascii_lowercase();
        let hits = b.set.matches(&lower);
        let mut unsure = None;
        for i in hits.iter() {
            if let Cat::Unsure = CATS[i] {
                unsure = b.unsure.find(&lower).map(|m| m.as_str().to_lowercase());
            } else if let Some((fact, v)) = b.fact(CATS[i], &lower, text) {
                if self.builtin(fact) && !found.contains_key(fact) {
                    found.insert(fact.to_string(), v);
                }
            }
        }
        self.locations(text, hits.matched(Cat::Place as usize), &mut found);
        if let Some(phrase) = unsure {
            // File the unsure answer under the topic the message names, else the one
            // the agent just asked about; never over a value this message gave.
            let topic = b
                .topics
                .iter()
                .find(|(r, _)| r.is_match(&lower))
                .map(|(_, t)| *t)
                .or(asked);
            if let Some(topic) = topic {
                let known = out.get(topic).is_some_and(is_answered);
                if !found.contains_key(topic) && !known {
                    found.insert(topic.to_string(), json!(phrase));
                }
            }
        }
        out.extend(found);
    }

    fn locations(&self, text: &str, place_hit: bool, found: &mut Facts) {
        if !self.builtin("location") || found.contains_key("location") {
            return;
        }
        let mut places: Vec<String> = Vec::new();
        let mut push = |p: String| {
            if !places.iter().any(|q| q.eq_ignore_ascii_case(&p)) {
                places.push(p);
            }
        };
        if let Some(areas) = &self.areas {
            for m in areas.find_iter(text) {
                let key = m
                    .as_str()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .to_lowercase();
                if let Some(name) = self.area_names.get(&key) {
                    push(name.clone());
                }
            }
        }
        if place_hit {
            for c in BUILTINS.place.captures_iter(text) {
                let words: Vec<&str> = c[1]
                    .split_whitespace()
                    .take_while(|w| !not_a_place(w))
                    .collect();
                if !words.is_empty() {
                    let place = words.join(" ");
                    let canonical = self.area_names.get(&place.to_lowercase()).cloned();
                    push(canonical.unwrap_or(place));
                }
            }
        }
        match places.len() {
            0 => {}
            1 => {
                found.insert("location".into(), json!(places.remove(0)));
            }
            _ => {
                found.insert("location".into(), json!(places));
            }
        }
    }

    /// Extracts facts from a whole conversation, oldest message first; agent messages are
    /// read only to learn which data point a lead's "not sure" answers.
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
