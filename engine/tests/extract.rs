//! Extraction from realistic SMS text through the public API, positives and negatives.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod common;

use common::tid;

use qualify_engine::model::Facts;
use qualify_engine::Engine;
use serde_json::{json, Value};

fn facts(text: &str) -> Facts {
    let engine = Engine::builder().build().unwrap();
    engine.extract(&tid("default"), text).unwrap()
}

fn fact(text: &str, key: &str) -> Value {
    facts(text).get(key).cloned().unwrap_or(Value::Null)
}

#[test]
fn budgets() {
    for (text, want) in [
        ("We're thinking around 450k", json!(450_000)),
        ("$300,000 to $350,000 would be ideal", json!(350_000)),
        ("somewhere under half a million", json!(500_000)),
        ("we could stretch to 1.2 million", json!(1_200_000)),
        ("my budget is 425000", json!(425_000)),
        ("450 thousand max", json!(450_000)),
        ("between 300-350k", json!(350_000)),
    ] {
        assert_eq!(fact(text, "budget"), want, "{text}");
    }
    for text in [
        "3 bed 2 bath please",
        "our zip is 75024",
        "call me at 214-555-0199",
        "we saw MLS 1234567 online",
        "moving June 15, 2026",
    ] {
        assert_eq!(fact(text, "budget"), Value::Null, "{text}");
    }
}

#[test]
fn rooms() {
    let f = facts("Looking for 3 bed 2 bath");
    assert_eq!(
        (f["bedrooms"].clone(), f["bathrooms"].clone()),
        (json!(3), json!(2))
    );
    assert_eq!(fact("need three bedrooms at least", "bedrooms"), json!(3));
    assert_eq!(fact("4br/2.5 baths", "bathrooms"), json!(2.5));
    assert_eq!(
        fact("must have a pool and a big yard", "must_haves"),
        json!(["pool", "yard"])
    );
}

#[test]
fn timelines() {
    for (text, want) in [
        ("Probably in the next 2 months", "in the next 2 months"),
        ("hoping to be in by summer", "by summer"),
        ("ASAP honestly", "asap"),
        ("within 6 months", "within 6 months"),
        ("no rush, just browsing", "no rush"),
    ] {
        assert_eq!(fact(text, "timeline"), json!(want), "{text}");
    }
    for text in [
        "call me tomorrow",
        "I'm free this afternoon",
        "text me later",
    ] {
        assert_eq!(fact(text, "timeline"), Value::Null, "{text}");
    }
}

#[test]
fn financing() {
    for (text, want) in [
        ("We're pre-approved with Chase", "pre-approved"),
        ("already preapproved", "pre-approved"),
        ("we'll be paying cash", "cash"),
        ("we need a lender", "not started"),
        ("not pre-approved yet", "not started"),
        ("pre qualified last week", "pre-qualified"),
    ] {
        assert_eq!(fact(text, "financing"), json!(want), "{text}");
    }
}

#[test]
fn motivation_and_condition() {
    for (text, want) in [
        ("I'm relocating for work", "relocation"),
        ("growing family, baby #2 coming", "growing family"),
        ("kids moved out so we're downsizing", "downsizing"),
    ] {
        assert_eq!(fact(text, "motivation"), json!(want), "{text}");
    }
    for (text, want) in [
        ("it needs some work", "needs work"),
        ("it's move-in ready", "move-in ready"),
        ("honestly a fixer-upper", "fixer-upper"),
    ] {
        assert_eq!(fact(text, "home_condition"), json!(want), "{text}");
    }
}

#[test]
fn locations() {
    assert_eq!(fact("something near Plano", "location"), json!("Plano"));
    assert_eq!(fact("moving to frisco soon", "location"), json!("Frisco"));
    assert_eq!(fact("love Bishop Arts", "location"), json!("Bishop Arts"));
    assert_eq!(
        fact("Highland Park or Uptown", "location"),
        json!(["Highland Park", "Uptown"])
    );
    assert_eq!(fact("a place in Austin", "location"), json!("Austin"));
    assert_eq!(fact("we move in May", "location"), Value::Null);
    assert_eq!(fact("I'm in no hurry", "location"), Value::Null);
}

#[test]
fn goal_is_whole_words() {
    assert_eq!(fact("Listen, we want to buy", "goal"), json!("buy"));
    assert_eq!(fact("thinking of selling our place", "goal"), json!("sell"));
    assert_eq!(fact("can you list it for us", "goal"), json!("sell"));
    assert_eq!(fact("listen to this", "goal"), Value::Null);
    assert_eq!(fact("I'm a buyer? no, I enlisted", "goal"), Value::Null);
}

#[test]
fn pathway() {
    assert_eq!(
        fact("I'd sell as-is for a cash offer", "pathway"),
        json!("wholesale")
    );
    assert_eq!(fact("want top dollar for it", "pathway"), json!("listing"));
    assert_eq!(fact("what's my house worth?", "pathway"), json!("listing"));
    assert_eq!(
        fact("it's worth a try", "pathway"),
        json!("listing"),
        "prototype rule: worth + 'it'"
    );
    assert_eq!(fact("hello there", "pathway"), Value::Null);
}

#[test]
fn name() {
    assert_eq!(fact("Hi, my name is Maria", "name"), json!("Maria"));
    assert_eq!(fact("this is great", "name"), Value::Null);
}

#[test]
fn unsure_alone_is_not_a_fact() {
    // Without a question to answer, "not sure yet" is attributed to nothing.
    assert!(facts("not sure yet").is_empty());
    // With a topic in the same message, it is recorded there (and never counts).
    assert_eq!(fact("no idea about the budget", "budget"), json!("no idea"));
}

#[test]
fn a_typical_sms_yields_several_facts() {
    let f = facts("Hi! We're relocating for work and want to buy a 4 bed in McKinney, pre-approved up to $550k, need to move by August");
    assert_eq!(f["goal"], json!("buy"));
    assert_eq!(f["motivation"], json!("relocation"));
    assert_eq!(f["bedrooms"], json!(4));
    assert_eq!(f["location"], json!("McKinney"));
    assert_eq!(f["financing"], json!("pre-approved"));
    assert_eq!(f["budget"], json!(550_000));
    assert_eq!(f["timeline"], json!("by august"));
}

#[test]
fn a_place_phrase_stops_at_the_sentence_end() {
    assert_eq!(
        fact("want 450k in Bishop Arts. Call me", "location"),
        json!("Bishop Arts")
    );
    assert_eq!(
        fact("a condo in Oak Lawn, or Uptown", "location"),
        json!(["Oak Lawn", "Uptown"])
    );
}
