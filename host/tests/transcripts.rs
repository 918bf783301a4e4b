//! Transcripts through the binary: a generated CSV of 10,000 transcripts with malformed
//! rows imported into a store (counts, each skipped row reported by its line, nothing
//! else lost, nothing sent, a second import changes nothing), the metrics export read
//! back equal to the file's own metrics, the prototype's JSON shapes, the empty export's
//! header, and the patterns report.

#![allow(clippy::unwrap_used)]

use assert_cmd::Command;
use qualify_engine::transcript::{self, read_metrics_csv, METRICS_HEADER};
use serde_json::Value;
use std::fmt::Write as _;
use std::path::Path;

fn qualify(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("qualify").unwrap();
    cmd.current_dir(dir).env_remove("QUALIFY_MASTER_KEY");
    cmd
}

/// Runs a command that must succeed: (stdout, stderr).
fn ok(dir: &Path, args: &[&str]) -> (String, String) {
    let out = qualify(dir)
        .args(args)
        .assert()
        .success()
        .get_output()
        .clone();
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../engine/tests/fixtures/transcripts")
        .join(name)
        .display()
        .to_string()
}

/// 10,000 transcripts of 4 messages each, one row per message, interleaved by id; a
/// few malformed rows at known lines. Returns the CSV and the malformed rows' lines.
fn generated() -> (String, Vec<u64>) {
    let mut csv =
        String::from("id,date,lead_type,outcome,close_reason,timestamp,speaker,message\n");
    let mut line = 1u64;
    let mut bad = Vec::new();
    let texts = [
        ("bot", "Hi! Are you looking to buy or sell?"),
        ("user", "Buying, our budget is around 400k"),
        ("bot", "Great, what area are you interested in?"),
        ("user", "Plano or Frisco, we need to move next month"),
    ];
    for (k, (speaker, text)) in texts.iter().enumerate() {
        for i in 0..10_000 {
            let (lead, outcome) = if i % 3 == 0 {
                ("seller", "lost")
            } else {
                ("buyer", "closed")
            };
            let day = 1 + i % 28;
            line += 1;
            writeln!(
                csv,
                "t{i:05},2025-02-{day:02},{lead},{outcome},\"reason, with comma\",2025-02-{day:02}T1{k}:00:{:02}Z,{speaker},\"{text}\"",
                i % 60
            )
            .unwrap();
        }
        // After each block: a row with no id, a bad timestamp, a short row, an unknown
        // speaker.
        for row in [
            format!(",2025-02-01,buyer,closed,,2025-02-01T10:00:00Z,user,no id {k}"),
            format!("t00001,2025-02-01,buyer,closed,,yesterday at noon,user,bad time {k}"),
            "t00002,2025-02-01,buyer".to_string(),
            format!("t00003,2025-02-01,buyer,closed,,2025-02-01T10:00:00Z,robot,who {k}"),
        ] {
            line += 1;
            bad.push(line);
            writeln!(csv, "{row}").unwrap();
        }
    }
    (csv, bad)
}

#[test]
fn ten_thousand_transcripts_with_malformed_rows_import_and_export() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, bad) = generated();
    let file = dir.path().join("transcripts.csv");
    std::fs::write(&file, &csv).unwrap();
    let file = file.display().to_string();

    let (out, err) = ok(
        dir.path(),
        &["transcripts", "import", "--data", "data", &file],
    );
    let summary: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["imported"], 10_000, "{summary}");
    assert_eq!(summary["messages"], 40_000);
    assert_eq!(summary["failed"], serde_json::json!([]));
    let skipped: Vec<String> = summary["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["at"].as_str().unwrap().to_string())
        .collect();
    let expected: Vec<String> = bad.iter().map(|l| format!("line {l}")).collect();
    assert_eq!(skipped, expected);
    // Each one on standard error too, with the file and the line.
    for l in &bad {
        assert!(
            err.contains(&format!("{file}: skipped line {l}")),
            "line {l} not reported in:\n{err}"
        );
    }

    // Nothing is due and nothing was queued: imports send nothing.
    let (out, _) = ok(dir.path(), &["reengage", "--data", "data"]);
    let last: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(last["summary"]["sent"], 0, "{out}");
    assert_eq!(last["summary"]["records_read"], 0, "{out}");

    // The export, read back, is the file's own metrics, row for row.
    let export = dir.path().join("metrics.csv");
    ok(
        dir.path(),
        &[
            "transcripts",
            "export-metrics",
            "--data",
            "data",
            &export.display().to_string(),
        ],
    );
    let exported = read_metrics_csv(std::fs::File::open(&export).unwrap()).unwrap();
    let parsed = transcript::read_file(Path::new(&file)).unwrap();
    let mut own: Vec<_> = parsed.transcripts.iter().map(transcript::metrics).collect();
    own.sort_by(|a, b| a.transcript_id.cmp(&b.transcript_id));
    assert_eq!(exported.len(), 10_000);
    assert_eq!(exported, own);

    // A second import of the same file changes nothing.
    let (out, _) = ok(
        dir.path(),
        &["transcripts", "import", "--data", "data", &file],
    );
    let again: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (
            again["imported"].as_u64(),
            again["already_imported"].as_u64()
        ),
        (Some(0), Some(10_000))
    );

    // The imported conversations count in analytics on their own days (February 2025).
    let (out, _) = ok(
        dir.path(),
        &[
            "analytics",
            "--data",
            "data",
            "--from",
            "2025-02-01",
            "--to",
            "2025-02-28",
            "--format",
            "json",
        ],
    );
    let a: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(a["funnel"]["contacts"], 10_000);
    assert_eq!(a["messages"]["inbound"], 20_000);
}

#[test]
fn each_json_shape_imports_and_another_tenant_sees_none_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/default");
    std::fs::create_dir_all(rules.join("default")).unwrap();
    for f in std::fs::read_dir(shipped).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), rules.join("default").join(f.file_name())).unwrap();
    }
    std::fs::create_dir_all(rules.join("team")).unwrap();
    std::fs::write(rules.join("team/tenant.yaml"), "name: A team\n").unwrap();
    for (name, count) in [
        ("single.json", 1),
        ("list.json", 2),
        ("wrapped.json", 2),
        ("grouped.csv", 2),
    ] {
        let data = format!("data-{name}");
        let (out, _) = ok(
            dir.path(),
            &[
                "transcripts",
                "import",
                "--tenant",
                "team",
                "--data",
                &data,
                &fixture(name),
            ],
        );
        let summary: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(summary["imported"], count, "{name}: {summary}");
        assert_eq!(summary["skipped"], serde_json::json!([]), "{name}");
        let (csv, _) = ok(
            dir.path(),
            &[
                "transcripts",
                "export-metrics",
                "--tenant",
                "team",
                "--data",
                &data,
                "-",
            ],
        );
        assert_eq!(csv.lines().count(), 1 + count, "{name}: {csv}");
        // The default tenant of the same store has nothing: only the header.
        let (csv, _) = ok(
            dir.path(),
            &["transcripts", "export-metrics", "--data", &data, "-"],
        );
        assert_eq!(csv, format!("{}\n", METRICS_HEADER.join(",")));
    }
}

#[test]
fn a_file_that_is_not_transcripts_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.json");
    std::fs::write(&file, "{\"transcripts\": [\n  {\"id\": 1,}\n]}").unwrap();
    let err = qualify(dir.path())
        .args([
            "transcripts",
            "import",
            "--data",
            "data",
            &file.display().to_string(),
        ])
        .assert()
        .failure()
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8(err).unwrap();
    assert!(err.contains("bad.json:2:"), "{err}");
    let err = qualify(dir.path())
        .args(["transcripts", "import", "--data", "data", "missing.json"])
        .assert()
        .failure()
        .get_output()
        .stderr
        .clone();
    assert!(String::from_utf8(err).unwrap().contains("missing.json"));
}

#[test]
fn the_patterns_report_of_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let (out, _) = ok(
        dir.path(),
        &[
            "transcripts",
            "report",
            "--format",
            "json",
            &fixture("wrapped.json"),
        ],
    );
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["summary"]["total_transcripts"], 2);
    for q in r["patterns"]["winning_questions"].as_array().unwrap() {
        let p = q["appears_in_percent"].as_f64().unwrap();
        assert!((0.0..=100.0).contains(&p), "{q}");
    }
    let (text, _) = ok(
        dir.path(),
        &["transcripts", "report", &fixture("wrapped.json")],
    );
    assert!(!text.trim().is_empty());
}
