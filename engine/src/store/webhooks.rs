//! GoHighLevel deliveries already received: a webhook id is remembered, with its body's
//! hash and the first result, in the transaction of the ingest it caused, for as long as
//! a replay could arrive. A retry of the same body gets the first result; a different body
//! under a seen id is refused; a retry after a failed decision decides again.

use super::tables::{WEBHOOKS, WEBHOOK_EXPIRY};
use super::{ReadTx, Store, WriteTx};
use crate::error::Result;
use crate::ids::{ContactId, TenantId};
use serde::{Deserialize, Serialize};

/// One remembered delivery (sealed).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Delivery {
    /// SHA-256 of the raw body, hex.
    pub body_sha256: String,
    /// When it may be forgotten.
    pub expires_ms: u64,
    /// The response given the first time; `None` when the decision failed.
    pub result: Option<serde_json::Value>,
}

impl WriteTx<'_> {
    /// The delivery remembered under `webhook_id`, if any.
    pub fn delivery(
        &mut self,
        tenant: &TenantId,
        contact: &ContactId,
        webhook_id: &str,
    ) -> Result<Option<Delivery>> {
        let key = (tenant.as_str(), contact.as_str(), webhook_id);
        let sealed = self
            .tx
            .open_table(WEBHOOKS)?
            .get(key)?
            .map(|v| v.value().to_vec());
        match sealed {
            Some(s) => self
                .open_sealed(
                    "webhooks",
                    tenant.as_str(),
                    &record(contact, webhook_id),
                    &s,
                )
                .map(Some),
            None => Ok(None),
        }
    }

    /// Remembers a delivery (replacing an earlier record of the same id).
    pub fn remember_delivery(
        &mut self,
        tenant: &TenantId,
        contact: &ContactId,
        webhook_id: &str,
        delivery: &Delivery,
    ) -> Result<()> {
        let (t, c) = (tenant.as_str(), contact.as_str());
        if let Some(old) = self.delivery(tenant, contact, webhook_id)? {
            self.tx
                .open_table(WEBHOOK_EXPIRY)?
                .remove((old.expires_ms, t, c, webhook_id))?;
        }
        let sealed = self.seal_json("webhooks", t, &record(contact, webhook_id), delivery)?;
        self.tx
            .open_table(WEBHOOKS)?
            .insert((t, c, webhook_id), sealed.as_slice())?;
        self.tx
            .open_table(WEBHOOK_EXPIRY)?
            .insert((delivery.expires_ms, t, c, webhook_id), ())?;
        Ok(())
    }
}

impl ReadTx<'_> {
    /// The delivery remembered under `webhook_id`, if any.
    pub(super) fn delivery(
        &self,
        tenant: &TenantId,
        contact: &ContactId,
        webhook_id: &str,
    ) -> Result<Option<Delivery>> {
        let table = self.tx.open_table(WEBHOOKS)?;
        let Some(sealed) = table.get((tenant.as_str(), contact.as_str(), webhook_id))? else {
            return Ok(None);
        };
        self.open_value(
            "webhooks",
            tenant.as_str(),
            &record(contact, webhook_id),
            sealed.value(),
        )
        .map(Some)
    }
}

fn record(contact: &ContactId, webhook_id: &str) -> String {
    format!("{contact}/{webhook_id}")
}

impl Store {
    /// Forgets deliveries whose replay window has passed; returns how many.
    pub(crate) fn forget_expired_deliveries(&self, now_ms: u64) -> Result<usize> {
        self.write(|w| {
            let mut expiry = w.tx.open_table(WEBHOOK_EXPIRY)?;
            let expired: Vec<(u64, String, String, String)> = expiry
                .range((0u64, "", "", "")..(now_ms, "", "", ""))?
                .filter_map(|r| r.ok())
                .map(|(k, _)| {
                    let (e, t, c, id) = k.value();
                    (e, t.to_string(), c.to_string(), id.to_string())
                })
                .collect();
            let mut hooks = w.tx.open_table(WEBHOOKS)?;
            for (e, t, c, id) in &expired {
                expiry.remove((*e, t.as_str(), c.as_str(), id.as_str()))?;
                hooks.remove((t.as_str(), c.as_str(), id.as_str()))?;
            }
            Ok(expired.len())
        })
    }
}
