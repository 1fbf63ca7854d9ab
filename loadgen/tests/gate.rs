//! `loadgen gate` end to end against the embedded service (single-box): the deterministic
//! per-request figures pass for the same profile and fail (exit 6) for a candidate that makes
//! one extra database query per read; the outputs are written; bad input exits 2.

mod common;

use std::path::Path;
use std::process::Command;

fn gate(args: &[&str], out: &Path) -> (i32, String) {
    let root = common::repo_root();
    let output = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .arg("gate")
        .args(args)
        .arg("--out")
        .arg(out)
        .arg("--scenario")
        .arg(root.join("loadgen/tests/fixtures/gate-smoke.toml"))
        .arg("--profiles-dir")
        .arg(root.join("profiles"))
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.code().unwrap_or(-1), text)
}

#[test]
fn the_figures_gate_passes_the_same_profile_and_fails_doubled_queries() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let baseline = dir.path().join("baseline.json");
    let baseline_arg = baseline.to_str().unwrap();

    let (code, text) = gate(&["record", "--file", baseline_arg], &out);
    assert_eq!(code, 0, "{text}");
    let mut recorded: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&baseline).unwrap()).unwrap();
    let queries = recorded["figures"]["db_primary_queries_per_request"].as_f64().unwrap();
    assert!(queries > 1.0, "reads make one query, writes three: {recorded}");
    // The verdict follows the host's load, which other tests running beside this one raise;
    // its rule is unit-tested (gate::baseline), and here only the counts are held.
    recorded["verdict"] = serde_json::Value::Null;
    std::fs::write(&baseline, recorded.to_string()).unwrap();

    let (code, text) = gate(&["--figures", baseline_arg], &out);
    assert_eq!(code, 0, "same profile must pass:\n{text}");
    assert!(text.contains("gate: PASS"), "{text}");
    for file in ["gate-summary.md", "gate-junit.xml", "gate-result.json"] {
        assert!(out.join(file).is_file(), "{file} not written");
    }
    let junit = std::fs::read_to_string(out.join("gate-junit.xml")).unwrap();
    assert!(junit.contains("db_primary_queries_per_request") && junit.contains("failures=\"0\""), "{junit}");

    let extra = common::repo_root().join("loadgen/tests/fixtures/single-box-extra-query.toml");
    let (code, text) = gate(&["--figures", baseline_arg, "--candidate-profile", extra.to_str().unwrap()], &out);
    assert_eq!(code, 6, "one extra query per read must fail the figures gate:\n{text}");
    assert!(text.contains("FAIL") && text.contains("db_primary_queries_per_request"), "{text}");
    let summary = std::fs::read_to_string(out.join("gate-summary.md")).unwrap();
    assert!(summary.contains("figures-changed (exit 6)"), "{summary}");
}

#[test]
fn bad_gate_input_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.json");
    let (code, text) = gate(&["--figures", missing.to_str().unwrap()], dir.path());
    assert_eq!(code, 2, "{text}");
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"version": 1, "surprise": true}"#).unwrap();
    let (code, text) = gate(&["--figures", bad.to_str().unwrap()], dir.path());
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("surprise"), "{text}");
    let (code, _) = gate(&["--candidate-profile", "a", "--candidate-url", "http://127.0.0.1:9"], dir.path());
    assert_eq!(code, 2);
}

#[test]
fn gate_help_documents_its_exit_codes() {
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen")).args(["gate", "--help"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for line in [
        "6  a deterministic per-request figure",
        "7  wall-clock regression",
        "8  wall-clock inconclusive",
        "9  the error-rate",
        "10 acknowledged writes",
    ] {
        assert!(help.contains(line), "gate --help lacks {line:?}:\n{help}");
    }
}
