-- The store's tables: one per redb table, keys order-preserving (see engine/src/store/kv.rs),
-- values sealed exactly as in redb (AES-256-GCM; index tables hold no value).
CREATE SCHEMA IF NOT EXISTS qualify;
CREATE TABLE qualify.meta (k bytea PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE qualify.tenant_keys (k bytea PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE qualify.tenants (k bytea PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE qualify.contacts (k bytea PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE qualify.contact_versions (k bytea PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE qualify.due (k bytea PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE qualify.outbox (k bytea PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE qualify.dead_letters (k bytea PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE qualify.webhooks (k bytea PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE qualify.webhook_expiry (k bytea PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE qualify.pending (k bytea PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE qualify.quarantine (k bytea PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE qualify.exposures (k bytea PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE qualify.outcomes (k bytea PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE qualify.experiment_stops (k bytea PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE qualify.analytics (k bytea PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE qualify.transcripts (k bytea PRIMARY KEY, v bytea NOT NULL);
