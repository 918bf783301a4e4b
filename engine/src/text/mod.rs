//! Reading and writing what leads and agents text, with no rules and no I/O: what counts
//! as an answer (and money amounts), fact extraction, opt-out keywords, PII redaction,
//! SMS segment counting and message templates. Pure functions over text; the rules layer
//! builds on them (its script helpers, each tenant's extractor).

pub mod compliance;
pub(crate) mod extract;
mod facts;
mod found;
mod language;
mod lexicon;
mod read;
pub mod redact;
mod scan;
pub mod sms;
pub mod template;

pub(crate) use facts::money_in_text;
pub use facts::{is_answered, is_unsure, is_unsure_text, parse_money, DATA_POINTS, PROPERTY_FACTS};
