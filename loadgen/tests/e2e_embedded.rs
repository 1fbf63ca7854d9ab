//! End to end against the reference service itself: `smoke` on the embedded `single-box`
//! profile in a temporary data directory.

mod common;

use loadgen::scenario::Scenario;
use loadgen::{Exit, RunOptions, TargetChoice};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke_against_the_embedded_service() {
    let root = common::repo_root();
    let scenario = Scenario::find("smoke", &root.join("scenarios")).unwrap();
    let reports = tempfile::tempdir().unwrap();
    let options = RunOptions {
        scenario,
        target: TargetChoice::Embedded { profile: "single-box".into(), profiles_dir: root.join("profiles") },
        reports_dir: reports.path().to_owned(),
        run_id: None,
        goose_report: false,
        progress: false,
        users: None,
        profile: true,
    };
    let report = loadgen::run(options).await.unwrap_or_else(|e| panic!("{e}"));
    let s = &report.summary;
    assert!(report.dir.file_name().unwrap().to_string_lossy().ends_with("-smoke"));
    assert_eq!(s.target.kind, "embedded");
    assert_eq!(s.profile.as_deref(), Some("single-box"));
    assert!(s.operations.all.completed > 0 && s.operations.all.achieved_rate > 0.0);
    assert_eq!(s.operations.all.errors, 0, "{:?}", s.errors_by_kind);
    assert!(s.operations.write.completed > 0);
    assert_eq!(s.verification.lost, 0);
    assert_eq!(s.verification.corrupted, 0);
    assert!(s.verification.verified > 0, "{:?}", s.verification);

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report.dir.join("summary.json")).unwrap()).unwrap();
    common::assert_valid_summary(&json);
    let intervals = loadgen::merge::read_interval_log(&report.dir.join("latency.hlog")).unwrap();
    let logged: u64 = intervals.iter().map(|i| i.histogram.len()).sum();
    assert_eq!(logged, s.operations.all.completed);
    if s.trustworthy {
        assert_eq!(Exit::for_summary(s), Exit::Ok, "{:?}", s.slo);
    }
}
