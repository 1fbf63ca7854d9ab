//! Acceptance of distributed load generation on one machine: three `loadgen` processes with
//! `--worker i/3 --start-at` against one reference `service` process on loopback (the
//! `serve-internal` service of the loadgen binary, SQLite in a temporary directory), then
//! `loadgen merge`: the merged run carries the whole schedule, sent (≥ 0.999), with no lost
//! writes, one index.html, and a p99 equal to the p99 of the union of the three interval
//! logs recomputed here from the `.hlog` files. A worker started 2 s late is reported and
//! makes the merged run not trustworthy (exit 5); `loadgen gate --run` judges the merged run
//! whole; bad input (shares, start times, merges of other runs) exits 2 naming the culprit.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::Histogram;
use serde_json::Value;

/// 200 req/s for 5 s after a 1 s warm-up, 20:1, every write read back. The generator's lag
/// allowance is 250 ms, not 20: four debug-built processes share CI's two cores with other tests
/// here, and this test is about the split and the merge (a worker 2 s late must still count as
/// late; in CI one worker at 67/s once kept its sends within 74 ms but its p99 at 29 ms).
const SCENARIO: &str = r#"
name = "dist"
seed = 1717
duration = "5s"
warmup = "1s"
[mix]
read = 20
write = 1
[keys]
preload = 60
[load]
curve = "constant"
rate = 200
[verify]
every = 1
delay = "300ms"
[slo]
p99 = "1s"
max_error_rate = 0.0
[generator]
max_lag_p99 = "250ms"
"#;

/// The reference service as a process of its own; killed on drop.
struct Service {
    child: Child,
    url: String,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_service(data: &Path) -> Service {
    let mut child = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["serve-internal", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let line = lines.next().expect("the service prints its address").unwrap();
    let url = line.rsplit(' ').next().unwrap().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    // Keep reading so the service never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Service { child, url }
}

fn loadgen(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_loadgen"));
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn rfc3339_in(offset_ms: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::milliseconds(offset_ms))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Starts one worker; `extra` are further flags.
fn worker(dir: &Path, url: &str, share: &str, start_at: &str, run_id: &str, extra: &[&str]) -> Child {
    let scenario = dir.join("dist.toml");
    let corpus = dir.join("corpus.json");
    let reports = dir.join("runs");
    let mut cmd =
        loadgen(&["--target", url, "--worker", share, "--start-at", start_at, "--run-id", run_id, "--no-progress"]);
    cmd.arg("--scenario").arg(&scenario).arg("--corpus").arg(&corpus).arg("--reports-dir").arg(&reports).args(extra);
    cmd.spawn().unwrap()
}

/// Waits for `child` (killed after `within`: every run here is bounded).
fn finish(child: Child, within: Duration) -> Output {
    let started = Instant::now();
    let id = child.id();
    let waiter = std::thread::spawn(move || child.wait_with_output().unwrap());
    while !waiter.is_finished() {
        if started.elapsed() > within {
            let _ = Command::new("kill").arg(id.to_string()).status();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    waiter.join().unwrap()
}

fn summary(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

/// The union of the `read` and `write` intervals of interval logs, read here with
/// hdrhistogram alone (not loadgen's merge).
fn union_of_logs(logs: &[PathBuf]) -> Histogram<u64> {
    let mut union = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
    let mut deserializer = Deserializer::new();
    for path in logs {
        let bytes = std::fs::read(path).unwrap();
        for entry in IntervalLogIterator::new(&bytes) {
            if let LogEntry::Interval(i) = entry.unwrap() {
                if matches!(i.tag().map(|t| t.as_str()), Some("read" | "write")) {
                    let raw = base64::engine::general_purpose::STANDARD.decode(i.encoded_histogram()).unwrap();
                    let h: Histogram<u64> = deserializer.deserialize(&mut raw.as_slice()).unwrap();
                    union.add(&h).unwrap();
                }
            }
        }
    }
    union
}

/// Arrivals of the measured part of the whole schedule of `dist.toml`, from the scenario.
fn intended_of_scenario(path: &Path) -> u64 {
    let scenario = loadgen::Scenario::parse(&std::fs::read_to_string(path).unwrap(), path).unwrap();
    let schedule = loadgen::schedule::Schedule::new(loadgen::run::schedule_curve(&scenario));
    schedule.indices().filter(|&k| schedule.intended(k).unwrap() >= scenario.warmup).count() as u64
}

#[test]
fn three_workers_make_one_run_and_a_late_one_spoils_it() {
    let _serial = common::SERIAL.blocking_lock();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    std::fs::write(dir.join("dist.toml"), SCENARIO).unwrap();
    let service = start_service(&dir.join("data"));

    // Three workers, one start 6 s ahead: worker 0 preloads and writes the corpus meanwhile.
    let start_at = rfc3339_in(6_000);
    let children: Vec<Child> =
        (0..3).map(|i| worker(dir, &service.url, &format!("{i}/3"), &start_at, &format!("worker-{i}"), &[])).collect();
    let outputs: Vec<Output> = children.into_iter().map(|c| finish(c, Duration::from_secs(90))).collect();
    for (i, out) in outputs.iter().enumerate() {
        assert_eq!(out.status.code(), Some(0), "worker {i}:\n{}", text(out));
        assert!(text(out).contains(&format!("worker {i}/3: started")), "{}", text(out));
    }
    let runs: Vec<PathBuf> = (0..3).map(|i| dir.join("runs").join(format!("worker-{i}"))).collect();
    let merged = dir.join("merged");
    let mut merge = loadgen(&["merge", "-o"]);
    merge.arg(&merged).args(&runs);
    let out = finish(merge.spawn().unwrap(), Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let s = summary(&merged);
    common::assert_valid_summary(&s);
    let all = &s["operations"]["all"];
    let intended = all["intended"].as_u64().unwrap();
    assert_eq!(intended, intended_of_scenario(&dir.join("dist.toml")), "the merged run is the whole schedule");
    assert_eq!(intended, 1000);
    let completed = all["completed"].as_u64().unwrap();
    assert!(completed as f64 / intended as f64 >= 0.999, "{completed} of {intended}");
    assert_eq!(all["errors"].as_u64(), Some(0), "{}", s["errors_by_kind"]);
    assert_eq!(s["verification"]["lost"].as_u64(), Some(0));
    assert_eq!(s["verification"]["corrupted"].as_u64(), Some(0));
    assert!(s["verification"]["verified"].as_u64().unwrap() >= 40, "{}", s["verification"]);
    assert_eq!(s["trustworthy"], Value::Bool(true), "{}", s["generator"]["reasons"]);
    let workers = s["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 3);
    for (i, w) in workers.iter().enumerate() {
        assert_eq!(w["index"].as_u64(), Some(i as u64));
        assert!(w["start_late_ms"].as_f64().unwrap() < w["start_tolerance_ms"].as_f64().unwrap(), "{w}");
        let clock = &w["clock"];
        // One machine, one clock: the offset the Date header brackets is about zero.
        assert!(
            clock["offset_ms"].as_f64().unwrap().abs() <= clock["uncertainty_ms"].as_f64().unwrap() + 5.0,
            "{clock}"
        );
        assert!(clock["uncertainty_ms"].as_f64().unwrap() < 60.0, "{clock}");
    }
    // One report, with the workers' table.
    let html = std::fs::read_to_string(merged.join("index.html")).unwrap();
    assert!(html.contains("id=\"workers\"") && html.contains("Workers (3 of the schedule"), "no per-worker table");
    assert_eq!(html.matches("<td>yes</td>").count(), 3, "every worker kept its schedule");
    assert!(merged.join("timeline.json").is_file() && merged.join("scenario.toml").is_file());
    // The merged p99 is the union's, from the three interval logs read independently.
    let union = union_of_logs(&runs.iter().map(|r| r.join("latency.hlog")).collect::<Vec<_>>());
    assert_eq!(union.len(), completed);
    assert_eq!(all["latency_us"]["p99"].as_u64(), Some(union.value_at_quantile(0.99)));
    assert_eq!(all["latency_us"]["p50"].as_u64(), Some(union.value_at_quantile(0.5)));

    // The gate judges the merged run as one: it passes the scenario's SLO and fails a p99
    // limit below the merged p99 (never a worker's), exit 4.
    let gate_out = dir.join("gate");
    let gate = |extra: &[&str]| {
        let mut cmd = loadgen(&["gate", "--run"]);
        cmd.arg(&merged).arg("--out").arg(&gate_out).args(extra);
        finish(cmd.spawn().unwrap(), Duration::from_secs(30))
    };
    let out = gate(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("merge of 3 workers"), "{}", text(&out));
    let out = gate(&["--slo-p99", "1us"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let merged_p99 = format!("{:.2} ms", all["latency_us"]["p99"].as_u64().unwrap() as f64 / 1000.0);
    assert!(text(&out).contains(&format!("p99_us                             {merged_p99}")), "{}", text(&out));

    // A late worker: its --start-at 2 s in the past. It says so, exits 5, and so does the merge.
    let short = ["--duration", "2s"];
    let on_time = worker(dir, &service.url, "0/2", &rfc3339_in(3_000), "late-0", &short);
    let late = worker(dir, &service.url, "1/2", &rfc3339_in(-2_000), "late-1", &short);
    let (on_time, late) = (finish(on_time, Duration::from_secs(60)), finish(late, Duration::from_secs(60)));
    assert_eq!(on_time.status.code(), Some(0), "{}", text(&on_time));
    assert_eq!(late.status.code(), Some(5), "{}", text(&late));
    assert!(text(&late).contains("worker 1/2 started 2.") && text(&late).contains("started LATE"), "{}", text(&late));
    let late_merged = dir.join("late-merged");
    let mut merge = loadgen(&["merge", "-o"]);
    merge.arg(&late_merged).arg(dir.join("runs/late-0")).arg(dir.join("runs/late-1"));
    let out = finish(merge.spawn().unwrap(), Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(text(&out).contains("NOT TRUSTWORTHY") && text(&out).contains("worker 1/2 started"), "{}", text(&out));
    assert_eq!(summary(&late_merged)["trustworthy"], Value::Bool(false));

    // Merges of runs that are not one run's workers: exit 2, naming the file.
    let refused = |inputs: &[PathBuf], wanted: &str| {
        let mut merge = loadgen(&["merge", "-o"]);
        merge.arg(dir.join("refused")).args(inputs);
        let out = finish(merge.spawn().unwrap(), Duration::from_secs(30));
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(text(&out).contains(wanted), "wanted {wanted:?} in {}", text(&out));
    };
    refused(&[runs[0].clone(), runs[0].clone()], "worker index 0 overlaps");
    refused(&[runs[0].clone(), dir.join("runs/late-1")], "N differs");
    let other_seed = dir.join("other-seed");
    std::fs::create_dir(&other_seed).unwrap();
    std::fs::copy(runs[1].join("latency.hlog"), other_seed.join("latency.hlog")).unwrap();
    let mut s1 = summary(&runs[1]);
    s1["scenario"]["seed"] = Value::from(7);
    std::fs::write(other_seed.join("summary.json"), s1.to_string()).unwrap();
    refused(&[runs[0].clone(), other_seed.clone()], "other-seed/summary.json");
    drop(service);
}

#[test]
fn impossible_shares_and_starts_exit_2_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("dist.toml"), SCENARIO).unwrap();
    let scenario = dir.path().join("dist.toml");
    let far = rfc3339_in(2 * 86_400_000);
    let cases: [(&[&str], &str); 6] = [
        (&["--worker", "0/0"], "--worker: the number of workers N must be at least 1"),
        (&["--worker", "3/3"], "--worker: worker index 3 is not below N = 3"),
        (&["--worker", "1/3"], "--corpus"),
        (&["--worker", "0/2", "--corpus", "c.json", "--start-at", &far], "--start-at"),
        (&["--start-at", "noon"], "--start-at"),
        (&["--start-in", "3d"], "--start-in"),
    ];
    for (flags, wanted) in cases {
        let mut cmd = loadgen(&["--target", "http://127.0.0.1:9", "--no-progress"]);
        cmd.arg("--scenario").arg(&scenario).args(flags).current_dir(dir.path());
        let out = finish(cmd.spawn().unwrap(), Duration::from_secs(30));
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {}", text(&out));
        assert!(text(&out).contains(wanted), "{flags:?}: wanted {wanted:?} in {}", text(&out));
    }
    let mut cmd = loadgen(&["--target", "http://127.0.0.1:9", "--no-progress"]);
    cmd.arg("--scenario").arg(&scenario).env("JOB_COMPLETION_INDEX", "4").env("LOADGEN_WORKERS", "3");
    let out = finish(cmd.spawn().unwrap(), Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("JOB_COMPLETION_INDEX"), "{}", text(&out));
}
