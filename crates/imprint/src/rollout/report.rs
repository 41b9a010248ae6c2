//! How a rollout ended: each function's outcome and image (decided from the moves and the
//! reverts, read back where those do not tell), the whole deployment's outcome, the report.

use std::fmt;

use serde::Serialize;

use super::apply::{failure_outcome, Move, Moved};
use super::plan::runs;
use super::revert::Reverted;
use super::target::Target;
use crate::error::Failure;
use crate::image::push::promote::Promoted;
use crate::journal::{Action, AliasDeploy, DeploymentOutcome, Finished, FunctionImage, Outcome};
use crate::lambda::{self, Function, Lambda};
use crate::reporter::Reporter;

/// One function in the report.
#[derive(Debug, Clone, Serialize)]
pub struct FunctionReport {
    /// The function.
    pub name: String,
    /// How it ended.
    pub outcome: Outcome,
    /// What it ran before.
    pub old: Option<FunctionImage>,
    /// What it runs now.
    pub image: Option<FunctionImage>,
    /// Why it failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Through an alias: the version the alias routes to now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

impl FunctionReport {
    /// The journal's end-record entry.
    pub fn finished(&self) -> Finished {
        Finished {
            name: self.name.clone(),
            outcome: self.outcome,
            image: self.image.clone(),
            error: self.error.clone(),
            version: self.version.clone(),
        }
    }
}

/// How the whole run ended, as the report says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RolloutOutcome {
    /// Every function already ran the target; nothing was written.
    UpToDate,
    /// Every function runs the target.
    Succeeded,
    /// Something failed; every function changed was put back (reverted), reported as
    /// `rolled-back` as the journal records it.
    #[serde(rename = "rolled-back")]
    Reverted,
    /// Something failed and not every function is back.
    Failed,
    /// `owner = "pulumi"`: the image is pushed, no function touched.
    Pushed,
    /// A smoke test of a new version failed; no traffic moved.
    SmokeFailed,
}

impl From<DeploymentOutcome> for RolloutOutcome {
    fn from(outcome: DeploymentOutcome) -> Self {
        match outcome {
            DeploymentOutcome::Succeeded => Self::Succeeded,
            DeploymentOutcome::Reverted => Self::Reverted,
            DeploymentOutcome::Failed | DeploymentOutcome::Interrupted => Self::Failed,
            DeploymentOutcome::SmokeFailed => Self::SmokeFailed,
        }
    }
}

/// `deploy --json` and `rollback --json`.
#[derive(Debug, Serialize)]
pub struct Report {
    /// How it ended.
    pub outcome: RolloutOutcome,
    /// The journal ID (none when nothing was written).
    pub id: Option<String>,
    /// The target's tag.
    pub tag: String,
    /// The target image.
    pub image_uri: String,
    /// Its digest.
    pub digest: String,
    /// Its content hash, when known.
    pub hash: Option<String>,
    /// Interrupted deploys this run found and closed.
    pub recovered: Vec<String>,
    /// Every function.
    pub functions: Vec<FunctionReport>,
    /// Through an alias: the alias, the strategy, each shift and any alarm.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic: Option<AliasDeploy>,
    /// The copy from another environment's repository this deploy began with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promoted: Option<Promoted>,
    /// What moved the functions, for the closing message.
    #[serde(skip)]
    pub action: Action,
    /// Why the end record could not be written, when it could not.
    #[serde(skip)]
    pub unrecorded: Option<String>,
}

impl Report {
    /// A report of `outcome` for `target`.
    pub fn new(action: Action, outcome: RolloutOutcome, target: &Target) -> Self {
        Self {
            outcome,
            id: None,
            tag: target.tag.clone(),
            image_uri: target.image_uri.clone(),
            digest: target.digest.clone(),
            hash: target.hash.clone(),
            recovered: Vec::new(),
            functions: Vec::new(),
            traffic: None,
            promoted: None,
            action,
            unrecorded: None,
        }
    }

    /// What failed, to say after the report is printed (with what to do); none when the
    /// rollout succeeded and was recorded.
    pub fn failure(&self) -> Option<Failure> {
        let id = self.id.as_deref().unwrap_or("-");
        let action = self.action;
        if let Some(why) = &self.unrecorded {
            // The begin record stands; the next deploy or status finds it and closes it.
            return Some(Failure::new(
                format!("failed to write the journal's end record for {action} {id}: {why}"),
                "run `imprint deploy` or `imprint rollback` again: it finds the open begin record and records what each function runs",
            ));
        }
        let failed = match self.outcome {
            RolloutOutcome::UpToDate | RolloutOutcome::Succeeded | RolloutOutcome::Pushed => {
                return None
            }
            RolloutOutcome::Reverted => "failed; every function is back on its previous image",
            RolloutOutcome::Failed => "failed",
            RolloutOutcome::SmokeFailed => {
                "failed its smoke tests; no traffic moved (every alias is where it was)"
            }
        };
        Some(Failure::new(
            format!("{action} {id} {failed}"),
            "see each function's line above (or --json); `imprint status` shows what each function runs",
        ))
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.functions.is_empty() {
            return f.write_str(&self.image_uri);
        }
        let lines: Vec<String> = self
            .functions
            .iter()
            .map(|r| {
                format!(
                    "{}  {}  {}{}{}",
                    r.name,
                    r.outcome.as_str(),
                    r.image.as_ref().map_or("-", |i| i.uri.as_str()),
                    r.version
                        .as_deref()
                        .map(|v| format!("  (version {v})"))
                        .unwrap_or_default(),
                    r.error
                        .as_deref()
                        .map(|e| format!("  ({e})"))
                        .unwrap_or_default()
                )
            })
            .collect();
        f.write_str(&lines.join("\n"))
    }
}

/// Every function unchanged: the report when all already run the target.
pub fn unchanged(found: &[Function]) -> Vec<FunctionReport> {
    found
        .iter()
        .map(|f| FunctionReport {
            name: f.name.clone(),
            outcome: Outcome::Unchanged,
            old: f.serving(),
            image: f.serving(),
            error: None,
            version: f.alias.as_ref().map(|a| a.route.describe()),
        })
        .collect()
}

/// One function's outcome, error and, when the moves tell it, its image now.
pub fn judge(
    f: &Function,
    target: &Target,
    moved: &[Moved],
    reverts: &[Reverted],
) -> (Outcome, Option<String>, Option<FunctionImage>) {
    if runs(f, target) {
        return (Outcome::Unchanged, None, f.image());
    }
    let revert = reverts.iter().find(|(n, _)| n == &f.name).map(|(_, r)| r);
    let result = moved
        .iter()
        .find(|m| m.function.name == f.name)
        .map(|m| &m.result);
    match (result, revert) {
        (Some(Move::Done(_)), Some(Ok(back))) => (Outcome::Reverted, None, Some(back.clone())),
        (Some(Move::Done(_)), Some(Err(e))) => {
            (Outcome::RevertFailed, Some(e.message().to_string()), None)
        }
        (Some(Move::Done(image)), None) => (Outcome::Updated, None, Some(image.clone())),
        (Some(Move::Failed(e)), Some(Err(r))) => (
            Outcome::RevertFailed,
            Some(format!(
                "{}; putting it back failed too: {}",
                e.message(),
                r.message()
            )),
            None,
        ),
        (Some(Move::Failed(e)), Some(Ok(back))) => (
            failure_outcome(e),
            Some(e.message().to_string()),
            Some(back.clone()),
        ),
        (Some(Move::Failed(e)), None) => (failure_outcome(e), Some(e.message().to_string()), None),
        (Some(Move::NotStarted) | None, _) => (Outcome::NotStarted, None, None),
    }
}

/// What every function runs now: verified by its move, or read back; the end record states
/// facts, not hopes.
pub async fn settle(
    client: &Lambda,
    found: &[Function],
    target: &Target,
    moved: &[Moved],
    reverts: &[Reverted],
    reporter: &dyn Reporter,
) -> Vec<FunctionReport> {
    let mut results = Vec::new();
    for f in found {
        let (outcome, error, verified) = judge(f, target, moved, reverts);
        let image = match verified {
            Some(image) => Some(image),
            None => match lambda::read_function(client, &f.name).await {
                Ok(now) => now.image(),
                Err(e) => {
                    reporter.warn(&format!("cannot read {} back: {e:#}", f.name));
                    None
                }
            },
        };
        results.push(FunctionReport {
            name: f.name.clone(),
            outcome,
            old: f.image(),
            image,
            error,
            version: None,
        });
    }
    results
}

/// The deployment's outcome: succeeded without a failure; rolled back when everything that
/// moved was put back; failed otherwise.
pub fn deployment_outcome(
    failed: bool,
    no_revert: bool,
    results: &[FunctionReport],
) -> DeploymentOutcome {
    let all_back = results.iter().all(|r| {
        matches!(
            r.outcome,
            Outcome::Reverted | Outcome::NotStarted | Outcome::Failed | Outcome::Unchanged
        )
    });
    if !failed {
        DeploymentOutcome::Succeeded
    } else if !no_revert && all_back {
        DeploymentOutcome::Reverted
    } else {
        DeploymentOutcome::Failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lambda::MoveError;
    use crate::rollout::plan::tests::{function, moved, target};

    fn image(uri: &str, digest: &str) -> FunctionImage {
        FunctionImage {
            uri: uri.into(),
            digest: Some(digest.into()),
        }
    }

    #[test]
    fn each_function_is_judged_by_its_move_and_its_revert() {
        let old = image("r.io/a:old", "sha256:1");
        let new = target().image();
        let f = |name: &str| function(name, "r.io/a:old", "sha256:1");
        let moved = vec![
            moved("kept", Move::Done(new.clone())),
            moved("back", Move::Done(new.clone())),
            moved("stuck", Move::Done(new.clone())),
            moved("broke", Move::Failed(MoveError::Failed("boom".into()))),
            moved("theirs", Move::Failed(MoveError::Conflict("x".into()))),
            moved("later", Move::NotStarted),
        ];
        let reverts: Vec<Reverted> = vec![
            ("back".into(), Ok(old.clone())),
            ("stuck".into(), Err(MoveError::Failed("no".into()))),
            ("broke".into(), Ok(old.clone())),
        ];
        let judged = |name: &str| judge(&f(name), &target(), &moved, &reverts);
        assert_eq!(judged("kept"), (Outcome::Updated, None, Some(new.clone())));
        assert_eq!(judged("back"), (Outcome::Reverted, None, Some(old.clone())));
        assert_eq!(
            judged("stuck"),
            (Outcome::RevertFailed, Some("no".into()), None)
        );
        assert_eq!(
            judged("broke"),
            (Outcome::Failed, Some("boom".into()), Some(old))
        );
        assert_eq!(
            judged("theirs"),
            (Outcome::Conflict, Some("x".into()), None)
        );
        assert_eq!(judged("later"), (Outcome::NotStarted, None, None));
        let on_target = function("on", "r.io/a:new", "sha256:2");
        assert_eq!(
            judge(&on_target, &target(), &moved, &reverts).0,
            Outcome::Unchanged
        );
    }

    #[test]
    fn the_deployment_outcome_follows_the_functions() {
        let row = |outcome| FunctionReport {
            name: "f".into(),
            outcome,
            old: None,
            image: None,
            error: None,
            version: None,
        };
        let back = [
            row(Outcome::Reverted),
            row(Outcome::Failed),
            row(Outcome::NotStarted),
        ];
        assert_eq!(
            deployment_outcome(false, false, &[row(Outcome::Updated)]),
            DeploymentOutcome::Succeeded
        );
        assert_eq!(
            deployment_outcome(true, false, &back),
            DeploymentOutcome::Reverted
        );
        assert_eq!(
            deployment_outcome(true, true, &back),
            DeploymentOutcome::Failed,
            "--no-revert"
        );
        let stuck = [row(Outcome::Reverted), row(Outcome::RevertFailed)];
        assert_eq!(
            deployment_outcome(true, false, &stuck),
            DeploymentOutcome::Failed
        );
        let theirs = [row(Outcome::Conflict)];
        assert_eq!(
            deployment_outcome(true, false, &theirs),
            DeploymentOutcome::Failed
        );
    }
}
