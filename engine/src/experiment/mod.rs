//! A/B experiments: definitions read from a tenant's `experiments.yaml`, deterministic
//! assignment of a contact to a variant, and the statistics that analyse the outcomes.
//! Pure: the store keeps exposures and outcomes, the engine facade ties them together.

pub mod stats;
