//! A tenant's analytics: what each change counts (compared with the contact before it),
//! and the report over a range of days read back from the day rows.
//!
//! Counting is cohort-based so that no rate can exceed 100 %: a contact's funnel
//! milestones (first seen, warm, hot, handed off at hot, opted out, and its time to hot)
//! are added to the row of the day it first wrote, so a range's funnel is "of the
//! contacts first seen in these days, how many went on to …". A question's answer is
//! added to the day it was asked, a follow-up's reply to the day it was sent. Inbound
//! messages and class changes are added to the day they happened; the class mix of a day
//! is the sum of every change up to it.

use crate::conversation::experiments;
use crate::error::{Error, Result};
use crate::experiment::stats::MetricKind;
use crate::ids::{ContactId, TenantId};
use crate::model::{day_of, minutes_bucket, Class, Contact, DayStats, Decision, LlmUsage};
use crate::rules::RuleSet;
use crate::store::{Store, WriteTx};
use jiff::civil::Date;
use jiff::Timestamp;
use serde::Serialize;
use std::collections::BTreeMap;

/// The longest range a report covers (ten years of days).
pub const MAX_DAYS: u32 = 3_660;

/// What a change needs to know of the contact before it.
#[derive(Clone, Debug)]
pub(crate) struct Prior {
    existed: bool,
    class: Option<Class>,
    answered: Vec<String>,
    followup_stage: u32,
    followup_sent_at: Option<Timestamp>,
    undecided: bool,
}

impl Prior {
    /// The parts of `c` (as read, before the change) that counting compares with.
    pub(crate) fn of(c: Option<&Contact>) -> Self {
        Prior {
            existed: c.is_some(),
            class: c.and_then(|c| c.last.as_ref().map(|l| l.class)),
            answered: c
                .and_then(|c| c.last.as_ref().map(|l| l.answered.clone()))
                .unwrap_or_default(),
            followup_stage: c.map_or(0, |c| c.followup.stage),
            followup_sent_at: c.and_then(|c| c.followup.last_sent_at),
            undecided: c.is_some_and(|c| c.undecided),
        }
    }
}

/// What happened in one change, for counting.
pub(crate) struct Event<'a> {
    /// When it happened (the message's time for an inbound message).
    pub at: Timestamp,
    /// True when the change adds a new inbound message.
    pub inbound: bool,
    /// The decision made, if one was.
    pub decision: Option<&'a Decision>,
    /// The tenant's follow-up stages (hours), to name a replied stage.
    pub stages_hours: &'a [u32],
}

fn class_index(c: Class) -> usize {
    match c {
        Class::Cold => 0,
        Class::Warm => 1,
        Class::Hot => 2,
    }
}

/// Counts one change of `c` (already changed, `prior` as it was): updates the contact's
/// journey and returns the counts by day.
pub(crate) fn count(prior: &Prior, c: &mut Contact, e: &Event<'_>) -> Vec<(u32, DayStats)> {
    let mut days: BTreeMap<u32, DayStats> = BTreeMap::new();
    let today = day_of(e.at);
    let j = &mut c.journey;
    if j.cohort_day == 0 {
        // First seen now, or stored before analytics were counted: either way it joins
        // the cohort of its first day, and its class (if any) the class mix from then.
        let first = if prior.existed { c.created_at } else { e.at };
        j.cohort_day = day_of(first).max(1);
        j.first_at.get_or_insert(first);
        let row = days.entry(j.cohort_day).or_default();
        row.new_contacts += 1;
        if let Some(class) = prior.class {
            row.class_delta[class_index(class)] += 1;
        }
    }
    let cohort = j.cohort_day;
    if e.inbound {
        j.inbound = j.inbound.saturating_add(1);
        days.entry(today).or_default().inbound += 1;
    }
    // The lead wrote since the last decision (a message now, or one stored undecided).
    let lead_wrote = e.inbound || prior.undecided;
    if lead_wrote && prior.followup_stage > 0 {
        let stage = prior.followup_stage as usize - 1;
        if let (Some(hours), Some(sent)) = (e.stages_hours.get(stage), prior.followup_sent_at) {
            *days
                .entry(day_of(sent))
                .or_default()
                .followups_replied
                .entry(*hours)
                .or_default() += 1;
        }
    }
    let Some(d) = e.decision else {
        return days.into_iter().collect();
    };
    if lead_wrote {
        if let Some((question, asked_day)) = j.asked.take() {
            if d.answered.contains(&question) && !prior.answered.contains(&question) {
                *days
                    .entry(asked_day)
                    .or_default()
                    .answered_next
                    .entry(question)
                    .or_default() += 1;
            }
        }
    }
    if prior.class != Some(d.class) {
        let row = days.entry(today).or_default();
        if let Some(was) = prior.class {
            row.class_delta[class_index(was)] -= 1;
        }
        row.class_delta[class_index(d.class)] += 1;
    }
    let milestones = days.entry(cohort).or_default();
    if d.class != Class::Cold && j.warm_at.is_none() {
        j.warm_at = Some(e.at);
        milestones.warm += 1;
    }
    if d.class == Class::Hot && j.hot_at.is_none() {
        j.hot_at = Some(e.at);
        milestones.hot += 1;
        let since = j
            .first_at
            .map_or(0, |f| e.at.duration_since(f).as_secs().max(0));
        *milestones
            .to_hot_minutes
            .entry(minutes_bucket(since as u64))
            .or_default() += 1;
        *milestones.to_hot_messages.entry(j.inbound).or_default() += 1;
    }
    if d.handoff && j.hot_at.is_some() && j.handed_off_at.is_none() {
        j.handed_off_at = Some(e.at);
        milestones.handed_off += 1;
    }
    if c.opted_out && j.opted_out_at.is_none() {
        j.opted_out_at = Some(e.at);
        milestones.opted_out += 1;
    }
    if let Some(q) = d
        .question
        .as_ref()
        .filter(|q| d.active && q.id != "handoff")
    {
        *days
            .entry(today)
            .or_default()
            .asked
            .entry(q.id.clone())
            .or_default() += 1;
        j.asked = Some((q.id.clone(), today));
    }
    days.into_iter().filter(|(_, s)| !s.is_empty()).collect()
}

/// Erases a contact from every table that names it (see `Store`'s erasure) and takes
/// it out of the class mix from `at`'s day on; its milestones (first seen, warm, hot…)
/// stay counted: they happened. A contact whose record does not open is erased all the
/// same (its class is unknown, so the mix keeps it). True when the contact existed.
pub(crate) fn erase_contact(
    tx: &mut WriteTx<'_>,
    tenant: &TenantId,
    contact: &ContactId,
    at: Timestamp,
) -> Result<bool> {
    let counted = match tx.view(tenant, contact, None) {
        Ok(view) => view
            .contact
            .filter(|c| c.journey.cohort_day != 0)
            .and_then(|c| c.last.map(|l| l.class)),
        Err(e) => {
            tracing::warn!(tenant = %tenant, "erasing a contact whose record does not open: {e}");
            None
        }
    };
    let existed = tx.erase_contact(tenant, contact)?;
    if let Some(class) = counted {
        let mut row = DayStats::default();
        row.class_delta[class_index(class)] = -1;
        tx.tally(tenant, day_of(at), &row);
    }
    Ok(existed)
}

/// The follow-up sent at `at` for `hours` of silence, counted on its day.
pub(crate) fn count_followup(at: Timestamp, hours: u32) -> (u32, DayStats) {
    let mut s = DayStats::default();
    s.followups_sent.insert(hours, 1);
    (day_of(at), s)
}

/// A range of days (UTC), both ends included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DayRange {
    /// The first day.
    pub from: Date,
    /// The last day.
    pub to: Date,
}

impl DayRange {
    /// `from..=to`, defaulting to the 30 days that end `today`; refused when `from` is
    /// after `to` or the range is longer than [`MAX_DAYS`].
    pub fn new(from: Option<Date>, to: Option<Date>, today: Date) -> Result<Self> {
        let to = to.unwrap_or(today);
        let from = match from {
            Some(f) => f,
            None => to.checked_sub(jiff::Span::new().days(29)).unwrap_or(to),
        };
        let bad = |m: String| Err(Error::InvalidRange(m));
        if from > to {
            return bad(format!("`from` {from} is after `to` {to}"));
        }
        let (first, last) = (date_day(from)?, date_day(to)?);
        if last - first + 1 > MAX_DAYS {
            return bad(format!("{from} to {to} is longer than {MAX_DAYS} days"));
        }
        Ok(DayRange { from, to })
    }

    /// Parses `YYYY-MM-DD`, naming the parameter in the error.
    pub fn parse_day(name: &str, text: &str) -> Result<Date> {
        text.trim().parse::<Date>().map_err(|_| {
            Error::InvalidRange(format!("`{name}` {text:?} is not a date (YYYY-MM-DD)"))
        })
    }
}

const EPOCH: Date = Date::constant(1970, 1, 1);

/// The day number of a date (days since 1970-01-01); refused before 1970-01-02 (day 0
/// marks a contact not yet counted).
fn date_day(d: Date) -> Result<u32> {
    let days = EPOCH
        .until(d)
        .map_err(|e| Error::InvalidRange(format!("{d}: {e}")))?
        .get_days();
    if days < 1 {
        return Err(Error::InvalidRange(format!("{d} is before 1970-01-02")));
    }
    Ok(days as u32)
}

/// The date of a day number.
pub(crate) fn day_date(day: u32) -> Date {
    EPOCH
        .checked_add(jiff::Span::new().days(i64::from(day)))
        .unwrap_or(EPOCH)
}

/// A tenant's analytics over a range of days.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Analytics {
    /// The tenant.
    pub tenant: TenantId,
    /// The first day (UTC).
    pub from: Date,
    /// The last day (UTC).
    pub to: Date,
    /// Of the contacts first seen in the range, how many reached each stage.
    pub funnel: Funnel,
    /// Each stage over the one before (`None` when that one is 0).
    pub conversion: Conversion,
    /// How many contacts were in each class at the end of each day of the range.
    pub classes_by_day: Vec<ClassesOn>,
    /// How long the range's contacts that reached hot took.
    pub to_hot: ToHot,
    /// Each question asked in the range and how often the lead's next message answered
    /// it; most asked first.
    pub questions: Vec<QuestionStats>,
    /// Each follow-up stage sent in the range and how often the lead wrote back before
    /// the next one.
    pub followups: Vec<FollowUpStats>,
    /// Opt-outs among the range's contacts.
    pub opt_outs: OptOuts,
    /// Messages in the range.
    pub messages: Messages,
    /// Each of the tenant's experiments as it stands now (all its exposures, not only
    /// the range's).
    pub experiments: Vec<ExperimentStats>,
    /// Hybrid extraction over the range: calls made and how they ended, cache hits,
    /// messages over the daily budget, tokens (counted with the messages they were for).
    pub llm: LlmUsage,
    /// Day rows that could not be opened (tampered, or their key is gone), left out.
    pub unreadable_days: usize,
}

/// Funnel counts.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Funnel {
    /// Contacts first seen in the range.
    pub contacts: u64,
    /// Of those, reached warm or hot.
    pub warm: u64,
    /// Of those, reached hot.
    pub hot: u64,
    /// Of those, handed off to the agent at hot.
    pub handed_off: u64,
}

/// Stage-to-stage conversion (fractions 0–1).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Conversion {
    /// warm / contacts.
    pub warm: Option<f64>,
    /// hot / warm.
    pub hot: Option<f64>,
    /// handed off / hot.
    pub handed_off: Option<f64>,
}

/// The class mix at the end of a day.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassesOn {
    /// The day.
    pub day: Date,
    /// Contacts whose last decision was cold.
    pub cold: i64,
    /// … warm.
    pub warm: i64,
    /// … hot.
    pub hot: i64,
}

/// Time and messages to hot (linear-interpolated percentiles; minutes are exact under
/// an hour, to 5 minutes under a day, to the hour beyond).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ToHot {
    /// Contacts that reached hot.
    pub contacts: u64,
    /// Median minutes from the first message to hot.
    pub median_minutes: Option<f64>,
    /// 90th percentile of the minutes.
    pub p90_minutes: Option<f64>,
    /// Median inbound messages up to hot.
    pub median_messages: Option<f64>,
    /// 90th percentile of the messages.
    pub p90_messages: Option<f64>,
}

/// One question's record.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QuestionStats {
    /// The question (the data point it asks about).
    pub id: String,
    /// Times it was sent.
    pub asked: u64,
    /// Times the lead's next message answered it.
    pub answered_next: u64,
    /// answered_next / asked.
    pub answer_rate: Option<f64>,
}

/// One follow-up stage's record.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FollowUpStats {
    /// The stage (hours of silence).
    pub stage_hours: u32,
    /// Texts sent.
    pub sent: u64,
    /// Leads who wrote back after it (before any later stage).
    pub replied: u64,
    /// replied / sent.
    pub response_rate: Option<f64>,
}

/// Opt-outs.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct OptOuts {
    /// Contacts of the range that opted out.
    pub count: u64,
    /// count / contacts.
    pub rate: Option<f64>,
}

/// Message counts.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Messages {
    /// Inbound messages from leads.
    pub inbound: u64,
}

/// An experiment's standing, for the dashboard.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExperimentStats {
    /// The key.
    pub key: String,
    /// Where it stands.
    pub status: experiments::Status,
    /// The main metric.
    pub metric: String,
    /// Conversion or numeric.
    pub kind: MetricKind,
    /// The winner, when the analysis declares one.
    pub winner: Option<String>,
    /// Why that winner or none.
    pub verdict: String,
    /// Each arm, the control first.
    pub variants: Vec<ArmStats>,
}

/// One arm of an experiment.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ArmStats {
    /// The variant.
    pub name: String,
    /// Contacts exposed.
    pub n: u64,
    /// Conversions (conversion metric).
    pub conversions: Option<u64>,
    /// Conversion rate.
    pub rate: Option<f64>,
    /// Wilson 95 % interval of the rate.
    pub rate_ci95: Option<[f64; 2]>,
    /// Mean (numeric metric).
    pub mean: Option<f64>,
    /// 95 % interval of the mean.
    pub mean_ci95: Option<[f64; 2]>,
}

fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

/// The `p` quantile (0–1) of values given as counts by value, linear between
/// neighbours (NumPy's default).
fn quantile(counts: &BTreeMap<u32, u64>, p: f64) -> Option<f64> {
    let n: u64 = counts.values().sum();
    let last = n.checked_sub(1)?;
    let pos = p * last as f64;
    let (lo, hi) = (pos.floor() as u64, pos.ceil() as u64);
    // The value at a 0-based rank of the sorted multiset.
    let at = |rank: u64| {
        let mut seen = 0;
        for (v, c) in counts {
            seen += c;
            if rank < seen {
                return f64::from(*v);
            }
        }
        0.0
    };
    let (a, b) = (at(lo), at(hi));
    Some(a + (b - a) * (pos - lo as f64))
}

/// The report for `tenant` over `range`, from its day rows (one per day, however many
/// contacts) and its experiments' reports.
pub(crate) fn report(
    store: &Store,
    tenant: &TenantId,
    rules: &RuleSet,
    range: DayRange,
    now: Timestamp,
) -> Result<Analytics> {
    let (first, last) = (date_day(range.from)?, date_day(range.to)?);
    let (rows, unreadable_days) = store.analytics(tenant, 0, last)?;
    let mut classes = [0i64; 3];
    let mut total = DayStats::default();
    let mut classes_by_day = Vec::with_capacity((last - first + 1) as usize);
    let mut rows = rows.into_iter().peekable();
    while let Some((_, s)) = rows.next_if(|(d, _)| *d < first) {
        add_classes(&mut classes, &s);
    }
    for day in first..=last {
        if let Some((_, s)) = rows.next_if(|(d, _)| *d == day) {
            add_classes(&mut classes, &s);
            total.add(&s);
        }
        classes_by_day.push(ClassesOn {
            day: day_date(day),
            cold: classes[0],
            warm: classes[1],
            hot: classes[2],
        });
    }
    let funnel = Funnel {
        contacts: total.new_contacts,
        warm: total.warm,
        hot: total.hot,
        handed_off: total.handed_off,
    };
    let conversion = Conversion {
        warm: ratio(funnel.warm, funnel.contacts),
        hot: ratio(funnel.hot, funnel.warm),
        handed_off: ratio(funnel.handed_off, funnel.hot),
    };
    let to_hot = ToHot {
        contacts: total.to_hot_messages.values().sum(),
        median_minutes: quantile(&total.to_hot_minutes, 0.5),
        p90_minutes: quantile(&total.to_hot_minutes, 0.9),
        median_messages: quantile(&total.to_hot_messages, 0.5),
        p90_messages: quantile(&total.to_hot_messages, 0.9),
    };
    let mut questions: Vec<QuestionStats> = total
        .asked
        .iter()
        .map(|(id, asked)| {
            let answered_next = total.answered_next.get(id).copied().unwrap_or(0);
            QuestionStats {
                id: id.clone(),
                asked: *asked,
                answered_next,
                answer_rate: ratio(answered_next, *asked),
            }
        })
        .collect();
    questions.sort_by(|a, b| b.asked.cmp(&a.asked).then_with(|| a.id.cmp(&b.id)));
    let mut stages: Vec<u32> = rules.settings.followup.stages_hours.clone();
    stages.extend(total.followups_sent.keys());
    stages.sort_unstable();
    stages.dedup();
    let followups = stages
        .into_iter()
        .map(|h| {
            let sent = total.followups_sent.get(&h).copied().unwrap_or(0);
            let replied = total.followups_replied.get(&h).copied().unwrap_or(0);
            FollowUpStats {
                stage_hours: h,
                sent,
                replied,
                response_rate: ratio(replied, sent),
            }
        })
        .collect();
    let experiments = rules
        .experiments
        .iter()
        .map(|x| {
            let r = experiments::report(store, tenant, x, now)?;
            Ok(ExperimentStats {
                key: x.key.clone(),
                status: r.status,
                metric: x.metric.clone(),
                kind: r.analysis.metric,
                winner: r.analysis.winner.clone(),
                verdict: r.analysis.verdict.clone(),
                variants: r
                    .analysis
                    .variants
                    .iter()
                    .map(|a| ArmStats {
                        name: a.name.clone(),
                        n: a.n,
                        conversions: a.conversions,
                        rate: a.rate,
                        rate_ci95: a.rate_ci95,
                        mean: a.mean,
                        mean_ci95: a.mean_ci95,
                    })
                    .collect(),
            })
        })
        .collect::<Result<_>>()?;
    Ok(Analytics {
        tenant: tenant.clone(),
        from: range.from,
        to: range.to,
        opt_outs: OptOuts {
            count: total.opted_out,
            rate: ratio(total.opted_out, funnel.contacts),
        },
        funnel,
        conversion,
        classes_by_day,
        to_hot,
        questions,
        followups,
        messages: Messages {
            inbound: total.inbound,
        },
        experiments,
        llm: total.llm,
        unreadable_days,
    })
}

fn add_classes(classes: &mut [i64; 3], s: &DayStats) {
    for (c, d) in classes.iter_mut().zip(s.class_delta) {
        *c += d;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_of_counts_match_the_sorted_list() {
        // 1, 2, 2, 3, 10: NumPy gives median 2, p90 7.2, p25 2.
        let counts = BTreeMap::from([(1, 1), (2, 2), (3, 1), (10, 1)]);
        assert_eq!(quantile(&counts, 0.5), Some(2.0));
        assert!((quantile(&counts, 0.9).unwrap() - 7.2).abs() < 1e-9);
        assert_eq!(quantile(&counts, 0.25), Some(2.0));
        assert_eq!(quantile(&BTreeMap::new(), 0.5), None);
        assert_eq!(quantile(&BTreeMap::from([(7, 3)]), 0.9), Some(7.0));
    }

    #[test]
    fn minutes_are_exact_under_an_hour_then_coarser() {
        assert_eq!(minutes_bucket(0), 0);
        assert_eq!(minutes_bucket(89), 1);
        assert_eq!(minutes_bucket(59 * 60), 59);
        assert_eq!(minutes_bucket(64 * 60), 60);
        assert_eq!(minutes_bucket(23 * 3600 + 59 * 60), 1435);
        assert_eq!(minutes_bucket(50 * 3600 + 10 * 60), 3000);
        assert_eq!(minutes_bucket(u64::MAX / 2), u32::MAX - u32::MAX % 60);
    }
}
