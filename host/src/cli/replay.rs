//! `qualify replay`: every stored conversation of a tenant decided again under a candidate
//! rule folder and under the serving version; what changed, as a table or JSON. The store
//! is opened read-only: a replay writes nothing and queues nothing.

use super::analytics::Format;
use super::{engine_builder, print_json, DataArgs};
use anyhow::{Context, Result};
use clap::Args;
use qualify_engine::conversation::{
    Changes, DayRange, Example, ReplayOptions, ReplayReport, Transition,
};
use qualify_engine::model::Class;
use std::io::Write;
use std::path::PathBuf;

/// Arguments of `qualify replay`.
#[derive(Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Rules folder with the serving versions (default: ./rules if present, else the
    /// embedded defaults).
    #[arg(long, value_name = "DIR")]
    rules: Option<PathBuf>,
    /// The candidate rule folder, laid over the tenant's folder: it holds only the files
    /// that change (a `tenant.yaml` alone inherits every script).
    #[arg(long, value_name = "DIR")]
    candidate: PathBuf,
    /// Only messages written on or after this day, YYYY-MM-DD (UTC).
    #[arg(long, value_name = "DATE")]
    from: Option<String>,
    /// Only messages written on or before this day, YYYY-MM-DD (UTC).
    #[arg(long, value_name = "DATE")]
    to: Option<String>,
    /// Examples shown per kind of change.
    #[arg(long, value_name = "N", default_value_t = 3)]
    examples: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// Runs `qualify replay`.
pub fn run(args: ReplayArgs, out: &mut impl Write) -> Result<()> {
    let tenant = args.data.tenant()?;
    let day = |name, v: &Option<String>| {
        v.as_deref()
            .map(|v| DayRange::parse_day(name, v))
            .transpose()
    };
    let options = ReplayOptions {
        from: day("from", &args.from)?,
        to: day("to", &args.to)?,
        examples: args.examples,
    };
    let store = crate::keys::open_store_read_only(&args.data.store, &mut std::io::stderr())?;
    let engine = engine_builder(args.rules.as_deref()).store(store).build()?;
    let bar = std::io::IsTerminal::is_terminal(&std::io::stderr()).then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} conversations replayed ({eta} left)",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let report = engine
        .replay(&tenant, &args.candidate, &options, &|done, total| {
            if let Some(b) = &bar {
                b.set_length(total as u64);
                b.set_position(done as u64);
            }
        })
        .with_context(|| format!("replaying tenant {tenant}"))?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    match args.format {
        Format::Json => print_json(out, &report),
        Format::Table => Ok(out.write_all(table(&report).as_bytes())?),
    }
}

fn pct(n: usize, of: usize) -> String {
    if of == 0 {
        "-".into()
    } else {
        format!("{:.1} %", n as f64 * 100.0 / of as f64)
    }
}

/// Changed decisions by kind and the class transition matrix, for a person (replay and
/// shadow mode print the same).
pub fn changes(s: &mut String, c: &Changes, compared: usize, transitions: &[Transition]) {
    use std::fmt::Write as _;
    let _ = writeln!(s, "\nChanged decisions");
    for (what, n) in [
        ("any", c.any),
        ("class", c.class),
        ("score", c.score),
        ("tags", c.tags),
        ("next question", c.question),
        ("hand-off", c.handoff),
    ] {
        let _ = writeln!(s, "  {what:<14} {n:>8}  {:>8}", pct(n, compared));
    }
    let _ = writeln!(s, "\nClass transitions (serving → candidate)");
    let classes = [Class::Hot, Class::Warm, Class::Cold];
    let _ = write!(s, "  {:<6}", "");
    for to in classes {
        let _ = write!(s, "{:>9}", format!("→ {}", to.as_str()));
    }
    let _ = writeln!(s);
    for from in classes {
        let _ = write!(s, "  {:<6}", from.as_str());
        for to in classes {
            let n = transitions
                .iter()
                .find(|t| t.from == from && t.to == to)
                .map_or(0, |t| t.count);
            let _ = write!(s, "{n:>9}");
        }
        let _ = writeln!(s);
    }
}

/// The report for a person.
pub fn table(r: &ReplayReport) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Replay of tenant {}: serving {} vs candidate {}",
        r.tenant, r.serving_version, r.candidate_version
    );
    if r.from.is_some() || r.to.is_some() {
        let show = |d: Option<jiff::civil::Date>| d.map_or("…".into(), |d| d.to_string());
        let _ = writeln!(s, "Messages from {} to {} (UTC)", show(r.from), show(r.to));
    }
    let _ = writeln!(s, "Basis: {}\n", r.basis);
    let _ = writeln!(
        s,
        "{} conversations ({} unreadable, {} at the history limit), {} inbound messages, {} decisions compared",
        r.contacts, r.unreadable, r.at_history_limit, r.messages, r.compared
    );
    changes(&mut s, &r.changed, r.compared, &r.transitions);
    let f = &r.failures;
    if f.serving + f.candidate > 0 {
        let _ = writeln!(
            s,
            "\nRules failed: serving on {} messages, candidate on {}",
            f.serving, f.candidate
        );
        for (who, first) in [
            ("serving", &f.serving_first),
            ("candidate", &f.candidate_first),
        ] {
            if let Some(e) = first {
                let _ = writeln!(s, "  {who}, first: {e}");
            }
        }
    }
    let e = &r.examples;
    for (what, list) in [
        ("class", &e.class),
        ("score", &e.score),
        ("tags", &e.tags),
        ("next question", &e.question),
        ("hand-off", &e.handoff),
    ] {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(s, "\nExamples: {what} changed");
        for x in list {
            example(&mut s, x);
        }
    }
    s
}

fn example(s: &mut String, x: &Example) {
    use std::fmt::Write as _;
    let side = |o: &qualify_engine::conversation::Side| {
        format!(
            "{} (score {}), question {}{}, tags {:?}",
            o.class.as_str(),
            o.score,
            o.question.as_deref().unwrap_or("none"),
            if o.handoff { " (hand-off)" } else { "" },
            o.tags
        )
    };
    let _ = writeln!(
        s,
        "  contact {}, inbound message {}: {:?}",
        x.contact, x.message, x.text
    );
    let _ = writeln!(s, "    serving:   {}", side(&x.serving));
    let _ = writeln!(s, "    candidate: {}", side(&x.candidate));
}
