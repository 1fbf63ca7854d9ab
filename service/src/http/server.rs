//! The accept loop, in place of `axum::serve` (which sets no timer, so no header-read timeout,
//! and has no connection cap): hyper's HTTP/1 connections with
//!
//! * a header-read timeout (`http.header_read_timeout`): a connection that has not sent a whole
//!   request head by then is closed, whether it trickles bytes or sends none (hyper's own timer);
//! * a cap on open connections (`http.max_connections`): past it a new connection gets a fixed
//!   `503` with `Retry-After` and is closed, so overload is answered fast instead of queueing
//!   in the kernel's backlog;
//! * graceful shutdown: stop accepting, let every connection finish its request in hand.

use std::{future::Future, sync::Arc, time::Duration};

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::Semaphore,
    task::JoinSet,
};
use tokio_util::sync::CancellationToken;

use crate::{config::HttpConfig, metrics::AppMetrics};

/// What an over-the-cap connection is told before it is closed.
const OVERLOADED: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n\
connection: close\r\ncontent-length: 69\r\n\r\n{\"error\":{\"code\":\"overloaded\",\"message\":\"the service is overloaded\"}}";

/// At most this many refusals are being written at once; past it, connections are just closed.
const MAX_REFUSALS: usize = 256;

/// Serves `router` on `listener` until `shutdown` resolves, then drains open connections.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    http: &HttpConfig,
    metrics: Arc<AppMetrics>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(http.max_connections));
    let refusals = Arc::new(Semaphore::new(MAX_REFUSALS));
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(http.header_read_timeout).keep_alive(true);
    let draining = CancellationToken::new();
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok(s) => s,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics.refused_connections.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if let Ok(permit) = refusals.clone().try_acquire_owned() {
                tokio::spawn(async move {
                    refuse(stream).await;
                    drop(permit);
                });
            }
            continue;
        };
        // Responses are written whole; Nagle's delay would only add latency.
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        let draining = draining.clone();
        connections.spawn(async move {
            drive(conn, draining).await;
            drop(slot);
        });
    }
    drop(listener);
    draining.cancel();
    while connections.join_next().await.is_some() {}
    Ok(())
}

type Conn = http1::Connection<TokioIo<TcpStream>, TowerToHyperService<Router>>;

/// Runs one connection; on shutdown, lets it finish the request in hand and closes it.
async fn drive(conn: Conn, draining: CancellationToken) {
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        () = draining.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        // Header-read timeouts and clients that hang up land here: routine, not errors.
        tracing::debug!(error = %e, "connection ended");
    }
}

/// Answers an over-the-cap connection with the fixed 503 and closes it, reading briefly what
/// the client sent so the close is a FIN rather than a reset that could hide the answer.
async fn refuse(mut stream: TcpStream) {
    let bounded = Duration::from_millis(500);
    let _ = tokio::time::timeout(bounded, async {
        stream.write_all(OVERLOADED).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::OVERLOADED;

    #[test]
    fn the_refusal_is_well_formed_http() {
        let text = std::str::from_utf8(OVERLOADED).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let length: usize = head.lines().find_map(|l| l.strip_prefix("content-length: ")).unwrap().parse().unwrap();
        assert_eq!(length, body.len());
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["error"]["code"], "overloaded");
    }
}
