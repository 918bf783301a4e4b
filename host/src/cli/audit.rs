//! `qualify audit`: a self-check of a deployment, read the way `serve` would read it.
//!
//! It resolves the master key, the admin key and the webhook key with serve's precedence,
//! checks the permissions of the files holding them and of the data folder, scans the raw
//! bytes of the database file for personal data in the clear, and checks the rules. Each
//! problem is a [`Finding`]: a severity, a stable code, what was found (never key material
//! or the personal data itself: byte offsets only) and how to fix it. The exit status is 2
//! when any finding is high.
//!
//! It replaces the prototype's `scripts/security_audit.py` (spec: prototype.md 9.4) and
//! avoids its defects:
//! - a file it cannot read is a finding, never a pass (the script's permission checks
//!   passed for paths that were missing or unreadable);
//! - it checks what the deployment does (key sources, the flags serve reads, the bytes on
//!   disk), not keywords in source files (the script's "redact" check passed because a
//!   correlation-id *filter* existed, and "encryption keywords" passed with no encryption);
//! - its patterns are validated (the engine's redactor: NANP phones, SSA rules for SSNs,
//!   Luhn for cards) and an e-mail in raw bytes needs a shape random ciphertext almost
//!   never takes (see [`plausible_email`]), so a large sealed file raises no false alarm;
//!   ids in table keys, plaintext by design, are told apart from personal data;
//! - no invented 0-100 score whose bands hide a high finding: findings, and a failing exit
//!   status when any is high.

use super::{print_json, RulesArg, StoreArgs};
use crate::keys::KEY_ENV;
use anyhow::Result;
use qualify_engine::text::redact::{self, Entity};
use qualify_engine::{ContactId, Engine, Error, SecretKey, Store, TenantId};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use zeroize::Zeroizing;

/// The environment variable serve reads the admin key from (after `--admin-key-file`).
const ADMIN_KEY_ENV: &str = "QUALIFY_ADMIN_KEY";
/// Files dev mode writes beside the data: keys that open the dev tenant and the admin API,
/// and the next dev master key of an interrupted rotation.
const DEV_FILES: [&str; 3] = ["dev-api-key", "dev-admin-key", "master.key.next"];
/// Fragments that make a secret guessable (compared lower-cased). A random key (hex or
/// base64) holds one with negligible probability.
const WEAK_WORDS: [&str; 14] = [
    "admin", "password", "passwd", "changeme", "secret", "qwerty", "letmein", "welcome", "default",
    "qualify", "example", "123456", "abcdefgh", "token",
];
/// How to leave the dev key.
const FIX_DEV: &str = "generate a key (`qualify keys generate > /secure/path/master.key`, \
                       chmod 600), move the store to it (`qualify keys rotate --new-key-file \
                       F`), then run with --key-file F (or QUALIFY_MASTER_KEY) and delete the \
                       dev key";
/// Contacts whose stored values are looked for in the raw file.
const SAMPLE: usize = 200;
/// Contact ids listed (to tell ids in table keys from personal data); past it, ids are
/// known only partly.
const MAX_IDS: usize = 1_000_000;
/// A stored value shorter than this is not looked for: short strings are not specific.
const MIN_CANARY: usize = 7;
/// Only a stored value's first bytes are looked for (a long text may span two pages).
const MAX_CANARY: usize = 48;
/// The database file is read in chunks of this size...
const CHUNK: usize = 1 << 20;
/// ...each scanned with this much of its neighbours, so a match across a chunk boundary
/// is found once (a match starts in exactly one chunk) and has its context on both sides.
const OVERLAP: usize = 1024;
/// Offsets shown per kind of finding.
const SHOWN: usize = 5;

/// Arguments of `qualify audit`: the same places and flags as `qualify serve`.
#[derive(clap::Args)]
pub struct AuditArgs {
    #[command(flatten)]
    rules: RulesArg,
    #[command(flatten)]
    store: StoreArgs,
    /// File with the admin key, as given to serve (else QUALIFY_ADMIN_KEY).
    #[arg(long, value_name = "FILE")]
    admin_key_file: Option<PathBuf>,
    /// GoHighLevel's webhook public key, as given to serve.
    #[arg(long, value_name = "FILE")]
    ghl_public_key: Option<PathBuf>,
    /// Audit a server run with --insecure-skip-webhook-verification.
    #[arg(long)]
    insecure_skip_webhook_verification: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One line per finding, then `N high, N medium, N low`.
    Text,
    /// `{"findings": [...], "summary": {...}}`.
    Json,
}

/// How much a finding matters; findings are listed most severe first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Exploitable or data at risk now: the audit fails (exit status 2).
    High,
    /// Weakens the deployment; fix it soon.
    Medium,
    /// Worth knowing; not a risk by itself.
    Low,
    /// What was checked and found in order.
    Info,
}

impl Severity {
    fn label(self) -> &'static str {
        match self {
            Severity::High => "HIGH",
            Severity::Medium => "MEDIUM",
            Severity::Low => "LOW",
            Severity::Info => "INFO",
        }
    }
}

/// One result of the audit.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// How much it matters.
    pub severity: Severity,
    /// Stable identifier (`dev-master-key`, `plaintext-in-database`, ...).
    pub code: &'static str,
    /// What was found.
    pub message: String,
    /// How to fix it (`None` for information).
    pub fix: Option<String>,
}

/// The findings so far, in the order the checks ran.
#[derive(Default)]
struct Findings(Vec<Finding>);

impl Findings {
    fn add(
        &mut self,
        severity: Severity,
        code: &'static str,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) {
        let fix = fix.into();
        self.0.push(Finding {
            severity,
            code,
            message: message.into(),
            fix: (!fix.is_empty()).then_some(fix),
        });
    }

    fn info(&mut self, code: &'static str, message: impl Into<String>) {
        self.add(Severity::Info, code, message, "");
    }
}

/// Runs `qualify audit`: prints the findings; exit status 2 when any is high.
pub fn run(args: AuditArgs, out: &mut impl Write) -> Result<ExitCode> {
    let findings = audit(&args);
    let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
    let (high, medium, low, info) = (
        count(Severity::High),
        count(Severity::Medium),
        count(Severity::Low),
        count(Severity::Info),
    );
    match args.format {
        Format::Text => {
            for f in &findings {
                write!(out, "{} {}: {}", f.severity.label(), f.code, f.message)?;
                if let Some(fix) = &f.fix {
                    write!(out, " (fix: {fix})")?;
                }
                writeln!(out)?;
            }
            writeln!(out, "{high} high, {medium} medium, {low} low")?;
        }
        Format::Json => print_json(
            out,
            &serde_json::json!({
                "findings": findings,
                "summary": {"high": high, "medium": medium, "low": low, "info": info},
            }),
        )?,
    }
    Ok(if high > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// Every check, findings sorted by severity (stable: checks keep their order within one).
pub fn audit(args: &AuditArgs) -> Vec<Finding> {
    let mut f = Findings::default();
    let data = &args.store.data;
    let folder_ok = data_folder(data, &mut f);
    let (source, key) = master_key(data, args.store.key_file.as_deref(), &mut f);
    if folder_ok {
        leftover_dev_files(data, &source, &mut f);
    }
    admin_key(args, &source, key.as_ref(), &mut f);
    webhooks(args, &mut f);
    let rules_engine = super::open_engine(args.rules.rules.as_deref());
    if folder_ok {
        database(data, key, rules_engine.as_ref().ok(), &mut f);
    }
    rules(&rules_engine, &mut f);
    let mut findings = f.0;
    findings.sort_by_key(|f| f.severity);
    findings
}

/// Where the master key comes from, with serve's precedence.
enum Source {
    /// `--key-file`.
    File(PathBuf),
    /// `QUALIFY_MASTER_KEY`.
    Env,
    /// The dev key in the data folder.
    Dev(PathBuf),
    /// None at all: serve would generate a dev key at this path.
    Missing(PathBuf),
}

/// A file's permission bits (`None` where there are none to check, or it cannot be read).
fn mode(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .ok()
            .map(|m| m.permissions().mode() & 0o777)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// True when `path` lies inside the folder `dir` (both resolved, symlinks followed).
fn inside(path: &Path, dir: &Path) -> bool {
    match (path.canonicalize(), dir.canonicalize()) {
        (Ok(p), Ok(d)) => p.starts_with(d),
        _ => false,
    }
}

/// A secret file's text, wiped when dropped; the error says why it cannot be used.
fn read_secret(path: &Path) -> std::result::Result<Zeroizing<String>, String> {
    let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| e.to_string())?);
    std::str::from_utf8(&bytes)
        .map(|t| Zeroizing::new(t.to_string()))
        .map_err(|_| "not text".to_string())
}

/// A secret file readable or writable by anyone but its owner: high.
fn secret_permissions(path: &Path, code: &'static str, what: &str, f: &mut Findings) {
    if let Some(m) = mode(path).filter(|m| m & 0o077 != 0) {
        f.add(
            Severity::High,
            code,
            format!(
                "{what} {} is open to group or others (mode {m:04o})",
                path.display()
            ),
            format!("chmod 600 {}", path.display()),
        );
    }
}

/// The data folder: exists, can be listed, not writable by others. False when its files
/// cannot be checked (missing or unreadable).
fn data_folder(data: &Path, f: &mut Findings) -> bool {
    let d = data.display();
    match std::fs::metadata(data) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            f.info(
                "no-data-folder",
                format!("{d} does not exist: serve would create it (owner-only)"),
            );
            return false;
        }
        Err(e) => {
            f.add(
                Severity::High,
                "data-folder-unreadable",
                format!("cannot read {d}: {e}: nothing in it was checked"),
                "run the audit as the user that runs qualify",
            );
            return false;
        }
        Ok(m) if !m.is_dir() => {
            f.add(
                Severity::High,
                "data-folder-unreadable",
                format!("{d} is not a folder"),
                "give --data the folder that holds qualify.redb",
            );
            return false;
        }
        Ok(_) => {}
    }
    if let Err(e) = std::fs::read_dir(data) {
        f.add(
            Severity::High,
            "data-folder-unreadable",
            format!("cannot list {d}: {e}: nothing in it was checked"),
            "run the audit as the user that runs qualify",
        );
        return false;
    }
    if let Some(m) = mode(data).filter(|m| m & 0o022 != 0) {
        f.add(
            Severity::Medium,
            "data-folder-permissions",
            format!(
                "{d} is writable by group or others (mode {m:04o}): they can replace the \
                 database, or plant a master.key that serve uses when no key is given"
            ),
            format!("chmod 700 {d}"),
        );
    }
    true
}

/// Resolves the master key as serve does (`--key-file`, `QUALIFY_MASTER_KEY`, the dev key
/// in the data folder), never generating one, and checks it.
fn master_key(
    data: &Path,
    key_file: Option<&Path>,
    f: &mut Findings,
) -> (Source, Option<SecretKey>) {
    let env = std::env::var_os(KEY_ENV);
    if key_file.is_none() && env.as_ref().is_some_and(|v| v.to_str().is_none()) {
        f.add(
            Severity::High,
            "malformed-master-key",
            format!("{KEY_ENV} is set but is not text: serve ignores it and uses the dev key"),
            format!("set {KEY_ENV} to 64 hexadecimal characters (`qualify keys generate`)"),
        );
    }
    let env = env.and_then(|v| v.into_string().ok()).map(Zeroizing::new);
    let dev_path = data.join("master.key");
    let (source, text) = match (key_file, env) {
        (Some(p), _) => (Source::File(p.to_owned()), read_secret(p)),
        (None, Some(text)) => (Source::Env, Ok(text)),
        (None, None) if dev_path.exists() => {
            let text = read_secret(&dev_path);
            (Source::Dev(dev_path), text)
        }
        (None, None) => {
            f.add(
                Severity::High,
                "dev-master-key",
                format!(
                    "no master key is given (--key-file or {KEY_ENV}) and {} does not exist: \
                     serve would generate a dev key there, beside the data it protects",
                    dev_path.display()
                ),
                FIX_DEV,
            );
            return (Source::Missing(dev_path), None);
        }
    };
    let from = match &source {
        Source::File(p) | Source::Dev(p) | Source::Missing(p) => p.display().to_string(),
        Source::Env => KEY_ENV.to_string(),
    };
    source_checks(&source, &from, data, f);
    let text = match text {
        Ok(t) => t,
        Err(why) => {
            f.add(
                Severity::High,
                "master-key-unreadable",
                format!("cannot read the master key {from}: {why}: serve would not start"),
                "check the path, and that the user running qualify owns the file (chmod 600)",
            );
            return (source, None);
        }
    };
    let Some(key) = SecretKey::from_hex(&text) else {
        f.add(
            Severity::High,
            "malformed-master-key",
            format!(
                "{from} is not a master key (64 hexadecimal characters): serve would not start"
            ),
            "put the key the store was created with there (a new one: `qualify keys generate`)",
        );
        return (source, None);
    };
    let distinct: HashSet<u8> = text
        .trim()
        .bytes()
        .map(|b| b.to_ascii_lowercase())
        .collect();
    if distinct.len() < 10 {
        f.add(
            Severity::High,
            "weak-master-key",
            format!(
                "the master key from {from} uses fewer than 10 distinct hex digits: it was not \
                 generated at random"
            ),
            "generate one (`qualify keys generate`) and move the store to it (`qualify keys \
             rotate --new-key-file F`)",
        );
    }
    (source, Some(key))
}

/// Where the master key lies: its permissions, and the dev key or the data folder.
fn source_checks(source: &Source, from: &str, data: &Path, f: &mut Findings) {
    match source {
        Source::File(p) => {
            f.info(
                "master-key-source",
                format!("master key from --key-file {from}"),
            );
            secret_permissions(p, "master-key-permissions", "master key file", f);
            if inside(p, data) {
                f.add(
                    Severity::Medium,
                    "master-key-in-data-folder",
                    format!(
                        "master key file {from} is inside the data folder {}, next to the \
                         database: a copy or backup of the folder carries the key with the data",
                        data.display()
                    ),
                    "keep the key elsewhere (a secrets mount, another volume) and point \
                     --key-file at it",
                );
            }
        }
        Source::Env => f.info("master-key-source", format!("master key from {KEY_ENV}")),
        Source::Dev(p) => {
            f.add(
                Severity::High,
                "dev-master-key",
                format!(
                    "the master key is the generated dev key {from}, beside the data it \
                     protects: whoever can read the folder can open the store"
                ),
                FIX_DEV,
            );
            secret_permissions(p, "master-key-permissions", "dev master key", f);
        }
        Source::Missing(_) => {}
    }
}

/// Dev files beside the data: keys that still open the dev tenant or the admin API, and a
/// dev master key the store no longer uses.
fn leftover_dev_files(data: &Path, source: &Source, f: &mut Findings) {
    let found: Vec<&str> = DEV_FILES
        .into_iter()
        .filter(|name| data.join(name).exists())
        .collect();
    if !found.is_empty() {
        f.add(
            Severity::Medium,
            "dev-key-files",
            format!(
                "{} holds dev key files beside the data: {}",
                data.display(),
                found.join(", ")
            ),
            "delete them; if this deployment left dev mode, also rotate the dev tenant's key \
             (`qualify tenant rotate-key default`), which dev-api-key may still open",
        );
    }
    let dev_key = data.join("master.key");
    if !matches!(source, Source::Dev(_)) && dev_key.exists() {
        f.add(
            Severity::Medium,
            "unused-dev-master-key",
            format!(
                "{} (a dev master key) lies beside the data, but the store uses another key",
                dev_key.display()
            ),
            "delete it once the store opens with your key (it may open older backups: keep \
             those apart)",
        );
    }
}

/// What makes an admin key guessable (empty: nothing). Never quotes the key.
fn weaknesses(key: &str) -> Vec<&'static str> {
    let key = key.trim();
    let lower = Zeroizing::new(key.to_lowercase());
    let mut why = Vec::new();
    if key.chars().count() < 32 {
        why.push("shorter than 32 characters");
    }
    if key.chars().collect::<HashSet<_>>().len() < 10 {
        why.push("fewer than 10 distinct characters");
    }
    if WEAK_WORDS.iter().any(|w| lower.contains(w)) {
        why.push("contains a common word or sequence");
    }
    why
}

/// The admin key serve would use (`--admin-key-file`, else `QUALIFY_ADMIN_KEY`, else in
/// dev mode one derived from the dev master key, else none: the admin API is off).
fn admin_key(args: &AuditArgs, source: &Source, master: Option<&SecretKey>, f: &mut Findings) {
    let (from, text) = match (&args.admin_key_file, std::env::var(ADMIN_KEY_ENV)) {
        (Some(p), _) => {
            secret_permissions(p, "admin-key-permissions", "admin key file", f);
            if inside(p, &args.store.data) && !p.ends_with("dev-admin-key") {
                f.add(
                    Severity::Medium,
                    "admin-key-in-data-folder",
                    format!(
                        "admin key file {} is inside the data folder, next to the database",
                        p.display()
                    ),
                    "keep it elsewhere (a secrets mount) and point --admin-key-file at it",
                );
            }
            (p.display().to_string(), read_secret(p))
        }
        (None, Ok(k)) => (ADMIN_KEY_ENV.to_string(), Ok(Zeroizing::new(k))),
        (None, Err(_)) => {
            if matches!(source, Source::Dev(_) | Source::Missing(_)) {
                f.info(
                    "admin-key-source",
                    "admin key derived from the dev master key (see dev-master-key)",
                );
            } else {
                f.info(
                    "no-admin-key",
                    format!(
                        "no admin key (--admin-key-file or {ADMIN_KEY_ENV}): serve disables the \
                         admin API; tenants are managed with `qualify tenant`"
                    ),
                );
            }
            return;
        }
    };
    let text = match text {
        Ok(t) => t,
        Err(why) => {
            f.add(
                Severity::High,
                "admin-key-unreadable",
                format!("cannot read the admin key {from}: {why}: serve would not start"),
                "check the path, and that the user running qualify owns the file (chmod 600)",
            );
            return;
        }
    };
    let why = weaknesses(&text);
    if why.is_empty() {
        f.info("admin-key-source", format!("admin key from {from}"));
    } else {
        f.add(
            Severity::High,
            "weak-admin-key",
            format!(
                "the admin key from {from} is weak ({}): it creates tenants and rotates their keys",
                why.join(", ")
            ),
            "use 32 or more random characters, e.g. `qualify keys generate > admin.key; chmod 600 \
             admin.key`",
        );
    }
    if master.is_some_and(|k| text.trim().eq_ignore_ascii_case(&k.to_hex())) {
        f.add(
            Severity::High,
            "admin-key-is-master-key",
            format!("the admin key from {from} is the master key: whoever holds one holds both"),
            "give the admin API its own random key",
        );
    }
}

/// Webhook verification as serve would run it.
fn webhooks(args: &AuditArgs, f: &mut Findings) {
    let key = args.ghl_public_key.as_ref().map(|p| {
        let parsed = std::fs::read_to_string(p)
            .map_err(|e| e.to_string())
            .and_then(|t| crate::server::webhook::parse_public_key(&t));
        (p, parsed)
    });
    if let Some((p, Err(why))) = &key {
        f.add(
            Severity::High,
            "invalid-webhook-key",
            format!(
                "cannot use {} as GoHighLevel's public key: {why}: serve would not start",
                p.display()
            ),
            "give GoHighLevel's Ed25519 webhook public key (PEM, base64 or hex)",
        );
    }
    if args.insecure_skip_webhook_verification {
        f.add(
            Severity::High,
            "webhook-verification-off",
            "--insecure-skip-webhook-verification: serve accepts unsigned webhooks, so anyone \
             who can reach /webhooks/ghl can post messages and tag changes for any tenant",
            "remove the flag and give --ghl-public-key F",
        );
        return;
    }
    match key {
        None => f.add(
            Severity::Low,
            "no-webhook-key",
            "webhook verification is on but no --ghl-public-key is given: serve refuses every \
             GoHighLevel webhook (401)",
            "to take GoHighLevel webhooks, give --ghl-public-key F (its Ed25519 public key)",
        ),
        Some((p, Ok(_))) => f.info(
            "webhook-verification",
            format!(
                "webhooks verified (Ed25519) with the key in {}",
                p.display()
            ),
        ),
        Some((_, Err(_))) => {}
    }
}

/// What the open store tells the scan: ids stored in the clear by design, and stored values
/// that must not be.
#[derive(Default)]
struct Known {
    /// Tenant and contact ids (the bytes of each).
    ids: HashSet<Vec<u8>>,
    /// Prefixes of the sampled contacts' stored values.
    canaries: HashSet<Vec<u8>>,
    /// Contacts sampled (`None`: the store was not opened).
    sampled: Option<usize>,
}

impl Known {
    fn canary(&mut self, text: &str) {
        let t = text.trim().as_bytes();
        // Table names are in the file in the clear: a value equal to one is no evidence.
        const TABLES: &str = "meta tenant_keys tenants contacts contact_versions due outbox \
                              dead_letters webhooks webhook_expiry pending quarantine exposures \
                              outcomes experiment_stops analytics transcripts";
        if t.len() >= MIN_CANARY
            && !TABLES
                .as_bytes()
                .windows(t.len())
                .any(|w| w.eq_ignore_ascii_case(t))
        {
            self.canaries.insert(t[..t.len().min(MAX_CANARY)].to_vec());
        }
    }

    fn canaries_of(&mut self, value: &serde_json::Value) {
        match value {
            serde_json::Value::String(s) => self.canary(s),
            serde_json::Value::Number(n) => self.canary(&n.to_string()),
            serde_json::Value::Array(a) => a.iter().for_each(|v| self.canaries_of(v)),
            serde_json::Value::Object(o) => o.values().for_each(|v| self.canaries_of(v)),
            serde_json::Value::Bool(_) | serde_json::Value::Null => {}
        }
    }
}

/// The database file: its permissions, then (with a usable master key) a sample of stored
/// values, then the raw scan.
fn database(data: &Path, key: Option<SecretKey>, rules: Option<&Engine>, f: &mut Findings) {
    let db = data.join("qualify.redb");
    let shown = db.display();
    let len = match std::fs::metadata(&db) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            f.info("no-database", format!("no {shown} yet: nothing to scan"));
            return;
        }
        Err(e) => {
            f.add(
                Severity::High,
                "database-unreadable",
                format!("cannot read {shown}: {e}: it was not scanned"),
                "run the audit as the user that runs qualify",
            );
            return;
        }
    };
    if let Some(m) = mode(&db).filter(|m| m & 0o077 != 0) {
        f.add(
            Severity::Medium,
            "database-permissions",
            format!(
                "{shown} is open to group or others (mode {m:04o}): values are sealed, but \
                 tenant and contact ids are in the clear and a copy can be attacked offline"
            ),
            format!("chmod 600 {shown}"),
        );
    }
    let mut known = Known::default();
    // Tenants with rules are ids too (they name table keys before any contact exists).
    if let Some(engine) = rules {
        for t in engine.rules().tenants() {
            known.ids.insert(t.as_str().as_bytes().to_vec());
        }
    }
    // An empty file would be initialised by opening it (with this key): leave it alone.
    match key {
        Some(key) if len > 0 => sample(&db, key, &mut known, f),
        _ => {}
    }
    match scan(&db, &known) {
        Ok(scan) => report_scan(&db, &known, &scan, f),
        Err(e) => f.add(
            Severity::High,
            "database-unreadable",
            format!("cannot read {shown}: {e}: it was not scanned"),
            "run the audit as the user that runs qualify",
        ),
    }
}

/// A private copy of the database file, removed (with its folder) when dropped.
///
/// The store is opened on a copy, never on the file itself: opening runs a write
/// transaction and redb may resize the file, so an audit would change what it inspects
/// (and could cut off bytes appended to it); a copy also opens while a running server holds
/// the file's lock. The copy is as sealed as the original, in an owner-only folder under
/// the temporary directory (`TMPDIR`), and needs as much room as the database.
struct PrivateCopy {
    dir: PathBuf,
    file: PathBuf,
}

impl PrivateCopy {
    fn new(db: &Path) -> std::io::Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir =
            std::env::temp_dir().join(format!("qualify-audit-{}-{nanos}", std::process::id()));
        let mut folder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            folder.mode(0o700);
        }
        folder.create(&dir)?;
        let copy = Self {
            file: dir.join("qualify.redb"),
            dir,
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut to = options.open(&copy.file)?;
        std::io::copy(&mut std::fs::File::open(db)?, &mut to)?;
        Ok(copy)
    }
}

impl Drop for PrivateCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Opens (a private copy of) the store with the master key and gathers the ids and a
/// sample of stored values.
fn sample(db: &Path, key: SecretKey, known: &mut Known, f: &mut Findings) {
    let shown = db.display();
    let copy = match PrivateCopy::new(db) {
        Ok(copy) => copy,
        Err(e) => {
            f.add(
                Severity::Medium,
                "store-not-opened",
                format!(
                    "cannot copy {shown} to a private temporary folder to sample stored values: \
                     {e}; the raw scan ran without them"
                ),
                "set TMPDIR to a folder with room for a copy of the database",
            );
            return;
        }
    };
    let opened = Store::open(&copy.file, key).and_then(|s| Engine::builder().store(s).build());
    let engine = match opened {
        Ok(engine) => engine,
        Err(Error::WrongMasterKey) => {
            f.add(
                Severity::High,
                "wrong-master-key",
                format!("the master key in use does not open {shown}: serve would not start"),
                "give the key this store was created with (or rotated to last)",
            );
            return;
        }
        Err(e) => {
            f.add(
                Severity::Medium,
                "store-not-opened",
                format!(
                    "cannot open (a copy of) {shown} to sample stored values: {e}; the raw \
                     scan ran without them"
                ),
                "check that the file is a Qualify store",
            );
            return;
        }
    };
    let ids = match collect_ids(&engine, known) {
        Ok(ids) => ids,
        Err(e) => {
            f.add(
                Severity::Medium,
                "store-not-opened",
                format!("cannot list the contacts of {shown}: {e}"),
                "check that the file is a Qualify store",
            );
            return;
        }
    };
    let mut unreadable = Vec::new();
    let step = (ids.len() / SAMPLE).max(1);
    let mut sampled = 0;
    for (tenant, id) in ids.iter().step_by(step).take(SAMPLE) {
        match engine.contacts().get(tenant, id) {
            Ok(Some(c)) => {
                sampled += 1;
                c.facts.values().for_each(|v| known.canaries_of(v));
                c.history.iter().for_each(|m| known.canary(&m.text));
                c.tags.iter().for_each(|t| known.canary(t));
            }
            Ok(None) => {}
            Err(_) => unreadable.push(format!("{tenant}/{id}")),
        }
    }
    known.sampled = Some(sampled);
    if !unreadable.is_empty() {
        f.add(
            Severity::Medium,
            "unreadable-contacts",
            format!(
                "{} of the sampled contacts do not open with their tenant's key (corrupted or \
                 tampered rows): {}",
                unreadable.len(),
                unreadable[..unreadable.len().min(SHOWN)].join(", ")
            ),
            "check them with `qualify contact show`; restore them from a backup or erase them",
        );
    }
}

/// Every registered tenant and every contact id (up to [`MAX_IDS`]) into `known`; returns
/// the contacts, in (tenant, id) order.
fn collect_ids(
    engine: &Engine,
    known: &mut Known,
) -> qualify_engine::Result<Vec<(TenantId, ContactId)>> {
    for t in engine.accounts().list()? {
        known.ids.insert(t.tenant.as_str().as_bytes().to_vec());
        known.canary(&t.name);
    }
    let mut all: Vec<(TenantId, ContactId)> = Vec::new();
    while all.len() < MAX_IDS {
        let page = engine.contacts().ids(all.last(), 10_000)?;
        if page.is_empty() {
            break;
        }
        all.extend(page);
    }
    for (t, c) in &all {
        known.ids.insert(t.as_str().as_bytes().to_vec());
        known.ids.insert(c.as_str().as_bytes().to_vec());
    }
    Ok(all)
}

/// What the raw scan found: per kind, how many and the first offsets.
#[derive(Default)]
struct Scan {
    bytes: u64,
    groups: Vec<Group>,
    /// Matches that were ids in table keys.
    ids_skipped: u64,
}

/// Matches of one kind: `certain` unless made only of id characters and glued to others
/// (then likely an id in a table key).
struct Group {
    what: Kind,
    certain: bool,
    count: u64,
    offsets: Vec<u64>,
}

impl Scan {
    fn hit(&mut self, what: Kind, certain: bool, offset: u64) {
        let i = match self
            .groups
            .iter()
            .position(|g| g.what == what && g.certain == certain)
        {
            Some(i) => i,
            None => {
                self.groups.push(Group {
                    what,
                    certain,
                    count: 0,
                    offsets: Vec::new(),
                });
                self.groups.len() - 1
            }
        };
        let g = &mut self.groups[i];
        g.count += 1;
        if g.offsets.len() < SHOWN {
            g.offsets.push(offset);
        }
    }
}

/// What a match is, as (one, many).
type Kind = (&'static str, &'static str);

fn entity_kind(e: Entity) -> Kind {
    match e {
        Entity::Email => ("e-mail address", "e-mail addresses"),
        Entity::Phone => ("phone number", "phone numbers"),
        Entity::Ssn => ("SSN", "SSNs"),
        Entity::CreditCard => ("payment card number", "payment card numbers"),
        Entity::BankAccount => ("bank account number", "bank account numbers"),
    }
}

/// A stored value of a sampled contact (a fact, a message or a tag).
const STORED: Kind = (
    "stored value of a sampled contact (fact, message or tag)",
    "stored values of sampled contacts (facts, messages or tags)",
);

/// `n` things of a kind, in words.
fn count_of(n: u64, kind: Kind) -> String {
    format!("{n} {}", if n == 1 { kind.0 } else { kind.1 })
}

/// The characters of ids (tenant and contact ids are `^[A-Za-z0-9_-]{1,64}$`).
fn id_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// How sure a match at `buf[s..e]` is to be personal data: `None` when it is (inside) a
/// known id in a table key, `Some(true)` when it cannot be an id (it holds other
/// characters, or stands alone), `Some(false)` when it is made of id characters glued to
/// others, as an unknown id in a key would be (an erased contact's, a webhook id).
fn classify(buf: &[u8], s: usize, e: usize, known: &Known) -> Option<bool> {
    if !buf[s..e].iter().all(|b| id_byte(*b)) {
        return Some(true);
    }
    let mut rs = s;
    while rs > 0 && s - rs < 128 && id_byte(buf[rs - 1]) {
        rs -= 1;
    }
    let mut re = e;
    while re < buf.len() && re - e < 128 && id_byte(buf[re]) {
        re += 1;
    }
    // Keys glue a tuple's strings together (tenant then contact): look for a known id
    // covering the match anywhere in the run.
    for a in rs.max(e.saturating_sub(64))..=s {
        for b in e..=re.min(a + 64) {
            if known.ids.contains(&buf[a..b]) {
                return None;
            }
        }
    }
    Some(rs == s && re == e)
}

/// An e-mail as the redactor found it, also shaped so that random bytes almost never are.
/// In a sealed file every byte is random, and the redactor's `x@y.zz` shape occurs about
/// 60 times per GiB of random bytes; with these rules, by estimate once per 25 GiB (none
/// in 512 MiB of random bytes, where the redactor alone found 31).
fn plausible_email(text: &str) -> bool {
    const COMMON: [&str; 8] = ["com", "net", "org", "edu", "gov", "mil", "info", "biz"];
    let Some((local, domain)) = text.rsplit_once('@') else {
        return false;
    };
    let Some((rest, tld)) = domain.rsplit_once('.') else {
        return false;
    };
    let label = rest.rsplit('.').next().unwrap_or("");
    let (l, d, t) = (local.len(), label.len(), tld.len());
    if COMMON.iter().any(|c| tld.eq_ignore_ascii_case(c)) {
        return d >= 1;
    }
    if t >= 3 {
        l >= 4 && d >= 3
    } else {
        l >= 5 && d >= 3
    }
}

/// Reads until `buf` is full or the file ends; returns how many bytes were read.
fn read_full(file: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Looks for stored values in raw bytes: an index of their first [`MIN_CANARY`] bytes,
/// behind a bitmap of their first three, so most positions cost one bit test.
struct Canaries<'k> {
    patterns: Vec<&'k [u8]>,
    by_head: HashMap<&'k [u8], Vec<usize>>,
    filter: Vec<u64>,
}

impl<'k> Canaries<'k> {
    fn new(known: &'k Known) -> Self {
        let patterns: Vec<&[u8]> = known.canaries.iter().map(Vec::as_slice).collect();
        let mut by_head: HashMap<&[u8], Vec<usize>> = HashMap::new();
        let mut filter = vec![0u64; (1 << 24) / 64];
        for (i, p) in patterns.iter().enumerate() {
            by_head.entry(&p[..MIN_CANARY]).or_default().push(i);
            let h = Self::head3(p);
            filter[h / 64] |= 1 << (h % 64);
        }
        Self {
            patterns,
            by_head,
            filter,
        }
    }

    fn head3(b: &[u8]) -> usize {
        (usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2])
    }

    /// The longest stored value starting at `buf[i..]`, as its length.
    fn at(&self, buf: &[u8], i: usize) -> Option<usize> {
        let h = Self::head3(&buf[i..]);
        if self.filter[h / 64] & (1 << (h % 64)) == 0 {
            return None;
        }
        self.by_head
            .get(&buf[i..i + MIN_CANARY])?
            .iter()
            .map(|&p| self.patterns[p])
            .filter(|p| buf[i..].starts_with(p))
            .map(<[u8]>::len)
            .max()
    }
}

/// Scans the raw file in chunks: personal data in printable runs, and the sampled stored
/// values anywhere.
fn scan(path: &Path, known: &Known) -> std::io::Result<Scan> {
    let mut file = std::fs::File::open(path)?;
    let canaries = Canaries::new(known);
    let mut scan = Scan::default();
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK + 2 * OVERLAP);
    let (mut base, mut own_start) = (0u64, 0usize);
    loop {
        let before = buf.len();
        buf.resize(before + CHUNK, 0);
        let n = read_full(&mut file, &mut buf[before..])?;
        buf.truncate(before + n);
        let eof = n < CHUNK;
        // Matches starting in own_start..own_end are this chunk's; the rest of the buffer
        // is context (before) and room for a match to end in (after).
        let own_end = if eof { buf.len() } else { buf.len() - OVERLAP };
        scan_chunk(&buf, base, own_start..own_end, known, &canaries, &mut scan);
        scan.bytes = base + buf.len() as u64;
        if eof {
            return Ok(scan);
        }
        let keep_from = own_end - OVERLAP.min(own_end);
        buf.drain(..keep_from);
        base += keep_from as u64;
        own_start = own_end - keep_from;
    }
}

fn scan_chunk(
    buf: &[u8],
    base: u64,
    own: std::ops::Range<usize>,
    known: &Known,
    canaries: &Canaries<'_>,
    scan: &mut Scan,
) {
    let record = |scan: &mut Scan, what, s: usize, e: usize| match classify(buf, s, e, known) {
        None => scan.ids_skipped += 1,
        Some(certain) => scan.hit(what, certain, base + s as u64),
    };
    // Personal data: only printable runs can hold it. The redactor runs only on runs that
    // could (an '@', or eight digits); in sealed data that is almost none.
    let printable = |b: u8| (0x20..0x7f).contains(&b) || b == b'\t' || b == b'\n' || b == b'\r';
    let mut i = 0;
    while i < buf.len() {
        if !printable(buf[i]) {
            i += 1;
            continue;
        }
        let s = i;
        while i < buf.len() && printable(buf[i]) {
            i += 1;
        }
        let run = &buf[s..i];
        if i <= own.start || s >= own.end || run.len() < 6 {
            continue;
        }
        if !run.contains(&b'@') && run.iter().filter(|b| b.is_ascii_digit()).count() < 8 {
            continue;
        }
        // Printable ASCII is UTF-8.
        let Ok(text) = std::str::from_utf8(run) else {
            continue;
        };
        for found in redact::find(text) {
            let (fs, fe) = (s + found.start, s + found.end);
            if !own.contains(&fs)
                || (found.entity == Entity::Email
                    && !plausible_email(&text[found.start..found.end]))
            {
                continue;
            }
            record(scan, entity_kind(found.entity), fs, fe);
        }
    }
    if canaries.patterns.is_empty() {
        return;
    }
    let last = own.end.min(buf.len().saturating_sub(MIN_CANARY - 1));
    let mut i = own.start;
    while i < last {
        match canaries.at(buf, i) {
            Some(len) => {
                record(scan, STORED, i, i + len);
                i += len;
            }
            None => i += 1,
        }
    }
}

/// The scan's findings: one per kind of match, with offsets, never the text.
fn report_scan(db: &Path, known: &Known, scan: &Scan, f: &mut Findings) {
    let shown = db.display();
    let offsets = |g: &Group| {
        let list: Vec<String> = g.offsets.iter().map(u64::to_string).collect();
        let more = g.count - g.offsets.len() as u64;
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        format!("byte offset {}{more}", list.join(", "))
    };
    for g in scan.groups.iter().filter(|g| g.certain) {
        f.add(
            Severity::High,
            "plaintext-in-database",
            format!(
                "{shown} holds {} in the clear, at {}",
                count_of(g.count, g.what),
                offsets(g)
            ),
            "Qualify writes only sealed values: find what wrote these bytes (another tool, a \
             restored copy, a bug to report), keep the file for the investigation, and restore \
             a clean backup or erase the affected contacts",
        );
    }
    for g in scan.groups.iter().filter(|g| !g.certain) {
        f.add(
            Severity::Medium,
            "possible-plaintext-in-database",
            format!(
                "{shown} holds {} of only digits and dashes, glued to other id \
                 characters, at {}: likely ids in table keys (stored in the clear by design: \
                 an erased contact's, a webhook's or a transcript's)",
                count_of(g.count, g.what),
                offsets(g)
            ),
            "use opaque ids, never phone numbers or SSNs; if these are not ids, treat them as \
             plaintext-in-database",
        );
    }
    let found = scan.groups.iter().any(|g| g.what == STORED);
    let sampled = match known.sampled {
        Some(n) => format!(
            "{} stored value(s) of {n} sampled contact(s) looked for{}",
            known.canaries.len(),
            if found { "" } else { ", none in the clear" }
        ),
        None => "stored values not sampled (the store was not opened)".to_string(),
    };
    f.info(
        "database-scanned",
        format!(
            "scanned {} bytes of {shown} for e-mail addresses, phone, SSN, card and bank \
             numbers; {sampled}; {} id(s) in table keys skipped",
            scan.bytes, scan.ids_skipped
        ),
    );
}

/// The rules as `qualify check` sees them: every problem is high (a tenant whose rules
/// fail is not served its own rules).
fn rules(engine: &Result<Engine>, f: &mut Findings) {
    let fix = "fix the script or setting at that place (`qualify check` lists every problem)";
    let engine = match engine {
        Ok(engine) => engine,
        Err(e) => {
            f.add(
                Severity::High,
                "rules-error",
                format!("cannot load the rules: {e:#}"),
                fix,
            );
            return;
        }
    };
    let problems = engine.rules().check();
    for p in &problems {
        f.add(Severity::High, "rules-check", p.to_string(), fix);
    }
    if problems.is_empty() {
        f.info(
            "rules-checked",
            format!(
                "{} tenant(s) pass `qualify check`",
                engine.rules().tenants().len()
            ),
        );
    }
}
