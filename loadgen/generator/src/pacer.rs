//! The pacing core every Goose user runs, independent of Goose: take the next ticket of
//! the shared [`Schedule`], wait for its intended time, and after the request charge the
//! latency from that intended time. It uses Tokio's clock, so tests drive it with Tokio's
//! paused (fake) clock.
//!
//! Tokio's timer fires on whole-millisecond ticks, rounding *up*: sleeping until the intended
//! time would make every send leave 0–1 ms late, and that lateness, charged as latency, adds
//! most of a millisecond to every figure of a fast target. So a user sleeps until two ticks
//! before the intended time and sends as soon as it wakes: the send leaves within the two
//! milliseconds before its intended time, even when the OS wakes the thread up to a tick late
//! (the arrival process keeps its rate, with ms jitter). Latency is charged from the intended time when the send is late (coordinated
//! omission: the target or the generator held it up) and from the actual send when it is
//! early (the request really started then).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::time::Instant;

use crate::keys::Operation;
use crate::recorder::{Outcome, Recorder};
use crate::schedule::{Schedule, Ticket};

/// The resolution of Tokio's timer: a sleep ends on the first tick at or after its deadline.
const TIMER_TICK: Duration = Duration::from_millis(1);

/// How early a user aims to wake: two ticks, so a wake-up the OS delays by up to a tick
/// (a busy 2-core machine does) still sends before the intended time instead of charging
/// that delay to the target as latency.
const WAKE_EARLY: Duration = Duration::from_millis(2 * TIMER_TICK.as_millis() as u64);

/// Shared by every user of one run.
#[derive(Debug)]
pub struct Pacer {
    pub schedule: Arc<Schedule>,
    pub recorder: Arc<Recorder>,
    /// The schedule's time zero, set by the first user to ask (after a head start so that
    /// the other users are up).
    start: OnceLock<Instant>,
    head_start: Duration,
    in_flight: AtomicUsize,
}

/// A send whose intended time has come.
#[derive(Debug, Clone, Copy)]
pub struct DueSend {
    pub ticket: Ticket,
    pub intended_at: Instant,
    pub sent_at: Instant,
}

/// What a user should do next.
#[derive(Debug)]
pub enum Next {
    /// Send now.
    Send(DueSend),
    /// Every ticket is handed out; `last` is true for the user who saw nothing left in
    /// flight (it ends the run).
    Exhausted { last: bool },
    /// The run was stopped while waiting.
    Stopped,
}

impl Pacer {
    pub fn new(schedule: Arc<Schedule>, recorder: Arc<Recorder>, head_start: Duration) -> Self {
        Self { schedule, recorder, start: OnceLock::new(), head_start, in_flight: AtomicUsize::new(0) }
    }

    /// The schedule's time zero, once the first user has asked for a ticket.
    pub fn start(&self) -> Option<Instant> {
        self.start.get().copied()
    }

    /// Pins the schedule's time zero to `at` (a common start of several workers) instead of
    /// a head start from the first user's ask; only before any user has asked.
    pub fn start_at(&self, at: Instant) {
        let _ = self.start.set(at);
    }

    /// Takes a ticket and sleeps until its intended time; `stopped` is polled every 100 ms.
    /// The caller records the send with [`Pacer::sent`] once it leaves.
    pub async fn next(&self, stopped: impl Fn() -> bool) -> Next {
        let start = *self.start.get_or_init(|| Instant::now() + self.head_start);
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let Some(ticket) = self.schedule.claim() else {
            let left = self.in_flight.fetch_sub(1, Ordering::SeqCst) - 1;
            return Next::Exhausted { last: left == 0 };
        };
        let intended_at = start + ticket.intended;
        let wake_at = intended_at.checked_sub(WAKE_EARLY).unwrap_or(intended_at);
        loop {
            let now = Instant::now();
            if now >= wake_at {
                break;
            }
            if stopped() {
                self.in_flight.fetch_sub(1, Ordering::SeqCst);
                return Next::Stopped;
            }
            tokio::time::sleep_until(wake_at.min(now + Duration::from_millis(100))).await;
        }
        let sent_at = Instant::now();
        Next::Send(DueSend { ticket, intended_at, sent_at })
    }

    /// Records that `send` left at its `sent_at`. `held`: it was late because the run's
    /// in-flight cap was reached after its intended time (the target held every slot): that
    /// lateness is the target's, counted apart, not the generator's lag.
    pub fn sent(&self, send: &DueSend, held: bool) {
        let late = send.sent_at.saturating_duration_since(send.intended_at);
        if held && late > WAKE_EARLY {
            self.recorder.record_held_at_cap(send.ticket.intended);
            self.recorder.record_send(send.ticket.intended, Duration::ZERO);
        } else {
            self.recorder.record_send(send.ticket.intended, late);
        }
    }

    /// Records the end of `send`: latency from its intended time, or from its actual send when
    /// that was earlier, to now. Returns the service time (actual send → now) for Goose.
    pub fn finish(&self, send: &DueSend, op: Operation, outcome: Outcome) -> Duration {
        let done = Instant::now();
        let charged_from = send.intended_at.min(send.sent_at);
        self.recorder.record(op, send.ticket.intended, done - charged_from, outcome);
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        done - send.sent_at
    }

    /// Gives up `send` without a request (nothing to send); nothing is recorded.
    pub fn abandon(&self, _send: &DueSend) {
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::LoadShape;

    /// `users` simulated users on the fake clock; each request takes `service(k)`.
    async fn simulate(
        rate: f64,
        seconds: u64,
        users: usize,
        service: impl Fn(u64) -> Duration + Send + Sync + 'static,
    ) -> Arc<Pacer> {
        let schedule = Arc::new(Schedule::new(LoadShape::Constant { rate }.curve(Duration::from_secs(seconds))));
        let pacer = Arc::new(Pacer::new(schedule, Arc::new(Recorder::new(Duration::ZERO)), Duration::ZERO));
        let service = Arc::new(service);
        let tasks: Vec<_> = (0..users)
            .map(|_| {
                let (pacer, service) = (pacer.clone(), service.clone());
                tokio::spawn(async move {
                    loop {
                        match pacer.next(|| false).await {
                            Next::Send(send) => {
                                pacer.sent(&send, false);
                                tokio::time::sleep(service(send.ticket.index)).await;
                                pacer.finish(&send, Operation::Read, Outcome::Ok);
                            }
                            Next::Exhausted { .. } | Next::Stopped => return,
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        pacer
    }

    #[tokio::test(start_paused = true)]
    async fn sends_follow_the_schedule_on_a_fake_clock() {
        let pacer = simulate(1000.0, 10, 16, |_| Duration::from_millis(2)).await;
        let run = pacer.recorder.snapshot();
        assert_eq!(run.sent, 10_000);
        for second in 0..10 {
            let done = run.tags[0].per_second[second].len() as f64;
            assert!((done - 1000.0).abs() <= 10.0, "second {second}: {done} completed");
        }
        // Enough users: nothing leaves late (users wake a timer tick early), and latency is
        // the 2 ms service time, not inflated by the timer's rounding.
        assert!(run.lag.total.max() <= 1000, "lag {}", run.lag.total.max());
        let p99 = run.tags[0].total.value_at_quantile(0.99);
        assert!((1990..=2100).contains(&p99), "p99 {p99}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_stall_is_charged_from_the_intended_time() {
        // Requests 2000..2004 hit a 500 ms stall; all 4 users wait in it, so sends queue up.
        let pacer = simulate(1000.0, 5, 4, |k| {
            if (2000..2004).contains(&k) {
                Duration::from_millis(500)
            } else {
                Duration::from_millis(1)
            }
        })
        .await;
        let run = pacer.recorder.snapshot();
        let latency = &run.tags[0].total;
        // About 500 sends were intended during the stall: their latency counts from then.
        assert!(latency.value_at_quantile(0.99) >= 400_000, "p99 {}", latency.value_at_quantile(0.99));
        assert!(latency.value_at_quantile(0.5) < 10_000);
        assert!(run.lag.total.max() >= 490_000, "the lag shows the users were all busy: {}", run.lag.total.max());
        // The generator-side view (service time only) would have seen just 4 slow requests.
        assert_eq!(latency.len(), 5000);
    }
}
