//! Test scaffolding: profiles per backend combination, a fresh PostgreSQL database and fresh
//! Redis key space per test, `spawn_app()` on port 0, and a TCP proxy that can take a backend
//! "down". Servers are reached on 127.0.0.1; if one is missing the test is skipped locally
//! but fails under `CI=true`.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use service::config::{
    CacheConfig, DatabaseConfig, MemoryCacheConfig, PostgresConfig, Profile, QueueKind, RedisCacheConfig,
};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

pub const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
pub const REDIS_URL: &str = "redis://127.0.0.1:6379/0";

/// The backend combinations the end-to-end suite runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backends {
    SqliteLocal,
    PostgresLocal,
    PostgresRedis,
}

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Whether a server answers on `addr`; in CI its absence fails the test.
pub async fn server_up(what: &str, addr: &str) -> bool {
    let up = tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr))
        .await
        .is_ok_and(|r| r.is_ok());
    if !up {
        assert!(!in_ci(), "{what} is not reachable at {addr} and CI=true: failing rather than skipping");
        eprintln!("SKIPPED: {what} not reachable at {addr} (set CI=true to make this a failure)");
    }
    up
}

fn unique(tag: &str) -> String {
    format!("{tag}_{}_{:08x}", std::process::id(), rand::random::<u32>())
}

/// Creates an empty PostgreSQL database for one test; returns its URL.
pub async fn fresh_pg_database() -> Option<String> {
    if !server_up("PostgreSQL", "127.0.0.1:5432").await {
        return None;
    }
    let name = unique("scaleloop_t");
    let admin = sqlx::PgPool::connect(PG_ADMIN_URL).await.expect("connect to PostgreSQL");
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin).await.expect("create database");
    admin.close().await;
    Some(format!("postgres://postgres@127.0.0.1:5432/{name}"))
}

/// Drops a database made by [`fresh_pg_database`].
pub async fn drop_pg_database(url: &str) {
    let name = url.rsplit('/').next().unwrap_or_default();
    if let Ok(admin) = sqlx::PgPool::connect(PG_ADMIN_URL).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&admin).await;
    }
}

/// A profile for `backends` with its data under `data_dir`; `None` when a server is missing
/// outside CI.
pub async fn profile_for(backends: Backends, data_dir: &std::path::Path) -> Option<Profile> {
    let mut profile = Profile::parse("name = \"test\"", "test.toml".as_ref()).unwrap();
    let s = &mut profile.service;
    s.data_dir = Some(data_dir.to_owned());
    s.http.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    s.worker.poll_interval = Duration::from_millis(10);
    s.queue.backoff_base = Duration::from_millis(20);
    if backends == Backends::SqliteLocal {
        return Some(profile);
    }
    let url = fresh_pg_database().await?;
    s.database = DatabaseConfig::Postgres(PostgresConfig { primary_url: url, pool_size: 4, ..Default::default() });
    if backends == Backends::PostgresRedis {
        if !server_up("Redis", "127.0.0.1:6379").await {
            return None;
        }
        let space = unique("scaleloop:test");
        s.cache = CacheConfig::Redis(RedisCacheConfig {
            url: REDIS_URL.into(),
            key_prefix: format!("{space}:content:"),
            ..Default::default()
        });
        s.queue.kind = QueueKind::RedisStreams;
        s.queue.url = REDIS_URL.into();
        s.queue.stream = format!("{space}:jobs");
    }
    Some(profile)
}

/// The in-process cache variant of the embedded profile.
pub fn with_memory_cache(mut profile: Profile) -> Profile {
    profile.service.cache = CacheConfig::Memory(MemoryCacheConfig::default());
    profile
}

/// A running service on a random loopback port.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub profile: Profile,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

pub async fn spawn_app(profile: Profile) -> TestApp {
    spawn_app_with(profile, |_| {}).await
}

/// [`spawn_app`], with `prepare` called on the built app before it serves (to attach
/// observers to its real backends).
pub async fn spawn_app_with(profile: Profile, prepare: impl FnOnce(&service::App)) -> TestApp {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let app = service::App::build(profile.service.clone()).await.expect("build app");
    prepare(&app);
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        app.serve(listener, async move {
            let _ = rx.await;
        })
        .await
        .expect("serve");
    });
    TestApp { address, client: reqwest::Client::new(), profile, stop: Some(tx), task: Some(task) }
}

impl TestApp {
    pub async fn post(&self, user_id: &str, payload: &str) -> reqwest::Response {
        self.client
            .post(format!("{}/api/v1/content", self.address))
            .json(&serde_json::json!({"user_id": user_id, "payload": payload}))
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, id: &str) -> reqwest::Response {
        self.client.get(format!("{}/api/v1/content/{id}", self.address)).send().await.unwrap()
    }

    /// Posts and returns the new id.
    pub async fn create(&self, user_id: &str, payload: &str) -> String {
        let r = self.post(user_id, payload).await;
        assert_eq!(r.status(), 202);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["status"], "processing");
        body["content_id"].as_str().unwrap().to_owned()
    }

    /// Polls until the item is `ready`; returns its body.
    pub async fn wait_ready(&self, id: &str) -> serde_json::Value {
        wait_ready_at(&self.client, &self.address, id).await
    }

    /// One counter or gauge from `/metrics` (sum over series matching `selector`).
    pub async fn metric(&self, selector: &str) -> f64 {
        let text = self.client.get(format!("{}/metrics", self.address)).send().await.unwrap().text().await.unwrap();
        metric_value(&text, selector)
    }

    /// Stops the server (graceful drain) and drops its test database.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
        if let DatabaseConfig::Postgres(pg) = &self.profile.service.database {
            drop_pg_database(&pg.primary_url).await;
        }
    }
}

pub async fn wait_ready_at(client: &reqwest::Client, address: &str, id: &str) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = client.get(format!("{address}/api/v1/content/{id}")).send().await.unwrap();
        assert_eq!(r.status(), 200, "GET {id}");
        let body: serde_json::Value = r.json().await.unwrap();
        if body["metadata"]["status"] == "ready" {
            return body;
        }
        assert!(tokio::time::Instant::now() < deadline, "content {id} never became ready: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sums the samples of `/metrics` text whose series starts with `selector`.
pub fn metric_value(text: &str, selector: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#') && l.starts_with(selector))
        .filter(|l| l[selector.len()..].starts_with([' ', '{', ',']) || selector.ends_with('}'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A loopback TCP proxy in front of a backend; dropping `stop` takes the backend "down" for
/// the service (new and existing connections fail) without touching the shared server.
pub struct Proxy {
    pub addr: SocketAddr,
    stop: Arc<tokio::sync::Notify>,
}

impl Proxy {
    pub async fn start(upstream: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(tokio::sync::Notify::new());
        let stopped = stop.clone();
        tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    () = stopped.notified() => break,
                    Ok((mut inbound, _)) = listener.accept() => {
                        conns.spawn(async move {
                            if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                            }
                        });
                    }
                }
            }
            // Dropping the listener and aborting every relay = the server went away.
            conns.abort_all();
        });
        Self { addr, stop }
    }

    pub fn take_down(&self) {
        self.stop.notify_one();
    }
}

/// A loopback TCP relay that can be switched off and on again (a backend that goes away and
/// comes back), or made a black hole (accepts, never answers: a paused or wedged server).
pub struct Switch {
    pub addr: SocketAddr,
    mode: Arc<std::sync::atomic::AtomicU8>,
    generation: Arc<tokio::sync::watch::Sender<u64>>,
}

const SWITCH_UP: u8 = 0;
const SWITCH_DOWN: u8 = 1;
const SWITCH_BLACK_HOLE: u8 = 2;

impl Switch {
    pub async fn start(upstream: &'static str) -> Self {
        use std::sync::atomic::{AtomicU8, Ordering};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mode = Arc::new(AtomicU8::new(SWITCH_UP));
        let generation = Arc::new(tokio::sync::watch::channel(0u64).0);
        let (m, g) = (mode.clone(), generation.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut changed = g.subscribe();
                match m.load(Ordering::SeqCst) {
                    SWITCH_DOWN => drop(inbound),
                    SWITCH_BLACK_HOLE => {
                        tokio::spawn(async move {
                            let _ = changed.changed().await;
                            drop(inbound);
                        });
                    }
                    _ => {
                        tokio::spawn(async move {
                            if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                                tokio::select! {
                                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                                    _ = changed.changed() => {}
                                }
                            }
                        });
                    }
                }
            }
        });
        Self { addr, mode, generation }
    }

    fn set(&self, mode: u8) {
        self.mode.store(mode, std::sync::atomic::Ordering::SeqCst);
        // Every connection made before the change is cut.
        self.generation.send_modify(|g| *g += 1);
    }

    pub fn down(&self) {
        self.set(SWITCH_DOWN);
    }

    pub fn black_hole(&self) {
        self.set(SWITCH_BLACK_HOLE);
    }

    pub fn up(&self) {
        self.set(SWITCH_UP);
    }
}
