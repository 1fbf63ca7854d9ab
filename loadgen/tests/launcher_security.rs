//! The launcher's servers are private to the run: PostgreSQL refuses a connection without
//! the run's password (replication included, and the standby and replica still stream with
//! it), Redis answers NOAUTH, the run directory is new and mode 0700, files with passwords
//! are 0600, and a report of a run on the stage shows neither password. A run directory path
//! that already exists (directory or symlink) is refused and left untouched.
//!
//! A missing server program skips a test with a message, or fails it under `CI=true`.

mod common;

use std::{
    io::{Read, Write},
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    time::Duration,
};

use loadgen::topology::{Deployment, Topology, TopologyError, TopologyOptions};
use loadgen::{scenario::Scenario, RunOptions, TargetChoice};
use sqlx::Connection;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn options(run_dir: PathBuf) -> TopologyOptions {
    TopologyOptions { run_dir: Some(run_dir), keep_run_dir: true, exe: env!("CARGO_BIN_EXE_loadgen").into() }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).mode() & 0o7777
}

/// Every file under `dir`, recursively (symlinks not followed).
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if entry.file_type().unwrap().is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// The password of a `scheme://user:password@host…` URL.
fn password_of(url: &str) -> String {
    let authority = url.split("://").nth(1).and_then(|r| r.split('@').next()).unwrap();
    authority.split(':').nth(1).unwrap_or_else(|| panic!("no password in the launched URL")).to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_dir_that_already_exists_is_refused_and_left_alone() {
    let base = tempfile::tempdir().unwrap();
    let existing = base.path().join("existing");
    std::fs::create_dir(&existing).unwrap();
    std::fs::write(existing.join("keep.txt"), "mine").unwrap();
    let victim = base.path().join("victim");
    let link = base.path().join("link");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let profiles = common::repo_root().join("profiles");
    for path in [&existing, &link] {
        let e = Topology::up_named("single-box", &profiles, options(path.clone())).await.map(drop).unwrap_err();
        assert!(matches!(e, TopologyError::RunDirExists { .. }), "{e}");
        assert!(e.to_string().contains(&path.display().to_string()), "the error names the path: {e}");
    }
    assert_eq!(std::fs::read_to_string(existing.join("keep.txt")).unwrap(), "mine");
    assert_eq!(std::fs::read_dir(&existing).unwrap().count(), 1, "nothing was added to the refused directory");
    assert!(!victim.exists(), "nothing was created through the symlink");
}

/// Brings `profile` up; `None` (skipped) when a server program is missing outside CI.
async fn up(profile: &str, run_dir: PathBuf) -> Option<Deployment> {
    match Topology::up_named(profile, &common::repo_root().join("profiles"), options(run_dir)).await {
        Ok(d) => Some(d),
        Err(e) if e.is_missing_binary() => {
            assert!(!in_ci(), "{e} and CI=true: failing rather than skipping");
            eprintln!("SKIPPED: {e}");
            None
        }
        Err(e) => panic!("{profile} did not come up: {e}"),
    }
}

/// The run directory, the clusters' directory and every file with a password are private.
fn files_are_private(d: &Deployment) {
    assert_eq!(mode(&d.run_dir), 0o700, "run directory {}", d.run_dir.display());
    let pg_dir = d.pg_dir().expect("the stage has PostgreSQL");
    assert_eq!(mode(pg_dir), 0o700, "{}", pg_dir.display());
    assert_eq!(mode(&pg_dir.join("pgpass")), 0o600);
    assert!(
        !files(pg_dir).iter().any(|f| f.to_string_lossy().contains("pwfile")),
        "initdb's password file was not removed"
    );
    assert_eq!(mode(&d.run_dir.join("redis/redis.conf")), 0o600);
    let profiles = files(&d.run_dir.join("profiles"));
    assert!(!profiles.is_empty());
    for p in profiles {
        assert_eq!(mode(&p), 0o600, "{}", p.display());
    }
    let record = std::fs::read_dir(loadgen::topology::sweep::registry_path())
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .find(|t| t.contains(&*d.run_dir.to_string_lossy()));
    assert!(record.is_some_and(|t| t.contains(&std::process::id().to_string())), "no owner record names this run");
}

/// Every cluster refuses no password and a wrong one, has no `trust` rule, and the
/// standby and replica stream from the primary with the password.
async fn postgres_requires_the_password(d: &Deployment) {
    for node in d.pg_nodes() {
        let url = node.url().replace("/scaleloop", "/postgres");
        let password = password_of(&url);
        for wrong in [url.replace(&format!(":{password}@"), "@"), url.replace(&password, "not-the-password")] {
            let e = sqlx::PgConnection::connect(&wrong).await.map(drop).expect_err("connected without the password");
            assert!(e.to_string().contains("password authentication failed"), "{}: {e}", node.name);
        }
        let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
        let rules: Vec<(String, String)> =
            sqlx::query_as("SELECT type, auth_method FROM pg_hba_file_rules").fetch_all(&mut c).await.unwrap();
        assert!(
            rules.iter().all(|(t, a)| a != "trust" && (t == "local" || a == "scram-sha-256")),
            "{}: {rules:?}",
            node.name
        );
        let encryption: String = sqlx::query_scalar("SHOW password_encryption").fetch_one(&mut c).await.unwrap();
        assert_eq!(encryption, "scram-sha-256");
    }
    let primary = d.pg_nodes().next().unwrap().url().replace("/scaleloop", "/postgres");
    let mut c = sqlx::PgConnection::connect(&primary).await.unwrap();
    let streaming: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(
        streaming as usize,
        d.pg_nodes().count() - 1,
        "the standby and the replica authenticate their replication"
    );
}

/// One raw command to Redis on `port`; its first reply line.
fn raw_redis(port: u16, command: &str) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(command.as_bytes()).unwrap();
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[..n]).lines().next().unwrap_or_default().to_owned()
}

async fn redis_requires_the_password(d: &Deployment) {
    let url = d.endpoints().redis_url.clone().expect("the stage has Redis");
    let port: u16 = url.rsplit(':').next().unwrap().split('/').next().unwrap().parse().unwrap();
    assert!(raw_redis(port, "PING\r\n").starts_with("-NOAUTH"), "PING without AUTH was answered");
    assert!(raw_redis(port, "AUTH not-the-password\r\n").starts_with("-WRONGPASS"));
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let get = |name: &'static str| redis::cmd("CONFIG").arg("GET").arg(name).clone();
    let protected: Vec<String> = get("protected-mode").query_async(&mut conn).await.unwrap();
    let bind: Vec<String> = get("bind").query_async(&mut conn).await.unwrap();
    assert_eq!(protected[1], "yes");
    assert_eq!(bind[1], "127.0.0.1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn launched_servers_refuse_connections_without_the_run_password_and_reports_show_none() {
    let base = tempfile::Builder::new().prefix("launcher-security-").tempdir().unwrap();
    let run_dir = base.path().join("run");
    let work = async {
        let Some(d) = up("users-plus-plus-plus", run_dir.clone()).await else { return };
        files_are_private(&d);
        postgres_requires_the_password(&d).await;
        redis_requires_the_password(&d).await;
        let endpoints = d.endpoints();
        let secrets = [
            password_of(endpoints.primary_url.as_deref().unwrap()),
            password_of(endpoints.redis_url.as_deref().unwrap()),
        ];
        let pg_dir = d.pg_dir().unwrap().to_owned();
        // A short run through the stage: the service works behind the passwords, and no
        // file of its report nor log of the run shows one.
        let mut scenario = Scenario::find("smoke", &common::repo_root().join("scenarios")).unwrap();
        scenario.duration = Duration::from_secs(2);
        scenario.warmup = Duration::ZERO;
        let reports = tempfile::tempdir().unwrap();
        let run = RunOptions {
            scenario,
            target: TargetChoice::Topology {
                profile: "users-plus-plus-plus".into(),
                profiles_dir: common::repo_root().join("profiles"),
            },
            reports_dir: reports.path().to_owned(),
            run_id: Some("secure".into()),
            goose_report: false,
            progress: false,
            users: None,
            profile: true,
        };
        let target = loadgen::target::RunningTarget::launched(d);
        let result = loadgen::run::run_on(&run, &target).await;
        target.stop().await;
        let report = result.unwrap_or_else(|e| panic!("{e}"));
        let s = &report.summary;
        assert!(s.operations.all.completed > 0 && s.verification.lost == 0, "{:?}", s.verification);
        let written: Vec<PathBuf> = files(reports.path()).into_iter().chain(files(&run_dir.join("logs"))).collect();
        assert!(
            written.iter().any(|p| p.ends_with("summary.json")) && written.iter().any(|p| p.ends_with("timeline.json"))
        );
        for path in &written {
            let text = String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned();
            for secret in &secrets {
                assert!(!text.contains(secret.as_str()), "{} shows a password", path.display());
            }
        }
        if !pg_dir.starts_with(&run_dir) {
            assert!(!pg_dir.exists(), "the clusters' own directory outlived the teardown");
        }
    };
    tokio::time::timeout(Duration::from_secs(300), work).await.expect("test took longer than its bound");
}
