//! The journal's records (the format docs/journal.md writes down): a begin record before a
//! deployment's first change, an end record after its last.

use serde::{Deserialize, Serialize};

pub use crate::lambda::{Caller, Firing, FunctionImage};

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
    /// The end of its tag: `begin` or `end`.
    pub fn suffix(self) -> &'static str {
        match self {
            Self::Begin => "begin",
            Self::End => "end",
        }
    }
}

/// What a deployment did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// `imprint deploy`.
    Deploy,
    /// `imprint rollback`.
    Rollback,
}

impl Action {
    /// The name in records and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deploy => "deploy",
            Self::Rollback => "rollback",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a whole deployment ended (its end record's `outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeploymentOutcome {
    /// Every function runs the new image.
    Succeeded,
    /// Something failed and not every function is back where it was.
    Failed,
    /// Something failed and every function changed was put back (reverted); recorded as
    /// `rolled-back`, as journals have always said.
    #[serde(rename = "rolled-back")]
    Reverted,
    /// A later run found it unfinished and recorded what each function ran then.
    Interrupted,
    /// A smoke test of a new version failed; no traffic moved.
    SmokeFailed,
}

impl DeploymentOutcome {
    /// The kebab-case name used in records and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Reverted => "rolled-back",
            Self::Interrupted => "interrupted",
            Self::SmokeFailed => "smoke-failed",
        }
    }
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

    /// Whether that process still runs, when it ran on this machine (`None` elsewhere). A
    /// runner with this process's own pid was an earlier process.
    pub fn alive(&self) -> Option<bool> {
        if self.host != host_name() || !std::path::Path::new("/proc/self").exists() {
            return None;
        }
        Some(
            self.pid != std::process::id()
                && std::path::Path::new(&format!("/proc/{}", self.pid)).exists(),
        )
    }

    /// Whether it ran on this machine and is gone.
    pub fn is_gone(&self) -> bool {
        self.alive() == Some(false)
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
    pub old: Option<FunctionImage>,
    /// What it is being moved to.
    pub new: FunctionImage,
    /// Through an alias: the version the alias routed to before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_version: Option<String>,
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
    pub image: Option<FunctionImage>,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Through an alias: the version the alias routes to now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// A deploy through an alias: which alias, how, and (in the end record) each traffic shift
/// and the alarm that stopped it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasDeploy {
    /// The alias moved.
    pub alias: String,
    /// The strategy, as `imprint.toml` writes it (`canary:10%:5m`).
    pub strategy: String,
    /// End: each shift of traffic to the new versions, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shifts: Vec<Shift>,
    /// End: the alarm that put every alias back, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm: Option<Firing>,
    /// End: each smoke test of a new version, before any traffic moved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub smoke: Vec<SmokeResult>,
    /// `--skip-smoke`: the smoke tests were configured and not run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub smoke_skipped: bool,
}

/// One smoke test of a new version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmokeResult {
    /// The function.
    pub function: String,
    /// The version invoked.
    pub version: String,
    /// The event file.
    pub event: String,
    /// Whether it passed.
    pub passed: bool,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The start of the answer (up to 1 KiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// The tail of the function's log, when Lambda returned one and the test failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_tail: Option<String>,
}

/// One shift of traffic: every alias gave `percent` to its new version at `time`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shift {
    /// The share of traffic on the new versions (100: the flip).
    pub percent: u8,
    /// RFC 3339, UTC.
    pub time: String,
}

/// The git state of the tree a deploy was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkout {
    /// The commit checked out.
    pub commit: String,
    /// Whether the build context had changes not committed.
    pub dirty: bool,
    /// The branch, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
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
    pub action: Action,
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
    pub image: FunctionImage,
    /// Its tag.
    pub tag: String,
    /// Its content hash, when imprint built it from a tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_hash: Option<String>,
    /// The git checkout that tree was, when it was one (begin records of deploys of the
    /// local tree).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkout: Option<Checkout>,
    /// Begin: every function to move.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub functions: Vec<Planned>,
    /// End: `succeeded`, `failed`, `rolled-back` or `interrupted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<DeploymentOutcome>,
    /// End: every function's outcome.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<Finished>,
    /// Deploys through an alias: the alias, the strategy, the shifts and any alarm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic: Option<AliasDeploy>,
}

impl Record {
    /// Whether this (begin) record's deploy may still be running: its process on this
    /// machine, or elsewhere within `timeout` plus a margin of its start.
    pub fn liveness(&self, timeout: std::time::Duration) -> Liveness {
        if let Some(runner) = &self.runner {
            match runner.alive() {
                Some(true) => return Liveness::Running,
                Some(false) => return Liveness::Dead,
                None => {}
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

/// A record for tests: `action` to `r.io/a:TAG` at `digest`, no functions, no outcome.
#[cfg(test)]
pub(crate) fn sample(kind: Kind, action: Action, tag: &str, digest: &str) -> Record {
    Record {
        format: JOURNAL_FORMAT,
        kind,
        id: "20261129-000000-000-00000001".into(),
        action,
        time: "2026-11-29T00:00:00Z".into(),
        unix_time: 0,
        caller: Caller::default(),
        runner: None,
        image: FunctionImage {
            uri: format!("r.io/a:{tag}"),
            digest: Some(digest.into()),
        },
        tag: tag.into(),
        content_hash: None,
        checkout: None,
        functions: vec![],
        outcome: None,
        results: vec![],
        traffic: None,
    }
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
            id: "20261129-010203-004-0000abcd".into(),
            unix_time: 1_795_914_123,
            runner: Some(Runner::this()),
            outcome: Some(DeploymentOutcome::Failed),
            results: vec![Finished {
                name: "f".into(),
                outcome: Outcome::RevertFailed,
                image: None,
                error: Some("boom".into()),
                version: Some("7".into()),
            }],
            traffic: Some(AliasDeploy {
                alias: "live".into(),
                strategy: "canary:10%:5m".into(),
                shifts: vec![Shift {
                    percent: 10,
                    time: "2026-11-29T01:02:03Z".into(),
                }],
                alarm: Some(Firing {
                    name: "errors".into(),
                    reason: "Threshold Crossed".into(),
                }),
                smoke: vec![SmokeResult {
                    function: "f".into(),
                    version: "7".into(),
                    event: "events/healthz.json".into(),
                    passed: true,
                    error: None,
                    answer: Some("{}".into()),
                    log_tail: None,
                }],
                smoke_skipped: false,
            }),
            ..sample(Kind::End, Action::Deploy, "t", "sha256:00")
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
