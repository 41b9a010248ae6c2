//! Pacing Lambda's API: one budget per quota, shared by every call of the run (AWS counts
//! them per account and region, for all callers together): the control plane (15 requests
//! a second, not adjustable; `[aws] control_plane_rate` takes less), GetFunction (100 a
//! second) and GetPolicy (15). Each call waits for its slot, so imprint sends no faster than
//! the quota; a throttle (someone else spends the same budget) slows that budget down, and
//! calls that go through bring it back up. Invoke is not paced (its own concurrency limits).

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Lambda's control-plane quota: requests per second per account and region.
pub const CONTROL_PLANE_RATE: f64 = 15.0;
/// GetFunction's own quota.
pub const GET_FUNCTION_RATE: f64 = 100.0;
/// GetPolicy's own quota.
pub const GET_POLICY_RATE: f64 = 15.0;
/// The slowest a budget goes after throttles.
const SLOWEST: f64 = 0.5;
/// What a throttle leaves of the rate.
const BACK_OFF: f64 = 0.7;
/// Calls through without a throttle to win back one request a second (a tenth of the rate
/// a second, whatever the rate).
const RECOVER_AFTER: u32 = 10;
/// Throttles heard within this time of a slow-down are the same crowding (calls sent at the
/// same rate, answered together): they slow the budget down once.
const CALM: Duration = Duration::from_secs(1);

/// Which of Lambda's quotas a call counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quota {
    /// Every API but Invoke, GetFunction and GetPolicy.
    ControlPlane,
    /// GetFunction.
    GetFunction,
    /// GetPolicy.
    GetPolicy,
    /// Invoke: not paced here.
    Invoke,
}

impl Quota {
    /// The quota of the API `api` (`UpdateFunctionCode`, `GetFunction`).
    pub fn of(api: &str) -> Self {
        match api {
            "GetFunction" => Self::GetFunction,
            "GetPolicy" => Self::GetPolicy,
            "Invoke" => Self::Invoke,
            _ => Self::ControlPlane,
        }
    }
}

/// One budget: the next free slot, at the current rate.
#[derive(Debug)]
struct Bucket {
    /// The most it may send (the quota, or what the configuration leaves it).
    ceiling: f64,
    state: Mutex<BucketState>,
}

/// The slot `next` holds (never before `now`), with `next` moved one slot on at `rate`.
fn next_slot(next: &mut Option<Instant>, now: Instant, rate: f64) -> Instant {
    let slot = next.map_or(now, |n| n.max(now));
    *next = Some(slot + Duration::from_secs_f64(1.0 / rate));
    slot
}

#[derive(Debug)]
struct BucketState {
    rate: f64,
    next: Option<Instant>,
    through: u32,
    throttles: u64,
    /// When it last slowed down.
    slowed: Option<Instant>,
}

impl Bucket {
    fn new(ceiling: f64) -> Self {
        Self {
            ceiling,
            state: Mutex::new(BucketState {
                rate: ceiling,
                next: None,
                through: 0,
                throttles: 0,
                slowed: None,
            }),
        }
    }

    /// Takes the next slot: when the call may go.
    fn reserve(&self, now: Instant) -> Instant {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let rate = state.rate;
        next_slot(&mut state.next, now, rate)
    }

    fn heard(&self, throttled: bool, now: Instant) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if throttled {
            state.through = 0;
            state.throttles += 1;
            if state.slowed.is_none_or(|at| now.duration_since(at) >= CALM) {
                state.rate = (state.rate * BACK_OFF).max(SLOWEST);
                state.slowed = Some(now);
            }
        } else {
            state.through += 1;
            if state.through >= RECOVER_AFTER {
                state.through = 0;
                state.rate = (state.rate + 1.0).min(self.ceiling);
            }
        }
    }

    fn rate(&self) -> f64 {
        self.state.lock().map_or(self.ceiling, |s| s.rate)
    }

    fn throttles(&self) -> u64 {
        self.state.lock().map_or(0, |s| s.throttles)
    }
}

/// Every Lambda budget of one run.
#[derive(Debug)]
pub struct Pace {
    control_plane: Bucket,
    get_function: Bucket,
    get_policy: Bucket,
    /// When the next change may start (see [`Pace::next_start`]).
    starts: Mutex<Option<Instant>>,
}

impl Pace {
    /// Budgets at AWS's quotas times `scale` (1 but for a stand-in that scales them, in
    /// tests), the control plane's at `control_plane` when given (at most the quota).
    pub fn new(control_plane: Option<f64>, scale: f64) -> Self {
        let quota = CONTROL_PLANE_RATE * scale;
        let control = control_plane.map_or(quota, |r| r.clamp(SLOWEST, quota));
        Self {
            control_plane: Bucket::new(control),
            get_function: Bucket::new(GET_FUNCTION_RATE * scale),
            get_policy: Bucket::new(GET_POLICY_RATE * scale),
            starts: Mutex::new(None),
        }
    }

    /// Waits for the turn of the next change to start, spaced at the control plane's rate
    /// now: changes queue here, where a stop (a failure, Ctrl-C) can still keep them from
    /// starting, rather than in the budget, where every queued call is already sent.
    pub async fn next_start(&self) {
        let rate = self.control_plane.rate();
        let slot = {
            let mut next = self.starts.lock().unwrap_or_else(|e| e.into_inner());
            next_slot(&mut next, Instant::now(), rate)
        };
        tokio::time::sleep_until(slot.into()).await;
    }

    fn bucket(&self, quota: Quota) -> Option<&Bucket> {
        match quota {
            Quota::ControlPlane => Some(&self.control_plane),
            Quota::GetFunction => Some(&self.get_function),
            Quota::GetPolicy => Some(&self.get_policy),
            Quota::Invoke => None,
        }
    }

    /// Waits for a slot of `quota`'s budget.
    pub async fn wait(&self, quota: Quota) {
        let Some(bucket) = self.bucket(quota) else {
            return;
        };
        let slot = bucket.reserve(Instant::now());
        tokio::time::sleep_until(slot.into()).await;
    }

    /// Tells `quota`'s budget how a call went: throttled, or through.
    pub fn heard(&self, quota: Quota, throttled: bool) {
        if let Some(bucket) = self.bucket(quota) {
            bucket.heard(throttled, Instant::now());
        }
    }

    /// The control plane's rate now (requests a second).
    pub fn control_plane_rate(&self) -> f64 {
        self.control_plane.rate()
    }

    /// Throttles heard, all budgets together.
    pub fn throttles(&self) -> u64 {
        [&self.control_plane, &self.get_function, &self.get_policy]
            .iter()
            .map(|b| b.throttles())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_follow_the_rate_and_a_throttle_slows_it_until_calls_go_through() {
        let bucket = Bucket::new(10.0);
        let start = Instant::now();
        let slots: Vec<Duration> = (0..5).map(|_| bucket.reserve(start) - start).collect();
        assert_eq!(slots[0], Duration::ZERO);
        assert_eq!(slots[4], Duration::from_millis(400));
        // A slot is never before now, and never given twice.
        let later = start + Duration::from_secs(5);
        assert_eq!(bucket.reserve(later), later);
        assert_eq!(bucket.reserve(later), later + Duration::from_millis(100));

        bucket.heard(true, later);
        assert!((bucket.rate() - 7.0).abs() < 1e-9);
        // Throttles of the same crowding slow it down once; later ones again.
        bucket.heard(true, later + Duration::from_millis(500));
        assert!((bucket.rate() - 7.0).abs() < 1e-9);
        for i in 1..=20 {
            bucket.heard(true, later + CALM * i);
        }
        assert!((bucket.rate() - SLOWEST).abs() < 1e-9);
        for _ in 0..RECOVER_AFTER * 100 {
            bucket.heard(false, later);
        }
        assert!(
            (bucket.rate() - 10.0).abs() < 1e-9,
            "back up to its ceiling, no further"
        );
        assert_eq!(bucket.throttles(), 22);
    }

    #[test]
    fn each_api_counts_against_its_own_quota_and_the_configured_rate_stays_under_awss() {
        assert_eq!(Quota::of("GetFunction"), Quota::GetFunction);
        assert_eq!(Quota::of("GetFunctionConfiguration"), Quota::ControlPlane);
        assert_eq!(Quota::of("UpdateFunctionCode"), Quota::ControlPlane);
        assert_eq!(Quota::of("Invoke"), Quota::Invoke);
        assert!((Pace::new(Some(40.0), 1.0).control_plane_rate() - 15.0).abs() < 1e-9);
        assert!((Pace::new(Some(5.0), 1.0).control_plane_rate() - 5.0).abs() < 1e-9);
        assert!((Pace::new(None, 5.0).control_plane_rate() - 75.0).abs() < 1e-9);
    }
}
