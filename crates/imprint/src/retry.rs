//! The one retry policy of every network call imprint makes (registries, Lambda): which
//! failures are worth another attempt, and when the next one goes: bounded, jittered
//! backoff that honours `Retry-After`, every attempt inside the call's time limit.

use std::time::{Duration, Instant};

/// Attempts per call, the first included.
pub const ATTEMPTS: u32 = 8;
/// The first backoff; it doubles up to [`MAX_BACKOFF`], and each wait is drawn from
/// `[backoff/2, backoff]`.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Whether an HTTP status asks for another attempt: throttled (429), or trouble on the
/// server's side that passes (500, 502, 503, 504). Anything else is the answer.
pub fn retryable_status(status: u16) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504)
}

/// A `Retry-After` value in seconds (a date is not honoured: the backoff decides then),
/// at most a minute.
pub fn retry_after(value: Option<&str>) -> Option<Duration> {
    value
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s).min(MAX_RETRY_AFTER))
}

/// The attempts of one call: how long to wait before the next one, until the attempts or
/// the call's time run out.
#[derive(Debug)]
pub struct Attempts {
    deadline: Instant,
    attempt: u32,
    backoff: Duration,
}

impl Attempts {
    /// The first attempt of a call that may take `budget` in all.
    pub fn within(budget: Duration) -> Self {
        Self {
            deadline: Instant::now() + budget,
            attempt: 1,
            backoff: FIRST_BACKOFF,
        }
    }

    /// Time left for the call.
    pub fn left(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// The attempt under way, from 1.
    pub fn number(&self) -> u32 {
        self.attempt
    }

    /// The wait before another attempt (at least what the server asked, `retry_after`), or
    /// `None` when no attempt is left or the wait would end past the call's time.
    pub fn next(&mut self, retry_after: Option<Duration>) -> Option<Duration> {
        let jittered = self.backoff.mul_f64(0.5 + fastrand::f64() * 0.5);
        let wait = retry_after.map_or(jittered, |a| a.max(jittered));
        if self.attempt >= ATTEMPTS || Instant::now() + wait >= self.deadline {
            return None;
        }
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        self.attempt += 1;
        Some(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_within_bounds_and_stop_at_the_count_or_the_time() {
        let mut attempts = Attempts::within(Duration::from_secs(3600));
        let mut waits = Vec::new();
        while let Some(wait) = attempts.next(None) {
            waits.push(wait);
        }
        assert_eq!(waits.len() as u32, ATTEMPTS - 1);
        assert!(waits[0] >= FIRST_BACKOFF / 2 && waits[0] <= FIRST_BACKOFF);
        assert!(waits.iter().all(|w| *w <= MAX_BACKOFF));
        // A server's Retry-After is a floor; past the deadline there is no next attempt.
        let mut attempts = Attempts::within(Duration::from_secs(10));
        assert_eq!(
            attempts.next(Some(Duration::from_secs(5))),
            Some(Duration::from_secs(5))
        );
        assert_eq!(attempts.next(Some(Duration::from_secs(30))), None);
    }

    #[test]
    fn what_is_worth_another_attempt() {
        for status in [429, 500, 502, 503, 504] {
            assert!(retryable_status(status), "{status}");
        }
        for status in [400, 401, 403, 404, 405, 409, 501] {
            assert!(!retryable_status(status), "{status}");
        }
        assert_eq!(retry_after(Some(" 2 ")), Some(Duration::from_secs(2)));
        assert_eq!(retry_after(Some("0.5")), Some(Duration::from_millis(500)));
        assert_eq!(retry_after(Some("3600")), Some(MAX_RETRY_AFTER));
        assert_eq!(retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
        assert_eq!(retry_after(Some("-1")), None);
    }
}
