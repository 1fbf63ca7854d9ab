//! Readiness: which backends answer, and whether the instance can serve without the ones that
//! do not.
//!
//! Required backends (the database primary or shards, the object store) are what every write
//! and every cache miss needs: one failing makes the instance `unavailable` (503, the load
//! balancer takes it out). Optional ones (the cache, read replicas, a Redis Streams broker
//! whose job table stays the durable outbox) only make it `degraded` (200): reads miss the
//! cache or go to the primary, jobs wait in the outbox, nothing acknowledged is lost.
//!
//! Probes run at most once per `probe_interval`, one at a time, whoever asks (`/healthz`, the
//! background prober, `/metrics` reads the last result): a storm of health checks costs the
//! pools one connection per interval, never one per request; while one runs, askers get the
//! last report at once instead of waiting for a slow backend.

use std::{
    future::Future,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use serde::Serialize;
use utoipa::ToSchema;

pub use crate::backend::PING_TIMEOUT;
use crate::{backend::Probe, cache::Cache, db::Database, queue::JobQueue, store::PayloadStore};

/// The backends a probe asks (the service's state lends them: readiness needs nothing else).
#[derive(Clone, Copy)]
pub struct Backends<'a> {
    pub db: &'a dyn Database,
    pub cache: Option<&'a dyn Cache>,
    pub store: &'a PayloadStore,
    pub queue: &'a dyn JobQueue,
}

/// Overall state of the instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Every backend answers.
    Ok,
    /// Only optional backends fail; the instance serves without them.
    Degraded,
    /// A required backend fails; the instance cannot serve.
    Unavailable,
}

/// Readiness report (the `/healthz` body).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Health {
    pub status: Status,
    /// Required backends that did not answer (names only; reasons go to the log).
    pub failing: Vec<String>,
    /// Optional backends that did not answer; the instance serves without them.
    pub degraded: Vec<String>,
    /// Every backend probed, with whether it answered.
    #[serde(skip)]
    pub probes: Vec<Probe>,
}

impl Health {
    pub fn from_probes(probes: Vec<Probe>) -> Self {
        let names = |required: bool| -> Vec<String> {
            probes.iter().filter(|p| p.required == required && p.failure.is_some()).map(|p| p.name.clone()).collect()
        };
        let (failing, degraded) = (names(true), names(false));
        let status = match (failing.is_empty(), degraded.is_empty()) {
            (false, _) => Status::Unavailable,
            (true, false) => Status::Degraded,
            (true, true) => Status::Ok,
        };
        Self { status, failing, degraded, probes }
    }
}

/// A value recomputed at most once per `ttl`, by one caller at a time (the others wait for
/// that result instead of starting their own).
#[derive(Debug)]
pub struct Cached<T> {
    ttl: Duration,
    slot: tokio::sync::Mutex<Option<(Instant, T)>>,
}

impl<T: Clone> Cached<T> {
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, slot: tokio::sync::Mutex::new(None) }
    }

    pub async fn get(&self, refresh: impl Future<Output = T>) -> T {
        let mut slot = self.slot.lock().await;
        if let Some((at, value)) = slot.as_ref() {
            if at.elapsed() < self.ttl {
                return value.clone();
            }
        }
        let value = refresh.await;
        *slot = Some((Instant::now(), value.clone()));
        value
    }

    /// Whether a caller is recomputing the value right now.
    pub fn is_refreshing(&self) -> bool {
        self.slot.try_lock().is_err()
    }
}

/// The instance's readiness, probed on demand at most once per interval.
#[derive(Debug)]
pub struct Readiness {
    cached: Cached<Arc<Health>>,
    latest: RwLock<Option<Arc<Health>>>,
    pub interval: Duration,
}

impl Readiness {
    pub fn new(interval: Duration) -> Self {
        Self { cached: Cached::new(interval), latest: RwLock::new(None), interval }
    }

    /// The current report: the last probe's if it is fresh, else a new probe's. While a
    /// probe is under way (a backend slow to answer, up to its bound), the last report is
    /// answered at once: a health check must not take as long as the slowest backend's
    /// timeout, or the load balancer, whose checks time out far sooner, takes every instance
    /// out together for an optional backend that stopped answering.
    pub async fn check(&self, state: Backends<'_>) -> Arc<Health> {
        if self.cached.is_refreshing() {
            if let Some(latest) = self.latest() {
                return latest;
            }
        }
        self.cached
            .get(async {
                let health = Arc::new(Health::from_probes(probe_all(state).await));
                let previous = self.latest.write().unwrap_or_else(|e| e.into_inner()).replace(health.clone());
                log_changes(previous.as_deref(), &health);
                health
            })
            .await
    }

    /// The last probe's report without probing (for `/metrics`).
    pub fn latest(&self) -> Option<Arc<Health>> {
        self.latest.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Logs each backend that went down or came back since the last probe (probes run twice a
/// second: logging every failing probe would bury the log during an outage).
fn log_changes(previous: Option<&Health>, now: &Health) {
    for p in &now.probes {
        let was_up = previous.and_then(|h| h.probes.iter().find(|q| q.name == p.name)).map(|q| q.failure.is_none());
        match (&p.failure, was_up) {
            (Some(reason), None | Some(true)) => {
                tracing::warn!(backend = %p.name, required = p.required, %reason, "backend does not answer");
            }
            (None, Some(false)) => tracing::info!(backend = %p.name, "backend answers again"),
            _ => {}
        }
    }
}

async fn bounded(name: &str, ping: impl Future<Output = Option<String>>) -> Option<String> {
    tokio::time::timeout(PING_TIMEOUT, ping)
        .await
        .unwrap_or_else(|_| Some(format!("{name} did not answer within {PING_TIMEOUT:?}")))
}

/// Asks every backend at once (the slowest bounds the probe, not their sum).
async fn probe_all(state: Backends<'_>) -> Vec<Probe> {
    // The database bounds each of its pools' pings itself (a stalled replica must not make
    // the primary look down); this outer bound only catches a stuck implementation.
    let db = async {
        tokio::time::timeout(PING_TIMEOUT * 2, state.db.ping())
            .await
            .unwrap_or_else(|_| vec![Probe::new("database", true, Some(format!("no answer within {PING_TIMEOUT:?}")))])
    };
    let cache = async {
        match state.cache {
            Some(cache) => Some(Probe::new("cache", false, bounded("cache", cache.ping()).await)),
            None => None,
        }
    };
    let store = async { Probe::new("object_store", true, bounded("object store", state.store.ping()).await) };
    let queue = async { Probe::new("queue", state.queue.required(), bounded("queue", state.queue.ping()).await) };
    let (mut probes, cache, store, queue) = futures::join!(db, cache, store, queue);
    probes.extend(cache);
    probes.push(store);
    probes.push(queue);
    probes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optional_failures_degrade_required_ones_make_it_unavailable() {
        let ok = |n: &str, r| Probe::new(n, r, None);
        let bad = |n: &str, r| Probe::new(n, r, Some("refused".into()));
        let h = Health::from_probes(vec![ok("db_primary", true), ok("cache", false)]);
        assert_eq!((h.status, h.failing.len(), h.degraded.len()), (Status::Ok, 0, 0));
        let h = Health::from_probes(vec![ok("db_primary", true), bad("cache", false), bad("db_replica_1", false)]);
        assert_eq!(h.status, Status::Degraded);
        assert_eq!(h.degraded, ["cache", "db_replica_1"]);
        let h = Health::from_probes(vec![bad("db_primary", true), bad("cache", false)]);
        assert_eq!(
            (h.status, h.failing.clone(), h.degraded.clone()),
            (Status::Unavailable, vec!["db_primary".to_owned()], vec!["cache".to_owned()])
        );
    }

    #[tokio::test]
    async fn cached_values_are_recomputed_once_per_ttl_by_one_caller() {
        let cached = Arc::new(Cached::new(Duration::from_millis(200)));
        let runs = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let mut callers = Vec::new();
        for _ in 0..20 {
            let (cached, runs) = (cached.clone(), runs.clone());
            callers.push(tokio::spawn(async move {
                cached
                    .get(async {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                    })
                    .await
            }));
        }
        for c in callers {
            assert_eq!(c.await.unwrap(), 0, "everyone gets the one result");
        }
        tokio::time::sleep(Duration::from_millis(220)).await;
        assert_eq!(cached.get(async { runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst) }).await, 1);
    }
}
