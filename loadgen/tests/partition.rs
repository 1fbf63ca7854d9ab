//! Acceptance of the exact split of one schedule over N workers (`--worker I/N`): for the
//! shipped `peak-us` and `viral-spike` scenarios and N = 1, 2, 3, 7, the workers' arrivals are
//! disjoint and their union is the single process's schedule arrival for arrival: the same
//! count in every second, the same read/write choice, the same key rank and the same write
//! body for each arrival. (A proptest over random curves and N is in `schedule.rs`.)

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use loadgen::keys::{write_body, zipf_rank, Operation, OperationMix};
use loadgen::run::schedule_curve;
use loadgen::schedule::{Schedule, Share};
use loadgen::Scenario;

/// What one arrival does, decided exactly as a paced send decides it (attack.rs): the
/// operation from the mix, a read's Zipf rank over the ids known (here the preloaded corpus),
/// a write's body.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Planned {
    Read { rank: usize },
    Write { user_id: String, payload: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Arrival {
    intended: Duration,
    planned: Planned,
}

fn arrivals(scenario: &Scenario, share: Share) -> BTreeMap<u64, Arrival> {
    let schedule = Schedule::for_share(schedule_curve(scenario), share);
    let mix = OperationMix::new(&scenario.mix, scenario.seed);
    let known = scenario.keys.preload as usize;
    let mut out = BTreeMap::new();
    while let Some(ticket) = schedule.claim() {
        let k = ticket.index;
        let planned = match mix.operation(k) {
            Operation::Read => {
                Planned::Read { rank: zipf_rank(scenario.seed, k, known, scenario.keys.zipf_exponent).unwrap() }
            }
            Operation::Write => {
                let body = write_body(scenario.seed, k, &scenario.payload, scenario.keys.users);
                Planned::Write { user_id: body.user_id, payload: body.payload }
            }
        };
        assert!(out.insert(k, Arrival { intended: ticket.intended, planned }).is_none(), "ticket {k} handed out twice");
    }
    assert_eq!(out.len() as u64, schedule.total());
    out
}

fn per_second(arrivals: &BTreeMap<u64, Arrival>) -> BTreeMap<u64, u64> {
    let mut counts = BTreeMap::new();
    for a in arrivals.values() {
        *counts.entry(a.intended.as_secs()).or_default() += 1;
    }
    counts
}

fn check_split(name: &str) {
    let scenario = Scenario::find(name, &common::repo_root().join("scenarios")).unwrap();
    let single = arrivals(&scenario, Share::WHOLE);
    assert!(single.len() > 5_000, "{name}: {} arrivals", single.len());
    assert!(single.values().any(|a| matches!(a.planned, Planned::Write { .. })));
    for n in [1u64, 2, 3, 7] {
        let mut union: BTreeMap<u64, Arrival> = BTreeMap::new();
        for i in 0..n {
            let share = arrivals(&scenario, Share::new(i, n).unwrap());
            // Each worker carries about 1/N of the arrivals, not a block of them.
            let expected = single.len() as f64 / n as f64;
            assert!(
                (share.len() as f64 - expected).abs() <= 1.0,
                "{name} {i}/{n}: {} of {}",
                share.len(),
                single.len()
            );
            for (k, a) in share {
                let taken = union.insert(k, a);
                assert!(taken.is_none(), "{name}: arrival {k} is in two shares of N = {n}");
            }
        }
        assert_eq!(union.len(), single.len(), "{name} N = {n}: the union misses arrivals");
        assert_eq!(per_second(&union), per_second(&single), "{name} N = {n}: counts per second differ");
        for (k, a) in &single {
            assert_eq!(union.get(k), Some(a), "{name} N = {n}: arrival {k} differs");
        }
    }
}

#[test]
fn peak_us_splits_exactly() {
    check_split("peak-us");
}

#[test]
fn viral_spike_splits_exactly() {
    check_split("viral-spike");
}
