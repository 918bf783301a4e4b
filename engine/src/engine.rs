//! The facade: an [`Engine`] built over a rules folder (and optionally a store and a
//! clock) that answers decisions and ingests, with sub-handles by topic in the style of
//! redb: [`Engine::rules`], [`Engine::contacts`], [`Engine::accounts`],
//! [`Engine::outbox`], [`Engine::followups`], [`Engine::experiments`]. It delegates every call to the layers
//! below and holds no logic of its own; nothing below imports it.

use crate::clock::{millis, Clock, SystemClock};
use crate::conversation::{
    self, Begin, Delivered, FollowUpOptions, FollowUpOutcome, FollowUpReport, Inbound, Ingested,
    OutcomeRecorded, OutcomeReport, Report, Summary, WebhookDelivery,
};
use crate::conversation::{Analytics, DayRange, Hybrid, ImportReport, LlmUsage, Prepared};
use crate::conversation::{Hints, Shadow, ShadowReport, ShadowWork};
use crate::decide::{self, ScoreOptions};
use crate::error::{Error, Result};
use crate::experiment::Experiment;
use crate::ids::{ContactId, TenantId};
use crate::model::{Action, Contact, Decision, Facts, Lead, Question, TenantInfo, Tier};
use crate::rules::{self, CasesReport, Catalog, Limits, Lookup, ReloadReport, RuleSet};
use crate::store::{api_key_from, new_api_key, ContactChange, ContactView, SecretKey, Store};
use crate::transcript::{ConversationMetrics, Transcript};
use serde_json::{json, Value};
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zeroize::Zeroizing;

/// Builds an [`Engine`].
#[derive(Clone, Default)]
pub struct EngineBuilder {
    rules_dir: Option<PathBuf>,
    limits: Limits,
    store: Option<Arc<Store>>,
    clock: Option<Arc<dyn Clock>>,
    shadow_queue: Option<usize>,
    /// `Some(false)`: every hook on Rhai's interpreter (see [`EngineBuilder::lowering`]).
    lowering: Option<bool>,
}

impl EngineBuilder {
    /// The rules folder: one sub-folder per tenant, `default/` the base of all of them.
    /// Without one (or without its `default/`), the embedded default rules are the base.
    pub fn rules_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.rules_dir = Some(dir.into());
        self
    }

    /// Sandbox limits for every script evaluation.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The encrypted store for conversations ([`Engine::ingest`], [`Engine::contacts`], ...).
    pub fn store(mut self, store: impl Into<Arc<Store>>) -> Self {
        self.store = Some(store.into());
        self
    }

    /// Shadow mode's queue: decisions waiting for the candidate, at most (default 512 per
    /// shadow thread; past it new ones are dropped and counted). What a busy server may
    /// hold in memory for shadow mode.
    pub fn shadow_queue(mut self, decisions: usize) -> Self {
        self.shadow_queue = Some(decisions.max(1));
        self
    }

    /// Whether hooks run lowered when they can (default: yes). A lowered hook is
    /// translated once from Rhai's syntax tree and runs several times faster, with the
    /// same results and errors (`rules/README.md`, "Speed"); `false` runs every hook on
    /// Rhai's interpreter, for comparing the two.
    pub fn lowering(mut self, on: bool) -> Self {
        self.lowering = Some(on);
        self
    }

    /// Where the engine reads the time (default: the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Loads and compiles every tenant. A tenant whose scripts do not compile is left
    /// out (see [`Rules::reload`] for its errors); the others serve.
    pub fn build(self) -> Result<Engine> {
        let engine = Engine {
            inner: Arc::new(Inner {
                catalog: Catalog::new(self.rules_dir, self.limits, self.lowering.unwrap_or(true))?,
                store: self.store,
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
                hybrid: Hybrid::default(),
                shadow: Shadow::new(self.shadow_queue),
            }),
        };
        engine.inner.catalog.reload(false);
        Ok(engine)
    }
}

struct Inner {
    catalog: Catalog,
    store: Option<Arc<Store>>,
    clock: Arc<dyn Clock>,
    /// Hybrid extraction's pool, cache, budgets and counts (idle unless a tenant turns
    /// it on).
    hybrid: Hybrid,
    /// Shadow mode's threads and counts (idle unless a tenant has a `candidate/`).
    shadow: Shadow,
}

/// What shadow mode needs of an ingest's last snapshot: the contact before the message,
/// the stopped experiments and the time (kept only when the tenant has a candidate).
struct Before(Option<RefCell<Option<Snapshot>>>);

type Snapshot = (Option<Contact>, Vec<String>, jiff::Timestamp);

impl Before {
    fn new(rules: &RuleSet) -> Self {
        Self(rules.shadowed().then(|| RefCell::new(None)))
    }

    /// Keeps the snapshot a decision is prepared from (the last one is the one committed).
    fn keep(&self, view: &ContactView, now: jiff::Timestamp) {
        if let Some(cell) = &self.0 {
            *cell.borrow_mut() = Some((view.contact.clone(), view.stopped.clone(), now));
        }
    }
}

/// The multi-tenant rules engine. Cheap to clone and safe to share between threads.
///
/// ```
/// use qualify_engine::{Engine, Lead, TenantId};
///
/// let engine = Engine::builder().build()?; // the embedded default rules
/// let lead = Lead::from_json(r#"{
///     "tags": ["Hit List"],
///     "messages": [{"from": "lead", "text": "Looking to buy in Plano, around 450k"}]
/// }"#)?;
/// let decision = engine.score(&TenantId::default(), &lead)?;
/// assert_eq!(decision.score, 2); // budget and location
/// assert_eq!(decision.class.as_str(), "warm");
/// assert_eq!(decision.question.unwrap().id, "timeline");
/// # Ok::<(), qualify_engine::Error>(())
/// ```
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl Engine {
    /// Starts building an engine.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// An engine over a rules folder with default limits and no store.
    pub fn open(rules_dir: impl Into<PathBuf>) -> Result<Self> {
        Self::builder().rules_dir(rules_dir).build()
    }

    /// The current time by the engine's clock.
    pub fn now(&self) -> jiff::Timestamp {
        self.inner.clock.now()
    }

    /// The store, or [`Error::NoStore`].
    pub fn store(&self) -> Result<&Arc<Store>> {
        self.inner.store.as_ref().ok_or(Error::NoStore)
    }

    /// The rule set serving `tenant`. A tenant registered in the store without a rules
    /// folder of its own runs the default rules.
    fn rule_set(&self, tenant: &TenantId) -> Result<Arc<RuleSet>> {
        match self.inner.catalog.get(tenant) {
            Lookup::Serving(r) => Ok(r),
            Lookup::Failed(reason) => Err(Error::TenantUnavailable {
                tenant: tenant.to_string(),
                reason,
            }),
            Lookup::Unknown if self.accounts().is_registered(tenant) => {
                match self.inner.catalog.get(&TenantId::default()) {
                    Lookup::Serving(r) => Ok(r),
                    _ => Err(Error::UnknownTenant(tenant.to_string())),
                }
            }
            Lookup::Unknown => Err(Error::UnknownTenant(tenant.to_string())),
        }
    }

    /// The full decision for a lead under a tenant's rules: score, class, percent, tags,
    /// next question (or hand-off) and why.
    pub fn score(&self, tenant: &TenantId, lead: &Lead) -> Result<Decision> {
        self.score_with(tenant, lead, &ScoreOptions::default())
    }

    /// [`Engine::score`] with options (the explanation off, for throughput).
    pub fn score_with(
        &self,
        tenant: &TenantId,
        lead: &Lead,
        options: &ScoreOptions,
    ) -> Result<Decision> {
        let rules = self.rule_set(tenant)?;
        let (stopped, now) = (self.stopped_experiments(tenant, &rules)?, self.now());
        let decision = decide::decide(tenant, &rules, lead, options, &stopped, now)?;
        let shadow = || ShadowWork::Lead(Box::new(lead.clone()));
        (self.inner.shadow).submit(tenant, &rules, &decision, &stopped, now, shadow);
        Ok(decision)
    }

    /// Keys of the tenant's stopped experiments (none to read when it defines none).
    fn stopped_experiments(&self, tenant: &TenantId, rules: &RuleSet) -> Result<Vec<String>> {
        match &self.inner.store {
            Some(store) if !rules.experiments.is_empty() => store.stopped_experiments(tenant),
            _ => Ok(Vec::new()),
        }
    }

    /// Many leads of one tenant, decided on every core (rayon's pool), results in the
    /// leads' order; one lead's error is its own entry.
    pub fn score_batch(
        &self,
        tenant: &TenantId,
        leads: &[Lead],
        options: &ScoreOptions,
    ) -> Result<Vec<Result<Decision>>> {
        Ok(self.batch(tenant, options)?.decide_on_all_cores(leads))
    }

    /// [`Engine::score_batch`] on the calling thread, one lead after another: for a
    /// caller that chooses the thread (a server running a tenant's work at low priority,
    /// or measuring the CPU time it takes).
    pub fn score_each(
        &self,
        tenant: &TenantId,
        leads: &[Lead],
        options: &ScoreOptions,
    ) -> Result<Vec<Result<Decision>>> {
        Ok(self.batch(tenant, options)?.decide_here(leads))
    }

    /// A batch of `tenant`'s leads: the rule set, the stopped experiments and the time
    /// are taken once, here, so every lead decided through it is decided alike (one
    /// `rules_version` even if the tenant's files are reloaded meanwhile), whichever
    /// threads its leads are spread over. The batch holds what it needs (it borrows
    /// nothing), so its leads may be decided in parts, on several threads, one after
    /// another.
    ///
    /// ```
    /// use qualify_engine::{decide::ScoreOptions, Engine, Lead, TenantId};
    /// let engine = Engine::builder().build()?;
    /// let (tenant, options) = (TenantId::default(), ScoreOptions::default());
    /// let leads = vec![Lead::from_json(r#"{"facts": {"budget": 450000}}"#)?; 3];
    /// let batch = engine.batch(&tenant, &options)?;
    /// let mut decisions = batch.decide_here(&leads[..1]); // e.g. to time one lead
    /// decisions.extend(batch.decide_on_all_cores(&leads[1..]));
    /// assert!(decisions.iter().all(|d| d.as_ref().unwrap().rules_version == batch.rules_version()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn batch(&self, tenant: &TenantId, options: &ScoreOptions) -> Result<Batch> {
        let rules = self.rule_set(tenant)?;
        let (stopped, now) = (self.stopped_experiments(tenant, &rules)?, self.now());
        Ok(Batch {
            engine: self.clone(),
            tenant: tenant.clone(),
            options: *options,
            rules,
            stopped,
            now,
        })
    }

    /// Only the next question (or hand-off line) for a lead; `None` when nothing should be
    /// sent (automation off for this contact, or the rules have nothing to ask).
    pub fn next_question(&self, tenant: &TenantId, lead: &Lead) -> Result<Option<Question>> {
        Ok(self.score(tenant, lead)?.question)
    }

    /// Facts the tenant's extractors find in one message.
    pub fn extract(&self, tenant: &TenantId, text: &str) -> Result<Facts> {
        let mut facts = Facts::new();
        self.rule_set(tenant)?
            .extractor
            .extract_into(text, None, &mut facts);
        Ok(facts)
    }

    /// Ingests one inbound message: redacts it, extracts facts from the raw text, merges
    /// them (later values override older), scores, picks the next question, records the
    /// decision and resets the silence clock, all in one write transaction. Returns only
    /// after the commit is durable; on any error nothing is written.
    ///
    /// ```
    /// use qualify_engine::{ContactId, Engine, Inbound, SecretKey, Store, TenantId};
    /// let engine = Engine::builder().store(Store::in_memory(SecretKey::generate())?).build()?;
    /// let (tenant, contact) = (TenantId::default(), ContactId::new("c1")?);
    /// let mut msg = Inbound::text("We want to buy in Plano, around 450k");
    /// msg.tags = Some(vec!["Hit List".into()]);
    /// let first = engine.ingest(&tenant, &contact, &msg)?;
    /// assert_eq!(first.decision.class.as_str(), "warm");
    /// let second = engine.ingest(&tenant, &contact, &Inbound::text("pre-approved, moving asap"))?;
    /// assert_eq!(second.decision.class.as_str(), "hot");
    /// # Ok::<(), qualify_engine::Error>(())
    /// ```
    pub fn ingest(
        &self,
        tenant: &TenantId,
        contact: &ContactId,
        message: &Inbound,
    ) -> Result<Ingested> {
        self.ingest_then(tenant, contact, message, || {})
    }

    /// [`Engine::ingest`], calling `decided` as soon as the message is decided, when only
    /// the wait for its commit is left (a server gives the tenant's turn at the engine
    /// back there: the wait costs no CPU).
    pub fn ingest_then(
        &self,
        tenant: &TenantId,
        contact: &ContactId,
        message: &Inbound,
        decided: impl FnOnce(),
    ) -> Result<Ingested> {
        let rules = self.rule_set(tenant)?;
        let hints = self.llm_hints(tenant, contact, &rules, message)?;
        let before = Before::new(&rules);
        let prepare = |view: ContactView, now| {
            before.keep(&view, now);
            conversation::prepare(view, tenant, &rules, contact, message, &hints, now)
                .map(|(ingested, change)| (ingested, Some(change)))
        };
        let result = self.decide_and_commit(tenant, contact, None, prepare, decided);
        if let Ok(done) = &result {
            self.shadow_message(
                tenant,
                &rules,
                contact,
                message,
                hints.facts,
                before,
                &done.decision,
            );
        }
        let result = result.inspect_err(|e| {
            if e.is_rules_failure() {
                self.keep_undecided(tenant, contact, None, |view, now| {
                    conversation::prepare_undecided(view, tenant, &rules, contact, message, now)
                });
            }
        })?;
        tracing::debug!(
            tenant = %tenant,
            class = result.decision.class.as_str(),
            score = result.decision.score,
            "ingested"
        );
        Ok(result)
    }

    /// Hands an ingested message's decision to shadow mode (see [`Before`]).
    #[allow(clippy::too_many_arguments)]
    fn shadow_message(
        &self,
        tenant: &TenantId,
        rules: &RuleSet,
        contact: &ContactId,
        message: &Inbound,
        hints: Option<Facts>,
        before: Before,
        decision: &Decision,
    ) {
        let Some((prior, stopped, now)) = before.0.and_then(RefCell::into_inner) else {
            return;
        };
        let work = || ShadowWork::Message {
            prior: prior.map(Box::new),
            contact: contact.clone(),
            message: Box::new(message.clone()),
            hints,
        };
        (self.inner.shadow).submit(tenant, rules, decision, &stopped, now, work);
    }

    /// Hybrid extraction's facts for `message`, when the tenant turned it on, and what
    /// they cost: asked before the decision from a snapshot of the contact, outside any
    /// transaction and once per message (the retries of `decide_and_commit` reuse them).
    /// Nothing when it is off (no read, no work), nothing is unsure, or the call failed.
    fn llm_hints(
        &self,
        tenant: &TenantId,
        contact: &ContactId,
        rules: &RuleSet,
        message: &Inbound,
    ) -> Result<Hints> {
        if rules.settings.hybrid().is_none() {
            return Ok(Hints::default());
        }
        let view = self.store()?.view(tenant, contact, None)?;
        let day = self.now().as_second().div_euclid(86_400);
        Ok(conversation::llm_hints(
            &self.inner.hybrid,
            &view,
            tenant,
            rules,
            message,
            day,
        ))
    }

    /// A tenant's use of hybrid extraction since the engine started: calls made,
    /// answered and failed, cache hits, messages over the daily budget, tokens. (Also
    /// counted in the metrics `qualify_llm_calls_total{outcome}` and
    /// `qualify_llm_tokens_total{kind}`.)
    pub fn llm_usage(&self, tenant: &TenantId) -> LlmUsage {
        self.inner.hybrid.usage(tenant)
    }

    /// Decides from a snapshot of the contact (outside the write lock: a slow tenant's
    /// hooks hold up nobody else's commits), then commits the change with whatever else
    /// is being committed; if the contact changed meanwhile, decides again from the new
    /// version. Returns once the change is durable.
    fn decide_and_commit<T>(
        &self,
        tenant: &TenantId,
        contact: &ContactId,
        delivery_id: Option<&str>,
        prepare: impl Fn(ContactView, jiff::Timestamp) -> Result<(T, Option<ContactChange>)>,
        decided: impl FnOnce(),
    ) -> Result<T> {
        const TRIES: usize = 16;
        let store = self.store()?;
        let mut decided = Some(decided);
        for _ in 0..TRIES {
            let view = store.view(tenant, contact, delivery_id)?;
            let prepared = prepare(view, self.now());
            if let Some(signal) = decided.take() {
                signal();
            }
            let (result, change) = prepared?;
            let Some(change) = change else {
                return Ok(result);
            };
            if store.commit(change)? {
                return Ok(result);
            }
        }
        Err(Error::Store(format!(
            "contact {contact} changed {TRIES} times while a message for it was decided; try again"
        )))
    }

    /// After the rules failed on a message: stores it undecided (and the delivery, without
    /// a result). A failure here is logged: the caller reports the rules' error, which is
    /// what the sender must see.
    fn keep_undecided(
        &self,
        tenant: &TenantId,
        contact: &ContactId,
        delivery_id: Option<&str>,
        prepare: impl Fn(ContactView, jiff::Timestamp) -> Result<ContactChange>,
    ) {
        let kept = self.decide_and_commit(
            tenant,
            contact,
            delivery_id,
            |view, now| prepare(view, now).map(|change| ((), Some(change))),
            || {},
        );
        if let Err(e) = kept {
            tracing::error!(tenant = %tenant, "could not keep an undecided message: {e}");
        }
    }

    /// Ingests many messages in one transaction (imports, backfills): all or nothing.
    /// Each message is handled exactly as [`Engine::ingest`] would, in order.
    pub fn ingest_batch(
        &self,
        tenant: &TenantId,
        messages: &[(ContactId, Inbound)],
    ) -> Result<Vec<Ingested>> {
        let rules = self.rule_set(tenant)?;
        let now = self.now();
        self.store()?.write(|tx| {
            messages
                .iter()
                .map(|(c, m)| conversation::ingest(tx, tenant, &rules, c, m, now))
                .collect()
        })
    }

    /// Ingests a message GoHighLevel delivered under a webhook id: a retry of a message
    /// already decided gets the first result; a different body under a seen id is
    /// [`Error::Replay`]; a retry after a failed decision decides again. The id is
    /// remembered in the ingest's own transaction.
    pub fn ingest_webhook(
        &self,
        tenant: &TenantId,
        contact: &ContactId,
        message: &Inbound,
        delivery: &WebhookDelivery,
    ) -> Result<Delivered> {
        self.ingest_webhook_then(tenant, contact, message, delivery, || {})
    }

    /// [`Engine::ingest_webhook`], calling `decided` once the message is decided (see
    /// [`Engine::ingest_then`]).
    pub fn ingest_webhook_then(
        &self,
        tenant: &TenantId,
        contact: &ContactId,
        message: &Inbound,
        delivery: &WebhookDelivery,
        decided: impl FnOnce(),
    ) -> Result<Delivered> {
        let rules = self.rule_set(tenant)?;
        let id = Some(delivery.id.as_str());
        let hints = self.llm_hints(tenant, contact, &rules, message)?;
        let before = Before::new(&rules);
        let prepare = |view: ContactView, now| {
            before.keep(&view, now);
            let prepared = conversation::prepare_delivery(
                view, tenant, &rules, contact, message, delivery, &hints, now,
            )?;
            Ok(match prepared {
                Prepared::Replayed(first) => (Delivered::Replayed(first), None),
                Prepared::Fresh(ingested, change) => (Delivered::Fresh(ingested), Some(*change)),
            })
        };
        let result = self.decide_and_commit(tenant, contact, id, prepare, decided);
        if let Ok(Delivered::Fresh(done)) = &result {
            self.shadow_message(
                tenant,
                &rules,
                contact,
                message,
                hints.facts,
                before,
                &done.decision,
            );
        }
        result.inspect_err(|e| {
            if e.is_rules_failure() {
                self.keep_undecided(tenant, contact, id, |view, now| {
                    conversation::prepare_failed_delivery(
                        view, tenant, &rules, contact, message, delivery, now,
                    )
                });
            }
        })
    }

    /// Replays every stored conversation of `tenant` under a candidate rule folder (laid
    /// over the tenant's own folder and the default: a candidate holding only
    /// `tenant.yaml` inherits the rest) and under the serving version, and reports how
    /// many per-message decisions change, and how (see [`ReplayReport`]). Only reads the
    /// store (open it with [`Store::open_read_only`] to be sure); decides on every core;
    /// `progress` hears `(done, total)` contacts from any thread. A candidate that does
    /// not load is [`Error::Candidate`] with every problem at its `file:line:column`.
    ///
    /// [`ReplayReport`]: crate::conversation::ReplayReport
    pub fn replay(
        &self,
        tenant: &TenantId,
        candidate: &Path,
        options: &conversation::ReplayOptions,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<conversation::ReplayReport> {
        let store = self.store()?;
        let serving = self.rule_set(tenant)?;
        let candidate = self
            .inner
            .catalog
            .compile_candidate(tenant, candidate)
            .map_err(Error::Candidate)?;
        let stopped = if serving.experiments.is_empty() && candidate.experiments.is_empty() {
            Vec::new()
        } else {
            store.stopped_experiments(tenant)?
        };
        let versions = conversation::Versions {
            serving: &serving,
            candidate: &candidate,
            stopped: &stopped,
            now: self.now(),
        };
        conversation::replay(store, tenant, &versions, options, progress)
    }

    /// A tenant's experiments: definitions, assignment, outcomes, analysis, stopping.
    pub fn experiments(&self) -> Experiments<'_> {
        Experiments(self)
    }

    /// A tenant's analytics over `range` (UTC days): funnel, class mix by day, time to
    /// hot, question answer rates, follow-up response by stage, opt-outs, experiments.
    /// Read from per-day totals kept in the store, so its cost grows with the days
    /// asked for, not with the contacts (besides the experiments' own reports).
    pub fn analytics(&self, tenant: &TenantId, range: DayRange) -> Result<Analytics> {
        let rules = self.rule_set(tenant)?;
        conversation::analytics_report(self.store()?, tenant, &rules, range, self.now())
    }

    /// Transcripts imported into a tenant: import, and their metrics.
    pub fn transcripts(&self) -> Transcripts<'_> {
        Transcripts(self)
    }

    /// Today's date (UTC) by the engine's clock: the default end of an analytics range.
    pub fn today(&self) -> jiff::civil::Date {
        conversation::day_date(crate::model::day_of(self.now()))
    }

    /// Forgets webhook ids whose replay window has passed (a server runs this every
    /// tick, so the table never grows without bound); how many.
    pub fn forget_expired_deliveries(&self) -> Result<usize> {
        self.store()?.forget_expired_deliveries(millis(self.now()))
    }

    /// Tenants' rules: reload, check, cases.
    pub fn rules(&self) -> Rules<'_> {
        Rules(self)
    }

    /// Stored contacts: read, export, erase.
    pub fn contacts(&self) -> Contacts<'_> {
        Contacts(self)
    }

    /// Registered tenants: API keys, tiers, GoHighLevel tokens, removal.
    pub fn accounts(&self) -> Accounts<'_> {
        Accounts(self)
    }

    /// The outbox of CRM actions waiting for delivery.
    pub fn outbox(&self) -> Outbox<'_> {
        Outbox(self)
    }

    /// Follow-ups after a lead's silence.
    pub fn followups(&self) -> FollowUps<'_> {
        FollowUps(self)
    }
}

/// Imported transcripts, from [`Engine::transcripts`].
pub struct Transcripts<'e>(&'e Engine);

impl Transcripts<'_> {
    /// Imports transcripts into `tenant` as contacts and conversations dated as in the
    /// file (no action queued, no follow-up scheduled), a few hundred per durable
    /// commit; `progress` hears how many are done after each commit. A transcript
    /// imported before (same id) is left alone; one the rules fail on is reported and
    /// skipped.
    pub fn import(
        &self,
        tenant: &TenantId,
        transcripts: &[Transcript],
        progress: &mut dyn FnMut(usize),
    ) -> Result<ImportReport> {
        let rules = self.0.rule_set(tenant)?;
        conversation::import_transcripts(self.0.store()?, tenant, &rules, transcripts, progress)
    }

    /// The metrics of every transcript imported into `tenant`, by transcript id, and
    /// how many stored rows could not be opened (left out).
    pub fn metrics(&self, tenant: &TenantId) -> Result<(Vec<ConversationMetrics>, usize)> {
        self.0.store()?.transcript_metrics(tenant)
    }
}

/// Tenants' rules, from [`Engine::rules`].
pub struct Rules<'e>(&'e Engine);

impl Rules<'_> {
    /// Tenants with a serving rule set, sorted.
    pub fn tenants(&self) -> Vec<TenantId> {
        self.0.inner.catalog.tenants()
    }

    /// Recompiles every tenant whose files changed since the last load (a change to the
    /// default folder recompiles all). A tenant whose new files fail keeps serving its
    /// previous version; the report says why.
    pub fn reload(&self) -> ReloadReport {
        self.0.inner.catalog.reload(false)
    }

    /// Recompiles every tenant, changed or not.
    pub fn reload_all(&self) -> ReloadReport {
        self.0.inner.catalog.reload(true)
    }

    /// Validates every tenant from scratch: compiles all scripts, reads settings, checks
    /// every question text and follow-up template against the tenant's SMS segment
    /// budget, and runs the hooks on sample leads. Returns every problem found (empty
    /// when all is well).
    pub fn check(&self) -> Vec<Error> {
        let mut errors = Vec::new();
        for compiled in self.0.inner.catalog.compile_all() {
            match compiled {
                Ok(rules) => errors.extend(decide::check(&rules)),
                Err(e) => errors.extend(e),
            }
        }
        errors
    }

    /// The tenant's script functions that run on Rhai's interpreter rather than lowered
    /// (see [`EngineBuilder::lowering`]), each with the reason, such as "it has a loop";
    /// empty when every one lowered. A hook that calls one of them runs interpreted.
    pub fn interpreted(&self, tenant: &TenantId) -> Result<Vec<(String, String)>> {
        Ok(self.0.rule_set(tenant)?.not_lowered().to_vec())
    }

    /// Runs a tenant's cases file (`cases.yaml`; none: an empty report). A cases file
    /// that does not parse is an error naming the file, line and column.
    pub fn run_cases(&self, tenant: &TenantId) -> Result<CasesReport> {
        let rules = self.0.rule_set(tenant)?;
        self.cases_of(tenant, &rules)
    }

    /// Runs a tenant's cases under its `candidate/` (the candidate's own `cases.yaml`,
    /// else the tenant's): `None` when the tenant has no candidate; a candidate that does
    /// not load is [`Error::Candidate`].
    pub fn run_candidate_cases(&self, tenant: &TenantId) -> Result<Option<CasesReport>> {
        match self.candidate_of(tenant)? {
            Some(candidate) => self.cases_of(tenant, &candidate).map(Some),
            None => Ok(None),
        }
    }

    fn cases_of(&self, tenant: &TenantId, rules: &RuleSet) -> Result<CasesReport> {
        match &rules.cases {
            Some(source) => rules::run_cases(tenant, source, |lead| {
                let now = self.0.now();
                decide::decide(tenant, rules, lead, &Default::default(), &[], now)
            }),
            None => Ok(CasesReport::default()),
        }
    }

    /// The tenant's candidate rule set, if its folder holds one.
    fn candidate_of(&self, tenant: &TenantId) -> Result<Option<Arc<RuleSet>>> {
        match &self.0.rule_set(tenant)?.candidate {
            Some(rules::Candidate::Ready(c)) => Ok(Some(c.clone())),
            // Compiled again for its errors, one by one at their file:line:column (or
            // as it is now, if its files changed since).
            Some(rules::Candidate::Failed(_)) => {
                match self.0.inner.catalog.compile_own_candidate(tenant) {
                    Some(Err(errors)) => Err(Error::Candidate(errors)),
                    Some(Ok(now)) => Ok(Some(Arc::new(now))),
                    None => Ok(None),
                }
            }
            None => Ok(None),
        }
    }

    /// Shadow mode for a tenant (its folder holds a `candidate/`): its live decisions
    /// since the serving or candidate version last changed, made again under the
    /// candidate off the request path, and what changed, by kind; whether the candidate
    /// loads, and why not. Counted in memory by this engine.
    pub fn shadow(&self, tenant: &TenantId) -> Result<ShadowReport> {
        let rules = self.0.rule_set(tenant)?;
        Ok(self.0.inner.shadow.report(tenant, &rules))
    }

    /// Runs a tenant's cases with its scripts instrumented (a separate compile, in a
    /// sandbox of its own: the serving rules are untouched) and reports which lines and
    /// which branches of `if` and `switch` the cases exercised, per script, and which
    /// data points, classes and questions no case reaches.
    pub fn coverage(&self, tenant: &TenantId) -> Result<rules::Coverage> {
        let serving = self.0.rule_set(tenant)?;
        let compiled = self.instrumented(tenant, false)?;
        let (instrumented, maps) =
            compiled.ok_or_else(|| Error::UnknownTenant(tenant.to_string()))?;
        self.coverage_of(tenant, &serving, &instrumented, &maps)
    }

    /// [`Rules::coverage`] of the tenant's `candidate/` (laid over its folder), with the
    /// candidate's cases: `None` when the tenant has no candidate.
    pub fn candidate_coverage(&self, tenant: &TenantId) -> Result<Option<rules::Coverage>> {
        let Some(candidate) = self.candidate_of(tenant)? else {
            return Ok(None);
        };
        let Some((instrumented, maps)) = self.instrumented(tenant, true)? else {
            return Ok(None);
        };
        self.coverage_of(tenant, &candidate, &instrumented, &maps)
            .map(Some)
    }

    fn instrumented(
        &self,
        tenant: &TenantId,
        candidate: bool,
    ) -> Result<Option<(RuleSet, Vec<rules::FileMap>)>> {
        self.0
            .inner
            .catalog
            .compile_instrumented(tenant, candidate)
            .map_err(|errors| match <[Error; 1]>::try_from(errors) {
                Ok([one]) => one,
                Err(many) => Error::TenantUnavailable {
                    tenant: tenant.to_string(),
                    reason: many
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; "),
                },
            })
    }

    /// Runs `rules`' cases on `instrumented` (its instrumented compile) and reports.
    fn coverage_of(
        &self,
        tenant: &TenantId,
        serving: &RuleSet,
        instrumented: &RuleSet,
        maps: &[rules::FileMap],
    ) -> Result<rules::Coverage> {
        use crate::model::Class;
        let reached = std::cell::RefCell::new(Vec::new());
        rules::coverage_reset();
        let cases = match &serving.cases {
            Some(source) => rules::run_cases(tenant, source, |lead| {
                let now = self.0.now();
                let d = decide::decide(tenant, instrumented, lead, &Default::default(), &[], now)?;
                reached.borrow_mut().push((
                    d.answered.clone(),
                    d.class,
                    d.question.as_ref().map(|q| (q.id.clone(), q.text.clone())),
                ));
                Ok(d)
            })?,
            None => CasesReport::default(),
        };
        let files = rules::coverage_report(maps, &rules::coverage_hits());
        let reached = reached.into_inner();
        let unreached = rules::Unreached {
            data_points: serving
                .data_point_names()
                .into_iter()
                .filter(|p| !reached.iter().any(|(a, _, _)| a.contains(p)))
                .collect(),
            classes: [Class::Hot, Class::Warm, Class::Cold]
                .into_iter()
                .filter(|c| !reached.iter().any(|(_, k, _)| k == c))
                .collect(),
            // A question key is reached when a case's question has its id, or one of
            // its texts (`budget_confirm` is sent under the id `budget`).
            questions: serving
                .question_texts()
                .into_iter()
                .filter(|(key, texts)| {
                    !reached.iter().any(|(_, _, q)| {
                        q.as_ref()
                            .is_some_and(|(id, text)| id == key || texts.contains(&text.as_str()))
                    })
                })
                .map(|(key, _)| key)
                .collect(),
        };
        Ok(rules::Coverage {
            tenant: tenant.clone(),
            cases,
            files,
            unreached,
        })
    }

    /// Rule sets compiled since the engine was built: tenants compile on first use (and
    /// again when their files change), so this grows with the tenants in use.
    pub fn compiles(&self) -> u64 {
        self.0.inner.catalog.compiles()
    }

    /// The sandbox limits in force.
    pub fn limits(&self) -> Limits {
        self.0.inner.catalog.limits()
    }

    /// The rules folder this engine reads, if any.
    pub fn dir(&self) -> Option<&Path> {
        self.0.inner.catalog.dir()
    }
}

/// Stored contacts, from [`Engine::contacts`].
pub struct Contacts<'e>(&'e Engine);

impl Contacts<'_> {
    /// Everything held on a contact, or `None` when this tenant has no such contact.
    pub fn get(&self, tenant: &TenantId, id: &ContactId) -> Result<Option<Contact>> {
        self.0.store()?.contact(tenant, id)
    }

    /// Stored contacts' ids in (tenant, id) order, at most `limit` after `after`
    /// (exclusive), so every contact can be paged through: keys only, nothing is opened
    /// (`qualify audit` samples contacts with it).
    pub fn ids(
        &self,
        after: Option<&(TenantId, ContactId)>,
        limit: usize,
    ) -> Result<Vec<(TenantId, ContactId)>> {
        self.0.store()?.contact_ids(after, limit)
    }

    /// A subject-access export: everything held on the contact, as JSON.
    pub fn export(&self, tenant: &TenantId, id: &ContactId) -> Result<Option<Value>> {
        Ok(self.get(tenant, id)?.map(|c| {
            json!({
                "tenant": tenant,
                "exported_at": self.0.now().to_string(),
                "contact": c,
            })
        }))
    }

    /// Erases a contact of this tenant from every table that names it (its queued texts,
    /// follow-up entries and remembered deliveries included); true when it existed.
    pub fn erase(&self, tenant: &TenantId, id: &ContactId) -> Result<bool> {
        let now = self.0.now();
        (self.0.store()?).write(|tx| conversation::erase_contact(tx, tenant, id, now))
    }

    /// Sets a contact's tags as the CRM now has them (GoHighLevel's tag update): turning
    /// automation off stops its follow-ups and queued texts; turning it on decides it
    /// again. The new decision, when one was made.
    pub fn set_tags(
        &self,
        tenant: &TenantId,
        id: &ContactId,
        tags: Vec<String>,
    ) -> Result<Option<Decision>> {
        let rules = self.0.rule_set(tenant)?;
        let now = self.0.now();
        self.0
            .store()?
            .write(|tx| conversation::update_tags(tx, tenant, &rules, id, tags, now))
    }

    /// Decides contacts whose last message no decision covered (their rules failed then),
    /// at most `limit`; returns how many were decided. Those whose rules still fail wait.
    pub fn decide_pending(&self, limit: usize) -> Result<usize> {
        let store = self.0.store()?;
        let mut decided = 0;
        for (tenant, contact) in store.pending(limit)? {
            let Ok(rules) = self.0.rule_set(&tenant) else {
                continue;
            };
            let now = self.0.now();
            match store.write(|tx| conversation::decide_again(tx, &tenant, &rules, &contact, now)) {
                Ok(_) => decided += 1,
                Err(e) => tracing::warn!(tenant = %tenant, "pending decision failed again: {e}"),
            }
        }
        Ok(decided)
    }
}

/// Registered tenants, from [`Engine::accounts`]. Without a store nothing is registered.
pub struct Accounts<'e>(&'e Engine);

impl Accounts<'_> {
    /// True when the tenant is registered in the store.
    pub fn is_registered(&self, tenant: &TenantId) -> bool {
        self.0.store().is_ok_and(|s| s.is_registered(tenant))
    }

    /// The tenant's tier (starter for tenants known only by their rules folder).
    pub fn tier(&self, tenant: &TenantId) -> Tier {
        self.0.store().map(|s| s.tier(tenant)).unwrap_or_default()
    }

    /// The tenant an API key belongs to, or [`Error::Unauthorized`]. Reads memory only
    /// (the registry of tenants and key hashes), never the store: fit for an async task.
    pub fn authenticate(&self, api_key: &str) -> Result<TenantId> {
        self.0
            .store()
            .map_err(|_| Error::Unauthorized)?
            .authenticate(api_key)
    }

    /// Like [`Self::authenticate`], but in a store shared by replicas
    /// ([`Store::is_shared`]) a key not in memory is looked up in the record of the
    /// tenant it names: a key issued through another replica a moment ago opens this one
    /// too. Reads the store: call it where blocking is allowed.
    pub fn authenticate_in_store(&self, api_key: &str) -> Result<TenantId> {
        self.0
            .store()
            .map_err(|_| Error::Unauthorized)?
            .authenticate_in_store(api_key)
    }

    /// Re-reads the registry of tenants and key hashes from the store. In a store
    /// shared by replicas, call it now and then (the server does every tick): another
    /// replica may have registered a tenant or rotated a key.
    pub fn refresh(&self) -> Result<()> {
        self.0.store()?.refresh_registry()
    }

    /// Registers a tenant and returns its first API key: shown once, stored only as a
    /// hash. The tenant runs its rules folder, or the default rules until it has one.
    pub fn add(&self, tenant: &TenantId, name: &str, tier: Tier) -> Result<Zeroizing<String>> {
        let (key, hash) = new_api_key(tenant);
        self.0
            .store()?
            .register(tenant, name, tier, hash, self.0.now())?;
        Ok(key)
    }

    /// Makes `secret` the tenant's only API key secret, registering the tenant first when
    /// needed; the key. For keys derived elsewhere (dev mode derives its tenant's key from
    /// the dev master key, so it survives restarts); nothing changes when it already is.
    pub fn ensure_key(
        &self,
        tenant: &TenantId,
        name: &str,
        tier: Tier,
        secret: &SecretKey,
    ) -> Result<Zeroizing<String>> {
        let (key, hash) = api_key_from(tenant, secret);
        let store = self.0.store()?;
        if !self.is_registered(tenant) {
            store.register(tenant, name, tier, hash, self.0.now())?;
        } else if self.authenticate(&key).is_err() {
            store.update_tenant(tenant, |r| r.api_key_hashes = vec![hash])?;
        }
        Ok(key)
    }

    /// Registered tenants, sorted by id.
    pub fn list(&self) -> Result<Vec<TenantInfo>> {
        self.0.store()?.list_tenants()
    }

    /// Replaces every API key of a tenant with a new one (shown once).
    pub fn rotate_key(&self, tenant: &TenantId) -> Result<Zeroizing<String>> {
        let (key, hash) = new_api_key(tenant);
        self.0
            .store()?
            .update_tenant(tenant, |r| r.api_key_hashes = vec![hash])?;
        Ok(key)
    }

    /// Changes a tenant's tier.
    pub fn set_tier(&self, tenant: &TenantId, tier: Tier) -> Result<()> {
        self.0.store()?.update_tenant(tenant, |r| r.tier = tier)
    }

    /// Stores (sealed) the tenant's GoHighLevel bearer token.
    pub fn set_ghl_token(&self, tenant: &TenantId, token: &str) -> Result<()> {
        self.0
            .store()?
            .update_tenant(tenant, |r| r.ghl_token = Some(token.to_string()))
    }

    /// The tenant's GoHighLevel token, if one is stored.
    pub fn ghl_token(&self, tenant: &TenantId) -> Result<Option<Zeroizing<String>>> {
        self.0.store()?.ghl_token(tenant)
    }

    /// Removes a registered tenant: its registration, keys and all its data
    /// (crypto-shredding). Returns the number of contacts erased.
    pub fn remove(&self, tenant: &TenantId) -> Result<usize> {
        if !self.is_registered(tenant) {
            return Err(Error::UnknownTenant(tenant.to_string()));
        }
        self.erase_data(tenant)
    }

    /// Erases a tenant's data, registered or not: destroys its data keys
    /// (crypto-shredding), deletes its records and compacts the file. Returns the number
    /// of contacts removed.
    pub fn erase_data(&self, tenant: &TenantId) -> Result<usize> {
        self.0.store()?.erase_tenant(tenant)
    }

    /// Starts a new data key version for a tenant; older values stay readable.
    pub fn rotate_data_key(&self, tenant: &TenantId) -> Result<u32> {
        self.0.store()?.rotate_tenant_key(tenant)
    }
}

/// The outbox, from [`Engine::outbox`].
pub struct Outbox<'e>(&'e Engine);

/// Attempts before the dead letters when a tenant's settings cannot be read.
const DEFAULT_MAX_ATTEMPTS: u32 = 10;

impl Outbox<'_> {
    /// Actions due for delivery now: each tenant's oldest first, at most `per_tenant` of
    /// each (tenants take turns). Rows that do not open are set aside in the quarantine
    /// and reported in the log; they never block the others.
    pub fn due(&self, per_tenant: usize) -> Result<Vec<Action>> {
        let store = self.0.store()?;
        let found = store.due_actions(millis(self.0.now()), per_tenant)?;
        store.quarantine_outbox(&found.unreadable)?;
        Ok(found.actions)
    }

    /// Whether `action` may go out now (see [`Begin`]); when it may, it is marked in
    /// flight in the same transaction, before any call.
    pub fn begin(&self, action: &Action) -> Result<Begin> {
        let rules = self.0.rule_set(&action.tenant).ok();
        let now = self.0.now();
        self.0
            .store()?
            .write(|tx| conversation::begin(tx, rules.as_deref(), action, now))
    }

    /// Records an action as delivered: it leaves the outbox.
    pub fn delivered(&self, action: &Action) -> Result<()> {
        self.0.store()?.write(|tx| tx.dequeue(action).map(|_| ()))
    }

    /// Records a failed attempt: retried `delay_ms` from now, or moved to the dead letters
    /// when the tenant's attempts are spent (true then).
    pub fn failed(&self, action: &Action, error: &str, delay_ms: u64) -> Result<bool> {
        let max = self
            .0
            .rule_set(&action.tenant)
            .map_or(DEFAULT_MAX_ATTEMPTS, |r| r.settings.outbox.max_attempts);
        let now = self.0.now();
        self.0
            .store()?
            .write(|tx| conversation::failed(tx, max, action, error, delay_ms, now))
    }

    /// How long an action may stay in flight in a store shared by replicas before it
    /// counts as left by a replica that died mid-delivery (far longer than any delivery's
    /// timeout).
    pub const IN_FLIGHT_LEASE: std::time::Duration = std::time::Duration::from_secs(600);

    /// After a restart: actions left in flight may or may not have reached the CRM, which
    /// has no idempotency key, so they are never resent; they move to the dead letters.
    /// In a store shared by replicas ([`Store::is_shared`]) an action in flight may be
    /// another replica's delivery: only those claimed longer than [`Self::IN_FLIGHT_LEASE`]
    /// ago move (run it now and then there, not only at start). Returns how many.
    pub fn recover(&self) -> Result<usize> {
        let store = self.0.store()?;
        let lease_ms = if store.is_shared() {
            Self::IN_FLIGHT_LEASE.as_millis() as u64
        } else {
            0
        };
        let now = millis(self.0.now());
        let mut stuck = store.due_actions(u64::MAX, usize::MAX)?.in_flight;
        stuck.retain(|a| a.claimed_ms.saturating_add(lease_ms) <= now);
        let why = "in flight when the process stopped: it may or may not have been received, \
                   so it is not sent again (at most once)";
        // Re-checked inside the write: another replica may have finished it meanwhile.
        let moved = store.write(|tx| {
            let mut moved = 0;
            for a in &stuck {
                if tx
                    .action(a)?
                    .is_some_and(|now| now.in_flight && now.claimed_ms == a.claimed_ms)
                {
                    tx.dead_letter(a, why)?;
                    moved += 1;
                }
            }
            Ok(moved)
        })?;
        Ok(moved)
    }

    /// Every action waiting in the outbox, due or not, in flight or not (one tenant's or
    /// all), each tenant's oldest first.
    pub fn queued(&self, tenant: Option<&TenantId>) -> Result<Vec<Action>> {
        let found = self.0.store()?.due_actions(u64::MAX, usize::MAX)?;
        let mut all: Vec<Action> = found.actions.into_iter().chain(found.in_flight).collect();
        all.retain(|a| tenant.is_none_or(|t| a.tenant == *t));
        all.sort_by(|a, b| (&a.tenant, a.due_ms, a.id).cmp(&(&b.tenant, b.due_ms, b.id)));
        Ok(all)
    }

    /// Actions that will not be delivered, with why (`last_error`): one tenant's or all.
    pub fn dead_letters(&self, tenant: Option<&TenantId>) -> Result<Vec<Action>> {
        self.0.store()?.dead_letters(tenant)
    }

    /// Actions waiting in the outbox (all tenants).
    pub fn len(&self) -> Result<usize> {
        self.0.store()?.outbox_len()
    }

    /// True when nothing waits in the outbox.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }
}

/// Follow-ups, from [`Engine::followups`].
pub struct FollowUps<'e>(&'e Engine);

impl FollowUps<'_> {
    /// Sends (or defers, or skips) every follow-up due now (see [`crate::conversation`]).
    pub fn run(&self, opts: &FollowUpOptions) -> Result<FollowUpReport> {
        self.run_each(opts, |_| {})
    }

    /// [`FollowUps::run`], calling `each` with every outcome as soon as its transaction
    /// has committed (to stream progress).
    pub fn run_each(
        &self,
        opts: &FollowUpOptions,
        each: impl FnMut(&FollowUpOutcome),
    ) -> Result<FollowUpReport> {
        let now = opts.now.unwrap_or_else(|| self.0.now());
        let rules_for = |t: &TenantId| self.0.rule_set(t);
        conversation::run_followups(self.0.store()?, rules_for, opts, now, each)
    }
}

/// Experiments, from [`Engine::experiments`]. Definitions come from the tenant's
/// `experiments.yaml` (its own or inherited); exposures, outcomes and stops from the store.
pub struct Experiments<'e>(&'e Engine);

impl Experiments<'_> {
    /// The tenant's experiment definitions.
    pub fn definitions(&self, tenant: &TenantId) -> Result<Vec<Experiment>> {
        Ok(self.0.rule_set(tenant)?.experiments.to_vec())
    }

    /// One line per experiment: status, exposures, the winner if one is declared.
    pub fn list(&self, tenant: &TenantId) -> Result<Vec<Summary>> {
        let rules = self.0.rule_set(tenant)?;
        let (store, now) = (self.0.store()?, self.0.now());
        rules
            .experiments
            .iter()
            .map(|x| conversation::report(store, tenant, x, now).map(|r| Summary::from(&r)))
            .collect()
    }

    /// An experiment's definition, status, exposures and outcomes per arm, and the
    /// analysis of its metric and guard-rails.
    pub fn report(&self, tenant: &TenantId, key: &str) -> Result<Report> {
        let rules = self.0.rule_set(tenant)?;
        let x = conversation::find_experiment(&rules, tenant, key)?;
        conversation::report(self.0.store()?, tenant, x, self.0.now())
    }

    /// Stops an experiment now: no more exposures or outcomes; every contact gets the
    /// control from the next decision on. False when it was already stopped.
    pub fn stop(&self, tenant: &TenantId, key: &str) -> Result<bool> {
        let rules = self.0.rule_set(tenant)?;
        let x = conversation::find_experiment(&rules, tenant, key)?;
        self.0
            .store()?
            .stop_experiment(tenant, &x.key, millis(self.0.now()))
    }

    /// Records an outcome the engine cannot see (an appointment booked, a deal's value)
    /// for an exposed contact; each contact counts once per metric.
    pub fn record_outcome(
        &self,
        tenant: &TenantId,
        key: &str,
        outcome: &OutcomeReport,
    ) -> Result<OutcomeRecorded> {
        let rules = self.0.rule_set(tenant)?;
        let x = conversation::find_experiment(&rules, tenant, key)?;
        conversation::record_outcome(self.0.store()?, tenant, x, outcome, self.0.now())
    }

    /// The variant a contact has (recorded) or would get (the hash, now), without
    /// recording anything.
    pub fn variant_of(&self, tenant: &TenantId, key: &str, contact: &ContactId) -> Result<String> {
        let rules = self.0.rule_set(tenant)?;
        let x = conversation::find_experiment(&rules, tenant, key)?;
        let recorded = match &self.0.inner.store {
            Some(store) => store
                .contact(tenant, contact)?
                .and_then(|c| c.experiments.get(key).map(|a| a.variant.clone())),
            None => None,
        };
        Ok(recorded.unwrap_or_else(|| x.variants[x.assign(contact.as_str())].name.clone()))
    }
}

/// A batch of one tenant's leads decided alike: see [`Engine::batch`].
pub struct Batch {
    /// Where each decision is shadowed (under the tenant's candidate, if it has one).
    engine: Engine,
    tenant: TenantId,
    options: ScoreOptions,
    rules: Arc<RuleSet>,
    stopped: Vec<String>,
    now: jiff::Timestamp,
}

impl Batch {
    /// The version of the rule set every lead of this batch is decided under.
    pub fn rules_version(&self) -> &str {
        &self.rules.version
    }

    /// One lead's decision (shadowed under the tenant's candidate, if it has one).
    pub fn decide(&self, lead: &Lead) -> Result<Decision> {
        let (rules, stopped, now) = (&self.rules, &self.stopped, self.now);
        let tenant = &self.tenant;
        let decision = decide::decide(tenant, rules, lead, &self.options, stopped, now)?;
        let work = || ShadowWork::Lead(Box::new(lead.clone()));
        (self.engine.inner.shadow).submit(tenant, rules, &decision, stopped, now, work);
        Ok(decision)
    }

    /// The leads' decisions on the calling thread, in order; one lead's error is its own
    /// entry.
    pub fn decide_here(&self, leads: &[Lead]) -> Vec<Result<Decision>> {
        leads.iter().map(|l| self.decide(l)).collect()
    }

    /// The leads' decisions on every core (rayon's pool), in the leads' order; one
    /// lead's error is its own entry.
    pub fn decide_on_all_cores(&self, leads: &[Lead]) -> Vec<Result<Decision>> {
        use rayon::prelude::*;
        leads.par_iter().map(|l| self.decide(l)).collect()
    }
}
