//! The analysis on synthetic runs: each injected bottleneck must get its verdict, and the
//! recommendation must follow the seed's path.

use std::collections::BTreeMap;

use super::{
    knee::RunSeries,
    recommend::{recommend, Measured},
    tiers::analyse_tiers,
    verdict::{decide, RunFacts},
};
use loadgen_model::timeline::{BoxInfo, Timeline};

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

/// The timeline with a database box of `quota` cores, lightly used.
fn with_db_box(mut tl: Timeline, quota: f64) -> Timeline {
    tl.boxes.push(BoxInfo { tier: "db".into(), cpu_cores: quota, members: vec!["cgroup /db".into()] });
    let col: Vec<Option<f64>> = tl.values("host.cpu_cores.app").iter().map(|a| Some(a * 0.2)).collect();
    tl.series.insert("host.cpu_cores.db".into(), col);
    tl
}

/// A launched stage's boxes: the generator unconfined, the rest with quotas.
fn launched(run: &RunSeries, boxes: &[(&str, f64)]) -> Timeline {
    let mut tl = timeline(run);
    tl.boxes = vec![BoxInfo { tier: "generator".into(), cpu_cores: 2.0, members: vec![] }];
    for (tier, quota) in boxes {
        tl.boxes.push(BoxInfo { tier: (*tier).into(), cpu_cores: *quota, members: vec![format!("cgroup /{tier}")] });
        tl.series.insert(format!("host.cpu_cores.{tier}"), vec![Some(quota * 0.3); N]);
    }
    tl
}

fn facts(run: &RunSeries, slo_passed: bool) -> RunFacts {
    RunFacts {
        slo_passed,
        achieved_rate: run.achieved.iter().sum::<f64>() / run.len() as f64,
        peak_rate: run.achieved.iter().copied().fold(0.0, f64::max),
        in_process_tiers: vec!["object_store".into()],
        ..RunFacts::default()
    }
}

fn verdict_of(run: &RunSeries, tl: &Timeline, slo_passed: bool) -> loadgen_model::timeline::Verdict {
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
    let mut tl = with_db_box(timeline(&run), 0.5);
    set(&mut tl, "host.cpu_cores.db", 20, |_| 0.5);
    set(&mut tl, "service.tier_busy.db_primary", 20, |_| 3.95);
    set(&mut tl, "service.pool_waiting.db_primary", 20, |i| (i - 19) as f64);
    // App CPU climbs later, long after the knee: the database's box was at its limit first.
    set(&mut tl, "host.cpu_cores.app", 45, |_| 1.9);
    let v = verdict_of(&run, &tl, false);
    assert_eq!(v.bottleneck, "db_primary", "{v:#?}");
    assert_eq!(v.confidence, "high");
    assert!(v.evidence.iter().any(|e| e.metric.contains("pool_waiting")));
    let tier = v.tiers.iter().find(|t| t.tier == "db_primary").unwrap();
    assert!(tier.utilization_p95 > 0.95 && tier.ceiling_rps.is_some() && tier.unit == "cores", "{tier:?}");
    assert!(v.evidence.iter().any(|e| e.note.contains("db box") && e.note.contains("0.50")), "{:#?}", v.evidence);
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
    f.generator_reasons = vec!["generator CPU at 97% of its sending threads".into()];
    let v = decide(&run, &tiers, None, &f);
    assert_eq!(v.bottleneck, "generator");
    assert!(v.evidence.iter().any(|e| e.note.contains("generator CPU")));
}

#[test]
fn an_embedded_app_sharing_a_saturated_machine_is_named_when_the_generator_idles() {
    // The app's share reads 75% of the two cores (under the busy line) while the machine is
    // at 95% and the generator idles: the service's CPU ran out.
    let run = ramp(300.0);
    let mut tl = timeline(&run);
    set(&mut tl, "host.cpu_cores.app", 20, |_| 1.5);
    set(&mut tl, "host.machine_cpu_cores", 0, |i| if i >= 20 { 1.9 } else { 0.5 });
    let v = verdict_of(&run, &tl, false);
    assert_eq!(v.bottleneck, "app", "{v:#?}");
    assert!(v.evidence.iter().any(|e| e.tier == "machine"), "{:#?}", v.evidence);
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
    let mut tl = with_db_box(timeline(&run), 0.5);
    set(&mut tl, "service.queue_depth", 0, |i| i as f64 * 4.0);
    set(&mut tl, "service.queue_oldest_age_s", 0, |i| i as f64);
    set(&mut tl, "host.cpu_cores.db", 20, |_| 0.5);
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
    let m = |hit: Option<f64>| Measured { cache_hit_ratio: hit, achieved_rate: 300.0, write_share: 0.01 };
    let r = recommend("start", &v, m(None));
    assert_eq!((r.next_stage.as_deref(), r.next_profile.as_deref()), (Some("users-plus"), Some("users-plus")));
    let r = recommend("users-plus", &v, m(None));
    assert_eq!(r.next_stage.as_deref(), Some("users-plus-plus-plus"));
    assert!(r.expected_gain.contains("assumed"), "{}", r.expected_gain);
    let r = recommend("users-plus-plus", &v, m(Some(0.9)));
    assert!(r.expected_gain.contains("90%") && r.expected_gain.contains("10.0x"), "{}", r.expected_gain);
    let mut app = v.clone();
    app.bottleneck = "app".into();
    assert_eq!(recommend("users-plus", &app, m(None)).next_stage.as_deref(), Some("users-plus-plus"));
    assert_eq!(
        recommend("users-plus-plus-plus", &app, m(None)).next_stage.as_deref(),
        Some("users-plus-plus-plus-plus")
    );
    let mut none = v;
    none.bottleneck = "none".into();
    let r = recommend("users-plus", &none, m(None));
    assert_eq!((r.next_stage, r.next_profile), (None, None));
}

#[test]
fn a_cpu_starved_app_box_is_named_over_the_pool_waits_it_causes() {
    // Users+ as measured: the app box at 100% of its 0.5-core quota, the database box at 51%,
    // the pool full of connections the starved app holds longer, callers waiting for them.
    let run = ramp(300.0);
    let mut tl = launched(&run, &[("app", 0.5), ("db", 0.5)]);
    set(&mut tl, "host.cpu_cores.app", 20, |i| 0.5 + (i % 3) as f64 * 0.01);
    set(&mut tl, "host.cpu_cores.db", 20, |_| 0.255);
    set(&mut tl, "service.tier_busy.db_primary", 20, |_| 15.9);
    set(&mut tl, "service.pool_max.db_primary", 0, |_| 16.0);
    set(&mut tl, "service.pool_waiting.db_primary", 20, |_| 12.0);
    set(&mut tl, "postgres.active_backends", 0, |_| 0.0);
    let v = verdict_of(&run, &tl, false);
    assert_eq!(v.bottleneck, "app", "{v:#?}");
    assert!(v.evidence.iter().any(|e| e.note.contains("app box") && e.note.contains("0.50")), "{:#?}", v.evidence);
    let db = v.tiers.iter().find(|t| t.tier == "db_primary").unwrap();
    assert!(db.utilization_p95 < 0.6, "the database's own box: {db:?}");
    let r = recommend("users-plus", &v, Measured::default());
    assert_eq!(r.next_stage.as_deref(), Some("users-plus-plus"));
}

#[test]
fn a_load_balancer_at_its_quota_is_named_over_slow_cache_calls() {
    // Users+++ as measured: HAProxy's box at its 0.25-core quota, Redis at 31% of its core,
    // cache calls slow because the callers queue.
    let run = ramp(300.0);
    let mut tl = launched(&run, &[("lb", 0.25), ("app", 1.0), ("cache", 0.25)]);
    set(&mut tl, "host.cpu_cores.lb", 20, |_| 0.252);
    set(&mut tl, "redis.cpu_cores", 0, |_| 0.078);
    set(&mut tl, "service.tier_calls.cache", 0, |_| 100.0);
    set(&mut tl, "service.tier_busy.cache", 20, |_| 0.9);
    let v = verdict_of(&run, &tl, false);
    assert_eq!(v.bottleneck, "lb", "{v:#?}");
    let r = recommend("users-plus-plus-plus", &v, Measured::default());
    assert!(r.next_stage.is_none() && r.action.contains("lb box"), "{r:?}");
}

#[test]
fn a_write_pool_at_its_quota_is_named_beside_an_idle_read_pool() {
    // Users+++++ in write-burst's walk: the write pool's box at its quota and throttled, the
    // read pools idle, the shard primaries busy below their limit with callers waiting.
    let run = ramp(300.0);
    let mut tl = launched(&run, &[("lb", 0.125), ("app-read", 0.125), ("app-write", 0.375), ("db", 0.5)]);
    tl.boxes.retain(|b| b.tier != "app");
    tl.series.remove("host.cpu_cores.app");
    set(&mut tl, "host.cpu_cores.app-write", 20, |_| 0.374);
    set(&mut tl, "host.cpu_throttled_share.app-write", 20, |_| 0.9);
    set(&mut tl, "host.cpu_cores.app-read", 0, |_| 0.05);
    set(&mut tl, "host.cpu_cores.db", 0, |_| 0.3);
    set(&mut tl, "service.pool_waiting.db_primary_shard_0", 20, |_| 12.0);
    let v = verdict_of(&run, &tl, false);
    assert_eq!(v.bottleneck, "app-write", "{v:#?}");
    assert!(v.tiers.iter().any(|t| t.tier == "app-read"), "the read pool is judged on its own box: {:#?}", v.tiers);
    let r = recommend("users-plus-plus-plus-plus-plus", &v, Measured::default());
    assert!(r.next_stage.is_none() && r.action.contains("write pool"), "{r:?}");
}

#[test]
fn a_one_second_blip_on_a_healthy_step_is_none() {
    // Single-box, SLO held, database 6% busy; the pool had 2 waiters for one second.
    let run = ramp(10_000.0);
    let mut tl = timeline(&run);
    set(&mut tl, "service.pool_waiting.db_primary", 0, |i| if i == 40 { 2.0 } else { 0.0 });
    let v = verdict_of(&run, &tl, true);
    assert_eq!(v.bottleneck, "none", "{v:#?}");
}

#[test]
fn throttling_is_evidence_beside_a_box_at_its_limit_not_a_limit_of_its_own() {
    // A small box of several threads is throttled in most short CFS periods at half its
    // quota (the kernel hands out quota in slices larger than the box's share of a period).
    let run = ramp(10_000.0);
    let mut tl = launched(&run, &[("app", 0.25), ("db", 0.5)]);
    set(&mut tl, "host.cpu_cores.app", 0, |_| 0.13);
    set(&mut tl, "host.cpu_throttled_share.app", 0, |_| 0.96);
    assert_eq!(verdict_of(&run, &tl, true).bottleneck, "none");
    // At its quota, the throttling is said beside the utilization.
    let run = ramp(300.0);
    let mut tl = launched(&run, &[("app", 0.25), ("db", 0.5)]);
    set(&mut tl, "host.cpu_cores.app", 20, |_| 0.25);
    set(&mut tl, "host.cpu_throttled_share.app", 0, |_| 0.96);
    let v = verdict_of(&run, &tl, false);
    assert_eq!(v.bottleneck, "app", "{v:#?}");
    assert!(v.evidence.iter().any(|e| e.note.contains("CFS periods")), "{:#?}", v.evidence);
}

#[test]
fn a_full_pool_with_no_box_at_its_limit_is_named_from_its_symptoms() {
    // One connection, the database's CPU idle: the pool is a software limit the callers see.
    let run = ramp(300.0);
    let mut tl = with_db_box(timeline(&run), 2.0);
    set(&mut tl, "service.pool_max.db_primary", 0, |_| 1.0);
    set(&mut tl, "service.tier_busy.db_primary", 20, |_| 1.0);
    set(&mut tl, "service.pool_waiting.db_primary", 20, |_| 30.0);
    let v = verdict_of(&run, &tl, false);
    assert_eq!(v.bottleneck, "db_primary", "{v:#?}");
    assert_ne!(v.confidence, "high");
    assert!(v.sentence.contains("callers saw"), "{}", v.sentence);
}

#[test]
fn headroom_is_against_the_peak() {
    // Half the run at 100 req/s, half at 1,000: the app's ceiling of ~10,000 req/s is 10x
    // the peak, not 18x the mean.
    let mut run = ramp(10_000.0);
    for (i, (o, a)) in run.offered.iter_mut().zip(run.achieved.iter_mut()).enumerate() {
        *o = if i < N / 2 { 100.0 } else { 1000.0 };
        *a = *o;
    }
    let tl = launched(&run, &[("app", 1.0)]);
    let mut tl = tl;
    set(&mut tl, "host.cpu_cores.app", 0, |i| if i < N / 2 { 0.01 } else { 0.1 });
    let v = verdict_of(&run, &tl, true);
    assert_eq!(v.bottleneck, "none", "{v:#?}");
    let h = v.headroom.unwrap();
    assert!((8.0..=10.0).contains(&h), "headroom {h}: {}", v.sentence);
    assert!(v.sentence.contains("1000 req/s peak"), "{}", v.sentence);
}

#[test]
fn of_two_boxes_at_their_limit_the_one_there_longer_past_the_knee_is_named() {
    // Users+++ with small app boxes: they sit at their quota from the knee on; the primary's
    // box is at its limit for a while at the knee too (its statistics query timing out then,
    // one more signal), then falls back to three quarters.
    let run = ramp(300.0);
    let mut tl = launched(&run, &[("app", 0.2), ("db", 0.2), ("lb", 0.4)]);
    set(&mut tl, "host.cpu_cores.app", 20, |_| 0.2);
    set(&mut tl, "host.cpu_cores.db", 20, |i| if i < 30 { 0.2 } else { 0.15 });
    set(&mut tl, "postgres.unanswered", 0, |i| if (20..25).contains(&i) { 1.0 } else { 0.0 });
    let v = verdict_of(&run, &tl, false);
    assert_eq!(v.bottleneck, "app", "{v:#?}");
}

#[test]
fn an_app_shedding_while_it_waits_on_a_full_pool_names_the_pool() {
    // One connection: the app is not at its CPU limit, but it sheds at its in-flight cap
    // because every request waits for the connection.
    let run = ramp(300.0);
    let mut tl = with_db_box(timeline(&run), 2.0);
    set(&mut tl, "service.pool_max.db_primary", 0, |_| 1.0);
    set(&mut tl, "service.tier_busy.db_primary", 20, |_| 1.0);
    set(&mut tl, "service.pool_waiting.db_primary", 20, |_| 30.0);
    set(&mut tl, "service.shed", 20, |_| 800.0);
    let v = verdict_of(&run, &tl, false);
    assert_eq!(v.bottleneck, "db_primary", "{v:#?}");
}

/// Users+++ as walk7 measured it: the app boxes at their quota from t = 20 s, the generator's
/// sends late only from `late_from`, its own box far from its limit.
fn collapse_after_saturation(late_from: u64) -> loadgen_model::timeline::Verdict {
    let run = ramp(300.0);
    let mut tl = launched(&run, &[("app", 0.5), ("lb", 0.375)]);
    tl.boxes[0].cpu_cores = 0.5;
    set(&mut tl, "host.cpu_cores.generator", 0, |_| 0.19);
    set(&mut tl, "host.cpu_cores.app", 20, |i| 0.5 - (i % 2) as f64 * 0.01);
    let tiers = analyse_tiers(&run, &tl);
    let mut f = facts(&run, false);
    f.generator_overloaded = true;
    f.generator_reasons = vec!["sends left late: schedule lag p99 33.5 ms > 20.0 ms allowed".into()];
    f.generator_late_from = Some(late_from);
    decide(&run, &tiers, super::knee::find_knee(&run), &f)
}

#[test]
fn sends_late_only_after_a_box_was_at_its_limit_name_that_box() {
    let v = collapse_after_saturation(28);
    assert_eq!(v.bottleneck, "app", "{v:#?}");
    assert!(v.sentence.contains("fell behind only from t = 28 s"), "{}", v.sentence);
    assert!(
        v.evidence.iter().any(|e| e.tier == "generator" && e.note.contains("judged on the seconds before")),
        "{:#?}",
        v.evidence
    );
}

#[test]
fn sends_late_before_any_box_was_at_its_limit_name_the_generator() {
    // Late from t = 21 s: one second after the app box reached its quota is not "before".
    assert_eq!(collapse_after_saturation(21).bottleneck, "generator");
    assert_eq!(collapse_after_saturation(5).bottleneck, "generator");
}

/// Walk26's Users++++ at 6,277 req/s: the app boxes at their quota from t = 20 s, HAProxy
/// queueing for them from `queued_from`, the sends late one second after the boxes' limit
/// and the generator's own box busy (90% of its share) all along.
fn queued_then_late(queued_from: usize) -> loadgen_model::timeline::Verdict {
    let run = ramp(300.0);
    let mut tl = launched(&run, &[("app", 0.5), ("lb", 0.375)]);
    tl.boxes[0].cpu_cores = 0.5;
    set(&mut tl, "host.cpu_cores.generator", 0, |_| 0.45);
    set(&mut tl, "host.cpu_cores.app", 20, |i| 0.5 - (i % 2) as f64 * 0.01);
    set(&mut tl, "haproxy.queue", 0, |i| if i >= queued_from { 1000.0 } else { 0.0 });
    let tiers = analyse_tiers(&run, &tl);
    let mut f = facts(&run, false);
    f.generator_overloaded = true;
    f.generator_reasons = vec!["sends left late: schedule lag p99 27 ms > 20.0 ms allowed".into()];
    f.generator_late_from = Some(21);
    decide(&run, &tiers, super::knee::find_knee(&run), &f)
}

#[test]
fn a_load_balancer_queueing_for_a_box_at_its_limit_while_the_sends_were_on_time_names_the_box() {
    let v = queued_then_late(20);
    assert_eq!(v.bottleneck, "app", "{v:#?}");
    assert!(v.sentence.contains("fell behind only from t = 21 s"), "{}", v.sentence);
    // The queue only once the sends were late is no evidence of which came first.
    assert_eq!(queued_then_late(21).bottleneck, "generator");
    assert_eq!(queued_then_late(N).bottleneck, "generator");
}

#[test]
fn late_sends_while_the_host_stole_the_machine_blame_the_host_not_the_generators_share() {
    // walk19's Users++ at 499 req/s: steal 35-40% of the machine, the generator's box at a
    // third of its share, every service box under 80% of its quota, the sends late.
    let run = ramp(1000.0);
    let mut tl = launched(&run, &[("app", 0.5), ("db", 0.25)]);
    tl.boxes[0].cpu_cores = 0.5;
    set(&mut tl, "host.cpu_cores.generator", 0, |_| 0.16);
    let tiers = analyse_tiers(&run, &tl);
    let mut f = facts(&run, false);
    f.generator_overloaded = true;
    f.generator_reasons = vec!["sends left late: schedule lag p99 33.5 ms > 20.0 ms allowed".into()];
    f.generator_late_from = Some(3);
    f.host_steal_share = Some(0.37);
    let v = decide(&run, &tiers, super::knee::find_knee(&run), &f);
    assert_eq!(v.bottleneck, "generator", "{v:#?}");
    assert!(v.sentence.starts_with(super::verdict::HOST_LIMITED) && v.sentence.contains("took 37%"), "{}", v.sentence);
    assert!(v.evidence.iter().any(|e| e.metric == "host steal share" && e.value == 0.37), "{:#?}", v.evidence);
    // Little steal: the generator's own timers, as before.
    f.host_steal_share = Some(0.02);
    let v = decide(&run, &tiers, super::knee::find_knee(&run), &f);
    assert!(v.sentence.starts_with("The load generator was the limit"), "{}", v.sentence);
    // Much steal but the generator's box spent: its share is what ran out.
    set(&mut tl, "host.cpu_cores.generator", 0, |_| 0.49);
    f.host_steal_share = Some(0.37);
    let v = decide(&run, &analyse_tiers(&run, &tl), super::knee::find_knee(&run), &f);
    assert!(v.sentence.starts_with("The load generator was the limit"), "{}", v.sentence);
}

#[test]
fn sends_that_never_left_while_a_box_was_at_its_limit_name_that_box() {
    // walk16's Users+++ at 10,067 req/s: HAProxy's box at its quota from t = 0, 40% of the
    // sends never left (the target held every in-flight slot), those that left were on time,
    // the generator's own box at a third of its share.
    let run = ramp(300.0);
    let mut tl = launched(&run, &[("app", 0.625), ("lb", 0.25)]);
    tl.boxes[0].cpu_cores = 0.5;
    set(&mut tl, "host.cpu_cores.generator", 0, |_| 0.16);
    set(&mut tl, "host.cpu_cores.lb", 0, |_| 0.25);
    set(&mut tl, "host.cpu_throttled_share.lb", 0, |_| 1.0);
    set(&mut tl, "host.cpu_cores.app", 0, |_| 0.5);
    let tiers = analyse_tiers(&run, &tl);
    let mut f = facts(&run, false);
    f.generator_overloaded = true;
    f.generator_reasons =
        vec!["only 58978 of 100667 intended sends left (the run was stopped early, or the generator stalled)".into()];
    let v = decide(&run, &tiers, super::knee::find_knee(&run), &f);
    assert_eq!(v.bottleneck, "lb", "{v:#?}");
    assert!(v.sentence.contains("in-flight slots the target held"), "{}", v.sentence);
    // The same missing sends with no box at its limit stay the generator's.
    let quiet = launched(&run, &[("app", 0.625), ("lb", 0.25)]);
    let v = decide(&run, &analyse_tiers(&run, &quiet), super::knee::find_knee(&run), &f);
    assert_eq!(v.bottleneck, "generator", "{v:#?}");
}

#[test]
fn app_boxes_whose_quotas_add_up_to_the_generators_share_do_not_share_its_cores() {
    // Users+++: two app boxes of 0.25 core beside a 0.5-core generator box. The app at 0.33
    // core is at 66% of its own quota, not at the 0.5 less the generator's 0.19.
    let run = ramp(300.0);
    let mut tl = launched(&run, &[("app", 0.5)]);
    tl.boxes[0].cpu_cores = 0.5;
    set(&mut tl, "host.cpu_cores.generator", 0, |_| 0.19);
    set(&mut tl, "host.cpu_cores.app", 0, |_| 0.33);
    let tiers = analyse_tiers(&run, &tl);
    let app = tiers.iter().find(|t| t.figures.tier == "app").unwrap();
    assert!((app.figures.utilization_p95 - 0.66).abs() < 0.02, "{:?}", app.figures);
    assert!(!app.resource_bound);
}

#[test]
fn a_launched_app_tier_that_is_the_largest_box_is_no_machine() {
    // Users++++ in walk9: two 0.375-core app boxes (0.75 in all, the largest tier) were taken
    // for a 0.75-core machine the generator shared, and the machine's 1.5 busy cores for it
    // saturated: the verdict blamed the generator on "a machine the embedded service saturated".
    let run = ramp(300.0);
    let mut tl = launched(&run, &[("app", 0.75), ("lb", 0.25)]);
    tl.boxes[0].cpu_cores = 0.5;
    set(&mut tl, "host.machine_cpu_cores", 0, |_| 1.5);
    let tiers = analyse_tiers(&run, &tl);
    assert!(
        tiers.iter().all(|t| t.figures.tier != "machine"),
        "{:?}",
        tiers.iter().map(|t| &t.figures.tier).collect::<Vec<_>>()
    );
}
