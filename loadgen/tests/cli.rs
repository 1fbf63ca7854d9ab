//! The binary's exit codes: 0 fine, 2 bad input, 3 target unreachable, 4 SLO breached,
//! 5 generator overloaded.

mod common;

use std::process::Command;

use common::FixtureServer;

fn loadgen(args: &[&str], reports: &std::path::Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .arg("--reports-dir")
        .arg(reports)
        .arg("--scenarios-dir")
        .arg(common::repo_root().join("scenarios"))
        .arg("--no-progress")
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn help_documents_the_exit_codes() {
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen")).arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for line in
        ["Exit codes", "2  bad arguments", "3  target unreachable", "4  SLO breached", "5  generator overloaded"]
    {
        assert!(help.contains(line), "--help lacks {line:?}:\n{help}");
    }
}

#[test]
fn bad_arguments_and_files_exit_2() {
    let reports = tempfile::tempdir().unwrap();
    assert_eq!(loadgen(&["--scenario", "no-such-scenario"], reports.path()).0, 2);
    assert_eq!(loadgen(&["--no-such-flag"], reports.path()).0, 2);
    assert_eq!(loadgen(&["--scenario", "smoke", "--duration", "soon"], reports.path()).0, 2);
    let bad = reports.path().join("bad.toml");
    std::fs::write(&bad, "name = \"bad\"\nduration = \"5s\"\nspeed = 3\n[load]\ncurve = \"constant\"\nrate = 1\n")
        .unwrap();
    let (code, text) = loadgen(&["--scenario", bad.to_str().unwrap()], reports.path());
    assert_eq!(code, 2);
    assert!(text.contains("bad.toml") && text.contains("speed"), "{text}");
    let (code, text) = loadgen(&["--scenario", "smoke", "--profile", "no-such-profile"], reports.path());
    assert_eq!(code, 2, "{text}");
}

#[test]
fn unreachable_target_exits_3() {
    let reports = tempfile::tempdir().unwrap();
    let (code, text) = loadgen(&["--scenario", "smoke", "--target", "http://127.0.0.1:9"], reports.path());
    assert_eq!(code, 3, "{text}");
}

/// An explicit `--run-id` whose report directory exists is bad input: refused before any
/// load (the target here is unreachable, which would otherwise be exit 3), report kept.
#[test]
fn a_run_id_that_is_taken_exits_2_and_keeps_the_earlier_report() {
    let reports = tempfile::tempdir().unwrap();
    let earlier = reports.path().join("taken");
    std::fs::create_dir(&earlier).unwrap();
    std::fs::write(earlier.join("summary.json"), "{\"earlier\": true}").unwrap();
    let (code, text) =
        loadgen(&["--scenario", "smoke", "--target", "http://127.0.0.1:9", "--run-id", "taken"], reports.path());
    assert_eq!(code, 2, "{text}");
    assert!(text.contains(&earlier.display().to_string()) && text.contains("run id taken"), "{text}");
    assert_eq!(std::fs::read_to_string(earlier.join("summary.json")).unwrap(), "{\"earlier\": true}");
    assert_eq!(std::fs::read_dir(&earlier).unwrap().count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slo_breach_exits_4_and_overload_exits_5() {
    let reports = tempfile::tempdir().unwrap();
    let server = FixtureServer::start().await;
    let strict = reports.path().join("strict.toml");
    std::fs::write(
        &strict,
        "name = \"strict\"\nduration = \"2s\"\n[keys]\npreload = 10\n[load]\ncurve = \"constant\"\nrate = 50\n[slo]\np50 = \"1us\"\n",
    )
    .unwrap();
    let args = ["--scenario", strict.to_str().unwrap(), "--target", server.url.as_str()];
    let (code, text) = tokio::task::block_in_place(|| loadgen(&args, reports.path()));
    assert_eq!(code, 4, "{text}");
    assert!(text.contains("BREACHED"), "{text}");

    // A generator that burns 30 ms of its sending thread's CPU per send cannot keep 100/s.
    let busy = reports.path().join("busy.toml");
    std::fs::write(
        &busy,
        "name = \"busy\"\nduration = \"2s\"\n[keys]\npreload = 10\n[load]\ncurve = \"constant\"\nrate = 100\n[generator]\nextra_cpu_per_send = \"30ms\"\n",
    )
    .unwrap();
    let args = ["--scenario", busy.to_str().unwrap(), "--target", server.url.as_str()];
    let (code, text) = tokio::task::block_in_place(|| loadgen(&args, reports.path()));
    assert_eq!(code, 5, "{text}");
    assert!(text.contains("NOT TRUSTWORTHY"), "{text}");
}
