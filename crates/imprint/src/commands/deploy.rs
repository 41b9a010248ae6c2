//! `imprint deploy`: tag → build → push (each skipped when already done), then every function
//! moved to the image by the rollout. With `--tag`, an image only the source environment
//! has is copied here first. With `owner = "pulumi"` it stops after the push.

use crate::cli::DeployArgs;
use crate::config::Owner;
use crate::error::ExitStatus;
use crate::image::push::promote::promote;
use crate::image::push::publish::ensure_published;
use crate::journal::Action;
use crate::printer::Printer;
use crate::rollout::{self, Fleet, Report, RolloutOutcome, Target};
use crate::session::Session;

/// Runs `imprint deploy`.
pub async fn run(
    session: &Session,
    printer: &Printer,
    args: &DeployArgs,
) -> anyhow::Result<ExitStatus> {
    let settings = &session.settings;
    // Bad traffic settings or smoke events stop the deploy before anything is built.
    let options = settings.rollout(&args.rollout.flags())?;
    let moves = settings.deploy().owner != Some(Owner::Pulumi);
    // What can be checked before anything is built: the question can be asked, and every
    // function can take the image.
    let fleet = match moves {
        true => {
            rollout::can_ask(Action::Deploy, options.yes, "update the functions")?;
            Some(Fleet::select(session, &args.rollout.functions).await?)
        }
        false => None,
    };
    let check = async {
        match &fleet {
            Some(fleet) => fleet.check(Action::Deploy).await,
            None => Ok(()),
        }
    };
    let (target, promoted) = match &args.tag {
        // Nothing to build: the functions are checked while the image is found (or copied).
        Some(tag) => {
            let found = async {
                let promoted =
                    promote(session, tag, args.from.as_deref(), args.create_repo).await?;
                let registry = session.registry().await?;
                let platform = settings.build.params.platform.as_str();
                let target =
                    rollout::pushed_target(registry, (tag, platform), None, None, printer).await?;
                anyhow::Ok((target, promoted))
            };
            tokio::try_join!(found, check)?.0
        }
        None => {
            check.await?;
            let published = ensure_published(session, args.rebuild, args.create_repo).await?;
            (Target::from(published), None)
        }
    };
    let Some(fleet) = fleet else {
        printer.note(&format!(
            "owner = \"pulumi\": imprint does not update functions; {} is pushed, now run `pulumi up` (the program reads the tag from `imprint tag --json`)",
            target.image_uri
        ));
        let mut report = Report::new(Action::Deploy, RolloutOutcome::Pushed, &target);
        report.promoted = promoted;
        printer.report(&report)?;
        return Ok(ExitStatus::Success);
    };
    let mut report = fleet.move_to(target, Action::Deploy, &options).await?;
    report.promoted = promoted;
    printer.report(&report)?;
    Ok(printer.conclude(report.failure()))
}
