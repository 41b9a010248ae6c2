//! Which deployment a rollback returns to, read from the journal alone.

use super::record::{Action, DeploymentOutcome, Record};
use super::store::Deployment;
use crate::error::UsageError;
use crate::registry::Repository;

/// The end record of a deployment (or rollback) that succeeded.
pub fn succeeded(entry: &Deployment) -> Option<&Record> {
    entry
        .end
        .as_ref()
        .filter(|r| r.outcome == Some(DeploymentOutcome::Succeeded))
}

/// The deployment to go back to. Among the successful deployments of any of `names`, oldest
/// first, the current one is the newest, or, when that is a rollback, the deploy it went back
/// to, so a second rollback steps further back. The answer is the newest one before it whose
/// image differs.
pub fn previous<'a>(
    entries: &'a [Deployment],
    names: &[String],
    repository: &Repository,
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
                repository,
                names.join(", ")
            ),
            "rollback returns to a deployment imprint made; pass --to TAG to go to a pushed image",
        ));
    };
    let mut anchor = older.len();
    if current.action == Action::Rollback {
        if let Some(i) = older
            .iter()
            .rposition(|r| r.action == Action::Deploy && r.image.digest == current.image.digest)
        {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::record::sample;
    use crate::journal::{Finished, Kind, Outcome};

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
        previous(entries, &["f".to_string()], &repository)
            .map(|r| r.tag.clone())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn rollback_steps_back_through_successful_deployments() {
        let f = &["f"];
        let mut journal = vec![
            entry(1, Action::Deploy, "a", DeploymentOutcome::Succeeded, f),
            entry(2, Action::Deploy, "b", DeploymentOutcome::Succeeded, f),
            entry(3, Action::Deploy, "x", DeploymentOutcome::RolledBack, f),
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
        assert!(pick(&journal).unwrap_err().contains("earliest"));
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
    }
}
