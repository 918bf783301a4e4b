//! Tenants' rule sets: reading a tenant's folder and inheriting the default's files,
//! settings, the Rhai sandbox and its helpers, compiling, converting values to and from
//! Rhai, running a hook with its errors located in `file:line:column`, the catalog of
//! serving rule sets (reload keeps the previous version when a new one fails), and rule
//! cases as data.

mod cases;
mod catalog;
mod compile;
mod folder;
mod sandbox;
mod settings;
mod values;

pub(crate) use cases::run as run_cases;
pub use cases::{CaseResult, CasesReport};
pub use catalog::ReloadReport;
pub(crate) use catalog::{Catalog, Lookup};
pub(crate) use folder::Source;
pub use sandbox::Limits;
pub(crate) use settings::{LimitSettings, Settings};
pub(crate) use values::{HookLead, Scored};

use crate::error::{Error, Result};
use crate::ids::TenantId;
pub use crate::ids::DEFAULT_TENANT;
use crate::model::Question;
use crate::text::extract::Extractor;
use rhai::{CallFnOptions, Dynamic, Scope, AST, INT};
use sandbox::{line_col, locate, Cfg, Sandbox};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// Script hooks every rule set defines, and the number of parameters each takes.
const HOOKS: [(&str, usize); 2] = [("score", 2), ("next_question", 3)];

/// A tenant's compiled, ready-to-run rule set. Immutable: a reload builds a new one.
pub(crate) struct RuleSet {
    pub id: TenantId,
    sandbox: Arc<Sandbox>,
    pub settings: Settings,
    cfg: Cfg,
    ast: AST,
    /// Where each function is defined: file, line, column (for runtime error locations,
    /// since some limit errors carry no position of their own).
    fn_locs: HashMap<String, (PathBuf, usize, usize)>,
    pub extractor: Extractor,
    pub cases: Option<Source>,
    /// The file scripts' errors are reported against when no function is known.
    main_file: PathBuf,
    /// The settings file errors about settings are reported against.
    pub yaml_file: PathBuf,
}

impl RuleSet {
    /// `cfg` as a Rhai value (an `Arc` clone, no copying).
    fn cfg(&self) -> Dynamic {
        Dynamic::from(self.cfg.clone())
    }

    /// The `score(lead, cfg)` hook.
    pub fn score(&self, lead: &HookLead) -> Result<Scored> {
        let raw = self.call("score", (lead.0.clone(), self.cfg()))?;
        Scored::read(self.id.as_str(), raw)
    }

    /// The `next_question(lead, result, cfg)` hook; `None` when nothing is to be asked.
    pub fn next_question(&self, lead: &HookLead, scored: &Scored) -> Result<Option<Question>> {
        let q = self.call(
            "next_question",
            (lead.0.clone(), scored.raw.clone(), self.cfg()),
        )?;
        values::read_question(self.id.as_str(), q)
    }

    /// True when the scripts define the optional `followup(lead, hours, cfg)` hook.
    pub fn has_followup_hook(&self) -> bool {
        self.ast
            .iter_functions()
            .any(|f| f.name == "followup" && f.params.len() == 3)
    }

    /// The `followup(lead, hours, cfg)` hook: the text for a stage, or `None` for none.
    pub fn followup(&self, lead: &HookLead, hours: u32) -> Result<Option<String>> {
        let out = self.call(
            "followup",
            (lead.0.clone(), Dynamic::from(hours as INT), self.cfg()),
        )?;
        values::read_followup(self.id.as_str(), out)
    }

    /// Runs one hook in the sandbox; an error names the file, line and column.
    fn call(&self, hook: &str, args: impl rhai::FuncArgs) -> Result<Dynamic> {
        let mut scope = Scope::new();
        let options = CallFnOptions::new().eval_ast(false).rewind_scope(true);
        self.sandbox
            .rhai
            .call_fn_with_options::<Dynamic>(options, &mut scope, &self.ast, hook, args)
            .map_err(|e| {
                let (func, pos, message) = locate(&e, &self.sandbox.limits);
                let func = func.unwrap_or_else(|| hook.to_string());
                let (file, def_line, def_col) = self
                    .fn_locs
                    .get(&func)
                    .cloned()
                    .unwrap_or_else(|| (self.main_file.clone(), 0, 0));
                // Limit errors may carry no position: point at the function instead.
                let (line, column) = match line_col(pos) {
                    (0, _) => (def_line, def_col),
                    lc => lc,
                };
                Error::Script {
                    tenant: self.id.to_string(),
                    hook: hook.to_string(),
                    file,
                    line,
                    column,
                    message: format!("in fn {func}: {message}"),
                }
            })
    }
}
