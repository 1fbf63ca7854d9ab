//! Integration tests of the reference service: handlers via `Router::oneshot`, the same
//! end-to-end suite over every backend combination, durability across SIGKILL, and the tier
//! counters a profiler relies on.

mod durability;
mod e2e;
mod handlers;
mod helpers;
mod tiers;
