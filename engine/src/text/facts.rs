//! What counts as an answer: the value rules shared by extractors, scripts and the scorer,
//! and money parsing ("$450k", "450,000", "half a million", ranges by their upper bound).

use regex::Regex;
use serde_json::Value;
use std::sync::LazyLock;

/// The seven qualifying data points of the default rules, in display order.
pub const DATA_POINTS: [&str; 7] = [
    "budget",
    "location",
    "timeline",
    "property",
    "financing",
    "motivation",
    "home_condition",
];

/// The facts that together make the `property` data point (counted once).
pub const PROPERTY_FACTS: [&str; 3] = ["bedrooms", "bathrooms", "must_haves"];

/// Phrases that say the lead does not know. Shared with the extractor. Word boundaries
/// are ASCII ones (`(?-u:\b)`), which keep the regex crate on its fast paths; "no sé"
/// ends in a letter that is not ASCII, so it needs no boundary after it.
pub(crate) const UNSURE_PATTERN: &str = r"(?i)(?-u:\b)(?:(?:not\s+(?:really\s+)?sure|no\s+idea|unsure|unknown|don'?t\s+know|do\s+not\s+know|dunno|idk|no\s+clue|not\s+certain|undecided|haven'?t\s+decided|haven'?t\s+thought|no\s+se)(?-u:\b)|no\s+sé)";

static UNSURE: LazyLock<Regex> = LazyLock::new(|| Regex::new(UNSURE_PATTERN).expect("valid"));

/// A value that stands for nothing: "n/a", "tbd", "none", "-", "???".
fn emptyish(t: &str) -> bool {
    const WORDS: [&str; 7] = ["n/a", "na", "tbd", "none", "null", "nil", ""];
    WORDS.iter().any(|w| t.eq_ignore_ascii_case(w))
        || t.bytes().all(|b| b == b'-')
        || t.bytes().all(|b| b == b'?')
}

/// True when a text value says the lead does not know ("not sure yet", "no idea",
/// "unknown") and carries no figure that would make it an answer after all.
pub fn is_unsure_text(text: &str) -> bool {
    let t = text.trim();
    (!t.is_empty() && emptyish(t))
        || (!t.bytes().any(|b| b.is_ascii_digit()) && may_say_unsure(t) && UNSURE.is_match(t))
}

/// False only when `t` cannot match [`UNSURE_PATTERN`]: an ASCII text holding none of
/// the words every one of its phrases contains ("sure", "idea", "know", "dunno", "idk",
/// "clue", "certain", "decided", "thought", or "no" and a space). Most values ("Plano",
/// "2 months", "relocating for work") are told apart in one pass over their bytes instead
/// of a run of the regex. A text that is not ASCII goes to the regex: under `(?i)` an
/// ASCII letter also matches non-ASCII ones (the Kelvin sign is a `k`).
fn may_say_unsure(t: &str) -> bool {
    if !t.is_ascii() {
        return true;
    }
    let b = t.as_bytes();
    let at = |i: usize, word: &[u8]| {
        b.get(i..i + word.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(word))
    };
    (0..b.len()).any(|i| match b[i].to_ascii_lowercase() {
        b's' => at(i, b"sure"),
        b'i' => at(i, b"idea") || at(i, b"idk"),
        b'k' => at(i, b"know"),
        b'd' => at(i, b"dunno") || at(i, b"decided"),
        b'c' => at(i, b"clue") || at(i, b"certain"),
        b't' => at(i, b"thought"),
        b'n' => {
            at(i, b"no")
                && b.get(i + 2)
                    .is_some_and(|c| c.is_ascii_whitespace() || *c == 0x0b)
        }
        _ => false,
    })
}

/// The counting rule: a value counts when it holds something. Not null, not an empty
/// string, list or map, not `false`, not 0, and not an unsure answer.
pub fn is_answered(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.trim().is_empty() && !is_unsure_text(s),
        Value::Array(items) => items.iter().any(is_answered),
        Value::Object(map) => !map.is_empty(),
    }
}

/// True when a value was given but says the lead does not know.
pub fn is_unsure(value: &Value) -> bool {
    match value {
        Value::String(s) => !s.trim().is_empty() && is_unsure_text(s),
        Value::Array(items) => !items.is_empty() && items.iter().all(is_unsure),
        _ => false,
    }
}

/// An amount of money found in text: `(dollars, explicit)` where `explicit` means it was
/// written as money (a `$`, a k/thousand/million suffix or thousands separators), not a
/// bare number.
pub(crate) fn money_mentions(text: &str) -> impl Iterator<Item = (f64, bool)> + '_ {
    static MONEY: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"(?ix)
            (?P<words>(?:half\s+a|a\s+half|quarter\s+(?:of\s+)?a|a)\s+mil(?:lion|l)?\b)
            |
            (?P<dollar>\$)?\s*
            (?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)
            \s*(?P<suf>k\b|thousand\b|grand\b|mm?\b|mil(?:lion|l)?\b)?",
        )
        .expect("valid")
    });
    MONEY.captures_iter(text).filter_map(|c| {
        if let Some(w) = c.name("words") {
            let w = w.as_str().to_ascii_lowercase();
            let amount = if w.starts_with("half") || w.starts_with("a half") {
                500_000.0
            } else if w.starts_with("quarter") {
                250_000.0
            } else {
                1_000_000.0
            };
            return Some((amount, true));
        }
        let raw = c.name("num")?.as_str();
        let grouped = raw.contains(',');
        let n: f64 = raw.replace(',', "").parse().ok()?;
        let (mult, suffixed) = match c.name("suf").map(|s| s.as_str().to_ascii_lowercase()) {
            Some(s) if s == "k" || s == "thousand" || s == "grand" => (1_000.0, true),
            Some(_) => (1_000_000.0, true),
            None => (1.0, false),
        };
        let explicit = suffixed || c.name("dollar").is_some() || grouped;
        Some((n * mult, explicit))
    })
}

/// Parses a budget value to whole dollars: numbers pass through; text such as "$450k",
/// "450,000", "450 thousand", "1.2 million", "under half a million" or a range
/// ("$300,000 to $350,000", "300-350k") gives the upper bound. A bare small number in a
/// budget ("450") is read as thousands. `None` when there is no amount.
///
/// ```
/// use qualify_engine::text::parse_money;
/// assert_eq!(parse_money(&"$300,000 to $350,000".into()), Some(350_000));
/// assert_eq!(parse_money(&"under half a million".into()), Some(500_000));
/// ```
pub fn parse_money(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_f64().map(|f| f.round() as i64),
        Value::String(s) => money_in_text(s),
        Value::Array(items) => items.iter().filter_map(parse_money).max(),
        _ => None,
    }
}

/// [`parse_money`] of a text: the largest amount it mentions.
pub(crate) fn money_in_text(s: &str) -> Option<i64> {
    money_mentions(s)
        .map(|(n, explicit)| {
            if !explicit && n < 10_000.0 {
                n * 1_000.0
            } else {
                n
            }
        })
        .fold(None, |max: Option<f64>, n| {
            Some(max.map_or(n, |m| m.max(n)))
        })
        .filter(|n| *n > 0.0)
        .map(|n| n.round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The quick check before the regex never turns away a text the regex matches:
    /// every phrase in several cases and spacings, alone and inside text, and every
    /// suffix of every message of the extraction dataset (so phrases start anywhere).
    #[test]
    fn the_check_before_the_unsure_regex_lets_every_match_through() {
        let phrases = [
            "not sure",
            "not really sure",
            "no idea",
            "unsure",
            "unknown",
            "don't know",
            "dont know",
            "do not know",
            "dunno",
            "idk",
            "no clue",
            "not certain",
            "undecided",
            "haven't decided",
            "havent decided",
            "haven't thought",
            "havent thought",
            "no se",
            "no sé",
        ];
        let mut texts: Vec<String> = Vec::new();
        for p in phrases {
            for spaced in [
                p.to_string(),
                p.replace(' ', "\t"),
                p.replace(' ', "  "),
                p.replace(' ', "\u{b}"),
            ] {
                for cased in [
                    spaced.clone(),
                    spaced.to_uppercase(),
                    spaced.to_ascii_uppercase(),
                ] {
                    texts.push(format!("well, {cased} yet"));
                    texts.push(cased);
                }
            }
        }
        let data = include_str!("../../../tests/data/extraction.jsonl");
        for line in data.lines().filter(|l| !l.trim().is_empty()) {
            let row: Value = serde_json::from_str(line).expect("a JSON line");
            let text = row["text"].as_str().unwrap_or_default();
            for (i, _) in text.char_indices() {
                texts.push(text[i..].to_string());
            }
        }
        let mut matched = 0;
        for t in &texts {
            if UNSURE.is_match(t) {
                matched += 1;
                assert!(may_say_unsure(t), "the quick check turned away {t:?}");
            }
        }
        assert!(
            matched > 200,
            "only {matched} texts matched: the corpus lost its phrases"
        );
        // And it does turn away the values it is there for.
        for t in [
            "Plano",
            "2 months",
            "relocating for work",
            "3 bed 2 bath",
            "buy",
        ] {
            assert!(!may_say_unsure(t), "{t:?}");
        }
    }

    #[test]
    fn counting_rule() {
        for v in [
            json!(null),
            json!(""),
            json!("  "),
            json!(0),
            json!(0.0),
            json!([]),
            json!({}),
            json!(false),
        ] {
            assert!(!is_answered(&v), "{v} must not count");
        }
        for v in [
            json!("not sure"),
            json!("Not sure yet"),
            json!("no idea"),
            json!("unknown"),
            json!(["idk"]),
        ] {
            assert!(!is_answered(&v), "{v} must not count");
            assert!(is_unsure(&v), "{v} is unsure");
        }
        for v in [
            json!(400000),
            json!("Austin"),
            json!(["Austin", "Round Rock"]),
            json!(true),
            json!({"a": 1}),
            json!("not sure, maybe 400k"),
        ] {
            assert!(is_answered(&v), "{v} must count");
        }
    }

    #[test]
    fn money() {
        let m = |s: &str| parse_money(&json!(s));
        assert_eq!(m("$450k"), Some(450_000));
        assert_eq!(m("450,000"), Some(450_000));
        assert_eq!(m("450 thousand"), Some(450_000));
        assert_eq!(m("around 450K"), Some(450_000));
        assert_eq!(m("$300,000 to $350,000"), Some(350_000));
        assert_eq!(m("300-350k"), Some(350_000));
        assert_eq!(m("1.2 million"), Some(1_200_000));
        assert_eq!(m("under half a million"), Some(500_000));
        assert_eq!(m("450"), Some(450_000));
        assert_eq!(m("300000"), Some(300_000));
        assert_eq!(m("no idea"), None);
        assert_eq!(parse_money(&json!(400000)), Some(400_000));
    }
}
