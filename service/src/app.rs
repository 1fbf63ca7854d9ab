//! Assembling and running one service process: connect the profile's backends, build the
//! router, start the in-process workers, serve until shutdown, then drain.

use std::{future::Future, sync::Arc};

use tokio::{net::TcpListener, sync::Semaphore};
use tokio_util::sync::CancellationToken;

use crate::{
    backend::BackendError,
    cache,
    config::{ConfigError, Profile, ServiceConfig},
    db,
    http::{self, AppState},
    metrics::AppMetrics,
    queue,
    readiness::{Cached, Readiness},
    store::PayloadStore,
    worker::{self, WorkerDeps},
};

/// Why the service could not start or keep serving.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot start: {0}")]
    Backend(#[from] BackendError),
    #[error("serving failed: {0}")]
    Io(#[from] std::io::Error),
}

/// A connected service: its state (for the router) and its worker configuration.
pub struct App {
    pub state: AppState,
    config: ServiceConfig,
}

impl App {
    /// Connects every backend the configuration names and migrates the database.
    pub async fn build(config: ServiceConfig) -> Result<Self, ServeError> {
        let resolve = |p: &std::path::Path| config.resolve(p);
        let db = db::connect(&config.database, resolve).await?;
        let cache = cache::connect(&config.cache).await?;
        let store = Arc::new(PayloadStore::open(&config.object_store, resolve)?);
        let queue = queue::connect(&config.queue, db.clone()).await?;
        let state = AppState {
            db,
            cache,
            store,
            queue,
            metrics: Arc::new(AppMetrics::new()),
            http: Arc::new(config.http.clone()),
            in_flight: Arc::new(Semaphore::new(config.http.max_in_flight.max(1))),
            readiness: Arc::new(Readiness::new(config.http.probe_interval)),
            queue_stats: Arc::new(Cached::new(config.http.probe_interval)),
        };
        Ok(Self { state, config })
    }

    pub fn router(&self) -> axum::Router {
        http::router(self.state.clone())
    }

    fn worker_deps(&self) -> WorkerDeps {
        let s = &self.state;
        WorkerDeps {
            db: s.db.clone(),
            store: s.store.clone(),
            cache: s.cache.clone(),
            queue: s.queue.clone(),
            metrics: s.metrics.clone(),
        }
    }

    /// Serves on `listener` until `shutdown` resolves; then stops accepting, drains in-flight
    /// requests, and lets the workers finish the jobs in hand.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let stop = CancellationToken::new();
        let workers = self.config.worker.in_process.then(|| {
            tokio::spawn(worker::run(
                self.worker_deps(),
                self.config.worker.clone(),
                self.config.queue.clone(),
                stop.clone(),
            ))
        });
        let prober = tokio::spawn(probe_loop(self.state.clone(), stop.clone()));
        let router = self.router();
        let stop_http = stop.clone();
        let served = http::server::serve(listener, router, &self.config.http, self.state.metrics.clone(), async move {
            tokio::select! {
                () = shutdown => {}
                () = stop_http.cancelled() => {}
            }
        })
        .await;
        stop.cancel();
        let _ = prober.await;
        if let Some(workers) = workers {
            let _ = workers.await;
        }
        served.map_err(ServeError::Io)
    }
}

/// Probes readiness once per interval while serving, so the breakers learn that an optional
/// backend is back (or gone) and `/metrics` shows it, whether or not anyone asks `/healthz`.
async fn probe_loop(state: AppState, stop: CancellationToken) {
    let every = state.readiness.interval;
    loop {
        state.readiness.check(state.backends()).await;
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}

/// Runs the service of `profile` on `listener` until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    profile: Profile,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    App::build(profile.service).await?.serve(listener, shutdown).await
}

/// Printed on stdout by a workers-only process once its backends are connected (launchers
/// wait for it, as they wait for `/healthz` from an API process).
pub const WORKERS_READY_LINE: &str = "scaleloop workers running";

/// Runs only the workers of `profile` (a separate worker fleet) until `shutdown` resolves.
pub async fn run_workers(
    profile: Profile,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let name = profile.name.clone();
    let app = App::build(profile.service).await?;
    println!("{WORKERS_READY_LINE} ({name})");
    let stop = CancellationToken::new();
    let handle =
        tokio::spawn(worker::run(app.worker_deps(), app.config.worker.clone(), app.config.queue.clone(), stop.clone()));
    shutdown.await;
    stop.cancel();
    let _ = handle.await;
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
