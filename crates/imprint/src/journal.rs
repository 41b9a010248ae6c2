//! The deploy journal: small OCI artifacts in the image repository, so the team and CI share
//! one history through the registry. A deploy writes a begin record (each function's old and
//! new image, who, when) before its first change and an end record (each function's outcome)
//! after its last. A begin record without an end record is an interrupted deploy. The format
//! is written down in docs/journal.md.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::artifact::{put_artifact, read_artifact_blob, Descriptor};
use crate::registry::{Registry, RegistryError};

/// Version of the record format.
pub const JOURNAL_FORMAT: u32 = 1;
/// `artifactType` of a journal record.
pub const ARTIFACT_TYPE: &str = "application/vnd.dev.imprint.journal.v1";
/// Media type of its one blob, the record.
pub const RECORD_MEDIA_TYPE: &str = "application/vnd.dev.imprint.journal.v1+json";
/// Every journal tag starts with this.
pub const TAG_PREFIX: &str = "imprint-journal-";

/// Which half of a deploy a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Written before the first change.
    Begin,
    /// Written after the last change.
    End,
}

impl Kind {
    fn suffix(self) -> &'static str {
        match self {
            Self::Begin => "begin",
            Self::End => "end",
        }
    }
}

/// An image as a deploy names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRef {
    /// What Lambda is given: `host/path:tag` (or `host/path@sha256:…`).
    pub uri: String,
    /// The manifest digest.
    pub digest: Option<String>,
}

/// The caller, from STS GetCallerIdentity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    /// `arn:aws:…`.
    pub arn: Option<String>,
    /// The account.
    pub account: Option<String>,
    /// The user ID.
    pub user_id: Option<String>,
}

/// The machine and process a deploy ran in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Runner {
    /// The host name.
    pub host: String,
    /// The process ID.
    pub pid: u32,
}

impl Runner {
    /// This process.
    pub fn this() -> Self {
        Self {
            host: host_name(),
            pid: std::process::id(),
        }
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".into())
}

/// Whether the deploy of an open begin record may still be running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// Its process is alive on this machine.
    Running,
    /// Begun elsewhere recently enough to be running still.
    Maybe,
    /// Its process is gone, or it began longer ago than any deploy lasts.
    Dead,
}

/// One function in a begin record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Planned {
    /// The function.
    pub name: String,
    /// What it ran before.
    pub old: Option<ImageRef>,
    /// What it is being moved to.
    pub new: ImageRef,
}

/// How one function ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Now runs the new image, verified.
    Updated,
    /// Already ran the new image; nothing was written.
    Unchanged,
    /// Its update failed; it runs its old image.
    Failed,
    /// It was updated, then put back on its old image after another function failed.
    Reverted,
    /// It could not be put back; `image` says what it runs now.
    RevertFailed,
    /// Not started because another function failed first; it runs its old image.
    NotStarted,
    /// Someone else changed it during the deploy; left as they left it.
    Conflict,
    /// Found by a later run after the deploy was interrupted; `image` is what it ran then.
    Interrupted,
}

impl Outcome {
    /// The kebab-case name used in records and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Updated => "updated",
            Self::Unchanged => "unchanged",
            Self::Failed => "failed",
            Self::Reverted => "reverted",
            Self::RevertFailed => "revert-failed",
            Self::NotStarted => "not-started",
            Self::Conflict => "conflict",
            Self::Interrupted => "interrupted",
        }
    }
}

/// One function in an end record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finished {
    /// The function.
    pub name: String,
    /// How it ended.
    pub outcome: Outcome,
    /// What it runs now, as far as imprint could tell.
    pub image: Option<ImageRef>,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One journal record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// [`JOURNAL_FORMAT`].
    pub format: u32,
    /// Begin or end.
    pub kind: Kind,
    /// The deploy's ID, shared by its two records.
    pub id: String,
    /// `deploy` or `rollback`.
    pub action: String,
    /// RFC 3339, UTC.
    pub time: String,
    /// The same time in Unix seconds.
    pub unix_time: i64,
    /// Who.
    pub caller: Caller,
    /// Where the deploy ran (to tell an interrupted deploy from a running one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner: Option<Runner>,
    /// The image the deploy moves the functions to.
    pub image: ImageRef,
    /// Its tag.
    pub tag: String,
    /// Its content hash, when imprint built it from a tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_hash: Option<String>,
    /// Begin: every function to move.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub functions: Vec<Planned>,
    /// End: `succeeded`, `failed`, `rolled-back` or `interrupted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// End: every function's outcome.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<Finished>,
}

impl Record {
    /// Whether this (begin) record's deploy may still be running: its process on this
    /// machine, or elsewhere within `timeout` plus a margin of its start.
    pub fn liveness(&self, timeout: std::time::Duration) -> Liveness {
        if let Some(runner) = &self.runner {
            if runner.host == host_name() && std::path::Path::new("/proc/self").exists() {
                let alive = runner.pid != std::process::id()
                    && std::path::Path::new(&format!("/proc/{}", runner.pid)).exists();
                return if alive {
                    Liveness::Running
                } else {
                    Liveness::Dead
                };
            }
        }
        let age = unix_now().saturating_sub(self.unix_time);
        if age < timeout.as_secs() as i64 + 300 {
            Liveness::Maybe
        } else {
            Liveness::Dead
        }
    }

    /// The tag this record lives at.
    pub fn tag_name(&self) -> String {
        record_tag(&self.id, self.kind)
    }
}

/// `imprint-journal-<id>-begin` / `-end`.
pub fn record_tag(id: &str, kind: Kind) -> String {
    format!("{TAG_PREFIX}{id}-{}", kind.suffix())
}

/// A new deploy ID: UTC time to the millisecond (so IDs sort by time) and 8 random hex.
pub fn new_id() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "{}-{:03}-{:08x}",
        imprint_context::format_timestamp(now.as_secs() as i64),
        now.subsec_millis(),
        fastrand::u32(..)
    )
}

/// The current Unix time in seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The current time, RFC 3339.
pub fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    imprint_context::format_rfc3339(now)
}

/// Stores a record under its tag; the subject is the deployed image, so the referrers API and
/// a later `gc` see what the journal keeps alive.
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

/// One deploy as the journal tells it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The deploy ID.
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
) -> Result<Vec<Entry>, RegistryError> {
    use futures_util::stream::{self, StreamExt as _, TryStreamExt as _};
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
            Ok(Entry { id, begin, end })
        })
        .buffered(crate::functions::PARALLEL_READS)
        .try_collect()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time_and_make_valid_tags() {
        let a = new_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_id();
        assert!(a < b, "{a} {b}");
        for kind in [Kind::Begin, Kind::End] {
            let tag = record_tag(&a, kind);
            imprint_context::validate_tag(&tag).unwrap();
        }
    }

    #[test]
    fn records_round_trip() {
        let record = Record {
            format: JOURNAL_FORMAT,
            kind: Kind::End,
            id: "20261129-010203-004-0000abcd".into(),
            action: "deploy".into(),
            time: "2026-11-29T01:02:03Z".into(),
            unix_time: 1_795_914_123,
            runner: Some(Runner::this()),
            caller: Caller::default(),
            image: ImageRef {
                uri: "r.io/a:t".into(),
                digest: Some("sha256:00".into()),
            },
            tag: "t".into(),
            content_hash: None,
            functions: vec![],
            outcome: Some("failed".into()),
            results: vec![Finished {
                name: "f".into(),
                outcome: Outcome::RevertFailed,
                image: None,
                error: Some("boom".into()),
            }],
        };
        let text = serde_json::to_string(&record).unwrap();
        assert!(text.contains("\"revert-failed\""), "{text}");
        assert_eq!(serde_json::from_str::<Record>(&text).unwrap(), record);
        assert_eq!(
            record.tag_name(),
            "imprint-journal-20261129-010203-004-0000abcd-end"
        );
    }
}
