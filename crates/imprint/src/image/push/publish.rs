//! Publishing the image for the local tree: build it once (the builder), export it, push only
//! the blobs the registry lacks, verify the stored digest, then push its index artifact.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context as _;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;

use super::archive::{Borrowed, Image, ImageError, ImageSource, Layer, MANIFEST_MEDIA_TYPE};
use super::sent::Sent;
use super::{index, upload};
use crate::config::UnusedCheck;
use crate::error::UsageError;
use crate::image::build::{self, BuilderImage, LocalImage};
use crate::image::built::{build_new, note_already_pushed};
use crate::image::source::Source;
use crate::image::tag::{tag_content, TagQuery, TagSource, Tagged};
use crate::journal::Checkout;
use crate::registry::{
    copy_one_blob, BlobBody, Copied, ImageName, Placed, Registry, RegistryError,
};
use crate::reporter::Reporter;
use crate::session::Session;

/// Blob uploads in flight at once.
const PARALLEL_UPLOADS: usize = 4;

/// What a push did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PushOutcome {
    /// The image was uploaded.
    #[default]
    Pushed,
    /// The registry held it already.
    AlreadyPushed,
}

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
    pub outcome: PushOutcome,
    /// Bytes sent in blob uploads.
    pub bytes_uploaded: u64,
    /// Blobs uploaded.
    pub blobs_uploaded: usize,
    /// Blobs the registry already had.
    pub blobs_skipped: usize,
}

impl std::fmt::Display for PushReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.image_uri)
    }
}

/// Uploads the config and the layers the registry lacks (a few at a time; none of those in
/// `done`: digest → whether bytes went), counting what went and what was there.
async fn upload_blobs(
    registry: &Registry,
    image: &Image,
    report: &mut PushReport,
    reporter: &dyn Reporter,
    done: &HashMap<String, bool>,
) -> Result<(), RegistryError> {
    let meter = reporter.bytes("pushing");
    meter.set_total(image.blob_bytes());
    if registry.has_blob(&image.config_digest).await? {
        report.blobs_skipped += 1;
    } else {
        let size = image.config.len() as u64;
        let config = BlobBody::Bytes(image.config.clone());
        registry
            .put_blob(&image.config_digest, config, size)
            .await?;
        report.blobs_uploaded += 1;
        report.bytes_uploaded += image.config.len() as u64;
    }
    meter.advance(image.config.len() as u64);
    let uploaded: Vec<Option<u64>> = stream::iter(image.layers.iter())
        .map(|layer| {
            let meter = meter.clone();
            async move {
                let sent = match (done.get(&layer.digest), &layer.path) {
                    (Some(&sent), _) => sent,
                    (None, Some(path)) => registry.put_blob_file(&layer.digest, path).await?,
                    (None, None) => {
                        return Err(RegistryError::Io {
                            path: layer.digest.clone(),
                            source: std::io::Error::other("a streamed layer was not taken"),
                        })
                    }
                };
                let result = sent.then_some(layer.size);
                meter.advance(layer.size);
                Ok::<_, RegistryError>(result)
            }
        })
        .buffered(PARALLEL_UPLOADS)
        .try_collect()
        .await?;
    meter.finish();
    for sent in uploaded {
        match sent {
            Some(size) => {
                report.blobs_uploaded += 1;
                report.bytes_uploaded += size;
            }
            None => report.blobs_skipped += 1,
        }
    }
    Ok(())
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

/// An image in the registry, ready to deploy.
#[derive(Debug, Clone)]
pub struct Published {
    /// Its tag.
    pub tag: String,
    /// What Lambda is given.
    pub image_uri: String,
    /// Its manifest digest.
    pub digest: String,
    /// The content hash it was built from.
    pub hash: String,
    /// The git checkout the tree is, when it is one.
    pub checkout: Option<Checkout>,
}

/// Where the image for the content is once [`bring_pushed`] is done.
#[derive(Debug)]
pub enum InRegistry {
    /// The registry held it already.
    AlreadyPushed(index::Pushed),
    /// It was pushed now (built first, or not).
    Pushed(PushReport),
}

/// The image for `tagged` in the registry: found there, or pushed from this machine, where it
/// is built first when nothing is and `build_missing` (else that is a usage error).
pub async fn bring_pushed(
    session: &Session,
    tagged: &Tagged,
    build_missing: bool,
    fresh: bool,
    source: &Source,
) -> anyhow::Result<InRegistry> {
    let local = match &tagged.source {
        TagSource::Pushed(pushed) => {
            note_already_pushed(session, pushed).await?;
            return Ok(InRegistry::AlreadyPushed(pushed.clone()));
        }
        TagSource::Built(local) => {
            // An image built before `fail` was set, or a stopped build's, is held to it too.
            if session.settings.build.unused == UnusedCheck::Fail {
                let bases = &tagged.bases.images;
                crate::image::inspect::after_build(session, local, bases, UnusedCheck::Fail)
                    .await?;
            }
            local.clone()
        }
        TagSource::New if build_missing => build_new(session, tagged, fresh, source).await?,
        TagSource::New => {
            return Err(UsageError::new(
                "no image is built for the current content",
                "run `imprint build` first (or `imprint deploy`, which builds and pushes)",
            )
            .into())
        }
    };
    let registry = session.registry().await?;
    let report = push_local(session, registry, tagged, &local).await?;
    Ok(InRegistry::Pushed(report))
}

/// The image for the local tree in the registry: found there, or built (when not built yet)
/// and pushed. An ECR repository must exist already unless `create_repo`.
pub async fn ensure_published(
    session: &Session,
    rebuild: bool,
    create_repo: bool,
) -> anyhow::Result<Published> {
    let registry = session.registry().await?;
    let source = Source::read(&session.settings);
    if session.settings.build.require_clean {
        source.check_clean(true)?;
    }
    ensure_repository(session, registry, create_repo).await?;
    let tagged = tag_content(
        session,
        TagQuery {
            rebuild,
            source: Some(&source),
            ..TagQuery::default()
        },
    )
    .await
    .context("failed to work out the tag")?;
    let digest = match bring_pushed(session, &tagged, true, rebuild, &source).await? {
        InRegistry::AlreadyPushed(pushed) => pushed.digest,
        InRegistry::Pushed(report) => report.digest,
    };
    Ok(Published {
        image_uri: registry.repository.uri(&tagged.tag),
        hash: tagged.hash(),
        checkout: source.checkout(),
        tag: tagged.tag,
        digest,
    })
}

/// That the repository exists (made when `create`) where the registry does not make
/// repositories on push (ECR).
pub async fn ensure_repository(
    session: &Session,
    registry: &Registry,
    create: bool,
) -> anyhow::Result<()> {
    let provider = session.provider().await?;
    provider
        .ensure_repository(&registry.repository, create, session.reporter())
        .await
}

/// Exports the local image built for `tagged` from its builder and pushes it (as
/// [`push_source`]).
pub async fn push_local(
    session: &Session,
    registry: &Registry,
    tagged: &Tagged,
    local: &LocalImage,
) -> anyhow::Result<PushReport> {
    let source = BuilderImage {
        builder: build::for_settings(&session.settings.build),
        image: local.clone(),
    };
    push_source(session, registry, tagged, Arc::new(source)).await
}

/// Exports the image built for `tagged` from `source` (its layers uploaded as they are made),
/// pushes it under its tag, verified, and then its index artifact.
pub async fn push_source(
    session: &Session,
    registry: &Registry,
    tagged: &Tagged,
    source: Arc<dyn ImageSource>,
) -> anyhow::Result<PushReport> {
    let sent = || Sent::load(&registry.repository, &registry.address());
    let mut exported = match export_uploading(session, registry, &source, sent(), true).await {
        Err(e) if ImageError::is_not_as_remembered(&e) => {
            session.reporter().note(&format!(
                "{e:#}; exporting it again, compressing every layer"
            ));
            export_uploading(session, registry, &source, sent(), false).await?
        }
        exported => exported?,
    };
    for borrowed in &exported.image.borrowed {
        let brought = bring_borrowed(session, registry, borrowed).await?;
        exported.uploaded.extend(brought);
    }
    if exported
        .image
        .layers
        .iter()
        .any(|layer| layer.path.is_none() && !exported.uploaded.contains_key(&layer.digest))
    {
        // A layer not stored here (streamed, or not compressed again) that did not get there:
        // the registry refused the stream, or has lost the layer and could not mount it.
        session.reporter().note(&format!(
            "a layer did not reach {} (a streamed upload refused or cut, or a layer sent before that is gone); exporting the image again to send its layers whole",
            registry.repository
        ));
        let done = std::mem::take(&mut exported.uploaded);
        exported = export_uploading(session, registry, &source, exported.sent, false).await?;
        exported.uploaded.extend(done);
    }
    let Exported {
        image,
        sent,
        layers,
        uploaded,
        blobs: _blobs,
    } = exported;
    let mounted = uploaded
        .values()
        .any(|placed| matches!(placed, Placed::Mounted(_)));
    let uploaded = uploaded
        .into_iter()
        .map(|(digest, placed)| (digest, placed == Placed::Sent))
        .collect();
    let mut report =
        push_image(registry, &image, &tagged.tag, session.reporter(), &uploaded).await?;
    sent.save(&layers, mounted);
    index::push(registry, &tagged.hashed, &tagged.tag, &image)
        .await
        .context("failed to push the index artifact")?;
    report.hash = tagged.hash();
    session.reporter().note(&format!(
        "pushed {} ({}): {} blobs uploaded ({} bytes), {} already there",
        report.image_uri,
        report.digest,
        report.blobs_uploaded,
        report.bytes_uploaded,
        report.blobs_skipped
    ));
    Ok(report)
}

/// The layers `image` borrows from another image (its base's, a deployed one's), brought
/// from that image's repository: already there, mounted when it is on the same registry, else
/// read and sent (never unpacked); digest → how it got there.
async fn bring_borrowed(
    session: &Session,
    registry: &Registry,
    borrowed: &Borrowed,
) -> anyhow::Result<HashMap<String, Placed>> {
    let name = ImageName::parse(&borrowed.reference)?;
    let from = session.registry_for(&name.repository, None).await?;
    let scratch = crate::state::scratch_dir("blobs")
        .context("failed to make a folder for the base's layers in imprint's cache")?;
    let mut brought = HashMap::new();
    for (digest, size) in &borrowed.layers {
        let copied = copy_one_blob(&from, registry, digest, *size, scratch.path())
            .await
            .with_context(|| {
                format!(
                    "failed to bring the layer {digest} of {}",
                    borrowed.reference
                )
            })?;
        let placed = match copied {
            Copied {
                blobs_sent: 1.., ..
            } => Placed::Sent,
            Copied {
                blobs_mounted: 1.., ..
            } => Placed::Mounted(from.repository.path.clone()),
            _ => Placed::Present,
        };
        brought.insert(digest.clone(), placed);
    }
    Ok(brought)
}

/// An export read while its layers were uploaded.
struct Exported {
    image: Image,
    /// What the registry was sent before.
    sent: Sent,
    /// Every layer of the export: name, size, layer.
    layers: Vec<(String, u64, Layer)>,
    /// Layers the uploads took care of: digest → how each got there.
    uploaded: HashMap<String, Placed>,
    /// The stored layers, until the push ends (a layer not uploaded yet is sent from its
    /// file); removed when dropped.
    blobs: tempfile::TempDir,
}

/// Exports the image with its layers uploaded as they are made (`shortcuts`: a large new
/// layer may go out as it is compressed, and one compressed before is only checked).
async fn export_uploading(
    session: &Session,
    registry: &Registry,
    source: &Arc<dyn ImageSource>,
    sent: Sent,
    shortcuts: bool,
) -> anyhow::Result<Exported> {
    let (events, heard) = tokio::sync::mpsc::unbounded_channel();
    let watch = upload::UploadWatch::new(sent, events, shortcuts);
    let meter = session.reporter().bytes("pushing");
    let (exported, uploaded) = tokio::join!(
        export(session, source.clone(), watch),
        upload::upload_as_exported(registry, heard, meter.as_ref())
    );
    meter.finish();
    let (image, (sent, layers), blobs) = exported?;
    Ok(Exported {
        image,
        sent,
        layers,
        uploaded: uploaded?,
        blobs,
    })
}

/// Exports the image and turns it into registry blobs (in a scratch folder, removed
/// when the returned handle is dropped) and a manifest, telling `watch` about each layer; then
/// what it saw (the uploads hear that the export is over whether it succeeded or not: `watch`
/// is gone).
async fn export(
    session: &Session,
    source: Arc<dyn ImageSource>,
    mut watch: upload::UploadWatch,
) -> anyhow::Result<(Image, (Sent, Vec<(String, u64, Layer)>), tempfile::TempDir)> {
    let settings = &session.settings;
    let blobs = crate::state::scratch_dir("blobs")
        .context("failed to make a folder for the image's blobs in imprint's cache")?;
    let platform = settings.build.params.platform.clone();
    let name = source.name().to_string();
    tokio::task::spawn_blocking(move || {
        let image = source.export(blobs.path(), &platform, &mut watch);
        image.map(|image| (image, watch.finish(), blobs))
    })
    .await
    .with_context(|| format!("the export reader of {name} stopped"))?
}

/// Pushes blobs the registry lacks (but those in `uploaded`: digest → whether bytes went),
/// then the manifest, and verifies the stored digest. A tag that already holds this very
/// image is success; on another image, an error.
pub async fn push_image(
    registry: &Registry,
    image: &Image,
    tag: &str,
    reporter: &dyn Reporter,
    uploaded: &HashMap<String, bool>,
) -> anyhow::Result<PushReport> {
    let image_uri = registry.repository.uri(tag);
    let mut report = PushReport {
        image_uri: image_uri.clone(),
        tag: tag.to_string(),
        digest: image.digest.clone(),
        outcome: PushOutcome::Pushed,
        ..PushReport::default()
    };
    match registry.manifest_digest(tag).await? {
        Some(existing) if existing == image.digest => {
            report.outcome = PushOutcome::AlreadyPushed;
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
    upload_blobs(registry, image, &mut report, reporter, uploaded).await?;
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
