//! The one retry policy of every network call imprint makes (registries, Lambda, ECR, STS,
//! CloudWatch): which failures are worth another attempt, and when the next one goes:
//! bounded, jittered backoff that honours `Retry-After`, every attempt inside the call's
//! time limit.

use std::future::Future;
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::retry::ErrorKind;

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

/// Whether an AWS service error code says the caller was throttled (Lambda's, and other
/// services').
pub fn is_throttle(code: &str) -> bool {
    matches!(
        code,
        "TooManyRequestsException" | "ThrottlingException" | "Throttling"
    )
}

/// Whether an AWS SDK error is worth another attempt, and how long the service asked to
/// wait: no answer in time, a connection that failed, an answer cut short, a retryable
/// status, or a throttling or conflict code (Lambda's `ResourceConflictException`: an
/// update under way).
fn aws_transient<E: ProvideErrorMetadata>(
    error: &SdkError<E, HttpResponse>,
) -> Option<Option<Duration>> {
    match error {
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => Some(None),
        // The connection failed, timed out or was cut (the client calls that transient); not
        // a missing credential or a bad setting, which are the answer.
        SdkError::DispatchFailure(failure)
            if failure.is_io()
                || failure.is_timeout()
                || matches!(
                    failure.as_other(),
                    Some(
                        ErrorKind::TransientError
                            | ErrorKind::ThrottlingError
                            | ErrorKind::ServerError
                    )
                ) =>
        {
            Some(None)
        }
        SdkError::ServiceError(inner) => {
            let raw = inner.raw();
            let code = inner.err().code().unwrap_or_default();
            let retryable = retryable_status(raw.status().as_u16())
                || is_throttle(code)
                || matches!(code, "ResourceConflictException" | "ServiceException");
            retryable.then(|| retry_after(raw.headers().get("retry-after")))
        }
        _ => None,
    }
}

/// Runs an AWS SDK call (`call` makes one attempt) under the policy, within `budget`;
/// `describe` words an error for the log. An attempt still running when the time is up is
/// dropped, and `no_answer` is the error then.
pub async fn aws<T, E, F, Fut>(
    budget: Duration,
    what: &str,
    describe: impl Fn(&SdkError<E, HttpResponse>) -> String,
    no_answer: impl Fn() -> String,
    mut call: F,
) -> Result<T, SdkError<E, HttpResponse>>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
{
    let mut attempts = Attempts::within(budget);
    loop {
        let error = match tokio::time::timeout(attempts.left(), call()).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(e)) => e,
            Err(_) => return Err(SdkError::timeout_error(no_answer())),
        };
        let Some(after) = aws_transient(&error) else {
            return Err(error);
        };
        let attempt = attempts.number();
        let Some(wait) = attempts.next(after) else {
            return Err(error);
        };
        tracing::info!(
            "{what}: {} (attempt {attempt} of {ATTEMPTS}); retrying in {} ms",
            describe(&error),
            wait.as_millis()
        );
        tokio::time::sleep(wait).await;
    }
}

/// An AWS SDK client whose calls go through [`aws`], with its time limit (the SDK's own
/// retries are off: nothing is retried twice over).
#[derive(Debug, Clone)]
pub struct Aws<C> {
    /// The SDK's client; call it through [`Aws::call`].
    pub sdk: C,
    /// How long one call may take, its retries included.
    budget: Duration,
}

impl<C> Aws<C> {
    /// `sdk` (made with retries disabled) with calls of at most `budget`.
    pub fn new(sdk: C, budget: Duration) -> Self {
        Self { sdk, budget }
    }

    /// Runs `call` under the retry policy; `what` names it in the log.
    pub async fn call<T, E, F, Fut>(
        &self,
        what: &str,
        call: F,
    ) -> Result<T, SdkError<E, HttpResponse>>
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    {
        let describe = |e: &SdkError<E, HttpResponse>| match e.as_service_error() {
            Some(s) => s.code().unwrap_or("an error").to_string(),
            None => e.to_string(),
        };
        let budget = self.budget;
        let no_answer = || format!("no answer within {} s (--call-timeout)", budget.as_secs());
        aws(budget, what, describe, no_answer, call).await
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

    #[test]
    fn aws_errors_worth_another_attempt() {
        use aws_smithy_runtime_api::client::result::ConnectorError;
        use aws_smithy_types::error::ErrorMetadata;
        type Failed = SdkError<ErrorMetadata, HttpResponse>;
        let dispatch = |e: ConnectorError| Failed::dispatch_failure(e);
        assert!(aws_transient(&dispatch(ConnectorError::io("reset".into()))).is_some());
        assert!(aws_transient(&dispatch(ConnectorError::timeout("slow".into()))).is_some());
        assert!(aws_transient(&Failed::timeout_error("slow")).is_some());
        // A connection closed before the answer came (hyper's IncompleteMessage).
        let cut = ConnectorError::other("cut".into(), Some(ErrorKind::TransientError));
        assert!(aws_transient(&dispatch(cut)).is_some());
        // A missing credential or a bad setting is the answer, not a reason to wait.
        let credentials = ConnectorError::other("no credentials".into(), None);
        assert!(aws_transient(&dispatch(credentials)).is_none());
        assert!(aws_transient(&dispatch(ConnectorError::user("bad".into()))).is_none());
    }
}
