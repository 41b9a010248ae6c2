//! Reverting, the automatic undo of a failed rollout: which functions go back, and each put
//! back on the image it ran before (`--no-rollback` turns it off).

use anyhow::Context as _;
use futures_util::stream::{self, StreamExt};

use super::apply::{Move, Moved};
use crate::config::RolloutSettings;
use crate::journal::FunctionImage;
use crate::lambda::{self, Function, Lambda, MoveError};
use crate::registry::Registry;
use crate::reporter::Reporter;

/// How putting one function back went.
pub type Reverted = (String, Result<FunctionImage, MoveError>);

/// What goes back after a failure: every function moved, and every failed one (Lambda may
/// have left it on the new image); `true` for those known to be moved. Conflicts (someone
/// else's change) and functions never started stay as they are.
pub fn to_revert(moved: &[Moved]) -> Vec<(&Function, bool)> {
    moved
        .iter()
        .filter_map(|m| match &m.result {
            Move::Done(_) => Some((&m.function, true)),
            Move::Failed(MoveError::Failed(_)) => Some((&m.function, false)),
            Move::Failed(MoveError::Conflict(_)) | Move::NotStarted => None,
        })
        .collect()
}

/// Puts the functions [`to_revert`] names back on their previous image. A failed one that
/// still runs its old image needs nothing and is left out.
pub async fn revert(
    client: &Lambda,
    registry: &Registry,
    moved: &[Moved],
    options: &RolloutSettings,
    reporter: &dyn Reporter,
) -> Vec<Reverted> {
    let back = to_revert(moved);
    if !back.is_empty() {
        reporter.step("putting the functions already changed back on their previous image");
    }
    stream::iter(back.into_iter().map(|(f, updated)| async move {
        if !updated {
            match lambda::read_function(client, &f.name).await {
                Ok(now) if now.image() == f.image() => return None,
                _ => {}
            }
        }
        let result = match previous_image(registry, f).await {
            Ok(to) => {
                client.pace().next_start().await;
                lambda::update_image(client, &f.name, &to, None, options.timeout).await
            }
            Err(e) => Err(MoveError::Failed(format!("{e:#}"))),
        };
        match &result {
            Ok(_) => reporter.step(&format!("  reverted  {}", f.name)),
            Err(e) => reporter.step(&format!("  revert-failed {}: {}", f.name, e.message())),
        }
        Some((f.name.clone(), result))
    }))
    .buffer_unordered(options.concurrency)
    .filter_map(|r| async move { r })
    .collect()
    .await
}

/// The image to put a function back on: its old URI when that still names the old digest,
/// else the old digest itself.
async fn previous_image(registry: &Registry, f: &Function) -> anyhow::Result<FunctionImage> {
    let uri = f
        .image_uri
        .clone()
        .with_context(|| format!("{} had no image before the deploy", f.name))?;
    let ours = format!("{}:", registry.repository);
    if let (Some(tag), Some(digest)) = (uri.strip_prefix(&ours), &f.digest) {
        if registry.manifest_digest(tag).await?.as_deref() != Some(digest.as_str()) {
            return Ok(FunctionImage {
                uri: format!("{}@{digest}", registry.repository),
                digest: Some(digest.clone()),
            });
        }
    }
    Ok(FunctionImage {
        uri,
        digest: f.digest.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::plan::tests::moved;

    #[test]
    fn moved_and_failed_go_back_conflicts_and_unstarted_stay() {
        let done = FunctionImage {
            uri: "r.io/a:new".into(),
            digest: Some("sha256:2".into()),
        };
        let moved = vec![
            moved("done", Move::Done(done)),
            moved("failed", Move::Failed(MoveError::Failed("boom".into()))),
            moved("theirs", Move::Failed(MoveError::Conflict("x".into()))),
            moved("later", Move::NotStarted),
        ];
        let back: Vec<(&str, bool)> = to_revert(&moved)
            .into_iter()
            .map(|(f, updated)| (f.name.as_str(), updated))
            .collect();
        assert_eq!(back, [("done", true), ("failed", false)]);
    }
}
