//! `imprint deploy`: tag → build → push (each skipped when already done), then every function
//! moved to the image by [`crate::rollout`]. With `owner = "pulumi"` it stops after the push.

use anyhow::Context as _;

use crate::cli::{DeployArgs, GlobalArgs};
use crate::config::Owner;
use crate::error::ExitStatus;
use crate::printer::Printer;
use crate::registry::Registry;
use crate::resolve::{resolve, Source};
use crate::rollout::{self, Action, Target};
use crate::settings::Settings;

/// Runs `imprint deploy`.
pub async fn run(
    global: &GlobalArgs,
    args: &DeployArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let settings = Settings::resolve(global, &args.input)?;
    let registry = settings.registry_client(printer).await?;
    let target = target(&settings, &registry, args, printer).await?;
    if settings.config.sections.deploy.owner == Some(Owner::Pulumi) {
        printer.note(&format!(
            "owner = \"pulumi\": imprint does not update functions; {} is pushed, now run `pulumi up` (the program reads the tag from `imprint tag --json`)",
            target.uri
        ));
        return rollout::finish_pushed(printer, &target);
    }
    let fleet = rollout::fleet(&settings, &args.rollout.functions).await?;
    rollout::run(
        &settings,
        &registry,
        fleet,
        target,
        Action::Deploy,
        &args.rollout,
        printer,
    )
    .await
}

/// The image to deploy: `--tag`, or the local tree's (built and pushed if needed).
async fn target(
    settings: &Settings,
    registry: &Registry,
    args: &DeployArgs,
    printer: &Printer,
) -> anyhow::Result<Target> {
    if let Some(tag) = &args.tag {
        return rollout::pushed_target(registry, tag, None, None, printer).await;
    }
    if let Some(ecr) = crate::ecr::EcrHost::parse(&registry.repository.host) {
        crate::ecr::ensure_repository(&ecr, &registry.repository.path, false, printer).await?;
    }
    let resolution = resolve(settings, printer, false, args.rebuild)
        .await
        .context("failed to work out the tag")?;
    let hash = Some(resolution.hash());
    let pushed = match &resolution.source {
        Source::Pushed(p) => {
            printer.note(&format!(
                "{} is already pushed; nothing to build or push",
                registry.repository.uri(&p.tag)
            ));
            p.digest.clone()
        }
        Source::Built(local) => {
            crate::commands::push::push_local(settings, registry, &resolution, local, printer)
                .await?
                .digest
        }
        Source::New => {
            let local =
                crate::commands::build::build_new(settings, &resolution, args.rebuild, printer)?;
            crate::commands::push::push_local(settings, registry, &resolution, &local, printer)
                .await?
                .digest
        }
    };
    Ok(Target {
        uri: registry.repository.uri(&resolution.tag),
        tag: resolution.tag,
        digest: pushed,
        hash,
    })
}
