//! `qualify audit` through the binary: a dev deployment fails, a hardened one passes,
//! plaintext planted in the database file is found by its offset, weak or exposed keys and
//! broken rules are high. Unix only: the checks are about file permissions.
#![cfg(unix)]

#[path = "../../engine/tests/common/mod.rs"]
mod common;

use assert_cmd::Command;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A message with an e-mail address and a phone number, which must never be readable in
/// the database file.
const MESSAGE: &str = "Hi, Jane here: jane.doe@example.com or (214) 555-0188, buying in Plano";

fn qualify(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("qualify").unwrap();
    cmd.current_dir(dir)
        .env_remove("QUALIFY_MASTER_KEY")
        .env_remove("QUALIFY_ADMIN_KEY");
    cmd
}

/// `qualify audit ARGS --format json` in `dir`: the exit status and the findings.
fn audit(dir: &Path, args: &[&str]) -> (i32, Vec<Value>) {
    let out = qualify(dir)
        .arg("audit")
        .args(args)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings = report["findings"].as_array().unwrap().clone();
    (out.status.code().unwrap(), findings)
}

/// The codes of the findings of one severity.
fn codes(findings: &[Value], severity: &str) -> Vec<String> {
    findings
        .iter()
        .filter(|f| f["severity"] == severity)
        .map(|f| f["code"].as_str().unwrap().to_string())
        .collect()
}

/// The message of the first finding with `code`.
fn message<'a>(findings: &'a [Value], code: &str) -> &'a str {
    findings
        .iter()
        .find(|f| f["code"] == code)
        .and_then(|f| f["message"].as_str())
        .unwrap_or_else(|| panic!("no {code} in {findings:#?}"))
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Writes a secret file with the given mode.
fn secret(path: &Path, text: &str, mode: u32) -> PathBuf {
    std::fs::write(path, text).unwrap();
    chmod(path, mode);
    path.to_path_buf()
}

/// A new master key from `qualify keys generate`.
fn generated_key(dir: &Path) -> String {
    let out = qualify(dir).args(["keys", "generate"]).assert().success();
    String::from_utf8(out.get_output().stdout.clone()).unwrap()
}

/// A hardened deployment in `dir`: owner-only key files outside the data folder (master,
/// admin), GoHighLevel's public key, and a store holding one contact, sealed with the
/// master key. Returns the `audit` arguments that describe it.
fn hardened(dir: &Path) -> Vec<String> {
    let secrets = dir.join("secrets");
    std::fs::create_dir(&secrets).unwrap();
    chmod(&secrets, 0o700);
    let master = secret(&secrets.join("master.key"), &generated_key(dir), 0o600);
    let admin = secret(&secrets.join("admin.key"), &generated_key(dir), 0o600);
    let public = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]).verifying_key();
    let ghl = secret(
        &secrets.join("ghl.pub"),
        &hex::encode(public.to_bytes()),
        0o644,
    );
    let master = master.to_str().unwrap().to_string();
    qualify(dir)
        .args(["ingest", "--data", "data", "--key-file", &master])
        .args(["--contact", "c1", MESSAGE])
        .assert()
        .success();
    vec![
        "--data".into(),
        "data".into(),
        "--key-file".into(),
        master,
        "--admin-key-file".into(),
        admin.to_str().unwrap().into(),
        "--ghl-public-key".into(),
        ghl.to_str().unwrap().into(),
    ]
}

#[test]
fn a_dev_deployment_fails_on_its_dev_key_and_holds_no_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    qualify(dir.path())
        .args(["ingest", "--contact", "c1", MESSAGE])
        .assert()
        .success();
    let db = dir.path().join("data/qualify.redb");
    let before = std::fs::read(&db).unwrap();
    secret(&dir.path().join("data/dev-api-key"), "qfy_default.x", 0o600);

    let (status, findings) = audit(dir.path(), &["--data", "data"]);
    assert_eq!(status, 2, "{findings:#?}");
    assert_eq!(codes(&findings, "high"), ["dev-master-key"]);
    assert_eq!(codes(&findings, "medium"), ["dev-key-files"]);
    let scanned = message(&findings, "database-scanned");
    assert!(
        scanned.contains("of 1 sampled contact(s) looked for, none in the clear"),
        "{scanned}"
    );
    // The store is sealed: neither the e-mail nor the phone is found.
    assert!(!codes(&findings, "high").contains(&"plaintext-in-database".to_string()));
    assert!(!codes(&findings, "medium").contains(&"possible-plaintext-in-database".to_string()));
    // The audit changed nothing it inspected.
    assert_eq!(std::fs::read(&db).unwrap(), before);

    // The text form: one line per finding, most severe first, then the summary.
    let out = qualify(dir.path())
        .args(["audit", "--data", "data"])
        .assert()
        .code(2);
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("HIGH dev-master-key: "), "{text}");
    assert!(lines[0].contains("(fix: "), "{text}");
    assert!(lines[1].starts_with("MEDIUM dev-key-files: "), "{text}");
    assert_eq!(*lines.last().unwrap(), "1 high, 1 medium, 1 low", "{text}");
    assert!(!text.contains("jane") && !text.contains("0188"), "{text}");
}

#[test]
fn a_hardened_deployment_passes() {
    let dir = tempfile::tempdir().unwrap();
    let args = hardened(dir.path());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    let (status, findings) = audit(dir.path(), &args);
    assert_eq!(status, 0, "{findings:#?}");
    assert!(codes(&findings, "high").is_empty(), "{findings:#?}");
    assert!(codes(&findings, "medium").is_empty(), "{findings:#?}");
    assert!(codes(&findings, "low").is_empty(), "{findings:#?}");
    assert!(message(&findings, "webhook-verification").contains("ghl.pub"));
    let scanned = message(&findings, "database-scanned");
    assert!(scanned.contains("of 1 sampled contact(s)"), "{scanned}");
    assert!(scanned.contains("none in the clear"), "{scanned}");
}

#[test]
fn plaintext_planted_in_the_database_file_is_high_with_its_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = hardened(dir.path());
    // A copy of the store with a line of plaintext appended, as a careless tool would.
    let planted = dir.path().join("planted");
    std::fs::create_dir(&planted).unwrap();
    chmod(&planted, 0o700);
    let mut bytes = std::fs::read(dir.path().join("data/qualify.redb")).unwrap();
    let offset = bytes.len() + "\nlead: ".len();
    bytes.extend_from_slice(b"\nlead: jane.doe@example.com\n");
    std::fs::write(planted.join("qualify.redb"), &bytes).unwrap();
    chmod(&planted.join("qualify.redb"), 0o600);
    args[1] = "planted".into();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    let (status, findings) = audit(dir.path(), &args);
    assert_eq!(status, 2, "{findings:#?}");
    assert_eq!(codes(&findings, "high"), ["plaintext-in-database"]);
    let found = message(&findings, "plaintext-in-database");
    assert!(found.contains("1 e-mail address"), "{found}");
    assert!(found.contains(&format!("byte offset {offset}")), "{found}");
    assert!(
        !found.contains("jane"),
        "the offset, never the text: {found}"
    );

    // Not a store at all: still scanned, the phone number found where it is.
    let fake = dir.path().join("fake");
    std::fs::create_dir(&fake).unwrap();
    chmod(&fake, 0o700);
    let text = "call (214) 555-0188 after 5, ssn 123-45-6789";
    secret(&fake.join("qualify.redb"), text, 0o600);
    let (status, findings) = audit(dir.path(), &["--data", "fake"]);
    assert_eq!(status, 2);
    let found: Vec<&str> = findings
        .iter()
        .filter(|f| f["code"] == "plaintext-in-database")
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert_eq!(found.len(), 2, "{findings:#?}");
    let at = |s: &str| format!("byte offset {}", text.find(s).unwrap());
    assert!(found[0].contains("1 phone number") && found[0].contains(&at("(214)")));
    assert!(found[1].contains("1 SSN") && found[1].contains(&at("123-45")));
}

#[test]
fn weak_or_exposed_keys_and_unsigned_webhooks_are_high() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    chmod(&dir.path().join("data"), 0o700);
    // An operator key, readable by others and kept inside the data folder.
    secret(
        &dir.path().join("data/op.key"),
        &generated_key(dir.path()),
        0o644,
    );
    secret(&dir.path().join("admin.key"), "changeme-admin\n", 0o644);

    let (status, findings) = audit(
        dir.path(),
        &[
            "--data",
            "data",
            "--key-file",
            "data/op.key",
            "--admin-key-file",
            "admin.key",
            "--insecure-skip-webhook-verification",
        ],
    );
    assert_eq!(status, 2);
    let high = codes(&findings, "high");
    for code in [
        "master-key-permissions",
        "admin-key-permissions",
        "weak-admin-key",
        "webhook-verification-off",
    ] {
        assert!(high.contains(&code.to_string()), "{code}: {findings:#?}");
    }
    assert_eq!(codes(&findings, "medium"), ["master-key-in-data-folder"]);
    let weak = message(&findings, "weak-admin-key");
    assert!(weak.contains("shorter than 32 characters"), "{weak}");
    assert!(weak.contains("common word"), "{weak}");
    assert!(!weak.contains("changeme"), "never the key itself: {weak}");

    // A malformed master key is high too, without its text.
    secret(&dir.path().join("bad.key"), "not-a-key", 0o600);
    let (status, findings) = audit(dir.path(), &["--data", "data", "--key-file", "bad.key"]);
    assert_eq!(status, 2);
    assert!(codes(&findings, "high").contains(&"malformed-master-key".to_string()));
    assert!(!message(&findings, "malformed-master-key").contains("not-a-key"));
}

#[test]
fn rules_that_fail_check_are_high_with_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let rules = common::rules_copy();
    common::write(
        &rules.path().join("default/score.rhai"),
        "let x = 1;\nlet y = ;\n",
    );
    let (status, findings) = audit(
        dir.path(),
        &["--data", "data", "--rules", rules.path().to_str().unwrap()],
    );
    assert_eq!(status, 2);
    let problem = message(&findings, "rules-check");
    assert!(problem.contains("default/score.rhai:2:9: "), "{problem}");
    assert_eq!(
        findings
            .iter()
            .find(|f| f["code"] == "rules-check")
            .unwrap()["severity"],
        "high"
    );
}

#[test]
fn contact_ids_page_through_every_contact_in_order() {
    use qualify_engine::{ContactId, Engine, Inbound, SecretKey, Store, TenantId};
    let store = Store::in_memory(SecretKey::generate()).unwrap();
    let engine = Engine::builder().store(store).build().unwrap();
    let tenant = TenantId::default();
    for id in ["c3", "c1", "c2"] {
        let id = ContactId::new(id).unwrap();
        engine
            .ingest(&tenant, &id, &Inbound::text("hello"))
            .unwrap();
    }
    let first = engine.contacts().ids(None, 2).unwrap();
    let rest = engine.contacts().ids(first.last(), 2).unwrap();
    let ids: Vec<&str> = first.iter().chain(&rest).map(|(_, c)| c.as_str()).collect();
    assert_eq!(ids, ["c1", "c2", "c3"]);
    assert!(engine.contacts().ids(rest.last(), 2).unwrap().is_empty());
}
