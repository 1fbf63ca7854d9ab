//! The reference service started inside the generator's process, on a deployment profile,
//! with its data in a temporary directory that is removed afterwards.
//!
//! It runs on its own OS thread and Tokio runtime (threads named `svc-*`), so the
//! generator's CPU can be told apart from the service's (see `cpu.rs`). It listens on an
//! ephemeral loopback port; the profile's `listen` address is not used.

use std::path::Path;
use std::time::Duration;

use tokio::sync::oneshot;

use super::TargetError;

/// Prefix of the embedded service's thread names.
pub use loadgen_generator::cpu::SERVICE_THREAD_PREFIX;

/// A running embedded service.
#[derive(Debug)]
pub struct EmbeddedService {
    pub base_url: String,
    shutdown: oneshot::Sender<()>,
    thread: std::thread::JoinHandle<Result<(), String>>,
    _data_dir: tempfile::TempDir,
}

impl EmbeddedService {
    /// Loads `profiles_dir/<profile>.toml` and starts the service on it.
    pub fn start(profile: &str, profiles_dir: &Path) -> Result<Self, TargetError> {
        // A name in the profiles directory, or a path to a `.toml` (as everywhere else).
        let path = crate::profile_path(profile, profiles_dir);
        let mut loaded = service::config::Profile::load(&path)
            .map_err(|e| TargetError::Profile { name: profile.to_owned(), message: e.to_string() })?;
        let data_dir = tempfile::Builder::new()
            .prefix("loadgen-service-")
            .tempdir()
            .map_err(|e| TargetError::Start(format!("temporary data directory: {e}")))?;
        loaded.service.data_dir = Some(data_dir.path().to_owned());

        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|e| TargetError::Start(format!("bind 127.0.0.1:0: {e}")))?;
        let addr = listener.local_addr().map_err(|e| TargetError::Start(e.to_string()))?;
        let (shutdown, stop) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("{SERVICE_THREAD_PREFIX}main"))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name(format!("{SERVICE_THREAD_PREFIX}worker"))
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())?;
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).map_err(|e| e.to_string())?;
                    let shutdown = async move {
                        let _ = stop.await;
                    };
                    service::run(listener, loaded, shutdown).await.map_err(|e| e.to_string())
                })
            })
            .map_err(|e| TargetError::Start(format!("spawn service thread: {e}")))?;
        Ok(Self { base_url: format!("http://{addr}"), shutdown, thread, _data_dir: data_dir })
    }

    /// Asks the service to drain and stop; waits up to 15 s for it.
    pub async fn stop(self) {
        let _ = self.shutdown.send(());
        let thread = self.thread;
        let joined = tokio::task::spawn_blocking(move || thread.join());
        match tokio::time::timeout(Duration::from_secs(15), joined).await {
            Ok(Ok(Ok(Ok(())))) => {}
            Ok(Ok(Ok(Err(e)))) => tracing::warn!("embedded service ended with an error: {e}"),
            Ok(_) => tracing::warn!("embedded service thread panicked"),
            Err(_) => tracing::warn!("embedded service did not stop within 15 s; leaving it"),
        }
    }
}
