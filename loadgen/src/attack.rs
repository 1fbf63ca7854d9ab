//! Open-model pacing on top of Goose.
//!
//! One Goose scenario (`open-model`) with one transaction (`paced_send`). Each pass, a
//! user takes the next ticket from the shared schedule (see `pacer.rs`), sleeps until the ticket's
//! intended time, sends the request with Goose's client (`user.client`), records latency
//! *from the intended time* into the recorder, and hands the service time (send →
//! response complete) back to Goose with `record_custom_request_duration`, so Goose's own
//! report stays meaningful. When the schedule is exhausted and nothing is in flight, the
//! run stops itself through Goose's killswitch; Goose's run time is only a backstop.
//!
//! Goose keeps process-wide state (the killswitch, the logger), so attacks in one process
//! run one at a time.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use goose::config::{GooseConfiguration, GooseDefault, GooseDefaultType};
use goose::goose::{GooseUser, Scenario, Transaction, TransactionResult};
use goose::GooseAttack;
use crate::keys::{write_body, KeySpace, Operation, OperationMix};
use crate::pacer::{Next, Pacer};
use crate::recorder::Outcome;
use crate::requests::{self, ReplyBody};
use crate::scenario::PayloadSizes;
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
pub struct AttackContext {
    pub base_url: String,
    pub workload: Workload,
    pub pacer: Arc<Pacer>,
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
pub async fn run(context: Arc<AttackContext>, settings: &AttackSettings) -> Result<goose::metrics::GooseMetrics, AttackError> {
    let _only_attack = ONE_ATTACK_AT_A_TIME.lock().await;
    let length = context.pacer.schedule.length();
    let backstop = length + Duration::from_secs(10);
    let users = settings.users.max(1);

    let shared = context.clone();
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
        .set_default(GooseDefault::Host, context.base_url.as_str())
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
    let reply = match op {
        Operation::Read => match w.keys.pick(w.seed, k, w.zipf_exponent) {
            Some(id) => requests::read(&user.client, &context.base_url, &id, false).await,
            None => {
                pacer.recorder.record_error_kind("read_no_key");
                pacer.abandon(&send);
                return Ok(());
            }
        },
        Operation::Write => {
            let body = write_body(w.seed, k, &w.sizes, w.users);
            requests::write(&user.client, &context.base_url, &body).await
        }
    };
    if let ReplyBody::Created { content_id } = &reply.body {
        w.keys.push(content_id.clone());
        w.verifier.acknowledged(content_id, k);
    }
    let outcome = match &reply.error {
        None => Outcome::Ok,
        Some(kind) => Outcome::Failed(kind.clone()),
    };
    let service_time = pacer.finish(&send, op, outcome);
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
