//! Promotion: `deploy --env prod --tag T` with an image another environment pushed. The
//! image at `T` is copied from that environment's repository (another account or region) to
//! this one's, verified by digest, with its index artifact; a tag already there is used as it
//! is, and never moved.

use std::fmt;

use serde::Serialize;

use super::index;
use super::publish::ensure_repository;
use crate::error::UsageError;
use crate::image::{check_given_tag, deployable};
use crate::registry::{copy_manifest, Copied, Registry};
use crate::session::Session;
use crate::state;

/// An image copied into this environment's repository.
#[derive(Debug, Clone, Serialize)]
pub struct Promoted {
    /// Where it was read.
    pub from: String,
    /// Where it now is.
    pub to: String,
    /// Its manifest digest, the same in both.
    pub digest: String,
    /// What was moved (nothing when the tag was already there).
    pub copied: Copied,
    /// The tag of its index artifact here, when the source had one.
    pub artifact: Option<String>,
}

impl fmt::Display for Promoted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.copied;
        write!(
            f,
            "copied {}: {} blob(s) sent ({:.1} MB), {} mounted, {} already there",
            self.digest,
            c.blobs_sent,
            c.bytes_sent as f64 / 1e6,
            c.blobs_mounted,
            c.blobs_present
        )?;
        match &self.artifact {
            Some(tag) => write!(f, "; index artifact {tag}"),
            None => write!(f, "; the source has no index artifact for it"),
        }
    }
}

/// Brings `tag` into this run's repository from the environment `from` (else from the
/// repository outside every `[env.NAME]`) when it is not there yet, or always when `from` is
/// named; the ECR repository is made first when `create_repo`. `None` when there is nothing
/// to copy: the source is this repository, or, with no `from`, the tag is already here.
pub async fn promote(
    session: &Session,
    tag: &str,
    from: Option<&str>,
    create_repo: bool,
) -> anyhow::Result<Option<Promoted>> {
    let Some(source) = session.settings.source(from)? else {
        if from.is_some() {
            session
                .reporter()
                .note("the source environment uses this repository; nothing to copy");
        }
        return Ok(None);
    };
    check_given_tag(tag)?;
    let to = session.registry().await?;
    let here = to.manifest_digest(tag).await?;
    if from.is_none() && here.is_some() {
        return Ok(None);
    }
    let source = Session::new(source, session.shared_reporter());
    let from_registry = source.registry().await?;
    let (from_uri, to_uri) = (from_registry.repository.uri(tag), to.repository.uri(tag));
    let Some(digest) = from_registry.manifest_digest(tag).await? else {
        return Err(UsageError::new(
            format!("{to_uri} is not in the registry, and neither is {from_uri} to copy it from"),
            "push it first (`imprint push` in the environment it comes from), or pick a pushed tag (`imprint history`)",
        )
        .into());
    };
    // What is copied must be an image the functions can run, not an artifact of imprint's.
    let platform = session.settings.build.params.platform.as_str();
    deployable::check(from_registry, (&digest, &from_uri), platform).await?;
    if let Some(here) = here.as_ref().filter(|here| **here != digest) {
        return Err(UsageError::new(
            format!("{to_uri} is another image ({here}) than {from_uri} ({digest}); imprint never moves a tag"),
            "deploy the image here as it is (without --from), or promote another tag",
        )
        .into());
    }
    ensure_repository(session, to, create_repo).await?;
    let scratch = state::scratch_dir("copies")
        .map_err(|e| anyhow::anyhow!("cannot make a scratch folder for the copy: {e}"))?;
    // A tag already here (the same image) is not written again: ECR's immutable tags
    // refuse even the same manifest.
    let copied = match here {
        Some(_) => Copied::default(),
        None => {
            session
                .reporter()
                .step(&format!("copying {from_uri} to {to_uri}"));
            let (_, copied) = copy_manifest(from_registry, to, tag, tag, scratch.path())
                .await?
                .ok_or_else(|| anyhow::anyhow!("{from_uri} went away while it was being copied"))?;
            copied
        }
    };
    let artifact = copy_index_artifact(from_registry, to, tag, &digest, scratch.path()).await?;
    let promoted = Promoted {
        from: from_uri,
        to: to_uri,
        digest,
        copied,
        artifact,
    };
    if promoted.artifact.is_none() {
        session.reporter().warn(&format!(
            "{} has no index artifact: `preview` and `status` here cannot list its files",
            promoted.from
        ));
    }
    session.reporter().note(&promoted.to_string());
    Ok(Some(promoted))
}

/// The index artifact of the image `digest` at `tag`, copied from `from` to `to` (unless
/// `to` has one for it already); its tag in `to`, `None` when `from` has none.
async fn copy_index_artifact(
    from: &Registry,
    to: &Registry,
    tag: &str,
    digest: &str,
    scratch: &std::path::Path,
) -> anyhow::Result<Option<String>> {
    let Some(hash) = index::image_hash(from, digest).await? else {
        return Ok(None);
    };
    let Some(source) = index::artifact_of(from, &hash, tag, digest).await?.0 else {
        return Ok(None);
    };
    let (here, free) = index::artifact_of(to, &hash, tag, digest).await?;
    if let Some(here) = here {
        return Ok(Some(here));
    }
    copy_manifest(from, to, &source, &free, scratch).await?;
    Ok(Some(free))
}
