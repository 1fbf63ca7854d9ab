//! Chaos under load, end to end: the `loadgen` binary brings a stage up on real servers,
//! drives the shipped `chaos-*` scenarios through HAProxy, and their `[[faults]]` kill servers
//! at named times of the run. Everything asserted is read from the run's own files —
//! `summary.json`, `timeline.json` (`faults`: when, `/healthz` meanwhile, the load's figures
//! over each window) and `index.html` — the way a user would check them.
//!
//! - `chaos-cache-replica` on Users+++: Redis (cache and Streams queue) killed for 10 s, then
//!   one replica killed for 10 s. Reads keep answering 200, `/healthz` says degraded, no
//!   acknowledged write is lost, the read p99 during the outage stays bounded, cache hits
//!   resume once Redis is back; reads continue without the replica.
//! - `chaos-failover` on Users++: the primary killed and the standby promoted under load; the
//!   write unavailability (seconds from the first to the last failed write) is measured and
//!   in the verdict, no acknowledged write is lost.
//! - `chaos-lb-app` on Users+++: one API instance killed (and replaced), HAProxy restarted,
//!   then paused for 3 s: reads go on past the dead instance, each fault ends and the load
//!   answers cleanly again, no acknowledged write is lost.
//!
//! A missing server program skips (a failure under `CI=true`). Each run is bounded (the
//! binary is killed after 6 minutes).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn checkout(dir: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(dir)
}

fn servers_present() -> bool {
    let present = ["haproxy", "redis-server"].iter().all(|p| {
        Command::new("sh")
            .args(["-c", &format!("command -v {p} || test -x /usr/sbin/{p}")])
            .output()
            .is_ok_and(|o| o.status.success())
    }) && std::fs::read_dir("/usr/lib/postgresql").is_ok();
    if !present {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "postgresql, redis-server or haproxy missing and CI=true"
        );
        eprintln!("SKIPPED: postgresql, redis-server and haproxy are needed");
    }
    present
}

/// Runs `loadgen --scenario NAME --profile PROFILE` into `reports`, killed after 6 minutes;
/// returns (exit code, stdout + stderr).
fn run(scenario: &str, profile: &str, reports: &Path) -> (Option<i32>, String) {
    // One stage at a time: each is sized to the machine's budget beside the generator's box.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let out = reports.join("out.log");
    let log = std::fs::File::create(&out).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["--scenario", scenario, "--profile", profile, "--run-id", "chaos", "--no-progress"])
        .arg("--scenarios-dir")
        .arg(checkout("scenarios"))
        .arg("--profiles-dir")
        .arg(checkout("profiles"))
        .arg("--reports-dir")
        .arg(reports)
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(360);
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{scenario} did not finish within 6 minutes:\n{}",
                std::fs::read_to_string(&out).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    (code, std::fs::read_to_string(&out).unwrap_or_default())
}

fn json(path: &Path, output: &str) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}\n{output}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// The reads the schedule intended over a fault's window.
fn intended_reads(summary: &Value, window: [u64; 2]) -> f64 {
    let (read, write) =
        (summary["scenario"]["read_weight"].as_f64().unwrap(), summary["scenario"]["write_weight"].as_f64().unwrap());
    let intended: f64 = summary["series"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| (window[0]..=window[1]).contains(&s["t"].as_u64().unwrap()))
        .map(|s| s["intended"].as_f64().unwrap())
        .sum();
    intended * read / (read + write)
}

/// Seconds past a fault's window in which the reads it held back must have been answered:
/// the read tail's bound during the Redis outage (a read held by the dead cache itself would
/// wait out the whole 10 s).
const HELD_BACK_S: u64 = 5;

/// Requests intended and requests answered without error (by completion second) over
/// `[window.0, window.1 + HELD_BACK_S]`, from `summary.json`'s per-second series. A fault's own
/// window counts answers by the second they completed in, so a read the outage delayed past
/// the window's end is missing from it though it was served; over the longer span every
/// intended request is either answered or lost.
fn answered_after(summary: &Value, window: [u64; 2]) -> (f64, f64) {
    let span = window[0]..=window[1] + HELD_BACK_S;
    let inside: Vec<&Value> =
        summary["series"].as_array().unwrap().iter().filter(|s| span.contains(&s["t"].as_u64().unwrap())).collect();
    let intended: f64 = inside.iter().map(|s| s["intended"].as_f64().unwrap()).sum();
    let answered: f64 = inside.iter().map(|s| s["completed"].as_f64().unwrap() - s["errors"].as_f64().unwrap()).sum();
    (intended, answered)
}

/// Every request intended during `fault` answered without error by [`HELD_BACK_S`] after it
/// (at least 97%: a second's edge moves a few in or out of the span); the reads answered inside
/// its window printed beside it.
fn all_answered(summary: &Value, fault: &Value, what: &str) {
    let expected = intended_reads(summary, window(fault));
    let reads = fault["figures"]["reads_ok"].as_f64().unwrap();
    let (intended, answered) = answered_after(summary, window(fault));
    eprintln!(
        "{what}: {reads} reads answered in its window of {expected:.0} intended; \
         {answered} of {intended:.0} requests answered by {HELD_BACK_S} s after it"
    );
    assert!(
        answered >= 0.97 * intended,
        "requests during {what} and {HELD_BACK_S} s after: {answered} answered of {intended:.0} intended"
    );
}

/// The sum of a timeline series from second `from` on.
fn sum_from(timeline: &Value, name: &str, from: f64) -> f64 {
    let t = timeline["t"].as_array().unwrap();
    let values = timeline["series"][name].as_array().unwrap_or_else(|| panic!("no {name} in timeline.json"));
    t.iter().zip(values).filter(|(t, _)| t.as_f64().unwrap() >= from).filter_map(|(_, v)| v.as_f64()).sum()
}

/// A timeline series' values over a fault's window (seconds without a value left out).
fn in_window(timeline: &Value, name: &str, window: [u64; 2]) -> Vec<f64> {
    let t = timeline["t"].as_array().unwrap();
    let values = timeline["series"][name].as_array().unwrap_or_else(|| panic!("no {name} in timeline.json"));
    let inside = |t: &Value| (window[0]..=window[1]).contains(&t.as_u64().unwrap());
    t.iter().zip(values).filter(|(t, _)| inside(t)).filter_map(|(_, v)| v.as_f64()).collect()
}

fn window(f: &Value) -> [u64; 2] {
    let w = f["figures"]["window"].as_array().unwrap();
    [w[0].as_u64().unwrap(), w[1].as_u64().unwrap()]
}

/// No acknowledged write lost, every one of them read back.
fn no_write_lost(summary: &Value, output: &str) {
    let v = &summary["verification"];
    eprintln!("writes read back: {v}");
    assert_eq!(
        (v["lost"].as_u64(), v["corrupted"].as_u64()),
        (Some(0), Some(0)),
        "acknowledged writes lost: {v}\n{output}"
    );
    assert_eq!(v["unchecked"].as_u64(), Some(0), "every acknowledged write must be read back: {v}");
    assert!(v["verified"].as_u64().unwrap() >= 50, "too few writes to judge: {v}");
}

#[test]
fn redis_and_a_replica_killed_under_load_on_users_plus_plus_plus() {
    if !servers_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (code, output) = run("chaos-cache-replica", "users-plus-plus-plus", dir.path());
    let runs = dir.path().join("chaos");
    let summary = json(&runs.join("summary.json"), &output);
    let timeline = json(&runs.join("timeline.json"), &output);
    eprintln!("exit {code:?}\n{output}");
    let faults = timeline["faults"].as_array().unwrap_or_else(|| panic!("no faults in timeline.json\n{output}"));
    assert_eq!(faults.len(), 2, "{faults:?}");
    for f in faults {
        eprintln!("fault: {f}");
        assert_eq!(f["outcome"], "ok", "{f}");
    }

    // Redis: the cache and the queue's broker gone for 10 s.
    let redis = &faults[0];
    assert_eq!((redis["target"].as_str(), redis["tier"].as_str()), (Some("redis"), Some("cache")));
    let (start, end) = (redis["started_s"].as_f64().unwrap(), redis["ended_s"].as_f64().unwrap());
    assert!((9.5..11.0).contains(&start) && (end - start - 10.0).abs() < 3.0, "Redis down from {start} to {end}");
    let fig = &redis["figures"];
    all_answered(&summary, redis, "the Redis outage");
    assert_eq!(fig["errors"].as_u64(), Some(0), "a cache outage must cost no request: {fig}");
    // The breaker, from the service's own counters: a read pays at most one cache timeout
    // (250 ms) per cooldown, not one each. Without it the ~400 cache calls a second of the
    // outage would cost ~100 s of waiting per second; with it, a trial or two per second.
    let busy: f64 = in_window(&timeline, "service.tier_busy.cache", window(redis)).iter().sum();
    let calls: f64 = in_window(&timeline, "service.tier_calls.cache", window(redis)).iter().sum();
    let per_call_ms = 1000.0 * busy / calls.max(1.0);
    eprintln!("cache during the Redis outage: {calls:.0} calls, {busy:.2} s busy, {per_call_ms:.2} ms per call");
    assert!(calls > 100.0 && per_call_ms < 20.0, "reads paid the dead cache's timeout: {per_call_ms:.1} ms per call");
    // The read tail: a read held by the dead cache (no breaker, a connection waiting on its
    // own reconnection) would wait out the 10 s outage; the bound is half of it (`HELD_BACK_S`). The tail is
    // the machine's otherwise: 11–43 ms quiet, 1.8 s with the host saturated, 2.8–3.0 s on a VM
    // at ~40% of 2026-12-04's speed (2026-12-07; in one of those runs the 1-unit replicas,
    // serving every read without the cache, were throttled 63–100% for 5 s, in another not).
    // The breaker's own bound is the per-call check above.
    let p99_ms = fig["read_p99_us"].as_f64().unwrap() / 1000.0;
    eprintln!("read p99 during the Redis outage: {p99_ms:.1} ms");
    assert!(p99_ms < 1000.0 * HELD_BACK_S as f64, "read p99 during the Redis outage {p99_ms:.1} ms");
    assert!(
        redis["healthz"]["degraded"].as_u64().unwrap_or(0) > 0,
        "/healthz never said degraded: {}",
        redis["healthz"]
    );
    assert!(
        redis["healthz"].get("unavailable").is_none(),
        "a cache outage is not unavailability: {}",
        redis["healthz"]
    );
    let hits_after = fig["cache_hits_after_s"].as_u64().unwrap_or_else(|| panic!("cache hits never resumed: {fig}"));
    assert!(hits_after <= 5, "cache hits resumed {hits_after} s after Redis was back");
    // The Streams queue comes back too: jobs are done again once Redis is.
    let jobs_after = sum_from(&timeline, "service.jobs_done", end + 5.0);
    assert!(jobs_after > 0.0, "no job was done after Redis came back");

    // One of two replicas gone for 10 s: reads go on from the other one or the primary.
    let replica = &faults[1];
    assert_eq!((replica["target"].as_str(), replica["tier"].as_str()), (Some("pg-replica-1"), Some("db_replica")));
    let fig = &replica["figures"];
    all_answered(&summary, replica, "the replica outage");
    let expected = intended_reads(&summary, window(replica));
    let errors = fig["errors"].as_f64().unwrap();
    assert!(errors <= 0.01 * expected, "errors during the replica outage: {errors} of {expected:.0}");
    no_write_lost(&summary, &output);

    // The verdict names each fault's tier for its window; the report shows them.
    let named: Vec<(String, [u64; 2])> = summary["verdict"]["faults"]
        .as_array()
        .unwrap_or_else(|| panic!("the verdict names no fault: {}", summary["verdict"]))
        .iter()
        .map(|f| {
            (
                f["tier"].as_str().unwrap().to_owned(),
                [f["window"][0].as_u64().unwrap(), f["window"][1].as_u64().unwrap()],
            )
        })
        .collect();
    assert_eq!(named, vec![("cache".to_owned(), window(redis)), ("db_replica".to_owned(), window(replica))]);
    assert!(summary["verdict"]["sentence"].as_str().unwrap().contains("the cache tier was down on purpose"));
    let html = std::fs::read_to_string(runs.join("index.html")).unwrap();
    assert!(html.contains("Faults injected") && html.contains("redis killed for"), "the report lists the faults");
}

#[test]
fn primary_failover_under_load_on_users_plus_plus_loses_no_write() {
    if !servers_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (code, output) = run("chaos-failover", "users-plus-plus", dir.path());
    let runs = dir.path().join("chaos");
    let summary = json(&runs.join("summary.json"), &output);
    let timeline = json(&runs.join("timeline.json"), &output);
    eprintln!("exit {code:?}\n{output}");
    let f = &timeline["faults"][0];
    eprintln!("fault: {f}");
    assert_eq!(
        (f["tier"].as_str(), f["action"].as_str(), f["outcome"].as_str()),
        (Some("db_primary"), Some("failover"), Some("ok")),
        "{f}"
    );
    assert_eq!(f["replaced_by"], "pg-standby");
    let fig = &f["figures"];
    let failing = fig["writes_failing_s"].as_u64().unwrap();
    let took = f["ended_s"].as_f64().unwrap() - f["started_s"].as_f64().unwrap();
    eprintln!(
        "failover took {took:.1} s; writes failing for {failing} s ({} failed), {} s without any acknowledged",
        fig["write_errors"], fig["write_gap_s"]
    );
    // The primary's death must show in the writes (and end): a failover no write noticed was
    // not one.
    assert!(
        fig["write_errors"].as_u64().unwrap() > 0 && (1..60).contains(&failing),
        "write unavailability {failing} s: {fig}"
    );
    assert!(fig["recovered_after_s"].as_u64().is_some(), "requests never answered cleanly again: {fig}");
    // Writes resumed after the failover: acknowledged in the last 10 s of the run.
    let last: u64 = summary["series"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .take(10)
        .map(|s| s["completed"].as_u64().unwrap() - s["errors"].as_u64().unwrap())
        .sum();
    assert!(last > 0, "nothing answered after the failover");
    no_write_lost(&summary, &output);
    let v = &summary["verdict"];
    assert_eq!(v["faults"][0]["tier"], "db_primary", "{v}");
    assert!(
        v["sentence"].as_str().unwrap().contains("writes failing for"),
        "the verdict reports the write unavailability: {}",
        v["sentence"]
    );
}

#[test]
fn an_app_instance_killed_and_haproxy_restarted_and_paused_under_load() {
    if !servers_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (code, output) = run("chaos-lb-app", "users-plus-plus-plus", dir.path());
    let runs = dir.path().join("chaos");
    let summary = json(&runs.join("summary.json"), &output);
    let timeline = json(&runs.join("timeline.json"), &output);
    eprintln!("exit {code:?}\n{output}");
    let faults = timeline["faults"].as_array().unwrap_or_else(|| panic!("no faults in timeline.json\n{output}"));
    let tiers: Vec<&str> = faults.iter().map(|f| f["tier"].as_str().unwrap()).collect();
    assert_eq!(tiers, ["app", "lb", "lb"], "{faults:?}");
    for f in faults {
        eprintln!("fault: {f}");
        assert_eq!(f["outcome"], "ok", "{f}");
        let fig = &f["figures"];
        let recovered =
            fig["recovered_after_s"].as_u64().unwrap_or_else(|| panic!("never answered cleanly again: {f}"));
        assert!(recovered <= 15, "{} answered cleanly again only {recovered} s after the fault began", f["target"]);
    }
    // One of two instances dead: HAProxy's checks take it out within about a second, its
    // retries send failed connections to the other; a new box replaces it.
    let app = &faults[0];
    assert!(app["replaced_by"].as_str().is_some_and(|n| n.starts_with("app-") && n != app["target"]), "{app}");
    let expected = intended_reads(&summary, window(app));
    let fig = &app["figures"];
    assert!(
        fig["reads_ok"].as_f64().unwrap() >= 0.9 * expected,
        "reads while an instance was dead: {fig} of {expected:.0}"
    );
    assert!(fig["errors"].as_f64().unwrap() <= 0.05 * expected, "errors while an instance was dead: {fig}");
    // A restart of the load balancer ends when it serves again on its port.
    let restart = &faults[1];
    let took = restart["ended_s"].as_f64().unwrap() - restart["started_s"].as_f64().unwrap();
    assert!(took < 15.0, "HAProxy took {took:.1} s to restart");
    // A paused load balancer holds what it was sent: the slowest read shows the pause.
    let pause = &faults[2];
    let held = pause["figures"]["read_max_us"].as_f64().unwrap() / 1e6;
    assert!(held >= 2.0, "the slowest read during a 3 s pause of HAProxy took {held:.2} s");
    no_write_lost(&summary, &output);
    let named: Vec<&str> =
        summary["verdict"]["faults"].as_array().unwrap().iter().map(|f| f["tier"].as_str().unwrap()).collect();
    assert_eq!(named, ["app", "lb", "lb"]);
}
