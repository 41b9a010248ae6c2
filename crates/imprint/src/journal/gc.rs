//! The record of a `gc` run: one artifact at `imprint-journal-<id>-gc` (history readers of
//! begin and end records pass it by), saying who deleted what.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::record::{Caller, Runner, JOURNAL_FORMAT, TAG_PREFIX};
use crate::registry::{put_artifact, Registry, RegistryError};

pub(crate) const ARTIFACT_TYPE: &str = "application/vnd.dev.imprint.gc.v1";
const MEDIA_TYPE: &str = "application/vnd.dev.imprint.gc.v1+json";

/// One image a gc run deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletedImage {
    /// Its manifest digest.
    pub digest: String,
    /// The tags that named it.
    pub tags: Vec<String>,
    /// Bytes no kept image shares.
    pub bytes: u64,
}

/// What a gc run did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GcRecord {
    /// `1`.
    pub format: u32,
    /// The run's ID (the lease it took names it).
    pub id: String,
    /// When it ended (RFC 3339 UTC).
    pub time: String,
    /// Who.
    pub caller: Caller,
    /// Where.
    pub runner: Runner,
    /// The images deleted, with their index artifacts.
    pub deleted: Vec<DeletedImage>,
    /// Lambda versions deleted (`function:version`).
    pub versions: Vec<String>,
    /// Journal records deleted (their tags).
    pub journal: Vec<String>,
    /// What could not be deleted, and why.
    pub failed: Vec<String>,
}

impl GcRecord {
    /// The record's tag.
    pub fn tag_name(&self) -> String {
        format!("{TAG_PREFIX}{}-gc", self.id)
    }
}

/// Stores the record of a gc run.
pub async fn write_gc(registry: &Registry, record: &GcRecord) -> Result<(), RegistryError> {
    debug_assert_eq!(record.format, JOURNAL_FORMAT);
    let body = serde_json::to_vec_pretty(record).map_err(|e| RegistryError::Io {
        path: "gc record".into(),
        source: e.into(),
    })?;
    put_artifact(
        registry,
        &record.tag_name(),
        ARTIFACT_TYPE,
        (MEDIA_TYPE, body),
        None,
        BTreeMap::from([
            ("dev.imprint.journal.id".to_string(), record.id.clone()),
            ("dev.imprint.journal.kind".to_string(), "gc".to_string()),
            (
                "org.opencontainers.image.created".to_string(),
                record.time.clone(),
            ),
        ]),
    )
    .await?;
    Ok(())
}
