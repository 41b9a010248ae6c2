//! The retry policy (`crate::retry`) on registry requests: what is safe to send again as it
//! is (reads, deletes, the `POST` that opens an upload), and what is repeated only after the
//! registry is asked whether the first try took (a manifest read back at its tag, a blob
//! looked up by its digest, an upload started over from its first byte). Which failures are
//! transient is the error's to say (`RegistryError::is_transient`).

use std::future::Future;
use std::time::Duration;

use super::client::Registry;
use super::error::{retry_after_header, RegistryError, Settled};
use crate::retry::{self, Attempts, ATTEMPTS};

impl Registry {
    /// Sends a request that is safe to send again as it is (a read, a delete, the `POST`
    /// that opens an upload), again after a transient failure, within the call's time.
    pub(super) async fn send(
        &self,
        build: impl Fn(&reqwest::Client) -> Result<reqwest::RequestBuilder, RegistryError>,
    ) -> Result<reqwest::Response, RegistryError> {
        self.send_within(self.call_timeout, build).await
    }

    /// [`send`](Self::send) within `budget` (a blob read that may take longer than a call).
    pub(super) async fn send_within(
        &self,
        budget: Duration,
        build: impl Fn(&reqwest::Client) -> Result<reqwest::RequestBuilder, RegistryError>,
    ) -> Result<reqwest::Response, RegistryError> {
        let mut attempts = Attempts::within(budget);
        loop {
            // Past the first try, each gets what is left of the call's time.
            let left = attempts.left();
            let first = attempts.number() == 1;
            let sent = self
                .send_on(&self.http.requests, |h| {
                    build(h).map(|b| if first { b } else { b.timeout(left) })
                })
                .await;
            let (failure, after) = match &sent {
                Ok(response) if !retry::retryable_status(response.status().as_u16()) => {
                    return sent
                }
                Ok(response) => (
                    format!(
                        "the registry at {} answered {}",
                        self.address(),
                        response.status()
                    ),
                    retry_after_header(response),
                ),
                Err(e) if e.is_transient() => (e.to_string(), None),
                Err(_) => return sent,
            };
            let attempt = attempts.number();
            // Out of tries, the last answer (or failure) is the caller's to report.
            let Some(wait) = attempts.next(after) else {
                return sent;
            };
            note_retry(&failure, attempt, wait);
            tokio::time::sleep(wait).await;
        }
    }

    /// Runs `attempt` (a write that is not safe to send again as it is) under the retry
    /// policy: after a transient failure, `settled` asks the registry what it holds now, and
    /// only when nothing of it is there does the write go again.
    pub(super) async fn repeating<T, A, AF, S, SF>(
        &self,
        budget: Duration,
        mut attempt: A,
        mut settled: S,
    ) -> Result<T, RegistryError>
    where
        A: FnMut() -> AF,
        AF: Future<Output = Result<T, RegistryError>>,
        S: FnMut() -> SF,
        SF: Future<Output = Result<Settled<T>, RegistryError>>,
    {
        let mut attempts = Attempts::within(budget);
        loop {
            let error = match attempt().await {
                Ok(done) => return Ok(done),
                Err(e) if e.is_transient() => e,
                Err(e) => return Err(e),
            };
            match settled().await? {
                Settled::Done(done) => return Ok(done),
                Settled::Other => return Err(error),
                Settled::Missing => {}
            }
            let number = attempts.number();
            let Some(wait) = attempts.next(error.retry_after()) else {
                return Err(error);
            };
            note_retry(&error.to_string(), number, wait);
            tokio::time::sleep(wait).await;
        }
    }
}

fn note_retry(failure: &str, attempt: u32, wait: Duration) {
    tracing::info!(
        "{failure} (attempt {attempt} of {ATTEMPTS}); retrying in {} ms",
        wait.as_millis()
    );
}
