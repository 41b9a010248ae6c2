//! `imprint version`: what this binary is, read before any settings.

use crate::error::ExitStatus;
use crate::printer::Printer;
use crate::version::Version;

/// Prints the version report (`--json`: its fields).
pub fn run(printer: &Printer) -> anyhow::Result<ExitStatus> {
    printer.report(&Version::current())?;
    Ok(ExitStatus::Success)
}
