//! Experiments' state: each contact's variant at its first exposure, the outcomes of
//! exposed contacts (one per contact and metric), and the experiments a person stopped.
//! The definitions stay in the tenant's `experiments.yaml`; these rows are what the
//! analysis counts. Every value is sealed; an exposure or outcome is written once and
//! never replaced, so a weight change or a repeated event changes nothing.

use super::tables::{EXPERIMENT_STOPS, EXPOSURES, OUTCOMES};
use super::{ReadTx, Store, WriteTx};
use crate::error::Result;
use crate::ids::{ContactId, TenantId};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// An exposure as sealed.
#[derive(Serialize, Deserialize)]
struct Exposed {
    variant: String,
    at_ms: u64,
}

/// An outcome as sealed.
#[derive(Serialize, Deserialize)]
struct Outcome {
    value: f64,
    at_ms: u64,
}

/// A stop as sealed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stop {
    /// When it was stopped (ms since the epoch).
    pub at_ms: u64,
}

/// One exposed contact of an experiment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExposureRow {
    /// The contact id.
    pub contact: String,
    /// Its variant.
    pub variant: String,
    /// When it was first exposed (ms since the epoch).
    pub at_ms: u64,
}

fn exposure_key(key: &str, contact: &str) -> String {
    format!("{key}/{contact}")
}

fn outcome_key(key: &str, metric: &str, contact: &str) -> String {
    format!("{key}/{metric}/{contact}")
}

/// The end of a string range: every key starting with the prefix sorts below it.
const MAX: &str = "\u{10FFFF}";

impl WriteTx<'_> {
    /// Records a contact's variant at its first exposure; false (nothing written) when it
    /// was exposed before.
    pub fn expose(
        &mut self,
        tenant: &TenantId,
        key: &str,
        contact: &ContactId,
        variant: &str,
        at_ms: u64,
    ) -> Result<bool> {
        let row = (tenant.as_str(), key, contact.as_str());
        if self.tx.open_table(EXPOSURES)?.get(row)?.is_some() {
            return Ok(false);
        }
        let sealed = self.seal_json(
            "exposures",
            tenant.as_str(),
            &exposure_key(key, contact.as_str()),
            &Exposed {
                variant: variant.to_string(),
                at_ms,
            },
        )?;
        self.tx
            .open_table(EXPOSURES)?
            .insert(row, sealed.as_slice())?;
        Ok(true)
    }

    /// The variant a contact was exposed to, if it was.
    pub fn exposure(
        &mut self,
        tenant: &TenantId,
        key: &str,
        contact: &ContactId,
    ) -> Result<Option<String>> {
        let sealed = self
            .tx
            .open_table(EXPOSURES)?
            .get((tenant.as_str(), key, contact.as_str()))?
            .map(|v| v.value().to_vec());
        let Some(sealed) = sealed else {
            return Ok(None);
        };
        let e: Exposed = self.open_sealed(
            "exposures",
            tenant.as_str(),
            &exposure_key(key, contact.as_str()),
            &sealed,
        )?;
        Ok(Some(e.variant))
    }

    /// Records an outcome of a contact; false (nothing written) when this contact already
    /// counted for this metric.
    pub fn record_outcome(
        &mut self,
        tenant: &TenantId,
        key: &str,
        metric: &str,
        contact: &ContactId,
        value: f64,
        at_ms: u64,
    ) -> Result<bool> {
        let row = (tenant.as_str(), key, metric, contact.as_str());
        if self.tx.open_table(OUTCOMES)?.get(row)?.is_some() {
            return Ok(false);
        }
        let sealed = self.seal_json(
            "outcomes",
            tenant.as_str(),
            &outcome_key(key, metric, contact.as_str()),
            &Outcome { value, at_ms },
        )?;
        self.tx
            .open_table(OUTCOMES)?
            .insert(row, sealed.as_slice())?;
        Ok(true)
    }

    /// Records that an experiment was stopped; false when it already was (the first
    /// stop's time is kept).
    pub fn stop_experiment(&mut self, tenant: &TenantId, key: &str, at_ms: u64) -> Result<bool> {
        let row = (tenant.as_str(), key);
        if self.tx.open_table(EXPERIMENT_STOPS)?.get(row)?.is_some() {
            return Ok(false);
        }
        let sealed = self.seal_json("experiment_stops", tenant.as_str(), key, &Stop { at_ms })?;
        self.tx
            .open_table(EXPERIMENT_STOPS)?
            .insert(row, sealed.as_slice())?;
        Ok(true)
    }

    /// The stop recorded for an experiment, if any.
    pub fn experiment_stop(&mut self, tenant: &TenantId, key: &str) -> Result<Option<Stop>> {
        let sealed = self
            .tx
            .open_table(EXPERIMENT_STOPS)?
            .get((tenant.as_str(), key))?
            .map(|v| v.value().to_vec());
        match sealed {
            Some(s) => self
                .open_sealed("experiment_stops", tenant.as_str(), key, &s)
                .map(Some),
            None => Ok(None),
        }
    }

    /// Keys of the tenant's stopped experiments.
    pub fn stopped_experiments(&mut self, tenant: &TenantId) -> Result<Vec<String>> {
        let t = tenant.as_str();
        let table = self.tx.open_table(EXPERIMENT_STOPS)?;
        let mut out = Vec::new();
        for row in table.range((t, "")..=(t, MAX))? {
            out.push(row?.0.value().1.to_string());
        }
        Ok(out)
    }

    /// Removes a contact's exposures and outcomes (a scan of the tenant's rows: erasure
    /// is rare, and the contact's own record may be unreadable).
    pub(super) fn erase_experiment_rows(
        &mut self,
        tenant: &TenantId,
        contact: &ContactId,
    ) -> Result<()> {
        let (t, c) = (tenant.as_str(), contact.as_str());
        self.tx
            .open_table(EXPOSURES)?
            .retain_in((t, "", "")..=(t, MAX, MAX), |(_, _, ec), _| ec != c)?;
        self.tx
            .open_table(OUTCOMES)?
            .retain_in((t, "", "", "")..=(t, MAX, MAX, MAX), |(_, _, _, oc), _| {
                oc != c
            })?;
        Ok(())
    }

    /// Removes every experiment row of a tenant.
    pub(super) fn erase_experiments_of(&mut self, tenant: &TenantId) -> Result<()> {
        let t = tenant.as_str();
        self.tx
            .open_table(EXPOSURES)?
            .remove_range((t, "", "")..=(t, MAX, MAX))?;
        self.tx
            .open_table(OUTCOMES)?
            .remove_range((t, "", "", "")..=(t, MAX, MAX, MAX))?;
        self.tx
            .open_table(EXPERIMENT_STOPS)?
            .remove_range((t, "")..=(t, MAX))?;
        Ok(())
    }
}

impl ReadTx<'_> {
    fn exposures(&self, tenant: &TenantId, key: &str) -> Result<(Vec<ExposureRow>, usize)> {
        let t = tenant.as_str();
        let table = self.tx.open_table(EXPOSURES)?;
        let (mut rows, mut unreadable) = (Vec::new(), 0);
        for row in table.range((t, key, "")..=(t, key, MAX))? {
            let (k, v) = row?;
            let contact = k.value().2.to_string();
            match self.open_value::<Exposed>(
                "exposures",
                t,
                &exposure_key(key, &contact),
                v.value(),
            ) {
                Ok(e) => rows.push(ExposureRow {
                    contact,
                    variant: e.variant,
                    at_ms: e.at_ms,
                }),
                Err(_) => unreadable += 1,
            }
        }
        Ok((rows, unreadable))
    }

    fn outcomes(
        &self,
        tenant: &TenantId,
        key: &str,
        metric: &str,
    ) -> Result<(HashMap<String, f64>, usize)> {
        let t = tenant.as_str();
        let table = self.tx.open_table(OUTCOMES)?;
        let (mut values, mut unreadable) = (HashMap::new(), 0);
        for row in table.range((t, key, metric, "")..=(t, key, metric, MAX))? {
            let (k, v) = row?;
            let contact = k.value().3.to_string();
            match self.open_value::<Outcome>(
                "outcomes",
                t,
                &outcome_key(key, metric, &contact),
                v.value(),
            ) {
                Ok(o) => {
                    values.insert(contact, o.value);
                }
                Err(_) => unreadable += 1,
            }
        }
        Ok((values, unreadable))
    }
}

/// What the store holds on one experiment: its exposures, each metric's outcomes by
/// contact, its stop, and how many rows did not open (tampered, or their key is gone).
#[derive(Clone, Debug, Default)]
pub struct ExperimentRows {
    /// Exposed contacts.
    pub exposures: Vec<ExposureRow>,
    /// Outcomes by metric, then by contact.
    pub outcomes: HashMap<String, HashMap<String, f64>>,
    /// When it was stopped, if it was.
    pub stopped: Option<Stop>,
    /// Rows that could not be opened and were left out.
    pub unreadable: usize,
}

impl Store {
    /// Everything recorded for one experiment, from one read snapshot.
    pub(crate) fn experiment_rows(
        &self,
        tenant: &TenantId,
        key: &str,
        metrics: &[&str],
    ) -> Result<ExperimentRows> {
        self.read(|r| {
            let (exposures, mut unreadable) = r.exposures(tenant, key)?;
            let mut outcomes = HashMap::new();
            for metric in metrics {
                let (values, bad) = r.outcomes(tenant, key, metric)?;
                unreadable += bad;
                outcomes.insert(metric.to_string(), values);
            }
            Ok(ExperimentRows {
                exposures,
                outcomes,
                stopped: r.stop(tenant, key)?,
                unreadable,
            })
        })
    }

    /// Keys of the tenant's stopped experiments.
    pub(crate) fn stopped_experiments(&self, tenant: &TenantId) -> Result<Vec<String>> {
        self.read(|r| r.stopped_experiments(tenant))
    }

    /// Records that an experiment was stopped now; false when it already was.
    pub(crate) fn stop_experiment(&self, tenant: &TenantId, key: &str, at_ms: u64) -> Result<bool> {
        self.write(|tx| tx.stop_experiment(tenant, key, at_ms))
    }
}

impl ReadTx<'_> {
    /// Keys of the tenant's stopped experiments (the keys say it; nothing is opened).
    pub(super) fn stopped_experiments(&self, tenant: &TenantId) -> Result<Vec<String>> {
        let t = tenant.as_str();
        let table = self.tx.open_table(EXPERIMENT_STOPS)?;
        let mut out = Vec::new();
        for row in table.range((t, "")..=(t, MAX))? {
            out.push(row?.0.value().1.to_string());
        }
        Ok(out)
    }

    fn stop(&self, tenant: &TenantId, key: &str) -> Result<Option<Stop>> {
        let table = self.tx.open_table(EXPERIMENT_STOPS)?;
        let Some(v) = table.get((tenant.as_str(), key))? else {
            return Ok(None);
        };
        self.open_value("experiment_stops", tenant.as_str(), key, v.value())
            .map(Some)
    }
}
