//! Assignment: which variant a contact gets, and which variants a decision uses.
//!
//! The hash is documented so anyone can reproduce it: take SHA-256 of the experiment's
//! seed, one zero byte, and the contact id (UTF-8); read the first 8 bytes as a
//! big-endian unsigned integer and divide by 2^64, giving `u` in [0, 1). The variant is
//! the first whose cumulative share of the total weight exceeds `u`. In Python:
//!
//! ```text
//! u = int.from_bytes(hashlib.sha256(seed.encode() + b"\0" + cid.encode()).digest()[:8], "big") / 2**64
//! ```
//!
//! The same on every machine and across restarts; the zero byte keeps ("ab", "c") and
//! ("a", "bc") apart. The result is recorded at the contact's first exposure, and later
//! decisions read the record, so a weight change moves nobody already exposed.

use super::definition::Experiment;
use crate::model::{Assigned, Chosen, Exposure};
use jiff::Timestamp;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The contact's point in [0, 1) for a seed.
pub fn bucket(seed: &str, contact: &str) -> f64 {
    let mut h = Sha256::new();
    h.update(seed.as_bytes());
    h.update([0u8]);
    h.update(contact.as_bytes());
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    // 2^-64 exactly; u64 → f64 rounds to 53 bits, which keeps u below 1 except for
    // the top 2^11 values, clamped below.
    let u = u64::from_be_bytes(first) as f64 * (1.0 / 18_446_744_073_709_551_616.0);
    u.min(1.0 - f64::EPSILON)
}

impl Experiment {
    /// The variant (index) the hash gives `contact`, from the current weights.
    pub fn assign(&self, contact: &str) -> usize {
        let u = bucket(self.seed(), contact);
        let total: f64 = self.variants.iter().map(|v| v.weight).sum();
        let mut cumulative = 0.0;
        for (i, v) in self.variants.iter().enumerate() {
            cumulative += v.weight;
            if u < cumulative / total {
                return i;
            }
        }
        self.variants.len() - 1
    }
}

/// One running experiment's pick for a decision: which experiment (its index among the
/// tenant's), which variant (its index), and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pick {
    /// Index of the experiment in the tenant's definitions.
    pub experiment: usize,
    /// Index of the variant.
    pub variant: usize,
    /// How it was chosen.
    pub chosen: Chosen,
}

/// The variants a decision uses: for each experiment running at `now` (in its window,
/// not `stopped`), the contact's recorded variant, else the hash's for its id, else the
/// control (no contact id).
pub fn pick(
    experiments: &[Experiment],
    contact: Option<&str>,
    recorded: &BTreeMap<String, Assigned>,
    now: Timestamp,
    stopped: &dyn Fn(&str) -> bool,
) -> Vec<Pick> {
    experiments
        .iter()
        .enumerate()
        .filter(|(_, x)| x.in_window(now) && !stopped(&x.key))
        .map(|(i, x)| {
            let recorded = recorded
                .get(&x.key)
                .and_then(|a| x.variant_index(&a.variant));
            let (variant, chosen) = match (recorded, contact) {
                (Some(v), _) => (v, Chosen::Recorded),
                (None, Some(id)) => (x.assign(id), Chosen::Assigned),
                (None, None) => (0, Chosen::NoContact),
            };
            Pick {
                experiment: i,
                variant,
                chosen,
            }
        })
        .collect()
}

/// The picks as a decision reports them.
pub fn exposures(experiments: &[Experiment], picks: &[Pick]) -> Vec<Exposure> {
    picks
        .iter()
        .map(|p| {
            let x = &experiments[p.experiment];
            Exposure {
                experiment: x.key.clone(),
                variant: x.variants[p.variant].name.clone(),
                chosen: p.chosen,
            }
        })
        .collect()
}

/// (experiment key, variant name) for every experiment defined, as scripts read them
/// with `variant(lead, key)`: the pick where one was made, else the control.
pub fn variant_names<'a>(experiments: &'a [Experiment], picks: &[Pick]) -> Vec<(&'a str, &'a str)> {
    experiments
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let v = picks
                .iter()
                .find(|p| p.experiment == i)
                .map_or(0, |p| p.variant);
            (x.key.as_str(), x.variants[v].name.as_str())
        })
        .collect()
}

/// One line of a decision's explanation per pick.
pub fn explain(exposures: &[Exposure]) -> Vec<String> {
    exposures
        .iter()
        .map(|e| {
            let how = match e.chosen {
                Chosen::Recorded => "recorded at the contact's first exposure",
                Chosen::Assigned => "assigned from the hash of the seed and the contact id",
                Chosen::NoContact => "the control: the lead has no contact id",
            };
            format!("{}: {} ({how})", e.experiment, e.variant)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::definition::parse;
    use std::path::Path;

    /// Computed with Python's hashlib (the formula in the module docs).
    #[test]
    fn bucket_matches_the_documented_formula() {
        for (seed, id, want) in [
            ("s", "c", 0.6243162554521242),
            ("budget_wording", "contact-1", 0.23856919312286914),
            ("ab", "c", 0.42192354125766096),
            ("a", "bc", 0.25285842958275756),
            ("seed-é", "ünï", 0.28860877807958724),
        ] {
            assert_eq!(bucket(seed, id), want, "{seed:?} {id:?}");
        }
    }

    fn experiment(weights: &[f64]) -> Experiment {
        let variants: Vec<String> = weights
            .iter()
            .enumerate()
            .map(|(i, w)| format!("{{name: v{i}, weight: {w}}}"))
            .collect();
        let yaml = format!(
            "experiments:\n  - {{key: x, metric: handed_off, variants: [{}]}}",
            variants.join(", ")
        );
        parse(&yaml, Path::new("e.yaml")).unwrap().remove(0)
    }

    #[test]
    fn recorded_variants_win_over_the_hash() {
        let x = experiment(&[1.0, 1.0]);
        let id = (0..100)
            .map(|i| format!("c{i}"))
            .find(|id| x.assign(id) == 1)
            .unwrap();
        let now = Timestamp::UNIX_EPOCH;
        let none = |_: &str| false;
        let fresh = pick(
            std::slice::from_ref(&x),
            Some(&id),
            &BTreeMap::new(),
            now,
            &none,
        );
        assert_eq!((fresh[0].variant, fresh[0].chosen), (1, Chosen::Assigned));
        let mut recorded = BTreeMap::new();
        recorded.insert(
            "x".to_string(),
            Assigned {
                variant: "v0".into(),
                at: now,
            },
        );
        let again = pick(std::slice::from_ref(&x), Some(&id), &recorded, now, &none);
        assert_eq!((again[0].variant, again[0].chosen), (0, Chosen::Recorded));
        let anonymous = pick(std::slice::from_ref(&x), None, &BTreeMap::new(), now, &none);
        assert_eq!(
            (anonymous[0].variant, anonymous[0].chosen),
            (0, Chosen::NoContact)
        );
        let stopped = pick(std::slice::from_ref(&x), Some(&id), &recorded, now, &|_| {
            true
        });
        assert!(stopped.is_empty());
    }
}
