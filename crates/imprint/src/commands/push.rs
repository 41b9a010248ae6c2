//! `imprint push`: the built image into the registry over the distribution API, only the
//! blobs the registry lacks, verified, then its index artifact.

use anyhow::Context as _;

use crate::cli::PushArgs;
use crate::error::{ExitStatus, UsageError};
use crate::image::push::publish::{self, PushOutcome, PushReport};
use crate::image::source::Source;
use crate::image::{tag_content, TagQuery, TagSource};
use crate::printer::Printer;
use crate::session::Session;

/// Runs `imprint push`.
pub async fn run(
    session: &Session,
    printer: &Printer,
    args: &PushArgs,
) -> anyhow::Result<ExitStatus> {
    if session.settings.build.require_clean {
        // What goes out is labelled with this tree: a dirty one is refused, as for a build.
        Source::read(&session.settings).check_clean(true)?;
    }
    let registry = session.registry().await?;
    publish::ensure_repository(session, registry, args.create_repo).await?;
    let mut tagged = tag_content(session, TagQuery::default())
        .await
        .context("failed to work out the tag")?;
    if args.rebuild {
        publish::prefer_newest_build(&session.settings, &mut tagged)?;
    }
    let report = match &tagged.source {
        TagSource::Pushed(pushed) => {
            let image_uri = registry.repository.uri(&pushed.tag);
            printer.note(&format!(
                "{image_uri} is already pushed ({}); nothing to upload",
                pushed.digest
            ));
            PushReport {
                image_uri,
                tag: pushed.tag.clone(),
                digest: pushed.digest.clone(),
                hash: tagged.hash(),
                outcome: PushOutcome::AlreadyPushed,
                ..PushReport::default()
            }
        }
        TagSource::New => {
            return Err(UsageError::new(
                "no image is built for the current content",
                "run `imprint build` first (or `imprint deploy`, which builds and pushes)",
            )
            .into())
        }
        TagSource::Built(local) => publish::push_local(session, registry, &tagged, local).await?,
    };
    printer.report(&report)?;
    Ok(ExitStatus::Success)
}
