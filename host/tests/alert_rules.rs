//! The Prometheus alert rules in `deploy/prometheus/` are valid and fire as documented:
//! `promtool check rules` and `promtool test rules` (Debian's `prometheus` package; CI
//! installs it). Without promtool the test says so loudly and passes, unless `CI=true`.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

fn promtool() -> Option<&'static str> {
    Command::new("promtool")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|_| "promtool")
}

#[test]
fn alert_rules_pass_promtool() {
    let Some(promtool) = promtool() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "promtool is missing and CI=true: .ci/run installs Debian's prometheus package"
        );
        eprintln!(
            "SKIPPED alert_rules_pass_promtool: promtool not found (apt-get install prometheus)"
        );
        return;
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/prometheus");
    for args in [
        ["check", "rules", "qualify-alerts.yml"],
        ["test", "rules", "qualify-alerts.test.yml"],
    ] {
        let out = Command::new(promtool)
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
