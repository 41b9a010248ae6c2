//! `imprint rollback`: every function back to the deployment before the current one (or
//! `--to TAG`), checked before any change and moved like a deploy by [`crate::rollout`],
//! journaled as a rollback. With `owner = "pulumi"` it pins Pulumi's `imageTag` config instead.

use std::path::PathBuf;
use std::process::Command;

use serde::Serialize;

use crate::cli::{GlobalArgs, RollbackArgs};
use crate::config::Owner;
use crate::error::{ExitStatus, UsageError};
use crate::journal::{self, Entry, Record};
use crate::printer::Printer;
use crate::registry::Registry;
use crate::rollout::{self, Action, Target};
use crate::settings::Settings;

/// `rollback --json` with `owner = "pulumi"`.
#[derive(Debug, Serialize)]
struct Pinned {
    /// Always `pinned`: Pulumi's config names the tag; `pulumi up` moves the functions.
    outcome: &'static str,
    tag: String,
    image_uri: String,
    digest: String,
    /// The Pulumi program's folder.
    pulumi_dir: PathBuf,
    /// The stack, when configured.
    stack: Option<String>,
}

/// Runs `imprint rollback`.
pub async fn run(
    global: &GlobalArgs,
    args: &RollbackArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let settings = Settings::resolve(global, &args.input)?;
    let registry = settings.registry_client(printer).await?;
    if settings.config.sections.deploy.owner == Some(Owner::Pulumi) {
        let Some(tag) = &args.to else {
            return Err(UsageError::new(
                "owner = \"pulumi\": Pulumi deploys the functions, so imprint's journal has no deployment to go back to",
                "pass --to TAG (the tags Pulumi deployed are in `pulumi stack history`)",
            )
            .into());
        };
        let target = rollout::pushed_target(&registry, tag, None, None, printer).await?;
        return pin_pulumi(&settings, &target, printer);
    }
    let fleet = rollout::fleet(&settings, &args.rollout.functions).await?;
    let entries = journal::entries(&registry, None).await?;
    let (tag, recorded) = match &args.to {
        Some(tag) => {
            // The journal's digest for this tag guards against a tag moved since.
            let recorded = entries
                .iter()
                .rev()
                .filter_map(succeeded)
                .find(|r| &r.tag == tag);
            if recorded.is_none() {
                printer.note(&format!(
                    "{tag} is not a successful deployment in the journal; going to it as pushed"
                ));
            }
            (tag.as_str(), recorded)
        }
        None => {
            let record = previous(&entries, &fleet.names, &registry)?;
            printer.note(&format!(
                "going back to {} ({}), deployed {} by {}",
                record.tag,
                record
                    .image
                    .digest
                    .as_deref()
                    .unwrap_or("no digest recorded"),
                record.time,
                record.caller.arn.as_deref().unwrap_or("an unknown caller")
            ));
            (record.tag.as_str(), Some(record))
        }
    };
    let target = rollout::pushed_target(
        &registry,
        tag,
        recorded.and_then(|r| r.image.digest.as_deref()),
        recorded.and_then(|r| r.content_hash.clone()),
        printer,
    )
    .await?;
    rollout::run(
        &settings,
        &registry,
        fleet,
        target,
        Action::Rollback,
        &args.rollout,
        printer,
    )
    .await
}

/// The end record of a deployment (or rollback) that succeeded.
fn succeeded(entry: &Entry) -> Option<&Record> {
    entry
        .end
        .as_ref()
        .filter(|r| r.outcome.as_deref() == Some("succeeded"))
}

/// The deployment to go back to. Among the successful deployments of any of `names`, oldest
/// first, the current one is the newest, or, when that is a rollback, the deploy it went back
/// to, so a second rollback steps further back. The answer is the newest one before it whose
/// image differs.
fn previous<'a>(
    entries: &'a [Entry],
    names: &[String],
    registry: &Registry,
) -> Result<&'a Record, UsageError> {
    let ours: Vec<&Record> = entries
        .iter()
        .filter_map(succeeded)
        .filter(|r| r.results.iter().any(|f| names.contains(&f.name)))
        .collect();
    let Some((&current, older)) = ours.split_last() else {
        return Err(UsageError::new(
            format!(
                "the journal in {} has no successful deployment of {}",
                registry.repository,
                names.join(", ")
            ),
            "rollback returns to a deployment imprint made; pass --to TAG to go to a pushed image",
        ));
    };
    let mut anchor = older.len();
    if current.action == Action::Rollback.as_str() {
        if let Some(i) = older.iter().rposition(|r| {
            r.action == Action::Deploy.as_str() && r.image.digest == current.image.digest
        }) {
            anchor = i;
        }
    }
    let now = ours[anchor];
    ours[..anchor]
        .iter()
        .rev()
        .find(|r| r.image.digest != now.image.digest)
        .copied()
        .ok_or_else(|| {
            UsageError::new(
                format!(
                    "{} (deployed {}) is the earliest successful deployment in the journal; there is none before it",
                    now.tag, now.time
                ),
                "pass --to TAG to go to a pushed image (see `imprint history`)",
            )
        })
}

/// `pulumi config set imageTag TAG` in the Pulumi program's folder.
fn pin_pulumi(
    settings: &Settings,
    target: &Target,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let deploy = &settings.config.sections.deploy;
    let base = settings
        .config
        .dir()
        .map_or_else(|| PathBuf::from("."), PathBuf::from);
    let dir = base.join(deploy.pulumi_dir.as_deref().unwrap_or(".".as_ref()));
    let mut command = Command::new("pulumi");
    command
        .args([
            "config",
            "set",
            "imageTag",
            &target.tag,
            "--non-interactive",
        ])
        .current_dir(&dir);
    if let Some(stack) = &deploy.pulumi_stack {
        command.args(["--stack", stack]);
    }
    let by_hand = format!(
        "run `pulumi config set imageTag {}` in {} yourself",
        target.tag,
        dir.display()
    );
    let output = command.output().map_err(|e| {
        UsageError::new(
            format!("cannot run `pulumi` in {}: {e}", dir.display()),
            format!("install the Pulumi CLI or set [deploy] pulumi_dir; or {by_hand}"),
        )
    })?;
    if !output.status.success() {
        anyhow::bail!(
            "`pulumi config set imageTag {}` failed in {} ({}): {}; {by_hand}",
            target.tag,
            dir.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    printer.note(&format!(
        "Pulumi's imageTag is now {}; run `pulumi up` in {} to move the functions to {}",
        target.tag,
        dir.display(),
        target.uri
    ));
    let pinned = Pinned {
        outcome: "pinned",
        tag: target.tag.clone(),
        image_uri: target.uri.clone(),
        digest: target.digest.clone(),
        pulumi_dir: dir,
        stack: deploy.pulumi_stack.clone(),
    };
    if printer.json {
        printer.json_value(&pinned)?;
    } else {
        printer.data(&pinned.image_uri)?;
    }
    Ok(ExitStatus::Success)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{Caller, Finished, ImageRef, Kind, Outcome, JOURNAL_FORMAT};
    use crate::registry::Repository;

    fn entry(n: u32, action: &str, digest: &str, outcome: &str, names: &[&str]) -> Entry {
        let id = format!("20261129-0000{n:02}-000-0000000{n}");
        let record = Record {
            format: JOURNAL_FORMAT,
            kind: Kind::End,
            id: id.clone(),
            action: action.into(),
            time: format!("2026-11-29T00:00:{n:02}Z"),
            unix_time: 0,
            caller: Caller::default(),
            runner: None,
            image: ImageRef {
                uri: format!("r.io/a:t-{digest}"),
                digest: Some(digest.into()),
            },
            tag: format!("t-{digest}"),
            content_hash: None,
            functions: vec![],
            outcome: Some(outcome.into()),
            results: names
                .iter()
                .map(|n| Finished {
                    name: (*n).into(),
                    outcome: Outcome::Updated,
                    image: None,
                    error: None,
                })
                .collect(),
        };
        Entry {
            id,
            begin: None,
            end: Some(record),
        }
    }

    fn pick(entries: &[Entry]) -> Result<String, String> {
        let registry = Registry::new(Repository::parse("r.io/a").unwrap(), None, None).unwrap();
        previous(entries, &["f".to_string()], &registry)
            .map(|r| r.tag.clone())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn rollback_steps_back_through_successful_deployments() {
        let f = &["f"];
        let mut journal = vec![
            entry(1, "deploy", "a", "succeeded", f),
            entry(2, "deploy", "b", "succeeded", f),
            entry(3, "deploy", "x", "rolled-back", f),
            entry(4, "deploy", "c", "succeeded", f),
            // Another function set sharing the repository does not count.
            entry(5, "deploy", "z", "succeeded", &["g"]),
        ];
        assert_eq!(pick(&journal).unwrap(), "t-b");
        journal.push(entry(6, "rollback", "b", "succeeded", f));
        assert_eq!(
            pick(&journal).unwrap(),
            "t-a",
            "a second rollback steps further back"
        );
        journal.push(entry(7, "rollback", "a", "succeeded", f));
        assert!(pick(&journal).unwrap_err().contains("earliest"));
        // A new deploy after rolling back to a: back means a again.
        journal.push(entry(8, "deploy", "d", "succeeded", f));
        assert_eq!(pick(&journal).unwrap(), "t-a");
        // Redeploying the same image twice: back means the image before it.
        journal.push(entry(9, "deploy", "d", "succeeded", f));
        assert_eq!(pick(&journal).unwrap(), "t-a");
        assert!(pick(&[]).unwrap_err().contains("no successful deployment"));
    }
}
