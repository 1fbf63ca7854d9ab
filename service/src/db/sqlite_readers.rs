//! SQLite read connections used synchronously, in place.
//!
//! sqlx runs every SQLite connection on its own thread and hands each statement and row across
//! channels; for a point lookup on a hot page that hand-off costs more than the query (profiled:
//! most of a GET's CPU went to futex wake-ups in those channels). A read of a cached page takes
//! microseconds, so these connections run the query right on the calling task's thread —
//! the same trade a mutex makes. Writes stay on sqlx's single writer connection.

use std::{
    path::Path,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Mutex,
    },
    time::Duration,
};

use rusqlite::{Connection, OpenFlags};

use crate::backend::{BackendError, PoolStats};

const WHAT: &str = "database";

pub struct SqliteReaders {
    slots: Vec<Mutex<Connection>>,
    next: AtomicUsize,
    in_use: AtomicU64,
    waiting: AtomicU64,
    name: &'static str,
}

/// Busy/locked/can't-open mean "try again later"; anything else is a bug or bad data.
pub fn classify(e: rusqlite::Error) -> BackendError {
    use rusqlite::ErrorCode::{CannotOpen, DatabaseBusy, DatabaseLocked};
    match &e {
        rusqlite::Error::SqliteFailure(f, _) if matches!(f.code, DatabaseBusy | DatabaseLocked | CannotOpen) => {
            BackendError::unavailable(WHAT, e)
        }
        _ => BackendError::Other(anyhow::Error::new(e).context("sqlite read")),
    }
}

impl SqliteReaders {
    /// Opens `count` read-only connections to an existing (already migrated) database file.
    pub fn open(file: &Path, count: u32, busy_timeout: Duration, name: &'static str) -> Result<Self, BackendError> {
        let mut slots = Vec::new();
        for _ in 0..count.max(1) {
            let conn = Connection::open_with_flags(
                file,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
            )
            .map_err(classify)?;
            conn.busy_timeout(busy_timeout).map_err(classify)?;
            conn.set_prepared_statement_cache_capacity(16);
            slots.push(Mutex::new(conn));
        }
        Ok(Self { slots, next: AtomicUsize::new(0), in_use: AtomicU64::new(0), waiting: AtomicU64::new(0), name })
    }

    /// Runs `f` on a free connection (waiting for one, counted, only if all are busy).
    pub fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, BackendError> {
        let n = self.slots.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        let guard = (0..n).find_map(|i| self.slots[(start + i) % n].try_lock().ok()).unwrap_or_else(|| {
            self.waiting.fetch_add(1, Ordering::Relaxed);
            let g = self.slots[start].lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            g
        });
        self.in_use.fetch_add(1, Ordering::Relaxed);
        let out = f(&guard).map_err(classify);
        self.in_use.fetch_sub(1, Ordering::Relaxed);
        out
    }

    pub fn stats(&self) -> PoolStats {
        let n = self.slots.len() as u32;
        PoolStats {
            name: self.name.to_owned(),
            max: n,
            size: n,
            in_use: self.in_use.load(Ordering::Relaxed) as u32,
            waiting: self.waiting.load(Ordering::Relaxed),
        }
    }
}
