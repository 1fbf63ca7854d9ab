//! One measured run of the gate: start the side, read the service's counters and CPU, run
//! the scenario (preload included), optionally wait for the jobs to finish, read them again.

use std::path::PathBuf;
use std::time::Duration;

use crate::run::{run_on, RunOptions};
use crate::scenario::Scenario;
use crate::summary::Summary;

use super::figures::ServiceCounters;
use super::side::Side;
use super::GateError;

/// How long the gate waits for the service's jobs to finish after a run.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(15);

/// What a measured run is for.
#[derive(Debug, Clone)]
pub struct RunPlan {
    pub scenario: Scenario,
    pub reports_dir: PathBuf,
    pub run_id: String,
    /// Profile the run and draw a verdict (the deterministic gate needs it; A/B runs do not).
    pub profile: bool,
    /// Wait for every write's job before the last reading (the deterministic figures).
    pub drain: bool,
}

/// A finished measured run.
#[derive(Debug)]
pub struct Measured {
    pub summary: Summary,
    /// Change of the service's counters from before the preload to the end.
    pub delta: ServiceCounters,
    /// The service's CPU over the same span, when it can be read.
    pub service_cpu: Option<Duration>,
}

impl Measured {
    /// Service CPU per API request the service answered, microseconds.
    pub fn cpu_us_per_request(&self) -> Option<f64> {
        let requests = self.delta.reads + self.delta.writes;
        (requests > 0.0).then_some(())?;
        Some(self.service_cpu?.as_secs_f64() * 1e6 / requests)
    }
}

/// Carries out one measured run against a fresh start of `side`.
pub async fn measured_run(side: &Side, plan: &RunPlan) -> Result<Measured, GateError> {
    let client = crate::run::http_client()?;
    let started = side.start(&client).await?;
    let result = async {
        let before = started.counters(&client).await?;
        let cpu_before = started.cpu();
        let options = RunOptions {
            scenario: plan.scenario.clone(),
            target: started.choice.clone(),
            reports_dir: plan.reports_dir.clone(),
            run_id: Some(plan.run_id.clone()),
            goose_report: false,
            progress: false,
            users: None,
            profile: plan.profile,
        };
        let report = run_on(&options, &started.target).await?;
        // CPU is read before any wait for jobs: the A/B figure is the run's own work.
        let cpu_after = started.cpu();
        let after = if plan.drain {
            started.drained(&client, &before, DRAIN_LIMIT).await?
        } else {
            started.counters(&client).await?
        };
        let service_cpu = cpu_before.zip(cpu_after).map(|(b, a)| super::cpu::used(&b, &a));
        Ok(Measured { summary: report.summary, delta: after.since(&before), service_cpu })
    }
    .await;
    started.stop().await;
    result
}
