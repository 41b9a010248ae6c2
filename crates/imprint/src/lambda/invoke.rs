//! Invoking one version of a function synchronously (the smoke tests): its answer, the
//! error Lambda reports, and the tail of its log.

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::LogType;
use base64::Engine as _;

use super::retry::Lambda;

/// What an invocation answered.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The function's answer (or Lambda's error document when it failed).
    pub payload: Vec<u8>,
    /// `Unhandled` or `Handled` when the function failed.
    pub function_error: Option<String>,
    /// The last 4 KB of its log, as Lambda returns it.
    pub log_tail: Option<String>,
}

/// Invokes `function` at `qualifier` with `event` and waits for the answer (within the
/// client's time limit per call).
pub async fn invoke(
    client: &Lambda,
    function: &str,
    qualifier: &str,
    event: &[u8],
) -> anyhow::Result<Invocation> {
    let reply = client
        .call(&format!("Invoke {function}:{qualifier}"), || {
            client
                .sdk
                .invoke()
                .function_name(function)
                .qualifier(qualifier)
                .payload(Blob::new(event.to_vec()))
                .log_type(LogType::Tail)
                .send()
        })
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "failed to invoke version {qualifier} of {function}: {}",
                client.error_text(&e)
            )
        })?;
    let log_tail = reply.log_result().and_then(|text| {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()?;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    });
    Ok(Invocation {
        payload: reply
            .payload()
            .map(|p| p.as_ref().to_vec())
            .unwrap_or_default(),
        function_error: reply.function_error().map(str::to_string),
        log_tail,
    })
}
