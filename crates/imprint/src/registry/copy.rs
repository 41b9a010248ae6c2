//! Copying a manifest and everything it names from one repository to another (promotion
//! between environments): each blob is mounted when both repositories share a registry,
//! else read into a scratch file, checked against its digest and size, and sent; the
//! manifest goes over byte for byte, so its digest is the same on both sides.

use std::path::Path;

use futures_util::{StreamExt as _, TryStreamExt as _};
use reqwest::header::CONTENT_LENGTH;
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt as _;
use url::Url;

use super::client::{BlobBody, Registry};
use super::error::{unreachable, RegistryError};

/// How many blobs are copied at once (one is read while another is sent).
const AT_ONCE: usize = 3;

/// What a copy moved.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Copied {
    /// Blobs read from the source and sent.
    pub blobs_sent: usize,
    /// Their bytes.
    pub bytes_sent: u64,
    /// Blobs the target registry linked from the source repository without a transfer.
    pub blobs_mounted: usize,
    /// Blobs the target already held.
    pub blobs_present: usize,
    /// Manifests written (the image's, and each platform's under an index).
    pub manifests: usize,
}

impl Copied {
    fn add(&mut self, other: Copied) {
        self.blobs_sent += other.blobs_sent;
        self.bytes_sent += other.bytes_sent;
        self.blobs_mounted += other.blobs_mounted;
        self.blobs_present += other.blobs_present;
        self.manifests += other.manifests;
    }
}

/// The parts of a manifest or index a copy follows.
#[derive(Deserialize)]
struct Parts {
    #[serde(default)]
    config: Option<BlobRef>,
    #[serde(default)]
    layers: Vec<BlobRef>,
    #[serde(default)]
    manifests: Vec<BlobRef>,
}

#[derive(Deserialize)]
struct BlobRef {
    digest: String,
    size: u64,
}

/// Copies the manifest at `reference` in `from` (and every blob and, for an index, every
/// manifest it names) to `tag` in `to`, through files under `scratch`; the digest of what
/// `to` then holds at `tag` is checked to be the source's. `None` when `from` has no
/// manifest at `reference`.
pub async fn copy_manifest(
    from: &Registry,
    to: &Registry,
    reference: &str,
    tag: &str,
    scratch: &Path,
) -> Result<Option<(String, Copied)>, RegistryError> {
    let Some(manifest) = from.get_manifest(reference).await? else {
        return Ok(None);
    };
    let parts: Parts =
        serde_json::from_slice(&manifest.bytes).map_err(|e| RegistryError::Status {
            method: Method::GET,
            url: from.repository.uri(reference),
            status: StatusCode::OK,
            body: format!("the manifest is not one imprint can copy: {e}"),
            retry_after: None,
        })?;
    let mut copied = Copied::default();
    for child in &parts.manifests {
        // An index: each platform's manifest goes first, by digest.
        let (_, inner) = Box::pin(copy_manifest(
            from,
            to,
            &child.digest,
            &child.digest,
            scratch,
        ))
        .await?
        .ok_or_else(|| gone(from, &child.digest))?;
        copied.add(inner);
    }
    let blobs = parts.config.iter().chain(&parts.layers);
    let results: Vec<Copied> = futures_util::stream::iter(blobs)
        .map(|blob| copy_blob(from, to, blob, scratch))
        .buffer_unordered(AT_ONCE)
        .try_collect()
        .await?;
    for one in results {
        copied.add(one);
    }
    let digest = to
        .put_manifest(tag, &manifest.media_type, manifest.bytes)
        .await?;
    copied.manifests += 1;
    let stored = to.manifest_digest(tag).await?;
    if stored.as_deref() != Some(manifest.digest.as_str()) {
        return Err(RegistryError::DigestMismatch {
            what: format!(
                "copy of {} to {}",
                from.repository.uri(reference),
                to.repository.uri(tag)
            ),
            expected: manifest.digest,
            actual: stored.unwrap_or_else(|| "nothing".into()),
        });
    }
    Ok(Some((digest, copied)))
}

fn gone(from: &Registry, digest: &str) -> RegistryError {
    RegistryError::Status {
        method: Method::GET,
        url: from.repository.uri(digest),
        status: StatusCode::NOT_FOUND,
        body: "the index names a manifest its repository does not hold".into(),
        retry_after: None,
    }
}

/// The blob `digest` of `size` bytes from `from` to `to` (as [`copy_manifest`] copies
/// each): already there, mounted, or read through a file under `scratch`.
pub async fn copy_one_blob(
    from: &Registry,
    to: &Registry,
    digest: &str,
    size: u64,
    scratch: &Path,
) -> Result<Copied, RegistryError> {
    let blob = BlobRef {
        digest: digest.to_string(),
        size,
    };
    copy_blob(from, to, &blob, scratch).await
}

/// One blob to `to`: already there, mounted (same registry), or read, checked and sent.
async fn copy_blob(
    from: &Registry,
    to: &Registry,
    blob: &BlobRef,
    scratch: &Path,
) -> Result<Copied, RegistryError> {
    if to.has_blob(&blob.digest).await? {
        return Ok(Copied {
            blobs_present: 1,
            ..Copied::default()
        });
    }
    let upload = match same_registry(from, to) {
        true => match to.start_mount(&blob.digest, &from.repository.path).await? {
            None => {
                return Ok(Copied {
                    blobs_mounted: 1,
                    ..Copied::default()
                })
            }
            started => started,
        },
        false => None,
    };
    let file = scratch.join(blob.digest.replace(':', "-"));
    from.download_blob(&blob.digest, blob.size, &file).await?;
    let body = BlobBody::File(file.clone());
    let sent = match upload {
        Some(url) => to.finish_upload(url, &blob.digest, body, blob.size).await,
        None => to.put_blob(&blob.digest, body, blob.size).await,
    };
    let _ = std::fs::remove_file(&file);
    sent?;
    Ok(Copied {
        blobs_sent: 1,
        bytes_sent: blob.size,
        ..Copied::default()
    })
}

/// Where [`Registry::place_blob`] found or put a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placed {
    /// The repository had it.
    Present,
    /// Linked from this other repository of the registry: no bytes went.
    Mounted(String),
    /// Its bytes were sent.
    Sent,
}

impl Registry {
    /// The blob `digest`, whose bytes are in `path`, in this repository: already there,
    /// mounted from `holder` (another repository of this registry said to hold it), else
    /// sent from the file ([`Registry::put_blob_file`]). A registry that does not mount (or
    /// whose `holder` lacks the blob) answers the mount with an upload, which then takes the
    /// bytes.
    pub async fn place_blob(
        &self,
        digest: &str,
        path: &Path,
        holder: Option<&str>,
    ) -> Result<Placed, RegistryError> {
        if let Some(from) = holder.filter(|from| *from != self.repository.path) {
            if self.has_blob(digest).await? {
                return Ok(Placed::Present);
            }
            let Some(upload) = self.start_mount(digest, from).await? else {
                return Ok(Placed::Mounted(from.to_string()));
            };
            let size = std::fs::metadata(path)
                .map_err(|source| RegistryError::Io {
                    path: path.display().to_string(),
                    source,
                })?
                .len();
            let body = BlobBody::File(path.to_path_buf());
            match self.finish_upload(upload, digest, body, size).await {
                Ok(()) => return Ok(Placed::Sent),
                // Sent again from the start, with the retry policy.
                Err(e) => tracing::debug!("the upload a mount started failed: {e}"),
            }
        }
        Ok(match self.put_blob_file(digest, path).await? {
            true => Placed::Sent,
            false => Placed::Present,
        })
    }

    /// The blob `digest`, which this machine does not hold, in this repository: already
    /// there, or mounted from `holder`; `None` when neither (a mount the registry answered
    /// with an upload is given up).
    pub async fn find_or_mount(
        &self,
        digest: &str,
        holder: Option<&str>,
    ) -> Result<Option<Placed>, RegistryError> {
        if self.has_blob(digest).await? {
            return Ok(Some(Placed::Present));
        }
        let Some(from) = holder.filter(|from| *from != self.repository.path) else {
            return Ok(None);
        };
        let Some(upload) = self.start_mount(digest, from).await? else {
            return Ok(Some(Placed::Mounted(from.to_string())));
        };
        self.cancel_upload(&upload).await;
        Ok(None)
    }
}

/// Where [`Registry::read_blob`] puts a blob's bytes.
pub enum BlobSink<'a> {
    /// A file (named for errors).
    File(&'a mut tokio::fs::File, &'a Path),
    /// A channel to a reader elsewhere (a layer read as it streams, never stored).
    Channel(&'a tokio::sync::mpsc::Sender<bytes::Bytes>),
}

impl BlobSink<'_> {
    async fn write(&mut self, chunk: bytes::Bytes) -> Result<(), RegistryError> {
        match self {
            Self::File(file, path) => {
                file.write_all(&chunk)
                    .await
                    .map_err(|source| RegistryError::Io {
                        path: path.display().to_string(),
                        source,
                    })
            }
            Self::Channel(sender) => sender.send(chunk).await.map_err(|_| RegistryError::Io {
                path: "the blob's reader".into(),
                source: std::io::Error::other("it stopped reading"),
            }),
        }
    }
}

/// Both repositories on one registry, reached the same way with the same credential: the
/// target can link the source's blobs itself.
fn same_registry(from: &Registry, to: &Registry) -> bool {
    from.repository.host == to.repository.host && from.address() == to.address()
}

impl Registry {
    /// Streams the blob `digest` into `dest`, refusing more than `size` bytes and anything
    /// whose size or digest is not the one named.
    pub async fn download_blob(
        &self,
        digest: &str,
        size: u64,
        dest: &Path,
    ) -> Result<(), RegistryError> {
        let io = |source| RegistryError::Io {
            path: dest.display().to_string(),
            source,
        };
        let mut file = tokio::fs::File::create(dest).await.map_err(io)?;
        self.read_blob(digest, size, BlobSink::File(&mut file, dest))
            .await?;
        file.flush().await.map_err(io)
    }

    /// Streams the blob `digest` into `sink` chunk by chunk as it arrives, refusing more than
    /// `size` bytes; an error after the last chunk when its size or digest is not the one
    /// named (a reader of the chunks keeps what it made of them only on success).
    pub async fn read_blob(
        &self,
        digest: &str,
        size: u64,
        mut sink: BlobSink<'_>,
    ) -> Result<(), RegistryError> {
        let url = self.url(&format!("blobs/{digest}"));
        let limit = self.transfer_limit(size);
        let mut response = self.send(|h| Ok(h.get(url.clone()).timeout(limit))).await?;
        match response.status() {
            s if s.is_success() => {}
            StatusCode::NOT_FOUND => return Err(gone(self, digest)),
            _ => return Err(Self::unexpected(Method::GET, &url, response).await),
        }
        let too_large = || RegistryError::TooLarge {
            url: url.to_string(),
            what: "blob (larger than its manifest says)",
            limit: size,
        };
        if response.content_length().is_some_and(|n| n > size) {
            return Err(too_large());
        }
        let (mut hasher, mut read) = (Sha256::new(), 0u64);
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(unreachable(url.origin().ascii_serialization()))?
        {
            read += chunk.len() as u64;
            if read > size {
                return Err(too_large());
            }
            hasher.update(&chunk);
            sink.write(chunk).await?;
        }
        let actual = format!("sha256:{}", imprint_context::hex(&hasher.finalize()));
        if actual != digest || read != size {
            return Err(RegistryError::DigestMismatch {
                what: format!(
                    "blob {digest} of {} ({read} of {size} bytes) as read",
                    self.repository
                ),
                expected: digest.to_string(),
                actual,
            });
        }
        Ok(())
    }

    /// `POST …/blobs/uploads/?mount=…&from=…`: `None` when the registry linked the blob from
    /// the repository `from` (201), else the upload it started instead (202).
    async fn start_mount(&self, digest: &str, from: &str) -> Result<Option<Url>, RegistryError> {
        let mut start = self.url("blobs/uploads/");
        start
            .query_pairs_mut()
            .append_pair("mount", digest)
            .append_pair("from", from);
        let response = self
            .send(|h| Ok(h.post(start.clone()).header(CONTENT_LENGTH, 0)))
            .await?;
        match response.status() {
            StatusCode::CREATED => Ok(None),
            StatusCode::ACCEPTED => self
                .next_location(Method::POST, &start, &response)
                .map(Some),
            _ => Err(Self::unexpected(Method::POST, &start, response).await),
        }
    }
}
