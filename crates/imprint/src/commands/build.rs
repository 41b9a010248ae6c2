//! `imprint build`: the image for the current content, built once.

use std::fmt;

use serde::Serialize;

use crate::cli::BuildArgs;
use crate::error::ExitStatus;
use crate::image::built::{bring_tree_built, OnMachine};
use crate::image::source::Source;
use crate::printer::Printer;
use crate::session::Session;

/// What `imprint build` did.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "kebab-case")]
enum BuildOutcome {
    Built,
    AlreadyBuilt,
    AlreadyPushed,
}

/// `build --json`.
#[derive(Debug, Serialize)]
struct BuildReport {
    tag: String,
    hash: String,
    image: String,
    /// The builder's id of the local image (none when only the registry holds it).
    image_id: Option<String>,
    outcome: BuildOutcome,
    image_uri: Option<String>,
}

impl fmt::Display for BuildReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.image)
    }
}

/// Runs `imprint build`.
pub async fn run(
    session: &Session,
    printer: &Printer,
    args: &BuildArgs,
) -> anyhow::Result<ExitStatus> {
    let settings = &session.settings;
    let source = Source::read(settings);
    let (tagged, on_machine) =
        bring_tree_built(session, &source, args.offline, args.rebuild).await?;
    let (image, image_id, outcome) = match on_machine {
        OnMachine::AlreadyPushed => (
            format!("{}:{}", settings.image_name, tagged.tag),
            None,
            BuildOutcome::AlreadyPushed,
        ),
        OnMachine::AlreadyBuilt(image) => (image.name, Some(image.id), BuildOutcome::AlreadyBuilt),
        OnMachine::Built(image) => (image.name, Some(image.id), BuildOutcome::Built),
    };
    printer.report(&BuildReport {
        image_uri: settings
            .registry
            .as_ref()
            .map(|r| r.repository.uri(&tagged.tag)),
        hash: tagged.hash(),
        tag: tagged.tag,
        image,
        image_id,
        outcome,
    })?;
    Ok(ExitStatus::Success)
}
