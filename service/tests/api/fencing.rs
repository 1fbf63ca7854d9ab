//! Job fencing: an outcome is recorded only by the holder of the job's latest claim. Two
//! claims of one job (the first's lease ran out mid-job): the stale worker's complete, retry
//! or fail changes nothing, on the database directly and with two real worker fleets. And
//! attempts count the same on both queues: `max_attempts` tries, not one more.

use std::time::{Duration, Instant};

use chrono::Utc;
use service::{
    backend::{NewContent, ProcessedMetadata},
    config::{DatabaseConfig, Profile},
    db::{self, Fenced, ReadRoute},
};

use crate::helpers::{profile_for, spawn_app, Backends, TestApp};

fn meta(tag: &str) -> ProcessedMetadata {
    ProcessedMetadata { size_bytes: tag.len() as u64, sha256: tag.repeat(4), lines: 1 }
}

async fn stale_claim_is_fenced(backends: Backends) {
    let dir = tempfile::tempdir().unwrap();
    let Some(profile) = profile_for(backends, dir.path()).await else { return };
    let cfg = profile.service.clone();
    let db = db::connect(&cfg.database, |p| cfg.resolve(p)).await.unwrap();
    let new = NewContent { user_id: "fence".into(), asset_url: "file:///nowhere".into(), created_at: Utc::now() };
    let inserted = db.insert_content(&new, None).await.unwrap();
    assert_eq!(inserted.attempts, 0, "a table-queue job is not claimed yet");

    // Worker A claims with a short lease and stalls; worker B claims after it ran out.
    let a = db.claim_jobs(1, Duration::from_millis(100)).await.unwrap().remove(0);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let b = db.claim_jobs(1, Duration::from_secs(30)).await.unwrap().remove(0);
    assert_eq!((a.job_id, a.attempts, b.attempts), (inserted.job_id, 1, 2));

    assert_eq!(db.retry_job(&a, Duration::ZERO).await.unwrap(), Fenced::Stale);
    assert_eq!(db.fail_job(&a).await.unwrap(), Fenced::Stale);
    assert_eq!(db.complete_job(&a, &meta("from-a")).await.unwrap(), Fenced::Stale);
    let row = db.get_content(a.content_id, ReadRoute::Primary).await.unwrap().unwrap();
    assert_eq!(row.status.as_str(), "processing", "the stale worker changed the row");
    assert!(db.claim_jobs(1, Duration::from_secs(30)).await.unwrap().is_empty(), "A's retry released B's claim");

    assert_eq!(db.complete_job(&b, &meta("from-b")).await.unwrap(), Fenced::Applied);
    // A finishing after B: still ignored, the row keeps B's outcome.
    assert_eq!(db.complete_job(&a, &meta("from-a")).await.unwrap(), Fenced::Stale);
    assert_eq!(db.fail_job(&a).await.unwrap(), Fenced::Stale);
    let row = db.get_content(a.content_id, ReadRoute::Primary).await.unwrap().unwrap();
    assert_eq!((row.status.as_str(), row.metadata), ("ready", Some(meta("from-b"))));

    // A broker-delivered job starts with its first attempt counted.
    let leased = db.insert_content(&new, Some(Duration::from_millis(50))).await.unwrap();
    assert_eq!(leased.attempts, 1);
    tokio::time::sleep(Duration::from_millis(80)).await;
    let again = db.claim_jobs(1, Duration::from_secs(30)).await.unwrap().remove(0);
    assert_eq!((again.job_id, again.attempts), (leased.job_id, 2));
    assert_eq!(db.complete_job(&leased, &meta("first-delivery")).await.unwrap(), Fenced::Stale);
    assert_eq!(db.complete_job(&again, &meta("redelivery")).await.unwrap(), Fenced::Applied);
    if let DatabaseConfig::Postgres(pg) = &cfg.database {
        crate::helpers::drop_pg_database(&pg.primary_url).await;
    }
}

#[tokio::test]
async fn a_stale_claim_is_fenced_on_sqlite() {
    stale_claim_is_fenced(Backends::SqliteLocal).await;
}

#[tokio::test]
async fn a_stale_claim_is_fenced_on_postgres() {
    stale_claim_is_fenced(Backends::PostgresLocal).await;
}

fn worker_fleet(profile: &Profile, lease: Duration, cpu_per_job: Duration) -> Profile {
    let mut p = profile.clone();
    p.service.queue.lease = lease;
    p.service.worker.extra_cpu_per_job = cpu_per_job;
    p.service.worker.concurrency = 1;
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_lease_expiry_mid_job_the_stale_outcome_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let Some(base) = profile_for(Backends::PostgresLocal, dir.path()).await else { return };
    // A: a lease shorter than its job, so its claim runs out mid-job; B: quick, long lease.
    let a = spawn_app(worker_fleet(&base, Duration::from_millis(400), Duration::from_millis(1500))).await;
    let id = a.create("two-workers", "claimed twice").await;
    // A polls every 10 ms: by now it holds the job; B can claim it only once A's lease is out.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let b = spawn_app(worker_fleet(&base, Duration::from_secs(30), Duration::ZERO)).await;
    let body = b.wait_ready(&id).await;
    assert_eq!(body["metadata"]["sha256"].as_str().map(str::len), Some(64));
    // A finishes later; its outcome must be refused.
    let deadline = Instant::now() + Duration::from_secs(10);
    while a.metric("scaleloop_jobs_stale_total").await < 1.0 {
        assert!(Instant::now() < deadline, "worker A never reported its outcome as stale");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(a.metric("scaleloop_jobs_done_total").await, 0.0, "the stale worker recorded its outcome");
    assert_eq!(b.metric("scaleloop_jobs_done_total").await, 1.0);
    assert_eq!(b.get(&id).await.json::<serde_json::Value>().await.unwrap()["metadata"]["status"], "ready");
    b.shutdown().await;
    a.shutdown().await;
}

/// An API process without workers, and a worker process after the item's payload is gone:
/// every attempt fails, the job is retried until `max_attempts`, then marked failed.
async fn attempts_are_counted_once_per_delivery(backends: Backends) {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut profile) = profile_for(backends, dir.path()).await else { return };
    profile.service.queue.max_attempts = 2;
    profile.service.queue.lease = Duration::from_millis(300);
    let mut api_only = profile.clone();
    api_only.service.worker.in_process = false;
    let api = spawn_app(api_only).await;
    let id = api.create("doomed", "this payload will vanish").await;
    let body: serde_json::Value = api.get(&id).await.json().await.unwrap();
    let key = body["metadata"]["asset_url"].as_str().unwrap().to_owned();
    std::fs::remove_file(dir.path().join("objects").join(&key)).unwrap();
    let worker = spawn_app(profile.clone()).await;
    // (Reading the item now would be a 500: its payload is gone. The worker's counters say.)
    wait_metric(&worker, "scaleloop_jobs_failed_total", 1.0).await;
    assert_eq!(worker.metric("scaleloop_jobs_retried_total").await, 1.0, "max_attempts = 2 means one retry");
    assert_eq!(worker.metric("scaleloop_jobs_failed_total").await, 1.0);
    worker.shutdown().await;
    api.shutdown().await;
}

async fn wait_metric(app: &TestApp, name: &str, want: f64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while app.metric(name).await < want {
        assert!(Instant::now() < deadline, "{name} never reached {want}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempts_count_once_per_delivery_on_the_table_queue() {
    attempts_are_counted_once_per_delivery(Backends::SqliteLocal).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempts_count_once_per_delivery_on_redis_streams() {
    attempts_are_counted_once_per_delivery(Backends::PostgresRedis).await;
}
