//! Which deployment a rollback returns to, read from the journal alone.

use super::record::{Action, Record};
use super::store::{succeeded, Deployment};
use crate::error::UsageError;
use crate::registry::Repository;

/// Where a rollback goes, as the journal tells it.
#[derive(Debug, Clone, Copy)]
pub enum RollbackTo<'a> {
    /// The end record of the deployment to return to.
    Deployment(&'a Record),
    /// There is no earlier deployment: the functions go back to what they ran before the
    /// first one, as its begin record says (absent when someone deleted it).
    BeforeFirst {
        /// The end record of the journal's first deployment of the current image.
        first: &'a Record,
        /// Its begin record, with each function's `old` image.
        begin: Option<&'a Record>,
    },
}

/// The deployment to go back to. Among the successful deployments of any of `names`, oldest
/// first, the current one is the newest, or, when that is a rollback, the deploy it went back
/// to, so a second rollback steps further back. The answer is the newest one before it whose
/// image differs; with none, what the functions ran before the first deployment of the
/// current image ([`RollbackTo::BeforeFirst`]). `entries` may be only the newest part of the
/// journal (`complete` false): `None` when the answer needs older entries.
pub fn previous<'a>(
    entries: &'a [Deployment],
    complete: bool,
    names: &[String],
    repository: &Repository,
) -> Result<Option<RollbackTo<'a>>, UsageError> {
    let ours: Vec<&Record> = entries
        .iter()
        .filter_map(succeeded)
        .filter(|r| r.results.iter().any(|f| names.contains(&f.name)))
        .collect();
    let Some((&current, older)) = ours.split_last() else {
        if !complete {
            return Ok(None);
        }
        return Err(UsageError::new(
            format!(
                "the journal in {} has no successful deployment of {}",
                repository,
                names.join(", ")
            ),
            "rollback returns to a deployment imprint made; pass --to TAG to go to a pushed image",
        ));
    };
    let mut anchor = older.len();
    if current.action == Action::Rollback {
        match older
            .iter()
            .rposition(|r| r.action == Action::Deploy && r.image.digest == current.image.digest)
        {
            Some(i) => anchor = i,
            None if !complete => return Ok(None),
            None if older.iter().all(|r| r.image.digest != current.image.digest)
                && current_is_before_first(entries, &ours, current) =>
            {
                return Err(UsageError::new(
                    format!(
                        "{} (rolled back to {}) is what the functions ran before the journal's first deployment; there is nothing older to go back to",
                        current.tag, current.time
                    ),
                    "pass --to TAG to go to a pushed image (see `imprint history`)",
                ));
            }
            None => {}
        }
    }
    let now = ours[anchor];
    if let Some(before) = ours[..anchor]
        .iter()
        .rev()
        .find(|r| r.image.digest != now.image.digest)
    {
        return Ok(Some(RollbackTo::Deployment(before)));
    }
    if !complete {
        return Ok(None);
    }
    // Every older deployment ran the current image: go to what ran before the first of them.
    let first = ours[0];
    let begin = entries
        .iter()
        .find(|e| e.id == first.id)
        .and_then(|e| e.begin.as_ref());
    Ok(Some(RollbackTo::BeforeFirst { first, begin }))
}

/// Whether `current`, a rollback, went to what the functions ran before the first deployment.
fn current_is_before_first(entries: &[Deployment], ours: &[&Record], current: &Record) -> bool {
    let first = ours[0];
    entries
        .iter()
        .find(|e| e.id == first.id)
        .and_then(|e| e.begin.as_ref())
        .is_some_and(|begin| {
            begin.functions.iter().any(|f| {
                f.old.as_ref().and_then(|o| o.digest.as_ref()) == current.image.digest.as_ref()
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::record::sample;
    use crate::journal::{DeploymentOutcome, Finished, FunctionImage, Kind, Outcome};

    fn entry(
        n: u32,
        action: Action,
        digest: &str,
        outcome: DeploymentOutcome,
        names: &[&str],
    ) -> Deployment {
        let id = format!("20261129-0000{n:02}-000-0000000{n}");
        let record = Record {
            id: id.clone(),
            time: format!("2026-11-29T00:00:{n:02}Z"),
            outcome: Some(outcome),
            results: names
                .iter()
                .map(|n| Finished {
                    name: (*n).into(),
                    outcome: Outcome::Updated,
                    image: None,
                    error: None,
                    version: None,
                })
                .collect(),
            ..sample(Kind::End, action, &format!("t-{digest}"), digest)
        };
        Deployment {
            id,
            begin: None,
            end: Some(record),
        }
    }

    fn pick(entries: &[Deployment]) -> Result<String, String> {
        let repository = Repository::parse("r.io/a").unwrap();
        previous(entries, true, &["f".to_string()], &repository)
            .map(|back| match back.expect("the whole journal decides") {
                RollbackTo::Deployment(r) => r.tag.clone(),
                RollbackTo::BeforeFirst { first, .. } => format!("before {}", first.tag),
            })
            .map_err(|e| e.to_string())
    }

    #[test]
    fn rollback_steps_back_through_successful_deployments() {
        let f = &["f"];
        let mut journal = vec![
            entry(1, Action::Deploy, "a", DeploymentOutcome::Succeeded, f),
            entry(2, Action::Deploy, "b", DeploymentOutcome::Succeeded, f),
            entry(3, Action::Deploy, "x", DeploymentOutcome::Reverted, f),
            entry(4, Action::Deploy, "c", DeploymentOutcome::Succeeded, f),
            // Another function set sharing the repository does not count.
            entry(5, Action::Deploy, "z", DeploymentOutcome::Succeeded, &["g"]),
        ];
        assert_eq!(pick(&journal).unwrap(), "t-b");
        journal.push(entry(
            6,
            Action::Rollback,
            "b",
            DeploymentOutcome::Succeeded,
            f,
        ));
        assert_eq!(
            pick(&journal).unwrap(),
            "t-a",
            "a second rollback steps further back"
        );
        journal.push(entry(
            7,
            Action::Rollback,
            "a",
            DeploymentOutcome::Succeeded,
            f,
        ));
        assert_eq!(
            pick(&journal).unwrap(),
            "before t-a",
            "back from the first image: what ran before it"
        );
        // A new deploy after rolling back to a: back means a again.
        journal.push(entry(
            8,
            Action::Deploy,
            "d",
            DeploymentOutcome::Succeeded,
            f,
        ));
        assert_eq!(pick(&journal).unwrap(), "t-a");
        // Redeploying the same image twice: back means the image before it.
        journal.push(entry(
            9,
            Action::Deploy,
            "d",
            DeploymentOutcome::Succeeded,
            f,
        ));
        assert_eq!(pick(&journal).unwrap(), "t-a");
        assert!(pick(&[]).unwrap_err().contains("no successful deployment"));
        // The first deployment alone: back to what ran before it.
        let first = vec![entry(
            1,
            Action::Deploy,
            "a",
            DeploymentOutcome::Succeeded,
            f,
        )];
        assert_eq!(pick(&first).unwrap(), "before t-a");
        // Part of the journal decides only what it can.
        let names = ["f".to_string()];
        let repository = Repository::parse("r.io/a").unwrap();
        assert!(previous(&first, false, &names, &repository)
            .unwrap()
            .is_none());
        assert!(previous(&journal[8..], false, &names, &repository)
            .unwrap()
            .is_none());
        assert!(matches!(
            previous(&journal[5..], false, &names, &repository),
            Ok(Some(RollbackTo::Deployment(r))) if r.tag == "t-a"
        ));
    }

    #[test]
    fn a_rollback_to_before_the_first_deployment_is_the_end() {
        use crate::journal::Planned;
        let f = &["f"];
        let mut first = entry(1, Action::Deploy, "a", DeploymentOutcome::Succeeded, f);
        first.begin = Some(Record {
            functions: vec![Planned {
                name: "f".into(),
                old: Some(FunctionImage {
                    uri: "r.io/a:latest".into(),
                    digest: Some("z".into()),
                }),
                new: first.end.as_ref().unwrap().image.clone(),
                old_version: None,
            }],
            ..sample(Kind::Begin, Action::Deploy, "t-a", "a")
        });
        let mut journal = vec![first];
        journal.push(entry(
            2,
            Action::Rollback,
            "z",
            DeploymentOutcome::Succeeded,
            f,
        ));
        let err = pick(&journal).unwrap_err();
        assert!(
            err.contains("before the journal's first deployment"),
            "{err}"
        );
    }
}
