//! `imprint login`: `docker login` for the ECR registry, the token on stdin only.

use std::io::Write;
use std::process::{Command, Stdio};

use anyhow::Context as _;
use serde::Serialize;

use crate::cli::LoginArgs;
use crate::config::docker_program;
use crate::error::{ExitStatus, UsageError};
use crate::printer::Printer;
use crate::session::Session;

/// `login --json`.
#[derive(Debug, Serialize)]
struct LoginReport {
    registry: String,
    username: String,
}

impl std::fmt::Display for LoginReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "logged in to {} as {}", self.registry, self.username)
    }
}

/// Runs `imprint login`.
pub async fn run(
    session: &Session,
    printer: &Printer,
    _args: &LoginArgs,
) -> anyhow::Result<ExitStatus> {
    let repository = &session
        .settings
        .registry
        .as_ref()
        .ok_or_else(|| {
            UsageError::new(
                "no image repository is configured",
                "set [registry] repository in imprint.toml, or pass --repository HOST/PATH",
            )
        })?
        .repository;
    let provider = session.provider().await?;
    let credential = provider.login_credential(repository, printer).await?;
    let docker = docker_program();
    let mut child = Command::new(&docker)
        .args([
            "login",
            "--username",
            &credential.username,
            "--password-stdin",
            &repository.host,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("failed to run `{docker} login`"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(credential.secret.expose().as_bytes())
            .context("failed to hand the token to docker login")?;
    }
    let out = child
        .wait_with_output()
        .context("docker login did not finish")?;
    if !out.status.success() {
        // docker's own words, without the token (it never saw it in argv).
        let said = String::from_utf8_lossy(&out.stderr).replace(credential.secret.expose(), "***");
        anyhow::bail!(
            "`{docker} login {}` failed ({}): {}",
            repository.host,
            out.status,
            said.trim()
        );
    }
    printer.report(&LoginReport {
        registry: repository.host.clone(),
        username: credential.username,
    })?;
    Ok(ExitStatus::Success)
}
