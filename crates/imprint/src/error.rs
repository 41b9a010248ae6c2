//! The one place where errors become exit codes and messages.

use std::process::ExitCode;

use imprint_context::ContextError;

use crate::config::ConfigError;
use crate::registry::RegistryError;

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Done (0).
    Success,
    /// The work failed (1).
    Failure,
    /// Bad usage or input (2).
    Usage,
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        ExitCode::from(match status {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::Usage => 2,
        })
    }
}

/// Bad input found in the command layer: a message and what to do about it.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct UsageError {
    /// What is wrong, naming the file, function or image.
    pub message: String,
    /// What to do.
    pub hint: Option<String>,
}

impl UsageError {
    /// A usage error with a hint.
    pub fn new(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }
}

/// Bad input anywhere in the chain means exit code 2; anything else is a failure.
pub fn classify(error: &anyhow::Error) -> ExitStatus {
    let usage = error
        .chain()
        .any(|e| e.is::<UsageError>() || e.is::<ConfigError>() || e.is::<ContextError>());
    if usage {
        ExitStatus::Usage
    } else {
        ExitStatus::Failure
    }
}

/// The first hint any error in the chain offers.
pub fn hint(error: &anyhow::Error) -> Option<String> {
    error.chain().find_map(|e| {
        if let Some(e) = e.downcast_ref::<UsageError>() {
            e.hint.clone()
        } else if let Some(e) = e.downcast_ref::<ConfigError>() {
            e.hint()
        } else if let Some(e) = e.downcast_ref::<ContextError>() {
            e.hint()
        } else if let Some(e) = e.downcast_ref::<RegistryError>() {
            registry_hint(e)
        } else {
            None
        }
    })
}

fn registry_hint(error: &RegistryError) -> Option<String> {
    match error {
        RegistryError::Denied { host, from: None } => Some(format!(
            "log in with `docker login {host}` (imprint reads the docker config and its credential helpers)"
        )),
        RegistryError::Denied { host, .. } => Some(format!(
            "check the user and password for {host}, or log in again with `docker login {host}`"
        )),
        RegistryError::Unreachable { source, .. } => {
            let text = format!("{source:?}").to_ascii_lowercase();
            if text.contains("certificate") || text.contains("unknownissuer") {
                Some("the registry's TLS certificate is not trusted: pass its CA with --ca-cert PEM (or [registry] ca_cert)".into())
            } else {
                Some("check the address, that the registry is running, and [registry] endpoint; --offline computes the tag without it".into())
            }
        }
        _ => None,
    }
}

/// The whole chain on one line, without repeating a cause its parent already quotes.
pub fn message(error: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}
