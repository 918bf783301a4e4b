//! `qualify check` and `qualify test`: validate every tenant's rules, run every tenant's
//! cases.

use super::{open_engine, RulesArg};
use anyhow::Result;
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

/// Runs `qualify test`.
pub fn run_test(args: RulesArg, out: &mut impl Write) -> Result<ExitCode> {
    let engine = open_engine(args.rules.as_deref())?;
    Ok(code(test(&engine, out)?))
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

/// `qualify test`: runs every tenant's cases; the last line is `N passed, N failed`.
/// Returns the number failed.
pub fn test(engine: &Engine, out: &mut impl Write) -> Result<usize> {
    let (mut passed, mut failed) = (0, 0);
    let load = engine.rules().reload_all();
    for e in &load.errors {
        writeln!(out, "FAIL load: {e}")?;
        failed += 1;
    }
    for tenant in engine.rules().tenants() {
        match engine.rules().run_cases(&tenant) {
            Ok(report) => {
                for r in &report.results {
                    if r.passed() {
                        writeln!(out, "ok   {}: {}", r.tenant, r.name)?;
                    } else {
                        writeln!(out, "FAIL {}: {}", r.tenant, r.name)?;
                        for f in &r.failures {
                            writeln!(out, "       {f}")?;
                        }
                    }
                }
                passed += report.passed();
                failed += report.failed();
            }
            Err(e) => {
                writeln!(out, "FAIL {tenant}: {e}")?;
                failed += 1;
            }
        }
    }
    writeln!(out, "{passed} passed, {failed} failed")?;
    Ok(failed)
}
