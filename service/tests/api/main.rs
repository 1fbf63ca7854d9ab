//! Integration tests of the reference service: handlers via `Router::oneshot`, the same
//! end-to-end suite over every backend combination, durability across SIGKILL and power loss
//! (fsync order), the tier counters a profiler relies on, readiness with optional backends
//! down, slow clients, and job fencing.

mod durability;
mod e2e;
mod fencing;
mod fsync;
mod handlers;
mod helpers;
mod readiness;
mod slowloris;
mod tiers;
