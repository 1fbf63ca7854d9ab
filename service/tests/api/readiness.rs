//! Readiness and optional backends: a cache or replica that fails degrades the instance (200,
//! named in `/healthz` and `/metrics`), never takes it out; reads keep answering (cache misses,
//! the primary instead of the replica); a wedged cache costs one timeout per breaker cooldown,
//! not one per request; the service starts while its cache is down; recovery resumes hits.

use std::time::{Duration, Instant};

use service::config::{CacheConfig, DatabaseConfig, QueueKind, RedisCacheConfig};

use crate::helpers::{profile_for, server_up, spawn_app, Backends, Switch, TestApp};

async fn health(app: &TestApp) -> (u16, serde_json::Value) {
    let r = app.client.get(format!("{}/healthz", app.address)).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// Polls `/healthz` until its `status` is `want` (probes are cached for an interval).
async fn wait_health(app: &TestApp, want: &str) -> (u16, serde_json::Value) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (code, body) = health(app).await;
        if body["status"] == want {
            return (code, body);
        }
        assert!(Instant::now() < deadline, "health never became {want}: {code} {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// PostgreSQL with the table queue and a Redis cache reached through `switch`.
async fn profile_with_cache_via(switch: &Switch, dir: &std::path::Path) -> Option<service::Profile> {
    if !server_up("Redis", "127.0.0.1:6379").await {
        return None;
    }
    let mut profile = profile_for(Backends::PostgresLocal, dir).await?;
    profile.service.queue.kind = QueueKind::Table;
    profile.service.cache = CacheConfig::Redis(RedisCacheConfig {
        url: format!("redis://{}/0", switch.addr),
        key_prefix: format!("scaleloop:readiness:{}:{:08x}:", std::process::id(), rand::random::<u32>()),
        timeout: Duration::from_millis(200),
        breaker_cooldown: Duration::from_secs(30),
        ..Default::default()
    });
    Some(profile)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_outage_degrades_reads_keep_answering_and_hits_resume() {
    let switch = Switch::start("127.0.0.1:6379").await;
    let dir = tempfile::tempdir().unwrap();
    let Some(profile) = profile_with_cache_via(&switch, dir.path()).await else { return };
    let app = spawn_app(profile).await;
    let id = app.create("cache-outage", "cached before, missed during, cached after").await;
    app.wait_ready(&id).await;
    assert_eq!(app.get(&id).await.status(), 200);
    assert_eq!(wait_health(&app, "ok").await.0, 200);

    switch.down();
    let (code, body) = wait_health(&app, "degraded").await;
    assert_eq!(code, 200, "an optional backend down must not take the instance out: {body}");
    assert_eq!(body["degraded"], serde_json::json!(["cache"]), "{body}");
    assert_eq!(body["failing"], serde_json::json!([]), "{body}");
    let misses = app.metric("scaleloop_cache_misses_total").await;
    for _ in 0..10 {
        assert_eq!(app.get(&id).await.status(), 200, "reads must survive the cache outage");
    }
    assert!(app.metric("scaleloop_cache_misses_total").await - misses >= 10.0);
    assert_eq!(app.metric("scaleloop_degraded").await, 1.0);
    assert_eq!(app.metric("scaleloop_backend_up{backend=\"cache\",required=\"false\"}").await, 0.0);
    assert_eq!(app.metric("scaleloop_backend_up{backend=\"db_primary\",required=\"true\"}").await, 1.0);

    switch.up();
    wait_health(&app, "ok").await;
    let hits = app.metric("scaleloop_cache_hits_total").await;
    for _ in 0..5 {
        assert_eq!(app.get(&id).await.status(), 200);
    }
    assert!(app.metric("scaleloop_cache_hits_total").await - hits >= 4.0, "cache hits did not resume");
    assert_eq!(app.metric("scaleloop_degraded").await, 0.0);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_starts_while_its_cache_is_down_and_a_wedged_cache_costs_one_timeout() {
    let switch = Switch::start("127.0.0.1:6379").await;
    switch.black_hole();
    let dir = tempfile::tempdir().unwrap();
    let Some(profile) = profile_with_cache_via(&switch, dir.path()).await else { return };
    let app = spawn_app(profile).await;
    let (code, body) = wait_health(&app, "degraded").await;
    assert_eq!(code, 200, "{body}");
    let id = app.create("wedged", "served without a cache").await;
    app.wait_ready(&id).await;
    // Each cache call would wait its 200 ms timeout; the open breaker answers "miss" at once.
    let t = Instant::now();
    let mut slow = 0;
    for _ in 0..20 {
        let one = Instant::now();
        assert_eq!(app.get(&id).await.status(), 200);
        slow += usize::from(one.elapsed() >= Duration::from_millis(150));
    }
    let took = t.elapsed();
    eprintln!("wedged cache: 20 GETs in {took:?}, {slow} slower than 150 ms");
    assert!(slow <= 1, "{slow} GETs paid a cache timeout (breaker should be open)");
    assert!(took < Duration::from_secs(2), "20 GETs took {took:?}");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_replica_sends_reads_to_the_primary() {
    let switch = Switch::start("127.0.0.1:5432").await;
    let dir = tempfile::tempdir().unwrap();
    let Some(mut profile) = profile_for(Backends::PostgresLocal, dir.path()).await else { return };
    if let DatabaseConfig::Postgres(pg) = &mut profile.service.database {
        // A second pool to the same database, through the switch, stands in for the replica.
        pg.replica_urls = vec![pg.primary_url.replace("127.0.0.1:5432", &switch.addr.to_string())];
        pg.acquire_timeout = Duration::from_millis(500);
    }
    let app = spawn_app(profile).await;
    let id = app.create("replica", "read from wherever answers").await;
    assert_eq!(app.get(&id).await.status(), 200);
    assert!(app.metric("scaleloop_tier_calls_total{tier=\"db_replica\"}").await >= 1.0);

    switch.down();
    let primary = app.metric("scaleloop_tier_calls_total{tier=\"db_primary\"}").await;
    for _ in 0..10 {
        assert_eq!(app.get(&id).await.status(), 200, "reads must survive a replica failure");
    }
    assert!(
        app.metric("scaleloop_tier_calls_total{tier=\"db_primary\"}").await - primary >= 9.0,
        "reads did not move to the primary"
    );
    let (code, body) = wait_health(&app, "degraded").await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["degraded"], serde_json::json!(["db_replica_0"]), "{body}");

    switch.up();
    wait_health(&app, "ok").await;
    let replica = app.metric("scaleloop_tier_calls_total{tier=\"db_replica\"}").await;
    for _ in 0..5 {
        assert_eq!(app.get(&id).await.status(), 200);
    }
    assert!(
        app.metric("scaleloop_tier_calls_total{tier=\"db_replica\"}").await - replica >= 4.0,
        "replica reads did not resume"
    );
    app.shutdown().await;
}
