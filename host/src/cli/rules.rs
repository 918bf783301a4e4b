//! `qualify check` and `qualify test`: validate every tenant's rules, run every tenant's
//! cases.

use super::{open_engine, RulesArg};
use anyhow::Result;
use clap::Args;
use qualify_engine::Engine;
use std::io::Write;
use std::process::ExitCode;

fn code(problems: usize) -> ExitCode {
    if problems > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Runs `qualify check`.
pub fn run_check(args: RulesArg, out: &mut impl Write) -> Result<ExitCode> {
    let engine = open_engine(args.rules.as_deref())?;
    Ok(code(check(&engine, out)?))
}

/// Arguments of `qualify test`.
#[derive(Args)]
pub struct TestArgs {
    #[command(flatten)]
    rules: RulesArg,
    /// Also report, per tenant script, the lines and the branches of `if`/`switch` the
    /// cases never ran, and the data points, classes and questions no case reaches.
    #[arg(long)]
    coverage: bool,
    /// Run the cases (and coverage) of each tenant's `candidate/` instead of its serving
    /// version (the candidate's own `cases.yaml`, else the tenant's); tenants without a
    /// candidate are skipped.
    #[arg(long)]
    candidate: bool,
}

/// Which version `qualify test` runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Version {
    Serving,
    Candidate,
}

/// Runs `qualify test`.
pub fn run_test(args: TestArgs, out: &mut impl Write) -> Result<ExitCode> {
    let engine = open_engine(args.rules.rules.as_deref())?;
    let version = if args.candidate {
        Version::Candidate
    } else {
        Version::Serving
    };
    let failed = test(&engine, version, out)?;
    if args.coverage {
        coverage(&engine, version, out)?;
    }
    Ok(code(failed))
}

/// `qualify test --coverage`: per tenant and script, lines and branches run, each line
/// and branch never run as `file:line[:column]`, then what no case reaches.
fn coverage(engine: &Engine, version: Version, out: &mut impl Write) -> Result<()> {
    use qualify_engine::rules::BranchKind;
    for tenant in engine.rules().tenants() {
        let measured = match version {
            Version::Serving => engine.rules().coverage(&tenant).map(Some),
            Version::Candidate => engine.rules().candidate_coverage(&tenant),
        };
        let (cov, label) = match measured {
            Ok(Some(c)) if version == Version::Candidate => (c, format!("{tenant} (candidate)")),
            Ok(Some(c)) => (c, tenant.to_string()),
            Ok(None) => continue,
            Err(e) => {
                writeln!(out, "coverage {tenant}: not measured: {e}")?;
                continue;
            }
        };
        writeln!(
            out,
            "\ncoverage {label} ({} cases)",
            cov.cases.results.len()
        )?;
        for f in &cov.files {
            writeln!(
                out,
                "  {}: lines {}/{}, branches {}/{}",
                f.file.display(),
                f.lines_run,
                f.lines,
                f.branches_taken(),
                f.branches.len()
            )?;
            for l in &f.lines_not_run {
                writeln!(out, "    {}:{l}: line never run", f.file.display())?;
            }
            for b in f.branches.iter().filter(|b| b.hits == 0) {
                let what = match b.kind {
                    BranchKind::Then => "`if` branch never taken",
                    BranchKind::Else => "`else` branch never taken",
                    BranchKind::ImplicitElse => {
                        "`if` never false (its implicit `else` never taken)"
                    }
                    BranchKind::Case => "`switch` arm never taken",
                };
                writeln!(
                    out,
                    "    {}:{}:{}: {what}",
                    f.file.display(),
                    b.line,
                    b.column
                )?;
            }
        }
        let u = &cov.unreached;
        let list = |v: Vec<String>| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.join(", ")
            }
        };
        writeln!(
            out,
            "  data points no case counts: {}",
            list(u.data_points.clone())
        )?;
        let classes = u.classes.iter().map(|c| c.as_str().to_string()).collect();
        writeln!(out, "  classes no case reaches: {}", list(classes))?;
        writeln!(
            out,
            "  questions no case chooses: {}",
            list(u.questions.clone())
        )?;
    }
    Ok(())
}

/// `qualify check`: prints each problem as `file:line:column: message`; returns how many.
pub fn check(engine: &Engine, out: &mut impl Write) -> Result<usize> {
    let problems = engine.rules().check();
    for p in &problems {
        writeln!(out, "{p}")?;
    }
    if problems.is_empty() {
        let tenants: Vec<String> = engine
            .rules()
            .tenants()
            .iter()
            .map(ToString::to_string)
            .collect();
        writeln!(
            out,
            "ok: {} tenant(s) checked: {}",
            tenants.len(),
            tenants.join(", ")
        )?;
    }
    Ok(problems.len())
}

/// `qualify test`: runs every tenant's cases (or each candidate's); the last line is
/// `N passed, N failed`. Returns the number failed.
fn test(engine: &Engine, version: Version, out: &mut impl Write) -> Result<usize> {
    let (mut passed, mut failed) = (0, 0);
    let load = engine.rules().reload_all();
    for e in &load.errors {
        writeln!(out, "FAIL load: {e}")?;
        failed += 1;
    }
    let mut candidates = 0;
    for tenant in engine.rules().tenants() {
        let run = match version {
            Version::Serving => engine.rules().run_cases(&tenant).map(Some),
            Version::Candidate => engine.rules().run_candidate_cases(&tenant),
        };
        let label = match version {
            Version::Serving => String::new(),
            Version::Candidate => " (candidate)".to_string(),
        };
        match run {
            Ok(None) => continue,
            Ok(Some(report)) => {
                candidates += 1;
                for r in &report.results {
                    if r.passed() {
                        writeln!(out, "ok   {}{label}: {}", r.tenant, r.name)?;
                    } else {
                        writeln!(out, "FAIL {}{label}: {}", r.tenant, r.name)?;
                        for f in &r.failures {
                            writeln!(out, "       {f}")?;
                        }
                    }
                }
                passed += report.passed();
                failed += report.failed();
            }
            Err(e) => {
                candidates += 1;
                writeln!(out, "FAIL {tenant}{label}: {e}")?;
                failed += 1;
            }
        }
    }
    if version == Version::Candidate && candidates == 0 {
        writeln!(out, "no tenant folder holds a candidate/")?;
    }
    writeln!(out, "{passed} passed, {failed} failed")?;
    Ok(failed)
}
