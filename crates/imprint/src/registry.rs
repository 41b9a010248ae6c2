//! A thin client for the OCI distribution API: blobs and manifests, HEAD/GET/PUT, monolithic
//! uploads. Plain HTTP for loopback registries, HTTPS otherwise; `[registry] endpoint` changes
//! where requests go, never the image names.

use std::fmt;
use std::net::IpAddr;
use std::path::Path;

use std::sync::{Arc, Mutex};

use reqwest::header::{
    ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE,
};
use reqwest::{Method, StatusCode};
use sha2::{Digest as _, Sha256};
use url::Url;

use crate::credentials::{self, Credential};
use crate::error::UsageError;

/// Manifest media types imprint reads.
pub const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// `host[:port]/path` of an image repository, without tag or digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    /// Registry host, with port when given.
    pub host: String,
    /// Repository path inside the registry.
    pub path: String,
}

impl Repository {
    /// Parses `[registry] repository`; the host is required (no Docker Hub defaulting).
    pub fn parse(text: &str) -> Result<Self, UsageError> {
        let bad = |why: &str| {
            UsageError::new(
                format!("bad repository `{text}`: {why}"),
                "write it as host/path, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/my-app or 127.0.0.1:5000/my-app",
            )
        };
        let (host, path) = text
            .split_once('/')
            .ok_or_else(|| bad("it has no registry host"))?;
        if !(host.contains('.') || host.contains(':') || host == "localhost") {
            return Err(bad("the part before the first `/` is not a registry host"));
        }
        if path.contains(':') || path.contains('@') {
            return Err(bad(
                "a repository takes no tag or digest; imprint chooses the tag",
            ));
        }
        let valid_component = |c: &str| {
            !c.is_empty()
                && c.chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || "._-".contains(ch))
                && c.starts_with(|ch: char| ch.is_ascii_alphanumeric())
                && c.ends_with(|ch: char| ch.is_ascii_alphanumeric())
        };
        if !path.split('/').all(valid_component) {
            return Err(bad(
                "path components are lower-case letters, digits and . _ - separators",
            ));
        }
        Ok(Self {
            host: host.to_string(),
            path: path.to_string(),
        })
    }

    /// `host/path:tag`, the image name Lambda is given.
    pub fn uri(&self, tag: &str) -> String {
        format!("{}/{}:{tag}", self.host, self.path)
    }

    /// Whether the host is on this machine (then plain HTTP is the default).
    pub fn is_loopback(&self) -> bool {
        let host = self
            .host
            .rsplit_once(':')
            .map_or(self.host.as_str(), |(h, _)| h);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }
}

/// An image reference split for the registry API: `reg.io/a/b:tag`, `reg.io/a/b@sha256:…`, or
/// a Docker Hub short name (`python:3.12` is `registry-1.docker.io/library/python:3.12`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageName {
    /// Where the image lives.
    pub repository: Repository,
    /// Tag or digest to fetch.
    pub reference: String,
}

impl ImageName {
    /// Parses a reference as `docker pull` would read it.
    pub fn parse(text: &str) -> Result<Self, UsageError> {
        let bad = |why: &str| {
            UsageError::new(
                format!("bad image reference `{text}`: {why}"),
                "write it as [host/]path[:tag][@sha256:digest]",
            )
        };
        let (name, digest) = match text.split_once('@') {
            Some((n, d)) => (n, Some(d)),
            None => (text, None),
        };
        let (host, path) = match name.split_once('/') {
            Some((h, p)) if h.contains('.') || h.contains(':') || h == "localhost" => {
                (h.to_string(), p.to_string())
            }
            _ => (
                "registry-1.docker.io".to_string(),
                if name.contains('/') {
                    name.to_string()
                } else {
                    format!("library/{name}")
                },
            ),
        };
        let host = if host == "docker.io" || host == "index.docker.io" {
            "registry-1.docker.io".to_string()
        } else {
            host
        };
        // A tag is after the last `:` of the last path component.
        let (path, tag) = match path.rsplit_once(':') {
            Some((p, t)) if !t.contains('/') => (p.to_string(), Some(t.to_string())),
            _ => (path, None),
        };
        if path.is_empty() {
            return Err(bad("it names no repository"));
        }
        let reference = match (digest, tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t,
            (None, None) => "latest".to_string(),
        };
        Ok(Self {
            repository: Repository { host, path },
            reference,
        })
    }
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.host, self.path)
    }
}

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
    fn open(&self) -> Result<reqwest::Body, RegistryError> {
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

/// The `Docker-Content-Digest` a registry reports for what it stored must be the one imprint
/// computed before sending.
fn check_reported_digest(
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

/// A request failed before any answer came.
fn unreachable(address: String) -> impl FnOnce(reqwest::Error) -> RegistryError {
    move |source| RegistryError::Unreachable { address, source }
}

/// `realm="…",service="…"` into a map.
fn parse_challenge(params: &str) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let mut rest = params.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let (value, tail) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (&quoted[..end], &quoted[end + 1..]),
                None => (quoted, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        out.insert(key, value.to_string());
        rest = tail.trim_start_matches(',').trim();
    }
    out
}

/// A token realm on another host is trusted with credentials only when it is a subdomain
/// sibling of the registry (e.g. auth.example.com for registry.example.com).
fn realm_is_trusted(realm: &Url, registry_host: &str) -> bool {
    let registry = registry_host.split(':').next().unwrap_or(registry_host);
    let parent = |h: &str| h.split_once('.').map(|(_, p)| p.to_string());
    match (realm.host_str(), parent(registry)) {
        (Some(host), Some(p)) if p.contains('.') => host == p || host.ends_with(&format!(".{p}")),
        _ => false,
    }
}

/// A client for one repository.
#[derive(Debug, Clone)]
pub struct Registry {
    http: reqwest::Client,
    base: Url,
    /// The credential for the repository's host, if any source has one.
    credential: Option<Credential>,
    /// The `Authorization` value the registry accepted last (Basic or Bearer).
    authorization: Arc<Mutex<Option<String>>>,
    /// The repository this client talks to.
    pub repository: Repository,
}

impl Registry {
    /// A client for `repository`, sending requests to `endpoint` when given, trusting the
    /// PEM certificates in `ca_cert` besides the system's, with the host's credential from the
    /// docker config or a credential helper.
    pub fn new(
        repository: Repository,
        endpoint: Option<&str>,
        ca_cert: Option<&Path>,
    ) -> anyhow::Result<Self> {
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
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("imprint/", env!("CARGO_PKG_VERSION")))
            // reqwest drops Authorization when a redirect leaves the host.
            .redirect(reqwest::redirect::Policy::limited(5));
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
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder.build().map_err(|e| {
            UsageError::new(format!("cannot set up HTTP: {e}"), "report this as a bug")
        })?;
        let credential = credentials::for_host(&repository.host)?;
        Ok(Self {
            http,
            base,
            credential,
            authorization: Arc::new(Mutex::new(None)),
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

    fn url(&self, tail: &str) -> Url {
        let mut url = self.base.clone();
        url.set_path(&format!("/v2/{}/{tail}", self.repository.path));
        url
    }

    /// Sends a request built by `build`, with the current authorization. On a 401 it answers
    /// the challenge (Basic with the host's credential, or a Bearer token from the realm) and
    /// sends the request again, once.
    async fn send(
        &self,
        build: impl Fn(&reqwest::Client) -> Result<reqwest::RequestBuilder, RegistryError>,
    ) -> Result<reqwest::Response, RegistryError> {
        let mut answered = false;
        loop {
            let mut request = build(&self.http)?;
            if let Some(value) = self.current_authorization() {
                request = request.header(AUTHORIZATION, value);
            }
            let response = request.send().await.map_err(unreachable(self.address()))?;
            if response.status() != StatusCode::UNAUTHORIZED {
                return Ok(response);
            }
            if answered {
                return Err(self.refused());
            }
            let challenge = response
                .headers()
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("Basic")
                .to_string();
            let value = self.answer(&challenge).await?;
            if let Ok(mut slot) = self.authorization.lock() {
                *slot = Some(value);
            }
            answered = true;
        }
    }

    /// The registry refused this client's credential (or wants one it does not have).
    fn refused(&self) -> RegistryError {
        RegistryError::Denied {
            host: self.repository.host.clone(),
            from: self
                .credential
                .as_ref()
                .map(|c| format!("{} (user {})", c.source, c.username)),
        }
    }

    fn current_authorization(&self) -> Option<String> {
        self.authorization.lock().ok().and_then(|slot| slot.clone())
    }

    /// The `Authorization` value that answers a `WWW-Authenticate` challenge.
    async fn answer(&self, challenge: &str) -> Result<String, RegistryError> {
        let (scheme, params) = challenge.split_once(' ').unwrap_or((challenge, ""));
        let params = parse_challenge(params);
        if scheme.eq_ignore_ascii_case("basic") {
            return match &self.credential {
                Some(c) => Ok(c.basic_header()),
                None => Err(self.refused()),
            };
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(RegistryError::Status {
                method: Method::GET,
                url: self.address(),
                status: StatusCode::UNAUTHORIZED,
                body: format!("unsupported authentication scheme `{scheme}`"),
            });
        }
        let realm = params.get("realm").cloned().unwrap_or_default();
        let mut url = Url::parse(&realm).map_err(|e| RegistryError::Status {
            method: Method::GET,
            url: self.address(),
            status: StatusCode::UNAUTHORIZED,
            body: format!("bad token realm `{realm}`: {e}"),
        })?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = params.get("service") {
                query.append_pair("service", service);
            }
            let scope = params
                .get("scope")
                .cloned()
                .unwrap_or_else(|| format!("repository:{}:pull,push", self.repository.path));
            query.append_pair("scope", &scope);
        }
        let mut request = self.http.get(url.clone());
        // Credentials go to the token realm only when it is on the registry's own host.
        if let Some(c) = &self.credential {
            if url.host_str() == self.base.host_str()
                || realm_is_trusted(&url, &self.repository.host)
            {
                request = request.header(AUTHORIZATION, c.basic_header());
            }
        }
        let response = request
            .send()
            .await
            .map_err(unreachable(url.origin().ascii_serialization()))?;
        if response.status() == StatusCode::UNAUTHORIZED
            || response.status() == StatusCode::FORBIDDEN
        {
            return Err(self.refused());
        }
        if !response.status().is_success() {
            return Err(Self::unexpected(Method::GET, &url, response).await);
        }
        #[derive(serde::Deserialize)]
        struct Token {
            token: Option<String>,
            access_token: Option<String>,
        }
        let token: Token = response
            .json()
            .await
            .map_err(unreachable(url.origin().ascii_serialization()))?;
        let token = token
            .token
            .or(token.access_token)
            .ok_or_else(|| RegistryError::Status {
                method: Method::GET,
                url: url.origin().ascii_serialization(),
                status: StatusCode::OK,
                body: "the token service answered without a token".into(),
            })?;
        Ok(format!("Bearer {token}"))
    }

    async fn unexpected(method: Method, url: &Url, response: reqwest::Response) -> RegistryError {
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
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

    /// Uploads a blob in one `PUT` (ECR refuses small chunks, so never `PATCH`).
    pub async fn put_blob(
        &self,
        digest: &str,
        body: BlobBody,
        size: u64,
    ) -> Result<(), RegistryError> {
        let start = self.url("blobs/uploads/");
        let response = self
            .send(|h| Ok(h.post(start.clone()).header(CONTENT_LENGTH, 0)))
            .await?;
        if response.status() != StatusCode::ACCEPTED {
            return Err(Self::unexpected(Method::POST, &start, response).await);
        }
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| RegistryError::Status {
                method: Method::POST,
                url: start.to_string(),
                status: StatusCode::ACCEPTED,
                body: "no Location header for the upload".into(),
            })?;
        let mut upload = start.join(&location).map_err(|e| RegistryError::Status {
            method: Method::POST,
            url: start.to_string(),
            status: StatusCode::ACCEPTED,
            body: format!("bad upload Location `{location}`: {e}"),
        })?;
        // Requests stay on the configured endpoint even when the registry names its own host.
        if upload.host_str() != self.base.host_str() || upload.port() != self.base.port() {
            let (path, query) = (
                upload.path().to_string(),
                upload.query().map(str::to_string),
            );
            upload = self.base.clone();
            upload.set_path(&path);
            upload.set_query(query.as_deref());
        }
        upload.query_pairs_mut().append_pair("digest", digest);
        let response = self
            .send(|h| {
                Ok(h.put(upload.clone())
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
        })?;
        Ok(())
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

    /// Uploads a blob file, streamed.
    pub async fn put_blob_file(&self, digest: &str, path: &Path) -> Result<(), RegistryError> {
        let io = |source| RegistryError::Io {
            path: path.display().to_string(),
            source,
        };
        let size = std::fs::metadata(path).map_err(io)?.len();
        self.put_blob(digest, BlobBody::File(path.to_path_buf()), size)
            .await
    }

    /// A small blob's bytes (journal records, input manifests), checked against its digest.
    pub async fn get_blob(&self, digest: &str) -> Result<Option<Vec<u8>>, RegistryError> {
        let url = self.url(&format!("blobs/{digest}"));
        let response = self.send(|h| Ok(h.get(url.clone()))).await?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => {
                let bytes = response
                    .bytes()
                    .await
                    .map_err(unreachable(self.address()))?;
                let actual = sha256_digest(&bytes);
                if actual != digest {
                    return Err(RegistryError::DigestMismatch {
                        what: format!("blob {digest} of {}", self.repository),
                        expected: digest.to_string(),
                        actual,
                    });
                }
                Ok(Some(bytes.to_vec()))
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
            let page: TagList = response.json().await.map_err(unreachable(self.address()))?;
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
                let bytes = response
                    .bytes()
                    .await
                    .map_err(unreachable(self.address()))?;
                Ok(Some(Manifest {
                    digest: sha256_digest(&bytes),
                    bytes: bytes.to_vec(),
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

    /// Stores a manifest under a tag and checks the registry computed the same digest.
    pub async fn put_manifest(
        &self,
        tag: &str,
        media_type: &str,
        bytes: Vec<u8>,
    ) -> Result<String, RegistryError> {
        let digest = sha256_digest(&bytes);
        let url = self.url(&format!("manifests/{tag}"));
        let response = self
            .send(|h| {
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
        Ok(digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let c = parse_challenge(
            r#"realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/python:pull""#,
        );
        assert_eq!(
            c.get("realm").map(String::as_str),
            Some("https://auth.docker.io/token")
        );
        assert_eq!(
            c.get("service").map(String::as_str),
            Some("registry.docker.io")
        );
        assert_eq!(
            c.get("scope").map(String::as_str),
            Some("repository:library/python:pull")
        );
        let c = parse_challenge(r#"Realm=plain, error="invalid_token""#);
        assert_eq!(c.get("realm").map(String::as_str), Some("plain"));
        assert_eq!(c.get("error").map(String::as_str), Some("invalid_token"));
    }

    #[test]
    fn token_realms_get_credentials_only_on_the_registry_domain() {
        let realm = |u: &str| Url::parse(u).unwrap();
        assert!(realm_is_trusted(
            &realm("https://auth.example.com/token"),
            "registry.example.com"
        ));
        assert!(realm_is_trusted(
            &realm("https://example.com/token"),
            "registry.example.com:443"
        ));
        assert!(!realm_is_trusted(
            &realm("https://evil.io/token"),
            "registry.example.com"
        ));
        assert!(!realm_is_trusted(
            &realm("https://com/token"),
            "example.com"
        ));
    }

    #[test]
    fn image_names() {
        let parts = |text: &str| {
            let n = ImageName::parse(text).unwrap();
            (n.repository.host, n.repository.path, n.reference)
        };
        let owned = |h: &str, p: &str, r: &str| (h.to_string(), p.to_string(), r.to_string());
        assert_eq!(
            parts("python:3.12"),
            owned("registry-1.docker.io", "library/python", "3.12")
        );
        assert_eq!(
            parts("127.0.0.1:5000/a/b@sha256:abc"),
            owned("127.0.0.1:5000", "a/b", "sha256:abc")
        );
        assert_eq!(
            parts("public.ecr.aws/lambda/python"),
            owned("public.ecr.aws", "lambda/python", "latest")
        );
    }

    #[test]
    fn repositories() {
        let r = Repository::parse("123456789012.dkr.ecr.us-east-1.amazonaws.com/debt/api").unwrap();
        assert_eq!(r.host, "123456789012.dkr.ecr.us-east-1.amazonaws.com");
        assert_eq!(r.path, "debt/api");
        assert!(!r.is_loopback());
        assert_eq!(
            r.uri("t1"),
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/debt/api:t1"
        );
        assert!(Repository::parse("127.0.0.1:5000/x").unwrap().is_loopback());
        assert!(Repository::parse("localhost:5000/x").unwrap().is_loopback());
        assert!(Repository::parse("[::1]:5000/x").unwrap().is_loopback());
        for bad in [
            "debt-api",
            "library/python",
            "host.io/Upper",
            "host.io/x:tag",
            "host.io/a//b",
            "host.io/-a",
        ] {
            assert!(Repository::parse(bad).is_err(), "{bad}");
        }
    }
}
