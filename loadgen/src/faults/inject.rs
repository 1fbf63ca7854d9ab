//! The chaos runner: beside the load, it waits for each fault's time on the measured timeline
//! (the pacer's time zero plus the warm-up), does the fault to the launched stage through its
//! [`Deployment`] levers, undoes it after `for`, and polls `/healthz` through the stage's
//! front door meanwhile. Every wait is bounded by the run's own bound and its stop token.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{FaultAction, FaultRecord, FaultSpec};
use crate::pacer::Pacer;
use crate::scenario::Scenario;
use crate::target::{RunningTarget, TargetChoice};
use crate::topology::{Deployment, Server};

/// How often `/healthz` is asked during a fault, and for how long after its end.
const HEALTHZ_EVERY: Duration = Duration::from_millis(250);
const HEALTHZ_AFTER: Duration = Duration::from_secs(5);

/// What the runner needs from the run.
pub struct Setup {
    pub deployment: Arc<Mutex<Deployment>>,
    pub faults: Vec<FaultSpec>,
    pub pacer: Arc<Pacer>,
    pub warmup: Duration,
    pub client: reqwest::Client,
    pub base_url: String,
    /// Nothing is waited for past this, from the runner's start.
    pub bound: Duration,
}

/// The runner, started beside the load.
pub struct Running {
    stop: CancellationToken,
    tasks: Vec<JoinHandle<FaultRecord>>,
}

/// Starts one task per fault (faults may overlap).
pub fn start(setup: Setup) -> Running {
    let stop = CancellationToken::new();
    let deadline = Instant::now() + setup.bound;
    let setup = Arc::new(setup);
    let tasks = (0..setup.faults.len())
        .map(|i| {
            let (setup, stop) = (setup.clone(), stop.clone());
            tokio::spawn(async move { one_fault(&setup, i, stop, deadline).await })
        })
        .collect();
    Running { stop, tasks }
}

impl Running {
    /// Ends the runner (the load is over) and returns what happened, in time order. A fault
    /// still lasting is left as it is: the stage's teardown ends it.
    pub async fn finish(self) -> Vec<FaultRecord> {
        self.stop.cancel();
        let mut out = Vec::new();
        for t in self.tasks {
            if let Ok(r) = t.await {
                out.push(r);
            }
        }
        out.sort_by(|a, b| a.started_s.total_cmp(&b.started_s));
        out
    }
}

/// The measured timeline's zero: the pacer's start plus the warm-up, once the load began.
async fn measured_zero(setup: &Setup, stop: &CancellationToken, deadline: Instant) -> Option<Instant> {
    loop {
        if let Some(start) = setup.pacer.start() {
            return Some(start + setup.warmup);
        }
        if stop.is_cancelled() || Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A scenario with faults aimed at a target that is not a stage the launcher brought up.
#[derive(Debug, thiserror::Error)]
#[error("scenario {scenario}: [[faults]] need a stage the launcher brings up (--profile NAME, not --embedded or --target): there is no server of ours to {action} on a {kind} target")]
pub struct FaultsNeedStage {
    pub scenario: String,
    pub action: String,
    pub kind: String,
}

/// Refuses faults for a target that is not a stage the launcher brings up.
pub fn check_target(scenario: &Scenario, target: &TargetChoice) -> Result<(), FaultsNeedStage> {
    let kind = match target {
        TargetChoice::Topology { .. } => return Ok(()),
        TargetChoice::External { .. } => "external",
        TargetChoice::Embedded { .. } => "embedded",
    };
    match scenario.faults.first() {
        Some(f) => Err(FaultsNeedStage {
            scenario: scenario.name.clone(),
            action: f.action.as_str().into(),
            kind: kind.into(),
        }),
        None => Ok(()),
    }
}

/// Starts the scenario's faults beside the load, on a launched stage (see [`crate::faults`]).
pub fn start_for_run(
    scenario: &Scenario,
    target: &RunningTarget,
    pacer: &Arc<Pacer>,
    client: &reqwest::Client,
    base_url: &str,
    bound: u64,
) -> Result<Option<Running>, FaultsNeedStage> {
    if scenario.faults.is_empty() {
        return Ok(None);
    }
    let Some(deployment) = target.deployment.clone() else {
        let action = scenario.faults[0].action.as_str().into();
        return Err(FaultsNeedStage { scenario: scenario.name.clone(), action, kind: target.kind.into() });
    };
    Ok(Some(start(Setup {
        deployment,
        faults: scenario.faults.clone(),
        pacer: pacer.clone(),
        warmup: scenario.warmup,
        client: client.clone(),
        base_url: base_url.to_owned(),
        bound: Duration::from_secs(bound),
    })))
}

/// Sleeps until `until`; false when the run stopped first.
async fn sleep_until(until: Instant, stop: &CancellationToken) -> bool {
    tokio::select! {
        () = stop.cancelled() => false,
        () = tokio::time::sleep_until(until) => true,
    }
}

async fn one_fault(setup: &Setup, i: usize, stop: CancellationToken, deadline: Instant) -> FaultRecord {
    let spec = &setup.faults[i];
    let mut record =
        FaultRecord { target: spec.target.clone(), action: spec.action.as_str().into(), ..Default::default() };
    let Some(zero) = measured_zero(setup, &stop, deadline).await else {
        record.outcome = "not done: the load never started".into();
        return record;
    };
    let since = |t: Instant| t.saturating_duration_since(zero).as_secs_f64();
    if !sleep_until((zero + spec.at).min(deadline), &stop).await {
        record.started_s = since(Instant::now());
        record.outcome = "not done: the run ended first".into();
        return record;
    }
    let resolved = setup.deployment.lock().await.server(&spec.target);
    let (server, name) = match resolved {
        Ok(found) => found,
        Err(e) => {
            record.started_s = since(Instant::now());
            record.outcome = format!("not done: {e}");
            return record;
        }
    };
    record.target = name.clone();
    record.tier = server.tier().into();
    record.started_s = since(Instant::now());
    let polling = CancellationToken::new();
    let poller = tokio::spawn(poll_healthz(setup.client.clone(), setup.base_url.clone(), polling.clone(), deadline));
    let done = act(setup, spec, &server, &stop).await;
    match done {
        Ok(Some(replacement)) => {
            record.ended_s = Some(since(Instant::now()));
            record.outcome = "ok".into();
            record.replaced_by = (replacement != name).then_some(replacement);
        }
        Ok(None) => record.outcome = "ok".into(),
        Err(e) => {
            record.ended_s = None;
            record.outcome = e;
        }
    }
    tracing::info!(server = %record.target, action = %record.action, start = record.started_s, end = ?record.ended_s, outcome = %record.outcome, "fault");
    // Keep asking for a while after the end: recovery shows there.
    let _ = sleep_until((Instant::now() + HEALTHZ_AFTER).min(deadline), &stop).await;
    polling.cancel();
    record.healthz = poller.await.unwrap_or_default();
    record
}

/// Does the fault and, after `for`, undoes it. `Ok(Some(name))`: what serves again, now;
/// `Ok(None)`: it stays down (a kill without `for`, or the run ended first).
async fn act(
    setup: &Setup,
    spec: &FaultSpec,
    server: &Server,
    stop: &CancellationToken,
) -> Result<Option<String>, String> {
    let d = &setup.deployment;
    let after = |lasts: Duration| Instant::now() + lasts;
    match spec.action {
        FaultAction::Kill => {
            d.lock().await.kill_server(server);
            let Some(lasts) = spec.lasts else { return Ok(None) };
            if !sleep_until(after(lasts), stop).await {
                return Ok(None);
            }
            d.lock().await.start_server_again(server).await.map(Some).map_err(|e| format!("starting it again: {e}"))
        }
        FaultAction::Pause => {
            d.lock().await.pause_server(server, true);
            let lasts = spec.lasts.unwrap_or_default();
            // Resumed even when the run ends first: a stopped server would hang the teardown.
            let _ = sleep_until(after(lasts), stop).await;
            d.lock().await.pause_server(server, false);
            Ok(Some(server_name(server)))
        }
        FaultAction::Restart => {
            d.lock().await.restart_server(server).await.map(Some).map_err(|e| format!("restarting: {e}"))
        }
        FaultAction::Failover => {
            let mut d = d.lock().await;
            d.kill_primary();
            d.failover().await.map_err(|e| format!("failing over: {e}"))?;
            let primary = d.pg_nodes().next().map(|p| p.name.clone());
            Ok(primary)
        }
    }
}

fn server_name(server: &Server) -> String {
    match server {
        Server::Redis => "redis".into(),
        Server::Haproxy => "haproxy".into(),
        Server::Primary => "pg-primary".into(),
        Server::Standby => "pg-standby".into(),
        Server::Replica(i) => format!("pg-replica-{}", i + 1),
        Server::App(name) => name.clone(),
    }
}

/// Asks `/healthz` every 250 ms until `stop`; counts each answer's status.
async fn poll_healthz(
    client: reqwest::Client,
    base_url: String,
    stop: CancellationToken,
    deadline: Instant,
) -> BTreeMap<String, u64> {
    let url = format!("{}/healthz", base_url.trim_end_matches('/'));
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    while !stop.is_cancelled() && Instant::now() < deadline {
        let asked = Instant::now();
        let answer = client.get(&url).timeout(Duration::from_secs(1)).send().await;
        let status = match answer {
            Ok(r) => {
                let code = r.status().as_u16();
                let body: serde_json::Value = r.json().await.unwrap_or_default();
                match body["status"].as_str() {
                    Some(s @ ("ok" | "degraded" | "unavailable")) => s.to_owned(),
                    _ => format!("http_{code}"),
                }
            }
            Err(_) => "no_answer".to_owned(),
        };
        *seen.entry(status).or_default() += 1;
        let _ = sleep_until(asked + HEALTHZ_EVERY, &stop).await;
    }
    seen
}
