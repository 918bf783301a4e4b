//! What may go out, decided just before each call to the CRM: an action whose contact was
//! erased or opted out since is dropped; a text the bot starts waits for the contact's
//! window; anything else is marked in flight first (GoHighLevel has no idempotency key, so
//! an action found in flight after a crash is never resent: at most once). An action that
//! keeps failing moves to the dead letters after the tenant's number of attempts.

use super::followup::window_wait;
use crate::clock::millis;
use crate::error::Result;
use crate::model::{Action, ActionKind, Origin};
use crate::rules::RuleSet;
use crate::store::WriteTx;
use jiff::Timestamp;

/// What to do with an action now.
#[derive(Clone, Debug, PartialEq)]
pub enum Begin {
    /// Call the CRM with it (it is marked in flight).
    Go(Action),
    /// It is no longer queued (delivered, dropped or moved meanwhile).
    Gone,
    /// Dropped, and why (the contact was erased or opted out).
    Dropped(String),
    /// Not yet: it waits until then (outside the contact's window).
    Deferred(Timestamp),
}

/// How long to wait before trying again when the rules that say the window are missing.
const NO_RULES_RETRY_MS: u64 = 5 * 60_000;

/// Decides whether `action` may go out at `now`, in the caller's transaction.
pub(crate) fn begin(
    tx: &mut WriteTx<'_>,
    rules: Option<&RuleSet>,
    action: &Action,
    now: Timestamp,
) -> Result<Begin> {
    let Some(mut stored) = tx.action(action)? else {
        return Ok(Begin::Gone);
    };
    if stored.in_flight {
        return Ok(Begin::Gone);
    }
    let Some(contact) = tx.contact(&stored.tenant, &stored.contact)? else {
        tx.dequeue(&stored)?;
        return Ok(Begin::Dropped("the contact was erased".into()));
    };
    let text = matches!(stored.kind, ActionKind::SendMessage { .. });
    if text && contact.opted_out && stored.origin != Origin::Compliance {
        tx.dequeue(&stored)?;
        return Ok(Begin::Dropped("the contact opted out".into()));
    }
    if text && stored.origin == Origin::BotInitiated {
        let until = match rules {
            Some(rules) => window_wait(&contact, &rules.settings, now),
            None => Timestamp::from_millisecond((millis(now) + NO_RULES_RETRY_MS) as i64).ok(),
        };
        if let Some(until) = until {
            tx.dequeue(&stored)?;
            stored.due_ms = millis(until);
            tx.put_action(&stored)?;
            return Ok(Begin::Deferred(until));
        }
    }
    stored.in_flight = true;
    stored.claimed_ms = millis(now);
    tx.put_action(&stored)?;
    Ok(Begin::Go(stored))
}

/// Records a failed attempt: tried again after `delay_ms`, or moved to the dead letters
/// once the tenant's attempts are spent. True when it was moved.
pub(crate) fn failed(
    tx: &mut WriteTx<'_>,
    max_attempts: u32,
    action: &Action,
    error: &str,
    delay_ms: u64,
    now: Timestamp,
) -> Result<bool> {
    let mut next = action.clone();
    next.attempts = next.attempts.saturating_add(1);
    next.in_flight = false;
    next.last_error = Some(error.chars().take(300).collect());
    if next.attempts >= max_attempts {
        let why = format!("gave up after {} attempts: {error}", next.attempts);
        tx.dead_letter(&next, &why)?;
        return Ok(true);
    }
    tx.dequeue(action)?;
    next.due_ms = millis(now).saturating_add(delay_ms);
    tx.put_action(&next)?;
    Ok(false)
}
