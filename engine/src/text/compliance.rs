//! Texting compliance: opt-out keywords (English and Spanish, and clear free-text
//! revocations), resubscribe and help keywords.

use regex::Regex;
use std::sync::LazyLock;

/// What a message asks for, compliance-wise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    /// Stop all texts.
    OptOut,
    /// Start texts again.
    Resubscribe,
    /// Who is this / how to reach a person.
    Help,
}

/// A keyword alone (with "please" around it, or "it": "stop it"), surrounding
/// punctuation ignored.
static KEYWORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)^\W*(?:(?:please|pls|por\s+favor)\W+)?",
        r"(stop|stopall|stop all|unsubscribe|cancel|end|quit|revoke|optout|opt out|opt-out",
        r"|parar|para|cancelar|baja|detener|alto|basta",
        r"|start|unstop|subscribe|help|info|ayuda)",
        r"(?:\W+(?:it|please|pls|now|por\s+favor|ya))*\W*$"
    ))
    .expect("valid")
});

static REVOCATION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)\b(",
        r"stop (texting|messaging|contacting|calling|sending)( me| us)?",
        r"|(please |pls )?(do not|don'?t) (text|message|contact|sms) (me|us)( anymore| again)?",
        r"|remove me( from (your|this|the) (list|texts))?",
        r"|take me off (your|this|the) list",
        r"|unsubscribe me|opt me out|i want to opt out",
        r"|no (m[aá]s|mas) mensajes|deja(n)? de (enviar|escribir|mandar)(me)?",
        r"|no me (escriban|escribas|env[ií]en|env[ií]es|manden|mandes)",
        r"|ya no (me )?(escriban|escribas|env[ií]en|env[ií]es|manden|mandes)",
        r"|(ya )?no quiero (recibir|que me (env[ií]en|manden|escriban))( m[aá]s)? (mensajes|textos)",
        r")\b"
    ))
    .expect("valid")
});

/// Classifies a message: a keyword alone (case-insensitive, surrounding punctuation
/// ignored) or a clear free-text revocation.
///
/// ```
/// use qualify_engine::text::compliance::{classify, Request};
/// assert_eq!(classify(" Stop. "), Some(Request::OptOut));
/// assert_eq!(classify("please stop texting me"), Some(Request::OptOut));
/// assert_eq!(classify("No más mensajes por favor"), Some(Request::OptOut));
/// assert_eq!(classify("START"), Some(Request::Resubscribe));
/// assert_eq!(classify("don't stop believing"), None);
/// ```
pub fn classify(text: &str) -> Option<Request> {
    if let Some(c) = KEYWORD.captures(text) {
        return Some(match c[1].to_lowercase().as_str() {
            "start" | "unstop" | "subscribe" => Request::Resubscribe,
            "help" | "info" | "ayuda" => Request::Help,
            _ => Request::OptOut,
        });
    }
    REVOCATION.is_match(text).then_some(Request::OptOut)
}
