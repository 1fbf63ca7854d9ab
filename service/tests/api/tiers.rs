//! The counters a profiler attributes time with: cache hits spare the database, replica
//! reads go to the replica pool, and a backend that goes down yields 503 with Retry-After.

use std::time::Duration;

use service::config::{DatabaseConfig, PostgresConfig};

use crate::helpers::{fresh_pg_database, profile_for, spawn_app, with_memory_cache, Backends, Proxy, TestApp};

async fn reads_hit_the_database_once(app: &TestApp) {
    let id = app.create("cached", "some cached payload").await;
    app.wait_ready(&id).await;
    // The readiness poll may have cached the item already; start from a clean slate of counts.
    let db_before = app.metric("scaleloop_tier_calls_total{tier=\"db_primary\"}").await
        + app.metric("scaleloop_tier_calls_total{tier=\"db_replica\"}").await;
    let hits_before = app.metric("scaleloop_cache_hits_total").await;
    for _ in 0..20 {
        let r = app.get(&id).await;
        assert_eq!(r.status(), 200);
    }
    let db_after = app.metric("scaleloop_tier_calls_total{tier=\"db_primary\"}").await
        + app.metric("scaleloop_tier_calls_total{tier=\"db_replica\"}").await;
    let hits = app.metric("scaleloop_cache_hits_total").await - hits_before;
    assert!(db_after - db_before <= 1.0, "20 GETs made {} database calls", db_after - db_before);
    assert!(hits >= 19.0, "only {hits} cache hits out of 20 GETs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_cache_spares_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let profile = with_memory_cache(profile_for(Backends::SqliteLocal, dir.path()).await.unwrap());
    let app = spawn_app(profile).await;
    reads_hit_the_database_once(&app).await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cache_spares_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let Some(profile) = profile_for(Backends::PostgresRedis, dir.path()).await else { return };
    let app = spawn_app(profile).await;
    reads_hit_the_database_once(&app).await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_are_routed_to_the_replica_pool() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut profile) = profile_for(Backends::PostgresLocal, dir.path()).await else { return };
    // The routing under test is the service's; a second pool to the same database stands in
    // for the replica here (real streaming replicas come with the stage launcher).
    if let DatabaseConfig::Postgres(pg) = &mut profile.service.database {
        pg.replica_urls = vec![pg.primary_url.clone()];
    }
    let app = spawn_app(profile).await;
    let id = app.create("r", "replicated").await;
    let replica_before = app.metric("scaleloop_tier_calls_total{tier=\"db_replica\"}").await;
    let primary_before = app.metric("scaleloop_tier_calls_total{tier=\"db_primary\"}").await;
    for _ in 0..10 {
        assert_eq!(app.get(&id).await.status(), 200);
    }
    let replica = app.metric("scaleloop_tier_calls_total{tier=\"db_replica\"}").await - replica_before;
    assert_eq!(replica, 10.0, "GETs should go to the replica");
    // The worker may still be finishing the write on the primary; reads must not add to it.
    let primary = app.metric("scaleloop_tier_calls_total{tier=\"db_primary\"}").await - primary_before;
    assert!(primary <= 3.0, "reads leaked to the primary: {primary} primary calls");
    assert_eq!(app.metric("scaleloop_pool_max{pool=\"db_replica_0\"}").await, 4.0);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_down_gives_503_with_retry_after_and_recovers_nothing_lost() {
    let Some(url) = fresh_pg_database().await else { return };
    let proxy = Proxy::start("127.0.0.1:5432").await;
    let proxied = url.replace("127.0.0.1:5432", &proxy.addr.to_string());
    let dir = tempfile::tempdir().unwrap();
    let mut profile = profile_for(Backends::SqliteLocal, dir.path()).await.unwrap();
    profile.service.database = DatabaseConfig::Postgres(PostgresConfig {
        primary_url: proxied,
        pool_size: 2,
        acquire_timeout: Duration::from_millis(500),
        ..Default::default()
    });
    let app = spawn_app(profile).await;
    let id = app.create("d", "before the outage").await;
    proxy.take_down();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = app.post("d", "during the outage").await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "backend_unavailable");
    assert!(!body.to_string().contains("5432"), "internal detail leaked: {body}");
    assert_eq!(app.get(&id).await.status(), 503);
    // Readiness is probed at most once per interval: the outage shows within one.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let health = app.client.get(format!("{}/healthz", app.address)).send().await.unwrap();
        if health.status() == 503 {
            assert_eq!(health.headers()["retry-after"], "1");
            let body: serde_json::Value = health.json().await.unwrap();
            assert_eq!(
                (body["status"].as_str(), &body["failing"]),
                (Some("unavailable"), &serde_json::json!(["db_primary"])),
                "{body}"
            );
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "a required backend down must make readiness 503");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.shutdown().await;
    crate::helpers::drop_pg_database(&url).await;
}
