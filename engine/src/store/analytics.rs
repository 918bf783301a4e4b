//! Analytics rows: each tenant's day totals, sealed. A write transaction collects the
//! counts of every change it applies and adds them to their day's row once, at commit;
//! a read takes a range of days.

use super::tables::ANALYTICS;
use super::{Store, WriteTx};
use crate::error::Result;
use crate::ids::TenantId;
use crate::model::DayStats;

impl WriteTx<'_> {
    /// Counts `stats` for `tenant` on `day`, written when the transaction commits.
    pub fn tally(&mut self, tenant: &TenantId, day: u32, stats: &DayStats) {
        if stats.is_empty() {
            return;
        }
        self.tallies
            .entry((tenant.to_string(), day))
            .or_default()
            .add(stats);
    }

    /// Adds the collected counts to their rows (read, add, seal, write).
    pub(super) fn flush_tallies(&mut self) -> Result<()> {
        for ((tenant, day), stats) in std::mem::take(&mut self.tallies) {
            let key = day.to_string();
            let sealed = self
                .tx
                .open_table(ANALYTICS)?
                .get((tenant.as_str(), day))?
                .map(|v| v.value().to_vec());
            let mut row: DayStats = match sealed {
                // A row that does not open is replaced rather than blocking every
                // commit of the tenant: analytics are counts, the contacts are the truth.
                Some(s) => self
                    .open_sealed("analytics", &tenant, &key, &s)
                    .unwrap_or_default(),
                None => DayStats::default(),
            };
            row.add(&stats);
            let sealed = self.seal_json("analytics", &tenant, &key, &row)?;
            self.tx
                .open_table(ANALYTICS)?
                .insert((tenant.as_str(), day), sealed.as_slice())?;
        }
        Ok(())
    }

    /// Removes every analytics row of a tenant.
    pub(super) fn erase_analytics_of(&mut self, tenant: &TenantId) -> Result<()> {
        let t = tenant.as_str();
        self.tx
            .open_table(ANALYTICS)?
            .remove_range((t, 0)..=(t, u32::MAX))?;
        Ok(())
    }
}

impl Store {
    /// A tenant's day rows from `first` to `last` (day numbers, inclusive), oldest first;
    /// and how many rows did not open (left out).
    pub(crate) fn analytics(
        &self,
        tenant: &TenantId,
        first: u32,
        last: u32,
    ) -> Result<(Vec<(u32, DayStats)>, usize)> {
        self.read(|r| {
            let t = tenant.as_str();
            let table = r.tx.open_table(ANALYTICS)?;
            let (mut rows, mut unreadable) = (Vec::new(), 0);
            for row in table.range((t, first)..=(t, last))? {
                let (k, v) = row?;
                let day = k.value().1;
                match r.open_value::<DayStats>("analytics", t, &day.to_string(), v.value()) {
                    Ok(stats) => rows.push((day, stats)),
                    Err(_) => unreadable += 1,
                }
            }
            Ok((rows, unreadable))
        })
    }
}
