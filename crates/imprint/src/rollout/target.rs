//! The image a rollout moves the functions to, and the check that it is in the registry.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::UsageError;
use crate::image::publish::Published;
use crate::journal::{self, ImageRef};
use crate::printer::Printer;
use crate::registry::Registry;

/// The image a rollout moves the functions to.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// Its tag.
    pub tag: String,
    /// What Lambda is given.
    pub uri: String,
    /// Its manifest digest.
    pub digest: String,
    /// Its content hash, when imprint built it from the local tree.
    pub hash: Option<String>,
    /// Versions the journal says run it, by function (a rollback through an alias flips
    /// the alias to them instead of publishing again).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub versions: BTreeMap<String, String>,
}

impl Target {
    /// The image as functions run it and the journal records it.
    pub fn image(&self) -> ImageRef {
        ImageRef {
            uri: self.uri.clone(),
            digest: Some(self.digest.clone()),
        }
    }
}

impl From<Published> for Target {
    fn from(p: Published) -> Self {
        Self {
            tag: p.tag,
            uri: p.uri,
            digest: p.digest,
            hash: Some(p.hash),
            versions: BTreeMap::new(),
        }
    }
}

/// A pushed image as a target: `tag`, which must be in the registry. With the digest a
/// deployment recorded, a tag since moved or deleted falls back to that digest while the
/// registry still holds it; an image gone from the registry is refused before any change.
pub async fn pushed_target(
    registry: &Registry,
    tag: &str,
    recorded: Option<&str>,
    hash: Option<String>,
    printer: &Printer,
) -> anyhow::Result<Target> {
    imprint_context::validate_tag(tag).map_err(|why| {
        UsageError::new(
            format!("{tag} is not a valid tag: {why}"),
            "pass a tag from `imprint history` or `imprint status`",
        )
    })?;
    let uri = registry.repository.uri(tag);
    let now = registry.manifest_digest(tag).await?;
    let digest = match (now, recorded) {
        (Some(now), None) => now,
        (Some(now), Some(want)) if now == want => now,
        (now, Some(want)) => {
            if registry.manifest_digest(want).await?.as_deref() != Some(want) {
                return Err(UsageError::new(
                    format!("the image {uri} ({want}) is gone from the registry; nothing was changed"),
                    "pick another deployment from `imprint history` (--to TAG), or deploy that content again",
                )
                .into());
            }
            printer.warn(&format!(
                "{uri} {}; using the recorded image {want} by digest",
                if now.is_some() {
                    "now names another image"
                } else {
                    "is gone"
                }
            ));
            return Ok(Target {
                tag: tag.to_string(),
                uri: format!("{}@{want}", registry.repository),
                digest: want.to_string(),
                hash,
                versions: BTreeMap::new(),
            });
        }
        (None, None) => {
            return Err(UsageError::new(
                format!("{uri} is not in the registry"),
                "push it first (`imprint push` where it was built), or pick a pushed tag",
            )
            .into())
        }
    };
    Ok(Target {
        tag: tag.to_string(),
        uri,
        digest,
        hash,
        versions: BTreeMap::new(),
    })
}

/// Where a rollback of `names` goes: `to`, guarded by the digest the journal recorded for
/// it when it was deployed; else the deployment before the current one
/// ([`journal::previous`]).
pub async fn rollback_target(
    registry: &Registry,
    names: &[String],
    to: Option<&str>,
    printer: &Printer,
) -> anyhow::Result<Target> {
    let entries = journal::entries(registry, None).await?;
    let (tag, recorded) = match to {
        Some(tag) => {
            let recorded = entries
                .iter()
                .rev()
                .filter_map(journal::succeeded)
                .find(|r| r.tag == tag);
            if recorded.is_none() {
                printer.note(&format!(
                    "{tag} is not a successful deployment in the journal; going to it as pushed"
                ));
            }
            (tag, recorded)
        }
        None => {
            let record = journal::previous(&entries, names, &registry.repository)?;
            printer.note(&format!(
                "going back to {} ({}), deployed {} by {}",
                record.tag,
                record
                    .image
                    .digest
                    .as_deref()
                    .unwrap_or("no digest recorded"),
                record.time,
                record.caller.arn.as_deref().unwrap_or("an unknown caller")
            ));
            (record.tag.as_str(), Some(record))
        }
    };
    let mut target = pushed_target(
        registry,
        tag,
        recorded.and_then(|r| r.image.digest.as_deref()),
        recorded.and_then(|r| r.content_hash.clone()),
        printer,
    )
    .await?;
    if let Some(record) = recorded.filter(|r| r.image.digest.as_ref() == Some(&target.digest)) {
        target.versions = record
            .results
            .iter()
            .filter_map(|f| Some((f.name.clone(), f.version.clone()?)))
            .filter(|(_, v)| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .collect();
    }
    Ok(target)
}
