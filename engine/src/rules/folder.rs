//! A tenant's rules folder read into memory (`*.rhai`, `tenant.yaml`, `cases.yaml`,
//! `experiments.yaml`; sub-folders such as `candidate/` are read on their own), the
//! default rule set embedded in the binary, and the fingerprints that tell when a folder
//! changed.

use crate::error::Error;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

/// The default rule set compiled into the binary, used when no `default/` folder exists.
const EMBEDDED: [(&str, &str); 4] = [
    (
        "tenant.yaml",
        include_str!("../../../rules/default/tenant.yaml"),
    ),
    (
        "score.rhai",
        include_str!("../../../rules/default/score.rhai"),
    ),
    (
        "question.rhai",
        include_str!("../../../rules/default/question.rhai"),
    ),
    (
        "cases.yaml",
        include_str!("../../../rules/default/cases.yaml"),
    ),
];

/// The top-level keys of the embedded default `tenant.yaml`: the documented settings.
pub(crate) fn default_setting_keys() -> Vec<String> {
    let yaml = EMBEDDED[0].1;
    serde_yaml::from_str::<serde_yaml::Mapping>(yaml)
        .map(|m| {
            m.keys()
                .filter_map(|k| k.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

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
    pub experiments: Option<Source>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source,
    }
}

impl Folder {
    /// Reads a tenant folder. Files are named by the folder's own name and theirs
    /// (`points/score.rhai`) in every message: errors reach tenants, and a tenant's error
    /// never shows where the server keeps its files.
    pub fn read(dir: &Path) -> Result<Self, Error> {
        Self::read_as(
            dir,
            PathBuf::from(dir.file_name().unwrap_or(dir.as_os_str())),
        )
    }

    /// [`Folder::read`], its files named `label/<file>` (a tenant's `candidate/` is named
    /// `points/candidate/score.rhai`).
    pub fn read_as(dir: &Path, label: PathBuf) -> Result<Self, Error> {
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
            const DATA: [&str; 3] = ["tenant.yaml", "cases.yaml", "experiments.yaml"];
            if !is_script && !DATA.contains(&name.as_str()) {
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(io(&path))?;
            let source = Source {
                path: label.join(&name),
                text,
            };
            match name.as_str() {
                "tenant.yaml" => folder.yaml = Some(source),
                "cases.yaml" => folder.cases = Some(source),
                "experiments.yaml" => folder.experiments = Some(source),
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

/// A cheap change detector for a folder's files: names, sizes and modification times
/// (sub-folders are not the folder's rules: a `candidate/` has its own fingerprint).
pub(crate) fn fingerprint(dir: &Path, hasher: &mut impl Hasher) {
    let mut entries: Vec<_> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .filter(|e| !e.file_type().is_ok_and(|t| t.is_dir()))
            .collect(),
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
