//! `qualify analytics`: a tenant's funnel, class mix, time to hot, question answer
//! rates, follow-up response by stage, opt-outs and experiments over a range of days,
//! as JSON (the same as `GET /v1/analytics`) or as tables for a person.

use super::{open_with_store, print_json, DataArgs};
use anyhow::Result;
use clap::{Args, ValueEnum};
use qualify_engine::conversation::{Analytics, DayRange};
use std::io::Write;
use std::path::PathBuf;

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// The JSON of `GET /v1/analytics`.
    Json,
    /// Tables for a person.
    Table,
}

/// Arguments of `qualify analytics`.
#[derive(Args)]
pub struct AnalyticsArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Rules folder (default: ./rules if present, else the embedded defaults).
    #[arg(long, value_name = "DIR")]
    rules: Option<PathBuf>,
    /// First day, YYYY-MM-DD (UTC; default: 29 days before --to).
    #[arg(long, value_name = "DATE")]
    from: Option<String>,
    /// Last day, YYYY-MM-DD (UTC; default: today).
    #[arg(long, value_name = "DATE")]
    to: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// Runs `qualify analytics`.
pub fn run(args: AnalyticsArgs, out: &mut impl Write) -> Result<()> {
    let tenant = args.data.tenant()?;
    let day = |name, v: &Option<String>| {
        v.as_deref()
            .map(|v| DayRange::parse_day(name, v))
            .transpose()
    };
    let (from, to) = (day("from", &args.from)?, day("to", &args.to)?);
    let (engine, _) = open_with_store(args.rules.as_deref(), &args.data.store)?;
    let report = engine.analytics(&tenant, DayRange::new(from, to, engine.today())?)?;
    match args.format {
        Format::Json => print_json(out, &report),
        Format::Table => Ok(out.write_all(table(&report).as_bytes())?),
    }
}

fn pct(r: Option<f64>) -> String {
    r.map_or("-".into(), |r| format!("{:.1} %", r * 100.0))
}

fn num(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.1}"))
}

/// The report as aligned text tables.
pub fn table(r: &Analytics) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let f = &r.funnel;
    let _ = writeln!(
        s,
        "Analytics for {} from {} to {} (UTC)\n",
        r.tenant, r.from, r.to
    );
    let _ = writeln!(s, "Funnel (contacts first seen in the range)");
    let _ = writeln!(s, "  {:<12} {:>8} {:>10}", "stage", "contacts", "of prior");
    let _ = writeln!(s, "  {:<12} {:>8} {:>10}", "new", f.contacts, "");
    for (name, n, conv) in [
        ("warm", f.warm, r.conversion.warm),
        ("hot", f.hot, r.conversion.hot),
        ("handed off", f.handed_off, r.conversion.handed_off),
    ] {
        let _ = writeln!(s, "  {name:<12} {n:>8} {:>10}", pct(conv));
    }
    let _ = writeln!(
        s,
        "\nInbound messages: {}   Opt-outs: {} ({})",
        r.messages.inbound,
        r.opt_outs.count,
        pct(r.opt_outs.rate)
    );
    let t = &r.to_hot;
    let _ = writeln!(
        s,
        "Time to hot ({} contacts): median {} min, p90 {} min; messages median {}, p90 {}",
        t.contacts,
        num(t.median_minutes),
        num(t.p90_minutes),
        num(t.median_messages),
        num(t.p90_messages)
    );
    let _ = writeln!(s, "\nQuestions");
    let _ = writeln!(
        s,
        "  {:<24} {:>7} {:>14} {:>8}",
        "question", "asked", "answered next", "rate"
    );
    if r.questions.is_empty() {
        let _ = writeln!(s, "  (none asked in the range)");
    }
    for q in &r.questions {
        let _ = writeln!(
            s,
            "  {:<24} {:>7} {:>14} {:>8}",
            q.id,
            q.asked,
            q.answered_next,
            pct(q.answer_rate)
        );
    }
    let _ = writeln!(s, "\nFollow-ups");
    let _ = writeln!(
        s,
        "  {:<8} {:>7} {:>8} {:>8}",
        "stage", "sent", "replied", "rate"
    );
    for x in &r.followups {
        let _ = writeln!(
            s,
            "  {:<8} {:>7} {:>8} {:>8}",
            format!("{} h", x.stage_hours),
            x.sent,
            x.replied,
            pct(x.response_rate)
        );
    }
    let _ = writeln!(s, "\nClass mix at the end of each day");
    let _ = writeln!(
        s,
        "  {:<10} {:>7} {:>7} {:>7}",
        "day", "cold", "warm", "hot"
    );
    for d in &r.classes_by_day {
        let _ = writeln!(
            s,
            "  {:<10} {:>7} {:>7} {:>7}",
            d.day, d.cold, d.warm, d.hot
        );
    }
    for x in &r.experiments {
        let _ = writeln!(
            s,
            "\nExperiment {} ({:?}, {}): {}",
            x.key, x.status, x.metric, x.verdict
        );
        for a in &x.variants {
            let ci = a.rate_ci95.map_or("-".into(), |[lo, hi]| {
                format!("{} – {}", pct(Some(lo)), pct(Some(hi)))
            });
            let _ = writeln!(
                s,
                "  {:<16} n {:>6}  rate {:>8}  95 % {}",
                a.name,
                a.n,
                pct(a.rate),
                ci
            );
        }
    }
    let llm = &r.llm;
    if *llm != Default::default() {
        let _ = writeln!(
            s,
            "\nHybrid extraction: {} calls ({} answered, {} failed), {} from the cache, {} over the daily budget; {} prompt + {} completion tokens",
            llm.calls,
            llm.answered,
            llm.failed,
            llm.cached,
            llm.over_budget,
            llm.prompt_tokens,
            llm.completion_tokens
        );
    }
    if r.unreadable_days > 0 {
        let _ = writeln!(
            s,
            "\nwarning: {} day rows could not be opened and were left out",
            r.unreadable_days
        );
    }
    s
}
