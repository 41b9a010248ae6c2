//! `imprint run-local`: the document's `make build-local` and `make run-local`. The image for
//! the local tree (reused when built, built otherwise) runs with the docker CLI. `--event FILE`
//! hands one event to the image's runtime client through the Lambda Runtime API imprint
//! serves (or, with `--emulator`, posts it to the emulator in AWS's base images), prints the
//! answer and stops the container; without it the emulator runs until Ctrl-C. A native
//! image is loaded into docker first (run-local is where a daemon is needed).

use imprint_context::BuilderKind;

use crate::cli::RunLocalArgs;
use crate::error::{ExitStatus, UsageError};
use crate::image::build;
use crate::image::built::build_new;
use crate::image::local::container::{self, RunSpec};
use crate::image::local::load::load_native;
use crate::image::{tag_checkout, TagSource};
use crate::printer::Printer;
use crate::session::Session;

/// `run-local --event FILE --json`.
#[derive(Debug, serde::Serialize)]
struct Invoked<'a> {
    /// The local image that ran.
    image: &'a str,
    /// The invoke API's HTTP status.
    status: u16,
    /// `X-Amz-Function-Error`, when the function failed.
    function_error: Option<&'a str>,
    /// What the function returned.
    answer: serde_json::Value,
    /// The same, as it came.
    #[serde(skip)]
    body: &'a str,
}

impl std::fmt::Display for Invoked<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.body.trim_end())
    }
}

/// Runs `imprint run-local`.
pub async fn run(
    session: &Session,
    printer: &Printer,
    args: &RunLocalArgs,
) -> anyhow::Result<ExitStatus> {
    let kind = session.settings.build.params.builder;
    if kind == BuilderKind::Buildah {
        return Err(UsageError::new(
            "buildah builds images but cannot run them",
            "pass --builder docker (or podman) to run-local",
        )
        .into());
    }
    let event = match &args.event {
        Some(path) => Some(std::fs::read(path).map_err(|e| {
            UsageError::new(
                format!("cannot read the event {}: {e}", path.display()),
                "give a JSON file, e.g. events/create-debt.json",
            )
        })?),
        None => None,
    };
    let image = local_image(session).await?;
    let spec = RunSpec {
        image: &image,
        handler: args.handler.as_deref(),
        network: args.network.as_deref(),
        port: args.port,
        env_vars: &args.env_vars,
    };
    let Some(event) = event else {
        printer.note(&format!(
            "running {image}; invoke it with: curl -s -X POST {} -d '{{}}' (Ctrl-C stops it)",
            spec.url()
        ));
        return Ok(if container::run_attached(kind, &spec)? {
            ExitStatus::Success
        } else {
            ExitStatus::Failure
        });
    };
    let answer = if args.emulator {
        container::invoke_once(kind, &spec, event, args.timeout, printer).await?
    } else {
        if spec.network.is_some_and(|n| n != "host") {
            return Err(UsageError::new(
                format!("--network {}: the runtime reaches imprint's Lambda Runtime API on this machine's loopback, so the container runs on the host network", spec.network.unwrap_or_default()),
                "drop --network, or pass --emulator to post to the image's runtime interface emulator",
            )
            .into());
        }
        container::invoke_through_runtime_api(kind, &spec, event, args.timeout, printer).await?
    };
    // The answer as JSON when it is JSON (a handler's usual reply), else as text.
    let json = serde_json::from_str::<serde_json::Value>(&answer.body)
        .unwrap_or_else(|_| serde_json::Value::String(answer.body.clone()));
    printer.report(&Invoked {
        image: &image,
        status: answer.status,
        function_error: answer.function_error.as_deref(),
        answer: json,
        body: &answer.body,
    })?;
    if answer.status != 200 || answer.function_error.is_some() {
        printer.error(
            &format!(
                "the function answered {}{}",
                answer.status,
                answer
                    .function_error
                    .as_deref()
                    .map(|e| format!(" with a function error ({e})"))
                    .unwrap_or_default()
            ),
            Some("see the answer above; run without --event to watch its logs"),
        );
        return Ok(ExitStatus::Failure);
    }
    Ok(ExitStatus::Success)
}

/// The local image for the tree: the one built from this content, or a new build.
async fn local_image(session: &Session) -> anyhow::Result<String> {
    let (source, tagged) = tag_checkout(session).await?;
    let existing = match &tagged.source {
        TagSource::Built(image) => Some(image.clone()),
        // Pushed: run the local copy when this machine built it.
        TagSource::Pushed(_) => {
            build::for_settings(&session.settings.build).find(&tagged.hash())?
        }
        TagSource::New => None,
    };
    let image = match existing {
        Some(image) => {
            session
                .reporter()
                .note(&format!("reusing {image}, built from this content"));
            image
        }
        None => build_new(session, &tagged, false, &source).await?,
    };
    // The native builder keeps its images in imprint's store: the engine gets it to run it.
    if image.builder == BuilderKind::Native {
        load_native(session, &image).await?;
    }
    Ok(image.name)
}
