//! Copying a whole store to another backend (`qualify store copy`): every row of every
//! table as it is stored (sealed values are not opened, so the copy needs no tenant key
//! and holds no plaintext in transit), then a check that the copy is whole: the same row
//! count in every table, and a sample of contacts that open in the copy to the same
//! record as in the source.

use super::kv::{OrdKey, ReadTxn, WriteTxn};
use super::tables::{
    ANALYTICS, CONTACTS, CONTACT_VERSIONS, DEAD_LETTERS, DUE, EXPERIMENT_STOPS, EXPOSURES, META,
    OUTBOX, OUTCOMES, PENDING, QUARANTINE, TENANTS, TENANT_KEYS, TRANSCRIPTS, WEBHOOKS,
    WEBHOOK_EXPIRY,
};
use super::Store;
use crate::error::{Error, Result};
use crate::ids::{ContactId, TenantId};
use redb::{TableDefinition, TableHandle as _, Value};

/// What a copy moved, table by table, and what its check opened.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct CopyReport {
    /// (table, rows copied), in copy order.
    pub tables: Vec<(String, u64)>,
    /// Contacts opened in both stores and found equal.
    pub contacts_checked: usize,
}

impl CopyReport {
    /// Rows copied in all.
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|(_, n)| n).sum()
    }
}

/// Rows copied per write transaction in the destination.
const CHUNK: usize = 2_000;

fn copy_table<K: OrdKey, V: Value + 'static>(
    src: &Store,
    dst: &Store,
    def: TableDefinition<'static, K, V>,
    progress: &mut dyn FnMut(&str, u64),
) -> Result<u64> {
    let name = def.name().to_string();
    let database = src.database();
    let tx: ReadTxn = database.begin_read()?;
    let table = tx.open_table(def)?;
    let mut rows = table.iter()?;
    let mut copied = 0u64;
    loop {
        let dst_db = dst.database();
        let out: WriteTxn = dst_db.begin_write()?;
        let mut n = 0;
        {
            let mut target = out.open_table(def)?;
            for row in rows.by_ref() {
                let (k, v) = row?;
                target.insert(k.value(), v.value())?;
                n += 1;
                if n == CHUNK {
                    break;
                }
            }
        }
        out.commit()?;
        copied += n as u64;
        progress(&name, copied);
        if n < CHUNK {
            return Ok(copied);
        }
    }
}

fn count<K: OrdKey, V: Value + 'static>(
    store: &Store,
    def: TableDefinition<'static, K, V>,
) -> Result<u64> {
    let database = store.database();
    let tx = database.begin_read()?;
    let n = tx.open_table(def)?.len()?;
    Ok(n)
}

/// Runs `$m!(TABLE)` for every table: the check value and the wrapped tenant keys first
/// (the rest opens only with them).
macro_rules! all_tables {
    ($m:ident) => {
        $m!(META);
        $m!(TENANT_KEYS);
        $m!(TENANTS);
        $m!(CONTACTS);
        $m!(CONTACT_VERSIONS);
        $m!(DUE);
        $m!(OUTBOX);
        $m!(DEAD_LETTERS);
        $m!(WEBHOOKS);
        $m!(WEBHOOK_EXPIRY);
        $m!(PENDING);
        $m!(QUARANTINE);
        $m!(EXPOSURES);
        $m!(OUTCOMES);
        $m!(EXPERIMENT_STOPS);
        $m!(ANALYTICS);
        $m!(TRANSCRIPTS);
    };
}

impl Store {
    /// Copies every row of this store into `dest`, which must hold no data yet (a new
    /// store, opened with the same master key), then checks the copy: row counts per
    /// table, and up to `sample` contacts opened in both. `progress` hears (table, rows
    /// copied so far) after every chunk.
    pub fn copy_into(
        &self,
        dest: &Store,
        sample: usize,
        progress: &mut dyn FnMut(&str, u64),
    ) -> Result<CopyReport> {
        // The destination must be empty but for its master-key check value.
        let mut occupied = Vec::new();
        macro_rules! probe {
            ($def:expr) => {
                let n = count(dest, $def)?;
                if n > 0 && $def.name() != "meta" {
                    occupied.push(format!("{} ({n} rows)", $def.name()));
                }
            };
        }
        all_tables!(probe);
        if !occupied.is_empty() {
            return Err(Error::Store(format!(
                "{} already holds data ({}): copy into an empty store only",
                dest.location(),
                occupied.join(", ")
            )));
        }
        let mut report = CopyReport::default();
        macro_rules! copy {
            ($def:expr) => {
                let n = copy_table(self, dest, $def, progress)?;
                report.tables.push(($def.name().to_string(), n));
            };
        }
        all_tables!(copy);
        // The check: counts, then a sample of contacts spread over the table.
        let mut mismatched = Vec::new();
        macro_rules! verify {
            ($def:expr) => {
                let (a, b) = (count(self, $def)?, count(dest, $def)?);
                if a != b {
                    mismatched.push(format!("{}: {a} rows here, {b} in the copy", $def.name()));
                }
            };
        }
        all_tables!(verify);
        if !mismatched.is_empty() {
            return Err(Error::Store(format!(
                "the copy differs: {}",
                mismatched.join("; ")
            )));
        }
        let ids: Vec<(TenantId, ContactId)> = self.contact_ids(None, usize::MAX)?;
        let step = (ids.len() / sample.max(1)).max(1);
        for (tenant, id) in ids.iter().step_by(step).take(sample) {
            let here = self.contact(tenant, id)?;
            let there = dest.contact(tenant, id)?;
            if here.is_none() || here != there {
                return Err(Error::Store(format!(
                    "contact {tenant}/{id} does not open to the same record in the copy"
                )));
            }
            report.contacts_checked += 1;
        }
        Ok(report)
    }
}
