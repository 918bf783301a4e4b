//! PII redaction: positives and false positives for every entity, byte spans, tokens.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use qualify_engine::text::redact::{find, redact, Entity};

fn entities(text: &str) -> Vec<Entity> {
    find(text).into_iter().map(|f| f.entity).collect()
}

#[test]
fn ssn_with_validity_rules() {
    for text in ["my ssn is 123-45-6789", "ssn 123 45 6789"] {
        assert_eq!(entities(text), [Entity::Ssn], "{text}");
    }
    for text in [
        "000-12-3456",
        "666-12-3456",
        "900-12-3456",
        "987-65-4321",
        "123-00-4567",
        "123-45-0000",
        "123-45 6789",
    ] {
        assert!(!entities(text).contains(&Entity::Ssn), "{text}");
    }
}

/// Issue 9, item 21: nine bare digits right after a context word are an SSN; without one
/// they are not.
#[test]
fn bare_nine_digit_ssn_only_after_a_context_word() {
    for text in [
        "SSN 123456789",
        "my ssn is 123456789",
        "social security number: 123456789",
        "Social Security 123456789 thanks",
    ] {
        assert_eq!(entities(text), [Entity::Ssn], "{text}");
        assert!(redact(text).text.contains("[REDACTED_SSN]"), "{text}");
    }
    for text in [
        "order 123456789",
        "MLS 123456789",
        "ssn 000123456",
        "ssn 666123456",
    ] {
        assert!(!entities(text).contains(&Entity::Ssn), "{text}");
    }
    let f = &find("ssn: 123456789")[0];
    assert_eq!((f.start, f.end), (5, 14));
}

#[test]
fn cards_must_pass_luhn() {
    for text in [
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "card 4111111111111111",
        "amex 378282246310005",
    ] {
        assert_eq!(entities(text), [Entity::CreditCard], "{text}");
    }
    for text in [
        "4111 1111 1111 1112",
        "0000 0000 0000 0000",
        "order 1234567890123",
    ] {
        assert!(!entities(text).contains(&Entity::CreditCard), "{text}");
    }
}

#[test]
fn emails() {
    assert_eq!(
        entities("write to jo.doe+home@mail.example.co.uk please"),
        [Entity::Email]
    );
    assert!(entities("meet @ 5pm, price@ 450k").is_empty());
}

#[test]
fn nanp_phones() {
    for text in [
        "(214) 555-0199",
        "214-555-0199",
        "214.555.0199",
        "+1 214 555 0199",
        "1-214-555-0199",
        "call 2145550199",
    ] {
        assert_eq!(entities(text), [Entity::Phone], "{text}");
    }
    for text in [
        "123-456-7890",
        "214-155-0199",
        "911-555-1234",
        "214-911-1234",
    ] {
        assert!(!entities(text).contains(&Entity::Phone), "{text}");
    }
}

#[test]
fn bank_numbers_need_context() {
    assert_eq!(
        entities("my account number is 123456789012"),
        [Entity::BankAccount]
    );
    assert_eq!(
        entities("routing 021000021 for the wire"),
        [Entity::BankAccount]
    );
    assert!(entities("MLS# 20412345 looks great").is_empty());
    assert!(entities("listing 12345678 on Elm").is_empty());
}

#[test]
fn prices_dates_zips_and_mls_numbers_are_not_pii() {
    for text in [
        "budget $450,000 to $500,000",
        "we can do 450000",
        "closing on 2026-11-25 or 11/25/2026",
        "zip 75024 or 75024-1234",
        "MLS 1234567, 3 bed 2 bath, 2,450 sqft",
        "offer by 5pm on 12/1",
    ] {
        assert!(find(text).is_empty(), "{text}: {:?}", find(text));
    }
}

#[test]
fn tokens_and_byte_spans() {
    let text = "Café: mail ana@example.com, call (214) 555-0199, SSN 123-45-6789";
    let r = redact(text);
    assert_eq!(
        r.text,
        "Café: mail [REDACTED_EMAIL], call [REDACTED_PHONE], SSN [REDACTED_SSN]"
    );
    for f in &r.findings {
        // Spans are byte offsets into the original text, on char boundaries.
        assert!(text.is_char_boundary(f.start) && text.is_char_boundary(f.end));
    }
    assert_eq!(
        &text[r.findings[0].start..r.findings[0].end],
        "ana@example.com"
    );
    assert_eq!(
        &text[r.findings[1].start..r.findings[1].end],
        "(214) 555-0199"
    );
    assert_eq!(r.findings[0].start, 12, "é is two bytes");
    assert_eq!(
        redact("card 4111 1111 1111 1111").text,
        "card [REDACTED_CREDIT_CARD]"
    );
    assert_eq!(redact("acct 123456789012").text, "acct [REDACTED_BANK]");
}

#[test]
fn a_card_is_one_finding_not_three() {
    let r = find("4111111111111111");
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].entity, Entity::CreditCard);
}
