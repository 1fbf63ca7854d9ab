//! Open-model pacing on top of Goose.
//!
//! One Goose scenario (`open-model`) with one transaction (`paced_send`). Each pass, a
//! user takes the next ticket from the shared [`Schedule`], sleeps until the ticket's
//! intended time, sends the request with Goose's client (`user.client`), records latency
//! *from the intended time* into the [`Recorder`], and hands the service time (send →
//! response complete) back to Goose with `record_custom_request_duration`, so Goose's own
//! report stays meaningful. When the schedule is exhausted and nothing is in flight, the
//! run stops itself through Goose's killswitch; Goose's run time is only a backstop.
//!
//! Goose keeps process-wide state (the killswitch, the logger), so attacks in one process
//! run one at a time.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use goose::config::{GooseConfiguration, GooseDefault, GooseDefaultType};
use goose::goose::{GooseUser, Scenario, Transaction, TransactionResult};
use goose::GooseAttack;
use tokio::time::Instant;

use crate::keys::{write_body, KeySpace, Operation, OperationMix};
use crate::recorder::{Outcome, Recorder};
use crate::requests::{self, ReplyBody};
use crate::scenario::PayloadSizes;
use crate::schedule::Schedule;
use crate::verify::Verifier;

/// Why the Goose part of a run failed.
#[derive(Debug, thiserror::Error)]
pub enum AttackError {
    #[error("goose: {0}")]
    Goose(String),
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
pub struct Pacer {
    pub base_url: String,
    pub schedule: Arc<Schedule>,
    pub recorder: Arc<Recorder>,
    pub workload: Workload,
    /// The schedule's time zero, set by the first user to run (after a short head start
    /// so that the other users are up).
    start: OnceLock<Instant>,
    head_start: Duration,
    in_flight: AtomicUsize,
}

impl Pacer {
    pub fn new(base_url: String, schedule: Arc<Schedule>, recorder: Arc<Recorder>, workload: Workload) -> Self {
        Self {
            base_url,
            schedule,
            recorder,
            workload,
            start: OnceLock::new(),
            head_start: Duration::from_millis(200),
            in_flight: AtomicUsize::new(0),
        }
    }

    /// The schedule's time zero, once the attack has started.
    pub fn start(&self) -> Option<Instant> {
        self.start.get().copied()
    }

    fn start_or_init(&self) -> Instant {
        *self.start.get_or_init(|| Instant::now() + self.head_start)
    }
}

/// How one attack is run.
#[derive(Debug, Clone)]
pub struct AttackSettings {
    pub users: usize,
    /// Where Goose writes its HTML report, if wanted.
    pub goose_report: Option<PathBuf>,
}

static ONE_ATTACK_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs the schedule to its end against `pacer.base_url`; returns Goose's metrics.
pub async fn run(pacer: Arc<Pacer>, settings: &AttackSettings) -> Result<goose::metrics::GooseMetrics, AttackError> {
    let _only_attack = ONE_ATTACK_AT_A_TIME.lock().await;
    let length = pacer.schedule.length();
    let backstop = length + Duration::from_secs(10);
    let users = settings.users.max(1);

    let shared = pacer.clone();
    let paced: goose::goose::TransactionFunction = Arc::new(move |user: &mut GooseUser| {
        let shared = shared.clone();
        Box::pin(async move { paced_send(user, &shared).await })
    });
    let scenario = Scenario::new("open-model")
        .register_transaction(Transaction::new(paced).set_name("paced_send"));

    let goose_error = |e: goose::GooseError| AttackError::Goose(e.to_string());
    let mut attack = *GooseAttack::initialize_with_config(GooseConfiguration::default())
        .map_err(goose_error)?
        .register_scenario(scenario)
        .set_default(GooseDefault::Host, pacer.base_url.as_str())
        .map_err(goose_error)?
        .set_default(GooseDefault::Users, users)
        .map_err(goose_error)?
        .set_default(GooseDefault::IncreaseRate, format!("{}", (users * 20).max(100)).as_str())
        .map_err(goose_error)?
        .set_default(GooseDefault::RunTime, backstop.as_secs() as usize + 1)
        .map_err(goose_error)?
        .set_default(GooseDefault::Timeout, "30")
        .map_err(goose_error)?;
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
        attack = *attack
            .set_default(GooseDefault::ReportFile, path.to_string_lossy().as_ref())
            .map_err(goose_error)?;
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

/// Sleeps until `at`, waking every 100 ms to notice a stopped run; false if stopped.
async fn sleep_until(at: Instant) -> bool {
    loop {
        let now = Instant::now();
        if now >= at {
            return true;
        }
        if goose::is_killswitch_triggered() {
            return false;
        }
        tokio::time::sleep_until(at.min(now + Duration::from_millis(100))).await;
    }
}

/// The one transaction: take a ticket, wait for its time, send, record.
async fn paced_send(user: &mut GooseUser, pacer: &Pacer) -> TransactionResult {
    let start = pacer.start_or_init();
    pacer.in_flight.fetch_add(1, Ordering::SeqCst);
    let Some(ticket) = pacer.schedule.claim() else {
        let left = pacer.in_flight.fetch_sub(1, Ordering::SeqCst) - 1;
        if left == 0 {
            goose::trigger_killswitch("schedule complete");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        return Ok(());
    };
    let intended_at = start + ticket.intended;
    if !sleep_until(intended_at).await {
        pacer.in_flight.fetch_sub(1, Ordering::SeqCst);
        return Ok(());
    }
    let sent_at = Instant::now();
    pacer.recorder.record_send(ticket.intended, sent_at - intended_at);

    let w = &pacer.workload;
    let op = w.mix.operation(ticket.index);
    let reply = match op {
        Operation::Read => match w.keys.pick(w.seed, ticket.index, w.zipf_exponent) {
            Some(id) => requests::read(&user.client, &pacer.base_url, &id, false).await,
            None => {
                pacer.recorder.record_error_kind("read_no_key");
                pacer.in_flight.fetch_sub(1, Ordering::SeqCst);
                return Ok(());
            }
        },
        Operation::Write => {
            let body = write_body(w.seed, ticket.index, &w.sizes, w.users);
            requests::write(&user.client, &pacer.base_url, &body).await
        }
    };
    let done = Instant::now();
    if let ReplyBody::Created { content_id } = &reply.body {
        w.keys.push(content_id.clone());
        w.verifier.acknowledged(content_id, ticket.index);
    }
    let outcome = match &reply.error {
        None => Outcome::Ok,
        Some(kind) => Outcome::Failed(kind.clone()),
    };
    pacer.recorder.record(op, ticket.intended, done - intended_at, outcome);
    pacer.in_flight.fetch_sub(1, Ordering::SeqCst);

    let method = if op == Operation::Read { "GET" } else { "POST" };
    let _ = user
        .record_custom_request_duration(
            method,
            op.as_str(),
            done - sent_at,
            reply.error.is_none(),
            reply.status,
            reply.error.as_deref(),
        )
        .await;
    Ok(())
}
