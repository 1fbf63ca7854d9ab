//! A run's summary as the terminal prints it after the run (and `loadgen report` again).

use std::path::Path;

use loadgen_model::summary::Summary;

fn ms(us: u64) -> String {
    format!("{:.2} ms", us as f64 / 1000.0)
}

/// The summary as a few lines for the terminal.
pub fn terminal_text(s: &Summary, dir: &Path) -> String {
    let mut out = String::new();
    let all = &s.operations.all;
    out += &format!("run {}  ({} against {} {})\n", s.run_id, s.scenario.name, s.target.kind, s.target.url);
    for (name, op) in [("read", &s.operations.read), ("write", &s.operations.write), ("all", all)] {
        out += &format!(
            "  {name:<5} {:>8} done {:>6} err  {:>9.1}/s of {:>9.1}/s  p50 {}  p90 {}  p99 {}  p99.9 {}  max {}\n",
            op.completed,
            op.errors,
            op.achieved_rate,
            op.intended_rate,
            ms(op.latency_us.p50),
            ms(op.latency_us.p90),
            ms(op.latency_us.p99),
            ms(op.latency_us.p999),
            ms(op.latency_us.max),
        );
    }
    out += &format!(
        "  latency is measured from the intended send time; schedule lag p99 {} (max {})\n",
        ms(s.schedule_lag.lag_us.p99),
        ms(s.schedule_lag.lag_us.max)
    );
    out += &format!(
        "  generator: {} users, {:.2} CPU s, {:.1} µs/request, sending threads {:.0}% busy of {}\n",
        s.generator.users,
        s.generator.cpu_seconds,
        s.generator.cpu_us_per_request,
        s.generator.cpu_share * 100.0,
        s.generator.threads
    );
    out +=
        &format!("  in flight: at most {} at once (cap {})\n", s.generator.peak_in_flight, s.generator.max_in_flight);
    if s.generator.held_at_cap > 0 {
        out += &format!(
            "  the target held {} requests (the cap): {} sends left late waiting for a slot, charged from their intended time\n",
            s.generator.max_in_flight, s.generator.held_at_cap
        );
    }
    if s.generator.unsent_at_cap > 0 {
        out += &format!(
            "  {} sends never left: the target still held every slot when the run ended\n",
            s.generator.unsent_at_cap
        );
    }
    let v = &s.verification;
    out += &format!(
        "  writes read back: {} verified, {} lost, {} corrupted, {} unchecked\n",
        v.verified, v.lost, v.corrupted, v.unchecked
    );
    for (kind, n) in &s.errors_by_kind {
        out += &format!("  errors {kind}: {n}\n");
    }
    for c in &s.slo.checks {
        out += &format!(
            "  SLO {:<26} {} (observed {}, limit {})\n",
            c.name,
            if c.passed { "ok" } else { "BREACHED" },
            c.observed,
            c.limit
        );
    }
    for w in &s.generator.waived {
        out += &format!("  note: {w}\n");
    }
    if s.trustworthy && s.generator.waived.is_empty() {
        out += "  generator kept the schedule: results are trustworthy\n";
    } else if s.trustworthy {
        out += "  the run is judged: the late sends were the shared machine's, charged as latency\n";
    } else {
        out +=
            "  NOT TRUSTWORTHY: the generator could not keep its schedule; do not name a bottleneck from this run:\n";
        for r in &s.generator.reasons {
            out += &format!("    - {r}\n");
        }
    }
    if let Some(v) = &s.verdict {
        out += &format!("  verdict ({} confidence): {}\n", v.confidence, v.sentence);
    }
    if let Some(r) = &s.recommendation {
        if let Some(next_stage) = &r.next_stage {
            out += &format!(
                "  next stage: {} → {} ({}): {}; expected: {}\n",
                r.current_stage,
                next_stage,
                r.next_profile.as_deref().unwrap_or("-"),
                r.action,
                r.expected_gain
            );
        } else {
            out += &format!("  next: {} — {}\n", r.action, r.expected_gain);
        }
    }
    out += &capacity_lines(s);
    out += &crate::workers::terminal_lines(s);
    out += &format!("  report: {}\n", dir.join("index.html").display());
    out
}

/// The terminal's lines for a run's fleet and seed users (empty when it has neither).
pub fn capacity_lines(s: &Summary) -> String {
    let mut out = String::new();
    if let Some(f) = &s.fleet {
        let kind = if f.confined { "cores of boxes" } else { "cores, unconfined (the machine's)" };
        let all = &s.operations.all;
        let failed = match all.errors {
            0 => String::new(),
            _ => format!("; {:.0} with the failed answers", all.achieved_rate),
        };
        out += &format!(
            "  fleet: {:.3} {kind}; {:.0} req/s per core of fleet ({:.0} req/s answered without error in all{failed})\n",
            f.cores,
            f.rate_per_core,
            all.answered_rate()
        );
    }
    if let Some(u) = &s.seed_users {
        out += &format!(
            "  this stage holds about {} users of the seed's model ({:.0} req/s at peak, from {}); the scenario replays {}\n",
            loadgen_model::capacity::about(u.held),
            u.held_rate,
            u.basis,
            loadgen_model::capacity::about(u.replayed)
        );
    }
    out
}
