//! The object-store tier: payloads live here, rows only point at them (`asset_url`).
//!
//! A local directory (the single-box default) or any S3-compatible store (through the
//! `object_store` crate). Local puts are durable against power loss before they return (see
//! [`durable`]: fsync of the file, rename, fsync of the directory); an S3 put returns once the
//! store has acknowledged it, which S3 defines as durable. The database row is committed only
//! after the put returns, so no acknowledged row points at a missing object.

pub mod durable;

use std::{
    path::Path,
    sync::{Arc, OnceLock},
    time::Duration,
};

use bytes::Bytes;
// Since object_store 0.13, `put` and `get` are provided methods of `ObjectStoreExt` (implemented for
// every `ObjectStore`, `Arc<dyn ObjectStore>` included); `list` stays on `ObjectStore`.
use object_store::{
    aws::AmazonS3Builder, local::LocalFileSystem, path::Path as ObjectPath, ObjectStore, ObjectStoreExt,
};
use rand::Rng;

use crate::{backend::BackendError, config::ObjectStoreConfig};
pub use durable::{SyncEvent, SyncObserver};

const WHAT: &str = "object store";
/// Where new objects go, under the store's root.
const CONTENT_DIR: &str = "content";

/// Where payloads go, plus the URL scheme that names them.
pub struct PayloadStore {
    inner: Arc<dyn ObjectStore>,
    /// Prefix of every `asset_url` this store hands out (`file:///…/` or `s3://bucket/…/`).
    url_base: String,
    /// Test knob: latency added to every call.
    extra_latency: Duration,
    /// The directory of a local store: reads of it are done in place (see [`PayloadStore::get`]).
    local_root: Option<std::path::PathBuf>,
    /// Sees each fsync and rename of a local put (set once, by tests).
    sync_observer: OnceLock<SyncObserver>,
}

impl std::fmt::Debug for PayloadStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayloadStore").field("url_base", &self.url_base).finish()
    }
}

fn store_err(e: object_store::Error) -> BackendError {
    match e {
        // A row whose object is gone is a data problem, not an outage.
        object_store::Error::NotFound { .. } => BackendError::Other(anyhow::Error::new(e).context(WHAT)),
        other => BackendError::unavailable(WHAT, other),
    }
}

impl PayloadStore {
    /// Opens the configured store; `resolve` turns relative local paths into data-dir paths.
    pub fn open(cfg: &ObjectStoreConfig, resolve: impl Fn(&Path) -> std::path::PathBuf) -> Result<Self, BackendError> {
        match cfg {
            ObjectStoreConfig::Local(c) => {
                let dir = resolve(&c.path);
                // Durably: a directory entry lost on power loss would take every object with it.
                durable::create_dir_durably(&dir)
                    .map_err(|e| BackendError::unavailable(WHAT, anyhow::anyhow!("creating {}: {e}", dir.display())))?;
                let dir = dir
                    .canonicalize()
                    .map_err(|e| BackendError::unavailable(WHAT, anyhow::anyhow!("{}: {e}", dir.display())))?;
                durable::create_dir_durably(&dir.join(CONTENT_DIR))
                    .map_err(|e| BackendError::unavailable(WHAT, anyhow::anyhow!("creating {}: {e}", dir.display())))?;
                let inner = LocalFileSystem::new_with_prefix(&dir).map_err(store_err)?;
                Ok(Self {
                    inner: Arc::new(inner),
                    url_base: format!("file://{}/", dir.display()),
                    extra_latency: c.extra_latency,
                    local_root: Some(dir),
                    sync_observer: OnceLock::new(),
                })
            }
            ObjectStoreConfig::S3(c) => {
                let mut builder = AmazonS3Builder::from_env().with_bucket_name(&c.bucket);
                if !c.endpoint.is_empty() {
                    builder = builder.with_endpoint(&c.endpoint);
                }
                if !c.region.is_empty() {
                    builder = builder.with_region(&c.region);
                }
                let inner = builder.with_allow_http(c.allow_http).build().map_err(store_err)?;
                let prefix = c.prefix.trim_matches('/');
                let url_base = if prefix.is_empty() {
                    format!("s3://{}/", c.bucket)
                } else {
                    format!("s3://{}/{prefix}/", c.bucket)
                };
                Ok(Self {
                    inner: Arc::new(inner),
                    url_base,
                    extra_latency: Duration::ZERO,
                    local_root: None,
                    sync_observer: OnceLock::new(),
                })
            }
        }
    }

    fn key_of(&self, asset_url: &str) -> Result<ObjectPath, BackendError> {
        let rest = asset_url
            .strip_prefix(&self.url_base)
            .ok_or_else(|| BackendError::Other(anyhow::anyhow!("asset_url {asset_url} is not in this store")))?;
        ObjectPath::parse(self.s3_prefix().map_or(rest.to_owned(), |p| format!("{p}/{rest}")))
            .map_err(|e| BackendError::Other(anyhow::Error::new(e)))
    }

    /// The key prefix inside an S3 bucket (local stores have none: the directory is the root).
    fn s3_prefix(&self) -> Option<&str> {
        let rest = self.url_base.strip_prefix("s3://")?;
        let (_, prefix) = rest.split_once('/')?;
        let prefix = prefix.trim_end_matches('/');
        (!prefix.is_empty()).then_some(prefix)
    }

    async fn knob(&self) {
        if !self.extra_latency.is_zero() {
            tokio::time::sleep(self.extra_latency).await;
        }
    }

    /// Observes every fsync and rename of local puts from now on (the durability test counts
    /// them); a second call is ignored.
    pub fn observe_syncs(&self, observer: SyncObserver) {
        let _ = self.sync_observer.set(observer);
    }

    /// Stores a new payload under a fresh random key; returns its `asset_url` once the payload
    /// is durable.
    pub async fn put_new(&self, payload: Bytes) -> Result<String, BackendError> {
        self.knob().await;
        let name = format!("{CONTENT_DIR}/{:032x}.bin", rand::rng().random::<u128>());
        let url = format!("{}{name}", self.url_base);
        let key = self.key_of(&url)?;
        if let Some(root) = &self.local_root {
            let dest = root.join(key.as_ref());
            let observer = self.sync_observer.get().cloned();
            // fsync blocks for a disk flush: keep it off the async workers.
            tokio::task::spawn_blocking(move || durable::write(&dest, &payload, observer.as_ref()))
                .await
                .map_err(|e| BackendError::Other(e.into()))?
                .map_err(|e| BackendError::unavailable(WHAT, e))?;
            return Ok(url);
        }
        self.inner.put(&key, payload.into()).await.map_err(store_err)?;
        Ok(url)
    }

    /// The name of an object as clients may see it: its key relative to the store for a local
    /// store (the server's data path is nobody else's business), the full URL for S3.
    pub fn public_name(&self, asset_url: &str) -> String {
        match (&self.local_root, asset_url.strip_prefix(&self.url_base)) {
            (Some(_), Some(key)) => key.to_owned(),
            _ => asset_url.to_owned(),
        }
    }

    pub async fn get(&self, asset_url: &str) -> Result<Bytes, BackendError> {
        self.knob().await;
        let key = self.key_of(asset_url)?;
        if let Some(root) = &self.local_root {
            // A payload of a few KB in the page cache reads in microseconds; the crate's
            // hand-off to a blocking thread cost more than the read (profiled: futex wake-ups
            // dominated a GET). Same key layout as `LocalFileSystem`, so puts and reads agree.
            return match std::fs::read(root.join(key.as_ref())) {
                Ok(bytes) => Ok(Bytes::from(bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    Err(BackendError::Other(anyhow::anyhow!("object {key} is missing")))
                }
                Err(e) => Err(BackendError::unavailable(WHAT, e)),
            };
        }
        let got = self.inner.get(&key).await.map_err(store_err)?;
        got.bytes().await.map_err(store_err)
    }

    /// Readiness: the store answers a listing of its root.
    pub async fn ping(&self) -> Option<String> {
        use futures::StreamExt;
        let mut list = self.inner.list(None);
        match list.next().await {
            Some(Err(e)) => Some(e.to_string()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LocalStoreConfig;

    #[tokio::test]
    async fn local_round_trip_and_foreign_urls_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = ObjectStoreConfig::Local(LocalStoreConfig::default());
        let store = PayloadStore::open(&cfg, |p| dir.path().join(p)).unwrap();
        let url = store.put_new(Bytes::from_static(b"hello")).await.unwrap();
        assert!(url.starts_with("file://") && url.ends_with(".bin"), "{url}");
        assert_eq!(store.get(&url).await.unwrap(), Bytes::from_static(b"hello"));
        assert!(store.get("file:///etc/passwd").await.is_err());
        assert!(store.ping().await.is_none());
        let public = store.public_name(&url);
        assert!(public.starts_with("content/") && public.ends_with(".bin"), "{public}");
        assert!(!public.contains(&*dir.path().to_string_lossy()), "{public}");
    }

    #[tokio::test]
    async fn a_local_put_is_synced_before_it_returns() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = ObjectStoreConfig::Local(LocalStoreConfig::default());
        let store = PayloadStore::open(&cfg, |p| dir.path().join(p)).unwrap();
        let events: Arc<std::sync::Mutex<Vec<SyncEvent>>> = Arc::default();
        let seen = events.clone();
        store.observe_syncs(Arc::new(move |e: &SyncEvent| seen.lock().unwrap().push(e.clone())));
        let url = store.put_new(Bytes::from_static(b"durable")).await.unwrap();
        let events = events.lock().unwrap().clone();
        assert!(
            matches!(events.as_slice(), [SyncEvent::FileSynced(_), SyncEvent::Renamed(_), SyncEvent::DirSynced(_)]),
            "{events:?}"
        );
        let SyncEvent::Renamed(dest) = &events[1] else { unreachable!() };
        assert!(url.ends_with(&*dest.file_name().unwrap().to_string_lossy()), "{url} vs {dest:?}");
        assert_eq!(store.get(&url).await.unwrap(), Bytes::from_static(b"durable"));
    }
}
