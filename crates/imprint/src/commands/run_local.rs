//! `imprint run-local`: the document's `make build-local` and `make run-local`. The image for
//! the local tree (reused when built, built otherwise) runs with the docker CLI, the Lambda
//! runtime interface published on a local port; `--event FILE` posts one invoke, prints the
//! answer and stops the container.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use imprint_context::BuilderKind;

use crate::cli::{GlobalArgs, RunLocalArgs};
use crate::error::{ExitStatus, UsageError};
use crate::printer::Printer;
use crate::resolve::{resolve, Source};
use crate::settings::Settings;

/// Where the runtime interface emulator of AWS base images takes invokes.
const INVOKE_PATH: &str = "/2015-03-31/functions/function/invocations";
/// The port it listens on inside the container.
const RUNTIME_PORT: u16 = 8080;

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
}

/// Runs `imprint run-local`.
pub async fn run(
    global: &GlobalArgs,
    args: &RunLocalArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let settings = Settings::resolve(global, &args.input)?;
    let kind = settings.build.params.builder;
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
    let image = local_image(&settings, printer).await?;

    let name = format!("imprint-run-{:08x}", fastrand::u32(..));
    let docker = crate::builder::program(kind);
    let mut command = Command::new(&docker);
    command.arg("run").arg("--rm").args(["--name", &name]);
    if event.is_some() {
        command.arg("--detach");
    }
    match args.network.as_deref() {
        Some(network) => {
            command.args(["--network", network]);
        }
        None => {
            command.args([
                "--publish",
                &format!("127.0.0.1:{}:{RUNTIME_PORT}", args.port),
            ]);
        }
    }
    // Values travel in our environment, never in argv.
    for var in &args.env_vars {
        match var.split_once('=') {
            Some((key, value)) => {
                command.args(["--env", key]).env(key, value);
            }
            None => {
                command.args(["--env", var]);
            }
        }
    }
    command.arg(&image);
    if let Some(handler) = &args.handler {
        command.arg(handler);
    }
    let url = format!("http://127.0.0.1:{}{INVOKE_PATH}", args.port);
    let Some(event) = event else {
        printer.note(&format!(
            "running {image}; invoke it with: curl -s -X POST {url} -d '{{}}' (Ctrl-C stops it)"
        ));
        let status = command
            .status()
            .with_context(|| format!("cannot run `{docker}`"))?;
        return Ok(if status.success() {
            ExitStatus::Success
        } else {
            ExitStatus::Failure
        });
    };

    let started = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run `{docker}`"))?;
    if !started.status.success() {
        anyhow::bail!(
            "failed to start {image}: {}",
            String::from_utf8_lossy(&started.stderr).trim()
        );
    }
    printer.note(&format!(
        "started {image} as {name}; posting the event to {url}"
    ));
    let answer = invoke(&url, event, args.timeout).await;
    if answer.is_err() {
        let logs = Command::new(&docker)
            .args(["logs", "--tail", "20", &name])
            .output();
        if let Ok(logs) = logs {
            printer.warn(&format!(
                "the container's last lines:\n{}{}",
                String::from_utf8_lossy(&logs.stdout),
                String::from_utf8_lossy(&logs.stderr)
            ));
        }
    }
    let stopped = Command::new(&docker)
        .args(["stop", "--time", "1", &name])
        .output();
    if !stopped.is_ok_and(|o| o.status.success()) {
        printer.warn(&format!(
            "could not stop the container {name}; stop it with `docker stop {name}`"
        ));
    }
    let (status, body, function_error) = answer?;
    if printer.json {
        // The answer as JSON when it is JSON (a handler's usual reply), else as text.
        let answer = serde_json::from_str::<serde_json::Value>(&body)
            .unwrap_or_else(|_| serde_json::Value::String(body.clone()));
        printer.json_value(&Invoked {
            image: &image,
            status,
            function_error: function_error.as_deref(),
            answer,
        })?;
    } else {
        printer.data(body.trim_end())?;
    }
    if status != 200 || function_error.is_some() {
        printer.error(
            &format!(
                "the function answered {status}{}",
                function_error
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
async fn local_image(settings: &Settings, printer: &Printer) -> anyhow::Result<String> {
    let resolution = resolve(settings, printer, false, false)
        .await
        .context("failed to work out the tag")?;
    let existing = match &resolution.source {
        Source::Built(image) => Some(image.clone()),
        // Pushed: run the local copy when this machine built it.
        Source::Pushed(_) => crate::builder::find_local(&settings.build, &resolution.hash())?,
        Source::New => None,
    };
    match existing {
        Some(image) => {
            printer.note(&format!("reusing {image}, built from this content"));
            Ok(image)
        }
        None => crate::commands::build::build_new(settings, &resolution, false, printer),
    }
}

/// Posts the event until the runtime answers (it takes a moment to start); the status,
/// body and `X-Amz-Function-Error`.
async fn invoke(
    url: &str,
    event: Vec<u8>,
    timeout: Duration,
) -> anyhow::Result<(u16, String, Option<String>)> {
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .context("failed to make an HTTP client")?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match client.post(url).body(event.clone()).send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let function_error = response
                    .headers()
                    .get("x-amz-function-error")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let body = response
                    .text()
                    .await
                    .with_context(|| format!("the answer from {url} was cut off"))?;
                return Ok((status, body, function_error));
            }
            Err(e) if e.is_connect() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => {
                return Err(anyhow::anyhow!(e)).with_context(|| {
                    format!("the function did not answer at {url} (is --port right?)")
                })
            }
        }
    }
}
