//! Slow clients: sockets that trickle their bodies or their headers must not shed everyone
//! else. `max_in_flight + 50` of them held open, a normal GET from another client still
//! answers 200 within a second; half-sent headers are closed after the header-read timeout,
//! trickled bodies get 408 after the body-read timeout; past the connection cap a new
//! connection gets a fast 503 with `Retry-After`.

use std::time::{Duration, Instant};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::{profile_for, spawn_app, Backends};

const MAX_IN_FLIGHT: usize = 16;

/// A POST whose headers and first body byte are sent, the rest never.
async fn trickle_body(addr: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head =
        "POST /api/v1/content HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{";
    s.write_all(head.as_bytes()).await.unwrap();
    s
}

/// A request whose head is half sent.
async fn trickle_headers(addr: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /api/v1/content/1 HTTP/1.1\r\nhost: x\r\nx-slow: ").await.unwrap();
    s
}

/// Reads until the server closes the connection; returns what it sent and when it closed.
async fn read_until_closed(s: &mut TcpStream, within: Duration) -> (String, Instant) {
    let mut got = Vec::new();
    let _ = tokio::time::timeout(within, async {
        let mut buf = [0u8; 1024];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    (String::from_utf8_lossy(&got).into_owned(), Instant::now())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_do_not_shed_a_normal_get() {
    let dir = tempfile::tempdir().unwrap();
    let mut profile = profile_for(Backends::SqliteLocal, dir.path()).await.unwrap();
    profile.service.http.max_in_flight = MAX_IN_FLIGHT;
    profile.service.http.header_read_timeout = Duration::from_secs(1);
    profile.service.http.body_read_timeout = Duration::from_secs(3);
    let app = spawn_app(profile).await;
    let id = app.create("normal", "a normal item").await;
    let addr = app.address.trim_start_matches("http://").to_owned();

    let started = Instant::now();
    let mut bodies = Vec::new();
    for _ in 0..MAX_IN_FLIGHT + 50 {
        bodies.push(trickle_body(&addr).await);
    }
    let mut heads = Vec::new();
    for _ in 0..20 {
        heads.push(trickle_headers(&addr).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Another client, fresh connections: every GET answers 200, each within a second.
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let mut worst = Duration::ZERO;
    for _ in 0..10 {
        let t = Instant::now();
        let r = client.get(format!("{}/api/v1/content/{id}", app.address)).send().await.unwrap();
        assert_eq!(r.status(), 200, "a normal GET while {} sockets trickle", bodies.len() + heads.len());
        worst = worst.max(t.elapsed());
    }
    eprintln!("slowloris: {} body + {} header tricklers, worst normal GET {:?}", bodies.len(), heads.len(), worst);
    assert!(worst < Duration::from_secs(1), "a normal GET took {worst:?}");

    // Half-sent headers: closed once the header-read timeout (1 s) has passed.
    let (said, closed) = read_until_closed(&mut heads[0], Duration::from_secs(5)).await;
    let after = closed - started;
    assert!(
        after >= Duration::from_millis(900) && after < Duration::from_secs(3),
        "half-sent headers closed after {after:?} ({said:?})"
    );
    // Trickled bodies: 408 once the body-read timeout (3 s) has passed, then closed.
    let (said, closed) = read_until_closed(&mut bodies[0], Duration::from_secs(8)).await;
    let after = closed - started;
    assert!(said.starts_with("HTTP/1.1 408"), "a stalled body got {said:?}");
    assert!(
        after >= Duration::from_millis(2900) && after < Duration::from_secs(6),
        "stalled body answered after {after:?}"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_connection_cap_a_new_connection_gets_a_fast_503() {
    let dir = tempfile::tempdir().unwrap();
    let mut profile = profile_for(Backends::SqliteLocal, dir.path()).await.unwrap();
    profile.service.http.max_in_flight = 4;
    profile.service.http.max_connections = 8;
    profile.service.http.header_read_timeout = Duration::from_secs(5);
    let app = spawn_app(profile).await;
    let addr = app.address.trim_start_matches("http://").to_owned();
    let mut idle = Vec::new();
    for _ in 0..8 {
        idle.push(trickle_headers(&addr).await);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t = Instant::now();
    let mut s = TcpStream::connect(&addr).await.unwrap();
    s.write_all(b"GET /livez HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    let (said, _) = read_until_closed(&mut s, Duration::from_secs(2)).await;
    let took = t.elapsed();
    assert!(said.starts_with("HTTP/1.1 503"), "over the cap: {said:?}");
    assert!(said.contains("retry-after: 1"), "{said:?}");
    assert!(took < Duration::from_millis(500), "the refusal took {took:?}");
    // Once a slot is free, connections are served again.
    drop(idle);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(app.client.get(format!("{}/livez", app.address)).send().await.unwrap().status(), 200);
    assert!(app.metric("scaleloop_http_refused_connections_total").await >= 1.0);
    app.shutdown().await;
}
