//! `kill -9` of a `loadgen up`, then the next `loadgen up`: the second sweeps what the first
//! left — its run directory, the PostgreSQL clusters' directory, its cgroups in every
//! hierarchy, its owner record, and processes of it that outlived it (not a user's `tail` of
//! its log) — and says so on stderr. A sweep while the first still runs leaves it alone. The same for a `loadgen` run on a
//! launched stage killed mid-run: its stage's run and the generator's own box are swept.
//! `loadgen up` prints the servers' URLs with their passwords redacted.
//!
//! Skipped with a message when PostgreSQL is not installed, failed under `CI=true`.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use loadgen::topology::{process, sweep::Record};
use nix::{sys::signal::Signal, unistd::Pid};

fn profiles() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../profiles")
}

/// A child (`loadgen up`, a stand-in server) asked to stop — SIGINT, then SIGKILL after 60 s
/// — if the test fails while it runs.
struct Up(Child);

impl Drop for Up {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = nix::sys::signal::kill(Pid::from_raw(self.0.id() as i32), Signal::SIGINT);
            let deadline = Instant::now() + Duration::from_secs(60);
            while self.0.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// `loadgen up --profile NAME` in a temporary run directory, its stderr sent on a channel.
fn spawn_up(profile: &str) -> (Up, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["up", "--profile", profile, "--profiles-dir"])
        .arg(profiles())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("  [loadgen up] {line}");
            let _ = tx.send(line);
        }
    });
    (Up(child), rx)
}

/// Reads the child's stdout up to "press Ctrl-C" (within 180 s); every line printed.
fn until_up(child: &mut Child) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut printed = Vec::new();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.map_while(Result::ok) {
        printed.push(line.clone());
        if line.starts_with("press Ctrl-C") || Instant::now() > deadline {
            return printed;
        }
    }
    panic!("loadgen up ended before the stage was up: {printed:?}");
}

fn field<'a>(printed: &'a [String], prefix: &str) -> Option<&'a str> {
    printed.iter().find_map(|l| l.strip_prefix(prefix))
}

/// The owner record that names `run_dir`.
fn record_of(run_dir: &str) -> Option<(PathBuf, Record)> {
    let entries = std::fs::read_dir(loadgen::topology::sweep::registry_path()).ok()?;
    entries.flatten().find_map(|e| {
        let record: Record = serde_json::from_str(&std::fs::read_to_string(e.path()).ok()?).ok()?;
        (record.run_dir == Path::new(run_dir)).then_some((e.path(), record))
    })
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "process {} did not exit within {within:?}", child.id());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Stand-ins for servers that escape their harness's death (the launched ones get SIGKILL
/// with it): one with the run's mark in its environment, as every server of the run and its
/// children have, one moved into the db box's cgroup. And a user's `tail -f` of one of the
/// run's logs, which is no server of it and must be left running. Checks that the launched
/// servers carry the mark too.
fn stand_ins(logs: &Path, record: &Record) -> (Up, Up, Up) {
    let sleeper = |mark: Option<&Path>| {
        let mut cmd = Command::new("sleep");
        cmd.arg("600").env_remove(process::RUN_MARK);
        if let Some(logs) = mark {
            cmd.env(process::RUN_MARK, logs);
        }
        Up(cmd.spawn().unwrap())
    };
    let (marked, boxed) = (sleeper(Some(logs)), sleeper(None));
    let reader = Up(Command::new("tail").arg("-f").arg(logs.join("app-1.log")).stdout(Stdio::null()).spawn().unwrap());
    if let Some(run_cgroup) = record.cgroups.first() {
        std::fs::write(run_cgroup.join("pg-primary/cgroup.procs"), boxed.0.id().to_string()).unwrap();
    }
    // PostgreSQL's through setpriv, the service's through its own spawn.
    let marked_now = process::processes_marked(logs);
    let cmdline = |pid: u32| {
        String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default()).replace('\0', " ")
    };
    for server in ["serve-internal", "postgres -D"] {
        assert!(marked_now.iter().any(|&p| cmdline(p).contains(server)), "no marked {server}: {marked_now:?}");
    }
    (marked, boxed, reader)
}

/// The line of `stderr` that contains `wanted`, waiting up to 5 s for it (the sweep's line
/// comes before the bring-up, but the reader thread may lag a moment).
fn line_saying(stderr: &mpsc::Receiver<String>, wanted: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut lines = Vec::new();
    while Instant::now() < deadline {
        match stderr.recv_timeout(Duration::from_millis(100)) {
            Ok(line) if line.contains(wanted) => return line,
            Ok(line) => lines.push(line),
            Err(_) => {}
        }
    }
    panic!("the second up did not say {wanted}: {lines:?}")
}

/// The tests here kill harnesses and sweep: one at a time, so that one's sweep does not
/// take the leftovers the other is about to look at.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn the_next_up_sweeps_what_a_killed_up_left() {
    let _serial = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if loadgen::topology::postgres::find_bin().is_err() {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true" && v != "1"),
            "PostgreSQL is not installed and CI=true"
        );
        eprintln!("SKIPPED: PostgreSQL is not installed (apt-get install -y postgresql)");
        return;
    }
    let (mut first, _first_err) = spawn_up("users-plus");
    let first = &mut first.0;
    let printed = until_up(first);
    let run_dir = field(&printed, "run directory: ")
        .unwrap_or_else(|| panic!("no run directory printed: {printed:?}"))
        .to_owned();
    let (record_file, record) = record_of(&run_dir).unwrap_or_else(|| panic!("no owner record for {run_dir}"));
    assert_eq!(record.pid, first.id());
    // The printed URLs carry no password (the instance profile has it).
    let instance = std::fs::read_to_string(Path::new(&run_dir).join("profiles/app-1.toml")).unwrap();
    let password = instance.split("postgres://postgres:").nth(1).and_then(|r| r.split('@').next()).unwrap().to_owned();
    assert!(printed.iter().any(|l| l.contains("postgres://postgres:***@127.0.0.1:")), "{printed:?}");
    assert!(!printed.iter().any(|l| l.contains(&password)), "loadgen up printed the password: {printed:?}");
    let logs = Path::new(&run_dir).join("logs");
    let (mut marked, mut boxed, mut reader) = stand_ins(&logs, &record);
    let (marked, boxed, reader) = (&mut marked.0, &mut boxed.0, &mut reader.0);
    let db_box = record.cgroups.first().map(|c| c.join("pg-primary"));
    // A sweep while the harness lives leaves its run alone.
    let said = loadgen::topology::sweep::leftovers();
    assert!(!said.iter().any(|l| l.contains(&record.run_id)), "{said:?}");
    assert!(record_file.exists() && Path::new(&run_dir).is_dir() && marked.try_wait().unwrap().is_none());

    nix::sys::signal::kill(Pid::from_raw(first.id() as i32), Signal::SIGKILL).unwrap();
    wait_exit(first, Duration::from_secs(10));
    // What the kill left, so the checks below can fail.
    assert!(Path::new(&run_dir).is_dir() && record_file.exists());
    assert!(record.cgroups.iter().all(|c| c.exists()), "{:?}", record.cgroups);
    assert!(marked.try_wait().unwrap().is_none() && boxed.try_wait().unwrap().is_none());

    let (mut second, second_err) = spawn_up("single-box");
    let second = &mut second.0;
    let printed = until_up(second);
    let swept = line_saying(&second_err, &format!("swept the leftovers of run {}", record.run_id));
    assert!(swept.contains(&run_dir), "{swept}");
    assert!(!Path::new(&run_dir).exists(), "run directory {run_dir} left");
    for dir in record.scratch_dirs.iter().chain(&record.cgroups) {
        assert!(!dir.exists(), "{} left", dir.display());
    }
    assert!(!record_file.exists(), "the owner record was not withdrawn");
    let left = process::processes_mentioning(&format!("{run_dir}/"));
    assert!(left.iter().all(|(pid, _)| *pid == reader.id()), "processes of the killed run left: {left:?}");
    assert!(reader.try_wait().unwrap().is_none(), "the sweep killed a process that only read a log of the run");
    wait_exit(marked, Duration::from_secs(5));
    if db_box.is_some() {
        wait_exit(boxed, Duration::from_secs(5));
    }
    assert!(printed.iter().any(|l| l.starts_with("base URL: ")), "{printed:?}");

    nix::sys::signal::kill(Pid::from_raw(second.id() as i32), Signal::SIGINT).unwrap();
    let status = wait_exit(second, Duration::from_secs(60));
    assert!(status.success(), "second up: {status}");
}

/// The generator boxes' parent directories (`scaleloop/` in each CPU hierarchy).
fn generator_parents() -> Vec<PathBuf> {
    use loadgen::topology::cgroup::{detect, Mode};
    match detect() {
        Mode::V1 { cpu, cpuacct, .. } => std::iter::once(cpu).chain(cpuacct).map(|d| d.join("scaleloop")).collect(),
        Mode::V2 { root } => vec![root.join("scaleloop")],
        Mode::Unconfined { .. } => Vec::new(),
    }
}

#[test]
fn a_run_killed_on_a_launched_stage_is_swept_with_its_generator_box() {
    let _serial = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let parents = generator_parents();
    if parents.is_empty() {
        assert!(std::env::var("CI").map_or(true, |v| v != "true" && v != "1"), "cgroups are not writable and CI=true");
        eprintln!("SKIPPED: cgroups are not writable (run as root): no stage boxes, no generator box");
        return;
    }
    let reports = tempfile::tempdir().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args([
            "--scenario",
            "smoke",
            "--duration",
            "60s",
            "--no-progress",
            "--profile",
            "single-box",
            "--profiles-dir",
        ])
        .arg(profiles())
        .arg("--scenarios-dir")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios"))
        .arg("--reports-dir")
        .arg(reports.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut run = Up(child);
    let pid = run.0.id();
    // Wait until the run is under load: its stage is up (owner record) and it sits in its box.
    let prefix = format!("generator-{pid}-");
    let boxes = || -> Vec<PathBuf> {
        let entries = parents.iter().flat_map(|p| std::fs::read_dir(p).into_iter().flatten().flatten());
        entries.filter(|e| e.file_name().to_string_lossy().starts_with(&prefix)).map(|e| e.path()).collect()
    };
    let record = || {
        let entries = std::fs::read_dir(loadgen::topology::sweep::registry_path()).ok()?;
        entries.flatten().find_map(|e| {
            let r: Record = serde_json::from_str(&std::fs::read_to_string(e.path()).ok()?).ok()?;
            (r.pid == pid).then_some((e.path(), r))
        })
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while (boxes().len() < parents.len() || record().is_none()) && Instant::now() < deadline {
        assert!(run.0.try_wait().unwrap().is_none(), "the run ended before it was killed");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (generator_boxes, (record_file, record)) = (boxes(), record().expect("the launched stage's owner record"));
    assert_eq!(generator_boxes.len(), parents.len(), "{generator_boxes:?}");
    nix::sys::signal::kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
    wait_exit(&mut run.0, Duration::from_secs(10));
    assert!(generator_boxes.iter().chain(&record.cgroups).all(|d| d.exists()), "the kill left its cgroups");
    assert!(record.run_dir.is_dir() && record_file.exists());

    let said = loadgen::topology::sweep::leftovers();
    assert!(said.iter().any(|l| l.contains(&record.run_id)), "{said:?}");
    for dir in generator_boxes.iter().chain(&record.cgroups).chain(std::iter::once(&record.run_dir)) {
        assert!(!dir.exists(), "{} left after the sweep ({said:?})", dir.display());
    }
    assert!(!record_file.exists());
    let left = process::processes_mentioning(&format!("{}/", record.run_dir.display()));
    assert!(left.is_empty(), "processes of the killed run left: {left:?}");
}
