//! The one place where errors become exit codes, one-line messages and hints.

use imprint_context::ContextError;

use crate::config::ConfigError;
use crate::error::{ExitStatus, Failure, UsageError};
use crate::registry::RegistryError;

/// Bad input anywhere in the chain means exit code 2; anything else is a failure.
pub fn exit_status(error: &anyhow::Error) -> ExitStatus {
    let usage = error.chain().any(|e| {
        e.is::<UsageError>()
            || e.is::<ConfigError>()
            || e.is::<ContextError>()
            || e.downcast_ref::<RegistryError>()
                .is_some_and(RegistryError::is_usage)
    });
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
        } else if let Some(e) = e.downcast_ref::<Failure>() {
            Some(e.hint.clone())
        } else if let Some(e) = e.downcast_ref::<ConfigError>() {
            e.hint()
        } else if let Some(e) = e.downcast_ref::<ContextError>() {
            e.hint()
        } else if let Some(e) = e.downcast_ref::<RegistryError>() {
            e.hint()
        } else {
            None
        }
    })
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
