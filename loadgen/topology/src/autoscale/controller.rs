//! The autoscaling controller: once a second it reads each app instance's CPU (from `/proc`,
//! over the processes of its box) against its quota, averages the warmed-up instances, asks the
//! [`TargetTracking`] policy, and adds or removes instances through a [`Fleet`] (a launched
//! deployment behind HAProxy). It records the fleet over time for the report: instances,
//! the metric, and each action.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::policy::{Decision, TargetTracking};

/// One instance of the fleet as the controller sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub name: String,
    pub pids: Vec<u32>,
    /// CPU quota in cores (None: a whole core is assumed).
    pub cpus: Option<f64>,
}

/// What the controller scales.
#[async_trait]
pub trait Fleet: Send {
    async fn instances(&self) -> Vec<Instance>;
    /// Starts one instance and puts it in service; returns its name.
    async fn add(&mut self) -> Result<String, String>;
    /// Drains and stops instance `name`.
    async fn remove(&mut self, name: &str) -> Result<(), String>;
}

/// The fleet at one second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FleetSample {
    /// Seconds since the controller started.
    pub t: f64,
    pub instances: u32,
    pub warming: u32,
    /// Mean CPU utilization of the warmed-up instances (0..1), when known.
    pub metric: Option<f64>,
    /// `out +N`, `in`, or empty.
    pub action: String,
}

/// Runs the controller until `stop` or `bound`; returns the fleet's history.
pub async fn run(
    fleet: &mut dyn Fleet,
    mut tracking: TargetTracking,
    stop: CancellationToken,
    bound: Duration,
) -> Vec<FleetSample> {
    let started = tokio::time::Instant::now();
    let warmup = tracking.policy.warmup_s;
    let mut born: HashMap<String, f64> = HashMap::new();
    let mut previous: HashMap<String, (f64, f64)> = HashMap::new();
    let mut history = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while started.elapsed() < bound {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        let now = started.elapsed().as_secs_f64();
        let instances = fleet.instances().await;
        let mut utilizations = Vec::new();
        let mut warming = 0;
        for i in &instances {
            let cpu = loadgen_generator::cpu::pids_cpu(&i.pids).as_secs_f64();
            let last = previous.insert(i.name.clone(), (now, cpu));
            let age =
                now - *born.entry(i.name.clone()).or_insert(if history.is_empty() { f64::NEG_INFINITY } else { now });
            if age < warmup {
                warming += 1;
                continue;
            }
            if let Some((t0, c0)) = last {
                if now > t0 {
                    utilizations.push((cpu - c0) / (now - t0) / i.cpus.unwrap_or(1.0));
                }
            }
        }
        let metric = (!utilizations.is_empty()).then(|| utilizations.iter().sum::<f64>() / utilizations.len() as f64);
        let fleet_size = u32::try_from(instances.len()).unwrap_or(u32::MAX);
        let action = match tracking.decide(now, fleet_size, warming, metric) {
            Decision::Hold => String::new(),
            Decision::Out(n) => {
                let mut added = 0;
                for _ in 0..n {
                    match fleet.add().await {
                        Ok(name) => {
                            born.insert(name, started.elapsed().as_secs_f64());
                            added += 1;
                        }
                        Err(e) => tracing::warn!("autoscaler: adding an instance failed: {e}"),
                    }
                }
                format!("out +{added}")
            }
            Decision::In => {
                // The newest instance goes first: the oldest are warm.
                let newest = instances
                    .iter()
                    .max_by(|a, b| born.get(&a.name).unwrap_or(&0.0).total_cmp(born.get(&b.name).unwrap_or(&0.0)));
                match newest {
                    Some(i) => match fleet.remove(&i.name).await {
                        Ok(()) => {
                            born.remove(&i.name);
                            previous.remove(&i.name);
                            "in".to_owned()
                        }
                        Err(e) => {
                            tracing::warn!("autoscaler: removing {} failed: {e}", i.name);
                            String::new()
                        }
                    },
                    None => String::new(),
                }
            }
        };
        history.push(FleetSample { t: now, instances: fleet_size, warming, metric, action });
    }
    history
}

/// Box-seconds the fleet used over its history, and what a fleet fixed at its peak size
/// would have used over the same time.
pub fn box_seconds(history: &[FleetSample]) -> (f64, f64) {
    let used: f64 = history.windows(2).map(|w| f64::from(w[0].instances) * (w[1].t - w[0].t)).sum();
    let peak = history.iter().map(|s| s.instances).max().unwrap_or(0);
    let span = match (history.first(), history.last()) {
        (Some(a), Some(b)) => b.t - a.t,
        _ => 0.0,
    };
    (used, f64::from(peak) * span)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autoscale::policy::Policy;

    /// A fleet of this process's own pid (its CPU is real but small): scaling decisions come
    /// from the policy, so a low target makes it scale out.
    struct SelfFleet {
        names: Vec<String>,
    }

    #[async_trait]
    impl Fleet for SelfFleet {
        async fn instances(&self) -> Vec<Instance> {
            self.names
                .iter()
                .map(|n| Instance { name: n.clone(), pids: vec![std::process::id()], cpus: Some(1.0) })
                .collect()
        }
        async fn add(&mut self) -> Result<String, String> {
            let name = format!("i{}", self.names.len() + 1);
            self.names.push(name.clone());
            Ok(name)
        }
        async fn remove(&mut self, name: &str) -> Result<(), String> {
            self.names.retain(|n| n != name);
            Ok(())
        }
    }

    #[test]
    fn box_seconds_against_a_peak_sized_fleet() {
        let h: Vec<FleetSample> = [1, 1, 3, 3, 1]
            .iter()
            .enumerate()
            .map(|(i, n)| FleetSample { t: i as f64, instances: *n, warming: 0, metric: None, action: String::new() })
            .collect();
        assert_eq!(box_seconds(&h), (8.0, 12.0));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn scales_out_when_busy_and_stops_by_itself() {
        let mut fleet = SelfFleet { names: vec!["i1".into()] };
        // A burner keeps this process's CPU well above a 1% target.
        let stop = CancellationToken::new();
        let burner = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut x = 0u64;
                while !stop.is_cancelled() {
                    x = x.wrapping_mul(31).wrapping_add(7);
                }
                x
            })
        };
        let policy = Policy {
            min: 1,
            max: 3,
            target: 0.01,
            scale_out_cooldown_s: 0.5,
            scale_in_cooldown_s: 60.0,
            warmup_s: 0.0,
        };
        let history =
            run(&mut fleet, TargetTracking::new(policy), CancellationToken::new(), Duration::from_secs(4)).await;
        stop.cancel();
        burner.join().unwrap();
        assert!(history.iter().any(|s| s.action.starts_with("out")), "{history:?}");
        assert_eq!(fleet.names.len(), 3, "{history:?}");
        assert!(history.len() <= 5);
    }
}
