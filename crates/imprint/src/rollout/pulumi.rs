//! The Pulumi program beside imprint: with `owner = "pulumi"` Pulumi moves the functions, so a
//! rollback pins Pulumi's `imageTag` config to the target's tag and leaves `pulumi up` to the
//! user (the stack's functions are read in `lambda::stack`).

use std::fmt;
use std::path::PathBuf;
use std::process::Command;

use serde::Serialize;

use super::target::Target;
use crate::config::Settings;
use crate::error::UsageError;
use crate::lambda::stack::{config_dir, program_dir};
use crate::reporter::Reporter;

/// `rollback --json` with `owner = "pulumi"`.
#[derive(Debug, Serialize)]
pub struct Pinned {
    /// Always `pinned`: Pulumi's config names the tag; `pulumi up` moves the functions.
    pub outcome: &'static str,
    /// The tag pinned.
    pub tag: String,
    /// Its image.
    pub image_uri: String,
    /// Its digest.
    pub digest: String,
    /// The Pulumi program's folder.
    pub pulumi_dir: PathBuf,
    /// The stack, when configured.
    pub stack: Option<String>,
}

impl fmt::Display for Pinned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.image_uri)
    }
}

/// `pulumi config set imageTag TAG` in the Pulumi program's folder.
pub fn pin_pulumi(
    settings: &Settings,
    target: &Target,
    reporter: &dyn Reporter,
) -> anyhow::Result<Pinned> {
    let deploy = settings.deploy();
    let dir = program_dir(settings).unwrap_or_else(|| config_dir(settings));
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
    reporter.note(&format!(
        "Pulumi's imageTag is now {}; run `pulumi up` in {} to move the functions to {}",
        target.tag,
        dir.display(),
        target.image_uri
    ));
    Ok(Pinned {
        outcome: "pinned",
        tag: target.tag.clone(),
        image_uri: target.image_uri.clone(),
        digest: target.digest.clone(),
        pulumi_dir: dir,
        stack: deploy.pulumi_stack.clone(),
    })
}
