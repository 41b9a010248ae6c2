//! Blob uploads: monolithic (`POST`, then one `PUT` with the digest) and streamed (one `PATCH`
//! of bytes as they are made, then a `PUT` with the digest and any rest), which lets a layer
//! go out while it is still being compressed.

use std::time::Duration;

use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use reqwest::{Method, StatusCode};
use url::Url;

use super::client::{check_reported_digest, BlobBody, Registry, MIN_UPLOAD_RATE};
use super::error::{RegistryError, Settled};

impl Registry {
    /// Uploads a blob in one `PUT`. After a transient failure the registry is asked for the
    /// blob by its digest (the upload may have taken), and else the upload starts over.
    pub async fn put_blob(
        &self,
        digest: &str,
        body: BlobBody,
        size: u64,
    ) -> Result<(), RegistryError> {
        let upload = || async {
            let url = self.start_upload().await?;
            self.finish_upload(url, digest, body.clone(), size).await
        };
        let stored = || async {
            Ok(match self.has_blob(digest).await? {
                true => Settled::Done(()),
                false => Settled::Missing,
            })
        };
        self.repeating(self.transfer_limit(size), upload, stored)
            .await
    }

    /// Starts a chunked upload.
    pub async fn begin_chunked(&self) -> Result<ChunkedUpload<'_>, RegistryError> {
        Ok(ChunkedUpload {
            url: self.start_upload().await?,
            registry: self,
        })
    }

    /// `POST …/blobs/uploads/`: where the upload goes on.
    async fn start_upload(&self) -> Result<Url, RegistryError> {
        let start = self.url("blobs/uploads/");
        let response = self
            .send(|h| Ok(h.post(start.clone()).header(CONTENT_LENGTH, 0)))
            .await?;
        if response.status() != StatusCode::ACCEPTED {
            return Err(Self::unexpected(Method::POST, &start, response).await);
        }
        self.next_location(Method::POST, &start, &response)
    }

    /// The upload's next URL from an answer's `Location`, kept on the configured endpoint
    /// even when the registry names its own host.
    pub(super) fn next_location(
        &self,
        method: Method,
        url: &Url,
        response: &reqwest::Response,
    ) -> Result<Url, RegistryError> {
        let bad = |body: String| RegistryError::Status {
            method: method.clone(),
            url: url.to_string(),
            status: response.status(),
            body,
            retry_after: None,
        };
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| bad("no Location header for the upload".into()))?;
        let mut next = url
            .join(location)
            .map_err(|e| bad(format!("bad upload Location `{location}`: {e}")))?;
        if next.host_str() != self.base.host_str() || next.port() != self.base.port() {
            let (path, query) = (next.path().to_string(), next.query().map(str::to_string));
            next = self.base.clone();
            next.set_path(&path);
            next.set_query(query.as_deref());
        }
        Ok(next)
    }

    /// The closing `PUT` with the digest (and the last bytes, if any), checked.
    pub(super) async fn finish_upload(
        &self,
        mut upload: Url,
        digest: &str,
        body: BlobBody,
        size: u64,
    ) -> Result<(), RegistryError> {
        upload.query_pairs_mut().append_pair("digest", digest);
        let limit = self.transfer_limit(size);
        let response = self
            .send_on(&self.http.uploads, |h| {
                Ok(h.put(upload.clone())
                    .timeout(limit)
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .header(CONTENT_LENGTH, size)
                    .body(body.open()?))
            })
            .await?;
        if response.status() != StatusCode::CREATED {
            return Err(Self::unexpected(Method::PUT, &upload, response).await);
        }
        check_reported_digest(&response, digest, || {
            format!("blob upload to {}", self.repository)
        })
    }

    /// A big body takes longer than one call; the limit grows with its size.
    pub(super) fn transfer_limit(&self, size: u64) -> Duration {
        self.call_timeout + Duration::from_secs(size / MIN_UPLOAD_RATE)
    }
}

/// A chunked upload under way: a streamed `PATCH`, then [`finish`](Self::finish).
#[derive(Debug)]
pub struct ChunkedUpload<'a> {
    registry: &'a Registry,
    url: Url,
}

impl ChunkedUpload<'_> {
    /// Sends `body` (byte chunks as they are made, `expected` bytes or so) as one `PATCH`
    /// with no length given: the whole blob, streamed. One part, however large, is what
    /// ECR takes as a layer upload (docker pushes so).
    pub async fn send_stream<S, B>(&mut self, body: S, expected: u64) -> Result<(), RegistryError>
    where
        S: futures_util::Stream<Item = Result<B, std::io::Error>> + Send + 'static,
        B: Send + 'static,
        bytes::Bytes: From<B>,
    {
        let registry = self.registry;
        let limit = registry.transfer_limit(expected);
        let url = self.url.clone();
        // A stream goes once: a second try (after an authentication challenge) is refused
        // as a status, which sends the layer whole instead.
        let body = std::sync::Mutex::new(Some(body));
        let response = registry
            .send_on(&registry.http.uploads, |h| {
                let stream = body.lock().ok().and_then(|mut b| b.take());
                let stream = stream.ok_or_else(|| RegistryError::Status {
                    method: Method::PATCH,
                    url: url.to_string(),
                    status: StatusCode::UNAUTHORIZED,
                    body: "a streamed upload cannot be sent again after a challenge".into(),
                    retry_after: None,
                })?;
                Ok(h.patch(url.clone())
                    .timeout(limit)
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .body(reqwest::Body::wrap_stream(stream)))
            })
            .await?;
        if response.status() != StatusCode::ACCEPTED {
            return Err(Registry::unexpected(Method::PATCH, &url, response).await);
        }
        self.url = registry.next_location(Method::PATCH, &url, &response)?;
        Ok(())
    }

    /// Closes the upload with the blob's digest and its last bytes.
    pub async fn finish(self, digest: &str, last: Vec<u8>) -> Result<(), RegistryError> {
        let size = last.len() as u64;
        self.registry
            .finish_upload(self.url, digest, BlobBody::Bytes(last), size)
            .await
    }

    /// Gives the upload up (the registry would drop it after a while anyway).
    pub async fn cancel(self) {
        self.registry.cancel_upload(&self.url).await;
    }
}

impl Registry {
    /// Gives up the upload session at `url` (a failure only leaves it for the registry to
    /// drop).
    pub(super) async fn cancel_upload(&self, url: &Url) {
        if let Err(e) = self.send(|h| Ok(h.delete(url.clone()))).await {
            tracing::debug!("could not cancel the upload {url}: {e}");
        }
    }
}
