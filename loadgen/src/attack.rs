//! Open-model pacing on top of Goose.
//!
//! One Goose scenario (`open-model`) with one transaction (`paced_send`). Each pass, a
//! user takes the next ticket from the shared schedule (see `pacer.rs`), sleeps until the ticket's
//! intended time, sends the request on a keep-alive connection from the run's pool (see
//! `http1.rs`; over HTTPS, Goose's reqwest client), records latency
//! *from the intended time* into the recorder, and, when Goose's own report is wanted, hands
//! the service time (send → response complete) to Goose with `record_custom_request_duration`.
//! When the schedule is exhausted and nothing is in flight, the run stops itself through
//! Goose's killswitch; Goose's run time is only a backstop.
//!
//! The users run on their own runtime, on threads named `loadgen-send`: by default one thread
//! with a single-threaded runtime, so a user's timer wake-up, its request and its response
//! never cross threads (on the main multi-threaded runtime each crossing was a futex wake-up,
//! and the generator cost several times wrk's CPU per request). The profiler, progress bar
//! and verifier stay on the caller's runtime, off the sending thread. Goose still gives each
//! user a client (unused by the sends); they all share one, since Goose's default builds one
//! per user, each loading the system's root certificates.
//!
//! Goose keeps process-wide state (the killswitch, the logger), so attacks in one process
//! run one at a time.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::cpu::SEND_THREAD_NAME;
use crate::http1::{ConnectionPool, REQUEST_TIMEOUT};
use crate::keys::{write_body, KeySpace, Operation, OperationMix, WriteBody};
use crate::pacer::{Next, Pacer};
use crate::recorder::Outcome;
use crate::requests::{self, ApiUrls, Reply, ReplyBody};
use crate::scenario::PayloadSizes;
use crate::verify::Verifier;
use goose::client::GooseClientBuilder;
use goose::config::{GooseConfiguration, GooseDefault, GooseDefaultType};
use goose::goose::{GooseUser, Scenario, Transaction, TransactionResult};
use goose::GooseAttack;

/// Why the Goose part of a run failed.
#[derive(Debug, thiserror::Error)]
pub enum AttackError {
    #[error("goose: {0}")]
    Goose(String),
    #[error("starting the sending threads: {0}")]
    Threads(std::io::Error),
    #[error("the sending thread panicked")]
    Panicked,
    #[error("the run did not stop within {0:?} of its schedule's end")]
    Overran(Duration),
}

/// What sends do: the parts of the scenario a user needs per request.
#[derive(Debug)]
pub struct Workload {
    pub seed: u64,
    pub mix: OperationMix,
    pub zipf_exponent: f64,
    pub sizes: PayloadSizes,
    pub users: u64,
    pub keys: Arc<KeySpace>,
    pub verifier: Arc<Verifier>,
}

/// Everything the users of one attack share.
#[derive(Debug)]
pub struct AttackContext {
    pub base_url: String,
    pub api: ApiUrls,
    pub workload: Workload,
    pub pacer: Arc<Pacer>,
    /// The paced sends' keep-alive connections.
    pub connections: ConnectionPool,
    /// Hand each request to Goose's metrics (only for its own report: it costs CPU per request).
    pub goose_metrics: bool,
}

/// How one attack is run.
#[derive(Debug, Clone)]
pub struct AttackSettings {
    pub users: usize,
    /// Threads that run the users: 1 is a single-threaded runtime.
    pub send_threads: usize,
    /// Where Goose writes its HTML report, if wanted.
    pub goose_report: Option<PathBuf>,
}

static ONE_ATTACK_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What an attack returns.
#[derive(Debug)]
pub struct Attacked {
    pub goose_metrics: goose::metrics::GooseMetrics,
    /// CPU the sending threads used, read just before they ended.
    pub sending_cpu: Option<Duration>,
}

/// Runs the schedule to its end against `context.base_url` on the sending threads.
pub async fn run(context: Arc<AttackContext>, settings: &AttackSettings) -> Result<Attacked, AttackError> {
    let _only_attack = ONE_ATTACK_AT_A_TIME.lock().await;
    let (done, finished) = tokio::sync::oneshot::channel();
    let settings = settings.clone();
    std::thread::Builder::new()
        .name(SEND_THREAD_NAME.into())
        .spawn(move || {
            let result = sending_runtime(settings.send_threads).map_err(AttackError::Threads).and_then(|runtime| {
                let goose_metrics = runtime.block_on(attack(context, &settings))?;
                Ok(Attacked { goose_metrics, sending_cpu: crate::cpu::sending_cpu() })
            });
            let _ = done.send(result);
        })
        .map_err(AttackError::Threads)?;
    finished.await.unwrap_or(Err(AttackError::Panicked))
}

/// One thread: a single-threaded runtime on the calling thread. More: that many workers.
fn sending_runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(threads);
        b
    };
    builder.thread_name(SEND_THREAD_NAME).enable_all().build()
}

/// The Goose attack itself, on the sending runtime.
async fn attack(
    context: Arc<AttackContext>,
    settings: &AttackSettings,
) -> Result<goose::metrics::GooseMetrics, AttackError> {
    let length = context.pacer.schedule.length();
    let backstop = length + Duration::from_secs(10);
    let users = settings.users.max(1);

    let shared = context.clone();
    let paced: goose::goose::TransactionFunction = Arc::new(move |user: &mut GooseUser| {
        let shared = shared.clone();
        Box::pin(async move { paced_send(user, &shared).await })
    });
    let scenario = Scenario::new("open-model").register_transaction(Transaction::new(paced).set_name("paced_send"));

    let goose_error = |e: goose::GooseError| AttackError::Goose(e.to_string());
    let mut attack = *GooseAttack::initialize_with_config(GooseConfiguration::default())
        .map_err(goose_error)?
        .register_scenario(scenario)
        // One client shared by every user (clones share its connection pool). Goose's
        // default builds a client per user, and each build loads the system's root
        // certificates: with hundreds of users that cost more CPU than the run's requests.
        .set_client_builder_without_cookies(GooseClientBuilder::new().without_cookies().timeout(REQUEST_TIMEOUT))
        .map_err(goose_error)?
        .set_default(GooseDefault::Host, context.base_url.as_str())
        .map_err(goose_error)?
        .set_default(GooseDefault::Users, users)
        .map_err(goose_error)?
        .set_default(GooseDefault::IncreaseRate, format!("{}", (users * 20).max(100)).as_str())
        .map_err(goose_error)?
        .set_default(GooseDefault::RunTime, backstop.as_secs() as usize + 1)
        .map_err(goose_error)?;
    if !context.goose_metrics {
        attack = *attack.set_default(GooseDefault::NoMetrics, true).map_err(goose_error)?;
    }
    for flag in [
        GooseDefault::NoResetMetrics,
        GooseDefault::NoTransactionMetrics,
        GooseDefault::NoScenarioMetrics,
        GooseDefault::NoStatusCodes,
        GooseDefault::NoPrintMetrics,
        GooseDefault::NoTelnet,
    ] {
        attack = *attack.set_default(flag, true).map_err(goose_error)?;
    }
    attack = *attack.set_default(GooseDefault::Quiet, 1).map_err(goose_error)?;
    if let Some(path) = &settings.goose_report {
        attack = *attack.set_default(GooseDefault::ReportFile, path.to_string_lossy().as_ref()).map_err(goose_error)?;
    }

    let limit = backstop + Duration::from_secs(30);
    let result = tokio::time::timeout(limit, attack.execute()).await;
    goose::reset_killswitch();
    match result {
        Ok(Ok(metrics)) => Ok(metrics),
        Ok(Err(e)) => Err(goose_error(e)),
        Err(_) => Err(AttackError::Overran(limit - length)),
    }
}

/// The one transaction: take a ticket, wait for its time, send, record.
async fn paced_send(user: &mut GooseUser, context: &AttackContext) -> TransactionResult {
    let pacer = &context.pacer;
    let send = match pacer.next(goose::is_killswitch_triggered).await {
        Next::Send(send) => send,
        Next::Exhausted { last } => {
            if last {
                goose::trigger_killswitch("schedule complete");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            return Ok(());
        }
        Next::Stopped => return Ok(()),
    };
    let k = send.ticket.index;
    let w = &context.workload;
    let op = w.mix.operation(k);
    let call = match op {
        Operation::Read => match w.keys.pick(w.seed, k, w.zipf_exponent) {
            Some(id) => Call::Read(id),
            None => {
                pacer.recorder.record_error_kind("read_no_key");
                pacer.abandon(&send);
                return Ok(());
            }
        },
        Operation::Write => Call::Write(write_body(w.seed, k, &w.sizes, w.users)),
    };
    let reply = send_call(user, context, &call).await;
    if let ReplyBody::Created { content_id } = &reply.body {
        w.keys.push(content_id.clone());
        w.verifier.acknowledged(content_id, k);
    }
    let outcome = match &reply.error {
        None => Outcome::Ok,
        Some(kind) => Outcome::Failed(kind.clone()),
    };
    let service_time = pacer.finish(&send, op, outcome);
    if !context.goose_metrics {
        return Ok(());
    }
    let method = if op == Operation::Read { "GET" } else { "POST" };
    let _ = user
        .record_custom_request_duration(
            method,
            op.as_str(),
            service_time,
            reply.error.is_none(),
            reply.status,
            reply.error.as_deref(),
        )
        .await;
    Ok(())
}

/// One request of the schedule, ready to send.
enum Call {
    Read(String),
    Write(WriteBody),
}

/// Sends `call` on a pooled lean connection, or, over HTTPS, with Goose's reqwest client
/// (which does the TLS).
async fn send_call(user: &GooseUser, context: &AttackContext, call: &Call) -> Reply {
    let api = &context.api;
    if !api.is_plain_http() {
        return match call {
            Call::Read(id) => requests::read(&user.client, api, id, false).await,
            Call::Write(body) => requests::write(&user.client, api, body).await,
        };
    }
    let mut connection = context.connections.take();
    let reply = match call {
        Call::Read(id) => connection.read(api, id).await,
        Call::Write(body) => connection.write(api, body).await,
    };
    context.connections.give_back(connection);
    reply
}
