//! The Pulumi program beside imprint and the image functions its stack's state holds
//! (`pulumi stack export`), each with the command it runs: what `doctor` compares with
//! imprint.toml, and where `inspect` finds the handlers when Lambda cannot be read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::Settings;
use crate::error::UsageError;

/// The folder imprint.toml is in (relative paths in it start there).
pub fn config_dir(settings: &Settings) -> PathBuf {
    settings
        .config
        .dir()
        .map_or_else(|| PathBuf::from("."), PathBuf::from)
}

/// The Pulumi program's folder: `[deploy] pulumi_dir`, else `infrastructure/` or imprint.toml's
/// own folder, whichever holds a `Pulumi.yaml`; `None` when there is none.
pub fn program_dir(settings: &Settings) -> Option<PathBuf> {
    let base = config_dir(settings);
    if let Some(dir) = &settings.deploy().pulumi_dir {
        return Some(base.join(dir));
    }
    [base.join("infrastructure"), base]
        .into_iter()
        .find(|d| d.join("Pulumi.yaml").is_file() || d.join("Pulumi.yml").is_file())
}

/// The most of `pulumi stack export` read.
const MAX_EXPORT: u64 = 256 << 20;
/// How long `pulumi stack export` may take (it reads the state from its backend).
const EXPORT_TIME: std::time::Duration = std::time::Duration::from_secs(120);

/// The image functions the stack's state holds, by name, each with the command its image
/// config gives (empty: the image's `CMD`), from `pulumi stack export` in `dir`; `None` when
/// the Pulumi CLI is not installed.
pub async fn stack_functions(
    dir: &Path,
    stack: Option<&str>,
) -> anyhow::Result<Option<BTreeMap<String, Vec<String>>>> {
    let mut command = tokio::process::Command::new("pulumi");
    command
        .args(["stack", "export", "--non-interactive"])
        .args(stack.map(|s| ["--stack", s]).into_iter().flatten())
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(UsageError::new(
                format!("cannot run `pulumi` in {}: {e}", dir.display()),
                "check the Pulumi CLI's installation and [deploy] pulumi_dir",
            )
            .into())
        }
    };
    let (mut stdout, mut stderr) = (child.stdout.take(), child.stderr.take());
    // Both pipes are read at once and to their end (what is past a limit is dropped): a
    // pipe left full would stop pulumi before it exits.
    let run = async {
        let (out, err) = tokio::try_join!(
            keep_first(stdout.as_mut(), MAX_EXPORT + 1),
            keep_first(stderr.as_mut(), 64 << 10),
        )?;
        anyhow::Ok((child.wait().await?, out, err))
    };
    let (status, out, err) = tokio::time::timeout(EXPORT_TIME, run).await.map_err(|_| {
        anyhow::anyhow!(
            "`pulumi stack export` took over {} s in {}",
            EXPORT_TIME.as_secs(),
            dir.display()
        )
    })??;
    if !status.success() {
        anyhow::bail!(
            "`pulumi stack export` failed in {} ({status}): {}",
            dir.display(),
            String::from_utf8_lossy(&err).trim()
        );
    }
    if out.len() as u64 > MAX_EXPORT {
        anyhow::bail!(
            "`pulumi stack export` wrote more than {} MiB",
            MAX_EXPORT >> 20
        );
    }
    image_functions(&out).map(Some).map_err(|why| {
        anyhow::anyhow!(
            "cannot read `pulumi stack export` of {}: {why}",
            dir.display()
        )
    })
}

/// The first `limit` bytes of `pipe`, which is read to its end.
async fn keep_first(
    pipe: Option<&mut (impl tokio::io::AsyncRead + Unpin)>,
    limit: u64,
) -> std::io::Result<Vec<u8>> {
    use tokio::io::AsyncReadExt as _;
    let mut kept = Vec::new();
    if let Some(pipe) = pipe {
        (&mut *pipe).take(limit).read_to_end(&mut kept).await?;
        tokio::io::copy(pipe, &mut tokio::io::sink()).await?;
    }
    Ok(kept)
}

/// The image functions (`aws:lambda/function:Function` with `packageType` `Image`, not
/// pending deletion) in a stack export: name → the command of its image config.
pub fn image_functions(export: &[u8]) -> Result<BTreeMap<String, Vec<String>>, String> {
    #[derive(Deserialize)]
    struct Export {
        deployment: Deployment,
    }
    #[derive(Deserialize)]
    struct Deployment {
        #[serde(default)]
        resources: Vec<Resource>,
    }
    #[derive(Deserialize)]
    struct Resource {
        #[serde(rename = "type")]
        kind: String,
        #[serde(default)]
        delete: bool,
        #[serde(default)]
        inputs: serde_json::Map<String, serde_json::Value>,
        #[serde(default)]
        outputs: serde_json::Map<String, serde_json::Value>,
    }
    let export: Export = serde_json::from_slice(export).map_err(|e| e.to_string())?;
    let field = |r: &Resource, key: &str| {
        r.outputs
            .get(key)
            .or_else(|| r.inputs.get(key))
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
    };
    let command = |r: &Resource| -> Vec<String> {
        let config = r
            .outputs
            .get("imageConfig")
            .or_else(|| r.inputs.get("imageConfig"));
        config
            .and_then(|c| c.get("commands"))
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c.as_str().map(str::to_string))
            .collect()
    };
    Ok(export
        .deployment
        .resources
        .iter()
        .filter(|r| r.kind == "aws:lambda/function:Function" && !r.delete)
        .filter(|r| field(r, "packageType").as_deref() == Some("Image"))
        .filter_map(|r| Some((field(r, "name")?, command(r))))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stack_export_names_its_live_image_functions() {
        let export = serde_json::json!({"version": 3, "deployment": {"resources": [
            {"type": "pulumi:pulumi:Stack", "urn": "s"},
            {"type": "aws:lambda/function:Function", "inputs": {"name": "a", "packageType": "Image"},
             "outputs": {"name": "a", "packageType": "Image",
                         "imageConfig": {"commands": ["handlers.a.handler"]}}},
            {"type": "aws:lambda/function:Function", "inputs": {"name": "b", "packageType": "Image"}},
            {"type": "aws:lambda/function:Function", "outputs": {"name": "zip", "packageType": "Zip"}},
            {"type": "aws:lambda/function:Function", "delete": true,
             "outputs": {"name": "old", "packageType": "Image"}},
            {"type": "aws:lambda/alias:Alias", "outputs": {"name": "live"}}
        ]}});
        let names = image_functions(export.to_string().as_bytes()).unwrap();
        assert_eq!(names.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(names["a"], ["handlers.a.handler"]);
        assert!(names["b"].is_empty());
        assert!(image_functions(b"{}").is_err());
    }
}
