//! The tier-to-signal mapping (`loadgen/data/cloudwatch-signals.toml`), parsed into typed
//! rows: which CloudWatch metric is pulled for each resource a deployment file names, and the
//! role the analysis gives it. Kept as data so a new metric is a new row, not new code.

use serde::{Deserialize, Serialize};

/// The shipped mapping, compiled in so the binary works from any directory.
pub const SHIPPED: &str = include_str!("../../../data/cloudwatch-signals.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignalFile {
    signal: Vec<Signal>,
}

/// One row: a metric, the resources it is pulled for, and what it means.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signal {
    pub tier: String,
    /// Key under `[tier]` in the deployment file naming the resource(s).
    pub resource: String,
    pub namespace: String,
    pub metric: String,
    pub dimension: String,
    pub stat: String,
    /// Timeline series: `cloudwatch.<tier>.<series>` and `…<series>.<resource id>`.
    pub series: String,
    pub combine: Combine,
    #[serde(default)]
    pub per_second: bool,
    pub role: Role,
    /// Multiplier applied to every value (percent → fraction).
    #[serde(default = "one")]
    pub scale: f64,
    #[serde(default)]
    pub threshold: Option<f64>,
    #[serde(default)]
    pub direction: Direction,
    #[serde(default)]
    pub transform: Option<Transform>,
    #[serde(default)]
    pub optional: bool,
    pub note: String,
}

fn one() -> f64 {
    1.0
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Combine {
    Mean,
    Max,
    Sum,
}

impl Combine {
    pub fn apply(self, values: &[f64]) -> Option<f64> {
        if values.is_empty() {
            return None;
        }
        Some(match self {
            Self::Mean => values.iter().sum::<f64>() / values.len() as f64,
            Self::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            Self::Sum => values.iter().sum(),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Utilization,
    CapacityInUse,
    CapacityDesired,
    CapacityMax,
    Saturation,
    HitRatio,
    Context,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    #[default]
    Above,
    Below,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transform {
    /// Slope per second over the second half of the run (a growing backlog).
    Growth,
}

impl Signal {
    /// The combined timeline series of this signal.
    pub fn series_name(&self) -> String {
        format!("cloudwatch.{}.{}", self.tier, self.series)
    }
}

/// Parses a mapping file; errors name the row and field.
pub fn parse(text: &str) -> Result<Vec<Signal>, String> {
    let file: SignalFile = toml::from_str(text).map_err(|e| e.to_string())?;
    for (i, s) in file.signal.iter().enumerate() {
        let row = || format!("signal #{} ({} {})", i + 1, s.namespace, s.metric);
        if s.role == Role::Saturation && s.threshold.is_none() {
            return Err(format!("{}: field `threshold`: a saturation signal needs one", row()));
        }
        if !(s.scale.is_finite() && s.scale > 0.0) {
            return Err(format!("{}: field `scale`: must be a positive number", row()));
        }
    }
    Ok(file.signal)
}

/// The shipped mapping.
pub fn shipped() -> Vec<Signal> {
    parse(SHIPPED).expect("the shipped signal mapping parses (tested)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_mapping_parses_and_covers_every_tier() {
        let signals = shipped();
        for tier in ["app", "lb", "db_primary", "db_replica", "cache", "queue"] {
            assert!(signals.iter().any(|s| s.tier == tier), "{tier}");
        }
        for (namespace, metric) in [
            ("AWS/EC2", "CPUUtilization"),
            ("AWS/EC2", "CPUCreditBalance"),
            ("AWS/AutoScaling", "GroupMaxSize"),
            ("AWS/ApplicationELB", "RejectedConnectionCount"),
            ("AWS/RDS", "ReplicaLag"),
            ("AWS/RDS", "DiskQueueDepth"),
            ("AWS/ElastiCache", "EngineCPUUtilization"),
            ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
        ] {
            assert!(signals.iter().any(|s| s.namespace == namespace && s.metric == metric), "{namespace} {metric}");
        }
    }

    #[test]
    fn unknown_keys_and_missing_thresholds_are_named() {
        let e = parse("[[signal]]\ntier='app'\nbogus=1\n").unwrap_err();
        assert!(e.contains("bogus"), "{e}");
        let row = r#"[[signal]]
tier = "app"
resource = "instances"
namespace = "AWS/EC2"
metric = "CPUUtilization"
dimension = "InstanceId"
stat = "Average"
series = "cpu"
combine = "mean"
role = "saturation"
note = "x"
"#;
        let e = parse(row).unwrap_err();
        assert!(e.contains("threshold") && e.contains("CPUUtilization"), "{e}");
    }

    #[test]
    fn the_readme_table_lists_every_row() {
        let readme = include_str!("../../../../README.md");
        for s in shipped() {
            let row = format!(
                "| {} | `{}` | `{}` `{}` ({}) | `{}` |",
                s.tier,
                s.resource,
                s.namespace,
                s.metric,
                s.stat,
                s.series_name()
            );
            assert!(readme.contains(&row), "README lacks the mapping row {row}");
        }
    }

    #[test]
    fn combining_resources() {
        assert_eq!(Combine::Mean.apply(&[1.0, 3.0]), Some(2.0));
        assert_eq!(Combine::Max.apply(&[1.0, 3.0]), Some(3.0));
        assert_eq!(Combine::Sum.apply(&[1.0, 3.0]), Some(4.0));
        assert_eq!(Combine::Sum.apply(&[]), None);
    }
}
