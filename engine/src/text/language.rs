//! Which language a lead writes, from cue words: a small deterministic scorer, no model.
//!
//! Each word of the message found in the lexicon's Spanish list ("que", "queremos",
//! "casa", "recámaras", "mil", ...) scores one for Spanish; each found in the English
//! list ("the", "we", "looking", "budget", ...) one for English. Characters only Spanish
//! uses (ñ, á, é, í, ó, ú, ¿, ¡) add one each, three at most. Words both languages share
//! ("a", "no", "me") and place names score nothing.
//!
//! The message is Spanish when Spanish scores at least 2 and at least as much as English
//! (a mixed message, "Hola, we want 3 recámaras en Plano", leans to Spanish: a lead who
//! mixes Spanish in reads it); English when English scores at least 2 and more than
//! Spanish; otherwise undecided ("ok", "400k", "Plano"), and the lead keeps the language
//! of its earlier messages.

/// The language of a message from its cue counts: `Some("es")`, `Some("en")` or `None`.
pub(super) fn decide(spanish: u32, english: u32) -> Option<&'static str> {
    if spanish >= 2 && spanish >= english {
        Some("es")
    } else if english >= 2 && english > spanish {
        Some("en")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::decide;

    #[test]
    fn thresholds() {
        assert_eq!(decide(0, 0), None);
        assert_eq!(decide(1, 0), None);
        assert_eq!(decide(2, 2), Some("es"));
        assert_eq!(decide(2, 3), Some("en"));
        assert_eq!(decide(0, 2), Some("en"));
        assert_eq!(decide(1, 1), None);
    }
}
