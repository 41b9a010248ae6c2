//! `imprint rollback`: every function back to the deployment before the current one (or
//! `--to TAG`), checked before any change and moved like a deploy, journaled as a rollback.
//! With `owner = "pulumi"` it pins Pulumi's `imageTag` config instead.

use crate::cli::RollbackArgs;
use crate::config::Owner;
use crate::error::{ExitStatus, UsageError};
use crate::journal::Action;
use crate::printer::Printer;
use crate::rollout::{self, Fleet};
use crate::session::Session;

/// Runs `imprint rollback`.
pub async fn run(
    session: &Session,
    printer: &Printer,
    args: &RollbackArgs,
) -> anyhow::Result<ExitStatus> {
    let settings = &session.settings;
    let registry = session.registry().await?;
    let platform = settings.build.params.platform.as_str();
    if settings.deploy().owner == Some(Owner::Pulumi) {
        let Some(tag) = &args.to else {
            return Err(UsageError::new(
                "owner = \"pulumi\": Pulumi deploys the functions, so imprint's journal has no deployment to go back to",
                "pass --to TAG (the tags Pulumi deployed are in `pulumi stack history`)",
            )
            .into());
        };
        let target = rollout::pushed_target(registry, (tag, platform), None, None, printer).await?;
        printer.report(&rollout::pin_pulumi(settings, &target, printer)?)?;
        return Ok(ExitStatus::Success);
    }
    let fleet = Fleet::select(session, &args.rollout.functions).await?;
    let to = args.to.as_deref();
    let target = rollout::rollback_target((registry, platform), &fleet.names, to, printer).await?;
    let options = settings
        .rollout(&args.rollout.flags())?
        .for_rollback(args.rollout.strategy);
    let report = fleet.move_to(target, Action::Rollback, &options).await?;
    printer.report(&report)?;
    Ok(printer.conclude(report.failure()))
}
