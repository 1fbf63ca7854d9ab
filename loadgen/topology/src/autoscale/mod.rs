//! Autoscaling of the app boxes for the Users++++ stage: a target-tracking policy
//! ([`policy`]) and the controller that applies it to a running deployment while a run goes
//! on ([`start`]); the fleet over time goes into the run's timeline (`autoscale.instances`)
//! and `fleet.json`.

pub mod controller;
pub mod policy;

use loadgen_model::series;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::Deployment;
use controller::{Fleet, FleetSample, Instance};
use loadgen_model::Timeline;
use policy::{Policy, TargetTracking};
use service::config::{AutoscalingConfig, ScalingMetric};

/// The fleet's history in a run directory.
pub use loadgen_model::run_dir::FLEET_FILE;

/// A launched deployment's API instances as the controller's fleet.
struct DeploymentFleet(Arc<Mutex<Deployment>>);

#[async_trait]
impl Fleet for DeploymentFleet {
    async fn instances(&self) -> Vec<Instance> {
        let d = self.0.lock().await;
        d.boxes()
            .into_iter()
            .filter(|b| b.tier == "app" || b.tier == "app-read")
            .map(|b| Instance { name: b.name, pids: b.pids, cpus: b.cpus })
            .collect()
    }
    async fn add(&mut self) -> Result<String, String> {
        self.0.lock().await.add_app_instance().await.map_err(|e| e.to_string())
    }
    async fn remove(&mut self, name: &str) -> Result<(), String> {
        self.0.lock().await.remove_app_instance(name).await.map_err(|e| e.to_string())
    }
}

/// A controller running beside a run.
pub struct Running {
    stop: CancellationToken,
    task: JoinHandle<Vec<FleetSample>>,
    started: Instant,
}

/// The fleet over a finished run.
#[derive(Debug, Clone)]
pub struct FleetRecord {
    pub history: Vec<FleetSample>,
    pub started: Instant,
}

/// Starts the controller for `config` on `deployment`; it stops by itself after `bound`.
pub fn start(deployment: Arc<Mutex<Deployment>>, config: &AutoscalingConfig, bound: Duration) -> Running {
    if config.metric != ScalingMetric::Cpu {
        tracing::warn!(
            "autoscaling: only the `cpu` metric is tracked by the controller so far; tracking CPU at target {}",
            config.target
        );
    }
    let policy = Policy {
        min: config.min,
        max: config.max,
        target: config.target,
        scale_out_cooldown_s: config.scale_out_cooldown.as_secs_f64(),
        scale_in_cooldown_s: config.scale_in_cooldown.as_secs_f64(),
        warmup_s: config.warmup.as_secs_f64(),
    };
    let stop = CancellationToken::new();
    let token = stop.clone();
    let task = tokio::spawn(async move {
        let mut fleet = DeploymentFleet(deployment);
        controller::run(&mut fleet, TargetTracking::new(policy), token, bound).await
    });
    Running { stop, task, started: Instant::now() }
}

impl Running {
    /// Stops the controller and returns the fleet's history.
    pub async fn finish(self) -> FleetRecord {
        self.stop.cancel();
        FleetRecord { history: self.task.await.unwrap_or_default(), started: self.started }
    }
}

/// Adds `autoscale.instances` (and `autoscale.cpu_utilization`) to the timeline, aligned on
/// its seconds from `measured_start`.
pub fn add_to_timeline(timeline: &mut Timeline, fleet: &FleetRecord, measured_start: Instant) {
    let offset = measured_start.saturating_duration_since(fleet.started).as_secs_f64();
    let at = |t: u64| fleet.history.iter().rev().find(|s| s.t <= t as f64 + offset + 0.5);
    let instances: Vec<Option<f64>> = timeline.t.iter().map(|&t| at(t).map(|s| f64::from(s.instances))).collect();
    let metric: Vec<Option<f64>> = timeline.t.iter().map(|&t| at(t).and_then(|s| s.metric)).collect();
    timeline.series.insert(series::AUTOSCALE_INSTANCES.into(), instances);
    timeline.series.insert(series::AUTOSCALE_CPU_UTILIZATION.into(), metric);
}
