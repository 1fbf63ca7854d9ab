//! `loadgen evolve` end to end: the loop runs real steps against real stages and writes its
//! report.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use loadgen::evolve::{evolve, EvolveOptions};
use loadgen::scenario::Scenario;

fn checkout(dir: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(dir)
}

fn options(from: &str, profiles: PathBuf, target_rate: f64, start_rate: f64, reports: &std::path::Path) -> EvolveOptions {
    EvolveOptions {
        scenario: Scenario::find("smoke", &checkout("scenarios")).unwrap(),
        from: from.into(),
        profiles_dir: profiles,
        target_rate,
        start_rate,
        step: Duration::from_secs(3),
        max_steps: 4,
        max_stages: 6,
        reports_dir: reports.to_owned(),
        run_id: Some("evolve-test".into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_the_first_stage_holds_ends_the_loop_there() {
    let _serial = common::SERIAL.lock().await;
    let reports = tempfile::tempdir().unwrap();
    let report = evolve(options("single-box", checkout("profiles"), 40.0, 40.0, reports.path())).await.unwrap();
    let s = &report.summary;
    assert!(s.target_met, "{s:#?}");
    assert_eq!(s.stages.len(), 1);
    let stage = &s.stages[0];
    assert_eq!(stage.profile, "single-box");
    assert_eq!(stage.sustainable_rate, Some(40.0));
    assert_eq!(stage.steps.len(), 1);
    assert!(stage.steps[0].passed);
    // Every step is an ordinary run with its own report; the loop has its own page and JSON.
    assert!(report.dir.join(&stage.steps[0].report).join("index.html").is_file());
    assert!(report.dir.join("index.html").is_file());
    let written = std::fs::read_to_string(report.dir.join("evolve.json")).unwrap();
    // What was written is what the loop returned (compared as text: parsing floats back may
    // differ in the last bit), and it reads back as the same type.
    assert_eq!(written, serde_json::to_string_pretty(s).unwrap());
    let _: loadgen::evolve::EvolveSummary = serde_json::from_str(&written).unwrap();
    let projection = s.projection.as_ref().expect("a projection from the measured demands");
    assert!(projection.tiers.iter().any(|t| t.tier == "app" && t.instances >= 1), "{projection:?}");
}

/// The loop over launched stages (CI acceptance of issue 5): from a single box made CPU-bound,
/// it must visit at least three stages, each move driven by a named service bottleneck.
#[test]
fn the_loop_visits_three_stages_on_real_servers() {
    // Not beside the other test of this file: both load the same two cores.
    let _serial = common::SERIAL.blocking_lock();
    let needs = ["haproxy", "redis-server"];
    let present = needs.iter().all(|p| std::process::Command::new("sh").args(["-c", &format!("command -v {p} || test -x /usr/sbin/{p}")]).output().is_ok_and(|o| o.status.success()))
        && std::fs::read_dir("/usr/lib/postgresql").is_ok();
    if !present {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "postgresql, redis-server or haproxy missing and CI=true");
        eprintln!("SKIPPED: postgresql, redis-server and haproxy are needed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let profiles = dir.path().join("profiles");
    std::fs::create_dir(&profiles).unwrap();
    for entry in std::fs::read_dir(checkout("profiles")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, profiles.join(path.file_name().unwrap())).unwrap();
    }
    // The single box given 2 ms of CPU per request, so its own CPU binds well before the
    // generator's (which shares the machine with it).
    let single = std::fs::read_to_string(checkout("profiles").join("single-box.toml")).unwrap();
    let mut doc: toml::Table = toml::from_str(&single).unwrap();
    let service = doc.get_mut("service").unwrap().as_table_mut().unwrap();
    let http = service.entry("http").or_insert_with(|| toml::Value::Table(toml::Table::new())).as_table_mut().unwrap();
    http.insert("extra_cpu_per_request".into(), "2ms".into());
    std::fs::write(profiles.join("single-box.toml"), toml::to_string(&doc).unwrap()).unwrap();

    let reports = dir.path().join("reports");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["evolve", "--scenario", "smoke", "--step", "3s", "--start-rate", "200", "--target-rate", "100000", "--max-steps", "6", "--max-stages", "3", "--run-id", "e"])
        .arg("--scenarios-dir")
        .arg(checkout("scenarios"))
        .arg("--profiles-dir")
        .arg(&profiles)
        .arg("--reports-dir")
        .arg(&reports)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let text = std::fs::read_to_string(reports.join("e/evolve.json")).unwrap_or_else(|e| panic!("evolve.json: {e}\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    let summary: loadgen::evolve::EvolveSummary = serde_json::from_str(&text).unwrap();
    let visited: Vec<&str> = summary.stages.iter().map(|s| s.profile.as_str()).collect();
    assert!(visited.len() >= 3, "visited {visited:?}\n{stdout}");
    for stage in &summary.stages[..summary.stages.len() - 1] {
        // Each move was driven by a service tier the next stage addresses, not by the
        // generator or by nothing.
        assert!(!matches!(stage.bottleneck.as_str(), "generator" | "none"), "{} moved on without a bottleneck: {stage:?}", stage.profile);
        assert_ne!(stage.next_profile.as_deref(), Some(stage.profile.as_str()));
    }
    assert!(reports.join("e/index.html").is_file());
}
