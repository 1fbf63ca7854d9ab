//! The AWS deployment description (`deployments/aws-example.toml`): which seed stage it is, where
//! CloudWatch is (region, endpoint), and the resources of each tier. Unknown keys are rejected
//! and every error names the file, the field and the reason.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::signals::Signal;

/// A parsed deployment file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsDeployment {
    /// The seed stage this deployment is (`start`, `users-plus`, … ), for the recommendation.
    #[serde(default = "default_stage")]
    pub stage: String,
    /// AWS region; default: the SDK's chain (AWS_REGION, AWS_DEFAULT_REGION, ~/.aws/config).
    #[serde(default)]
    pub region: Option<String>,
    /// CloudWatch endpoint override (the `--cloudwatch-endpoint-url` flag wins).
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// EC2 detailed monitoring (1-minute metrics); without it EC2 publishes every 5 minutes.
    #[serde(default = "yes")]
    pub detailed_monitoring: bool,
    /// How long after the run CloudWatch has all its data points (waited out after a run).
    #[serde(default = "default_delay", with = "humantime_serde")]
    pub ingestion_delay: Duration,
    #[serde(default)]
    pub app: Option<AppTier>,
    #[serde(default)]
    pub lb: Option<LbTier>,
    #[serde(default)]
    pub db_primary: Option<DbPrimaryTier>,
    #[serde(default)]
    pub db_replica: Option<DbReplicaTier>,
    #[serde(default)]
    pub cache: Option<CacheTier>,
    #[serde(default)]
    pub queue: Option<QueueTier>,
}

fn default_stage() -> String {
    "start".into()
}
fn yes() -> bool {
    true
}
fn default_delay() -> Duration {
    Duration::from_secs(180)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppTier {
    #[serde(default)]
    pub auto_scaling_group: Option<String>,
    #[serde(default)]
    pub instances: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LbTier {
    /// The ALB's CloudWatch dimension value: `app/<name>/<id>`.
    pub load_balancer: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbPrimaryTier {
    pub db_instance: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbReplicaTier {
    pub db_instances: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheTier {
    /// ElastiCache node ids (`CacheClusterId`, e.g. `content-cache-001`).
    pub cache_clusters: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueTier {
    pub queue_name: String,
}

/// A deployment file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct DeploymentError {
    pub path: PathBuf,
    pub reason: String,
}

const STAGES: [&str; 6] = loadgen_model::stages::STAGE_IDS;

impl AwsDeployment {
    pub fn load(path: &Path) -> Result<Self, DeploymentError> {
        let error = |reason: String| DeploymentError { path: path.to_owned(), reason };
        let text = std::fs::read_to_string(path).map_err(|e| error(format!("cannot read it: {e}")))?;
        Self::parse(&text).map_err(error)
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let d: Self = toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())?;
        d.validate()?;
        Ok(d)
    }

    fn validate(&self) -> Result<(), String> {
        if !STAGES.contains(&self.stage.as_str()) {
            return Err(format!(
                "field `stage`: `{}` is not a stage of the seed's path (one of {})",
                self.stage,
                STAGES.join(", ")
            ));
        }
        if let Some(app) = &self.app {
            match (&app.auto_scaling_group, app.instances.is_empty()) {
                (None, true) => return Err("field `app`: name `auto_scaling_group` or `instances`".into()),
                (Some(_), false) => {
                    return Err("field `app`: name `auto_scaling_group` or `instances`, not both".into())
                }
                _ => {}
            }
        }
        for (field, ids) in [
            ("db_replica.db_instances", self.db_replica.as_ref().map(|r| &r.db_instances)),
            ("cache.cache_clusters", self.cache.as_ref().map(|c| &c.cache_clusters)),
        ] {
            if ids.is_some_and(Vec::is_empty) {
                return Err(format!("field `{field}`: lists no resource"));
            }
        }
        if let Some(lb) = &self.lb {
            if !lb.load_balancer.starts_with("app/") && !lb.load_balancer.starts_with("net/") {
                return Err(format!(
                    "field `lb.load_balancer`: `{}` is not a load balancer dimension value (`app/<name>/<id>`, the tail of its ARN)",
                    lb.load_balancer
                ));
            }
        }
        if self.resources_of_tiers().is_empty() {
            return Err(
                "names no resource: add at least one of [app], [lb], [db_primary], [db_replica], [cache], [queue]"
                    .into(),
            );
        }
        Ok(())
    }

    /// `(tier, resource key, resource ids)` for every resource the file names.
    pub fn resources_of_tiers(&self) -> Vec<(&'static str, &'static str, Vec<String>)> {
        let mut out = Vec::new();
        if let Some(app) = &self.app {
            if let Some(asg) = &app.auto_scaling_group {
                out.push(("app", "auto_scaling_group", vec![asg.clone()]));
            }
            if !app.instances.is_empty() {
                out.push(("app", "instances", app.instances.clone()));
            }
        }
        if let Some(lb) = &self.lb {
            out.push(("lb", "load_balancer", vec![lb.load_balancer.clone()]));
        }
        if let Some(db) = &self.db_primary {
            out.push(("db_primary", "db_instance", vec![db.db_instance.clone()]));
        }
        if let Some(r) = &self.db_replica {
            out.push(("db_replica", "db_instances", r.db_instances.clone()));
        }
        if let Some(c) = &self.cache {
            out.push(("cache", "cache_clusters", c.cache_clusters.clone()));
        }
        if let Some(q) = &self.queue {
            out.push(("queue", "queue_name", vec![q.queue_name.clone()]));
        }
        out
    }

    /// Every (signal, resource id) pair to query, in the mapping's order.
    pub fn wanted<'a>(&self, signals: &'a [Signal]) -> Vec<(&'a Signal, String)> {
        let resources = self.resources_of_tiers();
        let mut out = Vec::new();
        for s in signals {
            for (tier, key, ids) in &resources {
                if s.tier == *tier && s.resource == *key {
                    out.extend(ids.iter().map(|id| (s, id.clone())));
                }
            }
        }
        out
    }

    /// The finest period EC2's metrics have for this deployment.
    pub fn native_period_s(&self) -> i32 {
        let ec2 = self.app.is_some();
        if ec2 && !self.detailed_monitoring {
            300
        } else {
            60
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloudwatch::signals;

    const EXAMPLE: &str = include_str!("../../../../deployments/aws-example.toml");

    #[test]
    fn the_shipped_example_parses_and_queries_every_tier() {
        let d = AwsDeployment::parse(EXAMPLE).unwrap();
        let signals = signals::shipped();
        let wanted = d.wanted(&signals);
        for tier in ["app", "lb", "db_primary", "db_replica", "cache", "queue"] {
            assert!(wanted.iter().any(|(s, _)| s.tier == tier), "{tier}");
        }
    }

    #[test]
    fn bad_files_name_field_and_reason() {
        let e = AwsDeployment::parse("stage = \"start\"\n[db_primary]\ndb_instance = \"x\"\nport = 5\n").unwrap_err();
        assert!(e.contains("port"), "{e}");
        let e = AwsDeployment::parse("stage = \"users-plus-7\"\n[db_primary]\ndb_instance = \"x\"\n").unwrap_err();
        assert!(e.contains("`stage`"), "{e}");
        let e = AwsDeployment::parse("[app]\n").unwrap_err();
        assert!(e.contains("auto_scaling_group"), "{e}");
        let e = AwsDeployment::parse("[lb]\nload_balancer = \"my-alb\"\n").unwrap_err();
        assert!(e.contains("lb.load_balancer"), "{e}");
        let e = AwsDeployment::parse("stage = \"start\"\n").unwrap_err();
        assert!(e.contains("names no resource"), "{e}");
        let e = AwsDeployment::parse("ingestion_delay = \"soon\"\n[queue]\nqueue_name = \"q\"\n").unwrap_err();
        assert!(e.contains("ingestion_delay"), "{e}");
    }

    #[test]
    fn basic_ec2_monitoring_means_five_minute_periods() {
        let d = AwsDeployment::parse("detailed_monitoring = false\n[app]\ninstances = [\"i-1\"]\n").unwrap();
        assert_eq!(d.native_period_s(), 300);
        let d = AwsDeployment::parse("detailed_monitoring = false\n[db_primary]\ndb_instance = \"db\"\n").unwrap();
        assert_eq!(d.native_period_s(), 60);
    }
}
