//! Open-model pacing on top of Goose.
//!
//! One Goose scenario (`open-model`) with one transaction (`paced_send`). Each pass, a
//! user takes the next ticket from the shared schedule (see `pacer.rs`), sleeps until the
//! ticket's intended time, and starts its request as a task of its own, then goes back for
//! the next ticket: users only dispatch, they never wait on the target. The request goes on a
//! keep-alive connection from the run's pool (see `http1.rs`; over HTTPS, Goose's reqwest
//! client) and records latency *from the intended time* into the recorder. A slow or stalled
//! target therefore holds more requests in flight instead of holding the schedule back, up to
//! the run's cap (`generator.max_in_flight`, like k6's `maxVUs`); sends that find every slot
//! taken wait for one, are counted apart (`held_at_cap`) and are still charged from their
//! intended time. The schedule lag is then the generator's own lateness (timers, CPU) only.
//! When Goose's own report is wanted, each answered request's service time is handed to Goose
//! by the next user that passes (`record_custom_request_duration` needs a user).
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
    /// Requests in flight and their cap.
    pub in_flight: InFlight,
    /// Requests answered since a user last handed them to Goose's metrics.
    pub finished: std::sync::Mutex<Vec<FinishedRequest>>,
    /// Test knob: CPU to burn on the sending thread per send.
    pub extra_cpu_per_send: Option<Duration>,
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

/// The one transaction: take a ticket, wait for its time, start its request, and go back for
/// the next ticket. The request runs as a task of its own on the sending runtime, so a user
/// never waits on the target: a stalled target holds requests in flight (up to the run's
/// cap), and the schedule goes on. Sends past the cap wait for a slot and are counted apart.
async fn paced_send(user: &mut GooseUser, context: &Arc<AttackContext>) -> TransactionResult {
    record_finished_with_goose(user, context).await;
    let pacer = &context.pacer;
    let mut send = match pacer.next(goose::is_killswitch_triggered).await {
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
    let permit = match context.in_flight.slots.clone().try_acquire_owned() {
        Ok(permit) => permit,
        Err(_) => {
            // Counted up before the wait and down after it: a send still waiting when the run
            // ends (its future dropped) stays counted as one the target never let leave.
            context.in_flight.waiting.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let acquired = context.in_flight.slots.clone().acquire_owned().await;
            context.in_flight.waiting.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            let Ok(permit) = acquired else {
                pacer.abandon(&send);
                return Ok(());
            };
            send.sent_at = tokio::time::Instant::now();
            context.in_flight.note_full_until(send.sent_at);
            permit
        }
    };
    pacer.sent(&send, context.in_flight.was_full_since(send.intended_at));
    context.in_flight.note_peak();
    burn_cpu(context.extra_cpu_per_send);
    let client = user.client.clone();
    let context = context.clone();
    tokio::spawn(async move {
        let reply = send_call(&client, &context, &call).await;
        drop(permit);
        let w = &context.workload;
        if let ReplyBody::Created { content_id } = &reply.body {
            w.keys.push(content_id.clone());
            w.verifier.acknowledged(content_id, k);
        }
        let outcome = match &reply.error {
            None => Outcome::Ok,
            Some(kind) => Outcome::Failed(kind.clone()),
        };
        let service_time = context.pacer.finish(&send, op, outcome);
        if context.goose_metrics {
            let finished = FinishedRequest { op, service_time, status: reply.status, error: reply.error };
            context.finished.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(finished);
        }
    });
    Ok(())
}

/// A finished request waiting to be handed to Goose's metrics by the next user that passes
/// (Goose records through a user, and the request's task has none).
#[derive(Debug)]
pub struct FinishedRequest {
    op: Operation,
    service_time: Duration,
    status: Option<u16>,
    error: Option<String>,
}

async fn record_finished_with_goose(user: &mut GooseUser, context: &AttackContext) {
    if !context.goose_metrics {
        return;
    }
    let finished = std::mem::take(&mut *context.finished.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    for f in finished {
        let method = if f.op == Operation::Read { "GET" } else { "POST" };
        let _ = user
            .record_custom_request_duration(
                method,
                f.op.as_str(),
                f.service_time,
                f.error.is_none(),
                f.status,
                f.error.as_deref(),
            )
            .await;
    }
}

/// The generator-side test knob: spin this long on the sending thread before each send, to
/// make the generator itself the limit on purpose (the injection suite's generator case).
fn burn_cpu(extra: Option<Duration>) {
    let Some(extra) = extra else { return };
    let until = std::time::Instant::now() + extra;
    while std::time::Instant::now() < until {
        std::hint::spin_loop();
    }
}

/// The run's in-flight slots: requests started and not yet answered, up to the cap (like
/// k6's `maxVUs`, but counted in requests), the most that were ever taken at once, and until
/// when the cap was last binding (a send waited for a slot).
#[derive(Debug)]
pub struct InFlight {
    pub slots: Arc<tokio::sync::Semaphore>,
    pub cap: usize,
    peak: std::sync::atomic::AtomicUsize,
    /// Sends waiting for a slot now.
    pub waiting: std::sync::atomic::AtomicU64,
    epoch: tokio::time::Instant,
    /// Microseconds after `epoch` at which a send last got a slot it had waited for.
    full_until_us: std::sync::atomic::AtomicU64,
}

impl InFlight {
    pub fn new(cap: usize) -> Self {
        let cap = cap.clamp(1, tokio::sync::Semaphore::MAX_PERMITS);
        Self {
            slots: Arc::new(tokio::sync::Semaphore::new(cap)),
            cap,
            peak: Default::default(),
            waiting: Default::default(),
            epoch: tokio::time::Instant::now(),
            full_until_us: Default::default(),
        }
    }

    fn micros(&self, at: tokio::time::Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_micros()).unwrap_or(u64::MAX)
    }

    fn note_full_until(&self, at: tokio::time::Instant) {
        self.full_until_us.fetch_max(self.micros(at), std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether some send waited for a slot after `at`: every slot was taken since then, so
    /// a send intended at `at` and leaving late was held back by the target, not the
    /// generator (users that wait for a slot leave the tickets behind them unclaimed).
    fn was_full_since(&self, at: tokio::time::Instant) -> bool {
        self.full_until_us.load(std::sync::atomic::Ordering::Relaxed) > self.micros(at)
    }

    fn note_peak(&self) {
        let taken = self.cap - self.slots.available_permits();
        self.peak.fetch_max(taken, std::sync::atomic::Ordering::Relaxed);
    }

    /// The most requests that were in flight at once.
    pub fn peak(&self) -> usize {
        self.peak.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// One request of the schedule, ready to send.
enum Call {
    Read(String),
    Write(WriteBody),
}

/// Sends `call` on a pooled lean connection, or, over HTTPS, with Goose's reqwest client
/// (which does the TLS).
async fn send_call(client: &reqwest::Client, context: &AttackContext, call: &Call) -> Reply {
    let api = &context.api;
    if !api.is_plain_http() {
        return match call {
            Call::Read(id) => requests::read(client, api, id, false).await,
            Call::Write(body) => requests::write(client, api, body).await,
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
