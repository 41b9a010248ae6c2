//! The index artifact: beside every pushed image, a small OCI artifact tagged
//! `imprint-<full hash>` whose subject is the image, whose annotations name the image's tag,
//! and whose one blob is the input manifest. Looking it up makes the tag stable across calls
//! and machines. Each artifact tag is written once (ECR's immutable tags): a rebuild of the
//! same content goes to the next slot, `imprint-<full hash>-2`, `-3`, …

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
/// Annotation with the time the artifact (and its image) was pushed.
pub const CREATED_ANNOTATION: &str = "org.opencontainers.image.created";
/// Annotation with the full content hash.
pub const HASH_ANNOTATION: &str = "dev.imprint.content-hash";

/// The tag the first artifact for `hash` lives at.
pub fn artifact_tag(hash: &str) -> String {
    slot_tag(hash, 1)
}

/// The tag of slot `n` of `hash`'s artifacts: the first push at `imprint-<hash>`, the
/// rebuilds after it at `imprint-<hash>-<n>`.
fn slot_tag(hash: &str, n: usize) -> String {
    match n {
        1 => format!("imprint-{hash}"),
        n => format!("imprint-{hash}-{n}"),
    }
}

/// The content hash and slot an index artifact tag names (`imprint-<64 hex>[-<n>]`).
pub fn parse_artifact_tag(tag: &str) -> Option<(&str, usize)> {
    let rest = tag.strip_prefix("imprint-")?;
    let (hash, n) = match rest.split_once('-') {
        Some((hash, n)) => (hash, n.parse().ok().filter(|n| *n >= 2)?),
        None => (rest, 1),
    };
    (hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit())).then_some((hash, n))
}

/// The artifacts pushed for `hash`, slot by slot from the first until one is missing, each
/// with its tag; and that first missing slot.
async fn slots(
    registry: &Registry,
    hash: &str,
) -> Result<(Vec<(String, ArtifactManifest)>, usize), RegistryError> {
    let mut found = Vec::new();
    let mut n = 1;
    loop {
        let tag = slot_tag(hash, n);
        let Some(manifest) = registry.get_manifest(&tag).await? else {
            return Ok((found, n));
        };
        match serde_json::from_slice::<ArtifactManifest>(&manifest.bytes) {
            Ok(m) => found.push((tag, m)),
            Err(_) => tracing::warn!("{tag} is not an imprint index artifact; ignoring it"),
        }
        n += 1;
    }
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

/// Finds the image pushed for `hash`: the newest artifact whose image tag still points at
/// the image it names.
pub async fn lookup(registry: &Registry, hash: &str) -> Result<Option<Pushed>, RegistryError> {
    for (artifact, manifest) in slots(registry, hash).await?.0.into_iter().rev() {
        let (Some(tag), Some(subject)) =
            (manifest.annotations.get(TAG_ANNOTATION), manifest.subject)
        else {
            continue;
        };
        match registry.manifest_digest(tag).await? {
            Some(digest) if digest == subject.digest => {
                return Ok(Some(Pushed {
                    tag: tag.clone(),
                    digest,
                }))
            }
            Some(other) => tracing::warn!(
                "{} now points at {other}, not at the image {} that {artifact} records for this content",
                registry.repository.uri(tag),
                subject.digest
            ),
            None => tracing::info!(
                "the image {} that {artifact} records for this content is gone",
                registry.repository.uri(tag)
            ),
        }
    }
    Ok(None)
}

/// The tag of the artifact for `hash` that names the image `digest` at `tag`, if any, and
/// the tag of the first free slot (where a copy of it would go).
pub async fn artifact_of(
    registry: &Registry,
    hash: &str,
    tag: &str,
    digest: &str,
) -> Result<(Option<String>, String), RegistryError> {
    let (found, free) = slots(registry, hash).await?;
    let names = |m: &ArtifactManifest| {
        m.annotations.get(TAG_ANNOTATION).map(String::as_str) == Some(tag)
            && m.subject.as_ref().is_some_and(|s| s.digest == digest)
    };
    let matching = found.into_iter().rev().find(|(_, m)| names(m));
    Ok((matching.map(|(t, _)| t), slot_tag(hash, free)))
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
    // Every slot of a hash holds the same inputs; the first one there is read.
    let Some((tag, _)) = slots(registry, hash).await?.0.into_iter().next() else {
        return Ok(None);
    };
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
        .and_then(|mut l| l.remove(crate::image::build::HASH_LABEL)))
}

/// Pushes the artifact for an image just pushed under `tag`, at the first free slot of its
/// hash (a tag already written is never moved).
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
    let (_, slot) = slots(registry, &hash).await?;
    put_artifact(
        registry,
        &slot_tag(&hash, slot),
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
            // When it was pushed: `gc` keeps what is younger than keep_days.
            (
                CREATED_ANNOTATION.to_string(),
                imprint_context::format_rfc3339(crate::journal::unix_now()),
            ),
        ]),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_tags_name_their_hash_and_slot() {
        let hash = "0123456789abcdef".repeat(4);
        assert_eq!(parse_artifact_tag(&artifact_tag(&hash)), Some((&*hash, 1)));
        assert_eq!(parse_artifact_tag(&slot_tag(&hash, 3)), Some((&*hash, 3)));
        for not in [
            "imprint-journal-20261201-000000-000-00000001-begin".to_string(),
            "imprint-lease-4".into(),
            format!("imprint-{hash}-1"),
            format!("imprint-{hash}-x"),
            format!("imprint-{}", &hash[1..]),
            "20261201-000000-0123abcd".into(),
        ] {
            assert_eq!(parse_artifact_tag(&not), None, "{not}");
        }
    }
}
