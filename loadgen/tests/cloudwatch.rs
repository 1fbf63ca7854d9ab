//! CloudWatch through the real SDK: the GetMetricData calls it sends (namespaces, dimensions,
//! statistics, period, time range, batching, pagination) and the series parsed back, over the
//! SDK's replaying HTTP client with protocol-correct RPC v2 CBOR answers; errors turned into
//! messages; and two fixture runs pulled over loopback HTTP whose verdicts must name the
//! database (a saturated RDS primary) and the app tier at its Auto Scaling maximum.

mod common;

use std::sync::Arc;

use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
use aws_smithy_types::body::SdkBody;
use common::cloudwatch::{self as cw, Answer, Behaviour, FakeCloudWatch, Fixture};
use loadgen::cloudwatch::{
    period,
    pull::{self, CloudWatchOptions},
    query, signals, AwsDeployment, CloudWatchError, CloudWatchSource,
};

const START: i64 = 1_795_183_200; // 2026-11-20T14:00:00Z, a minute boundary
const DB_AND_QUEUE: &str =
    "region = \"us-east-1\"\n[db_primary]\ndb_instance = \"content-db\"\n[queue]\nqueue_name = \"content-jobs\"\n";

fn request() -> http::Request<SdkBody> {
    http::Request::builder().uri("https://monitoring.us-east-1.amazonaws.com/").body(SdkBody::empty()).unwrap()
}

fn replay(responses: Vec<http::Response<SdkBody>>) -> StaticReplayClient {
    StaticReplayClient::new(responses.into_iter().map(|r| ReplayEvent::new(request(), r)).collect())
}

fn source(replay: &StaticReplayClient) -> CloudWatchSource {
    CloudWatchSource::from_client(cw::client_over(Some(replay.clone()), None), "replay")
}

fn bodies(replay: &StaticReplayClient) -> Vec<serde_json::Value> {
    replay.actual_requests().map(|r| cw::cbor_to_json(r.body().bytes().unwrap())).collect()
}

#[tokio::test]
async fn queries_are_sent_as_asked_and_pages_joined() {
    let deployment = AwsDeployment::parse(DB_AND_QUEUE).unwrap();
    let queries = query::plan(&deployment, &signals::shipped());
    let window = period::choose(START, START + 600, START + 3600, 60).unwrap();
    assert_eq!((window.start, window.end, window.period_s), (START, START + 600, 60));
    // CloudWatch splits the answer: five points of every query, then the other five.
    let page = |from: i64, token: Option<&str>| {
        let answers: Vec<Answer> = queries
            .iter()
            .enumerate()
            .map(|(i, q)| Answer {
                id: q.id.clone(),
                timestamps: (from..from + 5).map(|m| START + 60 * m).collect(),
                values: (from..from + 5).map(|m| (i * 100) as f64 + m as f64).collect(),
            })
            .collect();
        cw::http_response(200, cw::encode_page(&answers, token))
    };
    let replay = replay(vec![page(0, Some("page-2")), page(5, None)]);
    let pulled = source(&replay).fetch(&queries, &window).await.unwrap();

    let sent = bodies(&replay);
    assert_eq!(sent.len(), 2, "one call, two pages");
    assert!(sent[0].get("NextToken").is_none());
    assert_eq!(sent[1]["NextToken"], "page-2");
    for body in &sent {
        assert_eq!(body["StartTime"].as_f64(), Some(START as f64));
        assert_eq!(body["EndTime"].as_f64(), Some((START + 600) as f64));
        assert_eq!(body["ScanBy"], "TimestampAscending");
        let namespaces = cw::namespaces(body);
        assert_eq!(namespaces.get("AWS/RDS"), Some(&8), "{namespaces:?}");
        assert_eq!(namespaces.get("AWS/SQS"), Some(&2), "{namespaces:?}");
        let described = cw::described_queries(body);
        for q in [
            "AWS/RDS CPUUtilization DBInstanceIdentifier=content-db Average 60.0",
            "AWS/RDS DiskQueueDepth DBInstanceIdentifier=content-db Average 60.0",
            "AWS/RDS FreeableMemory DBInstanceIdentifier=content-db Minimum 60.0",
            "AWS/SQS ApproximateAgeOfOldestMessage QueueName=content-jobs Maximum 60.0",
        ] {
            assert!(described.iter().any(|d| d == q), "{q} not in {described:#?}");
        }
    }
    for r in replay.actual_requests() {
        assert_eq!(r.headers().get("smithy-protocol"), Some("rpc-v2-cbor"));
        assert!(r.uri().ends_with("/service/GraniteServiceVersion20100801/operation/GetMetricData"), "{}", r.uri());
        assert!(
            r.headers().get("authorization").is_some_and(|a| a.starts_with("AWS4-HMAC-SHA256")),
            "signed with SigV4"
        );
    }
    assert_eq!(pulled.len(), queries.len());
    let cpu = &pulled[0];
    assert_eq!(cpu.query, "AWS/RDS CPUUtilization DBInstanceIdentifier=content-db (Average)");
    assert_eq!(cpu.timestamps, (0..10).map(|m| START + 60 * m).collect::<Vec<_>>());
    assert_eq!(cpu.values, (0..10).map(|m| m as f64).collect::<Vec<_>>());
    assert_eq!(cpu.status, "Complete");
}

#[tokio::test]
async fn large_deployments_are_batched_five_hundred_queries_a_call() {
    let ids: Vec<String> = (0..130).map(|i| format!("\"i-{i:017x}\"")).collect();
    let deployment = AwsDeployment::parse(&format!("[app]\ninstances = [{}]\n", ids.join(", "))).unwrap();
    let queries = query::plan(&deployment, &signals::shipped());
    assert_eq!(queries.len(), 520);
    let window = period::choose(START, START + 600, START + 3600, 60).unwrap();
    let empty = || cw::http_response(200, cw::encode_page(&[], None));
    let replay = replay(vec![empty(), empty()]);
    let pulled = source(&replay).fetch(&queries, &window).await.unwrap();
    let sizes: Vec<usize> = bodies(&replay).iter().map(|b| b["MetricDataQueries"].as_array().unwrap().len()).collect();
    assert_eq!(sizes, vec![500, 20]);
    assert!(
        pulled.iter().all(|p| p.values.is_empty() && p.status == "NoAnswer"),
        "nothing is invented for series without data"
    );
}

async fn fetch_error(status: u16, code: &str, attempts: usize) -> (CloudWatchError, usize) {
    let deployment = AwsDeployment::parse(DB_AND_QUEUE).unwrap();
    let queries = query::plan(&deployment, &signals::shipped());
    let window = period::choose(START, START + 600, START + 3600, 60).unwrap();
    let replay = replay((0..attempts).map(|_| cw::http_response(status, cw::encode_error(code, "test"))).collect());
    let error = source(&replay).fetch(&queries, &window).await.unwrap_err();
    (error, replay.actual_requests().count())
}

#[tokio::test]
async fn sdk_errors_become_messages_that_say_what_to_do() {
    let (e, _) = fetch_error(403, "InvalidClientTokenId", 1).await;
    assert!(matches!(e, CloudWatchError::BadCredentials { .. }), "{e:?}");
    assert!(e.to_string().contains("rejected the credentials") && e.to_string().contains("AWS_PROFILE"), "{e}");

    let (e, tries) = fetch_error(400, "Throttling", 3).await;
    assert!(matches!(e, CloudWatchError::Throttled { .. }), "{e:?}");
    assert_eq!(tries, 3, "throttling is retried with backoff before giving up");
    assert!(e.to_string().contains("re-pull later"), "{e}");

    let (e, _) = fetch_error(400, "AccessDeniedException", 1).await;
    assert!(e.to_string().contains("cloudwatch:GetMetricData"), "{e}");

    // Nothing listens on port 9 of loopback: the real HTTP client cannot connect.
    let deployment = AwsDeployment::parse(DB_AND_QUEUE).unwrap();
    let queries = query::plan(&deployment, &signals::shipped());
    let window = period::choose(START, START + 600, START + 3600, 60).unwrap();
    let client = cw::client_over(None::<StaticReplayClient>, Some("http://127.0.0.1:9"));
    let e = CloudWatchSource::from_client(client, "http://127.0.0.1:9").fetch(&queries, &window).await.unwrap_err();
    assert!(matches!(e, CloudWatchError::Unreachable { .. }), "{e:?}");
    assert!(e.to_string().contains("cannot reach CloudWatch at http://127.0.0.1:9"), "{e}");
}

/// Pulls `fixture` for a run of it over a loopback endpoint speaking the SDK's protocol.
async fn pull_fixture(
    name: &str,
    deployment_text: &str,
) -> (tempfile::TempDir, loadgen::Summary, pull::PullOutcome, Vec<serde_json::Value>) {
    let fixture = Arc::new(Fixture::load(name));
    pull_run(name, &fixture, Behaviour::Answer(fixture.clone()), deployment_text).await
}

/// Writes `fixture`'s run and pulls it from an endpoint behaving as `behaviour`.
async fn pull_run(
    name: &str,
    fixture: &Fixture,
    behaviour: Behaviour,
    deployment_text: &str,
) -> (tempfile::TempDir, loadgen::Summary, pull::PullOutcome, Vec<serde_json::Value>) {
    let endpoint = FakeCloudWatch::start(behaviour).await;
    let dir = tempfile::tempdir().unwrap();
    fixture.write_run(dir.path(), START);
    let options = CloudWatchOptions {
        file: "aws-example.toml".into(),
        deployment: AwsDeployment::parse(deployment_text).unwrap(),
        endpoint_url: None,
        wait: Some(std::time::Duration::ZERO),
    };
    let client = cw::client_over(None::<StaticReplayClient>, Some(&endpoint.url));
    let source = CloudWatchSource::from_client(client, endpoint.url.clone());
    let now = chrono::DateTime::from_timestamp(START + 3600, 0).unwrap();
    let outcome = pull::refresh_run_dir(dir.path(), &options, Some(source), move || now).await.unwrap();
    let summary: loadgen::Summary =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("summary.json")).unwrap()).unwrap();
    if let (Some(v), Some(r)) = (&summary.verdict, &summary.recommendation) {
        eprintln!(
            "{name}: {}\n  next: {} ({}) — {}",
            v.sentence,
            r.action,
            r.next_stage.as_deref().unwrap_or("-"),
            r.expected_gain
        );
    }
    let requests = endpoint.requests.lock().unwrap().clone();
    (dir, summary, outcome, requests)
}

fn example() -> String {
    std::fs::read_to_string(common::repo_root().join("deployments/aws-example.toml")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saturated_rds_primary_is_named_the_bottleneck() {
    // The example deployment plus a replica CloudWatch has nothing for: reported missing.
    let deployment =
        example().replace("\"content-db-replica-2\"]", "\"content-db-replica-2\", \"content-db-replica-3\"]");
    let (dir, summary, outcome, requests) = pull_fixture("saturated-rds", &deployment).await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0]["StartTime"].as_f64(), Some(START as f64));
    assert_eq!(requests[0]["EndTime"].as_f64(), Some((START + 600) as f64), "the run's 600 s in whole minutes");

    let verdict = summary.verdict.as_ref().unwrap();
    assert_eq!(verdict.bottleneck, "db_primary", "{}\n{:#?}", verdict.sentence, verdict.evidence);
    assert!(verdict.sentence.contains("database"), "{}", verdict.sentence);
    assert_eq!(verdict.confidence, "high");
    let metrics: Vec<&str> = verdict.evidence.iter().map(|e| e.metric.as_str()).collect();
    assert!(metrics.contains(&"cloudwatch.db_primary.disk_queue_depth"), "{metrics:?}");
    assert!(metrics.iter().any(|m| m.starts_with("utilization")), "{metrics:?}");
    let rec = summary.recommendation.as_ref().unwrap();
    assert_eq!(rec.current_stage, "users-plus-plus-plus-plus");
    assert_eq!(rec.next_stage.as_deref(), Some("users-plus-plus-plus-plus-plus"), "{}", rec.action);

    let info = summary.cloudwatch.as_ref().unwrap();
    assert_eq!(info.period_s, Some(60));
    assert_eq!(info.missing.len(), 6, "{:#?}", info.missing);
    assert!(info.missing.iter().all(|m| m.contains("content-db-replica-3")), "{:#?}", info.missing);
    assert!(
        outcome.record.not_reported.iter().any(|m| m.contains("CPUCreditBalance")),
        "{:?}",
        outcome.record.not_reported
    );
    let timeline: loadgen::profiler::Timeline =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("timeline.json")).unwrap()).unwrap();
    let cpu = timeline.values("cloudwatch.db_primary.cpu_utilization");
    assert_eq!(cpu.len(), 600);
    assert_eq!((cpu[0], cpu[599]), (0.34, 0.99));
    assert!(dir.path().join("cloudwatch.json").is_file());
    let html = std::fs::read_to_string(dir.path().join("index.html")).unwrap();
    assert!(html.contains("CloudWatch: utilization per tier") && html.contains("content-db-replica-3"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auto_scaling_group_at_its_maximum_names_the_app_and_says_raise_it() {
    let (_dir, summary, outcome, _) = pull_fixture("asg-at-max", &example()).await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert!(summary.cloudwatch.as_ref().unwrap().missing.is_empty());
    let verdict = summary.verdict.as_ref().unwrap();
    assert_eq!(verdict.bottleneck, "app", "{}\n{:#?}", verdict.sentence, verdict.evidence);
    assert!(
        verdict.evidence.iter().any(|e| e.metric == loadgen::profiler::analysis::cloud::AT_MAX_SIZE),
        "{:#?}",
        verdict.evidence
    );
    let rec = summary.recommendation.as_ref().unwrap();
    assert!(rec.action.contains("raise the Auto Scaling group's maximum size above 4"), "{}", rec.action);
    assert!(rec.reason.contains("maximum of 4 instances"), "{}", rec.reason);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_pull_keeps_the_run_and_records_why() {
    let fixture = Fixture::load("saturated-rds");
    let untouched = tempfile::tempdir().unwrap();
    fixture.write_run(untouched.path(), START);
    let before: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(untouched.path().join("summary.json")).unwrap()).unwrap();
    let (dir, _, outcome, _) =
        pull_run("refused", &fixture, Behaviour::Fail(403, "InvalidClientTokenId"), &example()).await;
    assert!(matches!(outcome.error, Some(CloudWatchError::BadCredentials { .. })), "{:?}", outcome.error);
    let after: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("summary.json")).unwrap()).unwrap();
    assert_eq!(after["series"], before["series"], "the client-side results are untouched");
    assert!(after["cloudwatch"]["error"].as_str().unwrap().contains("rejected the credentials"));
    let timeline = std::fs::read_to_string(dir.path().join("timeline.json")).unwrap();
    assert!(!timeline.contains("cloudwatch."), "nothing invented");
}
