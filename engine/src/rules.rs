//! Tenant rule sets: reading a tenant's folder, inheriting the default tenant's files,
//! compiling each script once, and the fingerprints that tell when to recompile.
//!
//! A tenant folder holds `*.rhai` scripts, `tenant.yaml` and optionally `cases.yaml`.
//! A file in the tenant folder replaces the default file of the same name; the default's
//! other files are inherited. Scripts are compiled file by file (so errors name the file)
//! and merged in order, default files first, so a tenant function overrides a default one.

use crate::error::Error;
use crate::extract::Extractor;
use crate::script::{line_col, Cfg};
use crate::settings::{merge, parse_yaml, Settings};
use rhai::{Dynamic, AST};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The folder name of the default tenant, whose files every other tenant inherits.
pub const DEFAULT_TENANT: &str = "default";

/// Script hooks and the number of parameters each takes.
pub(crate) const HOOKS: [(&str, usize); 2] = [("score", 2), ("next_question", 3)];

/// The default rule set compiled into the binary, used when no `default/` folder exists.
const EMBEDDED: [(&str, &str); 4] = [
    (
        "tenant.yaml",
        include_str!("../../rules/default/tenant.yaml"),
    ),
    ("score.rhai", include_str!("../../rules/default/score.rhai")),
    (
        "question.rhai",
        include_str!("../../rules/default/question.rhai"),
    ),
    ("cases.yaml", include_str!("../../rules/default/cases.yaml")),
];

/// One file's path (for messages) and text.
#[derive(Clone)]
pub(crate) struct Source {
    pub path: PathBuf,
    pub text: String,
}

/// A tenant folder's files, read into memory.
#[derive(Clone, Default)]
pub(crate) struct Folder {
    pub scripts: BTreeMap<String, Source>,
    pub yaml: Option<Source>,
    pub cases: Option<Source>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source,
    }
}

impl Folder {
    /// Reads a tenant folder.
    pub fn read(dir: &Path) -> Result<Self, Error> {
        let mut folder = Folder::default();
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .map_err(io(dir))?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        entries.sort();
        for path in entries {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let is_script = name.ends_with(".rhai");
            if !is_script && name != "tenant.yaml" && name != "cases.yaml" {
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(io(&path))?;
            let source = Source { path, text };
            match name.as_str() {
                "tenant.yaml" => folder.yaml = Some(source),
                "cases.yaml" => folder.cases = Some(source),
                _ => {
                    folder.scripts.insert(name, source);
                }
            }
        }
        Ok(folder)
    }

    /// The default rule set shipped inside the engine.
    pub fn embedded() -> Self {
        let mut folder = Folder::default();
        for (name, text) in EMBEDDED {
            let source = Source {
                path: PathBuf::from("<embedded>/default").join(name),
                text: text.to_string(),
            };
            match name {
                "tenant.yaml" => folder.yaml = Some(source),
                "cases.yaml" => folder.cases = Some(source),
                _ => {
                    folder.scripts.insert(name.to_string(), source);
                }
            }
        }
        folder
    }
}

/// A cheap change detector for a folder: names, sizes and modification times.
pub(crate) fn fingerprint(dir: &Path, hasher: &mut impl Hasher) {
    let mut entries: Vec<_> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok()).collect(),
        Err(_) => return 0u8.hash(hasher),
    };
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        e.file_name().hash(hasher);
        if let Ok(m) = e.metadata() {
            m.len().hash(hasher);
            if let Ok(t) = m.modified() {
                t.hash(hasher);
            }
        }
    }
}

/// A tenant's compiled, ready-to-run rule set. Immutable: a reload builds a new one.
pub(crate) struct TenantRules {
    pub id: String,
    pub settings: Settings,
    pub cfg: Cfg,
    pub ast: AST,
    /// Where each function is defined: file, line, column (for runtime error locations,
    /// since some limit errors carry no position of their own).
    pub fn_locs: HashMap<String, (PathBuf, usize, usize)>,
    pub extractor: Extractor,
    pub cases: Option<Source>,
    /// The file scripts' errors are reported against when no function is known.
    pub main_file: PathBuf,
    /// Every file's path, for `check` output.
    pub yaml_file: PathBuf,
}

/// Compiles a tenant: the default folder's files overridden by `own`'s. Every problem
/// found is returned, not just the first.
pub(crate) fn compile(
    rhai: &rhai::Engine,
    id: &str,
    base: &Folder,
    own: Option<&Folder>,
) -> Result<TenantRules, Vec<Error>> {
    let mut errors = Vec::new();
    let mut scripts: BTreeMap<&str, &Source> = BTreeMap::new();
    let mut order: Vec<&str> = Vec::new();
    for (name, src) in &base.scripts {
        scripts.insert(name, src);
    }
    if let Some(own) = own {
        for (name, src) in &own.scripts {
            scripts.insert(name, src);
        }
        // Inherited files first, then the tenant's own, so its functions win.
        order.extend(
            base.scripts
                .keys()
                .filter(|n| !own.scripts.contains_key(*n))
                .map(String::as_str),
        );
        order.extend(own.scripts.keys().map(String::as_str));
    } else {
        order.extend(base.scripts.keys().map(String::as_str));
    }

    let mut ast = AST::empty();
    let mut fn_locs = HashMap::new();
    for name in &order {
        let src = scripts[name];
        match rhai.compile(&src.text) {
            Ok(mut file_ast) => {
                file_ast.set_source(src.path.to_string_lossy().as_ref());
                for f in file_ast.iter_functions() {
                    let (line, column) = definition(&src.text, f.name);
                    fn_locs.insert(f.name.to_string(), (src.path.clone(), line, column));
                }
                ast += file_ast;
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
    let main_file = order
        .first()
        .map(|n| scripts[n].path.clone())
        .unwrap_or_default();
    if errors.is_empty() {
        for (hook, arity) in HOOKS {
            if !ast
                .iter_functions()
                .any(|f| f.name == hook && f.params.len() == arity)
            {
                errors.push(Error::Compile {
                    tenant: id.to_string(),
                    file: main_file.clone(),
                    line: 0,
                    column: 0,
                    message: format!("no script defines the hook `{hook}` with {arity} parameters"),
                });
            }
        }
    }

    // Settings: the default's tenant.yaml with the tenant's merged over it.
    let mut merged = Value::Object(Default::default());
    let mut yaml_file = PathBuf::from("tenant.yaml");
    for yaml in [base.yaml.as_ref(), own.and_then(|o| o.yaml.as_ref())]
        .into_iter()
        .flatten()
    {
        yaml_file = yaml.path.clone();
        match parse_yaml(&yaml.text, &yaml.path) {
            Ok(v) => merge(&mut merged, v),
            Err(e) => errors.push(e),
        }
    }
    let settings = match Settings::from_value(&merged, &yaml_file) {
        Ok(s) => Some(s),
        Err(e) => {
            errors.push(e);
            None
        }
    };
    let extractor = settings.as_ref().and_then(|s| match Extractor::new(s) {
        Ok(x) => Some(x),
        Err(message) => {
            errors.push(Error::Settings {
                file: yaml_file.clone(),
                message,
            });
            None
        }
    });
    let cfg = match rhai::serde::to_dynamic(&merged) {
        Ok(d) => d.try_cast::<rhai::Map>(),
        Err(e) => {
            errors.push(Error::Settings {
                file: yaml_file.clone(),
                message: e.to_string(),
            });
            None
        }
    };
    match (errors.is_empty(), settings, extractor, cfg) {
        (true, Some(settings), Some(extractor), Some(cfg)) => Ok(TenantRules {
            id: id.to_string(),
            settings,
            cfg: Cfg(Arc::new(cfg)),
            ast,
            fn_locs,
            extractor,
            cases: own.map_or(base.cases.clone(), |o| o.cases.clone()),
            main_file,
            yaml_file,
        }),
        _ => Err(errors),
    }
}

impl TenantRules {
    /// `cfg` as a Rhai value (an `Arc` clone, no copying).
    pub fn cfg_dynamic(&self) -> Dynamic {
        Dynamic::from(self.cfg.clone())
    }
}

/// Line and column (1-based) of `fn name(` in a script's text; (0, 0) when not found.
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
