//! `loadgen up` as a user runs it: the stage comes up and prints its base URL and boxes, the
//! API answers there, and Ctrl-C (SIGINT) tears everything down — no process of the run
//! directory and no cgroup of the run left — with exit code 0; and an existing `--run-dir` is
//! refused with exit code 2.
//!
//! Skipped with a message when PostgreSQL is not installed, failed under `CI=true`.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use loadgen::topology::process;
use nix::{sys::signal::Signal, unistd::Pid};

#[test]
fn up_prints_the_stage_and_ctrl_c_tears_it_down() {
    if loadgen::topology::postgres::find_bin().is_err() {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true" && v != "1"),
            "PostgreSQL is not installed and CI=true"
        );
        eprintln!("SKIPPED: PostgreSQL is not installed (apt-get install -y postgresql)");
        return;
    }
    let dir = tempfile::Builder::new().prefix("topology-cli-").tempdir().unwrap();
    let run_dir = dir.path().join("run");
    let profiles = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../profiles");
    let mut child = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["up", "--profile", "users-plus", "--profiles-dir"])
        .arg(&profiles)
        .arg("--run-dir")
        .arg(&run_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(120);
    let (mut base_url, mut cgroup_dir, mut printed) = (None, None, Vec::new());
    for line in lines.by_ref() {
        let line = line.unwrap();
        printed.push(line.clone());
        if let Some(url) = line.strip_prefix("base URL: ") {
            base_url = Some(url.to_owned());
        }
        if let Some(rest) = line.strip_prefix("boxes (cgroups under ") {
            cgroup_dir = Some(rest.trim_end_matches("):").to_owned());
        }
        if line.starts_with("press Ctrl-C") || Instant::now() > deadline {
            break;
        }
    }
    let base_url = base_url.unwrap_or_else(|| panic!("no base URL printed: {printed:?}"));
    // The db box's quota as the shipped profile gives it.
    let shipped = service::config::Profile::load(&profiles.join("users-plus.toml")).unwrap();
    let db_cpus = shipped.boxes.iter().find(|b| b.tier == "db").and_then(|b| b.cpus).unwrap();
    assert!(
        printed.iter().any(|l| l.trim_start().starts_with("db ") && l.contains(&format!("{db_cpus} CPU"))),
        "{printed:?}"
    );
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let health =
        runtime.block_on(async { reqwest::get(format!("{base_url}/healthz")).await.map(|r| r.status().as_u16()) });
    assert_eq!(health.ok(), Some(200));

    nix::sys::signal::kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let waited = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(waited.elapsed() < Duration::from_secs(60), "loadgen up did not stop after Ctrl-C");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status}");
    let left = process::processes_mentioning(&run_dir.to_string_lossy());
    assert!(left.is_empty(), "left running: {left:?}");
    if let Some(cg) = cgroup_dir {
        assert!(!std::path::Path::new(&cg).exists(), "cgroup {cg} left behind");
    }
}

/// `--run-dir` naming something that exists is bad input (exit 2): refused by name, before
/// any server starts, and left as it was.
#[test]
fn up_refuses_an_existing_run_dir_with_exit_2() {
    let dir = tempfile::Builder::new().prefix("topology-cli-").tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let profiles = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../profiles");
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["up", "--profile", "single-box", "--profiles-dir"])
        .arg(&profiles)
        .arg("--run-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("refusing run directory {}", dir.path().display())), "{stderr}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    assert_eq!(std::fs::read_to_string(dir.path().join("notes.txt")).unwrap(), "mine");
}
