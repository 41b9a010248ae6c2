//! `imprint iam-policy`: the least-privilege IAM policy for this project.

use crate::cli::IamPolicyArgs;
use crate::error::ExitStatus;
use crate::iam;
use crate::printer::Printer;
use crate::session::Session;

/// Runs `imprint iam-policy`.
pub async fn run(
    session: &Session,
    printer: &Printer,
    args: &IamPolicyArgs,
) -> anyhow::Result<ExitStatus> {
    let policy = iam::policy(
        &session.settings,
        args.region.as_deref(),
        args.account.as_deref(),
        args.create_repo,
        args.gc,
    );
    printer.report(&policy)?;
    Ok(ExitStatus::Success)
}
