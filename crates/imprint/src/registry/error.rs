//! What went wrong talking to a registry, and what to do about it.

use std::time::Duration;

use reqwest::{Method, StatusCode};

use crate::retry;

/// What went wrong talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// No connection (refused, DNS, TLS, timeout).
    #[error("cannot reach the registry at {address}: {source}")]
    Unreachable {
        /// Where the request went.
        address: String,
        /// Why it failed.
        #[source]
        source: reqwest::Error,
    },
    /// The connection closed once the exchange had begun (reset, or cut mid-body).
    #[error(
        "the registry at {address} closed the connection in the middle of a request: {source}"
    )]
    Dropped {
        /// Where the request went.
        address: String,
        /// Why it failed.
        #[source]
        source: reqwest::Error,
    },
    /// An unexpected status.
    #[error("{method} {url} answered {status}: {body}")]
    Status {
        /// Request method.
        method: Method,
        /// Request URL.
        url: String,
        /// Response status.
        status: StatusCode,
        /// The start of the response body.
        body: String,
        /// How long the registry asked to wait before another try (`Retry-After`).
        retry_after: Option<Duration>,
    },
    /// The registry stored other bytes than imprint sent.
    #[error("{what}: the registry reports digest {actual}, imprint computed {expected}")]
    DigestMismatch {
        /// What was checked.
        what: String,
        /// Computed before the push.
        expected: String,
        /// Reported by the registry.
        actual: String,
    },
    /// The registry wants credentials it was not given, or refused the ones it got.
    #[error("the registry {host} refused access{}", from.as_ref().map(|s| format!(" with the credentials from {s}")).unwrap_or_else(|| ": it wants credentials, and none were found for this host".into()))]
    Denied {
        /// The registry host.
        host: String,
        /// Where the refused credentials came from.
        from: Option<String>,
    },
    /// An answer larger than imprint reads into memory for its kind.
    #[error("{url} answered with more than {limit} bytes, more than a {what} can be; not read")]
    TooLarge {
        /// The request URL.
        url: String,
        /// What was read.
        what: &'static str,
        /// The limit in bytes.
        limit: u64,
    },
    /// Credentials would go in clear text to another machine.
    #[error("imprint does not send the credentials for {host} over plain HTTP to {address}, which is not this machine")]
    Insecure {
        /// The registry host the credentials are for.
        host: String,
        /// Where they would go.
        address: String,
    },
    /// The registry does not allow deleting manifests.
    #[error("the registry of {repository} does not allow deleting images (it answered 405)")]
    DeleteUnsupported {
        /// The repository.
        repository: String,
    },
    /// A local blob file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl RegistryError {
    /// Whether the fix is in the user's input (exit code 2).
    pub fn is_usage(&self) -> bool {
        matches!(self, Self::Insecure { .. } | Self::DeleteUnsupported { .. })
    }

    /// What to do about it, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Denied { host, from: None } => Some(format!(
                "log in with `docker login {host}` (imprint reads the docker config and its credential helpers)"
            )),
            Self::Denied { host, .. } => Some(format!(
                "check the user and password for {host}, or log in again with `docker login {host}`"
            )),
            Self::Insecure { .. } => Some(
                "use an https endpoint, or a proxy on this machine ([registry] endpoint / --endpoint)".into(),
            ),
            Self::DeleteUnsupported { .. } => Some(
                "enable deletes on the registry (CNCF distribution: `storage: delete: enabled: true`), or clean it with its own tools".into(),
            ),
            Self::Dropped { .. } => Some(
                "the registry (or a proxy on the way) cut the connection again and again; imprint retried what it could: run it again, and check the registry's logs and any proxy's limits".into(),
            ),
            Self::Status { status, .. } if retry::retryable_status(status.as_u16()) => Some(
                "the registry was busy or failing on every try; run it again later".into(),
            ),
            Self::Unreachable { source, .. } if source.is_timeout() => Some(
                "the registry did not answer in time: check the address and [registry] endpoint, or allow more with --call-timeout / [network] call_timeout".into(),
            ),
            Self::Unreachable { source, .. } => {
                let text = format!("{source:?}").to_ascii_lowercase();
                if text.contains("certificate") || text.contains("unknownissuer") {
                    Some("the registry's TLS certificate is not trusted: pass its CA with --ca-cert PEM (or [registry] ca_cert)".into())
                } else {
                    Some("check the address, that the registry is running, and [registry] endpoint; --offline computes the tag without it".into())
                }
            }
            _ => None,
        }
    }
}

/// A request failed before an answer came: the registry could not be reached, or the
/// connection closed under the request.
pub(super) fn unreachable(address: String) -> impl FnOnce(reqwest::Error) -> RegistryError {
    move |source| match dropped(&source) {
        true => RegistryError::Dropped { address, source },
        false => RegistryError::Unreachable { address, source },
    }
}

/// After a failed write, what the registry holds (`Registry::repeating` asks before it
/// writes again).
pub(super) enum Settled<T> {
    /// The first try took: this is its result.
    Done(T),
    /// Nothing of it is there: try again.
    Missing,
    /// Something else is there: trying again could overwrite it; the failure stands.
    Other,
}

impl RegistryError {
    /// Whether another try may succeed: the registry was busy or in trouble (429, 500, 502,
    /// 503, 504), or the connection dropped once the exchange had begun. A registry that
    /// cannot be reached at all, refuses, or does not answer in time is the answer.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Status { status, .. } => retry::retryable_status(status.as_u16()),
            Self::Dropped { .. } => true,
            _ => false,
        }
    }

    /// How long the registry asked to wait, when it did.
    pub(super) fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Whether a request failed because the connection closed under it (reset, cut mid-body),
/// rather than never opening or timing out.
fn dropped(error: &reqwest::Error) -> bool {
    if error.is_connect() || error.is_timeout() || error.is_builder() || error.is_redirect() {
        return false;
    }
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            if matches!(
                io.kind(),
                ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof
            ) {
                return true;
            }
        }
        if let Some(h) = e.downcast_ref::<hyper::Error>() {
            if h.is_incomplete_message() || h.is_canceled() || h.is_closed() {
                return true;
            }
        }
        cause = e.source();
    }
    false
}

/// A `Retry-After` header, in seconds.
pub(super) fn retry_after_header(response: &reqwest::Response) -> Option<Duration> {
    retry::retry_after(
        response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok()),
    )
}
