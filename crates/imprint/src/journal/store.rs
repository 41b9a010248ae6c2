//! Reading and writing the journal in the registry: each record is a one-blob artifact at
//! `imprint-journal-<id>-begin` / `-end` whose subject is the deployed image, so the
//! referrers API and `gc` see what the journal keeps alive. Reading walks back through the
//! lease generations, each naming the journal ID of the run that took it: the newest
//! deployments cost a few requests however long the journal is. Journals (or their older
//! part) written before leases named IDs are read by listing the repository's tags.

use std::collections::{BTreeMap, HashSet};

use futures_util::stream::{self, StreamExt as _, TryStreamExt as _};

use super::lease::{deployment_at, newest_generation};
use super::record::{
    record_tag, DeploymentOutcome, Kind, Record, ARTIFACT_TYPE, JOURNAL_FORMAT, RECORD_MEDIA_TYPE,
    TAG_PREFIX,
};
use crate::lambda::PARALLEL_READS;
use crate::registry::{put_artifact, read_artifact_blob, Descriptor, Registry, RegistryError};

/// Stores a record under its tag, its subject the deployed image.
pub async fn write(registry: &Registry, record: &Record) -> Result<(), RegistryError> {
    let io = |e: serde_json::Error| RegistryError::Io {
        path: "journal record".into(),
        source: e.into(),
    };
    let body = serde_json::to_vec_pretty(record).map_err(io)?;
    let subject = match &record.image.digest {
        Some(digest) => registry.get_manifest(digest).await?.map(|m| Descriptor {
            media_type: m.media_type,
            size: m.bytes.len() as u64,
            digest: m.digest,
        }),
        None => None,
    };
    put_artifact(
        registry,
        &record.tag_name(),
        ARTIFACT_TYPE,
        (RECORD_MEDIA_TYPE, body),
        subject,
        BTreeMap::from([
            ("dev.imprint.journal.id".to_string(), record.id.clone()),
            (
                "dev.imprint.journal.kind".to_string(),
                record.kind.suffix().to_string(),
            ),
            ("dev.imprint.tag".to_string(), record.tag.clone()),
            (
                "org.opencontainers.image.created".to_string(),
                record.time.clone(),
            ),
        ]),
    )
    .await?;
    Ok(())
}

/// Reads the record at a journal tag; `None` when the tag is gone or holds something else.
pub async fn read(registry: &Registry, tag: &str) -> Result<Option<Record>, RegistryError> {
    let Some(bytes) =
        read_artifact_blob(registry, tag, RECORD_MEDIA_TYPE, "journal record").await?
    else {
        return Ok(None);
    };
    match serde_json::from_slice::<Record>(&bytes) {
        Ok(record) if record.format == JOURNAL_FORMAT => Ok(Some(record)),
        Ok(record) => {
            tracing::warn!(
                "{tag} is journal format {}, this imprint reads {JOURNAL_FORMAT}; ignoring it",
                record.format
            );
            Ok(None)
        }
        Err(e) => {
            tracing::warn!("{tag} holds an unreadable journal record ({e}); ignoring it");
            Ok(None)
        }
    }
}

/// One deployment (or rollback) as the journal tells it: its two records.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// The deployment's ID.
    pub id: String,
    /// Its begin record (absent only when someone deleted it).
    pub begin: Option<Record>,
    /// Its end record; absent for an interrupted (or running) deploy.
    pub end: Option<Record>,
}

/// The IDs in the journal's tags, oldest first, with whether each has a begin and an end tag
/// (lists every tag: only for journals written before leases named their IDs).
async fn list(registry: &Registry) -> Result<Vec<(String, bool, bool)>, RegistryError> {
    let mut ids: BTreeMap<String, (bool, bool)> = BTreeMap::new();
    for tag in registry.tags().await? {
        let Some(rest) = tag.strip_prefix(TAG_PREFIX) else {
            continue;
        };
        if let Some(id) = rest.strip_suffix("-begin") {
            ids.entry(id.to_string()).or_default().0 = true;
        } else if let Some(id) = rest.strip_suffix("-end") {
            ids.entry(id.to_string()).or_default().1 = true;
        }
    }
    Ok(ids.into_iter().map(|(id, (b, e))| (id, b, e)).collect())
}

/// Reads the records of `ids` (each with whether to look for its begin and end), in order,
/// a few at a time; IDs with neither record are left out.
async fn read_all(
    registry: &Registry,
    ids: Vec<(String, bool, bool)>,
) -> Result<Vec<Deployment>, RegistryError> {
    let read: Vec<Deployment> = stream::iter(ids)
        .map(|(id, begin, end)| async move {
            let read_if = |wanted: bool, kind: Kind| {
                let tag = record_tag(&id, kind);
                async move {
                    match wanted {
                        true => read(registry, &tag).await,
                        false => Ok(None),
                    }
                }
            };
            let (begin, end) =
                tokio::try_join!(read_if(begin, Kind::Begin), read_if(end, Kind::End))?;
            Ok::<_, RegistryError>(Deployment { id, begin, end })
        })
        .buffered(PARALLEL_READS)
        .try_collect()
        .await?;
    Ok(read
        .into_iter()
        .filter(|d| d.begin.is_some() || d.end.is_some())
        .collect())
}

/// Walks the journal back from the newest deployment, handing each to `enough` until it says
/// so; what it read, newest first. Lease generations are read a batch at a time, newest
/// first; from a lease that names no journal ID (an older imprint's) on, the rest comes from
/// the tag list.
async fn walk_back(
    registry: &Registry,
    mut enough: impl FnMut(&Deployment) -> bool,
) -> Result<Vec<Deployment>, RegistryError> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut next = newest_generation(registry).await?.unwrap_or(0);
    let mut legacy = next == 0;
    while next >= 1 && !legacy {
        let low = next.saturating_sub(PARALLEL_READS as u64 - 1).max(1);
        let named: Vec<Option<Option<String>>> = stream::iter((low..=next).rev())
            .map(|generation| deployment_at(registry, generation))
            .buffered(PARALLEL_READS)
            .try_collect()
            .await?;
        let mut ids = Vec::new();
        for id in named.into_iter().flatten() {
            match id {
                Some(id) if seen.insert(id.clone()) => ids.push((id, true, true)),
                Some(_) => {}
                None => {
                    legacy = true;
                    break;
                }
            }
        }
        for deployment in read_all(registry, ids).await? {
            let done = enough(&deployment);
            out.push(deployment);
            if done {
                return Ok(out);
            }
        }
        next = low - 1;
    }
    if legacy {
        let older = list(registry)
            .await?
            .into_iter()
            .filter(|(id, ..)| !seen.contains(id))
            .collect();
        for deployment in read_all(registry, older).await?.into_iter().rev() {
            let done = enough(&deployment);
            out.push(deployment);
            if done {
                break;
            }
        }
    }
    Ok(out)
}

/// Deploys that began and never ended, oldest first, with their begin records. A deploy
/// closes every unfinished one before it writes its own begin record, so the walk stops at
/// the newest deployment that has one.
pub async fn unfinished(registry: &Registry) -> Result<Vec<Record>, RegistryError> {
    let walked = walk_back(registry, |d| d.begin.is_some()).await?;
    Ok(walked
        .into_iter()
        .rev()
        .filter(|d| d.end.is_none())
        .filter_map(|d| d.begin)
        .collect())
}

/// The end record of a deployment (or rollback) that succeeded.
pub fn succeeded(entry: &Deployment) -> Option<&Record> {
    entry
        .end
        .as_ref()
        .filter(|r| r.outcome == Some(DeploymentOutcome::Succeeded))
}

/// The end record of the newest deployment (or rollback) that succeeded, if any.
pub async fn newest_succeeded(registry: &Registry) -> Result<Option<Record>, RegistryError> {
    let newest = successful(registry, 1).await?;
    Ok(newest.iter().find_map(succeeded).cloned())
}

/// The newest `n` deployments (or rollbacks) that succeeded, newest first.
pub async fn successful(registry: &Registry, n: usize) -> Result<Vec<Deployment>, RegistryError> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let mut count = 0;
    let walked = walk_back(registry, |d| {
        count += usize::from(succeeded(d).is_some());
        count >= n
    })
    .await?;
    Ok(walked
        .into_iter()
        .filter(|d| succeeded(d).is_some())
        .collect())
}

/// Reads the deploys in the journal (the newest `limit` of them, or all), oldest first.
pub async fn entries(
    registry: &Registry,
    limit: Option<usize>,
) -> Result<Vec<Deployment>, RegistryError> {
    let limit = limit.unwrap_or(usize::MAX);
    if limit == 0 {
        return Ok(Vec::new());
    }
    let mut count = 0;
    let mut walked = walk_back(registry, |_| {
        count += 1;
        count >= limit
    })
    .await?;
    walked.reverse();
    Ok(walked)
}
