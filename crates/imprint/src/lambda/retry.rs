//! Talking to Lambda: one client without the SDK's own retries, and imprint's one retry
//! policy (`crate::retry`: throttling with its retry-after, 5xx, dropped connections, and
//! Lambda's conflicts) around every call, all within the call's time limit.

use std::future::Future;
use std::time::Duration;

use aws_sdk_lambda::config::http::HttpResponse;
use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};

use crate::retry::{self, Attempts, ATTEMPTS};

/// Functions read at once.
pub const PARALLEL_READS: usize = 8;

/// The Lambda client: the SDK's (its own retries off) with imprint's one retry policy and
/// time limit around every call, and where it sends requests, for messages.
#[derive(Debug, Clone)]
pub struct Lambda {
    /// The SDK's client; call it through [`Lambda::call`].
    pub sdk: aws_sdk_lambda::Client,
    /// `https://…`, or Lambda in a region.
    endpoint: String,
    /// How long one call may take, its retries included.
    budget: Duration,
}

impl Lambda {
    /// A client for `config`'s region and endpoint; each call within `budget`.
    pub fn new(config: &aws_config::SdkConfig, budget: Duration) -> Self {
        let conf = aws_sdk_lambda::config::Builder::from(config)
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build();
        let endpoint = match (config.endpoint_url(), config.region()) {
            (Some(url), _) => url.to_string(),
            (None, Some(region)) => format!("Lambda in {region}"),
            (None, None) => "Lambda".to_string(),
        };
        Self {
            sdk: aws_sdk_lambda::Client::from_conf(conf),
            endpoint,
            budget,
        }
    }
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
            let retryable = retry::retryable_status(status)
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
            Some(retry::retry_after(raw.headers().get("retry-after")))
        }
        _ => None,
    }
}

impl Lambda {
    /// Runs `call` until it succeeds, fails for good, runs out of attempts, or the call's time
    /// runs out (an attempt still running then is dropped); `what` names the call in the log.
    pub async fn call<T, E, F, Fut>(
        &self,
        what: &str,
        mut call: F,
    ) -> Result<T, SdkError<E, HttpResponse>>
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    {
        let mut attempts = Attempts::within(self.budget);
        loop {
            let error = match tokio::time::timeout(attempts.left(), call()).await {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(e)) => e,
                Err(_) => return Err(SdkError::timeout_error(self.no_answer())),
            };
            let Some(after) = transient(&error) else {
                return Err(error);
            };
            let attempt = attempts.number();
            let Some(wait) = attempts.next(after) else {
                return Err(error);
            };
            tracing::info!(
                "{what}: {} (attempt {attempt} of {ATTEMPTS}); retrying in {} ms",
                self.error_text(&error),
                wait.as_millis()
            );
            tokio::time::sleep(wait).await;
        }
    }

    fn no_answer(&self) -> String {
        format!(
            "{} did not answer within {} s (--call-timeout / [network] call_timeout)",
            self.endpoint,
            self.budget.as_secs()
        )
    }

    /// A short description of an SDK error: the service's code and message, or the
    /// transport's with the endpoint it could not reach.
    pub fn error_text<E>(&self, error: &SdkError<E, HttpResponse>) -> String
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
            SdkError::TimeoutError(_) => self.no_answer(),
            other => format!(
                "cannot reach {}: {}",
                self.endpoint,
                aws_sdk_lambda::error::DisplayErrorContext(other)
            ),
        }
    }
}

/// The service error code, if the service answered with one.
pub fn code<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>) -> Option<&str> {
    error.as_service_error().and_then(|e| e.code())
}
