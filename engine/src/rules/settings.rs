//! A tenant's settings (`tenant.yaml`): loaded, merged over the default tenant's, and
//! split into the typed part the engine needs and the whole map scripts see as `cfg`.

use crate::error::{Error, Result};
use crate::text::extract::{ExtractorSpec, FactExtraction, QuestionTexts};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn yes() -> bool {
    true
}

fn one() -> usize {
    1
}

fn fifty() -> usize {
    50
}

/// Per-tenant GoHighLevel settings (`ghl:` in `tenant.yaml`).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct GhlSettings {
    /// Workflow triggered when a lead turns hot (notify the agent).
    #[serde(default)]
    pub notify_agent_workflow: Option<String>,
    /// Custom field id updated with the score after each decision.
    #[serde(default)]
    pub lead_score_field: Option<String>,
}

/// A local time of day written `"HH:MM"` (24-hour). Anything else ("9am", "25:00") is an
/// error at load, naming the setting: a window that cannot be read never silently turns
/// quiet hours off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeOfDay(pub jiff::civil::Time);

impl<'de> Deserialize<'de> for TimeOfDay {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let parsed = text.trim().split_once(':').and_then(|(h, m)| {
            let (h, m): (i8, i8) = (h.parse().ok()?, m.parse().ok()?);
            jiff::civil::Time::new(h, m, 0, 0).ok()
        });
        parsed.map(TimeOfDay).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "time of day {text:?}: expected \"HH:MM\" on a 24-hour clock, e.g. \"09:00\""
            ))
        })
    }
}

impl std::fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02}:{:02}", self.0.hour(), self.0.minute())
    }
}

/// The quiet-hours window, local to the contact (`"09:00"` to `"20:00"`).
#[derive(Clone, Debug, Deserialize)]
pub struct Window {
    /// First minute messages may go out.
    pub start: TimeOfDay,
    /// First minute they may not.
    pub end: TimeOfDay,
}

impl Default for Window {
    fn default() -> Self {
        Self {
            start: TimeOfDay(jiff::civil::time(9, 0, 0, 0)),
            end: TimeOfDay(jiff::civil::time(20, 0, 0, 0)),
        }
    }
}

/// Follow-up settings (`followup:` in `tenant.yaml`).
#[derive(Clone, Debug, Deserialize)]
pub struct FollowUpSettings {
    /// Hours after the lead's last message at which each stage is due.
    #[serde(default = "default_stages")]
    pub stages_hours: Vec<u32>,
    /// When texts may be sent, in the contact's time zone.
    #[serde(default)]
    pub window: Window,
    /// Time zone for contacts whose own is unknown.
    #[serde(default = "default_tz")]
    pub default_timezone: String,
    /// Templates by goal (`buyer`, `seller`, `general`), one per stage.
    #[serde(default)]
    pub templates: BTreeMap<String, Vec<String>>,
    /// Least time between two texts the bot sends a contact (default 60 minutes).
    #[serde(default = "sixty")]
    pub min_gap_minutes: u32,
}

fn sixty() -> u32 {
    60
}

fn default_stages() -> Vec<u32> {
    vec![24, 48, 72]
}

fn default_tz() -> String {
    "America/Chicago".into()
}

impl Default for FollowUpSettings {
    fn default() -> Self {
        Self {
            stages_hours: default_stages(),
            window: Window::default(),
            default_timezone: default_tz(),
            templates: BTreeMap::new(),
            min_gap_minutes: sixty(),
        }
    }
}

/// Bounds on what a live ingest accepts (`limits:` in `tenant.yaml`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct LimitSettings {
    /// Facts supplied with one message.
    pub max_facts_per_message: usize,
    /// Facts kept on one contact.
    pub max_facts_per_contact: usize,
    /// Bytes in a fact's name.
    pub max_fact_key_bytes: usize,
    /// Bytes in a fact's value (as JSON).
    pub max_fact_value_bytes: usize,
    /// How far back a message's `at` may lie (hours); later than now is never accepted.
    pub max_backdate_hours: u32,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            max_facts_per_message: 32,
            max_facts_per_contact: 100,
            max_fact_key_bytes: 64,
            max_fact_value_bytes: 1024,
            max_backdate_hours: 24,
        }
    }
}

/// Outbox delivery (`outbox:` in `tenant.yaml`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct OutboxSettings {
    /// Failed delivery attempts after which an action is moved to the dead letters.
    pub max_attempts: u32,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        Self { max_attempts: 10 }
    }
}

/// Shadow mode (`shadow:` in a `candidate/`'s `tenant.yaml`, or the tenant's own).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShadowSettings {
    /// The share of live decisions made again under the candidate, from 0 (none) to 1
    /// (every one, the default). Taken evenly: at 0.25, every fourth decision.
    pub sample: f64,
}

impl Default for ShadowSettings {
    fn default() -> Self {
        Self { sample: 1.0 }
    }
}

/// Compliance replies (`compliance:` in `tenant.yaml`).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ComplianceSettings {
    /// Sent once when a contact opts out.
    #[serde(default)]
    pub opt_out_confirmation: Option<String>,
    /// Sent when a contact resubscribes.
    #[serde(default)]
    pub resubscribe_confirmation: Option<String>,
    /// Sent in answer to HELP.
    #[serde(default)]
    pub help_reply: Option<String>,
}

/// A range of prices in dollars (`{min: 200000, max: 800000}`).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PriceRange {
    /// Lowest price.
    pub min: f64,
    /// Highest price.
    pub max: f64,
}

/// The market assumed when a tenant sets no `price_range`.
const DEFAULT_MARKET: PriceRange = PriceRange {
    min: 100_000.0,
    max: 2_000_000.0,
};

/// The texts of one other language (`translations.<lang>` in `tenant.yaml`): the default
/// rules answer a lead whose `language` fact is that language with these, falling back
/// to the English text for any missing one.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Translation {
    /// Question texts by goal and data point, as `questions`.
    #[serde(default)]
    pub questions: QuestionTexts,
    /// The hand-off line.
    #[serde(default)]
    pub handoff: Option<String>,
}

/// What a disqualifying signal does (`disqualify:` in `tenant.yaml`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DisqualifySettings {
    /// The signals that disqualify (`already_bought`, `not_interested`, `wrong_number`,
    /// `has_agent`); the others are recorded as facts only.
    pub signals: Vec<String>,
    /// Tags the decision adds.
    pub tags: Vec<String>,
    /// Automation off: no next question, no follow-ups (the decision is not active).
    pub automation_off: bool,
}

/// Every signal the extractor reads.
pub(crate) const SIGNALS: [&str; 4] = [
    "already_bought",
    "not_interested",
    "wrong_number",
    "has_agent",
];

impl Default for DisqualifySettings {
    fn default() -> Self {
        Self {
            signals: SIGNALS.iter().map(|s| s.to_string()).collect(),
            tags: vec!["Disqualified".into()],
            automation_off: true,
        }
    }
}

/// Hybrid extraction (`llm:` in `tenant.yaml`, off unless `enabled`): when the
/// deterministic extractors are unsure about a data point, an OpenAI-compatible
/// chat-completions endpoint is asked, with a strict JSON schema, for that point only.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmSettings {
    /// Off by default: nothing is ever sent unless this is true.
    #[serde(default)]
    pub enabled: bool,
    /// The API's base URL, up to and including the version (`https://api.openai.com/v1`,
    /// `http://127.0.0.1:8080/v1`); `/chat/completions` is appended.
    pub base_url: String,
    /// The model name sent with each request.
    pub model: String,
    /// A file holding the API key (sent as a bearer token), read at each call so a
    /// rotated key is picked up; none for servers that need no key.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// How long one call may take before the deterministic result stands (default 3000).
    #[serde(default = "llm_timeout_ms")]
    pub timeout_ms: u64,
    /// Calls a day (UTC) at most; further unsure messages keep the deterministic result
    /// (default 500). Cached answers do not count.
    #[serde(default = "llm_daily_calls")]
    pub daily_calls: u32,
    /// `max_tokens` of each request (default 200).
    #[serde(default = "llm_max_tokens")]
    pub max_tokens: u32,
}

fn llm_timeout_ms() -> u64 {
    3000
}

fn llm_daily_calls() -> u32 {
    500
}

fn llm_max_tokens() -> u32 {
    200
}

/// The typed part of a tenant's settings: what the engine itself reads.
/// Everything in `tenant.yaml` (these keys included) is also handed to scripts as `cfg`.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct Settings {
    /// Automation runs only for contacts carrying one of these (empty: always).
    #[serde(default)]
    pub activation_tags: Vec<String>,
    /// Automation never runs for contacts carrying one of these.
    #[serde(default)]
    pub deactivation_tags: Vec<String>,
    /// Maximum SMS segments for any text the tenant sends (default 1).
    #[serde(default = "one")]
    pub sms_segment_budget: usize,
    /// Cities and towns served; matched as whole words in messages.
    #[serde(default)]
    pub service_areas: Vec<String>,
    /// Neighbourhoods served; matched as whole words in messages.
    #[serde(default)]
    pub neighbourhoods: Vec<String>,
    /// Extra or replacement extraction patterns, by fact name.
    #[serde(default)]
    pub extract: BTreeMap<String, FactExtraction>,
    /// Question texts by goal and data point (`questions.buyer.budget`).
    #[serde(default)]
    pub questions: QuestionTexts,
    /// Texts in other languages, by language (`translations.es.questions...`); a tenant
    /// turns one off with `translations: {es: null}`.
    #[serde(default)]
    pub translations: BTreeMap<String, Option<Translation>>,
    /// Zip codes of the service area (five digits) or their three-digit prefixes.
    #[serde(default)]
    pub zip_codes: Vec<String>,
    /// The market's price range: bare numbers in budgets ("350-400") are read as
    /// thousands inside it.
    #[serde(default)]
    pub price_range: Option<PriceRange>,
    /// Budgets outside this band are not counted but asked to confirm (default: a tenth
    /// of the price range's minimum to ten times its maximum).
    #[serde(default)]
    pub plausible_budget: Option<PriceRange>,
    /// What a disqualifying signal ("we already bought", "wrong number") does.
    #[serde(default)]
    pub disqualify: DisqualifySettings,
    /// The hand-off line sent at hot instead of a question.
    #[serde(default)]
    pub handoff: Option<String>,
    /// Redact PII from stored conversation history (default true). Extraction always
    /// sees the raw text; with this on, nothing raw is stored.
    #[serde(default = "yes")]
    pub redact_history: bool,
    /// Messages kept per contact (default 50).
    #[serde(default = "fifty")]
    pub history_limit: usize,
    /// Follow-up stages, window and templates.
    #[serde(default)]
    pub followup: FollowUpSettings,
    /// Opt-out, resubscribe and help replies.
    #[serde(default)]
    pub compliance: ComplianceSettings,
    /// The agent's name for templates.
    #[serde(default)]
    pub agent_name: String,
    /// GoHighLevel settings: workflow to trigger at hand-off, custom field for the score.
    #[serde(default)]
    pub ghl: GhlSettings,
    /// Bounds on live ingest: fact counts and sizes, how old a message may be.
    #[serde(default)]
    pub limits: LimitSettings,
    /// Outbox delivery: attempts before the dead letters.
    #[serde(default)]
    pub outbox: OutboxSettings,
    /// Hybrid extraction: an LLM asked where the extractors are unsure (off by default).
    #[serde(default)]
    pub llm: Option<LlmSettings>,
    /// Shadow mode: how much of the live traffic a `candidate/` sees.
    #[serde(default)]
    pub shadow: ShadowSettings,
    /// Activation and deactivation tags, trimmed and lower-cased once for the gate.
    #[serde(skip)]
    gate_tags: (Vec<String>, Vec<String>),
}

/// Parses YAML text to a JSON value, naming the file on error.
pub(crate) fn parse_yaml(text: &str, file: &Path) -> Result<Value> {
    let yaml: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| Error::Settings {
        file: file.to_owned(),
        message: e.to_string(),
    })?;
    let json = serde_json::to_value(yaml).map_err(|e| Error::Settings {
        file: file.to_owned(),
        message: format!("not representable as JSON: {e}"),
    })?;
    match json {
        Value::Null => Ok(Value::Object(Default::default())),
        Value::Object(_) => Ok(json),
        _ => Err(Error::Settings {
            file: file.to_owned(),
            message: "expected a mapping of settings at the top level".into(),
        }),
    }
}

/// Deep-merges `over` into `base`: maps merge key by key, anything else is replaced.
pub(crate) fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

impl Settings {
    /// What the tenant's extractor is built from.
    pub(crate) fn extractor_spec(&self) -> ExtractorSpec<'_> {
        let market = self.market();
        let band = self.plausible_band();
        ExtractorSpec {
            places: self
                .service_areas
                .iter()
                .chain(&self.neighbourhoods)
                .map(String::as_str)
                .collect(),
            zip_codes: self.zip_codes.iter().map(String::as_str).collect(),
            patterns: &self.extract,
            questions: std::iter::once(&self.questions)
                .chain(self.translations.values().flatten().map(|t| &t.questions))
                .collect(),
            market: (market.min, market.max),
            plausible: (band.min, band.max),
        }
    }

    /// The tenant's hybrid-extraction settings when it is turned on.
    #[inline]
    pub(crate) fn hybrid(&self) -> Option<&LlmSettings> {
        self.llm.as_ref().filter(|l| l.enabled)
    }

    /// The market's price range (`price_range`, or 100,000 to 2,000,000 without one).
    pub(crate) fn market(&self) -> PriceRange {
        self.price_range.unwrap_or(DEFAULT_MARKET)
    }

    /// The plausible budget band: `plausible_budget`, else a tenth of the market's
    /// minimum to ten times its maximum.
    pub(crate) fn plausible_band(&self) -> PriceRange {
        self.plausible_budget.unwrap_or_else(|| {
            let m = self.market();
            PriceRange {
                min: m.min / 10.0,
                max: m.max * 10.0,
            }
        })
    }

    /// Every text the tenant sends, with its settings key: questions and hand-off, in
    /// English and in every translation (each checked against the segment budget).
    pub(crate) fn texts(&self) -> Vec<(String, &str)> {
        fn questions<'s>(prefix: &str, q: &'s QuestionTexts, out: &mut Vec<(String, &'s str)>) {
            for (goal, texts) in q {
                for (id, text) in texts {
                    out.push((format!("{prefix}questions.{goal}.{id}"), text.as_str()));
                }
            }
        }
        let mut out = Vec::new();
        questions("", &self.questions, &mut out);
        if let Some(h) = &self.handoff {
            out.push(("handoff".into(), h.as_str()));
        }
        for (lang, t) in &self.translations {
            let Some(t) = t else { continue };
            let prefix = format!("translations.{lang}.");
            questions(&prefix, &t.questions, &mut out);
            if let Some(h) = &t.handoff {
                out.push((format!("{prefix}handoff"), h.as_str()));
            }
        }
        out
    }

    /// The disqualifying signal in `facts` this tenant acts on, if any.
    pub(crate) fn disqualified<'f>(&self, facts: &'f crate::model::Facts) -> Option<&'f str> {
        let signal = crate::model::fact(facts, crate::text::extract::DISQUALIFIED)?.as_str()?;
        self.disqualify
            .signals
            .iter()
            .any(|s| s == signal)
            .then_some(signal)
    }

    /// Reads the typed settings out of a merged settings map.
    pub(crate) fn from_value(value: &Value, file: &Path) -> Result<Self> {
        let mut s = Settings::deserialize(value).map_err(|e| Error::Settings {
            file: file.to_owned(),
            message: e.to_string(),
        })?;
        for (key, r) in [
            ("price_range", s.price_range),
            ("plausible_budget", s.plausible_budget),
        ] {
            if let Some(r) = r.filter(|r| !(r.min > 0.0 && r.min <= r.max)) {
                return Err(Error::Settings {
                    file: file.to_owned(),
                    message: format!(
                        "{key}: min {} and max {} must be positive, min not over max",
                        r.min, r.max
                    ),
                });
            }
        }
        if !(0.0..=1.0).contains(&s.shadow.sample) {
            return Err(Error::Settings {
                file: file.to_owned(),
                message: format!(
                    "shadow.sample: {} is not a share of decisions (from 0 to 1)",
                    s.shadow.sample
                ),
            });
        }
        if let Some(bad) = s
            .disqualify
            .signals
            .iter()
            .find(|x| !SIGNALS.contains(&x.as_str()))
        {
            return Err(Error::Settings {
                file: file.to_owned(),
                message: format!(
                    "disqualify.signals: unknown signal {bad:?} (known: {})",
                    SIGNALS.join(", ")
                ),
            });
        }
        let norm = |l: &[String]| l.iter().map(|t| t.trim().to_lowercase()).collect();
        s.gate_tags = (norm(&s.activation_tags), norm(&s.deactivation_tags));
        Ok(s)
    }

    /// The activation gate: `Ok(reason)` when automation runs, `Err(reason)` when not.
    pub fn gate(&self, tags: &[String]) -> std::result::Result<String, String> {
        // Tags compare ignoring case and surrounding spaces; lists were normalised at load.
        let find = |list: &[String]| {
            list.iter().position(|want| {
                tags.iter().any(|t| {
                    let t = t.trim();
                    t.eq_ignore_ascii_case(want) || (!t.is_ascii() && t.to_lowercase() == *want)
                })
            })
        };
        if let Some(i) = find(&self.gate_tags.1) {
            return Err(format!(
                "deactivation tag {:?} present",
                self.deactivation_tags[i]
            ));
        }
        if self.activation_tags.is_empty() {
            return Ok("no activation tag required".into());
        }
        match find(&self.gate_tags.0) {
            Some(i) => Ok(format!(
                "activation tag {:?} present",
                self.activation_tags[i]
            )),
            None => Err(format!(
                "no activation tag (one of {:?}) present",
                self.activation_tags
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_is_deep_for_maps_and_replaces_lists() {
        let mut base = json!({"a": {"x": 1, "y": 2}, "l": [1, 2]});
        merge(&mut base, json!({"a": {"y": 3}, "l": [9]}));
        assert_eq!(base, json!({"a": {"x": 1, "y": 3}, "l": [9]}));
    }

    #[test]
    fn gate_ignores_case_and_spaces() {
        let s = Settings::from_value(
            &json!({"activation_tags": ["Hit List"], "deactivation_tags": ["AI-Off"]}),
            Path::new("t.yaml"),
        )
        .unwrap();
        assert!(s.gate(&[" hit list ".into()]).is_ok());
        assert!(s.gate(&["Hit List".into(), "ai-off".into()]).is_err());
        assert!(s.gate(&[]).is_err());
    }
}
