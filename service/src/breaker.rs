//! A circuit breaker for optional backends (the cache, read replicas): after a failure the
//! backend is left alone for a cooldown, so a dead server costs one timeout per cooldown
//! instead of one (or two) per request. After the cooldown one caller is let through as a
//! trial; the readiness prober's successful ping closes the breaker as well.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

#[derive(Debug)]
pub struct Breaker {
    base: Instant,
    cooldown_ms: u64,
    /// Milliseconds since `base` until which calls are refused; 0 = closed.
    open_until: AtomicU64,
    trips: AtomicU64,
}

impl Breaker {
    pub fn new(cooldown: Duration) -> Self {
        Self {
            base: Instant::now(),
            cooldown_ms: (cooldown.as_millis() as u64).max(1),
            open_until: AtomicU64::new(0),
            trips: AtomicU64::new(0),
        }
    }

    /// Never 0, so 0 can mean "closed".
    fn now_ms(&self) -> u64 {
        self.base.elapsed().as_millis() as u64 + 1
    }

    /// Whether a call may go to the backend now. While open, no; once the cooldown is over,
    /// exactly one caller gets `true` (the trial) and the rest wait another cooldown.
    pub fn allow(&self) -> bool {
        let until = self.open_until.load(Ordering::Acquire);
        if until == 0 {
            return true;
        }
        let now = self.now_ms();
        now >= until
            && self
                .open_until
                .compare_exchange(until, now + self.cooldown_ms, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }

    /// The backend answered: close.
    pub fn success(&self) {
        self.open_until.store(0, Ordering::Release);
    }

    /// The backend failed or timed out: open for a cooldown.
    pub fn failure(&self) {
        if self.open_until.swap(self.now_ms() + self.cooldown_ms, Ordering::AcqRel) == 0 {
            self.trips.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Open now (calls are being refused), without taking the trial.
    pub fn is_open(&self) -> bool {
        let until = self.open_until.load(Ordering::Acquire);
        until != 0 && self.now_ms() < until
    }

    /// How many times it went from closed to open.
    pub fn trips(&self) -> u64 {
        self.trips.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_on_failure_lets_one_trial_through_after_the_cooldown_and_closes_on_success() {
        let b = Breaker::new(Duration::from_millis(50));
        assert!(b.allow() && b.allow(), "closed lets everything through");
        b.failure();
        assert!(b.is_open() && !b.allow(), "open refuses");
        std::thread::sleep(Duration::from_millis(60));
        assert!(!b.is_open());
        assert!(b.allow(), "the first caller after the cooldown is the trial");
        assert!(!b.allow(), "the others wait while the trial runs");
        b.success();
        assert!(b.allow() && !b.is_open());
        assert_eq!(b.trips(), 1);
    }

    #[test]
    fn a_failed_trial_opens_it_again() {
        let b = Breaker::new(Duration::from_millis(30));
        b.failure();
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.allow());
        b.failure();
        assert!(!b.allow());
        assert_eq!(b.trips(), 1, "still the same outage");
    }
}
