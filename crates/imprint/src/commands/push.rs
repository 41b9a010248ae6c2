//! `imprint push`: the built image into the registry over the distribution API, only the
//! blobs the registry lacks, verified, then its index artifact.

use anyhow::Context as _;

use crate::cli::PushArgs;
use crate::error::ExitStatus;
use crate::image::built;
use crate::image::push::publish::{self, InRegistry, PushOutcome, PushReport};
use crate::image::source::Source;
use crate::image::{tag_content, TagQuery};
use crate::printer::Printer;
use crate::session::Session;

/// Runs `imprint push`.
pub async fn run(
    session: &Session,
    printer: &Printer,
    args: &PushArgs,
) -> anyhow::Result<ExitStatus> {
    let source = Source::read(&session.settings);
    if session.settings.build.require_clean {
        // What goes out is labelled with this tree: a dirty one is refused, as for a build.
        source.check_clean(true)?;
    }
    let registry = session.registry().await?;
    publish::ensure_repository(session, registry, args.create_repo).await?;
    let mut tagged = tag_content(session, TagQuery::default())
        .await
        .context("failed to work out the tag")?;
    if args.rebuild {
        built::prefer_newest_build(&session.settings, &mut tagged)?;
    }
    let report = match publish::bring_pushed(session, &tagged, false, false, &source).await? {
        InRegistry::AlreadyPushed(pushed) => PushReport {
            image_uri: registry.repository.uri(&pushed.tag),
            tag: pushed.tag,
            digest: pushed.digest,
            hash: tagged.hash(),
            outcome: PushOutcome::AlreadyPushed,
            ..PushReport::default()
        },
        InRegistry::Pushed(report) => report,
    };
    printer.report(&report)?;
    Ok(ExitStatus::Success)
}
