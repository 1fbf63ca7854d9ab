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

pub mod figures;
pub mod inject;

pub use loadgen_generator::fault_spec::{validate, FaultAction, FaultSpec};
pub use loadgen_model::faults::FaultRecord;
