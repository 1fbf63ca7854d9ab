//! Handler tests through `Router::oneshot` on the embedded backends: every status the API
//! promises, with its JSON error body.

use std::time::Duration;

use axum::{
    body::Body,
    http::{Request, StatusCode},
    Router,
};
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::helpers::{profile_for, Backends};

async fn router_with(tweak: impl FnOnce(&mut service::config::ServiceConfig)) -> (Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut profile = profile_for(Backends::SqliteLocal, dir.path()).await.unwrap();
    tweak(&mut profile.service);
    let app = service::App::build(profile.service).await.unwrap();
    (app.router(), dir)
}

async fn send(router: &Router, request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, headers, json)
}

fn post_json(body: &str) -> Request<Body> {
    Request::post("/api/v1/content")
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn write_then_read() {
    let (router, _dir) = router_with(|_| {}).await;
    let (status, _, body) = send(&router, post_json(r#"{"user_id":"123","payload":"hello"}"#)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(body["status"], "processing");
    let id = body["content_id"].as_str().unwrap();
    let (status, _, body) = send(&router, get(&format!("/api/v1/content/{id}"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["payload"], "hello");
    // No worker runs here (only the router), so the item is still processing.
    assert_eq!(body["metadata"]["status"], "processing");
    assert_eq!(body["metadata"]["size_bytes"], 5);
}

#[tokio::test]
async fn client_errors_are_json_with_the_right_status() {
    let (router, _dir) = router_with(|c| c.http.max_body_bytes = 1024).await;
    let cases: Vec<(Request<Body>, StatusCode, &str)> = vec![
        (post_json("{not json"), StatusCode::BAD_REQUEST, "invalid_json"),
        (post_json(r#"{"user_id":"1"}"#), StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
        (post_json(r#"{"user_id":"1","payload":"x","extra":1}"#), StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
        (post_json(r#"{"user_id":"a/b","payload":"x"}"#), StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
        (post_json(r#"{"user_id":"1","payload":""}"#), StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
        (
            post_json(&format!(r#"{{"user_id":"1","payload":"{}"}}"#, "z".repeat(2000))),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            Request::post("/api/v1/content").header("content-type", "text/plain").body(Body::from("{}")).unwrap(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (get("/api/v1/content/424242"), StatusCode::NOT_FOUND, "not_found"),
        (get("/api/v1/content/not-a-number"), StatusCode::NOT_FOUND, "not_found"),
        (get("/no/such/route"), StatusCode::NOT_FOUND, "not_found"),
        (
            Request::delete("/api/v1/content/1").body(Body::empty()).unwrap(),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
    ];
    for (request, want_status, want_code) in cases {
        let what = format!("{} {}", request.method(), request.uri());
        let (status, _, body) = send(&router, request).await;
        assert_eq!(status, want_status, "{what}: {body}");
        assert_eq!(body["error"]["code"], want_code, "{what}: {body}");
    }
    // Invalid UTF-8 inside a JSON string is a malformed body, not a crash.
    let raw = [br#"{"user_id":"1","payload":""#.as_slice(), &[0xff, 0xfe], br#""}"#].concat();
    let request =
        Request::post("/api/v1/content").header("content-type", "application/json").body(Body::from(raw)).unwrap();
    let (status, _, _) = send(&router, request).await;
    assert!(status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY, "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_is_shed_with_503_and_retry_after() {
    let (router, _dir) = router_with(|c| {
        c.http.max_in_flight = 1;
        c.http.extra_cpu_per_request = Duration::from_millis(300);
    })
    .await;
    let slow = tokio::spawn({
        let router = router.clone();
        async move { send(&router, get("/api/v1/content/1")).await.0 }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, headers, body) = send(&router, get("/api/v1/content/1")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["code"], "overloaded");
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(slow.await.unwrap(), StatusCode::NOT_FOUND);
    // Ops routes stay reachable while the API is saturated.
    let (status, _, _) = send(&router, get("/healthz")).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_requests_time_out_with_503() {
    let (router, _dir) = router_with(|c| {
        c.http.request_timeout = Duration::from_millis(50);
        c.http.extra_cpu_per_request = Duration::from_millis(200);
    })
    .await;
    let (status, headers, body) = send(&router, get("/api/v1/content/1")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["code"], "timeout");
    assert_eq!(headers["retry-after"], "1");
}

#[tokio::test]
async fn ops_routes() {
    let (router, _dir) = router_with(|_| {}).await;
    let (status, _, body) = send(&router, get("/healthz")).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (status, _, doc) = send(&router, get("/openapi.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["paths"]["/api/v1/content"]["post"]["responses"]["202"].is_object(), "{doc}");
    // The document states what the handler enforces (schemathesis in .ci/run checks both ways).
    let create = &doc["components"]["schemas"]["CreateContent"];
    assert_eq!(create["properties"]["user_id"]["pattern"], "^[A-Za-z0-9_-]{1,64}$", "{create}");
    assert_eq!(
        (&create["properties"]["user_id"]["minLength"], &create["properties"]["user_id"]["maxLength"]),
        (&1.into(), &64.into())
    );
    assert_eq!(create["properties"]["payload"]["minLength"], 1, "{create}");
    assert_eq!(create["additionalProperties"], false, "{create}");
    let response = router.clone().oneshot(get("/metrics")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = String::from_utf8(response.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    for name in [
        "scaleloop_tier_busy_seconds_total{tier=\"db_primary\"}",
        "scaleloop_pool_in_use{pool=\"db_primary\"}",
        "scaleloop_pool_waiting{pool=\"db_primary_writer\"}",
        "scaleloop_queue_depth",
        "scaleloop_cache_hits_total",
        "scaleloop_http_requests_total{route=\"/healthz\"",
    ] {
        assert!(text.contains(name), "missing {name} in\n{text}");
    }
}
