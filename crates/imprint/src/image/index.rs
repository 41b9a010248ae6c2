//! The index artifact: beside every pushed image, a small OCI artifact tagged
//! `imprint-<full hash>` whose subject is the image, whose annotations name the image's tag,
//! and whose one blob is the input manifest. Looking it up makes the tag stable across calls
//! and machines.

use std::collections::BTreeMap;

use imprint_context::{ContextHash, FORMAT_VERSION};
use serde::{Deserialize, Serialize};

use super::archive::{Image, MANIFEST_MEDIA_TYPE};
use crate::registry::{
    put_artifact, read_artifact_blob, ArtifactManifest, Descriptor, Registry, RegistryError,
};

/// `artifactType` of the index artifact.
pub const ARTIFACT_TYPE: &str = "application/vnd.dev.imprint.inputs.v1";
/// Media type of its blob, the input manifest.
pub const INPUTS_MEDIA_TYPE: &str = "application/vnd.dev.imprint.inputs.v1+json";
/// Annotation naming the image's tag.
pub const TAG_ANNOTATION: &str = "dev.imprint.tag";
/// Annotation with the full content hash.
pub const HASH_ANNOTATION: &str = "dev.imprint.content-hash";

/// The tag the artifact for `hash` lives at.
pub fn artifact_tag(hash: &str) -> String {
    format!("imprint-{hash}")
}

/// An image the registry already holds for a content hash.
#[derive(Debug, Clone, Serialize)]
pub struct Pushed {
    /// Its tag.
    pub tag: String,
    /// Its manifest digest.
    pub digest: String,
}
/// The input manifest: every entry's path and hash, for `preview` and `status` diffs.
#[derive(Serialize)]
struct InputManifest<'a> {
    format: u32,
    hash: String,
    inputs: &'a [imprint_context::Input],
}

/// Finds the image pushed for `hash`, if the artifact exists and its image tag still points
/// at the image it names.
pub async fn lookup(registry: &Registry, hash: &str) -> Result<Option<Pushed>, RegistryError> {
    let Some(found) = registry.get_manifest(&artifact_tag(hash)).await? else {
        return Ok(None);
    };
    let Ok(manifest) = serde_json::from_slice::<ArtifactManifest>(&found.bytes) else {
        tracing::warn!(
            "{} is not an imprint index artifact; ignoring it",
            artifact_tag(hash)
        );
        return Ok(None);
    };
    let (Some(tag), Some(subject)) = (manifest.annotations.get(TAG_ANNOTATION), manifest.subject)
    else {
        return Ok(None);
    };
    match registry.manifest_digest(tag).await? {
        Some(digest) if digest == subject.digest => Ok(Some(Pushed {
            tag: tag.clone(),
            digest,
        })),
        Some(other) => {
            tracing::warn!(
                "{} now points at {other}, not at the image {} recorded for this content",
                registry.repository.uri(tag),
                subject.digest
            );
            Ok(None)
        }
        None => {
            tracing::info!(
                "the image {} recorded for this content is gone",
                registry.repository.uri(tag)
            );
            Ok(None)
        }
    }
}

/// One entry of an input manifest as stored (see docs/index-artifact.md).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RecordedInput {
    /// Path relative to the context.
    pub path: String,
    /// `file`, `dir` or `symlink`.
    pub kind: String,
    /// Files: owner-executable.
    #[serde(default)]
    pub executable: Option<bool>,
    /// Files: readable by others.
    #[serde(default)]
    pub other_readable: Option<bool>,
    /// Files: BLAKE3 in hex.
    #[serde(default)]
    pub hash: Option<String>,
    /// Symlinks: the link text.
    #[serde(default)]
    pub target: Option<String>,
}

#[derive(Deserialize)]
struct RecordedManifest {
    inputs: Vec<RecordedInput>,
}

/// The input manifest pushed for `hash`; `None` when there is no index artifact for it.
pub async fn recorded_inputs(
    registry: &Registry,
    hash: &str,
) -> Result<Option<Vec<RecordedInput>>, RegistryError> {
    let tag = artifact_tag(hash);
    let Some(bytes) =
        read_artifact_blob(registry, &tag, INPUTS_MEDIA_TYPE, "index artifact").await?
    else {
        return Ok(None);
    };
    match serde_json::from_slice::<RecordedManifest>(&bytes) {
        Ok(m) => Ok(Some(m.inputs)),
        Err(e) => {
            tracing::warn!("the input manifest of {tag} is unreadable ({e}); ignoring it");
            Ok(None)
        }
    }
}

/// The content hash an image was built from, from its `dev.imprint.content-hash` label;
/// `None` for an image the registry lacks or imprint did not build.
pub async fn image_hash(
    registry: &Registry,
    digest: &str,
) -> Result<Option<String>, RegistryError> {
    #[derive(Deserialize)]
    struct ImageManifest {
        config: Descriptor,
    }
    #[derive(Deserialize)]
    struct ImageConfig {
        #[serde(default)]
        config: Option<RunConfig>,
    }
    #[derive(Deserialize)]
    struct RunConfig {
        #[serde(rename = "Labels", default)]
        labels: Option<BTreeMap<String, String>>,
    }
    let Some(manifest) = registry.get_manifest(digest).await? else {
        return Ok(None);
    };
    let Ok(manifest) = serde_json::from_slice::<ImageManifest>(&manifest.bytes) else {
        return Ok(None);
    };
    let Some(config) = registry.get_blob(&manifest.config.digest).await? else {
        return Ok(None);
    };
    Ok(serde_json::from_slice::<ImageConfig>(&config)
        .ok()
        .and_then(|c| c.config)
        .and_then(|c| c.labels)
        .and_then(|mut l| l.remove(super::builder::HASH_LABEL)))
}

/// Pushes the artifact for an image just pushed under `tag`.
pub async fn push(
    registry: &Registry,
    hashed: &ContextHash,
    tag: &str,
    image: &Image,
) -> Result<String, RegistryError> {
    let hash = hashed.hex();
    let inputs = serde_json::to_vec(&InputManifest {
        format: FORMAT_VERSION,
        hash: hash.clone(),
        inputs: &hashed.inputs,
    })
    .map_err(|e| RegistryError::Io {
        path: "input manifest".into(),
        source: e.into(),
    })?;
    put_artifact(
        registry,
        &artifact_tag(&hash),
        ARTIFACT_TYPE,
        (INPUTS_MEDIA_TYPE, inputs),
        Some(Descriptor {
            media_type: MANIFEST_MEDIA_TYPE.into(),
            digest: image.digest.clone(),
            size: image.manifest.len() as u64,
        }),
        BTreeMap::from([
            (TAG_ANNOTATION.to_string(), tag.to_string()),
            (HASH_ANNOTATION.to_string(), hash.clone()),
            ("dev.imprint.format".to_string(), FORMAT_VERSION.to_string()),
        ]),
    )
    .await
}
