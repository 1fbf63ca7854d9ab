//! A common start: `--start-at <RFC 3339>` (or `--start-in 30s`, resolved once by whoever
//! renders the command) names the wall-clock instant every worker's schedule begins. A worker
//! sleeps until shortly before it, brings its users up, then pins its schedule's time zero to that instant on the
//! monotonic clock. A worker that reaches it too late starts at once and records by how much:
//! its share then no longer lines up with the others', and the merged run says so.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::DistributedError;

/// How far away (either way) a start instant may be: a start more than a day off is a typo
/// (a wrong date or zone), not a plan.
pub const MAX_DISTANCE: Duration = Duration::from_secs(24 * 3600);

/// How long before the start instant the worker wakes to bring its sending users up.
pub(crate) const LEAD: Duration = Duration::from_secs(1);

/// The least head start the users get (the same as an unsynchronised run's).
pub const MIN_HEAD: Duration = Duration::from_millis(200);

/// The start instant from `--start-at` or `--start-in`, checked against `now`.
pub fn resolve(
    start_at: Option<&str>,
    start_in: Option<Duration>,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, DistributedError> {
    let (flag, at) = match (start_at, start_in) {
        (Some(text), _) => {
            let at = DateTime::parse_from_rfc3339(text.trim()).map_err(|e| DistributedError::BadFlag {
                flag: "--start-at",
                reason: format!("`{text}` is not an RFC 3339 time such as 2026-12-02T06:30:00Z ({e})"),
            })?;
            ("--start-at", at.with_timezone(&Utc))
        }
        (None, Some(d)) => {
            let delta = chrono::Duration::from_std(d).map_err(|_| too_far("--start-in", d))?;
            ("--start-in", now + delta)
        }
        (None, None) => return Ok(None),
    };
    let distance = (at - now).abs().to_std().unwrap_or(Duration::MAX);
    if distance > MAX_DISTANCE {
        return Err(too_far(flag, distance));
    }
    Ok(Some(at))
}

fn too_far(flag: &'static str, distance: Duration) -> DistributedError {
    DistributedError::BadFlag {
        flag,
        reason: format!(
            "the start is {:.1} h away; more than a day off is refused (check the date and the time zone)",
            distance.as_secs_f64() / 3600.0
        ),
    }
}

/// Where a worker's schedule begins.
#[derive(Debug, Clone, Copy)]
pub struct StartPlan {
    /// The schedule's time zero on the monotonic clock.
    pub zero: Instant,
    /// Its wall-clock time.
    pub zero_wall: DateTime<Utc>,
    /// How much later than the instant asked for it is, milliseconds (negative: earlier).
    pub late_ms: f64,
}

/// Sleeps until [`LEAD`] before `at` (at once when that has passed): the worker then brings
/// its profiler and sending users up and pins its schedule with [`plan`].
pub async fn sleep_until_lead(at: DateTime<Utc>) {
    if let Ok(left) = (at - Utc::now()).to_std() {
        if left > LEAD {
            tokio::time::sleep(left - LEAD).await;
        }
    }
}

/// The schedule's time zero: `at` itself when there is still at least [`MIN_HEAD`] to go,
/// else [`MIN_HEAD`] from now, late by the difference.
pub fn plan(at: DateTime<Utc>) -> StartPlan {
    let (now, wall_now) = (Instant::now(), Utc::now());
    let head = (at - wall_now).to_std().ok().filter(|left| *left >= MIN_HEAD).unwrap_or(MIN_HEAD);
    let zero_wall = wall_now + chrono::Duration::from_std(head).unwrap_or_default();
    let late_ms = (zero_wall - at).num_microseconds().unwrap_or(i64::MAX) as f64 / 1000.0;
    StartPlan { zero: now + head, zero_wall, late_ms }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-02T06:00:00Z").unwrap().with_timezone(&Utc)
    }

    #[test]
    fn start_at_and_start_in_resolve() {
        let at = resolve(Some("2026-12-02T06:00:30+00:00"), None, now()).unwrap().unwrap();
        assert_eq!((at - now()).num_seconds(), 30);
        let at = resolve(None, Some(Duration::from_secs(45)), now()).unwrap().unwrap();
        assert_eq!((at - now()).num_seconds(), 45);
        assert!(resolve(None, None, now()).unwrap().is_none());
        // In the past is allowed: that worker starts late and says so.
        assert!(resolve(Some("2026-12-02T05:59:58Z"), None, now()).unwrap().is_some());
    }

    #[test]
    fn a_start_more_than_a_day_off_or_unreadable_names_its_flag() {
        let e = resolve(Some("2026-12-04T06:00:00Z"), None, now()).unwrap_err().to_string();
        assert!(e.starts_with("--start-at") && e.contains("more than a day"), "{e}");
        let e = resolve(Some("2026-11-30T06:00:00Z"), None, now()).unwrap_err().to_string();
        assert!(e.contains("more than a day"), "{e}");
        let e = resolve(None, Some(Duration::from_secs(2 * 86_400)), now()).unwrap_err().to_string();
        assert!(e.starts_with("--start-in"), "{e}");
        let e = resolve(Some("tomorrow"), None, now()).unwrap_err().to_string();
        assert!(e.starts_with("--start-at") && e.contains("RFC 3339"), "{e}");
    }

    #[tokio::test]
    async fn a_start_in_the_past_is_late_by_that_much() {
        let at = Utc::now() - chrono::Duration::seconds(2);
        sleep_until_lead(at).await;
        let late = plan(at);
        assert!((2_000.0..2_500.0).contains(&late.late_ms), "{}", late.late_ms);
        let at = Utc::now() + chrono::Duration::milliseconds(1_600);
        sleep_until_lead(at).await;
        let left = (at - Utc::now()).num_milliseconds();
        assert!((900..=1_100).contains(&left), "woke {left} ms before the start");
        let on_time = plan(at);
        assert!(on_time.late_ms.abs() < 1.0, "{}", on_time.late_ms);
    }
}
