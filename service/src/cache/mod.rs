//! The cache tier: content bodies by id, cache-aside. Only finished (`ready`) items are cached:
//! they never change afterwards, so a reader can never pin a stale `processing` body; the
//! worker still invalidates on its update, which is what a cache of mutable data needs.

pub mod memory;
pub mod redis;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use crate::{backend::BackendError, config::CacheConfig};

#[async_trait]
pub trait Cache: Send + Sync + 'static {
    async fn get(&self, id: i64) -> Result<Option<Bytes>, BackendError>;
    async fn put(&self, id: i64, body: Bytes) -> Result<(), BackendError>;
    async fn invalidate(&self, id: i64) -> Result<(), BackendError>;
    /// `None` when healthy, else the reason.
    async fn ping(&self) -> Option<String>;
    /// Commands in flight now (the cache's "pool in use").
    fn in_flight(&self) -> u64 {
        0
    }
}

/// Builds the configured cache; `None` when the profile has none.
pub async fn connect(cfg: &CacheConfig) -> Result<Option<Arc<dyn Cache>>, BackendError> {
    Ok(match cfg {
        CacheConfig::None => None,
        CacheConfig::Memory(c) => Some(Arc::new(memory::MemoryCache::new(c))),
        CacheConfig::Redis(c) => Some(Arc::new(redis::RedisCache::new(c)?)),
    })
}
