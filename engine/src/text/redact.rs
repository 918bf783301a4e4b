//! PII redaction: SSNs (with validity rules), Luhn-checked payment cards, emails, NANP
//! phone numbers, and bank account numbers near context words. Each finding reports its
//! entity type and byte span in the original text; the text comes back with tokens.

use regex::Regex;
use serde::Serialize;
use std::sync::LazyLock;

/// A kind of personal data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Entity {
    /// US social security number.
    #[serde(rename = "US_SSN")]
    Ssn,
    /// Payment card number (Luhn-valid, 13-19 digits).
    #[serde(rename = "CREDIT_CARD")]
    CreditCard,
    /// E-mail address.
    #[serde(rename = "EMAIL_ADDRESS")]
    Email,
    /// North American phone number.
    #[serde(rename = "PHONE_NUMBER")]
    Phone,
    /// Bank account number (8-17 digits near a word such as "account" or "routing").
    #[serde(rename = "US_BANK_NUMBER")]
    BankAccount,
}

impl Entity {
    /// The replacement token.
    pub fn token(self) -> &'static str {
        match self {
            Entity::Ssn => "[REDACTED_SSN]",
            Entity::CreditCard => "[REDACTED_CREDIT_CARD]",
            Entity::Email => "[REDACTED_EMAIL]",
            Entity::Phone => "[REDACTED_PHONE]",
            Entity::BankAccount => "[REDACTED_BANK]",
        }
    }
}

/// One piece of PII found: its type and byte span `start..end` in the original text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What it is.
    pub entity: Entity,
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset one past the last byte.
    pub end: usize,
}

/// Redacted text and what was found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Redacted {
    /// The text with each finding replaced by its token.
    pub text: String,
    /// Findings in order of position.
    pub findings: Vec<Finding>,
}

struct Patterns {
    email: Regex,
    card: Regex,
    ssn: Regex,
    ssn_bare: Regex,
    phone: Regex,
    bank: Regex,
    bank_context: Regex,
}

static PATTERNS: LazyLock<Patterns> = LazyLock::new(|| {
    Patterns {
    // Letters of any script in the address (`josé@…`, internationalised domains).
    email: Regex::new(r"[\p{L}\p{N}._%+-]+@[\p{L}\p{N}.-]+\.\p{L}{2,}\b").expect("valid"),
    // A run of digit groups separated by single spaces or dashes; the card is looked for
    // inside it group by group (an expiry or a room number may run on from it).
    card: Regex::new(r"\b\d+(?:[ -]\d+)*\b").expect("valid"),
    ssn: Regex::new(r"\b(\d{3})([- ])(\d{2})([- ])(\d{4})\b").expect("valid"),
    // Nine bare digits are an SSN only right after a context word ("SSN", "social
    // security"); without one they are as likely an order or MLS number.
    ssn_bare: Regex::new(r"(?i)\b(?:ssn|ss\#|social\s+security(?:\s+(?:number|no\.?|\#))?)\s*(?:is|was|:|\#|-|number)?\s*(\d{3})(\d{2})(\d{4})\b").expect("valid"),
    // With the country code the area code may follow it directly (E.164: `+12145550199`).
    phone: Regex::new(r"(?:\+?\b1[ .-]?(?:\(\s*([2-9]\d{2})\s*\)|([2-9]\d{2}))|\(\s*([2-9]\d{2})\s*\)|\b([2-9]\d{2}))[ .-]?([2-9]\d{2})[ .-]?(\d{4})\b").expect("valid"),
    bank: Regex::new(r"\b\d{8,17}\b").expect("valid"),
    bank_context: Regex::new(r"(?i)\b(?:account|acct|routing|aba|bank|checking|savings|deposit|wire|iban)\b").expect("valid"),
}
});

fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(*d);
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum % 10 == 0
}

fn digits(s: &str) -> Vec<u8> {
    s.bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect()
}

/// SSA rules: area not 000, 666 or 900-999; group not 00; serial not 0000.
fn valid_ssn(area: &str, group: &str, serial: &str) -> bool {
    area != "000" && area != "666" && !area.starts_with('9') && group != "00" && serial != "0000"
}

/// Characters before a bank number in which a context word counts.
const BANK_WINDOW: usize = 41;

/// The `BANK_WINDOW` characters before byte `at`, with what was found there already
/// replaced by its token: the window as it reads in the redacted text.
fn window_before(text: &str, found: &[Finding], at: usize) -> String {
    let mut pieces: Vec<&str> = Vec::new();
    let mut chars = 0;
    let mut pos = at;
    while pos > 0 && chars < BANK_WINDOW {
        if let Some(f) = found.iter().find(|f| f.start < pos && pos <= f.end) {
            pieces.push(f.entity.token());
            chars += f.entity.token().len();
            pos = f.start;
        } else {
            let (i, _) = text[..pos].char_indices().next_back().expect("pos > 0");
            pieces.push(&text[i..pos]);
            chars += 1;
            pos = i;
        }
    }
    let joined: String = pieces.into_iter().rev().collect();
    let skip = joined.chars().count().saturating_sub(BANK_WINDOW);
    joined.chars().skip(skip).collect()
}

/// Card numbers inside a run of digit groups (`run` as the card pattern matched it):
/// byte spans of whole-group windows with 13–19 digits that pass the Luhn check (and
/// are not one digit repeated), the longest first from each starting group among those
/// `free` accepts (a window reaching into something found already, such as the digit an
/// email address starts with, is passed over for a shorter one).
fn cards_in(run: &str, free: impl Fn(usize, usize) -> bool) -> Vec<(usize, usize)> {
    let groups: Vec<(usize, usize)> = {
        let mut out = Vec::new();
        let mut start = None;
        for (i, b) in run.bytes().enumerate() {
            match (b.is_ascii_digit(), start) {
                (true, None) => start = Some(i),
                (false, Some(s)) => {
                    out.push((s, i));
                    start = None;
                }
                _ => {}
            }
        }
        if let Some(s) = start {
            out.push((s, run.len()));
        }
        out
    };
    let mut cards = Vec::new();
    let mut i = 0;
    while i < groups.len() {
        let mut count = 0;
        let mut best = None;
        for (j, &(s, e)) in groups.iter().enumerate().skip(i) {
            count += e - s;
            if count > 19 {
                break;
            }
            if count >= 13 {
                let d = digits(&run[groups[i].0..e]);
                if luhn(&d) && d.iter().any(|x| *x != d[0]) && free(groups[i].0, e) {
                    best = Some(j);
                }
            }
        }
        match best {
            Some(j) => {
                cards.push((groups[i].0, groups[j].1));
                i = j + 1;
            }
            None => i += 1,
        }
    }
    cards
}

/// Finds PII in `text` without changing it.
pub fn find(text: &str) -> Vec<Finding> {
    let p = &*PATTERNS;
    let mut found: Vec<Finding> = Vec::new();
    let overlaps =
        |found: &[Finding], s: usize, e: usize| found.iter().any(|f| s < f.end && f.start < e);
    let add = |found: &mut Vec<Finding>, entity, start, end| {
        if !overlaps(found, start, end) {
            found.push(Finding { entity, start, end });
        }
    };
    // Most specific first; later kinds never overlap earlier findings.
    for m in p.email.find_iter(text) {
        add(&mut found, Entity::Email, m.start(), m.end());
    }
    for m in p.card.find_iter(text) {
        let at = m.start();
        let cards = cards_in(m.as_str(), |s, e| !overlaps(&found, at + s, at + e));
        for (start, end) in cards {
            add(&mut found, Entity::CreditCard, at + start, at + end);
        }
    }
    for c in p.ssn.captures_iter(text) {
        // One delimiter style throughout ("123-45-6789", "123 45 6789").
        if c[2] == c[4] && valid_ssn(&c[1], &c[3], &c[5]) {
            let m = c.get(0).expect("group 0");
            add(&mut found, Entity::Ssn, m.start(), m.end());
        }
    }
    for c in p.ssn_bare.captures_iter(text) {
        if valid_ssn(&c[1], &c[2], &c[3]) {
            let (start, end) = (
                c.get(1).expect("area").start(),
                c.get(3).expect("serial").end(),
            );
            add(&mut found, Entity::Ssn, start, end);
        }
    }
    for c in p.phone.captures_iter(text) {
        let area = (1..=4).find_map(|i| c.get(i)).map_or("", |m| m.as_str());
        // NANP: area and exchange start 2-9 (the pattern), and no N11 service codes.
        if area.ends_with("11") || c[5].ends_with("11") {
            continue;
        }
        let m = c.get(0).expect("group 0");
        add(&mut found, Entity::Phone, m.start(), m.end());
    }
    for m in p.bank.find_iter(text) {
        // Bare digit runs are too common (MLS ids, prices): only near a context word,
        // looked for in the text as it reads redacted (a second pass sees the same).
        if p.bank_context
            .is_match(&window_before(text, &found, m.start()))
        {
            add(&mut found, Entity::BankAccount, m.start(), m.end());
        }
    }
    found.sort_by_key(|f| f.start);
    found
}

/// Replaces every finding with its token.
///
/// ```
/// use qualify_engine::text::redact::redact;
/// let r = redact("Call me at (214) 555-0199 or mail jo@example.com");
/// assert_eq!(r.text, "Call me at [REDACTED_PHONE] or mail [REDACTED_EMAIL]");
/// assert_eq!(r.findings[0].start, 11);
/// ```
pub fn redact(text: &str) -> Redacted {
    let findings = find(text);
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for f in &findings {
        out.push_str(&text[at..f.start]);
        out.push_str(f.entity.token());
        at = f.end;
    }
    out.push_str(&text[at..]);
    Redacted {
        text: out,
        findings,
    }
}
