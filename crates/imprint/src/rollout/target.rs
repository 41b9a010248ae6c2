//! The image a rollout moves the functions to, and the check that it is in the registry.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::UsageError;
use crate::image::push::publish::Published;
use crate::image::{check_given_tag, deployable};
use crate::journal::{self, Checkout, FunctionImage, Planned, Record, RollbackTo};
use crate::lambda::tag_of;
use crate::registry::Registry;
use crate::reporter::Reporter;

/// The image a rollout moves the functions to.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// Its tag.
    pub tag: String,
    /// What Lambda is given.
    pub image_uri: String,
    /// Its manifest digest.
    pub digest: String,
    /// Its content hash, when imprint built it from the local tree.
    pub hash: Option<String>,
    /// That tree's git checkout, when it is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkout: Option<Checkout>,
    /// Versions the journal says run it, by function (a rollback through an alias flips
    /// the alias to them instead of publishing again).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub versions: BTreeMap<String, String>,
}

impl Target {
    /// The image as functions run it and the journal records it.
    pub fn image(&self) -> FunctionImage {
        FunctionImage {
            uri: self.image_uri.clone(),
            digest: Some(self.digest.clone()),
        }
    }
}

impl From<Published> for Target {
    fn from(p: Published) -> Self {
        Self {
            tag: p.tag,
            image_uri: p.image_uri,
            digest: p.digest,
            hash: Some(p.hash),
            checkout: p.checkout,
            versions: BTreeMap::new(),
        }
    }
}

/// A pushed image as a target: `tag`, which must name an image for `platform` in the
/// registry (never one of imprint's own artifacts). With the digest a deployment recorded, a
/// tag since moved or deleted falls back to that digest while the registry still holds it;
/// an image gone from the registry is refused before any change.
pub async fn pushed_target(
    registry: &Registry,
    (tag, platform): (&str, &str),
    recorded: Option<&str>,
    hash: Option<String>,
    reporter: &dyn Reporter,
) -> anyhow::Result<Target> {
    check_given_tag(tag)?;
    let target = resolve(registry, tag, recorded, hash, reporter).await?;
    deployable::check(registry, (&target.digest, &target.image_uri), platform).await?;
    Ok(target)
}

/// The image `tag` names now, or the recorded digest when the tag has moved.
async fn resolve(
    registry: &Registry,
    tag: &str,
    recorded: Option<&str>,
    hash: Option<String>,
    reporter: &dyn Reporter,
) -> anyhow::Result<Target> {
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
            reporter.warn(&format!(
                "{uri} {}; using the recorded image {want} by digest",
                if now.is_some() {
                    "now names another image"
                } else {
                    "is gone"
                }
            ));
            return Ok(Target {
                tag: tag.to_string(),
                image_uri: format!("{}@{want}", registry.repository),
                digest: want.to_string(),
                hash,
                checkout: None,
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
        image_uri: uri,
        digest,
        hash,
        checkout: None,
        versions: BTreeMap::new(),
    })
}

/// How many of the newest deployments a rollback reads first.
const RECENT: usize = 50;

/// Where a rollback of `names` goes: `to`, guarded by the digest the journal recorded for
/// it when it was deployed; else the deployment before the current one
/// ([`journal::previous`]).
pub async fn rollback_target(
    (registry, platform): (&Registry, &str),
    names: &[String],
    to: Option<&str>,
    reporter: &dyn Reporter,
) -> anyhow::Result<Target> {
    // The newest deployments decide almost every rollback; the whole journal is read only
    // when they do not.
    let recent = journal::entries(registry, Some(RECENT)).await?;
    let decided = |entries: &[journal::Deployment]| match to {
        Some(tag) => entries
            .iter()
            .filter_map(journal::succeeded)
            .any(|r| r.tag == tag),
        None => !matches!(
            journal::previous(entries, false, names, &registry.repository),
            Ok(None)
        ),
    };
    let entries = if recent.len() < RECENT || decided(&recent) {
        recent
    } else {
        journal::entries(registry, None).await?
    };
    let (tag, recorded) = match to {
        Some(tag) => {
            let recorded = entries
                .iter()
                .rev()
                .filter_map(journal::succeeded)
                .find(|r| r.tag == tag);
            if recorded.is_none() {
                reporter.note(&format!(
                    "{tag} is not a successful deployment in the journal; going to it as pushed"
                ));
            }
            (tag, recorded)
        }
        None => match journal::previous(&entries, true, names, &registry.repository)?
            .ok_or_else(|| anyhow::anyhow!("the whole journal did not decide the rollback"))?
        {
            RollbackTo::Deployment(record) => {
                reporter.note(&format!(
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
            RollbackTo::BeforeFirst { first, begin } => {
                return before_first((registry, platform), names, first, begin, reporter).await
            }
        },
    };
    let mut target = pushed_target(
        registry,
        (tag, platform),
        recorded.and_then(|r| r.image.digest.as_deref()),
        recorded.and_then(|r| r.content_hash.clone()),
        reporter,
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

/// Where a rollback of `names` goes when the journal has no deployment before `first`: the
/// one image they ran before it, from its begin record (by digest when its tag has moved).
async fn before_first(
    (registry, platform): (&Registry, &str),
    names: &[String],
    first: &Record,
    begin: Option<&Record>,
    reporter: &dyn Reporter,
) -> anyhow::Result<Target> {
    let refuse = |why: String| no_image_before(first, &why);
    let begin = begin.ok_or_else(|| refuse("its begin record is gone".into()))?;
    let planned: Vec<_> = begin
        .functions
        .iter()
        .filter(|f| names.contains(&f.name))
        .collect();
    let (digest, uri) = one_image_before(first, &planned)?;
    let repository = registry.repository.to_string();
    let ours = uri
        .strip_prefix(repository.as_str())
        .is_some_and(|rest| rest.starts_with(':') || rest.starts_with('@'));
    if !ours {
        return Err(refuse(format!(
            "before it the functions ran {uri}, which is not in {repository}"
        ))
        .into());
    }
    reporter.note(&format!(
        "no deployment in the journal before {} ({}); going back to what the functions ran before it: {uri} ({digest})",
        first.tag, first.time
    ));
    for name in names
        .iter()
        .filter(|n| !planned.iter().any(|f| &f.name == *n))
    {
        reporter.warn(&format!(
            "{name} was not part of {}; it goes to the same image",
            first.tag
        ));
    }
    let mut target = match tag_of(uri) {
        Some(tag) => {
            pushed_target(registry, (&tag, platform), Some(digest), None, reporter).await?
        }
        None => {
            if registry.manifest_digest(digest).await?.as_deref() != Some(digest) {
                return Err(UsageError::new(
                    format!("the image {uri} is gone from the registry; nothing was changed"),
                    "pass --to TAG to go to a pushed image (see `imprint history`)",
                )
                .into());
            }
            deployable::check(registry, (digest, uri), platform).await?;
            Target {
                tag: digest.to_string(),
                image_uri: uri.to_string(),
                digest: digest.to_string(),
                hash: None,
                checkout: None,
                versions: BTreeMap::new(),
            }
        }
    };
    target.versions = planned
        .iter()
        .filter_map(|f| Some((f.name.clone(), f.old_version.clone()?)))
        .filter(|(_, v)| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    Ok(target)
}

/// Refusing a rollback past `first`, the journal's first deployment, for `why`.
fn no_image_before(first: &Record, why: &str) -> UsageError {
    UsageError::new(
        format!(
            "{} (deployed {}) is the first deployment in the journal; {why}",
            first.tag, first.time
        ),
        "pass --to TAG to go to a pushed image (see `imprint history`)",
    )
}

/// The one image (digest, URI) `planned`, from `first`'s begin record, ran before it.
fn one_image_before<'a>(
    first: &Record,
    planned: &[&'a Planned],
) -> Result<(&'a str, &'a str), UsageError> {
    let mut before: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
    for f in planned {
        let old = f
            .old
            .as_ref()
            .and_then(|o| Some((o.uri.as_str(), o.digest.as_deref()?)));
        let Some((uri, digest)) = old else {
            let why = format!("it does not say which image {} ran before", f.name);
            return Err(no_image_before(first, &why));
        };
        before.entry((digest, uri)).or_default().push(&f.name);
    }
    let mut digests = before.keys().map(|(d, _)| *d).collect::<Vec<_>>();
    digests.dedup();
    match (digests.len(), before.keys().next()) {
        (1, Some(&(digest, uri))) => Ok((digest, uri)),
        (0, _) | (_, None) => Err(no_image_before(first, "it names none of these functions")),
        _ => {
            let list = before
                .iter()
                .map(|((_, uri), fs)| format!("{uri} ({})", fs.join(", ")))
                .collect::<Vec<_>>()
                .join("; ");
            Err(UsageError::new(
                format!("before {}, the functions ran different images: {list}", first.tag),
                "a rollback moves every selected function to one image: roll back each group with --function NAME --to TAG",
            ))
        }
    }
}
