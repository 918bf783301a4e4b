//! Imported transcripts' metrics (sealed), one row per transcript, for the metrics export.

use super::tables::TRANSCRIPTS;
use super::{Store, WriteTx};
use crate::error::Result;
use crate::ids::TenantId;
use crate::transcript::ConversationMetrics;

impl WriteTx<'_> {
    /// True when a transcript with this id was imported into the tenant.
    pub fn has_transcript(&mut self, tenant: &TenantId, id: &str) -> Result<bool> {
        let table = self.tx.open_table(TRANSCRIPTS)?;
        let found = table.get((tenant.as_str(), id))?.is_some();
        Ok(found)
    }

    /// Records an imported transcript's metrics.
    pub fn put_transcript(&mut self, tenant: &TenantId, m: &ConversationMetrics) -> Result<()> {
        let (t, id) = (tenant.as_str(), m.transcript_id.as_str());
        let sealed = self.seal_json("transcripts", t, id, m)?;
        self.tx
            .open_table(TRANSCRIPTS)?
            .insert((t, id), sealed.as_slice())?;
        Ok(())
    }

    /// Removes every transcript row of a tenant.
    pub(super) fn erase_transcripts_of(&mut self, tenant: &TenantId) -> Result<()> {
        let t = tenant.as_str();
        self.tx
            .open_table(TRANSCRIPTS)?
            .remove_range((t, "")..=(t, "\u{10FFFF}"))?;
        Ok(())
    }
}

impl Store {
    /// A tenant's imported transcripts' metrics, by transcript id; and how many rows did
    /// not open (left out).
    pub fn transcript_metrics(
        &self,
        tenant: &TenantId,
    ) -> Result<(Vec<ConversationMetrics>, usize)> {
        self.read(|r| {
            let t = tenant.as_str();
            let table = r.tx.open_table(TRANSCRIPTS)?;
            let (mut rows, mut unreadable) = (Vec::new(), 0);
            for row in table.range((t, "")..=(t, "\u{10FFFF}"))? {
                let (k, v) = row?;
                match r.open_value::<ConversationMetrics>("transcripts", t, k.value().1, v.value())
                {
                    Ok(m) => rows.push(m),
                    Err(_) => unreadable += 1,
                }
            }
            Ok((rows, unreadable))
        })
    }
}
