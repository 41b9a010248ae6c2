//! `imprint history`: the deployments and rollbacks in the journal, newest first.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::cli::{GlobalArgs, HistoryArgs};
use crate::error::ExitStatus;
use crate::journal::{self, Entry, ImageRef, Outcome};
use crate::printer::Printer;
use crate::settings::Settings;

/// One deployment.
#[derive(Debug, Serialize)]
struct Deployment {
    id: String,
    /// `deploy` or `rollback`.
    action: String,
    time: String,
    tag: String,
    image_uri: String,
    digest: Option<String>,
    content_hash: Option<String>,
    /// The end record's outcome, or `unfinished` (interrupted, or running now).
    outcome: String,
    /// The caller's ARN.
    caller: Option<String>,
    functions: Vec<FunctionRow>,
}

/// One function of a deployment.
#[derive(Debug, Serialize)]
struct FunctionRow {
    name: String,
    /// None while the deployment is unfinished.
    outcome: Option<Outcome>,
    /// What it ran before.
    old: Option<ImageRef>,
    /// What it ran after.
    image: Option<ImageRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Runs `imprint history`.
pub async fn run(
    global: &GlobalArgs,
    args: &HistoryArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let settings = Settings::resolve(global, &args.input)?;
    let registry = settings.registry_client(printer).await?;
    let entries = journal::entries(&registry, Some(args.limit)).await?;
    let deployments: Vec<Deployment> = entries.iter().rev().filter_map(deployment).collect();
    if printer.json {
        printer.json_value(&deployments)?;
        return Ok(ExitStatus::Success);
    }
    if deployments.is_empty() {
        printer.note(&format!(
            "no deployments in the journal of {} yet",
            registry.repository
        ));
    }
    for d in &deployments {
        printer.data(&render(d))?;
    }
    Ok(ExitStatus::Success)
}

fn deployment(entry: &Entry) -> Option<Deployment> {
    let record = entry.end.as_ref().or(entry.begin.as_ref())?;
    let old: BTreeMap<&str, &Option<ImageRef>> = entry
        .begin
        .iter()
        .flat_map(|b| &b.functions)
        .map(|p| (p.name.as_str(), &p.old))
        .collect();
    let functions = match &entry.end {
        Some(end) => end
            .results
            .iter()
            .map(|r| FunctionRow {
                name: r.name.clone(),
                outcome: Some(r.outcome),
                old: old.get(r.name.as_str()).and_then(|o| (*o).clone()),
                image: r.image.clone(),
                error: r.error.clone(),
            })
            .collect(),
        None => record
            .functions
            .iter()
            .map(|p| FunctionRow {
                name: p.name.clone(),
                outcome: None,
                old: p.old.clone(),
                image: None,
                error: None,
            })
            .collect(),
    };
    Some(Deployment {
        id: entry.id.clone(),
        action: record.action.clone(),
        // When it began, when the begin record survives.
        time: entry.begin.as_ref().unwrap_or(record).time.clone(),
        tag: record.tag.clone(),
        image_uri: record.image.uri.clone(),
        digest: record.image.digest.clone(),
        content_hash: record.content_hash.clone(),
        outcome: entry
            .end
            .as_ref()
            .and_then(|e| e.outcome.clone())
            .unwrap_or_else(|| "unfinished".into()),
        caller: record.caller.arn.clone(),
        functions,
    })
}

/// Several lines: the deployment, then its functions grouped by outcome.
fn render(d: &Deployment) -> String {
    let short = |s: &str, n: usize| s.chars().take(n).collect::<String>();
    let mut lines = vec![
        format!("{}  {:<8}  {:<11}  {}", d.time, d.action, d.outcome, d.tag),
        format!(
            "    image    {}{}",
            d.digest
                .as_deref()
                .map_or("(no digest)".into(), |x| short(x, 19)),
            d.content_hash
                .as_deref()
                .map(|h| format!("  content {}", short(h, 12)))
                .unwrap_or_default()
        ),
        format!(
            "    by       {}  (id {})",
            d.caller.as_deref().unwrap_or("unknown caller"),
            d.id
        ),
    ];
    let mut groups: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for f in &d.functions {
        groups
            .entry(f.outcome.map_or("planned", Outcome::as_str))
            .or_default()
            .push(&f.name);
    }
    for (outcome, names) in groups {
        lines.push(format!("    {outcome:<8} {}", names.join(", ")));
    }
    for f in d.functions.iter().filter(|f| f.error.is_some()) {
        lines.push(format!(
            "    error    {}: {}",
            f.name,
            f.error.as_deref().unwrap_or_default()
        ));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{Caller, Finished, Kind, Planned, Record, JOURNAL_FORMAT};

    fn begin() -> Record {
        let image = ImageRef {
            uri: "r.io/a:t2".into(),
            digest: Some("sha256:2".into()),
        };
        Record {
            format: JOURNAL_FORMAT,
            kind: Kind::Begin,
            id: "20261129-000000-000-00000001".into(),
            action: "rollback".into(),
            time: "2026-11-29T00:00:00Z".into(),
            unix_time: 0,
            caller: Caller {
                arn: Some("arn:aws:iam::1:user/a".into()),
                ..Caller::default()
            },
            runner: None,
            image: image.clone(),
            tag: "t2".into(),
            content_hash: None,
            functions: vec![Planned {
                name: "f".into(),
                old: Some(ImageRef {
                    uri: "r.io/a:t1".into(),
                    digest: Some("sha256:1".into()),
                }),
                new: image,
            }],
            outcome: None,
            results: vec![],
        }
    }

    #[test]
    fn an_open_record_is_unfinished_and_an_end_record_gives_outcomes_and_old_images() {
        let open = Entry {
            id: "x".into(),
            begin: Some(begin()),
            end: None,
        };
        let d = deployment(&open).unwrap();
        assert_eq!(d.outcome, "unfinished");
        assert_eq!(d.action, "rollback");
        assert_eq!(d.functions[0].outcome, None);
        assert!(render(&d).contains("planned  f"), "{}", render(&d));

        let end = Record {
            kind: Kind::End,
            time: "2026-11-29T00:01:00Z".into(),
            functions: vec![],
            outcome: Some("failed".into()),
            results: vec![Finished {
                name: "f".into(),
                outcome: Outcome::RevertFailed,
                image: None,
                error: Some("boom".into()),
            }],
            ..begin()
        };
        let closed = Entry {
            id: "x".into(),
            begin: Some(begin()),
            end: Some(end),
        };
        let d = deployment(&closed).unwrap();
        assert_eq!(d.outcome, "failed");
        assert_eq!(d.time, "2026-11-29T00:00:00Z", "when it began");
        assert_eq!(d.functions[0].old.as_ref().unwrap().uri, "r.io/a:t1");
        let text = render(&d);
        assert!(text.contains("revert-failed f"), "{text}");
        assert!(text.contains("error    f: boom"), "{text}");
        assert!(deployment(&Entry {
            id: "y".into(),
            begin: None,
            end: None
        })
        .is_none());
    }
}
