//! Moving one function to an image: update (guarded by the revision read before), wait until
//! Lambda settles it, and verify what it runs then.

use std::time::{Duration, Instant};

use super::function::{read_function, Function, UpdateStatus};
use super::image::FunctionImage;
use super::retry::{code, Lambda};

/// How a function's update ended, as Lambda reports it.
#[derive(Debug, Clone)]
pub enum Settled {
    /// `LastUpdateStatus` is `Successful`: the function as that last read found it.
    Successful(Box<Function>),
    /// `Failed`, with its reason code and text.
    Failed(String),
    /// Still `InProgress` at the deadline.
    TimedOut,
}

/// The first pause before asking whether an update settled: an image update takes seconds
/// at the least (Lambda optimizes the image).
const FIRST_POLL: Duration = Duration::from_millis(500);
/// The longest pause between two polls.
const LONGEST_POLL: Duration = Duration::from_secs(4);

/// Polls the function until its last update is no longer in progress: with GetFunction,
/// whose quota is its own (100 a second), never the control plane's GetFunctionConfiguration;
/// the pauses grow by half each time (an image update takes seconds to minutes).
pub async fn wait_updated(
    client: &Lambda,
    name: &str,
    deadline: Instant,
) -> anyhow::Result<Settled> {
    let mut pause = FIRST_POLL;
    loop {
        tokio::time::sleep(pause.min(deadline.saturating_duration_since(Instant::now()))).await;
        let now = read_function(client, name).await?;
        match now.last_update_status {
            Some(UpdateStatus::Failed) => {
                let reason = now.last_update_reason.as_deref();
                return Ok(Settled::Failed(
                    reason.unwrap_or("Lambda gave no reason").to_string(),
                ));
            }
            _ if now.is_busy() => {}
            _ => return Ok(Settled::Successful(Box::new(now))),
        }
        if Instant::now() >= deadline {
            return Ok(Settled::TimedOut);
        }
        pause = (pause * 3 / 2).min(LONGEST_POLL);
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
    let now = match wait_updated(client, name, deadline).await {
        Ok(Settled::Successful(now)) => now,
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
    };
    verify(&now, to)
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

/// What the function runs after its update (`now`, the read that found it settled) must be
/// `to`: the URI, and the digest when both sides know it (a digest URI pins the digest
/// itself).
fn verify(now: &Function, to: &FunctionImage) -> Result<FunctionImage, MoveError> {
    let uri_ok = now.image_uri.as_deref() == Some(to.uri.as_str());
    let digest_ok = match (&now.digest, &to.digest) {
        (Some(theirs), Some(ours)) => theirs == ours,
        (None, _) => to.uri.contains('@'),
        (Some(_), None) => true,
    };
    if uri_ok && digest_ok {
        Ok(FunctionImage {
            uri: to.uri.clone(),
            digest: now.digest.clone().or_else(|| to.digest.clone()),
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
