//! `imprint build`: the image for the current content, built once.

use anyhow::Context as _;
use serde::Serialize;

use crate::cli::{BuildArgs, GlobalArgs};
use crate::error::ExitStatus;
use crate::printer::Printer;
use crate::resolve::{resolve, Source};
use crate::settings::Settings;

/// `build --json`.
#[derive(Debug, Serialize)]
struct BuildReport {
    tag: String,
    hash: String,
    image: String,
    /// `built`, `already-built` or `already-pushed`.
    outcome: &'static str,
    image_uri: Option<String>,
}

/// Runs `imprint build`.
pub async fn run(
    global: &GlobalArgs,
    args: &BuildArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let settings = Settings::resolve(global, &args.input)?;
    let resolution = resolve(&settings, printer, args.offline, args.rebuild)
        .await
        .context("failed to work out the tag")?;
    let hash = resolution.hash();
    let (image, outcome) = match &resolution.source {
        Source::Pushed(pushed) => {
            printer.note(&format!(
                "this content is already pushed as {} ({}); nothing to build (--rebuild forces a new image)",
                pushed.tag, pushed.digest
            ));
            (
                format!("{}:{}", settings.image_name, resolution.tag),
                "already-pushed",
            )
        }
        Source::Built(image) => {
            printer.note(&format!("this content is already built as {image}; nothing to build (--rebuild forces a new image)"));
            (image.clone(), "already-built")
        }
        Source::New => {
            let image = format!("{}:{}", settings.image_name, resolution.tag);
            crate::builder::build(
                &settings.build,
                &image,
                &hash,
                args.rebuild,
                &resolution.bases.images,
                printer,
            )
            .with_context(|| format!("failed to build {image}"))?;
            printer.note(&format!("built {image}"));
            (image, "built")
        }
    };
    let image_uri = settings
        .registry
        .as_ref()
        .map(|r| r.repository.uri(&resolution.tag));
    if printer.json {
        printer.json_value(&BuildReport {
            tag: resolution.tag,
            hash,
            image,
            outcome,
            image_uri,
        })?;
    } else {
        printer.data(&image)?;
    }
    Ok(ExitStatus::Success)
}
