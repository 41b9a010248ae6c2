//! `imprint preview`: what `deploy` would change, without changing anything. Per function its
//! image now and after; per deployed image, the input files that differ from the local tree
//! (from the image's index artifact). Hashing only: no build, no push, no write anywhere.

use std::collections::BTreeMap;
use std::fmt;

use anyhow::Context as _;
use serde::Serialize;

use crate::cli::PreviewArgs;
use crate::config::{DeploySection, Traffic};
use crate::error::ExitStatus;
use crate::image::changes::{compare, Deployed};
use crate::image::inspect::human;
use crate::image::{tag_content, TagQuery, TagSource};
use crate::lambda::{self, Function};
use crate::printer::Printer;
use crate::session::Session;

/// One function.
#[derive(Debug, Serialize)]
struct FunctionRow {
    name: String,
    /// Whether deploy would update it.
    change: bool,
    /// The image URI it runs.
    image_uri: Option<String>,
    /// Its tag.
    tag: Option<String>,
    digest: Option<String>,
}

/// Where the local tree's image is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum LocalState {
    /// In the registry.
    Pushed,
    /// Built on this machine, not pushed yet.
    Built,
    /// Not built yet.
    New,
}

/// `preview --json`.
#[derive(Debug, Serialize)]
struct PreviewReport {
    /// The local tree's tag and image.
    tag: String,
    image_uri: String,
    hash: String,
    /// `pushed`, `built` (local only) or `new` (deploy would build and push it).
    state: LocalState,
    /// The local tree's image's compressed size, once pushed.
    size: Option<u64>,
    /// How many functions deploy would update.
    changes: usize,
    /// What deploy would do to the traffic (the alias, the strategy, smoke tests, alarms).
    rollout: String,
    functions: Vec<FunctionRow>,
    deployed: Vec<Deployed>,
}

/// Runs `imprint preview`.
pub async fn run(
    session: &Session,
    printer: &Printer,
    args: &PreviewArgs,
) -> anyhow::Result<ExitStatus> {
    let registry = session.registry().await?;
    let query = TagQuery {
        read_only: true,
        ..TagQuery::default()
    };
    let local = tag_content(session, query)
        .await
        .context("failed to work out the tag of the local tree")?;
    let client = session.lambda().await?;
    let deploy = session.settings.deploy();
    let names = lambda::select(client, deploy, &args.functions).await?;
    let found = lambda::read_functions(client, &names).await?;

    let uri = registry.repository.uri(&local.tag);
    let (state, digest) = match &local.source {
        TagSource::Pushed(p) => (LocalState::Pushed, Some(p.digest.as_str())),
        TagSource::Built(_) => (LocalState::Built, None),
        TagSource::New => (LocalState::New, None),
    };
    let runs_local = |f: &Function| {
        f.image_uri.as_deref() == Some(uri.as_str())
            && (digest.is_none() || f.digest.as_deref() == digest)
    };
    let rows: Vec<FunctionRow> = found
        .iter()
        .map(|f| FunctionRow {
            name: f.name.clone(),
            change: !runs_local(f),
            image_uri: f.image_uri.clone(),
            tag: f.tag.clone(),
            digest: f.digest.clone(),
        })
        .collect();

    // Each image the changing functions run, compared once.
    let mut by_image: BTreeMap<(String, Option<String>), Vec<String>> = BTreeMap::new();
    for f in found.iter().filter(|f| !runs_local(f)) {
        let key = (
            f.image_uri.clone().unwrap_or_else(|| "(no image)".into()),
            f.digest.clone(),
        );
        by_image.entry(key).or_default().push(f.name.clone());
    }
    let size = match digest {
        Some(digest) => registry.image_size(digest).await?,
        None => None,
    };
    let mut deployed = Vec::new();
    for ((image_uri, digest), functions) in by_image {
        deployed.push(compare(registry, image_uri, digest, functions, &local).await?);
    }

    printer.report(&PreviewReport {
        tag: local.tag.clone(),
        image_uri: uri,
        hash: local.hash(),
        state,
        size,
        changes: rows.iter().filter(|r| r.change).count(),
        rollout: rollout(deploy),
        functions: rows,
        deployed,
    })?;
    Ok(ExitStatus::Success)
}

impl fmt::Display for PreviewReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&render(self))
    }
}

fn render(report: &PreviewReport) -> String {
    let mut lines = vec![format!(
        "local tree: {}{} ({})",
        report.tag,
        report
            .size
            .map(|s| format!(", {} compressed", human(s)))
            .unwrap_or_default(),
        match report.state {
            LocalState::Pushed => "pushed",
            LocalState::Built => "built, not pushed yet: deploy pushes it",
            LocalState::New => "new content, not built yet: deploy builds and pushes it, and the tag's timestamp is taken then",
        }
    )];
    for f in &report.functions {
        let now = f
            .tag
            .as_deref()
            .or(f.image_uri.as_deref())
            .unwrap_or("(no image)");
        lines.push(if f.change {
            format!("  ~ {}: imageUri {now} → {}", f.name, report.tag)
        } else {
            format!("    {}: no change ({now})", f.name)
        });
    }
    for d in &report.deployed {
        let tag = lambda::tag_of(&d.image_uri).unwrap_or_else(|| d.image_uri.clone());
        let delta = match (report.size, d.size) {
            (Some(now), Some(then)) if now >= then => format!("; image +{}", human(now - then)),
            (Some(now), Some(then)) => format!("; image -{}", human(then - now)),
            _ => String::new(),
        };
        lines.push(format!(
            "files changed since {tag} (run by {}{delta}):",
            d.functions.join(", ")
        ));
        if let Some(files) = &d.files {
            lines.extend(files.added.iter().map(|p| format!("  + {p}")));
            lines.extend(files.removed.iter().map(|p| format!("  - {p}")));
            lines.extend(
                files
                    .changed
                    .iter()
                    .map(|(p, what)| format!("  ~ {p} ({what})")),
            );
        }
        if let Some(note) = &d.note {
            lines.push(format!("  ({note})"));
        }
    }
    lines.push(match report.changes {
        0 => format!("no change: every function runs {}", report.tag),
        n => format!(
            "{n} function{} would change; `imprint deploy` applies it {}",
            if n == 1 { "" } else { "s" },
            report.rollout
        ),
    });
    lines.join("\n")
}

/// What `deploy` would do to the traffic with the configured alias, strategy, smoke tests and
/// alarms (flags aside), or why the configuration would be refused.
fn rollout(deploy: &DeploySection) -> String {
    match Traffic::resolve(deploy, None, None) {
        Ok(traffic) => traffic.describe(deploy.smoke.as_ref().map_or(0, |s| s.len())),
        Err(why) => format!("(deploy would refuse the configuration: {why})"),
    }
}
