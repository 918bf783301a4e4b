//! Every table of the store file, in one place. Keys name a tenant (and most a contact) in
//! plain text so rows can be found and erased; values are sealed (see the module docs of
//! `store`), except the due index, which is keys only.
//!
//! What erasure removes, table by table:
//!
//! | table | erasing a contact | erasing a tenant |
//! |---|---|---|
//! | `meta` | — | — (deployment-wide) |
//! | `tenant_keys` | — | its data keys, first (crypto-shredding) |
//! | `tenants` | — | its record (registration, API key hashes, GHL token) |
//! | `contacts` | the contact's row | every contact row |
//! | `due` | — | — |
//! | `outbox` | — | — |

use redb::TableDefinition;

/// Deployment metadata: the master-key check value. Key: name.
pub(super) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// Tenant data keys, wrapped by the master key. Key: (tenant, key version).
pub(super) const TENANT_KEYS: TableDefinition<(&str, u32), &[u8]> =
    TableDefinition::new("tenant_keys");
/// Tenants known to the store (sealed record: registration, API key hashes, GHL token).
/// Key: tenant.
pub(super) const TENANTS: TableDefinition<&str, &[u8]> = TableDefinition::new("tenants");
/// Contacts (sealed `Contact` JSON). Key: (tenant, contact id).
pub(super) const CONTACTS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("contacts");
/// The follow-up due index, ordered by due time: a run reads only what is due.
/// Key: (due ms, tenant, contact); no value.
pub(super) const DUE: TableDefinition<(u64, &str, &str), ()> = TableDefinition::new("due");
/// Actions waiting for delivery to the CRM (sealed `Action` JSON).
/// Key: (tenant, due ms, action id).
pub(super) const OUTBOX: TableDefinition<(&str, u64, u64), &[u8]> = TableDefinition::new("outbox");
