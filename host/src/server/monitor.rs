//! Per-tenant health, alerts and error tracking, from measured windows.
//!
//! Each request a tenant's key (or a webhook of its location) makes is recorded with its
//! latency and outcome, in a window of the last few minutes by the engine's clock (so
//! tests move time instead of waiting). Health is computed from the window whenever it
//! is asked for: p95 latency, server error rate, webhook failure rate and whether the
//! tenant's outbox is stuck, each with its figure, thresholds and verdict; the tenant is
//! `healthy`, `degraded` (a warning) or `unhealthy` (a critical figure) and recovers by
//! itself when the figures do (the prototype stayed unhealthy forever after one alert).
//! Alerts follow the same checks: raised once per episode, escalated when a warning turns
//! critical, resolved when the figure recovers, and optionally posted to a webhook.
//! Errors are counted by category and the last few kept per tenant, redacted.

use qualify_engine::text::redact;
use qualify_engine::TenantId;
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

/// Thresholds and windows (all settings; the defaults are the product's).
#[derive(Clone, Debug)]
pub struct MonitorConfig {
    /// How far back the figures look.
    pub window: Duration,
    /// Fewer samples than this in the window: rates and percentiles are not judged.
    pub min_samples: usize,
    /// p95 latency over this is a warning…
    pub p95_warning: Duration,
    /// …and over this critical.
    pub p95_critical: Duration,
    /// Server error rate (5xx, rules errors) over this is a warning…
    pub error_warning: f64,
    /// …and over this critical.
    pub error_critical: f64,
    /// Webhook failure rate over this is a warning…
    pub webhook_warning: f64,
    /// …and over this critical.
    pub webhook_critical: f64,
    /// An outbox action overdue by more than this means the outbox is stuck (critical).
    pub outbox_stuck_after: Duration,
    /// Errors kept per tenant.
    pub keep_errors: usize,
    /// Where alert events are posted as JSON, if anywhere.
    pub alert_webhook: Option<String>,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(300),
            min_samples: 20,
            p95_warning: Duration::from_millis(500),
            p95_critical: Duration::from_millis(2000),
            error_warning: 0.05,
            error_critical: 0.20,
            webhook_warning: 0.10,
            webhook_critical: 0.30,
            outbox_stuck_after: Duration::from_secs(900),
            keep_errors: 50,
            alert_webhook: None,
        }
    }
}

/// What kind of error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// A tenant's script failed (compile, runtime, limit, bad result).
    Script,
    /// Facts from a message over the tenant's limits.
    Extraction,
    /// The store failed.
    Store,
    /// A GoHighLevel call failed.
    Ghl,
    /// A key was refused.
    Auth,
    /// The request was malformed or invalid.
    Input,
}

const CATEGORIES: [Category; 6] = [
    Category::Script,
    Category::Extraction,
    Category::Store,
    Category::Ghl,
    Category::Auth,
    Category::Input,
];

impl Category {
    /// The category of an answered error, from its HTTP status and kind; `None` for
    /// what is not an error of the tenant's (shedding, rate limits).
    pub fn of(status: u16, kind: &str) -> Option<Category> {
        Some(match (status, kind) {
            (_, "rules_error") => Category::Script,
            (_, "unavailable" | "internal") => Category::Store,
            (_, "overloaded" | "rate_limited") => return None,
            (401 | 403, _) => Category::Auth,
            (_, "limit") => Category::Extraction,
            (400..=499, _) => Category::Input,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Category::Script => "script",
            Category::Extraction => "extraction",
            Category::Store => "store",
            Category::Ghl => "ghl",
            Category::Auth => "auth",
            Category::Input => "input",
        }
    }
}

/// One error kept for a tenant.
#[derive(Clone, Debug, Serialize)]
pub struct ErrorEntry {
    /// When (engine clock).
    pub at: jiff::Timestamp,
    /// Its category.
    pub category: Category,
    /// The route (template) or `outbox`.
    pub source: String,
    /// The message, redacted.
    pub message: String,
}

/// A check's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Within bounds (or too few samples to judge).
    Ok,
    /// Over the warning threshold.
    Warning,
    /// Over the critical threshold.
    Critical,
}

/// One check of a tenant's health.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// `p95_latency_ms`, `error_rate`, `webhook_failure_rate` or `outbox_stuck_minutes`.
    pub name: &'static str,
    /// The verdict.
    pub level: Level,
    /// The measured figure (`None` with too few samples).
    pub figure: Option<f64>,
    /// The warning threshold.
    pub warning: f64,
    /// The critical threshold.
    pub critical: f64,
    /// Samples in the window behind the figure.
    pub samples: usize,
}

/// A tenant's health.
#[derive(Clone, Debug, Serialize)]
pub struct Health {
    /// `healthy`, `degraded` or `unhealthy`.
    pub status: &'static str,
    /// The window the figures cover, in seconds.
    pub window_seconds: u64,
    /// Each check with the figure that decided it.
    pub checks: Vec<Check>,
}

/// An alert: a check out of bounds, from when it was raised to when it recovered.
#[derive(Clone, Debug, Serialize)]
pub struct Alert {
    /// The check.
    pub check: &'static str,
    /// Its worst severity in this episode.
    pub severity: Level,
    /// The figure when raised (or escalated).
    pub figure: Option<f64>,
    /// When it was raised.
    pub raised_at: jiff::Timestamp,
    /// When it recovered (`None`: still active).
    pub resolved_at: Option<jiff::Timestamp>,
}

#[derive(Default)]
struct TenantState {
    /// (at ms, latency µs, server error).
    requests: VecDeque<(u64, u64, bool)>,
    /// (at ms, failed).
    webhooks: VecDeque<(u64, bool)>,
    counts: HashMap<Category, u64>,
    errors: VecDeque<ErrorEntry>,
    active: HashMap<&'static str, Alert>,
    history: VecDeque<Alert>,
}

/// Samples kept per tenant at most (the oldest go first).
const MAX_SAMPLES: usize = 20_000;
/// Resolved alerts kept per tenant.
const KEEP_ALERTS: usize = 50;

/// The monitor of every tenant.
#[derive(Default)]
pub struct Monitor {
    tenants: Mutex<HashMap<TenantId, TenantState>>,
}

fn ms(t: jiff::Timestamp) -> u64 {
    u64::try_from(t.as_millisecond()).unwrap_or(0)
}

fn push_bounded<T>(q: &mut VecDeque<T>, item: T, most: usize) {
    if q.len() >= most.max(1) {
        q.pop_front();
    }
    q.push_back(item);
}

impl Monitor {
    fn with<T>(&self, tenant: &TenantId, f: impl FnOnce(&mut TenantState) -> T) -> T {
        let mut all = self.tenants.lock().unwrap_or_else(|e| e.into_inner());
        // The id is copied only the first time a tenant is seen.
        if let Some(state) = all.get_mut(tenant) {
            return f(state);
        }
        f(all.entry(tenant.clone()).or_default())
    }

    /// Records one request of `tenant`.
    pub fn request(
        &self,
        tenant: &TenantId,
        now: jiff::Timestamp,
        latency: Duration,
        failed: bool,
    ) {
        let latency = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.with(tenant, |s| {
            push_bounded(&mut s.requests, (ms(now), latency, failed), MAX_SAMPLES)
        });
    }

    /// Records one webhook delivery for `tenant`.
    pub fn webhook(&self, tenant: &TenantId, now: jiff::Timestamp, failed: bool) {
        self.with(tenant, |s| {
            push_bounded(&mut s.webhooks, (ms(now), failed), MAX_SAMPLES)
        });
    }

    /// Counts an error of `tenant` and keeps it (redacted), the oldest going first.
    pub fn error(
        &self,
        tenant: &TenantId,
        now: jiff::Timestamp,
        category: Category,
        source: &str,
        message: &str,
        keep: usize,
    ) {
        let entry = ErrorEntry {
            at: now,
            category,
            source: source.to_string(),
            message: redact::redact(message).text,
        };
        self.with(tenant, |s| {
            *s.counts.entry(category).or_default() += 1;
            push_bounded(&mut s.errors, entry, keep);
        });
    }

    /// A tenant's error counts by category and its last errors, newest first.
    pub fn errors(&self, tenant: &TenantId) -> serde_json::Value {
        self.with(tenant, |s| {
            let counts: serde_json::Map<String, serde_json::Value> = CATEGORIES
                .into_iter()
                .map(|c| {
                    (
                        c.name().to_string(),
                        s.counts.get(&c).copied().unwrap_or(0).into(),
                    )
                })
                .collect();
            let recent: Vec<&ErrorEntry> = s.errors.iter().rev().collect();
            serde_json::json!({"counts": counts, "recent": recent})
        })
    }

    /// The tenant's health at `now`; `outbox_overdue` is how long its oldest due outbox
    /// action has waited past its time (`None`: nothing due).
    pub fn health(
        &self,
        tenant: &TenantId,
        now: jiff::Timestamp,
        outbox_overdue: Option<Duration>,
        cfg: &MonitorConfig,
    ) -> Health {
        let since = ms(now).saturating_sub(u64::try_from(cfg.window.as_millis()).unwrap_or(0));
        // Under the lock every request's middleware takes (`Monitor::request`, on the
        // async threads): only trimming the window and copying it out. The percentile is
        // worked out after (a selection, not a sort: up to 20,000 samples a tick).
        let (mut latencies, failed, w, webhook_failed) = self.with(tenant, |s| {
            while s.requests.front().is_some_and(|r| r.0 < since) {
                s.requests.pop_front();
            }
            while s.webhooks.front().is_some_and(|w| w.0 < since) {
                s.webhooks.pop_front();
            }
            let latencies: Vec<u64> = s.requests.iter().map(|r| r.1).collect();
            let failed = s.requests.iter().filter(|r| r.2).count();
            let webhook_failed = s.webhooks.iter().filter(|x| x.1).count();
            (latencies, failed, s.webhooks.len(), webhook_failed)
        });
        let mut checks = {
            let n = latencies.len();
            let judged = n >= cfg.min_samples.max(1);
            let p95 = judged.then(|| {
                let rank = ((n as f64) * 0.95).ceil() as usize;
                let (_, at, _) = latencies.select_nth_unstable(rank.clamp(1, n) - 1);
                *at as f64 / 1000.0
            });
            let errors = judged.then(|| failed as f64 / n as f64);
            let webhook = (w >= cfg.min_samples.max(1)).then(|| webhook_failed as f64 / w as f64);
            let millis = |d: Duration| d.as_secs_f64() * 1000.0;
            vec![
                check(
                    "p95_latency_ms",
                    p95,
                    millis(cfg.p95_warning),
                    millis(cfg.p95_critical),
                    n,
                ),
                check(
                    "error_rate",
                    errors,
                    cfg.error_warning,
                    cfg.error_critical,
                    n,
                ),
                check(
                    "webhook_failure_rate",
                    webhook,
                    cfg.webhook_warning,
                    cfg.webhook_critical,
                    w,
                ),
            ]
        };
        // The outbox is stuck (critical) once its oldest due action is that late.
        let stuck = cfg.outbox_stuck_after.as_secs_f64() / 60.0;
        let overdue = outbox_overdue.map_or(0.0, |d| d.as_secs_f64() / 60.0);
        checks.push(check(
            "outbox_stuck_minutes",
            Some(overdue),
            stuck,
            stuck,
            1,
        ));
        if let Some(c) = checks.last_mut().filter(|c| c.level == Level::Warning) {
            c.level = Level::Critical;
        }
        let worst = checks.iter().map(|c| c.level).max().unwrap_or(Level::Ok);
        Health {
            status: match worst {
                Level::Ok => "healthy",
                Level::Warning => "degraded",
                Level::Critical => "unhealthy",
            },
            window_seconds: cfg.window.as_secs(),
            checks,
        }
    }

    /// Tenants with anything recorded.
    pub fn tenants(&self) -> Vec<TenantId> {
        let all = self.tenants.lock().unwrap_or_else(|e| e.into_inner());
        all.keys().cloned().collect()
    }

    /// Updates the tenant's alerts from its health: raises, escalates and resolves;
    /// returns the events (`raised` / `escalated` / `resolved`, with the alert) to post.
    pub fn update_alerts(
        &self,
        tenant: &TenantId,
        health: &Health,
        now: jiff::Timestamp,
    ) -> Vec<(&'static str, Alert)> {
        self.with(tenant, |s| {
            let mut events = Vec::new();
            for c in &health.checks {
                match (s.active.get_mut(c.name), c.level) {
                    (None, Level::Ok) => {}
                    (None, level) => {
                        let a = Alert {
                            check: c.name,
                            severity: level,
                            figure: c.figure,
                            raised_at: now,
                            resolved_at: None,
                        };
                        s.active.insert(c.name, a.clone());
                        events.push(("raised", a));
                    }
                    (Some(a), Level::Ok) => {
                        let mut done = a.clone();
                        done.resolved_at = Some(now);
                        s.active.remove(c.name);
                        push_bounded(&mut s.history, done.clone(), KEEP_ALERTS);
                        events.push(("resolved", done));
                    }
                    (Some(a), level) if level > a.severity => {
                        a.severity = level;
                        a.figure = c.figure;
                        events.push(("escalated", a.clone()));
                    }
                    (Some(_), _) => {}
                }
            }
            events
        })
    }

    /// The tenant's active alerts and the recently resolved ones, newest first.
    pub fn alerts(&self, tenant: &TenantId) -> serde_json::Value {
        self.with(tenant, |s| {
            let mut active: Vec<&Alert> = s.active.values().collect();
            active.sort_by_key(|a| a.raised_at);
            let resolved: Vec<&Alert> = s.history.iter().rev().collect();
            serde_json::json!({"active": active, "resolved": resolved})
        })
    }
}

fn check(
    name: &'static str,
    figure: Option<f64>,
    warning: f64,
    critical: f64,
    samples: usize,
) -> Check {
    let level = match figure {
        Some(f) if f > critical => Level::Critical,
        Some(f) if f > warning => Level::Warning,
        _ => Level::Ok,
    };
    Check {
        name,
        level,
        figure,
        warning,
        critical,
        samples,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The p95 is the 95th of 100 latencies in any order, and the error rate counts
    /// only the requests still in the window.
    #[test]
    fn figures_come_from_the_window() {
        let monitor = Monitor::default();
        let tenant = TenantId::new("acme").unwrap();
        let now = jiff::Timestamp::from_second(1_000_000).unwrap();
        let old = now - jiff::SignedDuration::from_secs(3600);
        monitor.request(&tenant, old, Duration::from_secs(9), true);
        for i in (1..=100u64).rev() {
            let failed = i % 10 == 0;
            monitor.request(&tenant, now, Duration::from_millis(i), failed);
        }
        let health = monitor.health(&tenant, now, None, &MonitorConfig::default());
        let figure = |name: &str| {
            let check = health.checks.iter().find(|c| c.name == name).unwrap();
            (check.figure, check.samples)
        };
        assert_eq!(figure("p95_latency_ms"), (Some(95.0), 100));
        assert_eq!(figure("error_rate"), (Some(0.1), 100));
        assert_eq!(figure("webhook_failure_rate"), (None, 0));
    }
}
