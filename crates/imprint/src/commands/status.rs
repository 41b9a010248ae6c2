//! `imprint status` (alias `outputs`): what each function runs, and where it drifted.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use anyhow::Context as _;
use serde::Serialize;

use crate::cli::StatusArgs;
use crate::error::ExitStatus;
use crate::image::{tag_content, TagQuery, TagSource};
use crate::lambda::{self, Function, UpdateStatus};
use crate::printer::Printer;
use crate::registry::Registry;
use crate::session::Session;

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
    session: &Session,
    printer: &Printer,
    args: &StatusArgs,
) -> anyhow::Result<ExitStatus> {
    printer.report(&report(session, args).await?)?;
    Ok(ExitStatus::Success)
}

/// `status --env all`.
#[derive(Debug, Serialize)]
struct AllReport {
    environments: Vec<EnvStatus>,
}

/// One environment's status, or why it could not be read.
#[derive(Debug, Serialize)]
struct EnvStatus {
    env: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<StatusReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Runs `imprint status --env all`: every `[env.NAME]` of imprint.toml, one after another,
/// each with its own settings and clients (its account, region and repository); one that
/// cannot be read is reported and makes the exit status 1.
pub async fn run_all(
    config_file: Option<&std::path::Path>,
    input: &crate::config::BuildInputArgs,
    network: &crate::config::NetworkArgs,
    args: &StatusArgs,
    printer: &crate::printer::Printer,
) -> anyhow::Result<ExitStatus> {
    let names = crate::config::Settings::environments(config_file)?;
    let mut environments = Vec::new();
    for name in &names {
        let status = async {
            let settings = crate::config::Settings::load(config_file, Some(name), input, network)?;
            let session = Session::new(settings, std::sync::Arc::new(printer.clone()));
            report(&session, args).await
        }
        .await;
        environments.push(match status {
            Ok(status) => EnvStatus {
                env: name.clone(),
                status: Some(status),
                error: None,
            },
            Err(e) => EnvStatus {
                env: name.clone(),
                status: None,
                error: Some(crate::diagnose::message(&e)),
            },
        });
    }
    let failed = environments.iter().any(|e| e.error.is_some());
    printer.report(&AllReport { environments })?;
    Ok(match failed {
        true => ExitStatus::Failure,
        false => ExitStatus::Success,
    })
}

impl fmt::Display for AllReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for env in &self.environments {
            if !first {
                writeln!(f)?;
            }
            first = false;
            match (&env.status, &env.error) {
                (Some(status), _) => write!(f, "[env.{}]\n{status}", env.env)?,
                (None, error) => write!(
                    f,
                    "[env.{}]\nerror: {}",
                    env.env,
                    error.as_deref().unwrap_or("unknown")
                )?,
            }
        }
        Ok(())
    }
}

/// What `imprint status` reports for the session's settings.
async fn report(session: &Session, args: &StatusArgs) -> anyhow::Result<StatusReport> {
    let settings = &session.settings;
    let client = session.lambda().await?;
    let names = lambda::select(client, settings.deploy(), &args.functions).await?;
    let mut found = lambda::read_functions(client, &names).await?;
    let alias = settings.deploy().alias.as_deref();
    if let Some(alias) = alias {
        let views = lambda::read_alias_views(client, &names, alias).await?;
        for (f, view) in found.iter_mut().zip(views) {
            f.alias = view;
        }
    }
    let query = TagQuery {
        read_only: true,
        ..TagQuery::default()
    };
    let local = tag_content(session, query)
        .await
        .context("failed to work out the tag of the local tree")?;
    let registry = match &settings.registry {
        Some(_) => Some(session.registry().await?),
        None => None,
    };
    let unfinished: Vec<Unfinished> = match registry {
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
        let mut drift = own_drift(&function);
        if let (Some(alias), None) = (alias, &function.alias) {
            drift.push(format!(
                "no alias {alias}: deploys through it are refused until it exists"
            ));
        }
        if let (Some(tag), Some(registry)) = (&function.tag, registry) {
            drift.extend(tag_drift(registry, &mut registry_digests, tag, &function).await?);
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
    Ok(StatusReport {
        ecr_repository_url: settings.registry.as_ref().map(|r| r.repository.to_string()),
        image_tag: common.as_deref().and_then(lambda::tag_of),
        image_uri: common,
        local_tag: local.tag.clone(),
        local_pushed: matches!(local.source, TagSource::Pushed(_)),
        unfinished_deploys: unfinished,
        functions: rows,
    })
}

/// What Lambda itself says is off: not an image function, an update running or failed.
fn own_drift(function: &Function) -> Vec<String> {
    let mut drift = Vec::new();
    if !function.is_image() {
        drift.push("not an image function".to_string());
    }
    match &function.last_update_status {
        Some(UpdateStatus::InProgress) => drift.push("an update is in progress".into()),
        Some(UpdateStatus::Failed) => drift.push(format!(
            "the last update failed: {}",
            function
                .last_update_reason
                .as_deref()
                .unwrap_or("no reason given")
        )),
        _ => {}
    }
    drift
}

/// Whether the function's tag still names the image it runs (each tag asked for once).
async fn tag_drift(
    registry: &Registry,
    digests: &mut BTreeMap<String, Option<String>>,
    tag: &str,
    function: &Function,
) -> anyhow::Result<Option<String>> {
    if !digests.contains_key(tag) {
        let digest = registry.manifest_digest(tag).await?;
        digests.insert(tag.to_string(), digest);
    }
    Ok(
        match (digests.get(tag).cloned().flatten(), &function.digest) {
            (None, _) => Some(format!("the tag {tag} is gone from the registry")),
            (Some(theirs), Some(ours)) if &theirs != ours => Some(format!(
                "the registry's {tag} is now {theirs}, the function runs {ours}"
            )),
            _ => None,
        },
    )
}

/// `live → 7 (20261201-…)`, or with a split `live → 7 (…) + 10% → 8 (…)`.
fn describe_alias(alias: &lambda::AliasView) -> String {
    let tag = |image: &Option<crate::journal::FunctionImage>| {
        image
            .as_ref()
            .and_then(|i| lambda::tag_of(&i.uri).or_else(|| i.digest.clone()))
            .unwrap_or_else(|| "-".into())
    };
    let mut text = format!(
        "{} → {} ({})",
        alias.name,
        alias.route.version,
        tag(&alias.image)
    );
    if let Some((version, weight)) = &alias.route.extra {
        let _ = write!(
            text,
            " + {}% → {version} ({})",
            lambda::percent_of(*weight),
            tag(&alias.extra_image)
        );
    }
    text
}

impl fmt::Display for StatusReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&human(self))
    }
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
            f.state.as_ref().map_or("-", |s| s.as_str()),
            f.last_update_status.as_ref().map_or("-", |s| s.as_str()),
            f.last_modified.as_deref().unwrap_or("-")
        );
        if let Some(alias) = &f.alias {
            let _ = writeln!(out, "    alias {}", describe_alias(alias));
        }
        for d in &row.drift {
            let _ = writeln!(out, "    drift: {d}");
        }
    }
    out.trim_end().to_string()
}
