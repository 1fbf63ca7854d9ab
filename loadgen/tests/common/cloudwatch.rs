//! CloudWatch test support: GetMetricData answers encoded in Smithy RPC v2 CBOR with the
//! SDK's own encoder (aws-smithy-cbor, the encoder the generated SDK code uses), requests
//! decoded back for assertions, clients over the SDK's replaying HTTP client, a small HTTP
//! endpoint that answers a fixture's series for the queries it is sent (the real SDK talks to
//! it over loopback), and the fixtures' client-side results expanded into a `summary.json`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use aws_sdk_cloudwatch::config::{BehaviorVersion, Credentials, HttpClient, Region};
use aws_smithy_cbor::Encoder;
use aws_smithy_types::{body::SdkBody, DateTime};
use serde::Deserialize;
use serde_json::{json, Value};

/// One query's answer on one page.
#[derive(Debug, Clone)]
pub struct Answer {
    pub id: String,
    pub timestamps: Vec<i64>,
    pub values: Vec<f64>,
}

/// A GetMetricData output page.
pub fn encode_page(answers: &[Answer], next_token: Option<&str>) -> Vec<u8> {
    let mut e = Encoder::new(Vec::new());
    e.begin_map();
    e.str("MetricDataResults").array(answers.len());
    for a in answers {
        e.map(5);
        e.str("Id").str(&a.id);
        e.str("Label").str(&a.id);
        e.str("Timestamps").array(a.timestamps.len());
        for t in &a.timestamps {
            e.timestamp(&DateTime::from_secs(*t));
        }
        e.str("Values").array(a.values.len());
        for v in &a.values {
            e.double(*v);
        }
        e.str("StatusCode").str(if next_token.is_some() { "PartialData" } else { "Complete" });
    }
    if let Some(token) = next_token {
        e.str("NextToken").str(token);
    }
    e.str("Messages").array(0);
    e.end();
    e.into_writer()
}

/// An RPC v2 CBOR error body (`__type` is how the protocol names the error).
pub fn encode_error(code: &str, message: &str) -> Vec<u8> {
    let mut e = Encoder::new(Vec::new());
    e.map(2);
    e.str("__type").str(&format!("com.amazonaws.cloudwatch#{code}"));
    e.str("message").str(message);
    e.into_writer()
}

/// An HTTP response as CloudWatch sends it over RPC v2 CBOR.
pub fn http_response(status: u16, body: Vec<u8>) -> http::Response<SdkBody> {
    http::Response::builder()
        .status(status)
        .header("content-type", "application/cbor")
        .header("smithy-protocol", "rpc-v2-cbor")
        .body(SdkBody::from(body))
        .unwrap()
}

/// CBOR (as the SDK sends it) → JSON, timestamps (tag 1) as epoch seconds.
pub fn cbor_to_json(bytes: &[u8]) -> Value {
    fn convert(v: ciborium::Value) -> Value {
        use ciborium::Value as C;
        match v {
            C::Integer(i) => json!(i128::from(i) as f64),
            C::Float(f) => json!(f),
            C::Text(s) => json!(s),
            C::Bool(b) => json!(b),
            C::Null => Value::Null,
            C::Tag(_, inner) => convert(*inner),
            C::Array(items) => Value::Array(items.into_iter().map(convert).collect()),
            C::Map(pairs) => Value::Object(
                pairs.into_iter().map(|(k, v)| (k.as_text().unwrap_or_default().to_owned(), convert(v))).collect(),
            ),
            other => json!(format!("{other:?}")),
        }
    }
    convert(ciborium::from_reader(bytes).expect("request body is CBOR"))
}

/// A client with test credentials and a fixed region, over `http_client`.
/// `http_client`: the SDK's replaying client, or `None` for its default HTTP client.
pub fn client_over(
    http_client: Option<impl HttpClient + 'static>,
    endpoint: Option<&str>,
) -> aws_sdk_cloudwatch::Client {
    let mut config = aws_sdk_cloudwatch::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKIDTEST", "test-secret", None, None, "tests"))
        .retry_config(
            aws_sdk_cloudwatch::config::retry::RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(std::time::Duration::from_millis(5)),
        );
    if let Some(http_client) = http_client {
        config = config.http_client(http_client);
    }
    if let Some(url) = endpoint {
        config = config.endpoint_url(url);
    }
    aws_sdk_cloudwatch::Client::from_conf(config.build())
}

/// A fixture: the client side of a run and what CloudWatch held for it.
#[derive(Debug, Clone, Deserialize)]
pub struct Fixture {
    pub description: String,
    pub client: ClientShape,
    /// Seconds per CloudWatch point.
    pub period_s: i64,
    pub series: Vec<FixtureSeries>,
}

/// The client-side results: offered rate ramps linearly; achieved follows it up to the
/// deployment's capacity; latency grows as the offered rate passes it.
#[derive(Debug, Clone, Deserialize)]
pub struct ClientShape {
    pub duration_s: u64,
    pub offered_from: f64,
    pub offered_to: f64,
    pub capacity: f64,
    pub p50_ms: f64,
    pub users: usize,
}

/// Values of one metric of one resource, one per period from the window's start.
#[derive(Debug, Clone, Deserialize)]
pub struct FixtureSeries {
    pub namespace: String,
    pub metric: String,
    pub resource: String,
    pub values: Vec<f64>,
}

impl Fixture {
    pub fn load(name: &str) -> Self {
        let path = super::repo_root().join("loadgen/tests/fixtures/cloudwatch").join(format!("{name}.json"));
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    /// The fixture's values for a query, as points from `start` every period, up to `end`.
    pub fn answer(&self, id: &str, namespace: &str, metric: &str, resource: &str, start: i64, end: i64) -> Answer {
        let values = self
            .series
            .iter()
            .find(|s| s.namespace == namespace && s.metric == metric && s.resource == resource)
            .map(|s| s.values.clone())
            .unwrap_or_default();
        let (timestamps, values) = values
            .into_iter()
            .enumerate()
            .map(|(i, v)| (start + i as i64 * self.period_s, v))
            .filter(|(t, _)| *t < end)
            .unzip();
        Answer { id: id.to_owned(), timestamps, values }
    }

    /// Writes `summary.json` and `timeline.json` of the fixture's run into `dir`, the run
    /// starting at `started_at` (unix seconds).
    pub fn write_run(&self, dir: &Path, started_at: i64) {
        let c = &self.client;
        let mut summary: Value = serde_json::from_str(
            &std::fs::read_to_string(super::repo_root().join("loadgen/tests/fixtures/summary-smoke.json")).unwrap(),
        )
        .unwrap();
        let n = c.duration_s;
        let mut series = Vec::new();
        let (mut intended_total, mut completed_total) = (0.0, 0.0);
        for t in 0..n {
            let offered = c.offered_from + (c.offered_to - c.offered_from) * t as f64 / n as f64;
            let achieved = offered.min(c.capacity * (0.98 + 0.02 * ((t * 7 % 5) as f64 / 4.0)));
            // Past capacity the backlog grows and each request waits behind it.
            let overload = (offered / c.capacity - 1.0).max(0.0);
            let p50 = c.p50_ms * (1.0 + 40.0 * overload);
            let latency = |m: f64| (p50 * m * 1000.0) as u64;
            intended_total += offered;
            completed_total += achieved;
            series.push(json!({
                "t": t, "intended": offered, "sent": offered as u64, "lag_p99_us": 900,
                "completed": achieved as u64, "errors": 0,
                "latency_us": {"count": achieved as u64, "mean": latency(1.1) as f64, "p50": latency(1.0), "p90": latency(2.0), "p99": latency(3.5), "p999": latency(5.0), "max": latency(6.0)}
            }));
        }
        let at = DateTime::from_secs(started_at).fmt(aws_smithy_types::date_time::Format::DateTime).unwrap();
        summary["run_id"] = json!(dir.file_name().unwrap().to_string_lossy());
        summary["started_at"] = json!(at);
        summary["duration_s"] = json!(n as f64);
        summary["profile"] = Value::Null;
        summary["target"] = json!({"kind": "external", "url": "https://staging.example.com"});
        summary["series"] = json!(series);
        summary["scenario"]["duration_s"] = json!(n as f64);
        summary["generator"]["users"] = json!(c.users);
        for op in ["all", "read"] {
            summary["operations"][op]["intended_rate"] = json!(intended_total / n as f64);
            summary["operations"][op]["achieved_rate"] = json!(completed_total / n as f64);
        }
        let p99 = series.iter().map(|s| s["latency_us"]["p99"].as_u64().unwrap()).max().unwrap();
        summary["operations"]["all"]["latency_us"]["p99"] = json!(p99);
        summary["slo"] = json!({"passed": false, "checks": [{"name": "p99", "limit": 250000.0, "observed": p99 as f64, "passed": false}]});
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("summary.json"), serde_json::to_string_pretty(&summary).unwrap()).unwrap();
        // The generator's own box, as the host sampler records it on an external target.
        let timeline = json!({
            "t": (0..n).collect::<Vec<_>>(),
            "series": {"host.cpu_cores.generator": vec![0.15; n as usize]},
            "boxes": [{"tier": "generator", "cpu_cores": 2.0, "members": ["self"]}],
        });
        std::fs::write(dir.join("timeline.json"), timeline.to_string()).unwrap();
    }
}

/// What the fake endpoint does with each request.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// Answer from the fixture.
    Answer(Arc<Fixture>),
    /// Fail every request with this HTTP status and error code.
    Fail(u16, &'static str),
}

/// A loopback HTTP endpoint speaking CloudWatch's RPC v2 CBOR for GetMetricData.
pub struct FakeCloudWatch {
    pub url: String,
    pub requests: Arc<Mutex<Vec<Value>>>,
    _task: tokio::task::JoinHandle<()>,
}

impl FakeCloudWatch {
    pub async fn start(behaviour: Behaviour) -> Self {
        use axum::{body::Bytes, extract::State, http::StatusCode, response::IntoResponse, routing::post, Router};
        type Shared = (Behaviour, Arc<Mutex<Vec<Value>>>);
        async fn handle(State((behaviour, seen)): State<Shared>, body: Bytes) -> impl IntoResponse {
            let request = cbor_to_json(&body);
            seen.lock().unwrap().push(request.clone());
            let headers = [("content-type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")];
            match behaviour {
                Behaviour::Fail(status, code) => {
                    (StatusCode::from_u16(status).unwrap(), headers, encode_error(code, "refused by the test endpoint"))
                        .into_response()
                }
                Behaviour::Answer(fixture) => {
                    let start = request["StartTime"].as_f64().unwrap() as i64;
                    let end = request["EndTime"].as_f64().unwrap() as i64;
                    let answers: Vec<Answer> = request["MetricDataQueries"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|q| {
                            let m = &q["MetricStat"]["Metric"];
                            let resource = m["Dimensions"][0]["Value"].as_str().unwrap();
                            fixture.answer(
                                q["Id"].as_str().unwrap(),
                                m["Namespace"].as_str().unwrap(),
                                m["MetricName"].as_str().unwrap(),
                                resource,
                                start,
                                end,
                            )
                        })
                        .collect();
                    (StatusCode::OK, headers, encode_page(&answers, None)).into_response()
                }
            }
        }
        let requests = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new().route("/{*path}", post(handle)).with_state((behaviour, requests.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, requests, _task: task }
    }
}

/// Queries of a decoded request, as `namespace metric dimension=value stat period`.
pub fn described_queries(request: &Value) -> Vec<String> {
    request["MetricDataQueries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| {
            let s = &q["MetricStat"];
            let m = &s["Metric"];
            let d = &m["Dimensions"][0];
            format!(
                "{} {} {}={} {} {}",
                m["Namespace"].as_str().unwrap(),
                m["MetricName"].as_str().unwrap(),
                d["Name"].as_str().unwrap(),
                d["Value"].as_str().unwrap(),
                s["Stat"].as_str().unwrap(),
                s["Period"]
            )
        })
        .collect()
}

/// Tally of queries per namespace.
pub fn namespaces(request: &Value) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for q in request["MetricDataQueries"].as_array().unwrap() {
        *out.entry(q["MetricStat"]["Metric"]["Namespace"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    out
}
