//! What the repository holds, read for `gc`: every tag sorted into images, index artifacts,
//! journal records and leases; each image with its tags, artifacts, size and push time.

use std::collections::BTreeMap;

use futures_util::stream::{self, StreamExt as _, TryStreamExt as _};
use serde::{Deserialize, Serialize};

use crate::image::push::index::{parse_artifact_tag, CREATED_ANNOTATION, TAG_ANNOTATION};
use crate::journal::{LEASE_PREFIX, TAG_PREFIX};
use crate::registry::{ArtifactManifest, Registry, RegistryError};

/// Requests in flight while the repository is read (HEADs and small GETs).
const PARALLEL: usize = 16;

/// One image manifest in the repository.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StoredImage {
    /// Its manifest digest.
    pub digest: String,
    /// The tags naming it.
    pub tags: Vec<String>,
    /// Its index artifacts (tag, manifest digest): imprint pushed it.
    pub artifacts: Vec<(String, String)>,
    /// When it was pushed (Unix seconds), from its artifact or its tag's timestamp.
    pub pushed: Option<i64>,
    /// Its manifest, config and layers, each blob once (digest → bytes).
    #[serde(skip)]
    pub blobs: BTreeMap<String, u64>,
}

impl StoredImage {
    /// Whether imprint pushed it (it has an index artifact).
    pub fn is_imprints(&self) -> bool {
        !self.artifacts.is_empty()
    }

    /// The tag to show it by.
    pub fn name(&self) -> &str {
        self.tags
            .first()
            .map_or(self.digest.as_str(), String::as_str)
    }
}

/// A journal record's tag, with the ID and the time its ID starts with.
#[derive(Debug, Clone, Serialize)]
pub struct JournalTag {
    /// The tag.
    pub tag: String,
    /// The deployment's ID.
    pub id: String,
    /// When it began (Unix seconds), from the ID.
    pub time: Option<i64>,
}

/// Everything in the repository, as `gc` sees it.
#[derive(Debug, Default)]
pub struct Inventory {
    /// Images by manifest digest.
    pub images: BTreeMap<String, StoredImage>,
    /// Journal records.
    pub journal: Vec<JournalTag>,
}

/// Reads every tag of the repository and what each names.
pub async fn read(registry: &Registry) -> Result<Inventory, RegistryError> {
    let mut inventory = Inventory::default();
    let (mut image_tags, mut artifact_tags) = (Vec::new(), Vec::new());
    for tag in registry.tags().await? {
        if let Some(rest) = tag.strip_prefix(TAG_PREFIX) {
            let id = rest
                .trim_end_matches("-begin")
                .trim_end_matches("-end")
                .trim_end_matches("-gc")
                .to_string();
            let time = imprint_context::parse_utc(&id);
            inventory.journal.push(JournalTag { tag, id, time });
        } else if tag.starts_with(LEASE_PREFIX) {
        } else if parse_artifact_tag(&tag).is_some() {
            artifact_tags.push(tag);
        } else {
            image_tags.push(tag);
        }
    }
    // One GET per image tag gives its digest and its blobs.
    let named: Vec<(String, Option<Stored>)> = stream::iter(image_tags)
        .map(|tag| async move {
            let found = blobs(registry, &tag).await?;
            Ok::<_, RegistryError>((tag, found))
        })
        .buffer_unordered(PARALLEL)
        .try_collect()
        .await?;
    for (tag, found) in named {
        let Some((digest, blobs)) = found else {
            continue;
        };
        let image = inventory.images.entry(digest.clone()).or_default();
        image.digest = digest;
        image.blobs = blobs;
        image.tags.push(tag);
    }
    let artifacts: Vec<Option<(String, String, ArtifactManifest)>> = stream::iter(artifact_tags)
        .map(|tag| async move {
            let Some(found) = registry.get_manifest(&tag).await? else {
                return Ok(None);
            };
            let parsed = serde_json::from_slice::<ArtifactManifest>(&found.bytes).ok();
            Ok::<_, RegistryError>(parsed.map(|m| (tag, found.digest, m)))
        })
        .buffer_unordered(PARALLEL)
        .try_collect()
        .await?;
    for (tag, digest, manifest) in artifacts.into_iter().flatten() {
        let Some(subject) = &manifest.subject else {
            continue;
        };
        let image = inventory.images.entry(subject.digest.clone()).or_default();
        image.digest.clone_from(&subject.digest);
        let pushed = manifest
            .annotations
            .get(CREATED_ANNOTATION)
            .or(manifest.annotations.get(TAG_ANNOTATION))
            .and_then(|t| imprint_context::parse_utc(t));
        image.pushed = image.pushed.max(pushed);
        image.artifacts.push((tag, digest));
    }
    for image in inventory.images.values_mut() {
        image.tags.sort();
        image.artifacts.sort();
        if image.pushed.is_none() {
            image.pushed = image
                .tags
                .iter()
                .filter_map(|t| imprint_context::parse_utc(t))
                .max();
        }
    }
    // Images only an artifact names (their tag is gone): read by digest.
    let untagged: Vec<String> = inventory
        .images
        .values()
        .filter(|i| i.blobs.is_empty())
        .map(|i| i.digest.clone())
        .collect();
    let sized: Vec<Option<Stored>> = stream::iter(untagged)
        .map(|digest| async move { blobs(registry, &digest).await })
        .buffer_unordered(PARALLEL)
        .try_collect()
        .await?;
    for (digest, blobs) in sized.into_iter().flatten() {
        if let Some(image) = inventory.images.get_mut(&digest) {
            image.blobs = blobs;
        }
    }
    Ok(inventory)
}

/// A manifest's digest and the blobs it stores (itself, its config, its layers) by size.
type Stored = (String, BTreeMap<String, u64>);

/// The manifest at `reference` (a tag or digest), [`Stored`]; `None` when it is gone.
async fn blobs(registry: &Registry, reference: &str) -> Result<Option<Stored>, RegistryError> {
    #[derive(Deserialize)]
    struct Blob {
        digest: String,
        size: u64,
    }
    #[derive(Deserialize)]
    struct Parts {
        config: Option<Blob>,
        #[serde(default)]
        layers: Vec<Blob>,
    }
    let Some(manifest) = registry.get_manifest(reference).await? else {
        return Ok(None);
    };
    let mut out = BTreeMap::from([(manifest.digest.clone(), manifest.bytes.len() as u64)]);
    if let Ok(parts) = serde_json::from_slice::<Parts>(&manifest.bytes) {
        for blob in parts.config.into_iter().chain(parts.layers) {
            out.insert(blob.digest, blob.size);
        }
    }
    Ok(Some((manifest.digest, out)))
}
