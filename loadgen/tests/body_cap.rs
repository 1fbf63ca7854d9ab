//! The response-body cap: a fixture that answers a GET with a 1 GiB body (announced, and
//! chunked without a length) gets `body_too_large` on both send paths (the lean HTTP/1.1
//! connections and reqwest), and the generator's memory stays bounded while it happens.

use std::time::Duration;

use loadgen::http1::Connection;
use loadgen::requests::{self, ApiUrls, BODY_TOO_LARGE};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const GIB: u64 = 1 << 30;
const CAP: usize = 1 << 20;

/// A server that answers every connection's first request with a 1 GiB body of zeros,
/// written until the client goes away (or the whole GiB is out).
async fn huge_body_server(chunked: bool) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = [0u8; 4096];
                let _ = s.read(&mut head).await;
                let header = if chunked {
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n".to_owned()
                } else {
                    format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {GIB}\r\n\r\n")
                };
                if s.write_all(header.as_bytes()).await.is_err() {
                    return;
                }
                let block = vec![b'0'; 64 * 1024];
                let mut sent = 0u64;
                while sent < GIB {
                    let written = if chunked {
                        let mut framed = format!("{:x}\r\n", block.len()).into_bytes();
                        framed.extend_from_slice(&block);
                        framed.extend_from_slice(b"\r\n");
                        s.write_all(&framed).await
                    } else {
                        s.write_all(&block).await
                    };
                    if written.is_err() {
                        return;
                    }
                    sent += block.len() as u64;
                }
            });
        }
    });
    url
}

/// Peak resident memory of this process so far, in bytes (Linux).
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_1_gib_answer_gets_the_body_cap_error_with_bounded_memory() {
    let before = peak_rss();
    let client = reqwest::Client::new();
    for chunked in [false, true] {
        let url = huge_body_server(chunked).await;
        let api = ApiUrls::new(&url).unwrap().with_max_response_bytes(CAP);
        let mut connection = Connection::default();
        let reply = tokio::time::timeout(Duration::from_secs(30), connection.read(&api, "1")).await.unwrap();
        assert_eq!(
            (reply.status, reply.error.as_deref()),
            (Some(200), Some(BODY_TOO_LARGE)),
            "lean path, chunked: {chunked}"
        );
        assert!(!connection.is_open(), "a connection with an unread body must not be reused");
        let reply =
            tokio::time::timeout(Duration::from_secs(30), requests::read(&client, &api, "1", false)).await.unwrap();
        assert_eq!(
            (reply.status, reply.error.as_deref()),
            (Some(200), Some(BODY_TOO_LARGE)),
            "reqwest path, chunked: {chunked}"
        );
    }
    let grown = peak_rss().saturating_sub(before);
    eprintln!("body cap: peak RSS grew {} KiB while refusing 1 GiB answers", grown / 1024);
    assert!(grown < 64 << 20, "memory grew by {grown} bytes: the body was not capped");
}

#[test]
fn the_cap_is_checked_in_the_scenario() {
    let text = "name = \"x\"\nduration = \"1s\"\n[load]\ncurve = \"constant\"\nrate = 10\n[generator]\nmax_response_bytes = 10\n";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.toml");
    std::fs::write(&path, text).unwrap();
    let err = loadgen::scenario::Scenario::load(&path).unwrap_err().to_string();
    assert!(err.contains("generator.max_response_bytes"), "{err}");
}
