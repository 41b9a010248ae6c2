//! Deployments that began and never ended: each function's image now goes into an end
//! record marked `interrupted`. One that may still be running elsewhere is left alone unless
//! forced.

use anyhow::Context as _;

use crate::error::UsageError;
use crate::journal::{
    self, DeploymentOutcome, Finished, FunctionImage, Kind, Liveness, Outcome, Planned, Record,
};
use crate::lambda::{self, Lambda};
use crate::registry::Registry;
use crate::reporter::Reporter;

/// Closes the `unfinished` deployments (begin records without an end); their IDs. `timeout` is how long a
/// deployment may take (a younger one begun elsewhere may still be running).
pub async fn recover(
    registry: &Registry,
    client: &Lambda,
    unfinished: Vec<Record>,
    timeout: std::time::Duration,
    force: bool,
    reporter: &dyn Reporter,
) -> anyhow::Result<Vec<String>> {
    let mut closed = Vec::new();
    for begin in unfinished {
        may_close(&begin, begin.liveness(timeout), force)?;
        let mut now = Vec::new();
        for planned in &begin.functions {
            now.push(match read_back(client, &begin, planned, reporter).await {
                Ok(image) => (planned.name.clone(), image, None),
                Err(e) => (planned.name.clone(), None, Some(format!("{e:#}"))),
            });
        }
        let began = begin.time.clone();
        let end = close(begin, now);
        let moved = end
            .results
            .iter()
            .filter(|r| r.image.as_ref().map(|i| &i.uri) == Some(&end.image.uri))
            .count();
        if end.outcome == Some(DeploymentOutcome::Succeeded) {
            reporter.warn(&format!(
                "{} {} (began {began}) ended without its end record, but every function runs its image {}; recorded as succeeded",
                end.action, end.id, end.tag
            ));
        } else {
            reporter.warn(&format!(
                "{} {} (began {began}) was interrupted: {moved} of {} functions run its image {}; recorded in the journal",
                end.action,
                end.id,
                end.results.len(),
                end.tag
            ));
        }
        journal::write(registry, &end).await.with_context(|| {
            format!("failed to close the interrupted {} {}", end.action, end.id)
        })?;
        closed.push(end.id);
    }
    Ok(closed)
}

/// What a function of an unfinished deployment runs now. Through an alias, the alias is put
/// back on the version it routed to before (weights cleared) first: a shift cut short must
/// not leave a share of the traffic on an unfinished deploy's version.
async fn read_back(
    client: &Lambda,
    begin: &Record,
    planned: &Planned,
    reporter: &dyn Reporter,
) -> anyhow::Result<Option<FunctionImage>> {
    let (Some(traffic), Some(old)) = (&begin.traffic, &planned.old_version) else {
        return Ok(lambda::read_function(client, &planned.name).await?.image());
    };
    let alias = &traffic.alias;
    let now = lambda::read_alias_route(client, &planned.name, alias).await?;
    let back = lambda::Route::to(old);
    if now.as_ref().map(|(route, _)| route) != Some(&back) {
        lambda::set_route(client, &planned.name, alias, &back, None).await?;
        reporter.step(&format!(
            "  put the alias {alias} of {} back on version {old}",
            planned.name
        ));
    }
    lambda::version_image(client, &planned.name, old).await
}

/// Whether an open begin record may be closed now: not while its process runs here, and
/// not, unless forced, while it may be running elsewhere.
fn may_close(begin: &Record, liveness: Liveness, force: bool) -> anyhow::Result<()> {
    match liveness {
        Liveness::Running => anyhow::bail!(
            "{} {} (pid {} on this machine) is still running; wait for it to end",
            begin.action,
            begin.id,
            begin.runner.as_ref().map_or(0, |r| r.pid)
        ),
        Liveness::Maybe if !force => Err(UsageError::new(
            format!(
                "{} {} by {} began at {} on {} and has not ended; it may still be running",
                begin.action,
                begin.id,
                begin.caller.arn.as_deref().unwrap_or("an unknown caller"),
                begin.time,
                begin
                    .runner
                    .as_ref()
                    .map_or("another machine", |r| r.host.as_str()),
            ),
            "if it was interrupted, run again with --recover to record what each function runs and go on",
        )
        .into()),
        _ => Ok(()),
    }
}

/// The end record of a deployment that never wrote one, from each planned function's image
/// now (or why it could not be read). When every function runs the target, the deployment
/// did its work and only its end record was lost: `succeeded`, each function `updated` (or
/// `unchanged` when it ran the target before). Otherwise `interrupted`, each function too.
fn close(begin: Record, now: Vec<(String, Option<FunctionImage>, Option<String>)>) -> Record {
    let done = !now.is_empty()
        && now
            .iter()
            .all(|(_, image, _)| image.as_ref() == Some(&begin.image));
    let outcome_of = |name: &str| {
        let before = begin.functions.iter().find(|p| p.name == name);
        match (done, before.and_then(|p| p.old.as_ref())) {
            (false, _) => Outcome::Interrupted,
            (true, Some(old)) if *old == begin.image => Outcome::Unchanged,
            (true, _) => Outcome::Updated,
        }
    };
    let results = now
        .into_iter()
        .map(|(name, image, error)| Finished {
            outcome: outcome_of(&name),
            name,
            image,
            error,
            version: None,
        })
        .collect();
    Record {
        kind: Kind::End,
        time: journal::now_rfc3339(),
        unix_time: journal::unix_now(),
        functions: vec![],
        outcome: Some(if done {
            DeploymentOutcome::Succeeded
        } else {
            DeploymentOutcome::Interrupted
        }),
        results,
        ..begin
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::record::sample;
    use crate::journal::{Action, Runner};

    fn begin() -> Record {
        let record = sample(Kind::Begin, Action::Deploy, "new", "sha256:2");
        Record {
            runner: Some(Runner {
                host: "elsewhere".into(),
                pid: 1,
            }),
            functions: vec![Planned {
                name: "f".into(),
                old: None,
                new: record.image.clone(),
                old_version: None,
            }],
            ..record
        }
    }

    #[test]
    fn an_interrupted_deployment_is_closed_with_what_each_function_runs() {
        let now = vec![
            ("f".to_string(), Some(begin().image), None),
            ("g".to_string(), None, Some("gone".to_string())),
        ];
        let end = close(begin(), now);
        assert_eq!(end.kind, Kind::End);
        assert_eq!(end.id, begin().id);
        assert_eq!(end.outcome, Some(DeploymentOutcome::Interrupted));
        assert!(end.functions.is_empty());
        assert!(end
            .results
            .iter()
            .all(|r| r.outcome == Outcome::Interrupted));
        assert_eq!(end.results[1].error.as_deref(), Some("gone"));
    }

    #[test]
    fn a_deployment_that_only_lost_its_end_record_is_closed_as_succeeded() {
        let on_target = vec![("f".to_string(), Some(begin().image), None)];
        let end = close(begin(), on_target);
        assert_eq!(end.outcome, Some(DeploymentOutcome::Succeeded));
        assert_eq!(end.results[0].outcome, Outcome::Updated);
    }

    #[test]
    fn only_a_dead_or_forced_deployment_is_closed() {
        let b = begin();
        assert!(may_close(&b, Liveness::Dead, false).is_ok());
        assert!(may_close(&b, Liveness::Maybe, true).is_ok());
        let maybe = may_close(&b, Liveness::Maybe, false).unwrap_err();
        assert!(maybe.is::<UsageError>(), "{maybe}");
        assert!(maybe.to_string().contains("on elsewhere"), "{maybe}");
        let running = may_close(&b, Liveness::Running, true).unwrap_err();
        assert!(running.to_string().contains("still running"), "{running}");
    }
}
