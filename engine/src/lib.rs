//! Qualify's engine: per-tenant Rhai rules that score real-estate leads, pick the next
//! question and explain both, with deterministic fact extraction from message text, and
//! conversations kept in an encrypted store.
//!
//! The entry point is [`Engine`]: build it over a rules folder (or the embedded default
//! rules), then call [`Engine::score`] with a [`TenantId`] and a [`Lead`].
//!
//! ```
//! use qualify_engine::{Engine, Lead, TenantId};
//!
//! let engine = Engine::builder().build()?;
//! let lead = Lead::from_json(r#"{"tags": ["Hit List"], "facts": {"budget": 400000,
//!     "location": "Frisco", "timeline": "next month"}}"#)?;
//! let d = engine.score(&TenantId::default(), &lead)?;
//! assert_eq!((d.score, d.class.as_str(), d.percent), (3, "hot", 50));
//! assert!(d.handoff);
//! assert!(d.tags.contains(&"Timeline-Urgent".to_string()));
//! # Ok::<(), qualify_engine::Error>(())
//! ```
//!
//! ## Layout
//!
//! Layers, lowest first; each uses only the ones above it in this list (CI checks it):
//!
//! | module | owns |
//! |---|---|
//! | `error`, `ids`, [`clock`] | the error enum, checked tenant and contact ids, the clock (settable in tests) |
//! | [`model`] | the data: leads, messages, decisions, contacts, CRM actions, tiers |
//! | [`text`] | pure text functions: what counts as an answer, fact extraction, opt-out keywords, PII redaction, SMS segments, templates |
//! | [`experiment`] | A/B experiments: definitions (`experiments.yaml`), the assignment hash, the statistics |
//! | [`rules`] | tenants' rule sets: folders and inheritance, settings, the Rhai sandbox and helpers, compiling, running hooks, the catalog that reloads, rule cases and their coverage |
//! | [`decide`] | the decision itself (pure): facts merged, hooks run, the gate, the explanation; `check`; [`decide::ScoreOptions`] |
//! | [`store`] | the redb file: every table in one place, sealing (the crypto module is private to it), contacts, the due index, the outbox, accounts |
//! | [`conversation`] | ingest as named steps, follow-ups as a pure `due_stage` plus recording, experiments' exposures, conversions and reports, replay of stored conversations under a candidate |
//! | [`engine`] | the facade: [`Engine`] and its sub-handles, delegating down |
//!
//! A message's path: [`Engine::ingest`] (`engine.rs`) → `conversation/ingest.rs` (redact
//! with `text/redact.rs`, merge with `text/extract.rs`, decide with `decide/mod.rs` →
//! `rules/mod.rs` running the hooks, compliance with `text/compliance.rs`, plan, record) →
//! `store/mod.rs` (one durable transaction) with `store/contacts.rs`, `store/due.rs` and
//! `store/outbox.rs`.

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

pub mod clock;
pub mod conversation;
pub mod decide;
pub mod engine;
mod error;
pub mod experiment;
mod ids;
pub mod model;
pub mod rules;
pub mod store;
pub mod text;
pub mod transcript;

pub use conversation::{Inbound, Ingested};
pub use engine::{Batch, Engine};
pub use error::{Error, Result};
pub use ids::{ContactId, TenantId};
pub use model::{Decision, Lead};
pub use store::{CopyReport, SecretKey, Store};
