//! `imprint push`: the built image into the registry over the distribution API, only the
//! blobs the registry lacks, verified, then its index artifact.

use anyhow::Context as _;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;

use crate::cli::{GlobalArgs, PushArgs};
use crate::error::{ExitStatus, UsageError};
use crate::image::{Image, MANIFEST_MEDIA_TYPE};
use crate::printer::Printer;
use crate::registry::{Registry, RegistryError};
use crate::resolve::{resolve, Resolution, Source};
use crate::settings::Settings;

/// Blob uploads in flight at once.
const PARALLEL_UPLOADS: usize = 4;

/// `push --json`.
#[derive(Debug, Serialize, Default)]
pub struct PushReport {
    /// `host/path:tag`.
    pub image_uri: String,
    /// The tag.
    pub tag: String,
    /// The manifest digest, computed before the push and verified after it.
    pub digest: String,
    /// The content hash.
    pub hash: String,
    /// `pushed` or `already-pushed`.
    pub outcome: &'static str,
    /// Bytes sent in blob uploads.
    pub bytes_uploaded: u64,
    /// Blobs uploaded.
    pub blobs_uploaded: usize,
    /// Blobs the registry already had.
    pub blobs_skipped: usize,
}

/// The tag exists in the registry on another image: tags are never moved.
#[derive(Debug, thiserror::Error)]
#[error("{image_uri} already exists with digest {existing}, not {ours}; imprint never moves a tag")]
pub struct TagTaken {
    /// The image name.
    pub image_uri: String,
    /// What the registry has.
    pub existing: String,
    /// What imprint built.
    pub ours: String,
}

/// Runs `imprint push`.
pub async fn run(
    global: &GlobalArgs,
    args: &PushArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let settings = Settings::resolve(global, &args.input)?;
    let registry = settings.registry_client(printer).await?;
    if let Some(ecr) = crate::ecr::EcrHost::parse(&registry.repository.host) {
        crate::ecr::ensure_repository(&ecr, &registry.repository.path, args.create_repo, printer)
            .await?;
    }
    let mut resolution = resolve(&settings, printer, false, false)
        .await
        .context("failed to work out the tag")?;
    let hash = resolution.hash();
    if args.rebuild {
        if let Some(image) = crate::builder::find_local(&settings.build, &hash)? {
            let tag = image
                .rsplit_once(':')
                .map_or(image.as_str(), |(_, t)| t)
                .to_string();
            if tag != resolution.tag {
                resolution.tag = tag;
                resolution.source = Source::Built(image);
            }
        }
    }
    let report = match &resolution.source {
        Source::Pushed(pushed) => {
            printer.note(&format!(
                "{} is already pushed ({}); nothing to upload",
                registry.repository.uri(&pushed.tag),
                pushed.digest
            ));
            PushReport {
                image_uri: registry.repository.uri(&pushed.tag),
                tag: pushed.tag.clone(),
                digest: pushed.digest.clone(),
                hash,
                outcome: "already-pushed",
                ..PushReport::default()
            }
        }
        Source::New => {
            return Err(UsageError::new(
                "no image is built for the current content",
                "run `imprint build` first (or `imprint deploy`, which builds and pushes)",
            )
            .into())
        }
        Source::Built(local) => {
            push_local(&settings, &registry, &resolution, local, printer).await?
        }
    };
    if printer.json {
        printer.json_value(&report)?;
    } else {
        printer.data(&report.image_uri)?;
    }
    Ok(ExitStatus::Success)
}

/// Exports the local image built for `resolution`, pushes it under its tag, verified, and
/// then its index artifact.
pub async fn push_local(
    settings: &Settings,
    registry: &Registry,
    resolution: &Resolution,
    local: &str,
    printer: &Printer,
) -> anyhow::Result<PushReport> {
    let image = export(settings, local).await?;
    let mut report = push_image(registry, &image, &resolution.tag, printer).await?;
    crate::artifact::push(registry, &resolution.hashed, &resolution.tag, &image)
        .await
        .context("failed to push the index artifact")?;
    report.hash = resolution.hash();
    printer.note(&format!(
        "pushed {} ({}): {} blobs uploaded ({} bytes), {} already there",
        report.image_uri,
        report.digest,
        report.blobs_uploaded,
        report.bytes_uploaded,
        report.blobs_skipped
    ));
    Ok(report)
}

/// Exports the local image and turns it into registry blobs and a manifest.
async fn export(settings: &Settings, local: &str) -> anyhow::Result<Image> {
    let cache = crate::state::cache_dir().context("failed to find imprint's cache folder")?;
    let blobs = cache.join("blobs");
    std::fs::create_dir_all(&blobs)
        .with_context(|| format!("failed to create {}", blobs.display()))?;
    let build = settings.build.clone();
    let local = local.to_string();
    let platform = settings.build.params.platform.clone();
    tokio::task::spawn_blocking(move || {
        crate::builder::export_image(&build, &local, &blobs, &platform)
    })
    .await
    .context("the export reader stopped")?
}

/// Pushes blobs the registry lacks, then the manifest, and verifies the stored digest. A tag
/// that already holds this very image is success; on another image, an error.
pub async fn push_image(
    registry: &Registry,
    image: &Image,
    tag: &str,
    printer: &Printer,
) -> anyhow::Result<PushReport> {
    let image_uri = registry.repository.uri(tag);
    let mut report = PushReport {
        image_uri: image_uri.clone(),
        tag: tag.to_string(),
        digest: image.digest.clone(),
        outcome: "pushed",
        ..PushReport::default()
    };
    match registry.manifest_digest(tag).await? {
        Some(existing) if existing == image.digest => {
            report.outcome = "already-pushed";
            report.blobs_skipped = image.layers.len() + 1;
            return Ok(report);
        }
        Some(existing) => {
            return Err(TagTaken {
                image_uri,
                existing,
                ours: image.digest.clone(),
            }
            .into())
        }
        None => {}
    }
    let bar = printer.bytes_bar("pushing");
    bar.set_length(image.blob_bytes());
    let config_present = registry.has_blob(&image.config_digest).await?;
    if config_present {
        report.blobs_skipped += 1;
    } else {
        registry.put_blob_bytes(image.config.clone()).await?;
        report.blobs_uploaded += 1;
        report.bytes_uploaded += image.config.len() as u64;
    }
    bar.inc(image.config.len() as u64);
    let uploaded: Vec<Option<u64>> = stream::iter(image.layers.iter())
        .map(|layer| {
            let bar = bar.clone();
            async move {
                let result = if registry.has_blob(&layer.digest).await? {
                    None
                } else {
                    registry.put_blob_file(&layer.digest, &layer.path).await?;
                    Some(layer.size)
                };
                bar.inc(layer.size);
                Ok::<_, RegistryError>(result)
            }
        })
        .buffered(PARALLEL_UPLOADS)
        .try_collect()
        .await?;
    bar.finish_and_clear();
    for sent in uploaded {
        match sent {
            Some(size) => {
                report.blobs_uploaded += 1;
                report.bytes_uploaded += size;
            }
            None => report.blobs_skipped += 1,
        }
    }
    registry
        .put_manifest(tag, MANIFEST_MEDIA_TYPE, image.manifest.clone())
        .await?;
    let stored = registry
        .get_manifest(tag)
        .await?
        .with_context(|| format!("{image_uri} is missing right after its push"))?;
    if stored.digest != image.digest {
        return Err(RegistryError::DigestMismatch {
            what: format!("manifest {image_uri} read back"),
            expected: image.digest.clone(),
            actual: stored.digest,
        }
        .into());
    }
    Ok(report)
}
