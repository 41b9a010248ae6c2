//! `imprint doctor`'s checks: one line per thing a deploy needs, each with a hint when it
//! fails. A check that cannot run because an earlier one failed says so (`skip`) instead of
//! failing twice. `local` (builder, disk, lock, context), `aws` (region, credentials,
//! registry, repository, functions), `pulumi` (the stack's functions against imprint.toml's).

mod aws;
mod local;
mod pulumi;

use std::fmt;

use serde::Serialize;

use crate::cli::Check;
use crate::diagnose;
use crate::image::lock;
use crate::session::Session;

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Works, with something the user should know.
    Warn,
    Fail,
    /// Not run: it needs what an earlier failed check provides.
    Skip,
}

/// One check's result.
#[derive(Debug, Serialize)]
pub struct Finding {
    pub name: Check,
    pub status: Status,
    /// What was found, or what went wrong.
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<String>,
}

/// `doctor --json`.
#[derive(Debug, Serialize)]
pub struct DoctorReport {
    /// Whether every check passed.
    pub ok: bool,
    pub checks: Vec<Finding>,
}

/// The checks that need the AWS configuration (and run the ones before them).
const AWS_CHECKS: [Check; 5] = [
    Check::Region,
    Check::Credentials,
    Check::Registry,
    Check::Repository,
    Check::Functions,
];

pub(super) struct Checks(Vec<Finding>);

impl Checks {
    pub(super) fn ok(&mut self, name: Check, detail: impl Into<String>) {
        self.push(name, Status::Ok, detail.into(), None);
    }

    /// A failure from an error: its message, and its own hint or `fallback`.
    pub(super) fn fail(&mut self, name: Check, error: &anyhow::Error, fallback: &str) {
        let hint = diagnose::hint(error).unwrap_or_else(|| fallback.to_string());
        self.push(name, Status::Fail, diagnose::message(error), Some(hint));
    }

    pub(super) fn warn(&mut self, name: Check, detail: String, hint: String) {
        self.push(name, Status::Warn, detail, Some(hint));
    }

    pub(super) fn skip(&mut self, name: Check, why: &str) {
        self.push(name, Status::Skip, why.to_string(), None);
    }

    pub(super) fn push(
        &mut self,
        name: Check,
        status: Status,
        detail: String,
        hint: Option<String>,
    ) {
        self.0.push(Finding {
            name,
            status,
            detail,
            hint,
        });
    }
}

/// Runs the checks `want` names (and the ones they need first); reports only those.
pub async fn examine(session: &Session, want: &dyn Fn(Check) -> bool) -> DoctorReport {
    let mut checks = Checks(Vec::new());
    if want(Check::Builder) {
        local::check_builder(session, &mut checks);
    }
    if want(Check::Disk) {
        local::check_disk(session, &mut checks);
    }
    // The functions check's selection, for the Pulumi check (`select` costs a Lambda listing).
    let mut selected = None;
    if AWS_CHECKS.iter().any(|n| want(*n)) {
        selected = aws::check_aws(session, &mut checks).await;
    }
    if want(Check::Lock) || want(Check::Context) {
        // One offline, read-only pass over imprint.lock serves both checks: the lock check
        // reads what is missing from it, the context hash covers the locked base digests as
        // `imprint tag` does. Doctor writes nothing.
        let mode = lock::Mode {
            offline: true,
            locked: false,
            update: false,
            read_only: true,
        };
        let bases = lock::prepare(session, mode).await;
        if want(Check::Lock) {
            local::check_lock(session, &bases, &mut checks);
        }
        if want(Check::Context) {
            local::check_context(session, bases.ok(), &mut checks);
        }
    }
    if want(Check::Pulumi) {
        pulumi::check_pulumi(session, selected, &mut checks).await;
    }
    // Prerequisites run for what was asked; only what was asked is reported.
    checks.0.retain(|c| want(c.name));
    DoctorReport {
        ok: checks.0.iter().all(|c| c.status != Status::Fail),
        checks: checks.0,
    }
}

impl fmt::Display for DoctorReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut lines = Vec::new();
        for c in &self.checks {
            let mark = match c.status {
                Status::Ok => "ok  ",
                Status::Warn => "warn",
                Status::Fail => "FAIL",
                Status::Skip => "skip",
            };
            lines.push(format!("{mark}  {:<12} {}", c.name.as_str(), c.detail));
            if let Some(hint) = &c.hint {
                lines.push(format!("      {:<12} hint: {hint}", ""));
            }
        }
        f.write_str(&lines.join("\n"))
    }
}
