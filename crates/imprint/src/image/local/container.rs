//! Running an image on this machine with the builder's engine: one invoke through the Lambda
//! Runtime API imprint serves (any image with a runtime interface client), or the runtime
//! interface emulator of AWS base images published on a local port (attached until Ctrl-C, or
//! detached for one invoke).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use imprint_context::BuilderKind;

use super::runtime_api::{Reply, RuntimeApi};
use crate::config::builder_program;
use crate::reporter::Reporter;

/// Where the runtime interface emulator of AWS base images takes invokes.
const INVOKE_PATH: &str = "/2015-03-31/functions/function/invocations";
/// The port it listens on inside the container.
const RUNTIME_PORT: u16 = 8080;

/// What to run and how.
#[derive(Debug, Clone)]
pub struct RunSpec<'a> {
    /// The local image.
    pub image: &'a str,
    /// The handler (the image's CMD otherwise).
    pub handler: Option<&'a str>,
    /// The container network; without one the port is published on 127.0.0.1.
    pub network: Option<&'a str>,
    /// The host port the invoke API answers on.
    pub port: u16,
    /// `KEY=VALUE` or `KEY` (passed on from this environment).
    pub env_vars: &'a [String],
}

impl RunSpec<'_> {
    /// The invoke API's URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}{INVOKE_PATH}", self.port)
    }
}

/// What one invoke answered.
#[derive(Debug, Clone)]
pub struct LocalInvocation {
    /// The HTTP status.
    pub status: u16,
    /// The body as it came.
    pub body: String,
    /// `X-Amz-Function-Error`, when the function failed.
    pub function_error: Option<String>,
}

/// `docker run --rm --name NAME …` for the spec; variable values travel in the command's
/// environment, never in argv.
fn run_command(kind: BuilderKind, spec: &RunSpec<'_>, name: &str, detach: bool) -> Command {
    run_command_with(kind, spec, name, detach, None)
}

/// [`run_command`], with `AWS_LAMBDA_RUNTIME_API` set when the runtime is to ask imprint.
fn run_command_with(
    kind: BuilderKind,
    spec: &RunSpec<'_>,
    name: &str,
    detach: bool,
    runtime_api: Option<&str>,
) -> Command {
    let mut command = Command::new(builder_program(kind));
    command.arg("run").arg("--rm").args(["--name", name]);
    if detach {
        command.arg("--detach");
    }
    match spec.network {
        Some(network) => {
            command.args(["--network", network]);
        }
        None => {
            command.args([
                "--publish",
                &format!("127.0.0.1:{}:{RUNTIME_PORT}", spec.port),
            ]);
        }
    }
    if let Some(address) = runtime_api {
        command.args(["--env", &format!("AWS_LAMBDA_RUNTIME_API={address}")]);
    }
    for var in spec.env_vars {
        match var.split_once('=') {
            Some((key, value)) => {
                command.args(["--env", key]).env(key, value);
            }
            None => {
                command.args(["--env", var]);
            }
        }
    }
    command.arg(spec.image);
    if let Some(handler) = spec.handler {
        command.arg(handler);
    }
    command
}

fn container_name() -> String {
    format!("imprint-run-{:08x}", fastrand::u32(..))
}

/// Runs the image in the foreground until it stops; whether it exited cleanly.
pub fn run_attached(kind: BuilderKind, spec: &RunSpec<'_>) -> anyhow::Result<bool> {
    let mut command = run_command(kind, spec, &container_name(), false);
    let status = command
        .status()
        .with_context(|| format!("cannot run `{}`", builder_program(kind)))?;
    Ok(status.success())
}

/// Starts the image detached, posts `event` once, and stops the container (its last log
/// lines shown when the invoke fails).
pub async fn invoke_once(
    kind: BuilderKind,
    spec: &RunSpec<'_>,
    event: Vec<u8>,
    timeout: Duration,
    reporter: &dyn Reporter,
) -> anyhow::Result<LocalInvocation> {
    let docker = builder_program(kind);
    let name = container_name();
    start_detached(run_command(kind, spec, &name, true), &docker, spec.image)?;
    let url = spec.url();
    reporter.note(&format!(
        "started {} as {name}; posting the event to {url}",
        spec.image
    ));
    let answer = invoke(&url, event, timeout).await;
    if answer.is_err() {
        show_logs(&docker, &name, reporter);
    }
    stop(&docker, &name, reporter);
    answer
}

/// Runs the image detached with `AWS_LAMBDA_RUNTIME_API` pointing at a Runtime API imprint
/// serves on a loopback port (so the container shares the host's network), hands it `event`
/// and takes its answer; the container is stopped either way (its last log lines shown when
/// it does not answer).
pub async fn invoke_through_runtime_api(
    kind: BuilderKind,
    spec: &RunSpec<'_>,
    event: Vec<u8>,
    timeout: Duration,
    reporter: &dyn Reporter,
) -> anyhow::Result<LocalInvocation> {
    let docker = builder_program(kind);
    let name = container_name();
    let mut api = RuntimeApi::start(event, spec.handler.unwrap_or("function"), timeout).await?;
    let host = RunSpec {
        network: Some("host"),
        ..spec.clone()
    };
    let command = run_command_with(kind, &host, &name, true, Some(&api.address()));
    start_detached(command, &docker, spec.image)?;
    reporter.note(&format!(
        "started {} as {name}; its runtime takes the event from the Lambda Runtime API at {}",
        spec.image,
        api.address()
    ));
    let reply = api.reply(timeout).await;
    if reply.is_none() {
        show_logs(&docker, &name, reporter);
    }
    stop(&docker, &name, reporter);
    match reply {
        Some(Reply::Response(body)) => Ok(LocalInvocation {
            status: 200,
            body: String::from_utf8_lossy(&body).into_owned(),
            function_error: None,
        }),
        Some(Reply::Error(body)) => Ok(LocalInvocation {
            status: 200,
            body: String::from_utf8_lossy(&body).into_owned(),
            function_error: Some("Unhandled".into()),
        }),
        // As Lambda answers an invocation whose response is over its limit.
        Some(Reply::TooLarge(length)) => {
            reporter.warn(&format!(
                "the function answered {length} bytes; Lambda refuses answers over 6 MB (6,291,456 bytes) and the invocation fails"
            ));
            Ok(LocalInvocation {
                status: 200,
                body: format!(
                    "{{\"errorMessage\":\"Response payload size ({length} bytes) exceeded maximum allowed payload size (6291556 bytes).\",\"errorType\":\"Function.ResponseSizeTooLarge\"}}"
                ),
                function_error: Some("Unhandled".into()),
            })
        }
        None => anyhow::bail!(
            "the function's runtime did not answer within {}s (--timeout); its last lines are above",
            timeout.as_secs()
        ),
    }
}

/// Runs a detached `docker run`; its error names the image.
fn start_detached(mut command: Command, docker: &str, image: &str) -> anyhow::Result<()> {
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
    Ok(())
}

fn show_logs(docker: &str, name: &str, reporter: &dyn Reporter) {
    let logs = Command::new(docker)
        .args(["logs", "--tail", "20", name])
        .output();
    if let Ok(logs) = logs {
        reporter.warn(&format!(
            "the container's last lines:\n{}{}",
            String::from_utf8_lossy(&logs.stdout),
            String::from_utf8_lossy(&logs.stderr)
        ));
    }
}

/// Removes the container (killed first), and waits until it is gone: `--rm` alone removes it
/// in the background, after `docker stop` has returned.
fn stop(docker: &str, name: &str, reporter: &dyn Reporter) {
    let removed = Command::new(docker).args(["rm", "--force", name]).output();
    let gone = removed.is_ok_and(|o| {
        o.status.success() || String::from_utf8_lossy(&o.stderr).contains("No such container")
    });
    if !gone {
        reporter.warn(&format!(
            "could not stop the container {name}; stop it with `docker stop {name}`"
        ));
    }
}

/// Posts the event until the runtime answers (it takes a moment to start); the status,
/// body and `X-Amz-Function-Error`.
async fn invoke(url: &str, event: Vec<u8>, timeout: Duration) -> anyhow::Result<LocalInvocation> {
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
                return Ok(LocalInvocation {
                    status,
                    body,
                    function_error,
                });
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
