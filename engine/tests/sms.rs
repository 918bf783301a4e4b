//! SMS segment counting through the public API, on the hard cases: 160 vs 161 GSM
//! characters, extension characters at a part boundary, an emoji that would straddle a
//! part, characters outside GSM-7, curly quotes and their normalisation.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use qualify_engine::text::sms::{normalize, sms_info, Encoding};

#[test]
fn gsm_boundaries() {
    assert_eq!(sms_info("").segments, 0);
    assert_eq!(sms_info(&"a".repeat(160)).segments, 1);
    assert_eq!(sms_info(&"a".repeat(161)).segments, 2);
    assert_eq!(sms_info(&"a".repeat(306)).segments, 2);
    assert_eq!(sms_info(&"a".repeat(307)).segments, 3);
}

#[test]
fn extension_characters_cost_two_septets_and_never_split() {
    let info = sms_info(&format!("{}€", "a".repeat(158)));
    assert_eq!((info.units, info.segments), (160, 1));
    assert_eq!(sms_info(&format!("{}€", "a".repeat(159))).segments, 2);
    // 152 septets then an escape pair: the pair would straddle 153, so it moves on.
    let text = format!("{}€{}", "a".repeat(152), "a".repeat(152));
    let info = sms_info(&text);
    assert_eq!(
        info.units, 306,
        "306 septets would fit two parts if the pair could split"
    );
    assert_eq!(info.segments, 3);
}

#[test]
fn ucs2_and_surrogates() {
    let info = sms_info(&"é".repeat(10));
    assert_eq!(info.encoding, Encoding::Gsm7, "é is in the GSM basic table");
    let info = sms_info(&format!("{}ç", "a".repeat(69)));
    assert_eq!(
        (info.encoding, info.units, info.segments),
        (Encoding::Ucs2, 70, 1)
    );
    assert_eq!(info.non_gsm, vec!['ç']);
    assert_eq!(sms_info(&format!("{}ç", "a".repeat(70))).segments, 2);
    // 66 units then an emoji (2 units): the pair moves to the next part.
    let text = format!("{}😀{}", "a".repeat(66), "a".repeat(66));
    assert_eq!(sms_info(&text).segments, 3);
}

#[test]
fn curly_quotes_force_ucs2_until_normalised() {
    let text = "It\u{2019}s \u{201C}great\u{201D}\u{2026}";
    assert_eq!(sms_info(text).encoding, Encoding::Ucs2);
    assert_eq!(normalize(text), "It's \"great\"...");
    assert_eq!(sms_info(&normalize(text)).encoding, Encoding::Gsm7);
}
