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
    let saved: loadgen::evolve::EvolveSummary = serde_json::from_str(&std::fs::read_to_string(report.dir.join("evolve.json")).unwrap()).unwrap();
    assert_eq!(&saved, s);
    let projection = s.projection.as_ref().expect("a projection from the measured demands");
    assert!(projection.tiers.iter().any(|t| t.tier == "app" && t.instances >= 1), "{projection:?}");
}
