//! Whether a manifest in the registry is something the functions can run: an image for the
//! configured platform (or an index holding one), not one of imprint's own artifacts.

use serde::Deserialize;

use crate::error::UsageError;
use crate::registry::{Registry, RegistryError};

/// The config media types of a container image (OCI's and Docker's).
const IMAGE_CONFIGS: [&str; 2] = [
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
];

/// imprint's own artifacts, by artifact type, as a message names them.
const IMPRINTS: [(&str, &str); 4] = [
    (
        crate::journal::ARTIFACT_TYPE,
        "imprint's deploy journal record",
    ),
    (
        crate::journal::LEASE_ARTIFACT_TYPE,
        "imprint's deploy lease marker",
    ),
    (
        crate::journal::GC_ARTIFACT_TYPE,
        "imprint's gc journal record",
    ),
    (
        super::push::index::ARTIFACT_TYPE,
        "imprint's index artifact (an image's list of inputs)",
    ),
];

#[derive(Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Deserialize, PartialEq)]
struct Platform {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
}

impl Platform {
    fn name(&self) -> String {
        match &self.variant {
            Some(variant) => format!("{}/{}/{variant}", self.os, self.architecture),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }

    /// Whether this is `wanted` (`os/arch[/variant]`); arm64's `v8` is its only variant.
    fn is(&self, wanted: &str) -> bool {
        let mut parts = wanted.split('/');
        let (os, arch, variant) = (parts.next(), parts.next(), parts.next());
        let variant_ok = match (variant, self.variant.as_deref()) {
            (Some(want), Some(have)) => want == have,
            (Some(want), None) => arch == Some("arm64") && want == "v8",
            (None, _) => true,
        };
        os == Some(self.os.as_str()) && arch == Some(self.architecture.as_str()) && variant_ok
    }
}

#[derive(Deserialize)]
struct Manifest {
    #[serde(rename = "artifactType", default)]
    artifact_type: Option<String>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
}

/// Refuses (exit 2, naming what it is) a `reference` (tag or digest) of the registry that is
/// not an image the functions can run on `platform`: an artifact (imprint's journal, lease or
/// index artifacts among them), an image for another platform, an index without one,
/// anything else. `uri` names it in messages, as the user gave it.
pub async fn check(
    registry: &Registry,
    (reference, uri): (&str, &str),
    platform: &str,
) -> anyhow::Result<()> {
    let Some(fetched) = registry.get_manifest(reference).await? else {
        return Err(UsageError::new(
            format!("{uri} is not in the registry"),
            "push it first (`imprint push` where it was built), or pick a pushed tag",
        )
        .into());
    };
    let refuse = |what: String| -> anyhow::Error {
        UsageError::new(
            format!("{uri} is {what}, not an image the functions can run on {platform}"),
            "pick an image tag from `imprint history` or `imprint status`",
        )
        .into()
    };
    let manifest: Manifest = serde_json::from_slice(&fetched.bytes)
        .map_err(|e| refuse(format!("not a manifest imprint can read ({e})")))?;
    if let Some(manifests) = &manifest.manifests {
        let platforms: Vec<&Platform> = manifests
            .iter()
            .filter_map(|m| m.platform.as_ref())
            .collect();
        return match platforms.iter().any(|p| p.is(platform)) {
            true => Ok(()),
            false => Err(refuse(format!(
                "an index of images for {}",
                listed(platforms.iter().map(|p| p.name()).collect())
            ))),
        };
    }
    let config_type = manifest
        .config
        .as_ref()
        .map_or("", |c| c.media_type.as_str());
    if !IMAGE_CONFIGS.contains(&config_type) {
        let kind = manifest.artifact_type.as_deref().unwrap_or(config_type);
        let what = IMPRINTS
            .iter()
            .find(|(t, _)| *t == kind)
            .map(|(_, name)| (*name).to_string())
            .unwrap_or_else(|| match kind {
                "" => format!("a manifest of type {}", fetched.media_type),
                kind => format!("an artifact of type {kind}"),
            });
        return Err(refuse(what));
    }
    let config = config_of(registry, &fetched.bytes).await?;
    match config {
        Some(found) if found.is(platform) => Ok(()),
        Some(found) => Err(refuse(format!("an image for {}", found.name()))),
        None => Err(refuse(
            "an image whose config names no platform".to_string(),
        )),
    }
}

/// The platform an image's config blob names.
async fn config_of(
    registry: &Registry,
    manifest: &[u8],
) -> Result<Option<Platform>, RegistryError> {
    #[derive(Deserialize)]
    struct Config {
        digest: String,
    }
    #[derive(Deserialize)]
    struct WithConfig {
        config: Config,
    }
    let Ok(with) = serde_json::from_slice::<WithConfig>(manifest) else {
        return Ok(None);
    };
    let Some(bytes) = registry.get_blob(&with.config.digest).await? else {
        return Ok(None);
    };
    Ok(serde_json::from_slice::<Platform>(&bytes)
        .ok()
        .filter(|p| !p.os.is_empty() && !p.architecture.is_empty()))
}

fn listed(mut names: Vec<String>) -> String {
    names.sort();
    names.dedup();
    match names.is_empty() {
        true => "no platform".to_string(),
        false => names.join(", "),
    }
}
