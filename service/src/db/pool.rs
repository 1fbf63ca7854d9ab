//! A sqlx pool that also counts the callers waiting for a connection — the saturation signal a
//! profiler needs and sqlx does not expose.

use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::{pool::PoolConnection, Database, Pool};

use crate::backend::{classify_sqlx, BackendError, PoolStats};

pub struct TrackedPool<DB: Database> {
    pub pool: Pool<DB>,
    pub name: String,
    pub max: u32,
    waiting: AtomicU64,
}

impl<DB: Database> std::fmt::Debug for TrackedPool<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrackedPool").field("name", &self.name).finish()
    }
}

impl<DB: Database> TrackedPool<DB> {
    pub fn new(pool: Pool<DB>, name: impl Into<String>, max: u32) -> Self {
        Self { pool, name: name.into(), max, waiting: AtomicU64::new(0) }
    }

    /// Acquires a connection, counted as waiting until it is handed over.
    pub async fn acquire(&self, what: &'static str) -> Result<PoolConnection<DB>, BackendError> {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let conn = self.pool.acquire().await;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        conn.map_err(|e| classify_sqlx(what, e))
    }

    pub async fn begin(&self, what: &'static str) -> Result<sqlx::Transaction<'static, DB>, BackendError> {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let tx = self.pool.begin().await;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        tx.map_err(|e| classify_sqlx(what, e))
    }

    pub fn stats(&self) -> PoolStats {
        let size = self.pool.size();
        let idle = self.pool.num_idle() as u32;
        PoolStats {
            name: self.name.clone(),
            max: self.max,
            size,
            in_use: size.saturating_sub(idle),
            waiting: self.waiting.load(Ordering::Relaxed),
        }
    }
}
