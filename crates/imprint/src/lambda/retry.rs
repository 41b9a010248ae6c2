//! Talking to Lambda: one client without the SDK's own retries, and one retry policy of
//! imprint's (conflicts, throttling with its retry-after, 5xx, dropped connections) around
//! every call, with bounded, jittered backoff.

use std::future::Future;
use std::time::Duration;

use aws_sdk_lambda::config::http::HttpResponse;
use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};

/// Attempts per call, the first included.
const ATTEMPTS: u32 = 8;
/// The first backoff; it doubles up to [`MAX_BACKOFF`], and each wait is drawn from
/// `[backoff/2, backoff]`.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// A Lambda client whose retries are imprint's (see [`retrying`]).
pub fn client(config: &aws_config::SdkConfig) -> aws_sdk_lambda::Client {
    let conf = aws_sdk_lambda::config::Builder::from(config)
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_lambda::Client::from_conf(conf)
}

/// Whether an error is worth another attempt, and how long the service asked to wait.
fn transient<E: ProvideErrorMetadata>(
    error: &SdkError<E, HttpResponse>,
) -> Option<Option<Duration>> {
    match error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            Some(None)
        }
        SdkError::ServiceError(inner) => {
            let raw = inner.raw();
            let status = raw.status().as_u16();
            let code = inner.err().code().unwrap_or_default();
            let retryable = status == 429
                || status >= 500
                || matches!(
                    code,
                    "ResourceConflictException"
                        | "TooManyRequestsException"
                        | "ThrottlingException"
                        | "ServiceException"
                );
            if !retryable {
                return None;
            }
            let after = raw
                .headers()
                .get("retry-after")
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(|s| Duration::from_secs_f64(s).min(MAX_RETRY_AFTER));
            Some(after)
        }
        _ => None,
    }
}

/// Runs `call` until it succeeds, fails for good, or runs out of attempts; `what` names the
/// call in the log.
pub async fn retrying<T, E, F, Fut>(what: &str, mut call: F) -> Result<T, SdkError<E, HttpResponse>>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
{
    let mut backoff = FIRST_BACKOFF;
    let mut attempt = 1;
    loop {
        let error = match call().await {
            Ok(value) => return Ok(value),
            Err(e) => e,
        };
        let Some(after) = transient(&error) else {
            return Err(error);
        };
        if attempt >= ATTEMPTS {
            return Err(error);
        }
        let jittered = backoff.mul_f64(0.5 + fastrand::f64() * 0.5);
        let wait = after.map_or(jittered, |a| a.max(jittered));
        tracing::info!(
            "{what}: {} (attempt {attempt} of {ATTEMPTS}); retrying in {} ms",
            error_text(&error),
            wait.as_millis()
        );
        tokio::time::sleep(wait).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
        attempt += 1;
    }
}

/// A short description of an SDK error: the service's code and message, or the transport's.
pub fn error_text<E>(error: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match error {
        SdkError::ServiceError(inner) => {
            let e = inner.err();
            match (e.code(), e.message()) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => code.to_string(),
                _ => format!("HTTP {}", inner.raw().status().as_u16()),
            }
        }
        other => aws_sdk_lambda::error::DisplayErrorContext(other).to_string(),
    }
}

/// The service error code, if the service answered with one.
pub fn code<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>) -> Option<&str> {
    error.as_service_error().and_then(|e| e.code())
}
