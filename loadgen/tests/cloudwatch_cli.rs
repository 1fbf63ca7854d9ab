//! `--cloudwatch` from the command line: a bad deployment file or a missing `--target` stops
//! before any load; no region and rejected credentials are said plainly while the run's own
//! results are still written; `loadgen report --cloudwatch` then pulls again and redraws the
//! verdict. CloudWatch is a loopback endpoint speaking the SDK's RPC v2 CBOR; the target is
//! the in-memory fixture server.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::cloudwatch::{Behaviour, FakeCloudWatch, Fixture};
use common::FixtureServer;

/// Runs the binary with AWS settings only from `aws_env` (none from the machine's profile,
/// no instance metadata lookups).
async fn loadgen(args: Vec<String>, aws_env: &[(&str, &str)]) -> (i32, String) {
    let aws_env: Vec<(String, String)> = aws_env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_loadgen"));
        cmd.args(&args);
        for var in [
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "AWS_PROFILE",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_ENDPOINT_URL",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("AWS_CONFIG_FILE", "/nonexistent/aws-config")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
            .env("AWS_EC2_METADATA_DISABLED", "true");
        for (k, v) in &aws_env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.code().unwrap_or(-1), text)
    })
    .await
    .unwrap()
}

fn run_args(target: &str, deployment: &Path, reports: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["--scenario", "smoke", "--no-progress", "--run-id", "aws", "--cloudwatch-wait", "0s"]
        .map(str::to_owned)
        .to_vec();
    args.extend(["--target".into(), target.to_owned(), "--cloudwatch".into(), deployment.display().to_string()]);
    args.extend(["--reports-dir".into(), reports.display().to_string()]);
    args.extend(["--scenarios-dir".into(), common::repo_root().join("scenarios").display().to_string()]);
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args
}

fn write_deployment(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("aws.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

const DEPLOYMENT: &str =
    "stage = \"users-plus-plus-plus\"\nregion = \"us-east-1\"\n[db_primary]\ndb_instance = \"content-db\"\n";
const CREDENTIALS: [(&str, &str); 2] = [("AWS_ACCESS_KEY_ID", "AKIDTEST"), ("AWS_SECRET_ACCESS_KEY", "test-secret")];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_deployment_files_and_a_missing_target_stop_before_any_load() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write_deployment(dir.path(), "[db_primary]\ndb_instance = \"content-db\"\nport = 5432\n");
    let (code, text) = loadgen(run_args("http://127.0.0.1:9", &bad, dir.path(), &[]), &[]).await;
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("aws.toml") && text.contains("port"), "{text}");
    let good = write_deployment(dir.path(), DEPLOYMENT);
    let args: Vec<String> = ["--scenario", "smoke", "--cloudwatch", good.to_str().unwrap()].map(str::to_owned).to_vec();
    let (code, text) = loadgen(args, &[]).await;
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("--cloudwatch needs --target"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_region_is_said_and_the_run_is_still_written() {
    let _serial = common::SERIAL.lock().await;
    let server = FixtureServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let deployment = write_deployment(dir.path(), "[db_primary]\ndb_instance = \"content-db\"\n");
    let (code, text) = loadgen(run_args(&server.url, &deployment, dir.path(), &[]), &CREDENTIALS).await;
    assert_eq!(code, 0, "the run itself went fine: {text}");
    assert!(text.contains("no AWS region: set `region` in"), "{text}");
    assert!(text.contains("client-side results"), "{text}");
    let s = summary(&dir.path().join("aws"));
    assert!(s["operations"]["all"]["completed"].as_u64().unwrap() > 0);
    assert!(s["cloudwatch"]["error"].as_str().unwrap().contains("no AWS region"), "{s:#}");
    assert!(dir.path().join("aws/cloudwatch.json").is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_credentials_keep_the_run_and_report_pulls_again() {
    let _serial = common::SERIAL.lock().await;
    let server = FixtureServer::start().await;
    let refusing = FakeCloudWatch::start(Behaviour::Fail(403, "InvalidClientTokenId")).await;
    let answering = FakeCloudWatch::start(Behaviour::Answer(Arc::new(Fixture::load("saturated-rds")))).await;
    let dir = tempfile::tempdir().unwrap();
    let deployment = write_deployment(dir.path(), DEPLOYMENT);

    let extra = ["--cloudwatch-endpoint-url", refusing.url.as_str()];
    let (code, text) = loadgen(run_args(&server.url, &deployment, dir.path(), &extra), &CREDENTIALS).await;
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("AWS rejected the credentials (InvalidClientTokenId"), "{text}");
    let run = dir.path().join("aws");
    let s = summary(&run);
    assert!(s["operations"]["all"]["completed"].as_u64().unwrap() > 0);
    assert!(s["cloudwatch"]["error"].as_str().unwrap().contains("rejected the credentials"));
    assert!(!refusing.requests.lock().unwrap().is_empty(), "the SDK reached the endpoint");

    let args: Vec<String> = vec![
        "report".into(),
        run.display().to_string(),
        "--cloudwatch".into(),
        deployment.display().to_string(),
        "--cloudwatch-endpoint-url".into(),
        answering.url.clone(),
        "--cloudwatch-wait".into(),
        "0s".into(),
    ];
    let (code, text) = loadgen(args, &CREDENTIALS).await;
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("series with data at 60 s per point"), "{text}");
    assert!(text.contains("sooner than CloudWatch's ingestion delay"), "pulled at once, and said so: {text}");
    let s = summary(&run);
    assert!(s["cloudwatch"]["error"].is_null(), "{s:#}");
    assert_eq!(s["cloudwatch"]["series_with_data"], 8, "{s:#}");
    let timeline = std::fs::read_to_string(run.join("timeline.json")).unwrap();
    assert!(timeline.contains("cloudwatch.db_primary.cpu_utilization"));
    let html = std::fs::read_to_string(run.join("index.html")).unwrap();
    assert!(html.contains("CloudWatch (aws.toml)"), "the report shows the pull");
}
