//! Conversations held in the store: ingesting a lead's message (merge it, decide, apply
//! compliance, plan the CRM actions, record it all in one transaction) and follow-ups
//! after a silence (which stage is due, and recording its send). Each workflow is a row of
//! named steps; the steps that decide are pure, the one that records takes the
//! transaction.

mod analytics;
mod delivery;
mod experiments;
mod followup;
mod import;
mod ingest;
mod llm;
mod replay;
mod shadow;
mod template;
mod webhook;

pub(crate) use analytics::{day_date, erase_contact, report as analytics_report};
pub use analytics::{
    Analytics, ArmStats, ClassesOn, Conversion, DayRange, ExperimentStats, FollowUpStats, Funnel,
    Messages, OptOuts, QuestionStats, ToHot, MAX_DAYS,
};
pub use delivery::Begin;
pub(crate) use delivery::{begin, failed};
pub(crate) use experiments::{find as find_experiment, record_outcome, report};
pub use experiments::{OutcomeRecorded, OutcomeReport, Report, Status, Summary};
pub(crate) use followup::run as run_followups;
pub use followup::{next_window_start, FollowUpOptions, FollowUpOutcome, FollowUpReport, Outcome};
pub(crate) use import::import as import_transcripts;
pub use import::{contact_id_for, ImportReport};
pub(crate) use ingest::{decide_again, ingest, prepare, prepare_undecided};
pub use ingest::{Inbound, Ingested};
pub use llm::LlmUsage;
pub(crate) use llm::{hints as llm_hints, Hints, Hybrid};
pub(crate) use replay::{replay, Versions};
pub use replay::{
    Changes, Example, Examples, Failures, ReplayOptions, ReplayReport, Side, Transition,
};
pub use shadow::ShadowReport;
pub(crate) use shadow::{Shadow, Work as ShadowWork};
pub(crate) use webhook::{prepare_delivery, prepare_failed_delivery, update_tags, Prepared};
pub use webhook::{Delivered, WebhookDelivery};
