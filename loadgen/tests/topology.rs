//! The topology launcher on real servers, one test per shipped profile: the stage comes up,
//! serves the API (a 1 KB write is acknowledged and reads back byte for byte through the load
//! balancer where there is one), and tears down leaving no process and no cgroup behind.
//! Plus: replicas stream and show a write made on the primary; the autoscaler's levers (add
//! and remove an app box); failover to the standby under a stream of writes, losing none;
//! after a failover on Users+++ the replicas stream from the promoted standby.
//!
//! A missing server program (postgresql, redis-server, haproxy) skips a test with a message,
//! or fails it under `CI=true`. Every test is bounded in time and uses its own run directory,
//! ports and cgroups, so they may run in parallel.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use loadgen::topology::{process, Deployment, Topology, TopologyOptions};
use sqlx::Connection;

const BOUND: Duration = Duration::from_secs(240);

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn profiles_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../profiles")
}

/// Brings `profile` up in a fresh temporary run directory; `None` (skipped) when a server
/// program is missing outside CI.
async fn up(profile: &str) -> Option<(Deployment, tempfile::TempDir)> {
    let dir = tempfile::Builder::new().prefix("topology-test-").tempdir().unwrap();
    let options = TopologyOptions {
        run_dir: Some(dir.path().join("run")),
        keep_run_dir: true,
        exe: env!("CARGO_BIN_EXE_loadgen").into(),
    };
    let started = Instant::now();
    match Topology::up_named(profile, &profiles_dir(), options).await {
        Ok(d) => {
            eprintln!("{profile}: up in {:.1} s at {}", started.elapsed().as_secs_f64(), d.base_url);
            Some((d, dir))
        }
        Err(e) if e.is_missing_binary() => {
            assert!(!in_ci(), "{e} and CI=true: failing rather than skipping");
            eprintln!("SKIPPED: {e} (set CI=true to make this a failure)");
            None
        }
        Err(e) => panic!("{profile} did not come up: {e}"),
    }
}

fn payload(tag: &str) -> String {
    // 1 KB, different per write, with characters JSON must escape.
    let unit = format!("{tag} \"quoted\" \\ line\n");
    unit.repeat(1024 / unit.len() + 1)[..1024].to_owned()
}

/// POSTs a 1 KB item; returns its id (asserting 202 and `processing`).
async fn create(client: &reqwest::Client, base: &str, user: &str, body: &str) -> Result<String, String> {
    let r = client
        .post(format!("{base}/api/v1/content"))
        .json(&serde_json::json!({"user_id": user, "payload": body}))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if r.status() != 202 {
        return Err(format!("HTTP {}", r.status()));
    }
    let v: serde_json::Value = r.json().await.map_err(|e| e.to_string())?;
    assert_eq!(v["status"], "processing", "{v}");
    Ok(v["content_id"].as_str().expect("content_id is a string").to_owned())
}

async fn read_back(client: &reqwest::Client, base: &str, id: &str) -> (u16, serde_json::Value) {
    let r = client.get(format!("{base}/api/v1/content/{id}")).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default())
}

/// The API suite every stage must pass through its base URL.
async fn serves_the_api(d: &Deployment) {
    let client = reqwest::Client::new();
    let base = &d.base_url;
    let health = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200, "{}", health.text().await.unwrap_or_default());
    for user in ["alice", "bob", "carol", "dave"] {
        let body = payload(user);
        let id = create(&client, base, user, &body).await.unwrap();
        let (status, got) = read_back(&client, base, &id).await;
        assert_eq!(status, 200, "GET {id}: {got}");
        assert_eq!(got["payload"].as_str(), Some(body.as_str()), "payload of {id} read back differs");
        assert_eq!(got["user_id"], user);
    }
    let (status, _) = read_back(&client, base, "999999999").await;
    assert_eq!(status, 404);
}

/// Every box is confined with the profile's quota (when cgroups are writable, as root).
fn boxes_are_confined(d: &Deployment) {
    if d.cgroup_dirs().is_empty() {
        assert!(!nix::unistd::geteuid().is_root(), "running as root, the boxes should be cgroups");
        eprintln!("boxes unconfined (not root): quota checks skipped");
        return;
    }
    for b in d.boxes() {
        let cg = b.cgroup.as_ref().unwrap_or_else(|| panic!("box {} has no cgroup", b.name));
        assert!(!b.pids.is_empty(), "box {} has no process", b.name);
        // Every box has started a server, which costs CPU time the cgroup accounted.
        assert!(b.cpu_seconds.is_some_and(|s| s > 0.0), "box {}: CPU seconds {:?}", b.name, b.cpu_seconds);
        let quota_file = cg.join("cpu.cfs_quota_us");
        if let (Some(cpus), Ok(text)) = (b.cpus, std::fs::read_to_string(&quota_file)) {
            let quota: f64 = text.trim().parse().unwrap();
            let period: f64 = std::fs::read_to_string(cg.join("cpu.cfs_period_us")).unwrap().trim().parse().unwrap();
            assert!((quota / period - cpus).abs() < 0.011, "box {}: quota {quota}/{period} for {cpus} CPU", b.name);
        }
    }
}

/// Tears `d` down and checks nothing of it is left: no recorded pid, no cgroup directory, no
/// process whose command line names the run directory.
fn torn_down(mut d: Deployment) {
    let pids: Vec<u32> = d.boxes().iter().flat_map(|b| b.pids.clone()).collect();
    let mut cgroups: Vec<PathBuf> = d.boxes().iter().filter_map(|b| b.cgroup.clone()).collect();
    cgroups.extend(d.cgroup_dirs());
    let run_dir = d.run_dir.to_string_lossy().into_owned();
    // The clusters' own directory, when PostgreSQL runs as the postgres user.
    let pg_dir = d.pg_dir().filter(|p| !p.starts_with(&d.run_dir)).map(Path::to_path_buf);
    assert!(!pids.is_empty());
    let started = Instant::now();
    d.down();
    eprintln!("down in {:.1} s", started.elapsed().as_secs_f64());
    drop(d);
    let alive: Vec<u32> = pids.into_iter().filter(|&p| process::pid_alive(p)).collect();
    assert!(alive.is_empty(), "still running after teardown: {alive:?}");
    for cg in cgroups {
        assert!(!cg.exists(), "cgroup left behind: {}", cg.display());
    }
    let left = process::processes_mentioning(&run_dir);
    assert!(left.is_empty(), "processes of the run left behind: {left:?}");
    if let Some(pg_dir) = pg_dir {
        assert!(!pg_dir.exists(), "clusters' directory left behind: {}", pg_dir.display());
        let left = process::processes_mentioning(&pg_dir.to_string_lossy());
        assert!(left.is_empty(), "clusters left behind: {left:?}");
    }
}

async fn stage_round_trip(profile: &str) {
    let Some((d, _dir)) = up(profile).await else { return };
    boxes_are_confined(&d);
    serves_the_api(&d).await;
    torn_down(d);
}

async fn bounded<F: std::future::Future<Output = ()>>(f: F) {
    tokio::time::timeout(BOUND, f).await.expect("test took longer than its bound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_box_up_serves_and_tears_down() {
    bounded(stage_round_trip("single-box")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_plus_up_serves_and_tears_down() {
    bounded(stage_round_trip("users-plus")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_plus_plus_up_serves_and_tears_down() {
    bounded(stage_round_trip("users-plus-plus")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_plus_plus_plus_replicas_stream_and_see_writes() {
    bounded(async {
        let Some((d, _dir)) = up("users-plus-plus-plus").await else { return };
        boxes_are_confined(&d);
        serves_the_api(&d).await;
        let client = reqwest::Client::new();
        let id: i64 = create(&client, &d.base_url, "erin", &payload("erin")).await.unwrap().parse().unwrap();
        let primary = d.pg_nodes().next().unwrap().url();
        let mut c = sqlx::PgConnection::connect(&primary.replace("/scaleloop", "/postgres")).await.unwrap();
        let streaming: Vec<(String, String)> =
            sqlx::query_as("SELECT application_name, state FROM pg_stat_replication ORDER BY 1")
                .fetch_all(&mut c)
                .await
                .unwrap();
        // As many streaming standbys as the shipped profile has: its standby and its replicas.
        let count =
            |tier: &str| d.profile.boxes.iter().filter(|b| b.tier == tier).map(|b| b.count as usize).sum::<usize>();
        let replicas = count("db-replica");
        assert!(replicas >= 1, "the Users+++ profile has no read replica");
        assert_eq!(streaming.len(), count("db-standby") + replicas, "{streaming:?}");
        assert!(streaming.iter().all(|(_, s)| s == "streaming"), "{streaming:?}");
        assert_eq!(d.endpoints().replica_urls.len(), replicas);
        for url in &d.endpoints().replica_urls {
            let mut r = sqlx::PgConnection::connect(url).await.unwrap();
            let in_recovery: bool = sqlx::query_scalar("SELECT pg_is_in_recovery()").fetch_one(&mut r).await.unwrap();
            assert!(in_recovery, "{url} is not a replica");
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let n: i64 = sqlx::query_scalar("SELECT count(*) FROM user_content WHERE id = $1")
                    .bind(id)
                    .fetch_one(&mut r)
                    .await
                    .unwrap();
                if n == 1 {
                    break;
                }
                assert!(Instant::now() < deadline, "write {id} never reached replica {url}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        torn_down(d);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_plus_plus_plus_plus_adds_and_removes_app_boxes() {
    bounded(async {
        let Some((mut d, _dir)) = up("users-plus-plus-plus-plus").await else { return };
        boxes_are_confined(&d);
        serves_the_api(&d).await;
        assert_eq!(d.instance_count(), 2);
        let added = d.add_app_instance().await.unwrap();
        assert_eq!(d.instance_count(), 3);
        let lb = d.haproxy().unwrap();
        let up_servers =
            lb.stats().unwrap().iter().filter(|s| s.backend == "app" && s.status.starts_with("UP")).count();
        assert_eq!(up_servers, 3);
        let new_box = d.boxes().into_iter().find(|b| b.name == added).unwrap();
        serves_the_api(&d).await;
        d.remove_app_instance(&added).await.unwrap();
        assert_eq!(d.instance_count(), 2);
        assert!(new_box.pids.iter().all(|&p| !process::pid_alive(p)), "removed instance still running");
        if let Some(cg) = &new_box.cgroup {
            assert!(!cg.exists(), "removed instance's cgroup left behind");
        }
        assert!(d.haproxy().unwrap().stats().unwrap().iter().all(|s| s.server != added));
        serves_the_api(&d).await;
        torn_down(d);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_plus_plus_plus_plus_plus_splits_reads_and_writes_over_shards() {
    bounded(async {
        let Some((d, _dir)) = up("users-plus-plus-plus-plus-plus").await else { return };
        boxes_are_confined(&d);
        assert_eq!(d.endpoints().shard_urls.len(), 2);
        assert!(d.boxes().iter().any(|b| b.tier == "worker"));
        serves_the_api(&d).await;
        let stats = d.haproxy().unwrap().stats().unwrap();
        let sessions =
            |backend: &str| stats.iter().filter(|s| s.backend == backend).map(|s| s.total_sessions).sum::<u64>();
        assert!(sessions("app-write") >= 4, "POSTs reach the write pool: {stats:?}");
        assert!(sessions("app-read") >= 5, "GETs reach the read pool: {stats:?}");
        // Both shards took writes (users map to shards by hash).
        let client = reqwest::Client::new();
        for i in 0..16 {
            create(&client, &d.base_url, &format!("user-{i}"), &payload("s")).await.unwrap();
        }
        for url in &d.endpoints().shard_urls {
            let mut c = sqlx::PgConnection::connect(url).await.unwrap();
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM user_content").fetch_one(&mut c).await.unwrap();
            assert!(n > 0, "shard {url} holds no rows");
        }
        torn_down(d);
    })
    .await;
}

/// A write acknowledged by the service: id, payload.
type Acked = Arc<Mutex<Vec<(String, String, Instant)>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_to_the_standby_loses_no_acknowledged_write() {
    bounded(async {
        let Some((mut d, _dir)) = up("users-plus-plus").await else { return };
        let base = d.base_url.clone();
        let acked: Acked = Arc::default();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writers: Vec<_> = (0..2)
            .map(|w| {
                let (base, acked, stop) = (base.clone(), acked.clone(), stop.clone());
                tokio::spawn(async move {
                    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
                    let mut n = 0;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        n += 1;
                        let body = payload(&format!("w{w}-{n}"));
                        if let Ok(id) = create(&client, &base, &format!("u{w}"), &body).await {
                            acked.lock().unwrap().push((id, body, Instant::now()));
                        } else {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let before = acked.lock().unwrap().len();
        assert!(before > 10, "writes were not flowing before the kill ({before})");
        let killed_at = Instant::now();
        d.kill_primary();
        d.failover().await.unwrap();
        eprintln!("failover done {:.2} s after the kill", killed_at.elapsed().as_secs_f64());
        tokio::time::sleep(Duration::from_secs(2)).await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for w in writers {
            w.await.unwrap();
        }
        let acked = acked.lock().unwrap().clone();
        // Unavailability: the longest stretch without an acknowledged write, which must
        // span the kill (writes flow every few milliseconds otherwise).
        let mut times: Vec<Instant> = acked.iter().map(|a| a.2).collect();
        times.sort();
        let (gap_start, gap_end) =
            times.windows(2).map(|w| (w[0], w[1])).max_by_key(|(a, b)| b.duration_since(*a)).unwrap();
        let unavailable = gap_end.duration_since(gap_start).as_secs_f64();
        let after = times.iter().filter(|t| **t > killed_at).count();
        assert!(after > 0, "writes did not resume after the failover");
        assert!(gap_end > killed_at, "the longest gap in writes is not the failover's");
        eprintln!(
            "write unavailability: {unavailable:.2} s ({} writes acknowledged before the kill, {after} after)",
            times.len() - after
        );
        let client = reqwest::Client::new();
        let mut lost = Vec::new();
        for (id, body, _) in &acked {
            let (status, got) = read_back(&client, &d.base_url, id).await;
            if status != 200 || got["payload"].as_str() != Some(body.as_str()) {
                lost.push((id.clone(), status));
            }
        }
        assert!(lost.is_empty(), "{} of {} acknowledged writes lost after failover: {lost:?}", lost.len(), acked.len());
        assert!(unavailable < 60.0);
        torn_down(d);
    })
    .await;
}

/// After a failover on a stage with read replicas, they stream from the promoted standby:
/// each needs its replication slot on the new primary (slots are not copied to a standby),
/// which `failover` creates before re-pointing them and then checks in `pg_stat_replication`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_on_users_plus_plus_plus_keeps_the_replicas_streaming() {
    bounded(async {
        let Some((mut d, _dir)) = up("users-plus-plus-plus").await else { return };
        d.kill_primary();
        d.failover().await.unwrap_or_else(|e| panic!("failover with replicas: {e}"));
        let primary = d.pg_nodes().next().unwrap().name.clone();
        assert_eq!(primary, "pg-standby", "the standby is the primary now");
        // A write on the new primary reads back through the instances, whose reads go to
        // the replicas.
        serves_the_api(&d).await;
        torn_down(d);
    })
    .await;
}
