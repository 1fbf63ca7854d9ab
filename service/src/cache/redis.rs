//! Redis as the cache: one multiplexed connection (Redis pipelines commands on it; a pool would
//! only add sockets), a per-call timeout so a slow cache degrades to a miss, and an in-flight
//! gauge standing in for "pool in use".
//!
//! The cache is optional, so it must never keep the service from starting or serving: the
//! connection is made on first use and made again after a failed or timed-out call (the
//! breaker's trial or the probe then connects afresh), and a [`Breaker`] keeps a dead or slow Redis
//! from costing each request a timeout: after a failure, calls are answered "unavailable" (a
//! miss) at once until the cooldown ends or the readiness probe's PING succeeds.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use async_trait::async_trait;
use bytes::Bytes;
use redis::{aio::ConnectionManager, AsyncCommands};

use super::Cache;
use crate::{backend::BackendError, breaker::Breaker, config::RedisCacheConfig};

const WHAT: &str = "cache";

pub struct RedisCache {
    client: redis::Client,
    /// The connection, made on first use and dropped after a failure (see [`Self::forget`]).
    conn: std::sync::RwLock<Option<ConnectionManager>>,
    /// One connection attempt at a time.
    connecting: tokio::sync::Mutex<()>,
    breaker: Breaker,
    prefix: String,
    ttl_secs: u64,
    max_entry_bytes: usize,
    timeout: Duration,
    in_flight: AtomicU64,
}

/// A Redis client for `url`; a malformed URL is a configuration error, found at start.
pub fn client(url: &str, what: &'static str) -> Result<redis::Client, BackendError> {
    redis::Client::open(url).map_err(|e| BackendError::Other(anyhow::anyhow!("bad Redis URL for {what}: {e}")))
}

/// Opens a managed (auto-reconnecting) connection with `client`.
pub async fn open_manager(client: redis::Client, what: &'static str) -> Result<ConnectionManager, BackendError> {
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Duration::from_secs(2))
        .set_response_timeout(Duration::from_secs(5))
        .set_number_of_retries(2);
    ConnectionManager::new_with_config(client, config).await.map_err(|e| BackendError::unavailable(what, e))
}

impl RedisCache {
    /// Checks the URL only; the connection is made on first use.
    pub fn new(cfg: &RedisCacheConfig) -> Result<Self, BackendError> {
        Ok(Self {
            client: client(&cfg.url, WHAT)?,
            conn: std::sync::RwLock::new(None),
            connecting: tokio::sync::Mutex::new(()),
            breaker: Breaker::new(cfg.breaker_cooldown),
            prefix: cfg.key_prefix.clone(),
            ttl_secs: cfg.ttl.as_secs().max(1),
            max_entry_bytes: cfg.max_entry_bytes,
            timeout: cfg.timeout,
            in_flight: AtomicU64::new(0),
        })
    }

    fn key(&self, id: i64) -> String {
        format!("{}{id}", self.prefix)
    }

    fn current(&self) -> Option<ConnectionManager> {
        self.conn.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// The connection, made now if there is none.
    async fn connection(&self) -> Result<ConnectionManager, BackendError> {
        if let Some(c) = self.current() {
            return Ok(c);
        }
        let _one = self.connecting.lock().await;
        if let Some(c) = self.current() {
            return Ok(c);
        }
        let c = open_manager(self.client.clone(), WHAT).await?;
        *self.conn.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(c.clone());
        Ok(c)
    }

    /// Drops the connection after a failure, so that the next call (the breaker's trial, the
    /// probe) connects afresh: a connection manager whose server was killed can keep waiting
    /// on its own reconnection after the server is back (seen with a Redis killed and
    /// restarted on its port), and the cache would stay a miss for good.
    fn forget(&self) {
        *self.conn.write().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    /// Times the whole call (connecting included) against the cache's timeout; feeds the
    /// breaker.
    async fn run<T, F>(&self, command: impl FnOnce(ConnectionManager) -> F) -> Result<T, BackendError>
    where
        F: std::future::Future<Output = redis::RedisResult<T>>,
    {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        let out = tokio::time::timeout(self.timeout, async {
            let conn = self.connection().await?;
            command(conn).await.map_err(|e| BackendError::unavailable(WHAT, e))
        })
        .await;
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        let out = out.unwrap_or_else(|_| {
            Err(BackendError::unavailable(WHAT, anyhow::anyhow!("timed out after {:?}", self.timeout)))
        });
        match &out {
            Ok(_) => self.breaker.success(),
            Err(_) => {
                self.breaker.failure();
                self.forget();
            }
        }
        out
    }

    /// A request's call: refused at once while the breaker is open.
    async fn call<T, F>(&self, command: impl FnOnce(ConnectionManager) -> F) -> Result<T, BackendError>
    where
        F: std::future::Future<Output = redis::RedisResult<T>>,
    {
        if !self.breaker.allow() {
            return Err(BackendError::unavailable(WHAT, anyhow::anyhow!("circuit open after a recent failure")));
        }
        self.run(command).await
    }

    /// Times the breaker opened (for tests and the log).
    pub fn breaker_trips(&self) -> u64 {
        self.breaker.trips()
    }
}

#[async_trait]
impl Cache for RedisCache {
    async fn get(&self, id: i64) -> Result<Option<Bytes>, BackendError> {
        let key = self.key(id);
        let v: Option<Vec<u8>> = self.call(|mut c| async move { c.get(key).await }).await?;
        Ok(v.map(Bytes::from))
    }

    async fn put(&self, id: i64, body: Bytes) -> Result<(), BackendError> {
        if body.len() > self.max_entry_bytes {
            return Ok(());
        }
        let (key, ttl) = (self.key(id), self.ttl_secs);
        self.call(|mut c| async move { c.set_ex::<_, _, ()>(key, body.as_ref(), ttl).await }).await
    }

    async fn invalidate(&self, id: i64) -> Result<(), BackendError> {
        let key = self.key(id);
        self.call(|mut c| async move { c.del::<_, ()>(key).await }).await
    }

    async fn ping(&self) -> Option<String> {
        // The probe goes through whatever the breaker says: it is how an outage is noticed to
        // be over (its success closes the breaker) without a request paying for the trial.
        self.run(|mut c| async move { redis::cmd("PING").query_async::<String>(&mut c).await })
            .await
            .err()
            .map(|e| e.to_string())
    }

    fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }
}
