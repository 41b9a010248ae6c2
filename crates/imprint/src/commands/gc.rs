//! `imprint gc`: what the repository no longer needs, shown (a dry run) or deleted with
//! `--yes`; `[gc]` in imprint.toml under the flags.

use crate::cli::GcArgs;
use crate::config::GcSection;
use crate::error::ExitStatus;
use crate::gc;
use crate::printer::Printer;
use crate::session::Session;

/// Runs `imprint gc`.
pub async fn run(
    session: &Session,
    printer: &Printer,
    args: &GcArgs,
) -> anyhow::Result<ExitStatus> {
    let flags = GcSection {
        keep_deployments: args.keep_deployments,
        keep_days: args.keep_days,
        include_foreign: args.include_foreign.then_some(true),
        versions: args.versions.then_some(true),
        journal_older_than: args.journal_older_than,
    };
    let policy = session.settings.gc_policy(&flags);
    let report = gc::run(session, &policy, args.yes).await?;
    printer.report(&report)?;
    Ok(report.conclude())
}
