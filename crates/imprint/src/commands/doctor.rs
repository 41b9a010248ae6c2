//! `imprint doctor`: the checks a deploy needs, each with a hint when it fails.

use crate::cli::{Check, DoctorArgs};
use crate::doctor;
use crate::error::ExitStatus;
use crate::printer::Printer;
use crate::session::Session;

/// Runs `imprint doctor`.
pub async fn run(
    session: &Session,
    printer: &Printer,
    args: &DoctorArgs,
) -> anyhow::Result<ExitStatus> {
    let want = |name: Check| args.checks.is_empty() || args.checks.contains(&name);
    let report = doctor::examine(session, &want).await;
    printer.report(&report)?;
    Ok(if report.ok {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}
