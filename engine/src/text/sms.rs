//! SMS segment counting: GSM-7 (basic and extension tables) and UCS-2, as carriers bill it.
//!
//! A text is GSM-7 when every character is in the GSM 03.38 basic or extension table;
//! one character outside switches the whole text to UCS-2. GSM-7 fits 160 septets in one
//! message and 153 per part of a multipart message (the rest is the concatenation header);
//! extension characters cost two septets (escape + char). UCS-2 fits 70 UTF-16 units, 67
//! per part. An escape pair or a surrogate pair is never split across two parts, so a part
//! may carry one unit less than its maximum.

use serde::Serialize;

/// The encoding a text will be sent with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Encoding {
    /// 7-bit GSM default alphabet.
    #[serde(rename = "GSM-7")]
    Gsm7,
    /// UTF-16 (UCS-2 on the wire, surrogate pairs allowed).
    #[serde(rename = "UCS-2")]
    Ucs2,
}

/// How a text will be split and billed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SmsInfo {
    /// GSM-7 or UCS-2.
    pub encoding: Encoding,
    /// Number of messages billed (0 for an empty text).
    pub segments: usize,
    /// Septets (GSM-7) or UTF-16 code units (UCS-2).
    pub units: usize,
    /// The characters that forced UCS-2, each once, in order of appearance.
    pub non_gsm: Vec<char>,
}

const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM_EXTENSION: &str = "^{}\\[~]|€\u{000C}";

/// Septets a character costs in GSM-7, or `None` when it is not in the alphabet.
fn gsm_septets(c: char) -> Option<usize> {
    if c.is_ascii_alphanumeric() || c == ' ' {
        return Some(1);
    }
    if GSM_BASIC.contains(c) {
        Some(1)
    } else if GSM_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// Counts parts when items of `sizes` (1 or 2 units each) must not straddle a part boundary.
fn parts(sizes: impl Iterator<Item = usize>, total: usize, single: usize, multi: usize) -> usize {
    if total == 0 {
        return 0;
    }
    if total <= single {
        return 1;
    }
    let (mut count, mut used) = (1, 0);
    for size in sizes {
        if used + size > multi {
            count += 1;
            used = 0;
        }
        used += size;
    }
    count
}

/// Encoding, segment count and non-GSM characters of `text`.
///
/// ```
/// use qualify_engine::text::sms::{sms_info, Encoding};
/// assert_eq!(sms_info(&"a".repeat(160)).segments, 1);
/// assert_eq!(sms_info(&"a".repeat(161)).segments, 2);
/// assert_eq!(sms_info("Hi 👋").encoding, Encoding::Ucs2);
/// ```
pub fn sms_info(text: &str) -> SmsInfo {
    let mut non_gsm = Vec::new();
    let mut septets = 0;
    for c in text.chars() {
        match gsm_septets(c) {
            Some(n) => septets += n,
            None => {
                if !non_gsm.contains(&c) {
                    non_gsm.push(c);
                }
            }
        }
    }
    if non_gsm.is_empty() {
        let sizes = text.chars().filter_map(gsm_septets);
        SmsInfo {
            encoding: Encoding::Gsm7,
            segments: parts(sizes, septets, 160, 153),
            units: septets,
            non_gsm,
        }
    } else {
        let units: usize = text.chars().map(char::len_utf16).sum();
        let sizes = text.chars().map(char::len_utf16);
        SmsInfo {
            encoding: Encoding::Ucs2,
            segments: parts(sizes, units, 70, 67),
            units,
            non_gsm,
        }
    }
}

/// Number of SMS segments `text` costs.
pub fn segments(text: &str) -> usize {
    sms_info(text).segments
}

/// Replaces common look-alikes that would force UCS-2 (curly quotes, dashes, ellipsis,
/// non-breaking and other exotic spaces) with their GSM-7 equivalents.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{2032}' => out.push('\''),
            '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{2033}' => out.push('"'),
            '\u{2013}' | '\u{2014}' | '\u{2012}' | '\u{2212}' => out.push('-'),
            '\u{2026}' => out.push_str("..."),
            '\u{00A0}' | '\u{2002}' | '\u{2003}' | '\u{2009}' | '\u{202F}' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}
