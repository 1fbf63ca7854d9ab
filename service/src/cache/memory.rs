//! In-process cache (`moka`): TTL-bounded and weighed by body size, so its memory is capped.
//! The synchronous cache: its operations never block on I/O, and skipping the future
//! wrapper keeps a hit within a few hundred nanoseconds.

use async_trait::async_trait;
use bytes::Bytes;
use moka::sync::Cache as Moka;

use super::Cache;
use crate::{backend::BackendError, config::MemoryCacheConfig};

pub struct MemoryCache {
    inner: Moka<i64, Bytes>,
}

impl MemoryCache {
    pub fn new(cfg: &MemoryCacheConfig) -> Self {
        let inner = Moka::builder()
            .max_capacity(cfg.max_bytes)
            .weigher(|_, body: &Bytes| u32::try_from(body.len() + 16).unwrap_or(u32::MAX))
            .time_to_live(cfg.ttl)
            .build();
        Self { inner }
    }
}

#[async_trait]
impl Cache for MemoryCache {
    async fn get(&self, id: i64) -> Result<Option<Bytes>, BackendError> {
        Ok(self.inner.get(&id))
    }

    async fn put(&self, id: i64, body: Bytes) -> Result<(), BackendError> {
        self.inner.insert(id, body);
        Ok(())
    }

    async fn invalidate(&self, id: i64) -> Result<(), BackendError> {
        self.inner.invalidate(&id);
        Ok(())
    }

    async fn ping(&self) -> Option<String> {
        None
    }
}
