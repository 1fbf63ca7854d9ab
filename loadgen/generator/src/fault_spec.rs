//! A scenario's `[[faults]]`, as written and checked (the injection is the harness's):
//!
//! Chaos under load: a scenario's `[[faults]]` kill, pause, restart or fail over named
//! servers of a launched stage at named times of the run, while the load goes on.
//!
//! ```toml
//! [[faults]]
//! at = "10s"          # on the measured timeline (after the warm-up)
//! target = "redis"    # redis | haproxy | primary | standby | replica | app | a box name (pg-replica-2, app-3)
//! action = "kill"     # kill | pause | restart | failover
//! for = "10s"         # kill: started again after it (absent: stays down); pause: resumed after it
//! ```
//!
//! Each fault is recorded in `timeline.json` (`faults`: what, when, until when, what
//! `/healthz` answered meanwhile, and the load's figures over its window) and in the report,
//! and the verdict names the faulted tier for the window it lasted
//! (`profiler/analysis/faults.rs`). Faults need a stage the launcher brought up: against a
//! URL or an embedded service there is nothing of ours to kill.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One fault of a scenario.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// When, from the start of the measured part (the timeline's t = 0).
    #[serde(with = "humantime_serde")]
    pub at: Duration,
    /// `redis`, `haproxy`, `primary`, `standby`, `replica` (the first), `app` (the first API
    /// instance), or a box's name (`pg-replica-2`, `app-3`).
    pub target: String,
    pub action: FaultAction,
    /// How long it lasts: a killed server is started again after it (absent: it stays
    /// down), a paused one resumed (required). Not with `restart` or `failover`.
    #[serde(with = "humantime_serde", default, rename = "for")]
    pub lasts: Option<Duration>,
}

/// What is done to the server.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FaultAction {
    /// SIGKILL to its whole box: the machine died.
    Kill,
    /// SIGSTOP, then SIGCONT after `for`: a hung machine that keeps its connections open.
    Pause,
    /// A clean stop and an immediate start (an API instance: a new one joins the load
    /// balancer, then the old one is drained out).
    Restart,
    /// The primary's box is killed, the standby promoted, replicas and instances re-pointed.
    Failover,
}

impl FaultAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Kill => "kill",
            Self::Pause => "pause",
            Self::Restart => "restart",
            Self::Failover => "failover",
        }
    }
}

/// The targets a scenario may name besides box names of the form `pg-replica-N`, `app-N`.
const TARGETS: [&str; 7] = ["redis", "haproxy", "primary", "standby", "replica", "app", "pg-primary"];

/// Checks a scenario's faults; returns the offending field and the reason.
pub fn validate(faults: &[FaultSpec], duration: Duration) -> Result<(), (String, String)> {
    for (i, f) in faults.iter().enumerate() {
        let field = |name: &str| format!("faults[{i}].{name}");
        let box_name = |prefix: &str| {
            f.target.strip_prefix(prefix).is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        };
        if !TARGETS.contains(&f.target.as_str()) && !box_name("pg-replica-") && !box_name("app-") {
            return Err((
                field("target"),
                format!(
                    "unknown server `{}`: one of {}, or a box name such as pg-replica-2 or app-3",
                    f.target,
                    TARGETS.join(", ")
                ),
            ));
        }
        if f.at >= duration {
            return Err((field("at"), format!("{:?} is not within the measured part ({duration:?})", f.at)));
        }
        match (f.action, f.lasts) {
            (FaultAction::Pause, None) => {
                return Err((field("for"), "a pause needs `for` (how long the server stays stopped)".into()))
            }
            (FaultAction::Restart | FaultAction::Failover, Some(_)) => {
                return Err((
                    field("for"),
                    format!("`{}` takes no `for`: it ends when the server serves again", f.action.as_str()),
                ))
            }
            (_, Some(d)) if d.is_zero() => return Err((field("for"), "must be longer than 0s".into())),
            _ => {}
        }
        if f.action == FaultAction::Failover && !matches!(f.target.as_str(), "primary" | "pg-primary") {
            return Err((field("action"), "failover is done to the primary (target = \"primary\")".into()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> Result<Vec<FaultSpec>, String> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct F {
            faults: Vec<FaultSpec>,
        }
        toml::from_str::<F>(text).map(|f| f.faults).map_err(|e| e.to_string())
    }

    #[test]
    fn faults_parse_and_unknown_keys_are_named() {
        let f = spec("[[faults]]\nat = \"10s\"\ntarget = \"redis\"\naction = \"kill\"\nfor = \"5s\"\n").unwrap();
        assert_eq!(f[0].at, Duration::from_secs(10));
        assert_eq!((f[0].action, f[0].lasts), (FaultAction::Kill, Some(Duration::from_secs(5))));
        let e =
            spec("[[faults]]\nat = \"1s\"\ntarget = \"redis\"\naction = \"kill\"\nduration = \"5s\"\n").unwrap_err();
        assert!(e.contains("unknown field `duration`"), "{e}");
        let e = spec("[[faults]]\nat = \"1s\"\ntarget = \"redis\"\naction = \"explode\"\n").unwrap_err();
        assert!(e.contains("explode"), "{e}");
    }

    #[test]
    fn validation_names_the_field_and_the_reason() {
        let d = Duration::from_secs(30);
        let one = |text: &str| validate(&spec(text).unwrap(), d);
        assert_eq!(
            one("[[faults]]\nat = \"1s\"\ntarget = \"mongodb\"\naction = \"kill\"\n").unwrap_err().0,
            "faults[0].target"
        );
        assert_eq!(
            one("[[faults]]\nat = \"40s\"\ntarget = \"redis\"\naction = \"kill\"\n").unwrap_err().0,
            "faults[0].at"
        );
        assert_eq!(
            one("[[faults]]\nat = \"1s\"\ntarget = \"redis\"\naction = \"pause\"\n").unwrap_err().0,
            "faults[0].for"
        );
        assert_eq!(
            one("[[faults]]\nat = \"1s\"\ntarget = \"redis\"\naction = \"failover\"\n").unwrap_err().0,
            "faults[0].action"
        );
        assert_eq!(
            one("[[faults]]\nat = \"1s\"\ntarget = \"primary\"\naction = \"failover\"\nfor = \"3s\"\n").unwrap_err().0,
            "faults[0].for"
        );
        assert!(one("[[faults]]\nat = \"1s\"\ntarget = \"pg-replica-2\"\naction = \"pause\"\nfor = \"3s\"\n").is_ok());
        assert!(one("[[faults]]\nat = \"1s\"\ntarget = \"app-x\"\naction = \"kill\"\n").is_err());
    }
}
