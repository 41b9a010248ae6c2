//! A thin client for the OCI distribution API: blobs and manifests, HEAD/GET/PUT (uploads:
//! `upload.rs`). Plain HTTP for loopback registries, HTTPS otherwise; `[registry] endpoint` changes
//! where requests go, never the image names.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use sha2::{Digest as _, Sha256};
use url::Url;

use super::credentials::{self, Credential};
use super::error::{retry_after_header, unreachable, RegistryError, Settled};
use super::reference::Repository;
use crate::error::UsageError;
use crate::timeouts::Timeouts;

/// Manifest media types imprint reads.
pub const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// A manifest as fetched.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// Its exact bytes.
    pub bytes: Vec<u8>,
    /// `Content-Type`.
    pub media_type: String,
    /// `sha256:` of the bytes.
    pub digest: String,
}

impl Manifest {
    /// An image manifest's layers, bottom first: digest and compressed size; `None` when it
    /// is no image manifest (not JSON, or no `layers`).
    pub fn layers(&self) -> Option<Vec<(String, u64)>> {
        let parsed: serde_json::Value = serde_json::from_slice(&self.bytes).ok()?;
        let layers = parsed["layers"].as_array()?;
        Some(
            layers
                .iter()
                .filter_map(|l| Some((l["digest"].as_str()?.to_string(), l["size"].as_u64()?)))
                .collect(),
        )
    }
}

/// `sha256:<hex>` of bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", imprint_context::hex(&Sha256::digest(bytes)))
}

/// What a blob upload sends; opened again for a retry after an authentication challenge.
#[derive(Debug, Clone)]
pub enum BlobBody {
    /// Bytes in memory (configs, small artifacts).
    Bytes(Vec<u8>),
    /// A file, streamed.
    File(std::path::PathBuf),
}

impl BlobBody {
    pub(super) fn open(&self) -> Result<reqwest::Body, RegistryError> {
        match self {
            Self::Bytes(b) => Ok(b.clone().into()),
            Self::File(path) => {
                let file = std::fs::File::open(path).map_err(|source| RegistryError::Io {
                    path: path.display().to_string(),
                    source,
                })?;
                let stream = tokio_util::io::ReaderStream::with_capacity(
                    tokio::fs::File::from_std(file),
                    256 * 1024,
                );
                Ok(reqwest::Body::wrap_stream(stream))
            }
        }
    }
}

/// The `Docker-Content-Digest` header, if the answer has one.
fn reported_digest(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The body of `response`, refused unread when its Content-Length says it is longer than
/// `limit`, and as soon as it streams past `limit`.
pub(super) async fn read_limited(
    mut response: reqwest::Response,
    limit: u64,
    what: &'static str,
) -> Result<Vec<u8>, RegistryError> {
    let url = response.url().to_string();
    let too_large = || RegistryError::TooLarge {
        url: url.clone(),
        what,
        limit,
    };
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(unreachable(response_origin(&url)))?
    {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// At most `limit` bytes of the body, as text (for error messages).
async fn read_prefix(mut response: reqwest::Response, limit: u64) -> String {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() as u64 >= limit {
            body.truncate(limit as usize);
            break;
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

/// `scheme://host:port` of a URL, for messages.
fn response_origin(url: &str) -> String {
    Url::parse(url).map_or_else(|_| url.to_string(), |u| u.origin().ascii_serialization())
}

/// The `Docker-Content-Digest` a registry reports for what it stored must be the one imprint
/// computed before sending.
pub(super) fn check_reported_digest(
    response: &reqwest::Response,
    expected: &str,
    what: impl FnOnce() -> String,
) -> Result<(), RegistryError> {
    match response
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
    {
        Some(actual) if actual != expected => Err(RegistryError::DigestMismatch {
            what: what(),
            expected: expected.into(),
            actual: actual.into(),
        }),
        _ => Ok(()),
    }
}

/// The HTTP clients registries are spoken to with, made once per run and shared.
#[derive(Debug, Clone)]
pub struct Http {
    /// For every request but blob uploads: connect, read and whole-request limits.
    pub(super) requests: reqwest::Client,
    /// For blob uploads: no read limit (reqwest counts it from the start of the request, so
    /// it would cut a long upload); each upload gets a whole-request limit by its size.
    pub(super) uploads: reqwest::Client,
}

/// A client for one repository.
#[derive(Debug, Clone)]
pub struct Registry {
    pub(super) http: Http,
    pub(super) base: Url,
    /// The credential for the repository's host, if any source has one.
    pub(super) credential: Option<Credential>,
    /// The `Authorization` value the registry accepted last (Basic or Bearer).
    pub(super) authorization: Arc<Mutex<Option<String>>>,
    /// How long one request may take (the HTTP client's default; uploads get more).
    pub(super) call_timeout: Duration,
    /// The repository this client talks to.
    pub repository: Repository,
}

/// The largest manifest or index read (the distribution spec's limit for manifests).
pub const MAX_MANIFEST: u64 = 4 << 20;
/// The largest blob read into memory (journal records, image configs, input manifests).
pub const MAX_SMALL_BLOB: u64 = 32 << 20;
/// The largest page of a tag list.
const MAX_TAG_PAGE: u64 = 16 << 20;
/// The most of an error answer read (its start goes into the message).
const MAX_ERROR_BODY: u64 = 64 << 10;
/// The slowest upload rate a blob's time limit allows for, in bytes per second.
pub(super) const MIN_UPLOAD_RATE: u64 = 256 << 10;

/// The HTTP clients registries are spoken to with: imprint's user agent, at most five
/// redirects (reqwest drops `Authorization` when one leaves the host), the time limits of
/// `timeouts` (a whole request within `call`, uploads longer by their size), and besides the
/// system's roots the PEM certificates in `ca_cert`.
pub fn http_client(ca_cert: Option<&Path>, timeouts: &Timeouts) -> Result<Http, UsageError> {
    let roots = ca_roots(ca_cert)?;
    let build = |read_timeout: Option<Duration>| {
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("imprint/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::limited(5))
            .connect_timeout(timeouts.connect)
            .timeout(timeouts.call);
        if let Some(read) = read_timeout {
            builder = builder.read_timeout(read);
        }
        for cert in &roots {
            builder = builder.add_root_certificate(cert.clone());
        }
        builder.build().map_err(|e| {
            UsageError::new(format!("cannot set up HTTP: {e}"), "report this as a bug")
        })
    };
    Ok(Http {
        requests: build(Some(timeouts.read))?,
        uploads: build(None)?,
    })
}

/// The extra CA certificates in the PEM file `ca_cert`.
fn ca_roots(ca_cert: Option<&Path>) -> Result<Vec<reqwest::Certificate>, UsageError> {
    let mut roots = Vec::new();
    if let Some(path) = ca_cert {
        let pem = std::fs::read(path).map_err(|e| {
            UsageError::new(
                format!("cannot read the CA certificate {}: {e}", path.display()),
                "check --ca-cert / [registry] ca_cert",
            )
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            UsageError::new(
                format!("{} holds no PEM certificate: {e}", path.display()),
                "pass the CA certificate in PEM form",
            )
        })?;
        roots.extend(certs);
    }
    Ok(roots)
}

impl Registry {
    /// A client for `repository` with an HTTP client of its own (see [`http_client`]) and the
    /// host's credential from the docker config or a credential helper.
    pub fn new(
        repository: Repository,
        endpoint: Option<&str>,
        ca_cert: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let timeouts = Timeouts::default();
        let http = http_client(ca_cert, &timeouts)?;
        let mut registry = Self::with_http(http, repository, endpoint, timeouts.call)?;
        registry.credential = credentials::for_host(&registry.repository.host)?;
        Ok(registry)
    }

    /// A client for `repository` over a shared HTTP client, sending requests to `endpoint`
    /// when given, without a credential yet ([`Registry::set_credential`]).
    pub fn with_http(
        http: Http,
        repository: Repository,
        endpoint: Option<&str>,
        call_timeout: Duration,
    ) -> Result<Self, UsageError> {
        let base = match endpoint {
            Some(e) => Url::parse(e).map_err(|err| {
                UsageError::new(
                    format!("bad registry endpoint `{e}`: {err}"),
                    "write it as a URL, e.g. http://127.0.0.1:5000",
                )
            })?,
            None => {
                let scheme = if repository.is_loopback() {
                    "http"
                } else {
                    "https"
                };
                Url::parse(&format!("{scheme}://{}", repository.host)).map_err(|err| {
                    UsageError::new(
                        format!("bad registry host `{}`: {err}", repository.host),
                        "check [registry] repository",
                    )
                })?
            }
        };
        Ok(Self {
            http,
            base,
            credential: None,
            authorization: Arc::new(Mutex::new(None)),
            call_timeout,
            repository,
        })
    }

    /// Uses `credential` for the repository's host instead of what the docker config says.
    pub fn set_credential(&mut self, credential: Credential) {
        self.credential = Some(credential);
    }

    /// The host requests go to (the endpoint's, when one is set).
    pub fn target_host(&self) -> String {
        match (self.base.host_str(), self.base.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => String::new(),
        }
    }

    /// The address requests go to, for messages.
    pub fn address(&self) -> String {
        self.base.as_str().trim_end_matches('/').to_string()
    }

    pub(super) fn url(&self, tail: &str) -> Url {
        let mut url = self.base.clone();
        url.set_path(&format!("/v2/{}/{tail}", self.repository.path));
        url
    }

    pub(super) async fn unexpected(
        method: Method,
        url: &Url,
        response: reqwest::Response,
    ) -> RegistryError {
        let status = response.status();
        let retry_after = retry_after_header(&response);
        let body = read_prefix(response, MAX_ERROR_BODY).await;
        RegistryError::Status {
            method,
            url: url.to_string(),
            status,
            body: body
                .chars()
                .take(300)
                .collect::<String>()
                .trim()
                .to_string(),
            retry_after,
        }
    }

    /// `GET /v2/`: the registry answers (200, or 401 asking for credentials).
    pub async fn ping(&self) -> Result<(), RegistryError> {
        let mut url = self.base.clone();
        url.set_path("/v2/");
        let response = self.send(|h| Ok(h.get(url.clone()))).await?;
        match response.status() {
            s if s.is_success() || s == StatusCode::UNAUTHORIZED => Ok(()),
            _ => Err(Self::unexpected(Method::GET, &url, response).await),
        }
    }

    /// Whether the repository holds the blob.
    pub async fn has_blob(&self, digest: &str) -> Result<bool, RegistryError> {
        let url = self.url(&format!("blobs/{digest}"));
        let response = self.send(|h| Ok(h.head(url.clone()))).await?;
        match response.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(Self::unexpected(Method::HEAD, &url, response).await),
        }
    }

    /// Uploads a blob held in memory.
    pub async fn put_blob_bytes(&self, bytes: Vec<u8>) -> Result<String, RegistryError> {
        let digest = sha256_digest(&bytes);
        if !self.has_blob(&digest).await? {
            let size = bytes.len() as u64;
            self.put_blob(&digest, BlobBody::Bytes(bytes), size).await?;
        }
        Ok(digest)
    }

    /// Uploads a blob file, streamed, unless the registry has it; whether it was sent.
    pub async fn put_blob_file(&self, digest: &str, path: &Path) -> Result<bool, RegistryError> {
        if self.has_blob(digest).await? {
            return Ok(false);
        }
        let io = |source| RegistryError::Io {
            path: path.display().to_string(),
            source,
        };
        let size = std::fs::metadata(path).map_err(io)?.len();
        self.put_blob(digest, BlobBody::File(path.to_path_buf()), size)
            .await?;
        Ok(true)
    }

    /// A small blob's bytes (journal records, input manifests), checked against its digest.
    pub async fn get_blob(&self, digest: &str) -> Result<Option<Vec<u8>>, RegistryError> {
        let url = self.url(&format!("blobs/{digest}"));
        let response = self.send(|h| Ok(h.get(url.clone()))).await?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => {
                let bytes = read_limited(response, MAX_SMALL_BLOB, "blob read into memory").await?;
                let actual = sha256_digest(&bytes);
                if actual != digest {
                    return Err(RegistryError::DigestMismatch {
                        what: format!("blob {digest} of {}", self.repository),
                        expected: digest.to_string(),
                        actual,
                    });
                }
                Ok(Some(bytes))
            }
            _ => Err(Self::unexpected(Method::GET, &url, response).await),
        }
    }

    /// Every tag in the repository (empty when the repository does not exist yet).
    pub async fn tags(&self) -> Result<Vec<String>, RegistryError> {
        #[derive(serde::Deserialize)]
        struct TagList {
            tags: Option<Vec<String>>,
        }
        let mut url = self.url("tags/list");
        let mut tags = Vec::new();
        loop {
            let response = self.send(|h| Ok(h.get(url.clone()))).await?;
            match response.status() {
                StatusCode::NOT_FOUND => return Ok(tags),
                s if s.is_success() => {}
                _ => return Err(Self::unexpected(Method::GET, &url, response).await),
            }
            // Pagination: `Link: </v2/…/tags/list?n=…&last=…>; rel="next"`.
            let next = response
                .headers()
                .get(reqwest::header::LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(|link| {
                    link.split_once('<')
                        .and_then(|(_, rest)| rest.split_once('>'))
                        .map(|(u, _)| u.to_string())
                });
            let body = read_limited(response, MAX_TAG_PAGE, "page of a tag list").await?;
            let page: TagList =
                serde_json::from_slice(&body).map_err(|e| RegistryError::Status {
                    method: Method::GET,
                    url: url.to_string(),
                    status: StatusCode::OK,
                    body: format!("the tag list is not JSON: {e}"),
                    retry_after: None,
                })?;
            tags.extend(page.tags.unwrap_or_default());
            match next.and_then(|n| url.join(&n).ok()) {
                Some(n) => url = n,
                None => return Ok(tags),
            }
        }
    }

    /// The manifest at a tag or digest, if any.
    pub async fn get_manifest(&self, reference: &str) -> Result<Option<Manifest>, RegistryError> {
        let url = self.url(&format!("manifests/{reference}"));
        let response = self
            .send(|h| Ok(h.get(url.clone()).header(ACCEPT, ACCEPT_MANIFESTS)))
            .await?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => {
                let media_type = response
                    .headers()
                    .get(CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                let reported = reported_digest(&response);
                let bytes = read_limited(response, MAX_MANIFEST, "manifest").await?;
                let digest = sha256_digest(&bytes);
                // What the registry calls it (by reference or header) must be what it sent.
                let claimed = reference.starts_with("sha256:").then_some(reference);
                for claim in claimed.into_iter().chain(reported.as_deref()) {
                    if claim != digest {
                        return Err(RegistryError::DigestMismatch {
                            what: format!("manifest {} as read", self.repository.uri(reference)),
                            expected: claim.to_string(),
                            actual: digest,
                        });
                    }
                }
                Ok(Some(Manifest {
                    digest,
                    bytes,
                    media_type,
                }))
            }
            _ => Err(Self::unexpected(Method::GET, &url, response).await),
        }
    }

    /// The digest of the manifest at a tag, if any.
    pub async fn manifest_digest(&self, reference: &str) -> Result<Option<String>, RegistryError> {
        let url = self.url(&format!("manifests/{reference}"));
        let response = self
            .send(|h| Ok(h.head(url.clone()).header(ACCEPT, ACCEPT_MANIFESTS)))
            .await?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => match response
                .headers()
                .get("docker-content-digest")
                .and_then(|v| v.to_str().ok())
            {
                Some(d) => Ok(Some(d.to_string())),
                // Not every registry sends the header on HEAD; the bytes decide.
                None => Ok(self.get_manifest(reference).await?.map(|m| m.digest)),
            },
            _ => Err(Self::unexpected(Method::HEAD, &url, response).await),
        }
    }

    /// The compressed bytes of an image's layers (what a pull moves), from its manifest;
    /// `None` when the reference names nothing (or no single-platform image).
    pub async fn image_size(&self, reference: &str) -> Result<Option<u64>, RegistryError> {
        let Some(manifest) = self.get_manifest(reference).await? else {
            return Ok(None);
        };
        Ok(manifest
            .layers()
            .map(|layers| layers.iter().map(|(_, size)| size).sum()))
    }

    /// Stores a manifest under a tag and checks the registry computed the same digest.
    pub async fn put_manifest(
        &self,
        tag: &str,
        media_type: &str,
        bytes: Vec<u8>,
    ) -> Result<String, RegistryError> {
        let digest = sha256_digest(&bytes);
        let url = self.url(&format!("manifests/{tag}"));
        let put = || async {
            let response = self
                .send_on(&self.http.requests, |h| {
                    Ok(h.put(url.clone())
                        .header(CONTENT_TYPE, media_type)
                        .body(bytes.clone()))
                })
                .await?;
            if response.status() != StatusCode::CREATED {
                return Err(Self::unexpected(Method::PUT, &url, response).await);
            }
            check_reported_digest(&response, &digest, || {
                format!("manifest {}", self.repository.uri(tag))
            })?;
            Ok(digest.clone())
        };
        // Before a manifest goes again, its tag is read back: the first try may have taken
        // (the answer was lost), or another writer's manifest may stand there now (a rival's
        // lease claim), which a second write must not replace.
        let read_back = || async {
            Ok(match self.manifest_digest(tag).await? {
                Some(there) if there == digest => Settled::Done(digest.clone()),
                Some(_) => Settled::Other,
                None => Settled::Missing,
            })
        };
        self.repeating(self.call_timeout, put, read_back).await
    }
}
