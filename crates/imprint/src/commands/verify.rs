//! `imprint verify`: the image for the checkout rebuilt natively and compared with the pushed
//! one.

use crate::cli::VerifyArgs;
use crate::error::{ExitStatus, Failure};
use crate::image::verify::{verify, Against, Verdict};
use crate::printer::Printer;
use crate::session::Session;

/// Runs `imprint verify`.
pub async fn run(
    session: &Session,
    printer: &Printer,
    args: &VerifyArgs,
) -> anyhow::Result<ExitStatus> {
    let against = match (&args.tag, args.deployed) {
        (Some(tag), _) => Against::Tag(tag),
        (None, true) => Against::Deployed,
        (None, false) => Against::Content,
    };
    let report = verify(session, against).await?;
    printer.report(&report)?;
    let hint = match report.only_bytecode_differs() {
        true => "only compiled bytecode differs: the pushed image's pycs were compiled by another CPython release than this machine's python3.X; verify where that release is installed",
        false => "the lines above name what differs: a build from other sources, another base digest, or a builder that is not reproducible",
    };
    let failure = (report.outcome == Verdict::Differs).then(|| {
        Failure::new(
            format!("{} is not the image this checkout builds", report.image_uri),
            hint,
        )
    });
    Ok(printer.conclude(failure))
}
