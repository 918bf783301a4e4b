//! The statistics of an A/B experiment on SMS wording: given each arm's counts
//! ([`Counts`]: exposures and conversions, or the mean and sample sd of a numeric
//! outcome), [`analyze`] compares every variant with the control (the first arm) and
//! says whether there is a winner, and why or why not. Pure: no I/O, no clock, no
//! randomness; every number is either finite or `None` with a note saying why.
//!
//! ## Formulas
//!
//! `z` below is the normal quantile `Φ⁻¹(0.975)` used for every 95 % interval that is
//! not a Student t interval.
//!
//! - **Conversion rate** `p = x/n` with the **Wilson score interval**.
//! - **Difference** `p_t − p_c` with the **unpooled Wald interval**
//!   `± z·√(p_c(1−p_c)/n_c + p_t(1−p_t)/n_t)`.
//! - **Relative lift** `(p_t − p_c)/p_c` with a **delta-method interval**:
//!   `var = p_t(1−p_t)/(p_c²n_t) + p_c(1−p_c)p_t²/(p_c⁴n_c)`, `lift ± z·√var`.
//! - **Two-proportion z-test** (two-sided, pooled standard error):
//!   `p̂ = (x_t+x_c)/(n_t+n_c)`, `z = (p_t−p_c)/√(p̂(1−p̂)(1/n_t+1/n_c))`, `p = 2·Φ̄(|z|)`.
//! - **Numeric metrics** (mean, sample sd, n): the mean's **Student t interval**
//!   (`n−1` df); **Welch's t-test** with `se = √(s_t²/n_t + s_c²/n_c)` and the
//!   **Welch–Satterthwaite** df, `p = 2·T̄_df(|t|)`, difference `± t_{df,0.975}·se`; lift
//!   with the delta method `var = s_t²/(m_c²n_t) + s_c²m_t²/(m_c⁴n_c)` and `z`.
//! - **Probability to beat control**: for conversions, the Bayesian probability that the
//!   arm's rate is better than the control's under independent `Beta(1+x, 1+n−x)`
//!   posteriors (flat priors), computed by **adaptive Gauss–Kronrod (7/15) quadrature**
//!   of `f_arm(x)·F_control(x)` (or `f_arm·(1−F_control)` when lower is better), with
//!   log-densities (`ln_beta`, no overflow at n = 100,000), over the region where the
//!   posteriors have mass: where the log-density is within 50 of its peak, about
//!   ±10 sd for a bell-shaped posterior, and wider than "mean ± 12 sd" would be for the
//!   skewed ones of a rate near 0 (their tails are exponential, not Gaussian). The
//!   posteriors are log-concave, so what is left out is negligible. For numeric
//!   metrics, the normal approximation `Φ(±diff/se)`.
//! - **Sample-ratio mismatch (SRM)**: **Pearson's chi-square goodness of fit** of the
//!   arms' `n` against `weight_i/Σweight·N`, `k−1` df; flagged when `p <` [`SRM_ALPHA`].
//! - **Sequential mode** ([`Settings::sequential_tau`]): the **always-valid p-value** of
//!   the **mixture SPRT** (Johari, Koomen, Pekelis and Walsh, *Peeking at A/B tests*,
//!   2017) with a normal mixing distribution `N(0, τ²)` on the difference `θ`. With
//!   `θ̂ = diff` and `V` its unpooled variance (`p_c(1−p_c)/n_c + p_t(1−p_t)/n_t`, or
//!   `s_t²/n_t + s_c²/n_c`),
//!   `Λ = √(V/(V+τ²))·exp(τ²θ̂²/(2V(V+τ²)))` and `p = min(1, 1/Λ)`, in log space.
//!   With `θ̂` treated as normal (as in the paper), `Λ` is a nonnegative martingale with
//!   mean 1 under "no difference", so by **Ville's inequality** the chance that it
//!   *ever* exceeds `1/alpha` is at most `alpha`: the experiment may be read at any
//!   look, as often as wanted, and stopped the first time the always-valid p drops
//!   below alpha, and the false-positive rate stays ≤ alpha (the fixed-horizon p-value
//!   read that way does not: 20 looks give about 20 %). [`analyze`] sees one look; the
//!   paper's p is the running minimum over looks, which a caller keeping history takes
//!   (stopping at the first look below alpha is the same rule). `τ` is the size of
//!   difference the test is tuned to find, on the metric's own scale (for a conversion
//!   rate, `0.05` is five percentage points): differences near `τ` are detected
//!   fastest, much smaller ones take longer.
//!
//! ## Winner
//!
//! A winner is declared only when there is no SRM, every arm has at least
//! [`Settings::min_sample`] exposures, and a comparison is significant: its p-value (the
//! always-valid p in sequential mode) is below alpha, **Bonferroni-adjusted** to
//! `alpha/(k−1)` when there are `k > 2` arms (each variant is one comparison with the
//! control). The winner is the best variant (by rate or mean, in the configured
//! [`Direction`]) among those significantly better than the control; when every variant
//! is significantly worse than the control, the control wins; otherwise there is none.
//! [`Analysis::verdict`] says which and why.

use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};
use statrs::distribution::{Beta, ChiSquared, Continuous, ContinuousCDF, Normal, StudentsT};
use statrs::function::beta::ln_beta;
use std::collections::HashSet;

use crate::error::{Error, Result};

/// Sample-ratio mismatch is flagged when the chi-square p-value is below this.
pub const SRM_ALPHA: f64 = 0.001;

/// Which way a metric is better.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Higher is better (qualification rate, reply rate).
    #[default]
    Increase,
    /// Lower is better (opt-out rate, time to qualify).
    Decrease,
}

/// How to read an experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// The false-positive rate accepted, in `(0, 1)`. Default 0.05.
    pub alpha: f64,
    /// Exposures (observations, for a numeric metric) every arm needs before a winner
    /// can be declared. Default 30.
    pub min_sample: u64,
    /// `Some(τ)` turns on sequential mode: significance is read from the always-valid
    /// p-value, tuned to find a difference of about `τ` on the metric's scale. Default
    /// `None` (fixed horizon: read once, at the planned sample size).
    pub sequential_tau: Option<f64>,
    /// Which way is better. Default [`Direction::Increase`].
    pub direction: Direction,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            alpha: 0.05,
            min_sample: 30,
            sequential_tau: None,
            direction: Direction::Increase,
        }
    }
}

/// What the arms measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// A count of conversions out of exposures.
    Conversion,
    /// A number per exposure, summarised by mean and sample sd.
    Numeric,
}

fn one() -> f64 {
    1.0
}

/// One arm's counts; the first arm is the control.
///
/// JSON: `{"name", "n", "conversions", "weight"}` for a conversion metric or
/// `{"name", "n", "mean", "sd", "weight"}` for a numeric one (`weight` defaults to 1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArmCounts {
    /// The variant's name (unique, not empty).
    pub name: String,
    /// The arm's planned share of traffic, relative to the others' (any positive
    /// number: `1, 1` and `50, 50` are the same split).
    #[serde(default = "one")]
    pub weight: f64,
    /// Exposures (contacts who got this variant).
    pub n: u64,
    /// Conversions among the `n` exposures (conversion metric).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversions: Option<u64>,
    /// Mean of the outcome (numeric metric; may be absent when `n` is 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    /// Sample standard deviation of the outcome, `n − 1` denominator (numeric metric;
    /// may be absent when `n` is below 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sd: Option<f64>,
}

/// Every arm's counts, control first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    /// The arms; the first is the control.
    pub variants: Vec<ArmCounts>,
}

/// The analysis of one experiment.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Analysis {
    /// What the arms measure.
    pub metric: MetricKind,
    /// Sample-ratio mismatch p-value (chi-square goodness of fit of the arms' sizes to
    /// their weights); `None` when no arm has any exposure.
    pub srm_p: Option<f64>,
    /// True when `srm_p <` [`SRM_ALPHA`]: assignment is broken, results are not to be read.
    pub srm: bool,
    /// The winning arm's name, when there is one (it may be the control).
    pub winner: Option<String>,
    /// One sentence: why this winner, or why none.
    pub verdict: String,
    /// The alpha used (before any Bonferroni adjustment).
    pub alpha: f64,
    /// The minimum sample per arm used.
    pub min_sample: u64,
    /// The sequential mixing scale used, when in sequential mode.
    pub sequential_tau: Option<f64>,
    /// One result per arm, in the input order (control first).
    pub variants: Vec<ArmResult>,
}

/// Which optional fields an [`ArmResult`] serializes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Layout {
    metric: MetricKind,
    sequential: bool,
}

/// One arm's statistics; comparisons are with the control (the first arm).
///
/// Serialized with the fields of its metric only: `conversions`, `rate`, `rate_ci95`
/// and `z` for a conversion metric, `mean`, `sd`, `mean_ci95`, `t` and `df` for a
/// numeric one (`null` when undefined), and `always_valid_p` only in sequential mode.
/// Every `None` that is not self-evident has a reason in [`ArmResult::notes`].
#[derive(Clone, Debug, PartialEq)]
pub struct ArmResult {
    /// The arm's name.
    pub name: String,
    /// The arm's planned share of traffic (its weight over the total weight).
    pub weight: f64,
    /// Exposures.
    pub n: u64,
    /// Conversions (conversion metric).
    pub conversions: Option<u64>,
    /// Conversion rate `x/n` (`None` for an empty arm).
    pub rate: Option<f64>,
    /// Wilson 95 % interval of the rate.
    pub rate_ci95: Option<[f64; 2]>,
    /// Two-proportion z statistic (pooled standard error) against the control.
    pub z: Option<f64>,
    /// Mean (numeric metric).
    pub mean: Option<f64>,
    /// Sample standard deviation (numeric metric).
    pub sd: Option<f64>,
    /// Student t 95 % interval of the mean.
    pub mean_ci95: Option<[f64; 2]>,
    /// Welch's t statistic against the control.
    pub t: Option<f64>,
    /// Welch–Satterthwaite degrees of freedom.
    pub df: Option<f64>,
    /// Two-sided fixed-horizon p-value against the control.
    pub p_value: Option<f64>,
    /// Difference with the control, arm minus control (rate or mean).
    pub diff: Option<f64>,
    /// 95 % interval of the difference (unpooled Wald, or Welch t).
    pub diff_ci95: Option<[f64; 2]>,
    /// Relative lift `diff / control`.
    pub lift: Option<f64>,
    /// Delta-method 95 % interval of the lift.
    pub lift_ci95: Option<[f64; 2]>,
    /// Probability that this arm is better than the control (in the configured
    /// direction): Beta posteriors for conversions, normal approximation for means.
    pub prob_beats_control: Option<f64>,
    /// Always-valid p-value of the mixture SPRT (sequential mode only).
    pub always_valid_p: Option<f64>,
    /// True when the comparison's p-value (always-valid in sequential mode) is below
    /// alpha (Bonferroni-adjusted for more than one variant). Statistical significance
    /// only: a winner also needs no SRM and every arm at the minimum sample.
    pub significant: bool,
    /// Why a value is `None`, or anything else worth knowing about this arm.
    pub notes: Vec<String>,
    layout: Layout,
}

impl Serialize for ArmResult {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("ArmResult", 21)?;
        s.serialize_field("name", &self.name)?;
        s.serialize_field("weight", &self.weight)?;
        s.serialize_field("n", &self.n)?;
        match self.layout.metric {
            MetricKind::Conversion => {
                s.serialize_field("conversions", &self.conversions)?;
                s.serialize_field("rate", &self.rate)?;
                s.serialize_field("rate_ci95", &self.rate_ci95)?;
                s.serialize_field("z", &self.z)?;
            }
            MetricKind::Numeric => {
                s.serialize_field("mean", &self.mean)?;
                s.serialize_field("sd", &self.sd)?;
                s.serialize_field("mean_ci95", &self.mean_ci95)?;
                s.serialize_field("t", &self.t)?;
                s.serialize_field("df", &self.df)?;
            }
        }
        s.serialize_field("p_value", &self.p_value)?;
        s.serialize_field("diff", &self.diff)?;
        s.serialize_field("diff_ci95", &self.diff_ci95)?;
        s.serialize_field("lift", &self.lift)?;
        s.serialize_field("lift_ci95", &self.lift_ci95)?;
        s.serialize_field("prob_beats_control", &self.prob_beats_control)?;
        if self.layout.sequential {
            s.serialize_field("always_valid_p", &self.always_valid_p)?;
        }
        s.serialize_field("significant", &self.significant)?;
        s.serialize_field("notes", &self.notes)?;
        s.end()
    }
}

impl ArmResult {
    fn blank(arm: &ArmCounts, weight: f64, layout: Layout) -> ArmResult {
        ArmResult {
            name: arm.name.clone(),
            weight,
            n: arm.n,
            conversions: None,
            rate: None,
            rate_ci95: None,
            z: None,
            mean: None,
            sd: None,
            mean_ci95: None,
            t: None,
            df: None,
            p_value: None,
            diff: None,
            diff_ci95: None,
            lift: None,
            lift_ci95: None,
            prob_beats_control: None,
            always_valid_p: None,
            significant: false,
            notes: Vec::new(),
            layout,
        }
    }

    fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// The arm's estimate: rate or mean.
    fn estimate(&self) -> Option<f64> {
        match self.layout.metric {
            MetricKind::Conversion => self.rate,
            MetricKind::Numeric => self.mean,
        }
    }

    /// The p-value significance is read from.
    fn decisive_p(&self) -> Option<f64> {
        if self.layout.sequential {
            self.always_valid_p
        } else {
            self.p_value
        }
    }

    /// Replaces any non-finite number by `None` with a note: a last guard, the
    /// computations already avoid them.
    fn drop_non_finite(&mut self) {
        let mut bad = Vec::new();
        for (field, value) in [
            ("rate", &mut self.rate),
            ("z", &mut self.z),
            ("mean", &mut self.mean),
            ("sd", &mut self.sd),
            ("t", &mut self.t),
            ("df", &mut self.df),
            ("p_value", &mut self.p_value),
            ("diff", &mut self.diff),
            ("lift", &mut self.lift),
            ("prob_beats_control", &mut self.prob_beats_control),
            ("always_valid_p", &mut self.always_valid_p),
        ] {
            if value.is_some_and(|v| !v.is_finite()) {
                *value = None;
                bad.push(field);
            }
        }
        for (field, value) in [
            ("rate_ci95", &mut self.rate_ci95),
            ("mean_ci95", &mut self.mean_ci95),
            ("diff_ci95", &mut self.diff_ci95),
            ("lift_ci95", &mut self.lift_ci95),
        ] {
            if value.is_some_and(|[lo, hi]| !lo.is_finite() || !hi.is_finite()) {
                *value = None;
                bad.push(field);
            }
        }
        if !self.weight.is_finite() {
            self.weight = 0.0;
            bad.push("weight");
        }
        for field in bad {
            self.note(format!("{field}: numerical overflow, value dropped"));
        }
    }
}

/// Analyses an experiment: every variant against the control (the first arm), the
/// sample-ratio check, and the winner (see the module documentation for the formulas
/// and the rules).
///
/// # Errors
///
/// [`Error::Analysis`] for inconsistent input: fewer than two arms, an empty or
/// duplicate name, a weight that is not a finite positive number, more conversions than
/// exposures, an arm without the metric's values, arms of different metrics, a
/// non-finite mean, a negative or non-finite sd, alpha outside `(0, 1)`, or a
/// `sequential_tau` that is not a finite positive number. (A negative mean is valid:
/// outcomes may be any finite number; the lift is then undefined when the control's
/// mean is not positive.)
pub fn analyze(counts: &Counts, settings: &Settings) -> Result<Analysis> {
    check_settings(settings)?;
    let metric = check_counts(counts)?;
    let arms = &counts.variants;
    let layout = Layout {
        metric,
        sequential: settings.sequential_tau.is_some(),
    };
    let total_weight: f64 = arms.iter().map(|a| a.weight).sum();
    let comparisons = arms.len() - 1;
    let ctx = Ctx {
        z: Normal::standard().inverse_cdf(0.975),
        direction: settings.direction,
        tau: settings.sequential_tau,
        threshold: settings.alpha / comparisons as f64,
    };
    let mut variants: Vec<ArmResult> = arms
        .iter()
        .map(|arm| ArmResult::blank(arm, arm.weight / total_weight, layout))
        .collect();
    match metric {
        MetricKind::Conversion => conversion(arms, &mut variants, &ctx),
        MetricKind::Numeric => numeric(arms, &mut variants, &ctx),
    }
    for arm in &mut variants[1..] {
        arm.significant = arm.decisive_p().is_some_and(|p| p < ctx.threshold);
    }
    for arm in &mut variants {
        arm.drop_non_finite();
    }
    let srm_p = srm_p_value(arms, total_weight);
    let srm = srm_p.is_some_and(|p| p < SRM_ALPHA);
    let (winner, verdict) = decide(&variants, srm_p, srm, settings, metric, &ctx);
    Ok(Analysis {
        metric,
        srm_p,
        srm,
        winner,
        verdict,
        alpha: settings.alpha,
        min_sample: settings.min_sample,
        sequential_tau: settings.sequential_tau,
        variants,
    })
}

fn fail(message: String) -> Error {
    Error::Analysis(message)
}

fn check_settings(settings: &Settings) -> Result<()> {
    if !(settings.alpha > 0.0 && settings.alpha < 1.0) {
        return Err(fail(format!(
            "alpha must be between 0 and 1 (exclusive), got {}",
            settings.alpha
        )));
    }
    if let Some(tau) = settings.sequential_tau {
        if !(tau.is_finite() && tau > 0.0) {
            return Err(fail(format!(
                "sequential_tau must be a finite number above 0, got {tau}"
            )));
        }
    }
    Ok(())
}

/// Validates the counts and returns the metric they measure.
fn check_counts(counts: &Counts) -> Result<MetricKind> {
    let arms = &counts.variants;
    if arms.len() < 2 {
        return Err(fail(format!(
            "an experiment needs at least two arms (control first), got {}",
            arms.len()
        )));
    }
    let mut names = HashSet::new();
    // The first arm that declares a metric, and the metric.
    let mut declared: Option<(&str, MetricKind)> = None;
    for (i, arm) in arms.iter().enumerate() {
        let name = &arm.name;
        if name.trim().is_empty() {
            return Err(fail(format!("variant {} has an empty name", i + 1)));
        }
        if !names.insert(name.as_str()) {
            return Err(fail(format!(
                "variant name {name:?} appears more than once"
            )));
        }
        if !(arm.weight.is_finite() && arm.weight > 0.0) {
            return Err(fail(format!(
                "variant {name:?}: weight must be a finite number above 0, got {}",
                arm.weight
            )));
        }
        let kind = match (arm.conversions, arm.mean.is_some() || arm.sd.is_some()) {
            (Some(_), true) => {
                return Err(fail(format!(
                    "variant {name:?}: give either conversions or mean and sd, not both"
                )))
            }
            (Some(x), false) => {
                if x > arm.n {
                    return Err(fail(format!(
                        "variant {name:?}: {x} conversions out of {} exposures",
                        arm.n
                    )));
                }
                Some(MetricKind::Conversion)
            }
            (None, true) => {
                // A mean may be negative (outcomes are any finite number); an sd may not.
                if let Some(m) = arm.mean.filter(|m| !m.is_finite()) {
                    return Err(fail(format!(
                        "variant {name:?}: mean must be a finite number, got {m}"
                    )));
                }
                if let Some(sd) = arm.sd.filter(|sd| !(sd.is_finite() && *sd >= 0.0)) {
                    return Err(fail(format!(
                        "variant {name:?}: sd must be a finite number, 0 or more, got {sd}"
                    )));
                }
                Some(MetricKind::Numeric)
            }
            (None, false) => None,
        };
        if let Some(kind) = kind {
            match declared {
                None => declared = Some((name, kind)),
                Some((first, metric)) if metric != kind => {
                    return Err(fail(format!(
                        "variant {name:?} measures a {} metric but variant {first:?} a {} metric: \
                         all arms must measure the same",
                        kind_name(kind),
                        kind_name(metric)
                    )));
                }
                Some(_) => {}
            }
        }
    }
    let Some((_, metric)) = declared else {
        return Err(fail(
            "no arm gives conversions or a mean: nothing to analyse".to_string(),
        ));
    };
    for arm in arms {
        let name = &arm.name;
        match metric {
            MetricKind::Conversion if arm.conversions.is_none() && arm.n > 0 => {
                return Err(fail(format!(
                    "variant {name:?}: {} exposures but no conversions (a conversion metric)",
                    arm.n
                )));
            }
            MetricKind::Numeric if arm.mean.is_none() && arm.n > 0 => {
                return Err(fail(format!(
                    "variant {name:?}: {} observations but no mean (a numeric metric)",
                    arm.n
                )));
            }
            MetricKind::Numeric if arm.sd.is_none() && arm.n > 1 => {
                return Err(fail(format!(
                    "variant {name:?}: {} observations but no sd (a numeric metric)",
                    arm.n
                )));
            }
            _ => {}
        }
    }
    Ok(metric)
}

fn kind_name(kind: MetricKind) -> &'static str {
    match kind {
        MetricKind::Conversion => "conversion",
        MetricKind::Numeric => "numeric",
    }
}

/// What every comparison needs.
struct Ctx {
    /// `Φ⁻¹(0.975)`.
    z: f64,
    direction: Direction,
    tau: Option<f64>,
    /// Alpha, Bonferroni-adjusted.
    threshold: f64,
}

fn interval(center: f64, half: f64) -> [f64; 2] {
    [center - half, center + half]
}

/// Two-sided normal p-value of a z statistic.
fn normal_p(z: f64) -> f64 {
    (2.0 * Normal::standard().sf(z.abs())).min(1.0)
}

/// Wilson score 95 % interval of `x` successes in `n > 0` trials.
fn wilson(x: u64, n: u64, z: f64) -> [f64; 2] {
    let (x, n) = (x as f64, n as f64);
    let p = x / n;
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    // At x = 0 (x = n) the bound is exactly 0 (1); rounding would leave ±1e-17.
    let lo = if x == 0.0 {
        0.0
    } else {
        (center - half).max(0.0)
    };
    let hi = if x == n {
        1.0
    } else {
        (center + half).min(1.0)
    };
    [lo, hi]
}

/// The always-valid p-value of the normal-mixture SPRT for an estimate `theta` with
/// variance `v > 0` and mixing scale `tau`, in log space.
fn always_valid_p(theta: f64, v: f64, tau: f64) -> f64 {
    let tau2 = tau * tau;
    let ln_lambda = 0.5 * (v / (v + tau2)).ln() + tau2 * theta * theta / (2.0 * v * (v + tau2));
    (-ln_lambda).exp().min(1.0)
}

/// Fills the sequential p-value of a comparison (no-op outside sequential mode).
fn sequential(arm: &mut ArmResult, theta: f64, v: f64, ctx: &Ctx) {
    if let Some(tau) = ctx.tau {
        if v > 0.0 {
            arm.always_valid_p = Some(always_valid_p(theta, v, tau));
        } else {
            arm.note("variance of the difference is 0: always-valid p undefined");
        }
    }
}

const CONTROL_NOTE: &str = "control arm: the baseline the variants are compared with";

fn conversion(arms: &[ArmCounts], out: &mut [ArmResult], ctx: &Ctx) {
    for (arm, res) in arms.iter().zip(out.iter_mut()) {
        let x = arm.conversions.unwrap_or(0);
        res.conversions = Some(x);
        if arm.n > 0 {
            res.rate = Some(x as f64 / arm.n as f64);
            res.rate_ci95 = Some(wilson(x, arm.n, ctx.z));
        } else {
            res.note("empty arm: no exposures, so no rate");
        }
    }
    out[0].note(CONTROL_NOTE);
    let control = &arms[0];
    let xc = control.conversions.unwrap_or(0);
    for (arm, res) in arms.iter().zip(out.iter_mut()).skip(1) {
        if control.n == 0 {
            res.note("no comparison: the control arm is empty");
            continue;
        }
        if arm.n == 0 {
            res.note("no comparison: this arm is empty");
            continue;
        }
        let xt = arm.conversions.unwrap_or(0);
        let (nc, nt) = (control.n as f64, arm.n as f64);
        let pc = xc as f64 / nc;
        let pt = xt as f64 / nt;
        let diff = pt - pc;
        res.diff = Some(diff);

        let v = pc * (1.0 - pc) / nc + pt * (1.0 - pt) / nt;
        if v > 0.0 {
            res.diff_ci95 = Some(interval(diff, ctx.z * v.sqrt()));
        } else {
            res.note("both rates are 0 or 1: the difference's interval is undefined");
        }

        let pooled = (xt as f64 + xc as f64) / (nt + nc);
        let pooled_var = pooled * (1.0 - pooled) * (1.0 / nt + 1.0 / nc);
        if pooled_var > 0.0 {
            let z = diff / pooled_var.sqrt();
            res.z = Some(z);
            res.p_value = Some(normal_p(z));
        } else {
            res.note(if pooled == 0.0 {
                "pooled variance is 0 (no conversions in either arm): z and p-value undefined"
            } else {
                "pooled variance is 0 (every exposure converted): z and p-value undefined"
            });
        }

        if pc > 0.0 {
            res.lift = Some(diff / pc);
            let lift_var =
                pt * (1.0 - pt) / (pc * pc * nt) + pc * (1.0 - pc) * pt * pt / pc.powi(4) / nc;
            if lift_var > 0.0 {
                res.lift_ci95 = Some(interval(diff / pc, ctx.z * lift_var.sqrt()));
            } else {
                res.note("lift variance is 0 (rates at 0 or 1): lift interval undefined");
            }
        } else {
            res.note("control rate is 0: lift undefined");
        }

        let higher = ctx.direction == Direction::Increase;
        let posterior = |x: u64, n: u64| (1.0 + x as f64, 1.0 + (n - x) as f64);
        match prob_beta_beats(posterior(xt, arm.n), posterior(xc, control.n), higher) {
            Some(p) => res.prob_beats_control = Some(p),
            None => res.note("posterior integration failed: prob_beats_control undefined"),
        }

        sequential(res, diff, v, ctx);
    }
}

/// `t_{df, 0.975}`: statrs's inverse, polished by Newton steps on the CDF (the inverse
/// alone is off by a few 1e-6 at large df).
fn t_quantile(df: f64) -> Option<f64> {
    let dist = StudentsT::new(0.0, 1.0, df).ok()?;
    let mut q = dist.inverse_cdf(0.975);
    for _ in 0..6 {
        let step = (dist.cdf(q) - 0.975) / dist.pdf(q);
        if !step.is_finite() {
            break;
        }
        q -= step;
        if step.abs() <= 1e-15 * q.abs() {
            break;
        }
    }
    q.is_finite().then_some(q)
}

fn numeric(arms: &[ArmCounts], out: &mut [ArmResult], ctx: &Ctx) {
    for (arm, res) in arms.iter().zip(out.iter_mut()) {
        if arm.n == 0 {
            res.note("empty arm: no observations, so no mean");
            continue;
        }
        res.mean = arm.mean;
        if arm.n == 1 {
            res.note("one observation: sd and the mean's interval undefined");
            continue;
        }
        res.sd = arm.sd;
        if let (Some(m), Some(s), Some(q)) = (arm.mean, arm.sd, t_quantile((arm.n - 1) as f64)) {
            res.mean_ci95 = Some(interval(m, q * s / (arm.n as f64).sqrt()));
        }
    }
    out[0].note(CONTROL_NOTE);
    let control = &arms[0];
    for (arm, res) in arms.iter().zip(out.iter_mut()).skip(1) {
        let (mc, sc, mt, st) = match (control.mean, control.sd, arm.mean, arm.sd) {
            (Some(mc), Some(sc), Some(mt), Some(st)) if control.n > 1 && arm.n > 1 => {
                (mc, sc, mt, st)
            }
            _ => {
                res.note(if control.n < 2 {
                    "no comparison: the control arm has fewer than 2 observations"
                } else {
                    "no comparison: this arm has fewer than 2 observations"
                });
                continue;
            }
        };
        let (nc, nt) = (control.n as f64, arm.n as f64);
        let diff = mt - mc;
        res.diff = Some(diff);
        let (vt, vc) = (st * st / nt, sc * sc / nc);
        let v = vt + vc;
        if v > 0.0 {
            let se = v.sqrt();
            let t = diff / se;
            let (rt, rc) = (vt / v, vc / v);
            let df = 1.0 / (rt * rt / (nt - 1.0) + rc * rc / (nc - 1.0));
            res.t = Some(t);
            res.df = Some(df);
            if let Ok(dist) = StudentsT::new(0.0, 1.0, df) {
                res.p_value = Some((2.0 * dist.sf(t.abs())).min(1.0));
            }
            match t_quantile(df) {
                Some(q) => res.diff_ci95 = Some(interval(diff, q * se)),
                None => res.note("t quantile failed: difference interval undefined"),
            }
            let signed = match ctx.direction {
                Direction::Increase => diff,
                Direction::Decrease => -diff,
            };
            res.prob_beats_control = Some(Normal::standard().cdf(signed / se));
        } else {
            res.note(
                "both sds are 0: t, p-value, difference interval and prob_beats_control undefined",
            );
        }
        if mc > 0.0 {
            res.lift = Some(diff / mc);
            let lift_var = st * st / (mc * mc * nt) + sc * sc * mt * mt / mc.powi(4) / nc;
            if lift_var > 0.0 {
                res.lift_ci95 = Some(interval(diff / mc, ctx.z * lift_var.sqrt()));
            } else {
                res.note("lift variance is 0: lift interval undefined");
            }
        } else {
            res.note(if mc == 0.0 {
                "control mean is 0: lift undefined"
            } else {
                "control mean is negative: lift undefined"
            });
        }
        sequential(res, diff, v, ctx);
    }
}

/// Pearson chi-square goodness-of-fit p-value of the arms' sizes against their weights.
fn srm_p_value(arms: &[ArmCounts], total_weight: f64) -> Option<f64> {
    // Summed as floats: no overflow, whatever the input.
    let total: f64 = arms.iter().map(|a| a.n as f64).sum();
    if total == 0.0 {
        return None;
    }
    let chi2: f64 = arms
        .iter()
        .map(|a| {
            let expected = a.weight / total_weight * total;
            let d = a.n as f64 - expected;
            d * d / expected
        })
        .sum();
    let dist = ChiSquared::new((arms.len() - 1) as f64).ok()?;
    let p = dist.sf(chi2);
    p.is_finite().then_some(p)
}

/// A p-value or alpha in a sentence: two significant digits, scientific below 0.001
/// (`0.0012`, `0.05`, `6.3e-05`).
fn fmt_p(p: f64) -> String {
    if !p.is_finite() || p <= 0.0 {
        return format!("{p}");
    }
    if p >= 0.001 {
        let decimals = (1 - p.log10().floor() as i32).max(0) as usize;
        let s = format!("{p:.decimals$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    } else {
        // Rust writes `6.3e-5`; sentences use the usual `6.3e-05`.
        let s = format!("{p:.1e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((s.as_str(), "0"));
        let mantissa = mantissa.trim_end_matches(".0");
        let exp: i32 = exp.parse().unwrap_or(0);
        format!("{mantissa}e-{:02}", -exp)
    }
}

fn decide(
    arms: &[ArmResult],
    srm_p: Option<f64>,
    srm: bool,
    settings: &Settings,
    metric: MetricKind,
    ctx: &Ctx,
) -> (Option<String>, String) {
    if srm {
        let p = srm_p.map_or_else(|| "?".to_string(), fmt_p);
        return (
            None,
            format!(
                "no winner: sample-ratio mismatch (p = {p}): fix the assignment before reading results"
            ),
        );
    }
    let unit = match metric {
        MetricKind::Conversion => "exposures",
        MetricKind::Numeric => "observations",
    };
    let short: Vec<String> = arms
        .iter()
        .filter(|a| a.n < settings.min_sample)
        .map(|a| {
            format!(
                "arm {:?} has {} of the {} {unit} it needs",
                a.name, a.n, settings.min_sample
            )
        })
        .collect();
    if !short.is_empty() {
        return (None, format!("no winner: {}", short.join("; ")));
    }

    let label = if ctx.tau.is_some() {
        "always-valid p"
    } else {
        "p"
    };
    let comparisons = arms.len() - 1;
    let needs = if comparisons > 1 {
        format!(
            "{} (alpha {} over {comparisons} comparisons, Bonferroni)",
            fmt_p(ctx.threshold),
            fmt_p(settings.alpha)
        )
    } else {
        fmt_p(settings.alpha)
    };
    let better_than = |a: f64, b: f64| match ctx.direction {
        Direction::Increase => a > b,
        Direction::Decrease => a < b,
    };
    let variants = &arms[1..];
    let improves = |a: &ArmResult| a.diff.is_some_and(|d| better_than(d, 0.0));
    let better: Vec<&ArmResult> = variants
        .iter()
        .filter(|a| a.significant && improves(a))
        .collect();
    let worse: Vec<&ArmResult> = variants
        .iter()
        .filter(|a| a.significant && !improves(a))
        .collect();
    let p_of = |a: &ArmResult| a.decisive_p().map_or_else(|| "?".to_string(), fmt_p);

    if let Some(first) = better.first() {
        let mut best = *first;
        for arm in &better[1..] {
            if let (Some(e), Some(b)) = (arm.estimate(), best.estimate()) {
                if better_than(e, b) {
                    best = arm;
                }
            }
        }
        let mut verdict = format!(
            "{:?} beats control: {label} = {} < {needs}",
            best.name,
            p_of(best)
        );
        if better.len() > 1 {
            let what = match metric {
                MetricKind::Conversion => "rate",
                MetricKind::Numeric => "mean",
            };
            verdict.push_str(&format!(
                "; best {what} of the {} variants that beat control",
                better.len()
            ));
        }
        return (Some(best.name.clone()), verdict);
    }
    if worse.len() == variants.len() {
        let largest = worse
            .iter()
            .filter_map(|a| a.decisive_p())
            .fold(0.0, f64::max);
        let control = &arms[0].name;
        let verdict = if variants.len() == 1 {
            format!(
                "control {control:?} beats {:?}: {label} = {} < {needs}",
                worse[0].name,
                fmt_p(largest)
            )
        } else {
            format!(
                "control {control:?} beats every variant: largest {label} = {} < {needs}",
                fmt_p(largest)
            )
        };
        return (Some(control.clone()), verdict);
    }
    let ps: Vec<f64> = variants.iter().filter_map(|a| a.decisive_p()).collect();
    if ps.is_empty() {
        return (
            None,
            "no winner: no comparison could be made (see the variants' notes)".to_string(),
        );
    }
    if !worse.is_empty() {
        let list: Vec<String> = worse
            .iter()
            .map(|a| format!("{:?} is significantly worse: {label} = {}", a.name, p_of(a)))
            .collect();
        return (
            None,
            format!("no winner: no variant beats control ({})", list.join("; ")),
        );
    }
    let smallest = ps.iter().copied().fold(1.0, f64::min);
    (
        None,
        format!(
            "no winner: no variant differs significantly from control (smallest {label} = {}, needs < {needs})",
            fmt_p(smallest)
        ),
    )
}

// ---------------------------------------------------------------------------------------
// P(arm beats control) under Beta posteriors: adaptive Gauss–Kronrod quadrature.

/// Log-density of `Beta(a, b)` at `x`, for `a, b ≥ 1` (`-inf` where the density is 0).
fn ln_beta_pdf(a: f64, b: f64, ln_norm: f64, x: f64) -> f64 {
    let mut ln = -ln_norm;
    if a != 1.0 {
        ln += (a - 1.0) * x.ln();
    }
    if b != 1.0 {
        ln += (b - 1.0) * (-x).ln_1p();
    }
    ln
}

/// How far below its maximum the log-density is followed: `e^-50 ≈ 2e-22`.
const LN_DROP: f64 = 50.0;

/// The interval where `Beta(a, b)` (`a, b ≥ 1`, log-concave) has its mass: where the
/// log-density is within [`LN_DROP`] of the mode's. Bisection on each side of the mode.
fn mass_bounds(a: f64, b: f64) -> (f64, f64) {
    if a + b <= 2.0 {
        return (0.0, 1.0);
    }
    let ln_norm = ln_beta(a, b);
    let ln_pdf = |x: f64| ln_beta_pdf(a, b, ln_norm, x);
    let mode = (a - 1.0) / (a + b - 2.0);
    let target = ln_pdf(mode) - LN_DROP;
    // Bisection between `inside` (above target) and `outside` (below or at the edge).
    let edge = |outside: f64| {
        if ln_pdf(outside) >= target {
            return outside;
        }
        let (mut inside, mut outside) = (mode, outside);
        for _ in 0..200 {
            let mid = 0.5 * (inside + outside);
            if mid == inside || mid == outside {
                break;
            }
            if ln_pdf(mid) >= target {
                inside = mid;
            } else {
                outside = mid;
            }
        }
        outside
    };
    (edge(0.0), edge(1.0))
}

/// Gauss–Kronrod 15-point nodes on `[-1, 1]` (non-negative half) and weights; the odd
/// indices (and the centre) are the 7-point Gauss nodes.
const GK_NODES: [f64; 8] = [
    0.9914553711208126,
    0.9491079123427585,
    0.8648644233597691,
    0.7415311855993945,
    0.5860872354676911,
    0.4058451513773972,
    0.20778495500789848,
    0.0,
];
const GK_WEIGHTS: [f64; 8] = [
    0.022935322010529224,
    0.06309209262997856,
    0.10479001032225019,
    0.14065325971552592,
    0.1690047266392679,
    0.19035057806478542,
    0.20443294007529889,
    0.20948214108472782,
];
const GAUSS_WEIGHTS: [f64; 4] = [
    0.1294849661688697,
    0.27970539148927664,
    0.3818300505051189,
    0.4179591836734694,
];

/// One G7/K15 panel: the Kronrod estimate and `|K − G|`.
fn gauss_kronrod(f: &impl Fn(f64) -> f64, lo: f64, hi: f64) -> (f64, f64) {
    let center = 0.5 * (lo + hi);
    let half = 0.5 * (hi - lo);
    let fc = f(center);
    let mut kronrod = fc * GK_WEIGHTS[7];
    let mut gauss = fc * GAUSS_WEIGHTS[3];
    for (j, (&node, &weight)) in GK_NODES[..7].iter().zip(&GK_WEIGHTS[..7]).enumerate() {
        let dx = half * node;
        let pair = f(center - dx) + f(center + dx);
        kronrod += weight * pair;
        if j % 2 == 1 {
            gauss += GAUSS_WEIGHTS[j / 2] * pair;
        }
    }
    (kronrod * half, (kronrod - gauss).abs() * half)
}

/// Adaptive Gauss–Kronrod over consecutive panels `breaks[i]..breaks[i+1]`: a panel is
/// halved until `|K − G|` is below 1e-10 of its value or its share of 1e-14 (absolute;
/// `|K − G|` overstates the Kronrod error by orders of magnitude on smooth integrands).
fn integrate(f: &impl Fn(f64) -> f64, breaks: &[f64]) -> f64 {
    const ABS_TOL: f64 = 1e-14;
    const REL_TOL: f64 = 1e-10;
    const MAX_DEPTH: u32 = 30;
    let (Some(&first), Some(&last)) = (breaks.first(), breaks.last()) else {
        return 0.0;
    };
    let width = last - first;
    if width <= 0.0 {
        return 0.0;
    }
    let mut total = 0.0;
    let mut stack: Vec<(f64, f64, u32)> = breaks.windows(2).map(|w| (w[0], w[1], 0)).collect();
    while let Some((lo, hi, depth)) = stack.pop() {
        let (value, error) = gauss_kronrod(f, lo, hi);
        let tolerance = (ABS_TOL * (hi - lo) / width).max(REL_TOL * value.abs());
        if error <= tolerance || depth >= MAX_DEPTH {
            total += value;
        } else {
            let mid = 0.5 * (lo + hi);
            stack.push((lo, mid, depth + 1));
            stack.push((mid, hi, depth + 1));
        }
    }
    total
}

/// Panels per posterior's mass interval (±10 sd for a bell-shaped posterior, so about
/// 1.25 sd a panel; the adaptive rule halves a panel where that is not enough).
const PANELS: usize = 16;

/// `P(X > Y)` (`greater`) or `P(X < Y)` for independent `X ~ Beta(x.0, x.1)` and
/// `Y ~ Beta(y.0, y.1)` (all parameters ≥ 1): `∫ f_X(t)·F_Y(t) dt` or
/// `∫ f_X(t)·(1 − F_Y(t)) dt` over where both matter, panels from both posteriors'
/// mass intervals (so a narrow posterior next to a wide one is still resolved).
fn prob_beta_beats(x: (f64, f64), y: (f64, f64), greater: bool) -> Option<f64> {
    let y_dist = Beta::new(y.0, y.1).ok()?;
    let (x_lo, x_hi) = mass_bounds(x.0, x.1);
    let (y_lo, y_hi) = mass_bounds(y.0, y.1);
    // Below y_lo, F_Y is negligible; above y_hi, 1 − F_Y is.
    let (lo, hi) = if greater {
        (x_lo.max(y_lo), x_hi)
    } else {
        (x_lo, x_hi.min(y_hi))
    };
    if lo >= hi {
        return Some(0.0);
    }
    let mut points: Vec<f64> = [(x_lo, x_hi), (y_lo, y_hi)]
        .iter()
        .flat_map(|&(a, b)| (0..=PANELS).map(move |i| a + (b - a) * i as f64 / PANELS as f64))
        .filter(|&t| t > lo && t < hi)
        .collect();
    points.push(lo);
    points.push(hi);
    points.sort_by(f64::total_cmp);
    // Merge points closer than half the finer grid's step (the grids nearly coincide
    // when the arms are alike, and slivers only cost evaluations).
    let step = ((x_hi - x_lo).min(y_hi - y_lo) / PANELS as f64).max(f64::MIN_POSITIVE);
    let mut breaks: Vec<f64> = Vec::with_capacity(points.len());
    for t in points {
        match breaks.last() {
            Some(&prev) if t - prev < 0.5 * step => {}
            _ => breaks.push(t),
        }
    }
    if let Some(end) = breaks.last_mut() {
        *end = hi;
    }
    if breaks.len() < 2 {
        breaks = vec![lo, hi];
    }
    let ln_norm = ln_beta(x.0, x.1);
    let f = |t: f64| {
        let tail = if greater { y_dist.cdf(t) } else { y_dist.sf(t) };
        if tail <= 0.0 {
            return 0.0;
        }
        (ln_beta_pdf(x.0, x.1, ln_norm, t) + tail.ln()).exp()
    };
    let p = integrate(&f, &breaks).clamp(0.0, 1.0);
    p.is_finite().then_some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(name: &str, n: u64, x: u64) -> ArmCounts {
        ArmCounts {
            name: name.into(),
            weight: 1.0,
            n,
            conversions: Some(x),
            mean: None,
            sd: None,
        }
    }

    fn num(name: &str, n: u64, mean: f64, sd: f64) -> ArmCounts {
        ArmCounts {
            name: name.into(),
            weight: 1.0,
            n,
            conversions: None,
            mean: Some(mean),
            sd: Some(sd),
        }
    }

    fn run(arms: Vec<ArmCounts>) -> Analysis {
        analyze(&Counts { variants: arms }, &Settings::default()).unwrap()
    }

    /// Evan Miller's closed form of `P(p_B > p_A)` for integer Beta parameters:
    /// `Σ_{i<α_B} B(α_A+i, β_A+β_B) / ((β_B+i)·B(1+i, β_B)·B(α_A, β_A))`.
    fn closed_form(a: (f64, f64), b: (f64, f64)) -> f64 {
        let (alpha_a, beta_a) = a;
        let (alpha_b, beta_b) = b;
        (0..alpha_b as u64)
            .map(|i| {
                let i = i as f64;
                (ln_beta(alpha_a + i, beta_a + beta_b)
                    - (beta_b + i).ln()
                    - ln_beta(1.0 + i, beta_b)
                    - ln_beta(alpha_a, beta_a))
                .exp()
            })
            .sum()
    }

    #[test]
    fn integration_matches_the_closed_form() {
        let cases = [
            ((4.0, 5.0), (6.0, 4.0)),
            ((1.0, 1.0), (1.0, 1.0)),
            ((1.0, 51.0), (3.0, 49.0)),
            ((41.0, 161.0), (56.0, 146.0)),
            ((1.0, 2.0), (30.0, 3.0)),
            ((101.0, 901.0), (131.0, 871.0)),
            ((3.0, 998.0), (2.0, 11.0)),
            ((501.0, 9501.0), (541.0, 9461.0)),
        ];
        for (a, b) in cases {
            let exact = closed_form(a, b);
            let got = prob_beta_beats(b, a, true).unwrap();
            assert!((got - exact).abs() < 1e-9, "{a:?} {b:?}: {got} vs {exact}");
            // The other direction, integrated with the survival function.
            let lower = prob_beta_beats(b, a, false).unwrap();
            assert!(
                (lower - (1.0 - exact)).abs() < 1e-9,
                "{a:?} {b:?}: {lower} vs {}",
                1.0 - exact
            );
        }
    }

    #[test]
    fn integration_handles_narrow_posteriors() {
        // 100,000 exposures an arm: posteriors a few 1e-3 wide.
        let a = (1.0 + 10_000.0, 1.0 + 90_000.0);
        let b = (1.0 + 10_300.0, 1.0 + 89_700.0);
        let p = prob_beta_beats(b, a, true).unwrap();
        let q = prob_beta_beats(b, a, false).unwrap();
        assert!((p + q - 1.0).abs() < 1e-9, "{p} + {q}");
        // Normal approximation: diff 0.003, sd ≈ sqrt(2·0.1·0.9/1e5) ≈ 0.00134, z ≈ 2.24.
        assert!((p - 0.9874).abs() < 2e-3, "{p}");
        // A tiny arm against a huge one: the narrow control is resolved.
        let p = prob_beta_beats((2.0, 9.0), a, true).unwrap();
        let exact = closed_form(a, (2.0, 9.0));
        assert!((p - exact).abs() < 1e-9, "{p} vs {exact}");
        // Far apart: 0 and 1, finite.
        assert_eq!(prob_beta_beats((1.0, 100_001.0), b, true), Some(0.0));
        assert!((prob_beta_beats((1.0, 100_001.0), b, false).unwrap() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn mass_bounds_cover_skewed_posteriors() {
        let (lo, hi) = mass_bounds(1.0, 1001.0);
        assert_eq!(lo, 0.0);
        // (1 − x)^1000 drops by e^50 at x ≈ 0.049.
        assert!((hi - 0.0488).abs() < 1e-3, "{hi}");
        assert_eq!(mass_bounds(1.0, 1.0), (0.0, 1.0));
    }

    #[test]
    fn wilson_at_the_edges() {
        let z = Normal::standard().inverse_cdf(0.975);
        let [lo, hi] = wilson(0, 20, z);
        assert_eq!(lo, 0.0);
        assert!((hi - 0.16112515).abs() < 1e-7, "{hi}");
        let [lo, hi] = wilson(20, 20, z);
        assert!((lo - (1.0 - 0.16112515)).abs() < 1e-7, "{lo}");
        assert_eq!(hi, 1.0);
        let [lo, hi] = wilson(5, 10, z);
        assert!((lo + hi - 1.0).abs() < 1e-12);
    }

    #[test]
    fn t_quantile_is_polished() {
        // scipy.stats.t.ppf(0.975, df)
        for (df, want) in [
            (1.0, 12.706204736174694),
            (5.5, 2.501858617589239),
            (37.3, 2.0256425230779604),
            (99998.0, 1.959987708009084),
        ] {
            let q = t_quantile(df).unwrap();
            assert!((q - want).abs() < 1e-10 * want, "df {df}: {q} vs {want}");
        }
    }

    #[test]
    fn always_valid_p_is_finite_for_huge_evidence() {
        let p = always_valid_p(0.5, 1e-12, 0.05);
        assert_eq!(p, 0.0);
        assert_eq!(always_valid_p(0.0, 1e-4, 0.05), 1.0);
        let p = always_valid_p(0.01, 1e-5, 0.05);
        assert!(p > 0.0 && p < 1.0);
    }

    #[test]
    fn degenerate_conversions_give_none_and_notes() {
        let a = run(vec![conv("a", 0, 0), conv("b", 50, 5)]);
        let (c, b) = (&a.variants[0], &a.variants[1]);
        assert_eq!((c.rate, c.rate_ci95), (None, None));
        assert!(c.notes.iter().any(|n| n.contains("empty arm")));
        assert_eq!(
            (b.diff, b.p_value, b.prob_beats_control),
            (None, None, None)
        );
        assert!(b.notes.iter().any(|n| n.contains("control arm is empty")));

        let a = run(vec![conv("a", 100, 0), conv("b", 100, 0)]);
        let b = &a.variants[1];
        assert_eq!(b.diff, Some(0.0));
        assert_eq!(
            (b.z, b.p_value, b.diff_ci95, b.lift),
            (None, None, None, None)
        );
        assert!(b.notes.iter().any(|n| n.contains("pooled variance is 0")));
        assert!(b.notes.iter().any(|n| n.contains("control rate is 0")));
        assert!(b.prob_beats_control.is_some_and(|p| (p - 0.5).abs() < 1e-9));
        assert_eq!(a.winner, None);
        let json = serde_json::to_string(&a).unwrap();
        assert!(!json.contains("NaN") && !json.contains("inf"), "{json}");

        let a = run(vec![conv("a", 100, 100), conv("b", 100, 100)]);
        assert!(a.variants[1]
            .notes
            .iter()
            .any(|n| n.contains("every exposure converted")));
    }

    #[test]
    fn degenerate_numeric_give_none_and_notes() {
        let a = run(vec![num("a", 40, 0.0, 0.0), num("b", 40, 0.0, 0.0)]);
        let b = &a.variants[1];
        assert_eq!((b.t, b.p_value, b.lift), (None, None, None));
        assert!(b.notes.iter().any(|n| n.contains("both sds are 0")));
        assert!(b.notes.iter().any(|n| n.contains("control mean is 0")));
        let one = ArmCounts {
            sd: None,
            ..num("b", 1, 3.0, 0.0)
        };
        let a = run(vec![num("a", 40, 2.0, 1.0), one]);
        let b = &a.variants[1];
        assert_eq!(
            (b.mean, b.sd, b.mean_ci95, b.p_value),
            (Some(3.0), None, None, None)
        );
        assert!(b.notes.iter().any(|n| n.contains("fewer than 2")));
        let json = serde_json::to_string(&a).unwrap();
        assert!(!json.contains("NaN"), "{json}");
    }

    #[test]
    fn invalid_input_is_rejected() {
        let bad = |arms: Vec<ArmCounts>| analyze(&Counts { variants: arms }, &Settings::default());
        let message = |r: Result<Analysis>| match r {
            Err(Error::Analysis(m)) => m,
            other => panic!("expected an analysis error, got {other:?}"),
        };
        assert!(message(bad(vec![conv("a", 10, 1)])).contains("at least two arms"));
        assert!(message(bad(vec![conv("a", 10, 1), conv("a", 10, 1)])).contains("more than once"));
        assert!(message(bad(vec![conv("a", 10, 1), conv(" ", 10, 1)])).contains("empty name"));
        assert_eq!(
            message(bad(vec![conv("a", 10, 1), conv("b", 10, 12)])),
            "variant \"b\": 12 conversions out of 10 exposures"
        );
        let heavy = ArmCounts {
            weight: 0.0,
            ..conv("b", 10, 1)
        };
        assert!(message(bad(vec![conv("a", 10, 1), heavy])).contains("weight"));
        let none = ArmCounts {
            conversions: None,
            ..conv("b", 10, 1)
        };
        assert!(message(bad(vec![conv("a", 10, 1), none])).contains("no conversions"));
        assert!(message(bad(vec![conv("a", 10, 1), num("b", 10, 1.0, 1.0)])).contains("same"));
        assert!(
            message(bad(vec![num("a", 10, 1.0, 1.0), num("b", 10, 1.0, -1.0)]))
                .contains("sd must be")
        );
        assert!(message(bad(vec![
            num("a", 10, f64::NAN, 1.0),
            num("b", 10, 1.0, 1.0)
        ]))
        .contains("mean must be"));
        // A negative mean is an outcome like any other; only the lift is undefined.
        let a = analyze(
            &Counts {
                variants: vec![num("a", 40, -2.0, 1.0), num("b", 40, -1.5, 1.0)],
            },
            &Settings::default(),
        )
        .unwrap();
        let b = &a.variants[1];
        assert!(b.p_value.is_some() && b.lift.is_none());
        assert!(b
            .notes
            .iter()
            .any(|n| n.contains("control mean is negative")));
        let settings = Settings {
            alpha: 1.0,
            ..Settings::default()
        };
        let counts = Counts {
            variants: vec![conv("a", 10, 1), conv("b", 10, 2)],
        };
        assert!(message(analyze(&counts, &settings)).contains("alpha"));
        let settings = Settings {
            sequential_tau: Some(0.0),
            ..Settings::default()
        };
        assert!(message(analyze(&counts, &settings)).contains("sequential_tau"));
    }

    #[test]
    fn formats_p_values_for_sentences() {
        assert_eq!(fmt_p(0.0012), "0.0012");
        assert_eq!(fmt_p(0.05), "0.05");
        assert_eq!(fmt_p(0.025), "0.025");
        assert_eq!(fmt_p(0.21), "0.21");
        assert_eq!(fmt_p(1.0), "1");
        assert_eq!(fmt_p(6.334e-5), "6.3e-05");
        assert_eq!(fmt_p(9.97e-5), "1e-04");
        assert_eq!(fmt_p(2e-300), "2e-300");
    }

    #[test]
    fn decrease_direction_prefers_lower() {
        let settings = Settings {
            direction: Direction::Decrease,
            ..Settings::default()
        };
        let counts = Counts {
            variants: vec![conv("a", 2000, 200), conv("b", 2000, 120)],
        };
        let a = analyze(&counts, &settings).unwrap();
        assert_eq!(a.winner.as_deref(), Some("b"), "{}", a.verdict);
        assert!(a.variants[1].prob_beats_control.unwrap() > 0.99);
        let counts = Counts {
            variants: vec![conv("a", 2000, 120), conv("b", 2000, 200)],
        };
        let a = analyze(&counts, &settings).unwrap();
        assert_eq!(a.winner.as_deref(), Some("a"), "{}", a.verdict);
        assert!(
            a.verdict.starts_with("control \"a\" beats \"b\""),
            "{}",
            a.verdict
        );
    }
}
