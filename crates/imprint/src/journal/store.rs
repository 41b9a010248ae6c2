//! Reading and writing the journal in the registry: each record is a one-blob artifact at
//! `imprint-journal-<id>-begin` / `-end` whose subject is the deployed image, so the
//! referrers API and a later `gc` see what the journal keeps alive.

use std::collections::BTreeMap;

use futures_util::stream::{self, StreamExt as _, TryStreamExt as _};

use super::record::{
    record_tag, Kind, Record, ARTIFACT_TYPE, JOURNAL_FORMAT, RECORD_MEDIA_TYPE, TAG_PREFIX,
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

/// The IDs in the journal, oldest first, with whether each has a begin and an end tag.
pub async fn list(registry: &Registry) -> Result<Vec<(String, bool, bool)>, RegistryError> {
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

/// Deploys that began and never ended, oldest first, with their begin records.
pub async fn unfinished(registry: &Registry) -> Result<Vec<Record>, RegistryError> {
    let mut out = Vec::new();
    for (id, begin, end) in list(registry).await? {
        if begin && !end {
            if let Some(record) = read(registry, &record_tag(&id, Kind::Begin)).await? {
                out.push(record);
            }
        }
    }
    Ok(out)
}

/// Reads the deploys in the journal (the newest `limit` of them, or all), oldest first, a few
/// at a time.
pub async fn entries(
    registry: &Registry,
    limit: Option<usize>,
) -> Result<Vec<Deployment>, RegistryError> {
    let mut ids = list(registry).await?;
    if let Some(limit) = limit {
        ids.drain(..ids.len().saturating_sub(limit));
    }
    stream::iter(ids)
        .map(|(id, begin, end)| async move {
            let begin = if begin {
                read(registry, &record_tag(&id, Kind::Begin)).await?
            } else {
                None
            };
            let end = if end {
                read(registry, &record_tag(&id, Kind::End)).await?
            } else {
                None
            };
            Ok(Deployment { id, begin, end })
        })
        .buffered(PARALLEL_READS)
        .try_collect()
        .await
}
