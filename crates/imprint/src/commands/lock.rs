//! `imprint lock`: pin the Dockerfile's base images in imprint.lock.

use serde::Serialize;

use crate::cli::{GlobalArgs, LockArgs};
use crate::error::ExitStatus;
use crate::lock::{self, Mode};
use crate::printer::Printer;
use crate::settings::Settings;

/// `lock --json`.
#[derive(Debug, Serialize)]
struct LockReport {
    path: String,
    platform: String,
    images: Vec<imprint_context::BaseImage>,
}

/// Runs `imprint lock`.
pub async fn run(
    global: &GlobalArgs,
    args: &LockArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let settings = Settings::resolve(global, &args.input)?;
    let mode = Mode {
        offline: false,
        locked: settings.locked,
        update: args.update,
        read_only: false,
    };
    let bases = lock::prepare(&settings, printer, mode).await?;
    let report = LockReport {
        path: lock::path(&settings).display().to_string(),
        platform: settings.build.params.platform.clone(),
        images: bases.images,
    };
    if printer.json {
        printer.json_value(&report)?;
    } else if report.images.is_empty() {
        printer.note(
            "the Dockerfile names no external image (only scratch or stages); nothing to lock",
        );
    } else {
        for image in &report.images {
            printer.data(&format!("{}@{}", image.reference, image.digest))?;
        }
    }
    Ok(ExitStatus::Success)
}
