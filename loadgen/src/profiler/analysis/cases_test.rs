//! The analysis on synthetic runs: each injected bottleneck must get its verdict, and the
//! recommendation must follow the seed's path.

use std::collections::BTreeMap;

use super::{knee::RunSeries, recommend::recommend, tiers::analyse_tiers, verdict::{decide, RunFacts}};
use crate::profiler::{BoxInfo, Timeline};

const N: usize = 60;

/// A ramp from 100 to 690 req/s against a server capped at `cap` from its bottleneck.
fn ramp(cap: f64) -> RunSeries {
    let mut r = RunSeries::default();
    let mut backlog = 0.0;
    for i in 0..N {
        let offered = 100.0 + 10.0 * i as f64;
        backlog += (offered - cap).max(0.0);
        r.t.push(i as u64);
        r.offered.push(offered);
        r.achieved.push(offered.min(cap));
        r.p99_ms.push(2.0 + backlog / cap * 1000.0);
        r.errors.push(0.0);
    }
    r
}

/// A healthy timeline: 2-core boxes lightly used, pools idle, no backlog.
fn timeline(run: &RunSeries) -> Timeline {
    let mut tl = Timeline {
        boxes: vec![
            BoxInfo { tier: "generator".into(), cpu_cores: 2.0, members: vec![] },
            BoxInfo { tier: "app".into(), cpu_cores: 2.0, members: vec![] },
        ],
        ..Timeline::default()
    };
    for (i, t) in run.t.iter().enumerate() {
        let x = run.achieved[i];
        let v = BTreeMap::from([
            ("host.cpu_cores.generator".to_owned(), x * 40e-6),
            ("host.cpu_cores.app".to_owned(), x * 200e-6),
            ("host.load1".to_owned(), 0.5),
            ("service.tier_busy.db_primary".to_owned(), x * 100e-6),
            ("service.pool_max.db_primary".to_owned(), 4.0),
            ("service.pool_waiting.db_primary".to_owned(), 0.0),
            ("service.tier_busy.object_store".to_owned(), x * 50e-6),
            ("service.tier_calls.object_store".to_owned(), x),
            ("service.queue_depth".to_owned(), 1.0),
            ("service.queue_oldest_age_s".to_owned(), 0.05),
        ]);
        tl.push(*t, &v);
    }
    tl
}

fn set(tl: &mut Timeline, name: &str, from: usize, f: impl Fn(usize) -> f64) {
    let col = tl.series.entry(name.into()).or_insert_with(|| vec![Some(0.0); N]);
    for (i, v) in col.iter_mut().enumerate().skip(from) {
        *v = Some(f(i));
    }
}

fn facts(run: &RunSeries, slo_passed: bool) -> RunFacts {
    RunFacts {
        slo_passed,
        achieved_rate: run.achieved.iter().sum::<f64>() / run.len() as f64,
        users: 256,
        baseline_latency_s: 0.002,
        in_process_tiers: vec!["object_store".into()],
        ..RunFacts::default()
    }
}

fn verdict_of(run: &RunSeries, tl: &Timeline, slo_passed: bool) -> crate::profiler::Verdict {
    let tiers = analyse_tiers(run, tl);
    decide(run, &tiers, super::knee::find_knee(run), &facts(run, slo_passed))
}

#[test]
fn healthy_run_is_none_with_headroom() {
    let run = ramp(10_000.0);
    let v = verdict_of(&run, &timeline(&run), true);
    assert_eq!(v.bottleneck, "none", "{v:?}");
    assert!(v.headroom.unwrap() > 1.0, "{v:?}");
    assert!(v.sentence.contains("No tier saturated"));
}

#[test]
fn database_pool_saturating_at_the_knee() {
    let run = ramp(300.0);
    let mut tl = timeline(&run);
    set(&mut tl, "service.tier_busy.db_primary", 20, |_| 3.95);
    set(&mut tl, "service.pool_waiting.db_primary", 20, |i| (i - 19) as f64);
    // App CPU climbs later, as a symptom (retries, queued requests): must not be chosen.
    set(&mut tl, "host.cpu_cores.app", 45, |_| 1.9);
    let v = verdict_of(&run, &tl, false);
    assert_eq!(v.bottleneck, "db_primary", "{v:#?}");
    assert_eq!(v.confidence, "high");
    assert!(v.evidence.iter().any(|e| e.metric.contains("pool_waiting")));
    let tier = v.tiers.iter().find(|t| t.tier == "db_primary").unwrap();
    assert!(tier.utilization_p95 > 0.95 && tier.ceiling_rps.is_some());
}

#[test]
fn app_cpu_starved() {
    let run = ramp(300.0);
    let mut tl = timeline(&run);
    set(&mut tl, "host.cpu_cores.app", 19, |_| 1.95);
    set(&mut tl, "host.load1", 19, |_| 4.0);
    let v = verdict_of(&run, &tl, false);
    assert_eq!(v.bottleneck, "app", "{v:#?}");
}

#[test]
fn generator_overload_names_no_service_tier() {
    let run = ramp(300.0);
    let mut tl = timeline(&run);
    set(&mut tl, "service.pool_waiting.db_primary", 20, |_| 5.0);
    let tiers = analyse_tiers(&run, &tl);
    let mut f = facts(&run, false);
    f.generator_overloaded = true;
    f.generator_reasons = vec!["schedule lag p99 80 ms > 20 ms".into()];
    // Two users cannot carry ~700 req/s at 2 ms each with room to spare: the generator's
    // concurrency is the limit.
    f.users = 2;
    let v = decide(&run, &tiers, None, &f);
    assert_eq!(v.bottleneck, "generator");
    assert!(v.evidence.iter().any(|e| e.note.contains("schedule lag")));
    // CPU-bound lag is the generator's whatever the users.
    f.users = 4096;
    f.generator_reasons.push("generator CPU at 97% of its threads".into());
    assert_eq!(decide(&run, &tiers, None, &f).bottleneck, "generator");
}

#[test]
fn lag_from_users_waiting_on_a_saturated_tier_names_that_tier() {
    let run = ramp(300.0);
    let mut tl = timeline(&run);
    set(&mut tl, "service.tier_busy.db_primary", 20, |_| 3.95);
    set(&mut tl, "service.pool_waiting.db_primary", 20, |_| 40.0);
    let tiers = analyse_tiers(&run, &tl);
    let mut f = facts(&run, false);
    f.generator_overloaded = true;
    f.generator_reasons = vec!["sends left late: schedule lag p99 900 ms".into()];
    let v = decide(&run, &tiers, super::knee::find_knee(&run), &f);
    assert_eq!(v.bottleneck, "db_primary", "{v:#?}");
    assert!(v.evidence.iter().any(|e| e.tier == "generator" && e.note.contains("waiting on the target")));
}

#[test]
fn an_embedded_app_sharing_a_saturated_machine_is_named_when_the_generator_idles() {
    // The app's share reads 75% of the two cores (under the busy line) while the machine is
    // at 95% and the generator lags with its CPU idle: the service's CPU ran out.
    let run = ramp(300.0);
    let mut tl = timeline(&run);
    set(&mut tl, "host.cpu_cores.app", 20, |_| 1.5);
    set(&mut tl, "host.machine_cpu_cores", 0, |i| if i >= 20 { 1.9 } else { 0.5 });
    let tiers = analyse_tiers(&run, &tl);
    let mut f = facts(&run, false);
    f.generator_overloaded = true;
    f.generator_reasons = vec!["sends left late: schedule lag p99 300 ms".into()];
    let v = decide(&run, &tiers, super::knee::find_knee(&run), &f);
    assert_eq!(v.bottleneck, "app", "{v:#?}");
    assert!(v.evidence.iter().any(|e| e.tier == "machine"), "{:#?}", v.evidence);
    // The same lag with the machine not saturated stays the generator's.
    set(&mut tl, "host.machine_cpu_cores", 0, |_| 0.9);
    set(&mut tl, "host.cpu_cores.app", 0, |_| 0.6);
    f.users = 2;
    let tiers = analyse_tiers(&run, &tl);
    assert_eq!(decide(&run, &tiers, super::knee::find_knee(&run), &f).bottleneck, "generator");
}

#[test]
fn cpu_starved_app_explains_in_process_waits() {
    let run = ramp(300.0);
    let mut tl = timeline(&run);
    set(&mut tl, "host.cpu_cores.app", 20, |_| 1.95);
    set(&mut tl, "service.pool_waiting.db_primary", 19, |_| 6.0);
    let tiers = analyse_tiers(&run, &tl);
    let mut f = facts(&run, false);
    f.in_process_tiers = vec!["db_primary".into(), "object_store".into()];
    assert_eq!(decide(&run, &tiers, super::knee::find_knee(&run), &f).bottleneck, "app");
}

#[test]
fn queue_backing_up() {
    let run = ramp(10_000.0);
    let mut tl = timeline(&run);
    set(&mut tl, "service.queue_depth", 10, |i| (i - 9) as f64 * 4.0);
    set(&mut tl, "service.queue_oldest_age_s", 10, |i| (i - 9) as f64);
    let v = verdict_of(&run, &tl, true);
    assert_eq!(v.bottleneck, "queue", "{v:#?}");
    // The same backlog beside a saturated primary is the primary's doing (workers write to it),
    // even when the backlog's signals came first.
    let run = ramp(300.0);
    let mut tl = timeline(&run);
    set(&mut tl, "service.queue_depth", 0, |i| i as f64 * 4.0);
    set(&mut tl, "service.queue_oldest_age_s", 0, |i| i as f64);
    set(&mut tl, "service.tier_busy.db_primary", 20, |_| 3.95);
    set(&mut tl, "service.pool_waiting.db_primary", 20, |_| 40.0);
    let v = verdict_of(&run, &tl, false);
    assert_eq!(v.bottleneck, "db_primary", "{v:#?}");
}

#[test]
fn cache_at_its_cpu_quota_on_a_busy_machine() {
    // Redis confined to 1% of a core, using all of it; the machine's run queue is long with
    // other work. The cache is named, not the lightly used app.
    let run = ramp(10_000.0);
    let mut tl = timeline(&run);
    tl.boxes.push(BoxInfo { tier: "cache".into(), cpu_cores: 0.01, members: vec![] });
    set(&mut tl, "redis.cpu_cores", 0, |_| 0.0099);
    set(&mut tl, "service.tier_calls.cache", 0, |i| 100.0 + 10.0 * i as f64);
    set(&mut tl, "host.load1", 0, |_| 4.0);
    let v = verdict_of(&run, &tl, false);
    assert_eq!(v.bottleneck, "cache", "{v:#?}");
    let cache = v.tiers.iter().find(|t| t.tier == "cache").unwrap();
    assert!(cache.utilization_p95 > 0.95, "{cache:?}");
}

#[test]
fn slow_object_store() {
    let run = ramp(10_000.0);
    let mut tl = timeline(&run);
    set(&mut tl, "service.tier_busy.object_store", 0, |i| (100.0 + 10.0 * i as f64) * 0.05);
    let v = verdict_of(&run, &tl, false);
    assert_eq!(v.bottleneck, "object_store", "{v:#?}");
}

#[test]
fn recommendations_follow_the_seed_path() {
    let run = ramp(300.0);
    let mut tl = timeline(&run);
    set(&mut tl, "service.pool_waiting.db_primary", 20, |_| 5.0);
    let v = verdict_of(&run, &tl, false);
    let r = recommend("start", &v, None, 300.0);
    assert_eq!((r.next_stage.as_str(), r.next_profile.as_deref()), ("users-plus", Some("users-plus")));
    let r = recommend("users-plus", &v, None, 300.0);
    assert_eq!(r.next_stage, "users-plus-plus-plus");
    assert!(r.expected_gain.contains("assumed"), "{}", r.expected_gain);
    let r = recommend("users-plus-plus", &v, Some(0.9), 300.0);
    assert!(r.expected_gain.contains("90%") && r.expected_gain.contains("10.0x"), "{}", r.expected_gain);
    let mut app = v.clone();
    app.bottleneck = "app".into();
    assert_eq!(recommend("users-plus", &app, None, 300.0).next_stage, "users-plus-plus");
    assert_eq!(recommend("users-plus-plus-plus", &app, None, 300.0).next_stage, "users-plus-plus-plus-plus");
    let mut none = v;
    none.bottleneck = "none".into();
    assert_eq!(recommend("users-plus", &none, None, 300.0).next_stage, "users-plus");
}
