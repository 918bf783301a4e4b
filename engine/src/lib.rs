//! Qualify's engine: per-tenant Rhai rules that score real-estate leads, pick the next
//! question and explain both, with deterministic fact extraction from message text.
//!
//! The entry point is [`Engine`]: open a rules folder (or use the embedded default rules),
//! then call [`Engine::score`] with a tenant id and a [`Lead`].
//!
//! ```
//! use qualify_engine::{Engine, Lead};
//!
//! let engine = Engine::builder().build()?;
//! let lead = Lead::from_json(r#"{"tags": ["Hit List"], "facts": {"budget": 400000,
//!     "location": "Frisco", "timeline": "next month"}}"#)?;
//! let d = engine.score("default", &lead)?;
//! assert_eq!((d.score, d.class.as_str(), d.percent), (3, "hot", 50));
//! assert!(d.handoff);
//! assert!(d.tags.contains(&"Timeline-Urgent".to_string()));
//! # Ok::<(), qualify_engine::Error>(())
//! ```

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

mod cases;
pub mod compliance;
mod contact;
mod crypto;
mod engine;
mod error;
mod extract;
mod facts;
mod followup;
mod id;
mod lead;
pub mod redact;
mod rules;
mod script;
mod settings;
pub mod sms;
mod stateful;
mod store;
mod tenants;

pub use cases::{CaseResult, CasesReport};
pub use contact::{Clock, Contact, FollowUp, LastDecision, ManualClock, SystemClock};
pub use crypto::SecretKey;
pub use engine::{Engine, EngineBuilder, ReloadReport};
pub use error::{Error, Result};
pub use facts::{is_answered, is_unsure, parse_money, DATA_POINTS, PROPERTY_FACTS};
pub use followup::{
    next_window_start, render, FollowUpOutcome, ReengageOptions, ReengageReport, PLACEHOLDERS,
};
pub use id::{ContactId, TenantId};
pub use lead::{Class, Decision, Explain, Facts, From, Lead, Message, Question};
pub use rules::DEFAULT_TENANT;
pub use script::Limits;
pub use settings::Settings;
pub use stateful::{Inbound, Ingested};
pub use store::Store;
pub use tenants::{Action, ActionKind, TenantInfo, Tier};
