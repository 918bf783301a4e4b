//! Compiling a tenant: the default folder's files overridden by the tenant's own, each
//! script compiled once (file by file, so errors name the file) and merged in order,
//! default files first, so a tenant function overrides a default one; `tenant.yaml`
//! deep-merged over the default's. Every problem found is returned, not just the first.

use super::folder::{Folder, Source};
use super::sandbox::{line_col, Cfg, Sandbox};
use super::settings::{merge, parse_yaml, Settings};
use super::{RuleSet, HOOKS};
use crate::error::Error;
use crate::experiment::{definition, Experiment};
use crate::ids::TenantId;
use crate::text::extract::Extractor;
use rhai::AST;
use serde_json::Value;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Compiled scripts by file name and text: a file shared by many tenants (an inherited
/// default script) is compiled once, and every tenant's rule set holds the same
/// functions.
#[derive(Default)]
pub(crate) struct ScriptCache(Mutex<HashMap<u64, CompiledFile>>);

/// One compiled file: its AST and where each function is defined.
#[derive(Clone)]
struct CompiledFile {
    ast: AST,
    fn_locs: Vec<(String, FnLoc)>,
}

/// Where a function is defined (line, column) and where its first loop starts, if it
/// has one (an operation limit carries no position: the loop is the likely culprit).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FnLoc {
    pub line: usize,
    pub column: usize,
    pub first_loop: Option<(usize, usize)>,
}

impl ScriptCache {
    /// The compiled form of `src`, from the cache or compiled now.
    fn get(&self, rhai: &rhai::Engine, src: &Source) -> Result<CompiledFile, rhai::ParseError> {
        let mut h = DefaultHasher::new();
        (&src.path, &src.text).hash(&mut h);
        let key = h.finish();
        if let Some(found) = self.lock().get(&key) {
            return Ok(found.clone());
        }
        let mut ast = rhai.compile(&src.text)?;
        ast.set_source(src.path.to_string_lossy().as_ref());
        let fn_locs = ast
            .iter_functions()
            .map(|f| {
                let (line, column) = definition(&src.text, f.name);
                let first_loop = first_loop(&src.text, line);
                let loc = FnLoc {
                    line,
                    column,
                    first_loop,
                };
                (f.name.to_string(), loc)
            })
            .collect();
        let compiled = CompiledFile { ast, fn_locs };
        self.lock().insert(key, compiled.clone());
        Ok(compiled)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, CompiledFile>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Compiles tenant `id` from the base folder and the folders laid over it, lowest first
/// (its own; a replay's candidate over that); none: the base alone. Each layer's files
/// override the ones below: scripts by name, `tenant.yaml` deep-merged, `cases.yaml` and
/// `experiments.yaml` from the highest layer that has one.
pub(crate) fn compile(
    sandbox: &Arc<Sandbox>,
    cache: &ScriptCache,
    id: &TenantId,
    base: &Folder,
    own: &[&Folder],
) -> Result<RuleSet, Vec<Error>> {
    let mut errors = Vec::new();
    let scripts = script_order(base, own);
    let main_file = scripts.first().map(|s| s.path.clone()).unwrap_or_default();
    let (ast, files, fn_locs) = compile_scripts(&sandbox.rhai, cache, id, &scripts, &mut errors);
    if errors.is_empty() {
        check_hooks(&ast, id, &main_file, &mut errors);
    }
    let (merged, yaml_file) = merged_settings(base, own, &mut errors);
    let settings = Settings::from_value(&merged, &yaml_file)
        .map_err(|e| errors.push(e))
        .ok();
    let extractor = settings.as_ref().and_then(|s| {
        Extractor::new(s.extractor_spec())
            .map_err(|message| {
                errors.push(Error::Settings {
                    file: yaml_file.clone(),
                    message,
                })
            })
            .ok()
    });
    let cfg = rhai::serde::to_dynamic(&merged)
        .map_err(|e| {
            errors.push(Error::Settings {
                file: yaml_file.clone(),
                message: e.to_string(),
            })
        })
        .ok()
        .and_then(|d| d.try_cast::<rhai::Map>());
    let experiments_src = own
        .iter()
        .rev()
        .find_map(|o| o.experiments.as_ref())
        .or(base.experiments.as_ref());
    let experiments = match experiments_src {
        Some(src) => definition::parse(&src.text, &src.path).unwrap_or_else(|mut e| {
            errors.append(&mut e);
            Vec::new()
        }),
        None => Vec::new(),
    };
    let mut rules = match (errors.is_empty(), settings, extractor, cfg) {
        (true, Some(settings), Some(extractor), Some(cfg)) => RuleSet {
            serial: super::next_serial(),
            values_serial: super::next_serial(),
            id: id.clone(),
            sandbox: sandbox.clone(),
            settings,
            cfg: Cfg(Arc::new(cfg)),
            ast,
            lowered: Arc::new(if sandbox.lowering {
                super::lower::lower(&files.iter().collect::<Vec<_>>(), &super::LOWERED_HOOKS)
            } else {
                super::lower::Lowered::none()
            }),
            fn_locs: Arc::new(fn_locs),
            extractor: Arc::new(extractor),
            // A tenant folder without cases of its own runs none (the default's cases
            // describe the default's settings); a candidate without any runs its tenant's.
            cases: match own.iter().rev().find(|o| o.cases.is_some()) {
                Some(o) => o.cases.clone(),
                None if own.is_empty() => base.cases.clone(),
                None => None,
            },
            main_file,
            yaml_file,
            experiments: Arc::new(experiments),
            experiments_file: experiments_src.map(|s| s.path.clone()),
            tunings: HashMap::new(),
            tuning: None,
            version: version(&scripts, base, own, experiments_src).into(),
            candidate: None,
        },
        _ => return Err(errors),
    };
    rules.tunings = tunings(&rules, &merged).map_err(|e| vec![e])?;
    Ok(rules)
}

/// The content hash of a rule set's sources: each file's path (relative to the rules
/// folder) and text, in merge order, length-prefixed so no two sets of files collide.
fn version(
    scripts: &[&Source],
    base: &Folder,
    own: &[&Folder],
    experiments: Option<&Source>,
) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let yamls = std::iter::once(base).chain(own.iter().copied());
    for src in scripts
        .iter()
        .copied()
        .chain(yamls.filter_map(|f| f.yaml.as_ref()))
        .chain(experiments)
    {
        for part in [src.path.to_string_lossy().as_bytes(), src.text.as_bytes()] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
    }
    let digest = h.finalize();
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("r-{hex}")
}

/// Most combinations of variant values one tenant may run at once.
const MAX_TUNINGS: usize = 256;

/// The tuned copies of `rules`: one per combination of the variants (or none) of each
/// experiment whose variants change settings, every one checked like `tenant.yaml`.
fn tunings(
    rules: &RuleSet,
    merged: &Value,
) -> Result<HashMap<Vec<Option<u16>>, Arc<RuleSet>>, Error> {
    let valued: Vec<&Experiment> = rules
        .experiments
        .iter()
        .filter(|x| x.has_values())
        .collect();
    if valued.is_empty() {
        return Ok(HashMap::new());
    }
    let file = rules.experiments_file.clone().unwrap_or_default();
    let err = |message: String| Error::Settings {
        file: file.clone(),
        message,
    };
    let count: usize = valued
        .iter()
        .map(|x| x.variants.len() + 1)
        .try_fold(1usize, |n, k| n.checked_mul(k))
        .filter(|n| *n <= MAX_TUNINGS)
        .ok_or_else(|| {
            err(format!(
                "too many combinations of variant values ({} experiments change settings); at most {MAX_TUNINGS}",
                valued.len()
            ))
        })?;
    let mut out = HashMap::with_capacity(count);
    for n in 0..count {
        // Mixed radix: digit i is experiment i's variant + 1 (0: not running).
        let mut rest = n;
        let mut key = Vec::with_capacity(valued.len());
        let mut settings = merged.clone();
        let mut names = Vec::new();
        for x in &valued {
            let digit = rest % (x.variants.len() + 1);
            rest /= x.variants.len() + 1;
            key.push(digit.checked_sub(1).map(|v| v as u16));
            if let Some(v) = digit.checked_sub(1).map(|v| &x.variants[v]) {
                merge(&mut settings, Value::Object(v.values.clone()));
                names.push(format!("experiment {:?} variant {:?}", x.key, v.name));
            }
        }
        if names.is_empty() {
            continue; // nothing running changes settings: the rule set itself
        }
        let which = names.join(" and ");
        let typed = Settings::from_value(&settings, &file)
            .map_err(|e| err(format!("{which}: values: {}", inner_message(e))))?;
        let cfg = rhai::serde::to_dynamic(&settings)
            .ok()
            .and_then(|d| d.try_cast::<rhai::Map>())
            .ok_or_else(|| err(format!("{which}: values are not representable in scripts")))?;
        out.insert(
            key,
            Arc::new(RuleSet {
                serial: rules.serial,
                values_serial: super::next_serial(),
                id: rules.id.clone(),
                sandbox: rules.sandbox.clone(),
                settings: typed,
                cfg: Cfg(Arc::new(cfg)),
                ast: rules.ast.clone(),
                lowered: rules.lowered.clone(),
                fn_locs: rules.fn_locs.clone(),
                extractor: rules.extractor.clone(),
                cases: rules.cases.clone(),
                main_file: rules.main_file.clone(),
                yaml_file: rules.yaml_file.clone(),
                experiments: rules.experiments.clone(),
                experiments_file: rules.experiments_file.clone(),
                tunings: HashMap::new(),
                tuning: Some(which.clone()),
                version: rules.version.clone(),
                candidate: None,
            }),
        );
    }
    Ok(out)
}

/// The message of a settings error, without its file (the caller names its own).
fn inner_message(e: Error) -> String {
    match e {
        Error::Settings { message, .. } => message,
        other => other.to_string(),
    }
}

/// The scripts to compile, in order: inherited files first, then the tenant's own, so its
/// functions win.
fn script_order<'a>(base: &'a Folder, own: &[&'a Folder]) -> Vec<&'a Source> {
    let layers: Vec<&Folder> = std::iter::once(base).chain(own.iter().copied()).collect();
    let mut out = Vec::new();
    for (i, layer) in layers.iter().enumerate() {
        let above = &layers[i + 1..];
        out.extend(
            layer
                .scripts
                .iter()
                .filter(|(name, _)| !above.iter().any(|f| f.scripts.contains_key(*name)))
                .map(|(_, src)| src),
        );
    }
    out
}

type FnLocations = HashMap<String, (PathBuf, FnLoc)>;

/// Compiles each script and merges them into one AST (also returned file by file, in
/// merge order, for lowering); records where each function is defined (runtime errors
/// without a position of their own point there).
fn compile_scripts(
    rhai: &rhai::Engine,
    cache: &ScriptCache,
    id: &TenantId,
    scripts: &[&Source],
    errors: &mut Vec<Error>,
) -> (AST, Vec<AST>, FnLocations) {
    let mut ast = AST::empty();
    let mut files = Vec::new();
    let mut fn_locs = HashMap::new();
    for src in scripts {
        match cache.get(rhai, src) {
            Ok(file) => {
                for (name, loc) in file.fn_locs {
                    fn_locs.insert(name, (src.path.clone(), loc));
                }
                files.push(file.ast.clone());
                ast += file.ast;
            }
            Err(e) => {
                let (line, column) = line_col(e.position());
                errors.push(Error::Compile {
                    tenant: id.to_string(),
                    file: src.path.clone(),
                    line,
                    column,
                    message: e.err_type().to_string(),
                });
            }
        }
    }
    (ast, files, fn_locs)
}

/// Every required hook must be defined with its number of parameters.
fn check_hooks(ast: &AST, id: &TenantId, main_file: &std::path::Path, errors: &mut Vec<Error>) {
    for (hook, arity) in HOOKS {
        if !ast
            .iter_functions()
            .any(|f| f.name == hook && f.params.len() == arity)
        {
            errors.push(Error::Compile {
                tenant: id.to_string(),
                file: main_file.to_owned(),
                line: 0,
                column: 0,
                message: format!("no script defines the hook `{hook}` with {arity} parameters"),
            });
        }
    }
}

/// The default's `tenant.yaml` with the tenant's merged over it, and the file that errors
/// about the merged settings are reported against (the last one read).
fn merged_settings(base: &Folder, own: &[&Folder], errors: &mut Vec<Error>) -> (Value, PathBuf) {
    let mut merged = Value::Object(Default::default());
    let mut yaml_file = PathBuf::from("tenant.yaml");
    let layers = std::iter::once(base).chain(own.iter().copied());
    for yaml in layers.filter_map(|f| f.yaml.as_ref()) {
        yaml_file = yaml.path.clone();
        match parse_yaml(&yaml.text, &yaml.path) {
            Ok(v) => merge(&mut merged, v),
            Err(e) => errors.push(e),
        }
    }
    (merged, yaml_file)
}

/// Line and column (1-based) of `fn name(` in a script's text; (0, 0) when not found.
/// The first `while`, `loop`, `do` or `for` in the body of the function defined at
/// `def_line` (1-based line and column), comments and strings aside; `None` when its
/// body has none.
fn first_loop(text: &str, def_line: usize) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    let mut opened = false;
    for (i, line) in text.lines().enumerate().skip(def_line.checked_sub(1)?) {
        let code = line.split("//").next().unwrap_or("");
        let bytes = code.as_bytes();
        let mut in_string: Option<u8> = None;
        let mut j = 0;
        while j < bytes.len() {
            let b = bytes[j];
            match in_string {
                Some(q) if b == q => in_string = None,
                Some(_) => {}
                None => match b {
                    b'"' | b'`' | b'\'' => in_string = Some(b),
                    b'{' => {
                        depth += 1;
                        opened = true;
                    }
                    b'}' => {
                        depth = depth.saturating_sub(1);
                        if opened && depth == 0 {
                            return None;
                        }
                    }
                    _ if opened && (j == 0 || !is_word(bytes[j - 1])) => {
                        for kw in ["while", "loop", "do", "for"] {
                            let end = j + kw.len();
                            if code[j..].starts_with(kw)
                                && bytes.get(end).is_none_or(|c| !is_word(*c))
                            {
                                return Some((i + 1, j + 1));
                            }
                        }
                    }
                    _ => {}
                },
            }
            j += 1;
        }
    }
    None
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn definition(text: &str, name: &str) -> (usize, usize) {
    let needle = format!("fn {name}");
    for (i, line) in text.lines().enumerate() {
        if let Some(col) = line.find(&needle) {
            let rest = line[col + needle.len()..].trim_start();
            if rest.starts_with('(') {
                return (i + 1, col + 1);
            }
        }
    }
    (0, 0)
}
