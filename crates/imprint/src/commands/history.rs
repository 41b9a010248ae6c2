//! `imprint history`: the deployments and rollbacks in the journal, newest first.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::cli::HistoryArgs;
use crate::error::ExitStatus;
use crate::journal::{
    self, Action, AliasDeploy, Checkout, Deployment, DeploymentOutcome, FunctionImage, Outcome,
};
use crate::printer::Printer;
use crate::session::Session;

/// The deployments, newest first.
#[derive(Debug, Serialize)]
#[serde(transparent)]
struct History(Vec<Row>);

impl fmt::Display for History {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: Vec<String> = self.0.iter().map(render).collect();
        f.write_str(&shown.join("\n"))
    }
}

/// One deployment.
#[derive(Debug, Serialize)]
struct Row {
    id: String,
    action: Action,
    time: String,
    tag: String,
    image_uri: String,
    digest: Option<String>,
    content_hash: Option<String>,
    /// The git commit (and whether the tree was dirty) the image was deployed from.
    #[serde(skip_serializing_if = "Option::is_none")]
    checkout: Option<Checkout>,
    /// The end record's outcome, or `unfinished` (interrupted, or running now).
    outcome: &'static str,
    /// The caller's ARN.
    caller: Option<String>,
    functions: Vec<FunctionRow>,
    /// Through an alias: the alias, the strategy, each shift, the smoke tests, any alarm.
    #[serde(skip_serializing_if = "Option::is_none")]
    traffic: Option<AliasDeploy>,
}

/// One function of a deployment.
#[derive(Debug, Serialize)]
struct FunctionRow {
    name: String,
    /// None while the deployment is unfinished.
    outcome: Option<Outcome>,
    /// What it ran before.
    old: Option<FunctionImage>,
    /// What it ran after.
    image: Option<FunctionImage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Runs `imprint history`.
pub async fn run(
    session: &Session,
    printer: &Printer,
    args: &HistoryArgs,
) -> anyhow::Result<ExitStatus> {
    let registry = session.registry().await?;
    let entries = journal::entries(registry, Some(args.limit)).await?;
    let history = History(entries.iter().rev().filter_map(row).collect());
    if history.0.is_empty() {
        printer.note(&format!(
            "no deployments in the journal of {} yet",
            registry.repository
        ));
    }
    printer.report(&history)?;
    Ok(ExitStatus::Success)
}

fn row(entry: &Deployment) -> Option<Row> {
    let record = entry.end.as_ref().or(entry.begin.as_ref())?;
    let old: BTreeMap<&str, &Option<FunctionImage>> = entry
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
    Some(Row {
        id: entry.id.clone(),
        action: record.action,
        // When it began, when the begin record survives.
        time: entry.begin.as_ref().unwrap_or(record).time.clone(),
        tag: record.tag.clone(),
        image_uri: record.image.uri.clone(),
        digest: record.image.digest.clone(),
        content_hash: record.content_hash.clone(),
        checkout: record.checkout.clone(),
        outcome: entry
            .end
            .as_ref()
            .and_then(|e| e.outcome)
            .map_or("unfinished", DeploymentOutcome::as_str),
        caller: record.caller.arn.clone(),
        functions,
        traffic: record.traffic.clone(),
    })
}

/// The alias, the strategy and what happened to the traffic: smoke tests, shifts, alarm.
fn traffic_lines(t: &AliasDeploy) -> Vec<String> {
    let mut lines = vec![format!("    alias    {} ({})", t.alias, t.strategy)];
    if t.smoke_skipped {
        lines.push("    smoke    skipped (--skip-smoke)".into());
    } else if !t.smoke.is_empty() {
        let passed = t.smoke.iter().filter(|s| s.passed).count();
        lines.push(format!("    smoke    {passed} of {} passed", t.smoke.len()));
        for s in t.smoke.iter().filter(|s| !s.passed) {
            lines.push(format!(
                "    smoke    {} ({}): {}",
                s.function,
                s.event,
                s.error.as_deref().unwrap_or("failed")
            ));
        }
    }
    if !t.shifts.is_empty() {
        let steps: Vec<String> = t
            .shifts
            .iter()
            .map(|s| format!("{}% at {}", s.percent, s.time))
            .collect();
        lines.push(format!("    shifts   {}", steps.join(", ")));
    }
    if let Some(alarm) = &t.alarm {
        lines.push(format!("    alarm    {}: {}", alarm.name, alarm.reason));
    }
    lines
}

/// Several lines: the deployment, then its functions grouped by outcome.
fn render(d: &Row) -> String {
    let short = |s: &str, n: usize| s.chars().take(n).collect::<String>();
    let mut lines = vec![
        format!(
            "{}  {:<8}  {:<11}  {}",
            d.time,
            d.action.as_str(),
            d.outcome,
            d.tag
        ),
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
    if let Some(t) = &d.traffic {
        lines.extend(traffic_lines(t));
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
    use crate::journal::record::sample;
    use crate::journal::{Caller, Finished, Kind, Planned, Record};

    fn begin() -> Record {
        let record = sample(Kind::Begin, Action::Rollback, "t2", "sha256:2");
        Record {
            caller: Caller {
                arn: Some("arn:aws:iam::1:user/a".into()),
                ..Caller::default()
            },
            functions: vec![Planned {
                name: "f".into(),
                old: Some(FunctionImage {
                    uri: "r.io/a:t1".into(),
                    digest: Some("sha256:1".into()),
                }),
                new: record.image.clone(),
                old_version: None,
            }],
            ..record
        }
    }

    #[test]
    fn an_open_record_is_unfinished_and_an_end_record_gives_outcomes_and_old_images() {
        let open = Deployment {
            id: "x".into(),
            begin: Some(begin()),
            end: None,
        };
        let d = row(&open).unwrap();
        assert_eq!(d.outcome, "unfinished");
        assert_eq!(d.action, Action::Rollback);
        assert_eq!(d.functions[0].outcome, None);
        assert!(render(&d).contains("planned  f"), "{}", render(&d));

        let end = Record {
            kind: Kind::End,
            time: "2026-11-29T00:01:00Z".into(),
            functions: vec![],
            outcome: Some(DeploymentOutcome::Failed),
            results: vec![Finished {
                name: "f".into(),
                outcome: Outcome::RevertFailed,
                image: None,
                error: Some("boom".into()),
                version: None,
            }],
            ..begin()
        };
        let closed = Deployment {
            id: "x".into(),
            begin: Some(begin()),
            end: Some(end),
        };
        let d = row(&closed).unwrap();
        assert_eq!(d.outcome, "failed");
        assert_eq!(d.time, "2026-11-29T00:00:00Z", "when it began");
        assert_eq!(d.functions[0].old.as_ref().unwrap().uri, "r.io/a:t1");
        let text = render(&d);
        assert!(text.contains("revert-failed f"), "{text}");
        assert!(text.contains("error    f: boom"), "{text}");
        assert!(row(&Deployment {
            id: "y".into(),
            begin: None,
            end: None
        })
        .is_none());
    }

    #[test]
    fn a_deploy_through_an_alias_shows_its_smoke_tests_shifts_and_alarm() {
        let t = AliasDeploy {
            alias: "live".into(),
            strategy: "canary:10%:5m".into(),
            shifts: vec![journal::Shift {
                percent: 10,
                time: "2026-11-29T00:00:05Z".into(),
            }],
            alarm: Some(journal::Firing {
                name: "errors".into(),
                reason: "Threshold Crossed".into(),
            }),
            smoke: vec![journal::SmokeResult {
                function: "f".into(),
                version: "7".into(),
                event: "events/healthz.json".into(),
                passed: false,
                error: Some("statusCode 500, expected 200".into()),
                answer: None,
                log_tail: None,
            }],
            smoke_skipped: false,
        };
        let text = traffic_lines(&t).join("\n");
        assert!(text.contains("alias    live (canary:10%:5m)"), "{text}");
        assert!(text.contains("smoke    0 of 1 passed"), "{text}");
        assert!(
            text.contains("f (events/healthz.json): statusCode 500"),
            "{text}"
        );
        assert!(
            text.contains("shifts   10% at 2026-11-29T00:00:05Z"),
            "{text}"
        );
        assert!(
            text.contains("alarm    errors: Threshold Crossed"),
            "{text}"
        );
    }
}
