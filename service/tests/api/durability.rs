//! Durability: the service runs as a real process, acknowledged writes stream in, the process
//! is SIGKILLed mid-stream and restarted on the same data; every acknowledged id must read back
//! with its payload and reach `ready`.

use std::{
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

use crate::helpers::{drop_pg_database, profile_for, wait_ready_at, Backends};

/// Starts the `service` binary on `profile_path`; returns the child and its base URL.
async fn start(profile_path: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_service"))
        .arg("--profile")
        .arg(profile_path)
        .args(["--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn service");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("service printed its address in time")
        .unwrap()
        .expect("a line on stdout");
    let url = line.split_whitespace().last().unwrap().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    (child, url)
}

async fn kill_mid_stream(backends: Backends) {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut profile) = profile_for(backends, dir.path()).await else { return };
    // Jobs delivered to the killed process come back when their lease runs out; keep it short.
    profile.service.queue.lease = Duration::from_secs(2);
    let profile_path = dir.path().join("profile.toml");
    std::fs::write(&profile_path, toml::to_string(&profile).unwrap()).unwrap();

    let (mut child, url) = start(&profile_path).await;
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let mut writers = Vec::new();
    for w in 0..4 {
        let (client, url, acked) = (client.clone(), url.clone(), acked.clone());
        writers.push(tokio::spawn(async move {
            // Bounded: stops at the first failure (the kill) or after 2000 writes.
            for i in 0..2000 {
                let payload = format!("writer {w} item {i} {}", "d".repeat(1000));
                let sent = client
                    .post(format!("{url}/api/v1/content"))
                    .json(&serde_json::json!({"user_id": format!("w{w}"), "payload": payload}))
                    .send()
                    .await;
                let Ok(r) = sent else { return };
                if r.status() != 202 {
                    return;
                }
                let Ok(body) = r.json::<serde_json::Value>().await else { return };
                let id = body["content_id"].as_str().unwrap().to_owned();
                acked.lock().unwrap().push((id, payload));
            }
        }));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while acked.lock().unwrap().len() < 200 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.start_kill().expect("SIGKILL the service");
    child.wait().await.unwrap();
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 200, "only {} writes acknowledged before the kill", acked.len());

    let (mut child, url) = start(&profile_path).await;
    for (id, payload) in &acked {
        let body = wait_ready_at(&client, &url, id).await;
        assert_eq!(body["payload"].as_str(), Some(payload.as_str()), "content {id} came back different");
    }
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    if let service::config::DatabaseConfig::Postgres(pg) = &profile.service.database {
        drop_pg_database(&pg.primary_url).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill_on_sqlite() {
    kill_mid_stream(Backends::SqliteLocal).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill_on_postgres_with_redis_streams() {
    kill_mid_stream(Backends::PostgresRedis).await;
}
