//! Test fixtures shared by the integration tests.
//!
//! `FixtureServer` is an in-memory stand-in implementing the content API contract, for
//! testing the generator without the reference service. It is a test fixture only: it
//! does none of the service's real work. It can stall all responses for a while, as a
//! server with a GC pause or a stuck disk would.

#![allow(dead_code)]

pub mod cloudwatch;
pub mod confined;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::time::Instant;

#[derive(Default)]
struct Store {
    items: Mutex<HashMap<String, (String, String)>>,
    next_id: AtomicU64,
    requests: AtomicU64,
    /// Responses are held until this instant.
    paused_until: Mutex<Option<Instant>>,
    /// After this many requests, stall for `stall` once.
    stall_after: Option<(u64, Duration)>,
    /// Misbehaviour after this many writes: acknowledge but drop, or store altered.
    fault: Option<(u64, Fault)>,
}

/// How the fixture can mistreat acknowledged writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    Lose,
    Corrupt,
}

impl Store {
    async fn maybe_stall(&self) {
        let n = self.requests.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some((after, stall)) = self.stall_after {
            if n == after {
                *self.paused_until.lock().unwrap() = Some(Instant::now() + stall);
            }
        }
        let until = *self.paused_until.lock().unwrap();
        if let Some(until) = until {
            tokio::time::sleep_until(until).await;
        }
    }
}

async fn create(State(s): State<Arc<Store>>, Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
    s.maybe_stall().await;
    let (Some(user), Some(payload)) = (body["user_id"].as_str(), body["payload"].as_str()) else {
        return (StatusCode::UNPROCESSABLE_ENTITY, Json(json!({"error": {"code": "invalid", "message": "bad body"}})));
    };
    let n = s.next_id.fetch_add(1, Ordering::SeqCst);
    let id = (n + 1000).to_string();
    let mut payload = payload.to_owned();
    match s.fault {
        Some((after, Fault::Lose)) if n >= after => {
            return (StatusCode::ACCEPTED, Json(json!({"status": "processing", "content_id": id})));
        }
        Some((after, Fault::Corrupt)) if n >= after => payload.replace_range(0..1, "#"),
        _ => {}
    }
    s.items.lock().unwrap().insert(id.clone(), (user.to_owned(), payload));
    (StatusCode::ACCEPTED, Json(json!({"status": "processing", "content_id": id})))
}

async fn fetch(State(s): State<Arc<Store>>, UrlPath(id): UrlPath<String>) -> (StatusCode, Json<Value>) {
    s.maybe_stall().await;
    match s.items.lock().unwrap().get(&id) {
        Some((user, payload)) => (
            StatusCode::OK,
            Json(json!({"content_id": id, "user_id": user, "payload": payload,
                        "metadata": {"status": "processing", "size_bytes": payload.len()}})),
        ),
        None => (StatusCode::NOT_FOUND, Json(json!({"error": {"code": "not_found", "message": "no such content"}}))),
    }
}

/// An in-memory content API on an ephemeral loopback port.
pub struct FixtureServer {
    pub url: String,
    store: Arc<Store>,
    handle: tokio::task::JoinHandle<()>,
}

impl FixtureServer {
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// Stalls every response for `stall` once `after` requests have arrived.
    pub async fn stalling(after: u64, stall: Duration) -> Self {
        Self::start_with(Some((after, stall))).await
    }

    /// Mistreats every write after the first `after` (e.g. after the preload).
    pub async fn faulty(after: u64, fault: Fault) -> Self {
        Self::start_store(Store { fault: Some((after, fault)), ..Store::default() }).await
    }

    async fn start_with(stall_after: Option<(u64, Duration)>) -> Self {
        Self::start_store(Store { stall_after, ..Store::default() }).await
    }

    async fn start_store(store: Store) -> Self {
        let store = Arc::new(store);
        let app = Router::new()
            .route("/api/v1/content", post(create))
            .route("/api/v1/content/{id}", get(fetch))
            .route("/healthz", get(|| async { "ok" }))
            .with_state(store.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let handle = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { url, store, handle }
    }

    pub fn items(&self) -> usize {
        self.store.items.lock().unwrap().len()
    }
}

impl Drop for FixtureServer {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Checks `summary` against the committed JSON Schema.
pub fn assert_valid_summary(summary: &Value) {
    let schema_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/summary.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(schema_path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator.iter_errors(summary).map(|e| format!("{} at {}", e, e.instance_path)).collect();
    assert!(errors.is_empty(), "summary.json does not match its schema: {errors:#?}");
}

/// Held by each timing-sensitive test so that they do not compete for the machine's cores.
pub static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A fresh PostgreSQL database on 127.0.0.1 named after `tag` (None locally when the server is
/// absent; in CI its absence fails the test).
pub async fn fresh_pg(tag: &str) -> Option<String> {
    if tokio::net::TcpStream::connect("127.0.0.1:5432").await.is_err() {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "PostgreSQL is not reachable and CI=true");
        eprintln!("SKIPPED: PostgreSQL not reachable at 127.0.0.1:5432");
        return None;
    }
    let name = format!("scaleloop_{tag}_{}_{:08x}", std::process::id(), rand::random::<u32>());
    let admin = sqlx::PgPool::connect("postgres://postgres@127.0.0.1:5432/test").await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin).await.unwrap();
    Some(format!("postgres://postgres@127.0.0.1:5432/{name}"))
}

/// Drops the database [`fresh_pg`] made.
pub async fn drop_pg(url: &str) {
    let admin = sqlx::PgPool::connect("postgres://postgres@127.0.0.1:5432/test").await.unwrap();
    let name = url.rsplit('/').next().unwrap();
    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&admin).await;
}
