//! One-blob OCI artifacts (the index artifact, journal records): a manifest with an empty
//! config, one layer holding the blob, an optional subject and annotations.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::client::Registry;
use super::error::RegistryError;

pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";

/// An OCI content descriptor.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Descriptor {
    #[serde(rename = "mediaType")]
    pub(crate) media_type: String,
    pub(crate) digest: String,
    pub(crate) size: u64,
}

/// A one-blob OCI artifact manifest (the index artifact, journal records).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ArtifactManifest {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType")]
    media_type: String,
    #[serde(rename = "artifactType", default)]
    artifact_type: Option<String>,
    config: Descriptor,
    pub(crate) layers: Vec<Descriptor>,
    #[serde(default)]
    pub(crate) subject: Option<Descriptor>,
    #[serde(default)]
    pub(crate) annotations: BTreeMap<String, String>,
}

/// Stores `blob` and an artifact manifest naming it (empty config, `subject`, `annotations`)
/// at `tag`; returns the manifest digest.
pub(crate) async fn put_artifact(
    registry: &Registry,
    tag: &str,
    artifact_type: &str,
    (blob_media_type, blob): (&str, Vec<u8>),
    subject: Option<Descriptor>,
    annotations: BTreeMap<String, String>,
) -> Result<String, RegistryError> {
    let size = blob.len() as u64;
    let digest = registry.put_blob_bytes(blob).await?;
    let empty_digest = registry.put_blob_bytes(b"{}".to_vec()).await?;
    let manifest = ArtifactManifest {
        schema_version: 2,
        media_type: OCI_MANIFEST.into(),
        artifact_type: Some(artifact_type.into()),
        config: Descriptor {
            media_type: EMPTY_MEDIA_TYPE.into(),
            digest: empty_digest,
            size: 2,
        },
        layers: vec![Descriptor {
            media_type: blob_media_type.into(),
            digest,
            size,
        }],
        subject,
        annotations,
    };
    let bytes = serde_json::to_vec(&manifest).map_err(|e| RegistryError::Io {
        path: format!("artifact manifest for {tag}"),
        source: e.into(),
    })?;
    registry.put_manifest(tag, OCI_MANIFEST, bytes).await
}

/// The one blob of `media_type` in the one-blob artifact at `tag` (the index artifact, a
/// journal record); `None`, with a warning naming `what`, when the tag is missing or holds
/// something else, or the blob is gone.
pub(crate) async fn read_artifact_blob(
    registry: &Registry,
    tag: &str,
    media_type: &str,
    what: &str,
) -> Result<Option<Vec<u8>>, RegistryError> {
    let Some(found) = registry.get_manifest(tag).await? else {
        return Ok(None);
    };
    let layer = serde_json::from_slice::<ArtifactManifest>(&found.bytes)
        .ok()
        .and_then(|m| m.layers.into_iter().find(|l| l.media_type == media_type));
    let Some(layer) = layer else {
        tracing::warn!("{tag} is not an imprint {what}; ignoring it");
        return Ok(None);
    };
    let blob = registry.get_blob(&layer.digest).await?;
    if blob.is_none() {
        tracing::warn!("the {what} blob of {tag} ({}) is gone", layer.digest);
    }
    Ok(blob)
}
