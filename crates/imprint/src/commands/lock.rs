//! `imprint lock`: pin the Dockerfile's base images in imprint.lock.

use std::fmt;

use serde::Serialize;

use crate::cli::LockArgs;
use crate::error::ExitStatus;
use crate::image::lock::{self, Mode};
use crate::printer::Printer;
use crate::session::Session;

/// `lock --json`.
#[derive(Debug, Serialize)]
struct LockReport {
    path: String,
    platform: String,
    images: Vec<imprint_context::BaseImage>,
}

impl fmt::Display for LockReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pinned: Vec<String> = self
            .images
            .iter()
            .map(|i| format!("{}@{}", i.reference, i.digest))
            .collect();
        f.write_str(&pinned.join("\n"))
    }
}

/// Runs `imprint lock`.
pub async fn run(
    session: &Session,
    printer: &Printer,
    args: &LockArgs,
) -> anyhow::Result<ExitStatus> {
    let settings = &session.settings;
    let mode = Mode {
        offline: false,
        locked: settings.locked,
        update: args.update,
        read_only: false,
    };
    let bases = lock::prepare(session, mode).await?;
    if bases.images.is_empty() {
        printer.note(
            "the Dockerfile names no external image (only scratch or stages); nothing to lock",
        );
    }
    printer.report(&LockReport {
        path: lock::path(settings).display().to_string(),
        platform: settings.build.params.platform.clone(),
        images: bases.images,
    })?;
    Ok(ExitStatus::Success)
}
