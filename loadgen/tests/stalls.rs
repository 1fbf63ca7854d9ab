//! Faults made from outside the project, during constant-rate runs: the target stalls (a
//! PostgreSQL table lock held by another session; Redis answering nothing), or a process eats
//! an app box's CPU quota without being accounted to it. In each, the generator must keep its
//! schedule (sends never wait on answers), the stall must show in latency, the run must be
//! trustworthy, and the verdict must name the tier that stalled.

mod common;

use std::path::Path;
use std::time::Duration;

use loadgen::{scenario::Scenario, RunOptions, Summary, TargetChoice};

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn constant(name: &str, rate: u32, seconds: u32) -> Scenario {
    let text = format!(
        "name = \"{name}\"\nseed = 5\nduration = \"{seconds}s\"\nwarmup = \"2s\"\n\
         [mix]\nread = 100\nwrite = 1\n[keys]\nzipf_exponent = 1.0\npreload = 100\n\
         [load]\ncurve = \"constant\"\nrate = {rate}\n[verify]\nevery = 0\n\
         [generator]\nmax_lag_p99 = \"5ms\"\n"
    );
    Scenario::parse(&text, Path::new(&format!("{name}.toml"))).unwrap_or_else(|e| panic!("{e}"))
}

fn options(scenario: Scenario, target: TargetChoice, reports: &Path) -> RunOptions {
    RunOptions {
        scenario,
        target,
        reports_dir: reports.to_owned(),
        run_id: None,
        goose_report: false,
        progress: false,
        users: None,
        profile: true,
    }
}

/// The checks every stall shares; returns the verdict's tier.
fn judged(s: &Summary) -> String {
    let v = s.verdict.as_ref().expect("a verdict");
    eprintln!("verdict: {} [{}] {}", v.bottleneck, v.confidence, v.sentence);
    for e in &v.evidence {
        eprintln!("  {} {} = {} ({}) {}", e.tier, e.metric, e.value, e.threshold, e.note);
    }
    eprintln!(
        "  lag p99 {} µs, p99 {} µs, peak in flight {}, held at cap {}, reasons {:?}",
        s.schedule_lag.lag_us.p99,
        s.operations.all.latency_us.p99,
        s.generator.peak_in_flight,
        s.generator.held_at_cap,
        s.generator.reasons
    );
    assert!(s.trustworthy, "the generator kept its schedule: {:?}", s.generator.reasons);
    assert!(s.schedule_lag.lag_us.p99 <= 5_000, "schedule lag p99 {} µs", s.schedule_lag.lag_us.p99);
    v.bottleneck.clone()
}

fn profile(dir: &Path, name: &str, service: &str) {
    std::fs::write(
        dir.join(format!("{name}.toml")),
        format!("name = \"{name}\"\nstage = \"start\"\n[service]\n{service}\n"),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_locked_by_another_session_for_ten_seconds_is_the_database() {
    let Some(url) = common::fresh_pg("stall").await else { return };
    let _serial = common::SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    profile(dir.path(), "pg", &format!("[service.http]\nrequest_timeout = \"30s\"\n[service.database]\nkind = \"postgres\"\nprimary_url = \"{url}\"\npool_size = 8\nacquire_timeout = \"30s\"\nstatement_timeout = \"30s\""));
    let target = TargetChoice::Embedded { profile: "pg".into(), profiles_dir: dir.path().to_owned() };
    let reports = tempfile::tempdir().unwrap();
    let lock_url = url.clone();
    let locker = tokio::spawn(async move {
        // The run's measured part starts after preload and warm-up; lock well inside it.
        tokio::time::sleep(Duration::from_secs(7)).await;
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&lock_url).await.unwrap();
        sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
        sqlx::query("LOCK TABLE user_content IN ACCESS EXCLUSIVE MODE").execute(&mut conn).await.unwrap();
        tokio::time::sleep(Duration::from_secs(10)).await;
        sqlx::query("COMMIT").execute(&mut conn).await.unwrap();
    });
    let report = loadgen::run(options(constant("pg-lock", 200, 24), target, reports.path()))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    locker.await.unwrap();
    common::drop_pg(&url).await;
    let s = &report.summary;
    assert_eq!(judged(s), "db_primary", "{:#?}", s.verdict);
    assert!(
        s.operations.all.latency_us.p99 >= 1_000_000,
        "the stall shows in latency: p99 {} µs",
        s.operations.all.latency_us.p99
    );
    assert!(
        s.generator.peak_in_flight >= 500,
        "requests piled up in flight instead of holding sends back: {}",
        s.generator.peak_in_flight
    );
    let v = s.verdict.as_ref().unwrap();
    assert!(v.evidence.iter().any(|e| e.metric == "postgres.lock_waiting_backends"), "{:#?}", v.evidence);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_answering_nothing_for_five_seconds_is_the_cache() {
    let Some(redis) = common::confined::ConfinedRedis::start(1.0) else { return };
    let _serial = common::SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    profile(
        dir.path(),
        "cached",
        &format!("[service.cache]\nkind = \"redis\"\nurl = \"{}\"\ntimeout = \"250ms\"", redis.url),
    );
    let target = TargetChoice::Embedded { profile: "cached".into(), profiles_dir: dir.path().to_owned() };
    let reports = tempfile::tempdir().unwrap();
    let url = redis.url.clone();
    let pauser = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(7)).await;
        let client = redis::Client::open(url.as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let _: () = redis::cmd("CLIENT").arg("PAUSE").arg(5000).arg("ALL").query_async(&mut conn).await.unwrap();
    });
    let report = loadgen::run(options(constant("redis-pause", 300, 20), target, reports.path()))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    pauser.await.unwrap();
    let s = &report.summary;
    assert_eq!(judged(s), "cache", "{:#?}", s.verdict);
    assert!(
        s.operations.all.latency_us.p99 >= 200_000,
        "the stall shows in latency: p99 {} µs",
        s.operations.all.latency_us.p99
    );
    let v = s.verdict.as_ref().unwrap();
    assert!(v.evidence.iter().any(|e| e.metric == "redis.unanswered"), "{:#?}", v.evidence);
}

/// A CPU hog written into the app box's CPU-quota cgroup only: on cgroup v1 with `cpu` and
/// `cpuacct` mounted apart it is not accounted to the box, but it eats the box's quota.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_box_throttled_by_a_process_it_does_not_account_is_named() {
    let _serial = common::SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let profile = loadgen_profile(
        "throttled",
        "[[boxes]]\ntier = \"app\"\ncount = 1\ncpus = 0.5\n[[boxes]]\ntier = \"db\"\ncount = 1\ncpus = 0.5\n",
    );
    let topology = loadgen::topology::TopologyOptions {
        run_dir: Some(dir.path().join("run")),
        keep_run_dir: false,
        exe: env!("CARGO_BIN_EXE_loadgen").into(),
    };
    let deployment = match loadgen::topology::Topology::up(profile, topology).await {
        Ok(d) => d,
        Err(e) if e.is_missing_binary() && !in_ci() => return eprintln!("SKIPPED: {e}"),
        Err(e) => panic!("users-plus did not come up: {e}"),
    };
    let Some(app_cgroup) = deployment.boxes().into_iter().find(|b| b.tier == "app").and_then(|b| b.cgroup) else {
        assert!(!in_ci(), "the app box has no cgroup and CI=true");
        return eprintln!("SKIPPED: boxes run unconfined here");
    };
    let target = loadgen::target::RunningTarget::launched(deployment);
    let hog = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(8)).await;
        let child = std::process::Command::new("sh").args(["-c", "while :; do :; done"]).spawn().unwrap();
        std::fs::write(app_cgroup.join("cgroup.procs"), child.id().to_string()).unwrap();
        child
    });
    let reports = tempfile::tempdir().unwrap();
    let run_options = RunOptions {
        target: TargetChoice::External { url: target.base_url.clone() },
        ..options(constant("throttled", 150, 20), TargetChoice::External { url: String::new() }, reports.path())
    };
    let result = loadgen::run::run_on(&run_options, &target).await;
    let mut child = hog.await.unwrap();
    let _ = child.kill();
    let _ = child.wait();
    target.stop().await;
    let s = result.unwrap_or_else(|e| panic!("{e}")).summary;
    let v = s.verdict.as_ref().expect("a verdict");
    eprintln!("verdict: {} [{}] {} / {:?}", v.bottleneck, v.confidence, v.sentence, v.evidence);
    assert_eq!(v.bottleneck, "app", "{v:#?}");
    assert!(v.evidence.iter().any(|e| e.note.contains("app box")), "{:#?}", v.evidence);
}

/// A users-plus profile with these boxes (PostgreSQL, table queue, in-process workers).
fn loadgen_profile(name: &str, boxes: &str) -> service::config::Profile {
    let text = format!(
        "name = \"{name}\"\nstage = \"users-plus\"\n{boxes}\n[service.database]\nkind = \"postgres\"\n\
         primary_url = \"postgres://postgres@127.0.0.1:5432/test\"\npool_size = 16\n\
         [service.object_store]\nkind = \"local\"\npath = \"objects\"\n[service.queue]\nkind = \"table\"\n\
         [service.worker]\nin_process = true\nconcurrency = 2\n"
    );
    service::config::Profile::parse(&text, Path::new(&format!("{name}.toml"))).unwrap_or_else(|e| panic!("{e}"))
}
