//! Talking to Lambda: one client without the SDK's own retries, and imprint's one retry
//! policy (`crate::retry`: throttling with its retry-after, 5xx, dropped connections, and
//! Lambda's conflicts) around every call, all within the call's time limit.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_lambda::config::http::HttpResponse;
use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};

use super::pace::{Pace, Quota};
use crate::retry;

/// Functions read at once.
pub const PARALLEL_READS: usize = 8;

/// The Lambda client: the SDK's (its own retries off) with imprint's one retry policy and
/// time limit around every call, and where it sends requests, for messages.
#[derive(Debug, Clone)]
pub struct Lambda {
    /// The SDK's client; call it through [`Lambda::call`].
    pub sdk: aws_sdk_lambda::Client,
    /// The Resource Groups Tagging API's client (functions by tag, outside Lambda's quotas);
    /// call it through [`Lambda::call_unpaced`].
    pub tagging: aws_sdk_resourcegroupstagging::Client,
    /// `https://…`, or Lambda in a region.
    endpoint: String,
    /// How long one call may take, its retries included.
    budget: Duration,
    /// The run's budgets of Lambda's quotas, shared by every call.
    pace: Arc<Pace>,
}

impl Lambda {
    /// A client for `config`'s region and endpoint; each call within `budget`, paced by
    /// `pace`.
    pub fn new(config: &aws_config::SdkConfig, budget: Duration, pace: Pace) -> Self {
        let conf = aws_sdk_lambda::config::Builder::from(config)
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build();
        let endpoint = match (config.endpoint_url(), config.region()) {
            (Some(url), _) => url.to_string(),
            (None, Some(region)) => format!("Lambda in {region}"),
            (None, None) => "Lambda".to_string(),
        };
        let tagging = aws_sdk_resourcegroupstagging::config::Builder::from(config)
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build();
        Self {
            sdk: aws_sdk_lambda::Client::from_conf(conf),
            tagging: aws_sdk_resourcegroupstagging::Client::from_conf(tagging),
            endpoint,
            budget,
            pace: Arc::new(pace),
        }
    }

    /// The run's budgets of Lambda's quotas.
    pub fn pace(&self) -> &Pace {
        &self.pace
    }

    /// `items`, each when its turn to start a change comes ([`Pace::next_start`]), or at
    /// once when `stopped()` (a failure, Ctrl-C: what is left does not start). Each item's
    /// work is made only then, so a group of thousands holds in memory only the changes in
    /// flight.
    pub fn in_turn<'a, T: 'a>(
        &'a self,
        items: impl IntoIterator<Item = T> + 'a,
        stopped: impl Fn() -> bool + Copy + 'a,
    ) -> impl futures_util::Stream<Item = T> + 'a {
        use futures_util::StreamExt as _;
        futures_util::stream::iter(items).then(move |item| async move {
            if !stopped() {
                self.pace.next_start().await;
            }
            item
        })
    }
}

impl Lambda {
    /// Runs `call` until it succeeds, fails for good, runs out of attempts, or the call's time
    /// runs out (an attempt still running then is dropped); `what` names the call in the log
    /// and begins with the API's name, whose quota each attempt waits for.
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
        let quota = Quota::of(what.split(' ').next().unwrap_or(what));
        let pace = &self.pace;
        // The first attempt's turn comes before its time starts (waiting behind this run's own
        // calls is not the service's slowness); a retry's turn counts.
        pace.wait(quota).await;
        let mut first = true;
        self.call_unpaced(what, || {
            let attempt = call();
            let turn = !std::mem::replace(&mut first, false);
            async move {
                if turn {
                    pace.wait(quota).await;
                }
                let result = attempt.await;
                let throttled = result.as_ref().err().and_then(|e| code(e));
                pace.heard(quota, throttled.is_some_and(retry::is_throttle));
                result
            }
        })
        .await
    }

    /// Runs `call` (of another API than Lambda's, with quotas of its own) under the retry
    /// policy and the call's time limit, unpaced.
    pub async fn call_unpaced<T, E, F, Fut>(
        &self,
        what: &str,
        call: F,
    ) -> Result<T, SdkError<E, HttpResponse>>
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    {
        retry::aws(
            self.budget,
            what,
            |e| self.error_text(e),
            || self.no_answer(),
            call,
        )
        .await
    }

    /// Every page of a listing, each through [`Lambda::call`]: `call(marker)` asks for the
    /// page after `marker` (none: the first), `read` takes the page's items and gives its
    /// next marker. `failed` says what could not be listed. A marker that comes back again
    /// is an error, not a loop.
    pub async fn pages<P, E, F, Fut>(
        &self,
        what: &str,
        failed: &str,
        mut call: F,
        mut read: impl FnMut(P) -> Option<String>,
    ) -> anyhow::Result<()>
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        F: FnMut(Option<String>) -> Fut,
        Fut: Future<Output = Result<P, SdkError<E, HttpResponse>>>,
    {
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .call(what, || call(marker.clone()))
                .await
                .map_err(|e| anyhow::anyhow!("{failed}: {}", self.error_text(&e)))?;
            match read(page).filter(|next| !next.is_empty()) {
                Some(next) if marker.as_deref() == Some(next.as_str()) => {
                    anyhow::bail!(
                        "{failed}: {} answered the same page marker twice",
                        self.endpoint
                    )
                }
                Some(next) => marker = Some(next),
                None => return Ok(()),
            }
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
