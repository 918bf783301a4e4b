//! The data the engine takes and gives: leads and their messages, decisions, stored
//! contacts, CRM actions and tenant listings. Plain types (serde, JSON in and out) with
//! no behaviour beyond reading themselves; every layer above uses them.

mod account;
mod action;
mod analytics;
mod contact;
mod decision;
mod lead;

pub use account::{TenantInfo, Tier};
pub use action::{Action, ActionKind, Origin};
pub use analytics::{day_of, minutes_bucket, DayStats, Journey, LlmUsage};
pub use contact::{Assigned, Contact, FollowUpState, LastDecision};
pub use decision::{Chosen, Class, Decision, Explain, Exposure, Question};
pub(crate) use lead::fact;
pub use lead::{Author, ConversationSize, Facts, Goal, Lead, Message};
