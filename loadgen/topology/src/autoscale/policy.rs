//! Target tracking, as AWS Auto Scaling does it: keep a metric (mean CPU utilization of the
//! fleet, or p99 latency) near a target by sizing the fleet in proportion,
//! desired = ⌈in-service × metric / target⌉, clamped to [min, max]; act at most once per
//! cooldown; leave a new instance out of the metric until its warm-up is over (it would pull
//! the mean down while it starts); scale in one instance at a time, only when nothing is
//! warming up, because removing capacity too early is what makes fleets oscillate.
//!
//! Pure: the controller (`controller.rs`) feeds it the time and the measurements and carries
//! out what it decides.

/// The policy's settings (times in seconds on the controller's clock).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    pub min: u32,
    pub max: u32,
    pub target: f64,
    pub scale_out_cooldown_s: f64,
    pub scale_in_cooldown_s: f64,
    pub warmup_s: f64,
}

/// What to do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Hold,
    /// Add this many instances.
    Out(u32),
    /// Remove one instance.
    In,
}

/// The policy plus the memory of its last actions.
#[derive(Debug, Clone)]
pub struct TargetTracking {
    pub policy: Policy,
    last_out: Option<f64>,
    last_in: Option<f64>,
}

impl TargetTracking {
    pub fn new(policy: Policy) -> Self {
        Self { policy, last_out: None, last_in: None }
    }

    /// The fleet size the metric asks for, clamped to [min, max].
    pub fn desired(&self, in_service: u32, metric: f64) -> u32 {
        let p = &self.policy;
        let raw = (f64::from(in_service.max(1)) * metric / p.target.max(1e-9)).ceil();
        (raw.clamp(0.0, f64::from(u32::MAX)) as u32).clamp(p.min, p.max)
    }

    /// Decides at `now_s`. `fleet` is every instance (warming included), `warming` those still
    /// in warm-up, `metric` the aggregate over the warmed-up ones (None when unknown).
    pub fn decide(&mut self, now_s: f64, fleet: u32, warming: u32, metric: Option<f64>) -> Decision {
        let p = self.policy;
        // Below the minimum (an instance died): restore it at once, cooldown or not.
        if fleet < p.min {
            self.last_out = Some(now_s);
            return Decision::Out(p.min - fleet);
        }
        let Some(metric) = metric.filter(|m| m.is_finite()) else { return Decision::Hold };
        let in_service = fleet.saturating_sub(warming);
        let desired = self.desired(in_service, metric);
        let since = |t: Option<f64>| t.map_or(f64::INFINITY, |t| now_s - t);
        if desired > fleet && fleet < p.max {
            // Instances already warming count towards the desired fleet.
            if since(self.last_out) >= p.scale_out_cooldown_s
                && since(self.last_in) >= p.scale_in_cooldown_s.min(p.scale_out_cooldown_s)
            {
                self.last_out = Some(now_s);
                return Decision::Out((desired - fleet).min(p.max - fleet));
            }
        } else if desired < in_service
            && fleet > p.min
            && warming == 0
            && since(self.last_in) >= p.scale_in_cooldown_s
            && since(self.last_out) >= p.scale_in_cooldown_s
        {
            self.last_in = Some(now_s);
            return Decision::In;
        }
        Decision::Hold
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn policy() -> Policy {
        Policy { min: 1, max: 6, target: 0.5, scale_out_cooldown_s: 10.0, scale_in_cooldown_s: 30.0, warmup_s: 5.0 }
    }

    #[test]
    fn scales_out_in_proportion_then_waits_out_the_cooldown() {
        let mut t = TargetTracking::new(policy());
        // Two instances at 100% CPU against a 50% target: four are needed.
        assert_eq!(t.decide(0.0, 2, 0, Some(1.0)), Decision::Out(2));
        assert_eq!(t.decide(5.0, 4, 2, Some(1.0)), Decision::Hold, "cooldown");
        assert_eq!(t.decide(11.0, 4, 0, Some(0.9)), Decision::Out(2));
        assert_eq!(t.decide(30.0, 6, 0, Some(1.0)), Decision::Hold, "at max");
    }

    #[test]
    fn scales_in_one_at_a_time_and_not_while_warming() {
        let mut t = TargetTracking::new(policy());
        assert_eq!(t.decide(0.0, 4, 1, Some(0.1)), Decision::Hold, "an instance is warming");
        assert_eq!(t.decide(1.0, 4, 0, Some(0.1)), Decision::In);
        assert_eq!(t.decide(2.0, 3, 0, Some(0.1)), Decision::Hold, "scale-in cooldown");
        assert_eq!(t.decide(32.0, 3, 0, Some(0.1)), Decision::In);
    }

    #[test]
    fn restores_the_minimum_and_holds_without_a_metric() {
        let mut t = TargetTracking::new(Policy { min: 2, ..policy() });
        assert_eq!(t.decide(0.0, 1, 0, None), Decision::Out(1));
        assert_eq!(t.decide(1.0, 2, 0, None), Decision::Hold);
    }

    proptest! {
        #[test]
        fn never_leaves_min_max_and_respects_cooldowns(metrics in proptest::collection::vec(0.0f64..3.0, 1..200)) {
            let p = policy();
            let mut t = TargetTracking::new(p);
            let mut fleet = p.min;
            let mut outs: Vec<f64> = Vec::new();
            for (i, m) in metrics.iter().enumerate() {
                let now = i as f64;
                match t.decide(now, fleet, 0, Some(*m)) {
                    Decision::Out(n) => { prop_assert!(n >= 1); fleet += n; outs.push(now); }
                    Decision::In => fleet -= 1,
                    Decision::Hold => {}
                }
                prop_assert!(fleet >= p.min && fleet <= p.max, "fleet {}", fleet);
            }
            for w in outs.windows(2) {
                prop_assert!(w[1] - w[0] >= p.scale_out_cooldown_s);
            }
        }

        #[test]
        fn a_higher_metric_never_asks_for_fewer(n in 1u32..6, m in 0.0f64..3.0, extra in 0.0f64..3.0) {
            let t = TargetTracking::new(policy());
            prop_assert!(t.desired(n, m + extra) >= t.desired(n, m));
        }
    }
}
