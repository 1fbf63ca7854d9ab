//! A profiling session alongside one run: picks the collectors for the target and its profile,
//! samples while the load runs, then aligns the timeline and draws the verdict into the summary.

use std::path::Path;

use tokio::{task::JoinHandle, time::Instant};
use tokio_util::sync::CancellationToken;

use super::{
    analysis,
    collect::{
        haproxy::HaproxyCollector,
        host::{BoxSpec, HostCollector, Members},
        postgres::PostgresCollector,
        redis::RedisCollector,
        server_process,
        service::ServiceCollector,
        Collector,
    },
    model::BoxInfo,
    sampler::{self, Sample},
    Timeline,
};
use crate::summary::Summary;
use service::config::{CacheConfig, DatabaseConfig, Profile, QueueKind};

pub use crate::html::TIMELINE_FILE;

/// Where a launched stage's own figures are, besides the target URL.
#[derive(Debug, Clone, Default)]
pub struct StageEndpoints {
    /// HAProxy's CSV stats page.
    pub haproxy_stats_url: Option<String>,
    /// Each API instance's own URL (empty: scrape the target URL).
    pub instance_urls: Vec<String>,
}

pub struct ProfilerSession {
    task: JoinHandle<Vec<Sample>>,
    stop: CancellationToken,
    boxes: Vec<BoxInfo>,
    /// The seed stage of the profile (`start` when unknown).
    pub stage: String,
}

impl ProfilerSession {
    /// Starts sampling. `embedded`: the service runs in this process (its threads are the app
    /// box); `profile`: the deployment's profile when known, for its servers and stage;
    /// `launched`: the boxes of a stage the topology launcher brought up (one host box per
    /// tier, its members the tier's cgroups, its quota their sum).
    pub async fn start(
        client: reqwest::Client,
        base_url: &str,
        embedded: bool,
        profile: Option<&Profile>,
        launched: Option<&[crate::topology::BoxInfo]>,
        endpoints: StageEndpoints,
        max_seconds: u64,
    ) -> Self {
        let StageEndpoints { haproxy_stats_url, instance_urls } = endpoints;
        // The generator's box is this process's cgroup when it runs in its reserved share
        // (`topology::generator_box`): judged against that quota, not the machine's cores.
        let generator_quota = super::collect::cgroup_quota::cpu_quota_cores(std::process::id());
        let mut boxes =
            vec![BoxSpec { tier: "generator".into(), members: Members::GeneratorThreads, cpu_quota: generator_quota }];
        if embedded {
            boxes.push(BoxSpec { tier: "app".into(), members: Members::EmbeddedServiceThreads, cpu_quota: None });
        }
        if let Some(launched) = launched {
            boxes.extend(tier_boxes(launched));
        }
        // Every instance on its own: through a load balancer each scrape reaches another one,
        // and counters of different instances make no rate.
        let scraped = if instance_urls.is_empty() { vec![base_url.to_owned()] } else { instance_urls };
        let mut collectors: Vec<Box<dyn Collector>> = vec![Box::new(ServiceCollector::new(client.clone(), scraped))];
        if let Some(p) = profile {
            let quota = |tier: &str| p.boxes.iter().find(|b| b.tier == tier).and_then(|b| b.cpus);
            if let DatabaseConfig::Postgres(pg) = &p.service.database {
                collectors.push(Box::new(PostgresCollector::new(pg.primary_url.clone())));
                if launched.is_none() {
                    if let Some(pid) = server_process::postgres_pid(&pg.primary_url).await {
                        boxes.push(BoxSpec::process_tree("db", pid, quota("db")));
                    }
                }
            }
            let redis_url = match (&p.service.cache, p.service.queue.kind) {
                (CacheConfig::Redis(r), _) => Some(r.url.clone()),
                (_, QueueKind::RedisStreams) => Some(p.service.queue.url.clone()),
                _ => None,
            };
            if let Some(url) = redis_url {
                if launched.is_none() {
                    if let Some(pid) = server_process::redis_pid(&url).await {
                        boxes.push(BoxSpec::process_tree("cache", pid, quota("cache")));
                    }
                }
                collectors.push(Box::new(RedisCollector::new(url)));
            }
        }
        if let Some(url) = haproxy_stats_url {
            collectors.push(Box::new(HaproxyCollector::new(client.clone(), url)));
        }
        collectors.push(Box::new(super::collect::steal::StealCollector::default()));
        let host = HostCollector::new(boxes);
        let box_infos = host.box_infos();
        collectors.insert(0, Box::new(host));
        let stop = CancellationToken::new();
        let task = tokio::spawn(sampler::run(collectors, max_seconds, stop.clone()));
        let stage = profile.map(|p| p.stage.clone()).filter(|s| !s.is_empty()).unwrap_or_else(|| "start".into());
        Self { task, stop, boxes: box_infos, stage }
    }

    /// Stops sampling and aligns the samples on the measured part starting at `measured_start`.
    pub async fn finish(self, measured_start: Instant) -> Timeline {
        self.stop.cancel();
        let samples = self.task.await.unwrap_or_default();
        sampler::align(&samples, measured_start, self.boxes)
    }
}

/// One host box per tier of a launched stage. The set of boxes is read once, at the start:
/// instances an autoscaler adds later are not counted until it re-reads
/// `Deployment::boxes` and hands the profiler the new list.
fn tier_boxes(launched: &[crate::topology::BoxInfo]) -> Vec<BoxSpec> {
    let mut tiers: Vec<&str> = launched.iter().map(|b| b.tier.as_str()).collect();
    tiers.dedup();
    let mut seen = std::collections::BTreeSet::new();
    tiers.retain(|t| seen.insert(*t));
    tiers
        .into_iter()
        .map(|tier| {
            let members: Vec<_> = launched.iter().filter(|b| b.tier == tier).collect();
            let cpu_quota = members.iter().map(|b| b.cpus).sum::<Option<f64>>();
            let dirs: Option<Vec<_>> = members.iter().map(|b| b.cgroup.clone()).collect();
            let usage: Option<Vec<_>> = members.iter().map(|b| b.cpu_usage_file.clone()).collect();
            let members = match dirs {
                Some(dirs) => Members::Cgroups { dirs, cpu_usage_files: usage.unwrap_or_default() },
                None => Members::Pids(members.iter().flat_map(|b| b.pids.clone()).collect()),
            };
            BoxSpec { tier: tier.to_owned(), members, cpu_quota }
        })
        .collect()
}

/// Adds the verdict and recommendation to `summary`.
pub fn conclude(summary: &mut Summary, timeline: &Timeline, stage: &str) {
    let (verdict, recommendation) = analysis::analyse(summary, timeline, stage);
    // The verdict judged the run although the self-check flagged it: the lateness was the
    // embedded service's CPU on the machine both share (see `verdict.rs`). Said, not hidden.
    if summary.generator.overloaded && verdict.bottleneck != "generator" {
        summary.generator.overloaded = false;
        summary.trustworthy = true;
        let reasons = std::mem::take(&mut summary.generator.reasons);
        summary.generator.waived = reasons.into_iter().map(|r| format!("{r} (waived: the embedded service saturated the machine the generator shares with it, whose own threads idled)")).collect();
    }
    summary.verdict = Some(verdict);
    summary.recommendation = Some(recommendation);
}

pub fn write_timeline(dir: &Path, timeline: &Timeline) -> std::io::Result<()> {
    loadgen_model::RunDir::new(dir).write_timeline(timeline).map_err(std::io::Error::other)
}
