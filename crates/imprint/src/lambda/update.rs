//! Moving one function to an image: update (guarded by the revision read before), wait until
//! Lambda settles it, and verify what it runs now.

use std::time::{Duration, Instant};

use aws_sdk_lambda::types::{LastUpdateStatus, State};

use super::function::read_function;
use super::image::FunctionImage;
use super::retry::{code, Lambda};

/// How a function's update ended, as Lambda reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// `LastUpdateStatus` is `Successful`.
    Successful,
    /// `Failed`, with its reason code and text.
    Failed(String),
    /// Still `InProgress` at the deadline.
    TimedOut,
}

/// Polls the function until its last update is no longer in progress: with GetFunction,
/// whose quota is its own (100 a second), never the control plane's GetFunctionConfiguration;
/// the pauses grow (an image update takes seconds to minutes while Lambda optimizes it).
pub async fn wait_updated(
    client: &Lambda,
    name: &str,
    deadline: Instant,
) -> anyhow::Result<Settled> {
    let mut pause = Duration::from_millis(250);
    loop {
        let reply = client
            .call(&format!("GetFunction {name}"), || {
                client.sdk.get_function().function_name(name).send()
            })
            .await
            .map_err(|e| anyhow::anyhow!("failed to read {name}: {}", client.error_text(&e)))?;
        let conf = reply
            .configuration()
            .ok_or_else(|| anyhow::anyhow!("GetFunction {name} answered no configuration"))?;
        let pending = conf.state() == Some(&State::Pending);
        match conf.last_update_status() {
            Some(LastUpdateStatus::Failed) => {
                let reason = match (
                    conf.last_update_status_reason_code().map(|c| c.as_str()),
                    conf.last_update_status_reason(),
                ) {
                    (Some(code), Some(text)) => format!("{code}: {text}"),
                    (None, Some(text)) => text.to_string(),
                    (Some(code), None) => code.to_string(),
                    (None, None) => "Lambda gave no reason".into(),
                };
                return Ok(Settled::Failed(reason));
            }
            Some(LastUpdateStatus::InProgress) => {}
            _ if pending => {}
            _ => return Ok(Settled::Successful),
        }
        if Instant::now() >= deadline {
            return Ok(Settled::TimedOut);
        }
        tokio::time::sleep(pause.min(deadline.saturating_duration_since(Instant::now()))).await;
        pause = (pause * 2).min(Duration::from_secs(4));
    }
}

/// How moving one function went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoveError {
    /// The update failed or timed out; the message says why.
    Failed(String),
    /// Someone else changed the function; it was left as they left it.
    Conflict(String),
}

impl MoveError {
    /// What went wrong, for messages.
    pub fn message(&self) -> &str {
        match self {
            Self::Failed(m) | Self::Conflict(m) => m,
        }
    }
}

/// Moves one function to `to`: update (with the revision read before, when given), wait,
/// verify. The image it runs afterwards, as Lambda reports it.
pub async fn update_image(
    client: &Lambda,
    name: &str,
    to: &FunctionImage,
    revision: Option<String>,
    timeout: Duration,
) -> Result<FunctionImage, MoveError> {
    send_update(client, name, to, revision).await?;
    let deadline = Instant::now() + timeout;
    match wait_updated(client, name, deadline).await {
        Ok(Settled::Successful) => {}
        Ok(Settled::Failed(reason)) => {
            return Err(MoveError::Failed(format!(
                "Lambda failed the update: {reason}"
            )))
        }
        Ok(Settled::TimedOut) => {
            return Err(MoveError::Failed(format!(
                "still updating after {}s (--timeout); Lambda may yet finish it",
                timeout.as_secs()
            )))
        }
        Err(e) => return Err(MoveError::Failed(format!("{e:#}"))),
    }
    verify(client, name, to).await
}

/// UpdateFunctionCode. A revision mismatch is fine when our own earlier attempt landed
/// before a dropped answer; otherwise someone else changed the function.
async fn send_update(
    client: &Lambda,
    name: &str,
    to: &FunctionImage,
    revision: Option<String>,
) -> Result<(), MoveError> {
    let sent = client
        .call(&format!("UpdateFunctionCode {name}"), || {
            client
                .sdk
                .update_function_code()
                .function_name(name)
                .image_uri(&to.uri)
                .set_revision_id(revision.clone())
                .send()
        })
        .await;
    let Err(e) = sent else { return Ok(()) };
    match code(&e) {
        Some("PreconditionFailedException") => {
            let now = read_function(client, name)
                .await
                .map_err(|e| MoveError::Failed(format!("{e:#}")))?;
            if now.image_uri.as_deref() == Some(to.uri.as_str()) {
                Ok(())
            } else {
                Err(MoveError::Conflict(format!(
                    "changed by someone else since imprint read it (it now runs {}); left as it is",
                    now.image_uri.as_deref().unwrap_or("no image")
                )))
            }
        }
        Some("ResourceNotFoundException") => Err(MoveError::Failed(
            "the function no longer exists (deleted during the deploy?)".into(),
        )),
        _ => Err(MoveError::Failed(client.error_text(&e))),
    }
}

/// What the function runs after its update must be `to`: the URI, and the digest when both
/// sides know it (a digest URI pins the digest itself).
async fn verify(
    client: &Lambda,
    name: &str,
    to: &FunctionImage,
) -> Result<FunctionImage, MoveError> {
    let now = read_function(client, name)
        .await
        .map_err(|e| MoveError::Failed(format!("{e:#}")))?;
    let uri_ok = now.image_uri.as_deref() == Some(to.uri.as_str());
    let digest_ok = match (&now.digest, &to.digest) {
        (Some(theirs), Some(ours)) => theirs == ours,
        (None, _) => to.uri.contains('@'),
        (Some(_), None) => true,
    };
    if uri_ok && digest_ok {
        Ok(FunctionImage {
            uri: to.uri.clone(),
            digest: now.digest.or_else(|| to.digest.clone()),
        })
    } else {
        Err(MoveError::Conflict(format!(
            "after the update it runs {} ({}), not {} ({}); someone else changed it, so it was left as it is",
            now.image_uri.as_deref().unwrap_or("no image"),
            now.digest.as_deref().unwrap_or("unknown digest"),
            to.uri,
            to.digest.as_deref().unwrap_or("unknown digest")
        )))
    }
}
