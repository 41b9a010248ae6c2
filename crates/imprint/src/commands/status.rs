//! `imprint status` (alias `outputs`): what each function runs, and where it drifted.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::Context as _;
use serde::Serialize;

use crate::cli::{GlobalArgs, StatusArgs};
use crate::error::ExitStatus;
use crate::functions::{self, Function};
use crate::printer::Printer;
use crate::resolve::{resolve_read_only, Source};
use crate::settings::Settings;

/// One function's row.
#[derive(Debug, Serialize)]
struct Row {
    #[serde(flatten)]
    function: Function,
    /// What differs from what imprint expects (empty: nothing).
    drift: Vec<String>,
}

/// A deploy that began and has not ended.
#[derive(Debug, Serialize)]
struct Unfinished {
    id: String,
    time: String,
    tag: String,
    caller: Option<String>,
    functions: Vec<String>,
}

/// `status --json`.
#[derive(Debug, Serialize)]
struct StatusReport {
    /// The document's output: the repository URL.
    ecr_repository_url: Option<String>,
    /// The document's output: the tag every function runs (none when they differ).
    image_tag: Option<String>,
    /// The document's output: the image URI every function runs.
    image_uri: Option<String>,
    /// The tag of the content on disk.
    local_tag: String,
    /// Whether that content is pushed.
    local_pushed: bool,
    /// Deploys whose begin record has no end record (interrupted, or running now).
    unfinished_deploys: Vec<Unfinished>,
    functions: Vec<Row>,
}

/// Runs `imprint status`.
pub async fn run(
    global: &GlobalArgs,
    args: &StatusArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let settings = Settings::resolve(global, &args.input)?;
    let config = functions::aws_config().await?;
    let lambda = crate::lambda::client(&config);
    let names = functions::select(&lambda, &settings, &args.functions).await?;
    let found = functions::describe_all(&lambda, &names).await?;
    let local = resolve_read_only(&settings, printer)
        .await
        .context("failed to work out the tag of the local tree")?;
    let registry = match &settings.registry {
        Some(_) => Some(settings.registry_client(printer).await?),
        None => None,
    };
    let unfinished: Vec<Unfinished> = match &registry {
        Some(registry) => crate::journal::unfinished(registry)
            .await?
            .into_iter()
            .map(|r| Unfinished {
                id: r.id,
                time: r.time,
                tag: r.tag,
                caller: r.caller.arn,
                functions: r.functions.into_iter().map(|f| f.name).collect(),
            })
            .collect(),
        None => Vec::new(),
    };
    let mut registry_digests: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut rows = Vec::new();
    for function in found {
        let mut drift = Vec::new();
        if function.package_type.as_deref() != Some("Image") {
            drift.push("not an image function".to_string());
        }
        match function.last_update_status.as_deref() {
            Some("InProgress") => drift.push("an update is in progress".into()),
            Some("Failed") => drift.push(format!(
                "the last update failed: {}",
                function
                    .last_update_reason
                    .as_deref()
                    .unwrap_or("no reason given")
            )),
            _ => {}
        }
        if let (Some(tag), Some(registry)) = (&function.tag, &registry) {
            if !registry_digests.contains_key(tag) {
                let digest = registry.manifest_digest(tag).await?;
                registry_digests.insert(tag.clone(), digest);
            }
            match (
                registry_digests.get(tag).cloned().flatten(),
                &function.digest,
            ) {
                (None, _) => drift.push(format!("the tag {tag} is gone from the registry")),
                (Some(theirs), Some(ours)) if &theirs != ours => drift.push(format!(
                    "the registry's {tag} is now {theirs}, the function runs {ours}"
                )),
                _ => {}
            }
        }
        for open in unfinished
            .iter()
            .filter(|u| u.functions.contains(&function.name))
        {
            drift.push(format!(
                "deploy {} of {} (began {} by {}) never ended: it was interrupted or is still running; `imprint deploy` closes it",
                open.id,
                open.tag,
                open.time,
                open.caller.as_deref().unwrap_or("an unknown caller")
            ));
        }
        if function.tag.as_deref() != Some(local.tag.as_str()) {
            drift.push(format!(
                "the local tree's content is {} (not deployed)",
                local.tag
            ));
        }
        rows.push(Row { function, drift });
    }
    let uris: std::collections::BTreeSet<&str> = rows
        .iter()
        .filter_map(|r| r.function.image_uri.as_deref())
        .collect();
    let common = (uris.len() == 1 && rows.iter().all(|r| r.function.image_uri.is_some()))
        .then(|| uris.iter().next().map(|u| u.to_string()))
        .flatten();
    let report = StatusReport {
        ecr_repository_url: settings.registry.as_ref().map(|r| r.repository.to_string()),
        image_tag: common.as_deref().and_then(functions::tag_of),
        image_uri: common,
        local_tag: local.tag.clone(),
        local_pushed: matches!(local.source, Source::Pushed(_)),
        unfinished_deploys: unfinished,
        functions: rows,
    };
    if printer.json {
        printer.json_value(&report)?;
    } else {
        printer.data(&human(&report))?;
    }
    Ok(ExitStatus::Success)
}

fn human(report: &StatusReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "repository   {}",
        report
            .ecr_repository_url
            .as_deref()
            .unwrap_or("(none configured)")
    );
    // The document's `make outputs`, when every function runs one image.
    if let (Some(tag), Some(uri)) = (&report.image_tag, &report.image_uri) {
        let _ = writeln!(out, "image_tag    {tag}");
        let _ = writeln!(out, "image_uri    {uri}");
    }
    let _ = writeln!(
        out,
        "local tree   {} ({})",
        report.local_tag,
        if report.local_pushed {
            "pushed"
        } else {
            "not pushed"
        }
    );
    let _ = writeln!(out);
    for row in &report.functions {
        let f = &row.function;
        let digest = f
            .digest
            .as_deref()
            .map_or("-".to_string(), |d| d.chars().take(19).collect());
        let _ = writeln!(
            out,
            "{}  {}  {}  {} / {}  {}",
            f.name,
            f.tag.as_deref().unwrap_or("-"),
            digest,
            f.state.as_deref().unwrap_or("-"),
            f.last_update_status.as_deref().unwrap_or("-"),
            f.last_modified.as_deref().unwrap_or("-")
        );
        for d in &row.drift {
            let _ = writeln!(out, "    drift: {d}");
        }
    }
    out.trim_end().to_string()
}
