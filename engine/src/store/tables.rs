//! Every table of the store file, in one place. Keys name a tenant (and most a contact) in
//! plain text so rows can be found and erased; values are sealed (see the module docs of
//! `store`), except the index tables, which are keys only, and quarantined rows, which
//! are kept as found.
//!
//! What erasure removes, table by table (both in one transaction):
//!
//! | table | erasing a contact | erasing a tenant |
//! |---|---|---|
//! | `meta` | — | — (deployment-wide) |
//! | `tenant_keys` | — | its data keys, first (crypto-shredding) |
//! | `tenants` | — | its record (registration, API key hashes, GHL token) |
//! | `contacts`, `contact_versions` | the contact's rows | every contact's rows |
//! | `due` | the contact's entries | every entry naming the tenant |
//! | `outbox` | the contact's queued actions | every queued action |
//! | `dead_letters` | the contact's failed actions | every failed action |
//! | `webhooks`, `webhook_expiry` | the contact's remembered deliveries | all of them |
//! | `pending` | the contact's row | every row |
//! | `quarantine` | — (unreadable: its contact is unknown) | every row naming the tenant |
//! | `exposures`, `outcomes` | the contact's rows | every row |
//! | `experiment_stops` | — | every row |
//! | `analytics` | — (day totals name no contact) | every row |
//! | `transcripts` | — (imported transcripts' metrics) | every row |

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
/// Each contact's version (how many times it was written), kept beside it in the clear so
/// a group commit checks a prepared change without opening the contact. A count, nothing
/// about the lead. Key: (tenant, contact id).
pub(super) const CONTACT_VERSIONS: TableDefinition<(&str, &str), u64> =
    TableDefinition::new("contact_versions");
/// The follow-up due index, ordered by due time: a run reads only what is due.
/// Key: (due ms, tenant, contact); no value.
pub(super) const DUE: TableDefinition<(u64, &str, &str), ()> = TableDefinition::new("due");
/// Actions waiting for delivery to the CRM (sealed `Action` JSON).
/// Key: (tenant, due ms, action id).
pub(super) const OUTBOX: TableDefinition<(&str, u64, u64), &[u8]> = TableDefinition::new("outbox");
/// Actions that will not be delivered: too many failed attempts, or found in flight after
/// a crash (sealed `Action` JSON, its `last_error` saying why). Key: (tenant, action id).
pub(super) const DEAD_LETTERS: TableDefinition<(&str, u64), &[u8]> =
    TableDefinition::new("dead_letters");
/// GoHighLevel deliveries already received, for replay checks: the body's hash and the
/// first result (sealed). Key: (tenant, contact, webhook id).
pub(super) const WEBHOOKS: TableDefinition<(&str, &str, &str), &[u8]> =
    TableDefinition::new("webhooks");
/// When each remembered delivery may be forgotten. Key: (expires ms, tenant, contact,
/// webhook id); no value.
pub(super) const WEBHOOK_EXPIRY: TableDefinition<(u64, &str, &str, &str), ()> =
    TableDefinition::new("webhook_expiry");
/// Contacts with a stored message that no decision has covered yet (the tenant's rules
/// failed). Key: (tenant, contact); no value.
pub(super) const PENDING: TableDefinition<(&str, &str), ()> = TableDefinition::new("pending");
/// Rows that could not be opened (tampered, or their key is gone), set aside so they never
/// block the others. Key: (table, tenant, record key); value: the row as found.
pub(super) const QUARANTINE: TableDefinition<(&str, &str, &str), &[u8]> =
    TableDefinition::new("quarantine");
/// Each contact's variant of an experiment, recorded at its first exposure (sealed
/// `{variant, at}`). Key: (tenant, experiment key, contact).
pub(super) const EXPOSURES: TableDefinition<(&str, &str, &str), &[u8]> =
    TableDefinition::new("exposures");
/// Outcomes of exposed contacts, one per contact and metric (sealed `{value, at}`).
/// Key: (tenant, experiment key, metric, contact).
pub(super) const OUTCOMES: TableDefinition<(&str, &str, &str, &str), &[u8]> =
    TableDefinition::new("outcomes");
/// Experiments stopped by a person before their definition's end (sealed `{at}`).
/// Key: (tenant, experiment key).
pub(super) const EXPERIMENT_STOPS: TableDefinition<(&str, &str), &[u8]> =
    TableDefinition::new("experiment_stops");
/// A tenant's analytics, one row per day (sealed `DayStats`). Key: (tenant, day number).
pub(super) const ANALYTICS: TableDefinition<(&str, u32), &[u8]> = TableDefinition::new("analytics");
/// Imported transcripts' metrics (sealed `ConversationMetrics`). Key: (tenant, transcript id).
pub(super) const TRANSCRIPTS: TableDefinition<(&str, &str), &[u8]> =
    TableDefinition::new("transcripts");

/// Every table's name: the PostgreSQL backend's tables (`qualify.<name>`, created by
/// `engine/migrations`), and the only names it puts into SQL.
pub(super) const NAMES: [&str; 17] = [
    "meta",
    "tenant_keys",
    "tenants",
    "contacts",
    "contact_versions",
    "due",
    "outbox",
    "dead_letters",
    "webhooks",
    "webhook_expiry",
    "pending",
    "quarantine",
    "exposures",
    "outcomes",
    "experiment_stops",
    "analytics",
    "transcripts",
];
