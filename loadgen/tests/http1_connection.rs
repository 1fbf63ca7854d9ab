//! The paced sends' own HTTP/1.1 connection (`loadgen::http1`) against a bare TCP test
//! server whose behaviour each test sets: it counts the connections it accepts, can close
//! each one after its answer, stall, or answer with an error status.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use loadgen::http1::{Connection, ConnectionPool};
use loadgen::keys::WriteBody;
use loadgen::requests::{ApiUrls, ReplyBody};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone, Copy, PartialEq)]
enum Behaviour {
    /// Keep-alive: answer every request on the connection.
    KeepAlive,
    /// Close the connection after each answer (as an idle timeout would), with no
    /// `Connection: close` header to warn the client.
    CloseAfterAnswer,
    /// Never answer.
    Stall,
    /// Answer 500.
    Fail,
}

#[derive(Default)]
struct Seen {
    connections: AtomicUsize,
    requests: Mutex<Vec<String>>,
    /// For each request, the number (1, 2, …) of the connection it came on.
    came_on: Mutex<Vec<usize>>,
}

/// Starts the server on a loopback port; returns its base URL and what it saw.
async fn serve(behaviour: Behaviour) -> (String, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Seen::default());
    let shared = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let number = shared.connections.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::spawn(answer(stream, number, behaviour, shared.clone()));
        }
    });
    (url, seen)
}

async fn answer(mut stream: TcpStream, number: usize, behaviour: Behaviour, seen: Arc<Seen>) {
    let mut buffer = Vec::new();
    loop {
        let Some(request) = read_request(&mut stream, &mut buffer).await else { return };
        let is_write = request.starts_with("POST ");
        seen.requests.lock().unwrap().push(request);
        seen.came_on.lock().unwrap().push(number);
        let (status, body) = match (behaviour, is_write) {
            (Behaviour::Stall, _) => {
                tokio::time::sleep(Duration::from_secs(60)).await;
                return;
            }
            (Behaviour::Fail, _) => ("500 Internal Server Error", r#"{"error":"boom"}"#.to_owned()),
            (_, true) => ("202 Accepted", r#"{"content_id":"c-1"}"#.to_owned()),
            (_, false) => ("200 OK", r#"{"content_id":"c-1","user_id":"u","payload":"p"}"#.to_owned()),
        };
        let head =
            format!("HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n", body.len());
        if stream.write_all(format!("{head}{body}").as_bytes()).await.is_err() {
            return;
        }
        if behaviour == Behaviour::CloseAfterAnswer {
            return;
        }
    }
}

/// Reads one request (head and `content-length` body) as text; `None` at end of stream.
async fn read_request(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<String> {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse::<usize>().unwrap());
            if buffer.len() >= end + 4 + length {
                let request: Vec<u8> = buffer.drain(..end + 4 + length).collect();
                return Some(String::from_utf8_lossy(&request).into_owned());
            }
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
}

fn ok_kind(reply: &loadgen::requests::Reply) -> Option<&str> {
    reply.error.as_deref()
}

#[tokio::test]
async fn requests_reuse_one_connection() {
    let (url, seen) = serve(Behaviour::KeepAlive).await;
    let api = ApiUrls::new(&url).unwrap();
    let mut connection = Connection::default();
    for _ in 0..5 {
        let reply = connection.read(&api, "abc").await;
        assert_eq!((reply.status, ok_kind(&reply)), (Some(200), None));
        assert!(connection.is_open());
    }
    assert_eq!(seen.connections.load(Ordering::SeqCst), 1);
    let requests = seen.requests.lock().unwrap();
    assert_eq!(requests.len(), 5);
    assert!(requests[0].starts_with("GET /api/v1/content/abc HTTP/1.1\r\n"), "{}", requests[0]);
    assert!(requests[0].to_lowercase().contains(&format!("host: {}", url.trim_start_matches("http://"))));
}

#[tokio::test]
async fn a_write_posts_its_json_and_returns_the_new_id() {
    let (url, seen) = serve(Behaviour::KeepAlive).await;
    let api = ApiUrls::new(&format!("{url}/prefix/")).unwrap();
    let body = WriteBody { user_id: "user-7".into(), payload: "x\"y".into() };
    let reply = Connection::default().write(&api, &body).await;
    assert_eq!(reply.body, ReplyBody::Created { content_id: "c-1".into() });
    let request = seen.requests.lock().unwrap()[0].clone();
    assert!(request.starts_with("POST /prefix/api/v1/content HTTP/1.1\r\n"), "{request}");
    assert!(request.to_lowercase().contains("content-type: application/json"));
    let json = request.split("\r\n\r\n").nth(1).unwrap();
    let sent: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(sent, serde_json::json!({ "user_id": "user-7", "payload": "x\"y" }));
}

#[tokio::test]
async fn ids_are_sent_as_one_percent_encoded_segment() {
    let (url, seen) = serve(Behaviour::KeepAlive).await;
    let api = ApiUrls::new(&url).unwrap();
    let reply = Connection::default().read(&api, "a/b c?d").await;
    assert_eq!(reply.error, None);
    let request = seen.requests.lock().unwrap()[0].clone();
    assert!(request.starts_with("GET /api/v1/content/a%2Fb%20c%3Fd HTTP/1.1"), "{request}");
    assert_eq!(api.item("a/b c?d").path(), "/api/v1/content/a%2Fb%20c%3Fd", "same encoding as the reqwest path");
}

#[tokio::test]
async fn a_connection_the_server_closed_is_replaced() {
    let (url, seen) = serve(Behaviour::CloseAfterAnswer).await;
    let api = ApiUrls::new(&url).unwrap();
    let mut connection = Connection::default();
    for _ in 0..3 {
        let reply = connection.read(&api, "abc").await;
        assert_eq!(reply.error, None);
        // Let the close arrive, as it would on a connection idle past the server's timeout.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen.connections.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_server_that_is_down_is_a_connect_error() {
    let port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
    let api = ApiUrls::new(&format!("http://127.0.0.1:{port}")).unwrap();
    let reply = Connection::default().read(&api, "abc").await;
    assert_eq!((reply.status, ok_kind(&reply)), (None, Some("connect")));
}

#[tokio::test]
async fn a_stalled_answer_times_out_and_the_next_request_gets_a_fresh_connection() {
    let (url, seen) = serve(Behaviour::Stall).await;
    let api = ApiUrls::new(&url).unwrap();
    let mut connection = Connection::with_timeout(Duration::from_millis(200));
    let started = std::time::Instant::now();
    let reply = connection.read(&api, "abc").await;
    assert_eq!(ok_kind(&reply), Some("timeout"));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(!connection.is_open());
    let _ = connection.read(&api, "abc").await;
    assert_eq!(seen.connections.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_error_status_is_counted_by_code_and_keeps_the_connection() {
    let (url, seen) = serve(Behaviour::Fail).await;
    let api = ApiUrls::new(&url).unwrap();
    let mut connection = Connection::default();
    for _ in 0..2 {
        let reply = connection.read(&api, "abc").await;
        assert_eq!((reply.status, ok_kind(&reply)), (Some(500), Some("http_500")));
    }
    assert_eq!(seen.connections.load(Ordering::SeqCst), 1);
}

#[test]
fn base_urls_must_be_http_or_https_and_only_http_takes_the_lean_path() {
    assert!(ApiUrls::new("http://127.0.0.1:8080").unwrap().is_plain_http());
    assert!(!ApiUrls::new("https://staging.example.com").unwrap().is_plain_http());
    let ftp = ApiUrls::new("ftp://127.0.0.1").unwrap_err().to_string();
    assert_eq!(ftp, "scheme must be http or https, got ftp");
    assert!(ApiUrls::new("not a url").unwrap_err().to_string().starts_with("not a URL"));
    assert!(ApiUrls::new("http://[::1]:8080").is_ok());
}

#[tokio::test]
async fn the_pool_hands_out_the_connection_given_back_last_and_drops_closed_ones() {
    let (url, seen) = serve(Behaviour::KeepAlive).await;
    let api = ApiUrls::new(&url).unwrap();
    let pool = ConnectionPool::default();
    let (mut first, mut second) = (pool.take(), pool.take());
    assert_eq!(first.read(&api, "a").await.error, None);
    assert_eq!(second.read(&api, "b").await.error, None);
    pool.give_back(first);
    pool.give_back(second);
    assert_eq!(pool.idle(), 2);
    // Ten sends one after another all reuse the connection given back last (the second).
    for _ in 0..10 {
        let mut connection = pool.take();
        assert_eq!(connection.read(&api, "c").await.error, None);
        pool.give_back(connection);
    }
    assert_eq!(seen.came_on.lock().unwrap()[..], [1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]);
    assert_eq!(seen.connections.load(Ordering::SeqCst), 2);
    pool.give_back(Connection::default());
    assert_eq!(pool.idle(), 2, "a connection never opened is not kept");
}
