//! Contacts: one sealed record per (tenant, contact id).

use super::tables::{CONTACTS, CONTACT_VERSIONS};
use super::{Encoding, ReadTx, Store, WriteTx};
use crate::error::Result;
use crate::ids::{ContactId, TenantId};
use crate::model::Contact;

impl Store {
    /// Reads one contact (a read snapshot; never blocks writers).
    pub(crate) fn contact(&self, tenant: &TenantId, id: &ContactId) -> Result<Option<Contact>> {
        self.read(|r| r.contact(tenant, id))
    }

    /// Up to `limit` contact ids in (tenant, id) order, after `after` (exclusive): keys
    /// only, nothing is opened. A row whose key is not a valid id is skipped.
    pub(crate) fn contact_ids(
        &self,
        after: Option<&(TenantId, ContactId)>,
        limit: usize,
    ) -> Result<Vec<(TenantId, ContactId)>> {
        use std::ops::Bound;
        self.read(|r| {
            // The contacts table itself: older contacts may have no version row.
            let contacts = r.tx.open_table(CONTACTS)?;
            let start = match after {
                Some((t, c)) => Bound::Excluded((t.as_str(), c.as_str())),
                None => Bound::Unbounded,
            };
            let mut ids = Vec::new();
            for row in contacts.range::<(&str, &str)>((start, Bound::Unbounded))? {
                if ids.len() == limit {
                    break;
                }
                let (key, _) = row?;
                let (t, c) = key.value();
                if let (Ok(t), Ok(c)) = (TenantId::new(t), ContactId::new(c)) {
                    ids.push((t, c));
                }
            }
            Ok(ids)
        })
    }
}

impl Store {
    /// Every contact id of one tenant, in id order: keys only, nothing is opened.
    pub(crate) fn contact_ids_of(&self, tenant: &TenantId) -> Result<Vec<ContactId>> {
        self.read(|r| {
            let contacts = r.tx.open_table(CONTACTS)?;
            let t = tenant.as_str();
            let mut ids = Vec::new();
            for row in contacts.range((t, "")..)? {
                let (key, _) = row?;
                let (kt, c) = key.value();
                if kt != t {
                    break;
                }
                if let Ok(c) = ContactId::new(c) {
                    ids.push(c);
                }
            }
            Ok(ids)
        })
    }
}

impl ReadTx<'_> {
    pub(super) fn contact(&self, tenant: &TenantId, id: &ContactId) -> Result<Option<Contact>> {
        let contacts = self.tx.open_table(CONTACTS)?;
        let Some(sealed) = contacts.get((tenant.as_str(), id.as_str()))? else {
            return Ok(None);
        };
        self.open_value("contacts", tenant.as_str(), id.as_str(), sealed.value())
            .map(Some)
    }
}

impl WriteTx<'_> {
    /// Reads a contact inside this transaction.
    pub fn contact(&mut self, tenant: &TenantId, id: &ContactId) -> Result<Option<Contact>> {
        let sealed = self
            .tx
            .open_table(CONTACTS)?
            .get((tenant.as_str(), id.as_str()))?
            .map(|v| v.value().to_vec());
        let Some(sealed) = sealed else {
            return Ok(None);
        };
        self.open_sealed("contacts", tenant.as_str(), id.as_str(), &sealed)
            .map(Some)
    }

    /// Seals and writes a contact, bumping its version (a change prepared from the old
    /// version will be refused).
    pub fn put_contact(&mut self, tenant: &TenantId, contact: &mut Contact) -> Result<()> {
        contact.version += 1;
        self.tx
            .open_table(CONTACT_VERSIONS)?
            .insert((tenant.as_str(), contact.id.as_str()), contact.version)?;
        let (t, id) = (tenant.as_str(), contact.id.as_str());
        let sealed = self.seal("contacts", t, id, contact, Encoding::Packed)?;
        self.tx
            .open_table(CONTACTS)?
            .insert((t, id), sealed.as_slice())?;
        Ok(())
    }

    /// The contact's version without opening it (`None`: no such contact).
    pub fn contact_version(&mut self, tenant: &TenantId, id: &ContactId) -> Result<Option<u64>> {
        let key = (tenant.as_str(), id.as_str());
        let known = self
            .tx
            .open_table(CONTACT_VERSIONS)?
            .get(key)?
            .map(|v| v.value());
        match known {
            Some(v) => Ok(Some(v)),
            // Written before versions were kept apart: read it from the contact.
            None => Ok(self.contact(tenant, id)?.map(|c| c.version)),
        }
    }

    /// Deletes a contact; true when it existed.
    pub fn delete_contact(&mut self, tenant: &TenantId, id: &ContactId) -> Result<bool> {
        self.tx
            .open_table(CONTACT_VERSIONS)?
            .remove((tenant.as_str(), id.as_str()))?;
        let mut contacts = self.tx.open_table(CONTACTS)?;
        let existed = contacts.remove((tenant.as_str(), id.as_str()))?.is_some();
        Ok(existed)
    }

    /// Deletes every contact of a tenant; returns how many there were.
    pub(super) fn delete_contacts_of(&mut self, tenant: &TenantId) -> Result<usize> {
        let t = tenant.as_str();
        let mut contacts = self.tx.open_table(CONTACTS)?;
        let ids: Vec<String> = contacts
            .range((t, "")..)?
            .filter_map(|r| r.ok())
            .take_while(|(k, _)| k.value().0 == t)
            .map(|(k, _)| k.value().1.to_string())
            .collect();
        for id in &ids {
            contacts.remove((t, id.as_str()))?;
        }
        self.tx
            .open_table(CONTACT_VERSIONS)?
            .remove_range((t, "")..=(t, "\u{10FFFF}"))?;
        Ok(ids.len())
    }
}
