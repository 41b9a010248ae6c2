//! `imprint build`: the image for the current content, built once.

use anyhow::Context as _;
use serde::Serialize;

use crate::cli::{BuildArgs, GlobalArgs};
use crate::error::ExitStatus;
use crate::printer::Printer;
use crate::resolve::{resolve, Resolution, Source};
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
        Source::New => (
            build_new(&settings, &resolution, args.rebuild, printer)?,
            "built",
        ),
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

/// Builds the image for content that has none yet; returns its local name, `name:tag`.
pub fn build_new(
    settings: &Settings,
    resolution: &Resolution,
    no_cache: bool,
    printer: &Printer,
) -> anyhow::Result<String> {
    let image = format!("{}:{}", settings.image_name, resolution.tag);
    crate::builder::build(
        &settings.build,
        &image,
        &resolution.hash(),
        no_cache,
        &resolution.bases.images,
        printer,
    )
    .with_context(|| format!("failed to build {image}"))?;
    printer.note(&format!("built {image}"));
    Ok(image)
}
