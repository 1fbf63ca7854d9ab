//! One end-to-end API suite, run against each backend combination over real HTTP.

use sha2::{Digest, Sha256};

use crate::helpers::{profile_for, spawn_app, Backends, TestApp};

async fn suite(app: &TestApp) {
    // Write → 202, read back the same payload, processing finishes with the right metadata.
    let payload = "line one\nline two ✓\n".repeat(30);
    let id = app.create("user_42", &payload).await;
    let first: serde_json::Value = app.get(&id).await.json().await.unwrap();
    assert_eq!(first["content_id"], id.as_str());
    assert_eq!(first["payload"], payload.as_str());
    assert_eq!(first["user_id"], "user_42");
    let ready = app.wait_ready(&id).await;
    let meta = &ready["metadata"];
    assert_eq!(meta["size_bytes"], payload.len() as u64);
    assert_eq!(meta["sha256"], hex::encode(Sha256::digest(payload.as_bytes())));
    assert_eq!(meta["lines"], 60);
    let asset_url = meta["asset_url"].as_str().unwrap();
    assert!(asset_url.ends_with(".bin"), "{asset_url}");
    // The server's data path is not for clients to see.
    let data_dir = app.profile.service.data_dir().canonicalize().unwrap();
    assert!(!asset_url.contains(&*data_dir.to_string_lossy()) && !asset_url.starts_with("file:"), "{asset_url}");
    assert!(meta["created_at"].as_str().unwrap().starts_with("20"));

    // Many writes from several users, each readable with its own payload.
    let mut ids = Vec::new();
    for i in 0..20 {
        let p = format!("payload {i} {}", "x".repeat(1000));
        ids.push((app.create(&format!("u{}", i % 3), &p).await, p));
    }
    for (id, p) in &ids {
        let body = app.wait_ready(id).await;
        assert_eq!(body["payload"], p.as_str());
    }

    // Unknown ids and bad input: JSON errors with the right statuses.
    for unknown in ["999999999", "0", "-3", "abc"] {
        let r = app.get(unknown).await;
        assert_eq!(r.status(), 404, "{unknown}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found");
    }
    let r = app
        .client
        .post(format!("{}/api/v1/content", app.address))
        .header("content-type", "application/json")
        .body("{\"user_id\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["error"]["code"], "invalid_json");
    assert_eq!(app.post("bad id!", "x").await.status(), 422);
    assert_eq!(app.post("ok", "").await.status(), 422);
    let big = "y".repeat(app.profile.service.http.max_body_bytes + 1);
    let r = app.post("ok", &big).await;
    assert_eq!(r.status(), 413);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["error"]["code"], "payload_too_large");

    // Ops routes.
    let health = app.client.get(format!("{}/healthz", app.address)).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert!(app.metric("scaleloop_tier_calls_total{tier=\"db_primary\"}").await > 0.0);
    assert!(app.metric("scaleloop_jobs_done_total").await >= 21.0);
    assert_eq!(app.metric("scaleloop_queue_depth").await, 0.0);
    let doc: serde_json::Value =
        app.client.get(format!("{}/openapi.json", app.address)).send().await.unwrap().json().await.unwrap();
    assert!(doc["paths"]["/api/v1/content/{content_id}"]["get"].is_object());
}

async fn run(backends: Backends) {
    let dir = tempfile::tempdir().unwrap();
    let Some(profile) = profile_for(backends, dir.path()).await else { return };
    let app = spawn_app(profile).await;
    suite(&app).await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_on_sqlite_and_local_store() {
    run(Backends::SqliteLocal).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_on_postgres_and_local_store() {
    run(Backends::PostgresLocal).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_on_postgres_redis_cache_and_redis_streams() {
    run(Backends::PostgresRedis).await;
}
