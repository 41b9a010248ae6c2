//! `imprint inspect`: what an image holds and costs, and which packages no handler imports.

use crate::cli::InspectArgs;
use crate::error::ExitStatus;
use crate::image::built::{bring_tree_built, OnMachine};
use crate::image::inspect::{inspect, Commands, Subject};
use crate::image::source::Source;
use crate::printer::Printer;
use crate::session::Session;

/// Runs `imprint inspect`.
pub async fn run(
    session: &Session,
    printer: &Printer,
    args: &InspectArgs,
) -> anyhow::Result<ExitStatus> {
    let report = match &args.tag {
        Some(tag) => inspect(session, Subject::Tag(tag), Commands::LambdaOrPulumi).await?,
        None => {
            let source = Source::read(&session.settings);
            let (tagged, on_machine) = bring_tree_built(session, &source, false, false).await?;
            let bases = &tagged.bases.images;
            let subject = match &on_machine {
                OnMachine::AlreadyPushed => Subject::Pushed {
                    tag: &tagged.tag,
                    bases,
                },
                OnMachine::AlreadyBuilt(image) | OnMachine::Built(image) => {
                    Subject::Built { image, bases }
                }
            };
            inspect(session, subject, Commands::LambdaOrPulumi).await?
        }
    };
    printer.report(&report)?;
    Ok(ExitStatus::Success)
}
