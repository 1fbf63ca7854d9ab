//! Injected faults in the verdict. A scenario's `[[faults]]` take a server down on purpose;
//! the verdict names the faulted tier for the window the fault lasted, with what the load saw
//! meanwhile, and when the trouble the verdict found starts inside such a window (the knee, or
//! the named tier's first evidence), that trouble is the fault's: the faulted tier is named as
//! the limit rather than whichever tier's symptoms the outage caused (a dead load balancer
//! leaves the replicas idle; a dead cache sends every read to the database).

use super::verdict::describe;
use loadgen_model::faults::FaultRecord;
use loadgen_model::series;
use loadgen_model::timeline::{Evidence, FaultFinding, Timeline, Verdict};

/// Seconds after a fault's end still counted as its consequence (reconnects, HAProxy's
/// checks bringing a server back, caches refilling).
const AFTERMATH_S: u64 = 5;

/// What was done, in words: `redis killed for 10 s`.
fn what(r: &FaultRecord) -> String {
    let length = r.ended_s.map(|e| format!(" for {:.1} s", e - r.started_s)).unwrap_or_default();
    match r.action.as_str() {
        "kill" if r.ended_s.is_none() => format!("{} killed (not started again)", r.target),
        "kill" => format!("{} killed{length} and started again", r.target),
        "pause" => format!("{} paused{length}", r.target),
        "restart" => format!("{} restarted{length}", r.target),
        "died" => format!(
            "{} had no process left{}",
            r.target,
            if r.ended_s.is_some() { ", until it was started again" } else { "" }
        ),
        "failover" => format!(
            "{} killed and failed over to {} in {:.1} s",
            r.target,
            r.replaced_by.as_deref().unwrap_or("the standby"),
            r.ended_s.map_or(0.0, |e| e - r.started_s)
        ),
        other => format!("{} {other}", r.target),
    }
}

fn ms(us: Option<u64>) -> String {
    us.map_or("—".into(), |u| format!("{:.1} ms", u as f64 / 1000.0))
}

/// One sentence per fault: the tier, the window, the load's figures over it.
fn finding(r: &FaultRecord, run_end: f64) -> FaultFinding {
    let window = r.window(run_end);
    let how = if r.action == "died" { "was down: its server died" } else { "was down on purpose" };
    let mut sentence =
        format!("From t = {} s to t = {} s {} {how} ({}", window[0], window[1], describe(&r.tier), what(r));
    if r.outcome != "ok" {
        sentence.push_str(&format!("; {}", r.outcome));
    }
    sentence.push(')');
    if let Some(f) = &r.figures {
        sentence.push_str(&format!(
            ": {} reads and {} writes served, {} errors, reads p99 {}, writes p99 {}",
            f.reads_ok,
            f.writes_ok,
            f.errors,
            ms(f.read_p99_us),
            ms(f.write_p99_us)
        ));
        if f.writes_failing_s > 0 {
            sentence.push_str(&format!(", writes failing for {} s ({} failed)", f.writes_failing_s, f.write_errors));
        }
        // Only beside failed writes: at a few writes a second a quiet second or two is chance.
        if f.write_gap_s > 0 && f.writes_failing_s > 0 {
            sentence.push_str(&format!(", {} s without an acknowledged write", f.write_gap_s));
        }
        match f.recovered_after_s {
            Some(0) => {}
            Some(s) => sentence.push_str(&format!(", error-free again {s} s after it began")),
            None => sentence.push_str(", errors still within a minute of its end"),
        }
        if let Some(s) = f.cache_hits_after_s {
            sentence.push_str(&format!(", cache hits again {s} s after it was back"));
        }
    }
    if !r.healthz.is_empty() {
        let seen: Vec<String> = r.healthz.iter().map(|(k, v)| format!("{k} ×{v}")).collect();
        sentence.push_str(&format!("; /healthz answered {}", seen.join(", ")));
    }
    sentence.push('.');
    FaultFinding { tier: r.tier.clone(), fault: what(r), window, sentence }
}

/// Where the trouble the verdict found starts: its knee, else its tier's first evidence.
fn trouble_onset(verdict: &Verdict) -> Option<u64> {
    verdict.knee.as_ref().map(|k| k.t).or_else(|| verdict.evidence.iter().map(|e| e.window[0]).min())
}

/// Seconds a box must have had no process before it counts as dead.
const DEAD_FOR_S: usize = 3;

/// The verdict's tier for a launched box's tier.
fn tier_of_box(tier: &str) -> Option<&'static str> {
    Some(match tier {
        "lb" => "lb",
        "cache" => "cache",
        "db" => "db_primary",
        "db-replica" => "db_replica",
        "app" | "app-read" | "app-write" => "app",
        "worker" => "queue",
        _ => return None,
    })
}

/// Servers that died without a fault asking for it: a launched box whose processes were all
/// gone (`host.processes.<box>` at 0) for 3 seconds or more after it had some. A dead load
/// balancer leaves every tier behind it idle, so without this the verdict named one of them.
/// Boxes a scenario's fault took down are left to that fault's record.
pub fn died(timeline: &Timeline) -> Vec<FaultRecord> {
    let mut out = Vec::new();
    for name in timeline.names_with_prefix(series::HOST_PROCESSES_PREFIX) {
        let box_tier = &name[series::HOST_PROCESSES_PREFIX.len()..];
        let Some(tier) = tier_of_box(box_tier) else { continue };
        let values = &timeline.series[name];
        let mut seen_alive = false;
        let mut i = 0;
        while i < values.len() {
            match values[i] {
                Some(v) if v > 0.0 => seen_alive = true,
                Some(_) if seen_alive => {
                    let end = (i..values.len()).find(|&j| values[j].is_some_and(|v| v > 0.0));
                    if end.unwrap_or(values.len()) - i >= DEAD_FOR_S {
                        let t = |j: usize| timeline.t.get(j).copied().unwrap_or(0) as f64;
                        out.push(FaultRecord {
                            target: format!("the {box_tier} box"),
                            tier: tier.into(),
                            action: "died".into(),
                            started_s: t(i),
                            ended_s: end.map(t),
                            outcome: "ok".into(),
                            ..Default::default()
                        });
                    }
                    i = end.unwrap_or(values.len());
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
    }
    // A box that emptied while an injected fault lasted (or just after) is that fault's doing:
    // the killed server itself, or instances a failover replaced with new boxes.
    let injected = |r: &FaultRecord| {
        timeline.faults.iter().any(|f| {
            !f.tier.is_empty()
                && f.started_s <= r.started_s + 2.0
                && f.ended_s.is_none_or(|e| e + AFTERMATH_S as f64 >= r.started_s)
        })
    };
    out.retain(|r| !injected(r));
    out
}

/// Adds the faults of `timeline`, injected or servers that died, to `verdict` (see the
/// module comment).
pub fn apply(verdict: &mut Verdict, timeline: &Timeline) {
    let dead = died(timeline);
    let done: Vec<&FaultRecord> = timeline.faults.iter().chain(&dead).filter(|r| !r.tier.is_empty()).collect();
    if done.is_empty() {
        return;
    }
    let run_end = timeline.t.last().map_or(0.0, |t| *t as f64 + 1.0);
    let findings: Vec<FaultFinding> = done.iter().map(|r| finding(r, run_end)).collect();
    let onset = trouble_onset(verdict);
    let inside =
        findings.iter().position(|f| onset.is_some_and(|o| o >= f.window[0] && o <= f.window[1] + AFTERMATH_S));
    // A low-confidence verdict found no resource at its limit: the run's trouble is then the
    // fault the load suffered most from (errors, then the slowest reads).
    let worst = || {
        let harm = |r: &FaultRecord| r.figures.as_ref().map_or((0, 0), |f| (f.errors, f.read_p99_us.unwrap_or(0)));
        (0..done.len()).filter(|&i| harm(done[i]) > (0, 0)).max_by_key(|&i| harm(done[i]))
    };
    let blamed = inside.or_else(|| (verdict.confidence == "low").then(worst).flatten()).map(|i| &findings[i]);
    let judged = !matches!(verdict.bottleneck.as_str(), "none" | "generator");
    if let (true, Some(f)) = (judged, blamed) {
        if verdict.bottleneck != f.tier {
            verdict.sentence = format!(
                "Bottleneck: {} — down from t = {} s ({}); what the analysis saw then is its consequence: {}",
                describe(&f.tier),
                f.window[0],
                f.fault,
                verdict.sentence
            );
            verdict.bottleneck = f.tier.clone();
            verdict.confidence = "high".into();
        }
    }
    for (r, f) in done.iter().zip(&findings) {
        verdict.evidence.push(Evidence {
            tier: f.tier.clone(),
            metric: format!("fault.{}", r.action),
            value: r.figures.as_ref().map_or(0.0, |x| x.errors as f64),
            threshold: 0.0,
            window: f.window,
            note: f.sentence.clone(),
        });
    }
    let said: Vec<&str> = findings.iter().map(|f| f.sentence.as_str()).collect();
    verdict.sentence = format!("{} Faults injected: {}", verdict.sentence, said.join(" "));
    verdict.faults = findings;
}

#[cfg(test)]
mod tests {
    use super::*;
    use loadgen_model::faults::FaultFigures;
    use loadgen_model::timeline::Knee;

    fn verdict(bottleneck: &str, knee: Option<u64>) -> Verdict {
        Verdict {
            bottleneck: bottleneck.into(),
            confidence: "low".into(),
            sentence: "Bottleneck: the read replicas as its callers saw it.".into(),
            knee: knee.map(|t| Knee { t, offered_rate: 100.0, achieved_rate: 10.0 }),
            tiers: vec![],
            evidence: vec![],
            headroom: None,
            faults: vec![],
        }
    }

    fn timeline(tier: &str, start: f64, end: Option<f64>) -> Timeline {
        let record = FaultRecord {
            target: "haproxy".into(),
            tier: tier.into(),
            action: "kill".into(),
            started_s: start,
            ended_s: end,
            outcome: "ok".into(),
            figures: Some(FaultFigures { errors: 40, reads_ok: 3, ..Default::default() }),
            ..Default::default()
        };
        Timeline { t: (0..60).collect(), faults: vec![record], ..Default::default() }
    }

    #[test]
    fn trouble_inside_a_fault_window_is_the_faulted_tier() {
        let mut v = verdict("db_replica", Some(21));
        apply(&mut v, &timeline("lb", 20.0, Some(30.0)));
        assert_eq!(v.bottleneck, "lb", "{}", v.sentence);
        assert_eq!(v.faults[0].window, [20, 29]);
        assert!(v.sentence.contains("the load balancer"), "{}", v.sentence);
        assert!(v.evidence.iter().any(|e| e.metric == "fault.kill" && e.tier == "lb" && e.window == [20, 29]));
    }

    #[test]
    fn a_box_left_without_processes_is_a_dead_server_and_is_named() {
        let mut tl = Timeline { t: (0..30).collect(), ..Default::default() };
        let alive = |t: u64| if (12..30).contains(&t) { 0.0 } else { 1.0 };
        tl.series.insert("host.processes.lb".into(), (0..30).map(|t| Some(alive(t))).collect());
        tl.series.insert(
            "host.processes.db-replica".into(),
            (0..30).map(|t| Some(if t == 5 { 0.0 } else { 2.0 })).collect(),
        );
        let dead = died(&tl);
        assert_eq!(dead.len(), 1, "a one-second dip is not a death: {dead:?}");
        assert_eq!((dead[0].tier.as_str(), dead[0].started_s, dead[0].ended_s), ("lb", 12.0, None));
        let mut v = verdict("db_replica", Some(13));
        apply(&mut v, &tl);
        assert_eq!(v.bottleneck, "lb", "{}", v.sentence);
        assert!(v.sentence.contains("its server died"), "{}", v.sentence);
        // The same death caused by an injected fault is that fault's, named once.
        tl.faults.push(FaultRecord {
            target: "haproxy".into(),
            tier: "lb".into(),
            action: "kill".into(),
            started_s: 11.5,
            outcome: "ok".into(),
            ..Default::default()
        });
        assert!(died(&tl).is_empty());
    }

    #[test]
    fn trouble_elsewhere_keeps_its_tier_and_the_fault_is_still_named() {
        let mut v = verdict("db_replica", Some(50));
        v.confidence = "medium".into();
        apply(&mut v, &timeline("cache", 10.0, Some(20.0)));
        assert_eq!(v.bottleneck, "db_replica");
        assert_eq!(v.faults[0].tier, "cache");
        assert!(v.sentence.contains("From t = 10 s to t = 19 s the cache tier was down"), "{}", v.sentence);
        // A verdict that found no resource at its limit names the fault the load suffered from.
        let mut weak = verdict("app", Some(50));
        apply(&mut weak, &timeline("lb", 10.0, Some(13.0)));
        assert_eq!(weak.bottleneck, "lb", "{}", weak.sentence);
        let mut none = verdict("none", None);
        apply(&mut none, &timeline("cache", 10.0, None));
        assert_eq!((none.bottleneck.as_str(), none.faults[0].window), ("none", [10, 59]));
    }
}
