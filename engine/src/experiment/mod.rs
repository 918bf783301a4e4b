//! A/B experiments: definitions read from a tenant's `experiments.yaml`, deterministic
//! assignment of a contact to a variant (a documented hash, recorded at first exposure),
//! and the statistics that analyse the outcomes. Pure: the store keeps exposures and
//! outcomes, the rules layer applies a variant's settings, the conversation layer records
//! what happened, the engine facade reports.

pub mod assign;
pub mod definition;
pub mod stats;

pub use assign::{bucket, pick, Pick};
pub use definition::{Experiment, Missing, Variant, ENGINE_EVENTS};
