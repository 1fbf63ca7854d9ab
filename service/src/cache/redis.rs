//! Redis as the cache: one multiplexed connection (Redis pipelines commands on it; a pool would
//! only add sockets), a per-call timeout so a slow cache degrades to a miss, and an in-flight
//! gauge standing in for "pool in use".

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use async_trait::async_trait;
use bytes::Bytes;
use redis::{aio::ConnectionManager, AsyncCommands};

use super::Cache;
use crate::{backend::BackendError, config::RedisCacheConfig};

const WHAT: &str = "cache";

pub struct RedisCache {
    conn: ConnectionManager,
    prefix: String,
    ttl_secs: u64,
    max_entry_bytes: usize,
    timeout: Duration,
    in_flight: AtomicU64,
}

/// Opens a managed (auto-reconnecting) connection to a Redis URL.
pub async fn manager(url: &str, what: &'static str) -> Result<ConnectionManager, BackendError> {
    let client = redis::Client::open(url)
        .map_err(|e| BackendError::Other(anyhow::anyhow!("bad Redis URL for {what}: {e}")))?;
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Duration::from_secs(2))
        .set_response_timeout(Duration::from_secs(5))
        .set_number_of_retries(2);
    ConnectionManager::new_with_config(client, config)
        .await
        .map_err(|e| BackendError::unavailable(what, e))
}

impl RedisCache {
    pub async fn connect(cfg: &RedisCacheConfig) -> Result<Self, BackendError> {
        Ok(Self {
            conn: manager(&cfg.url, WHAT).await?,
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

    async fn call<T>(
        &self,
        fut: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, BackendError> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        let out = tokio::time::timeout(self.timeout, fut).await;
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        match out {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(BackendError::unavailable(WHAT, e)),
            Err(_) => Err(BackendError::unavailable(WHAT, anyhow::anyhow!("timed out after {:?}", self.timeout))),
        }
    }
}

#[async_trait]
impl Cache for RedisCache {
    async fn get(&self, id: i64) -> Result<Option<Bytes>, BackendError> {
        let mut conn = self.conn.clone();
        let key = self.key(id);
        let v: Option<Vec<u8>> = self.call(async move { conn.get(key).await }).await?;
        Ok(v.map(Bytes::from))
    }

    async fn put(&self, id: i64, body: Bytes) -> Result<(), BackendError> {
        if body.len() > self.max_entry_bytes {
            return Ok(());
        }
        let mut conn = self.conn.clone();
        let (key, ttl) = (self.key(id), self.ttl_secs);
        self.call(async move { conn.set_ex::<_, _, ()>(key, body.as_ref(), ttl).await }).await
    }

    async fn invalidate(&self, id: i64) -> Result<(), BackendError> {
        let mut conn = self.conn.clone();
        let key = self.key(id);
        self.call(async move { conn.del::<_, ()>(key).await }).await
    }

    async fn ping(&self) -> Option<String> {
        let mut conn = self.conn.clone();
        self.call(async move { redis::cmd("PING").query_async::<String>(&mut conn).await })
            .await
            .err()
            .map(|e| e.to_string())
    }

    fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }
}
