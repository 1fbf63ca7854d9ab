//! End to end against the in-memory fixture server (not the reference service): a short
//! run, its summary, interval log and read-backs; and coordinated-omission correctness when
//! the target stalls.

mod common;

use std::time::Duration;

use common::{assert_valid_summary, Fault, FixtureServer};
use loadgen::scenario::Scenario;
use loadgen::{RunOptions, TargetChoice};

fn scenario(text: &str) -> Scenario {
    Scenario::parse(text, std::path::Path::new("test.toml")).expect("test scenario is valid")
}

fn options(scenario: Scenario, url: &str, reports: &std::path::Path, users: Option<usize>) -> RunOptions {
    RunOptions {
        scenario,
        target: TargetChoice::External { url: url.to_owned() },
        reports_dir: reports.to_owned(),
        run_id: Some("test-run".into()),
        goose_report: false,
        progress: false,
        users,
        profile: true,
    }
}

const SHORT: &str = r#"
name = "short"
duration = "3s"
warmup = "1s"
[keys]
preload = 40
[mix]
read = 10
write = 1
[load]
curve = "constant"
rate = 200
[verify]
every = 1
delay = "200ms"
[slo]
p99 = "200ms"
max_error_rate = 0.0
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_run_against_the_fixture() {
    let _serial = common::SERIAL.lock().await;
    let server = FixtureServer::start().await;
    let reports = tempfile::tempdir().unwrap();
    let report = loadgen::run(options(scenario(SHORT), &server.url, reports.path(), None)).await.unwrap();
    let s = &report.summary;

    assert_eq!(s.operations.all.intended, 600, "3 s at 200/s");
    assert_eq!(s.operations.all.completed, 600);
    assert_eq!(s.operations.all.errors, 0, "{:?}", s.errors_by_kind);
    assert!(s.operations.write.completed >= 50 && s.operations.write.completed <= 60);
    assert!(s.operations.all.achieved_rate > 150.0, "{}", s.operations.all.achieved_rate);
    assert!(s.operations.all.latency_us.p50 > 0);
    assert_eq!(s.verification.lost, 0);
    assert_eq!(s.verification.corrupted, 0);
    assert!(s.verification.verified > 40, "{:?}", s.verification);
    assert!(s.trustworthy, "{:?}", s.generator.reasons);
    assert!(s.slo.passed, "{:?}", s.slo);
    assert_eq!(loadgen::Exit::for_summary(s), loadgen::Exit::Ok);
    assert!(s.series.len() >= 3);
    assert!(server.items() >= 40 + 50);

    // The files: summary.json matches its schema; the interval log parses back whole.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report.dir.join("summary.json")).unwrap()).unwrap();
    assert_valid_summary(&json);
    let intervals = loadgen::merge::read_interval_log(&report.dir.join("latency.hlog")).unwrap();
    let logged: u64 = intervals.iter().map(|i| i.histogram.len()).sum();
    assert_eq!(logged, 600);
    assert!(intervals.iter().any(|i| i.tag.as_deref() == Some("write")));
}

/// `send_threads = 2` spreads the users over a two-thread runtime: the same schedule is kept
/// and the summary says how many threads sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_spread_over_two_sending_threads_keep_the_schedule() {
    let _serial = common::SERIAL.lock().await;
    let server = FixtureServer::start().await;
    let reports = tempfile::tempdir().unwrap();
    let text = format!("{SHORT}[generator]\nsend_threads = 2\n");
    let report = loadgen::run(options(scenario(&text), &server.url, reports.path(), None)).await.unwrap();
    let s = &report.summary;
    assert_eq!(s.operations.all.completed, 600);
    assert_eq!(s.operations.all.errors, 0, "{:?}", s.errors_by_kind);
    assert_eq!(s.generator.threads, 2);
    assert!(s.generator.cpu_seconds > 0.0 || s.generator.cpu_source == "unavailable");
    assert!(s.trustworthy, "{:?}", s.generator.reasons);
}

/// With `--goose-report`, each request also goes to Goose's metrics and Goose writes its own
/// report beside the summary (without it, Goose's metrics are off).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goose_report_is_written_when_asked_for() {
    let _serial = common::SERIAL.lock().await;
    let server = FixtureServer::start().await;
    let reports = tempfile::tempdir().unwrap();
    let mut run = options(scenario(SHORT), &server.url, reports.path(), None);
    run.goose_report = true;
    let report = loadgen::run(run).await.unwrap();
    assert_eq!(report.summary.operations.all.completed, 600);
    assert_eq!(report.summary.files.goose_report.as_deref(), Some("goose-report.html"));
    let html = std::fs::read_to_string(report.dir.join("goose-report.html")).unwrap();
    // Goose's request table names the two operations the transaction reported.
    assert!(html.contains("GET read") && html.contains("POST write"), "Goose report without the two operations");
}

/// wrk2's test: while the server stalls 500 ms, requests keep being *intended*; their
/// latency counts from then, so p99 rises to the stall. Sends do not wait on answers: with
/// two users, the requests intended during the stall still leave on time and wait in flight,
/// so the schedule is kept and the run is judged (an open-model generator does not run out of
/// users because the target is slow).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_target_raises_p99_from_the_intended_time() {
    let server = FixtureServer::stalling(40 + 300, Duration::from_millis(500)).await;
    let reports = tempfile::tempdir().unwrap();
    let text = SHORT.replace("duration = \"3s\"", "duration = \"4s\"").replace("p99 = \"200ms\"", "p99 = \"100ms\"");
    let report = loadgen::run(options(scenario(&text), &server.url, reports.path(), Some(2))).await.unwrap();
    let s = &report.summary;
    let all = &s.operations.all;
    assert_eq!(all.errors, 0);
    // About 100 of 800 sends fall into the stall; their latencies spread over 0..500 ms.
    assert!(all.latency_us.p99 >= 400_000, "p99 {} µs", all.latency_us.p99);
    assert!(all.latency_us.max >= 450_000, "max {} µs", all.latency_us.max);
    assert!(all.latency_us.p50 < 50_000, "p50 {} µs", all.latency_us.p50);
    // The sends left on time: the stall held requests in flight, not the schedule.
    assert!(s.schedule_lag.lag_us.p99 <= 5_000, "{:?}", s.schedule_lag);
    assert!(s.generator.peak_in_flight >= 50, "in flight at most {}", s.generator.peak_in_flight);
    assert_eq!(s.generator.held_at_cap, 0);
    assert!(s.trustworthy, "{:?}", s.generator.reasons);
    assert!(!s.slo.passed);
    assert_eq!(loadgen::Exit::for_summary(s), loadgen::Exit::SloBreached);
}

/// With the in-flight cap at 8, the stalled target holds all eight: the sends intended
/// meanwhile wait for a slot, are counted apart, charged from their intended time, and the
/// schedule lag (the generator's own lateness) stays clean.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_past_the_in_flight_cap_are_counted_apart() {
    let server = FixtureServer::stalling(40 + 300, Duration::from_millis(500)).await;
    let reports = tempfile::tempdir().unwrap();
    let text = SHORT.replace("duration = \"3s\"", "duration = \"4s\"") + "\n[generator]\nmax_in_flight = 8\n";
    let report = loadgen::run(options(scenario(&text), &server.url, reports.path(), None)).await.unwrap();
    let s = &report.summary;
    assert_eq!(s.generator.max_in_flight, 8);
    assert_eq!(s.generator.peak_in_flight, 8);
    assert!(s.generator.held_at_cap >= 50, "held at the cap: {}", s.generator.held_at_cap);
    assert_eq!(s.generator.unsent_at_cap, 0, "the stall ended before the run did: every send left");
    assert!(s.operations.all.latency_us.p99 >= 400_000, "p99 {} µs", s.operations.all.latency_us.p99);
    assert!(s.trustworthy, "{:?}", s.generator.reasons);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_target_is_reported_as_such() {
    let _serial = common::SERIAL.lock().await;
    let reports = tempfile::tempdir().unwrap();
    let err = loadgen::run(options(scenario(SHORT), "http://127.0.0.1:9", reports.path(), None)).await.unwrap_err();
    assert!(matches!(err, loadgen::RunError::Target(loadgen::target::TargetError::Unreachable { .. })), "{err}");
}

/// Two generator processes' reports merge into one: counts add up, the merged interval
/// log holds every sample, and the merged summary still matches the schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_of_two_generators_merge() {
    let _serial = common::SERIAL.lock().await;
    let server = FixtureServer::start().await;
    let reports = tempfile::tempdir().unwrap();
    let text = SHORT.replace("duration = \"3s\"", "duration = \"2s\"").replace("warmup = \"1s\"", "");
    let mut dirs = Vec::new();
    let mut completed = 0;
    for id in ["gen-a", "gen-b"] {
        let mut o = options(scenario(&text), &server.url, reports.path(), None);
        o.run_id = Some(id.into());
        let r = loadgen::run(o).await.unwrap();
        completed += r.summary.operations.all.completed;
        dirs.push(r.dir);
    }
    let out = reports.path().join("merged");
    let merged = loadgen::merge::merge(&dirs, &out).unwrap();
    assert_eq!(merged.operations.all.completed, completed);
    assert_eq!(merged.operations.all.intended, 800);
    assert_eq!(merged.generator.processes, 2);
    assert!(merged.trustworthy);
    let logged: u64 =
        loadgen::merge::read_interval_log(&out.join("latency.hlog")).unwrap().iter().map(|i| i.histogram.len()).sum();
    assert_eq!(logged, completed);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_valid_summary(&json);
}

/// Acknowledged writes that vanish or change are found by the read-back and break the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_and_corrupted_writes_are_counted() {
    let _serial = common::SERIAL.lock().await;
    let text = SHORT.replace("duration = \"3s\"", "duration = \"2s\"").replace("warmup = \"1s\"", "");
    for fault in [Fault::Lose, Fault::Corrupt] {
        let server = FixtureServer::faulty(40, fault).await;
        let reports = tempfile::tempdir().unwrap();
        let s = loadgen::run(options(scenario(&text), &server.url, reports.path(), None)).await.unwrap().summary;
        let v = &s.verification;
        match fault {
            Fault::Lose => assert!(v.lost > 0 && v.corrupted == 0 && v.verified == 0, "{v:?}"),
            Fault::Corrupt => assert!(v.corrupted > 0 && v.lost == 0 && v.verified == 0, "{v:?}"),
        }
        assert!(!s.slo.passed);
        let check = s.slo.checks.iter().find(|c| c.name == "lost_or_corrupted_writes").unwrap();
        assert!(!check.passed);
    }
}
