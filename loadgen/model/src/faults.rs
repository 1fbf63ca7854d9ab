//! The faults a run did to its stage and what the load saw while each lasted (the timeline's
//! `faults`, and the report's fault table).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A fault as it happened, on the measured timeline (seconds since its start).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct FaultRecord {
    /// The box it was done to (`redis`, `pg-replica-1`, `app-2`, `haproxy`, `pg-primary`).
    pub target: String,
    /// The tier the verdict names for it: `cache`, `lb`, `db_primary`, `db_replica`, `app`.
    pub tier: String,
    /// `kill`, `pause`, `restart`, `failover`.
    pub action: String,
    /// When it was done.
    pub started_s: f64,
    /// When the server served again (started again, resumed, failed over); `None`: it
    /// stayed down to the end of the run.
    pub ended_s: Option<f64>,
    /// `ok`, or what went wrong doing or undoing it.
    pub outcome: String,
    /// What replaced it (a new API instance's name, the promoted standby), when not itself.
    #[serde(default)]
    pub replaced_by: Option<String>,
    /// `/healthz` through the stage's front door, polled every 250 ms from the fault until 5 s
    /// after its end: status (`ok`, `degraded`, `unavailable`, `http_<code>`, `no_answer`) →
    /// times seen.
    #[serde(default)]
    pub healthz: BTreeMap<String, u64>,
    /// The load's figures over the fault's window, from the run's own recordings.
    #[serde(default)]
    pub figures: Option<FaultFigures>,
}

impl FaultRecord {
    /// The whole seconds of the timeline the fault covered: `[first, last]`.
    pub fn window(&self, run_end_s: f64) -> [u64; 2] {
        let end = self.ended_s.unwrap_or(run_end_s).max(self.started_s);
        [self.started_s.floor() as u64, (end.ceil() as u64).saturating_sub(1).max(self.started_s.floor() as u64)]
    }
}

/// What the load saw while a fault lasted.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct FaultFigures {
    /// The whole seconds `[first, last]` of the timeline the figures cover.
    pub window: [u64; 2],
    /// Reads answered 200 (with the right payload) in the window.
    pub reads_ok: u64,
    /// Writes acknowledged (202) in the window.
    pub writes_ok: u64,
    /// Requests that failed in the window (any kind, reads and writes).
    pub errors: u64,
    /// p99 of the successful reads in the window, µs (from intended send time).
    pub read_p99_us: Option<u64>,
    /// The slowest successful read in the window, µs.
    pub read_max_us: Option<u64>,
    /// p99 of the acknowledged writes in the window, µs.
    pub write_p99_us: Option<u64>,
    /// Longest stretch of whole seconds, from the fault's first second on, in which no write
    /// was acknowledged (writes unavailable; 1 s resolution, so write rates of a few per
    /// second read a second or two without any by chance).
    pub write_gap_s: u64,
    /// Writes that failed from the fault's first second until a minute after its end.
    pub write_errors: u64,
    /// Write unavailability as clients saw it: the seconds from the first to the last second
    /// with a failed write over that span, inclusive (0: none failed).
    pub writes_failing_s: u64,
    /// Seconds from the fault's first second until 3 seconds in a row answered without an
    /// error (0: no error at all); `None`: not within a minute of its end.
    pub recovered_after_s: Option<u64>,
    /// A cache fault that ended: seconds from its end until the service counted cache hits
    /// again (`service.cache_hits`); `None`: not seen within the run.
    pub cache_hits_after_s: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_covers_the_seconds_the_fault_lasted() {
        let r = FaultRecord { started_s: 10.2, ended_s: Some(20.5), ..Default::default() };
        assert_eq!(r.window(60.0), [10, 20]);
        let r = FaultRecord { started_s: 10.0, ended_s: None, ..Default::default() };
        assert_eq!(r.window(30.0), [10, 29]);
    }
}
