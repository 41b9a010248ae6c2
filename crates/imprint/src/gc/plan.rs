//! What `gc` keeps and why, and what it deletes: decided from the inventory, the references
//! and the policy alone (no I/O), so every rule is unit-tested here.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::inventory::{Inventory, JournalTag, StoredImage};
use crate::config::GcPolicy;
use crate::journal::{Deployment, Record};
use crate::lambda::FunctionImages;

/// Why an image stays.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "why", rename_all = "kebab-case")]
pub enum Keep {
    /// A function's `$LATEST` runs it.
    Latest {
        /// The function.
        function: String,
    },
    /// A published version runs it (an alias's, or one kept).
    Version {
        /// The function.
        function: String,
        /// The version.
        version: String,
    },
    /// One of the newest successful deployments moved to it, or away from it.
    Deployment {
        /// The deployment's ID.
        id: String,
    },
    /// Pushed within `keep_days`.
    Recent,
    /// imprint cannot tell when it was pushed.
    AgeUnknown,
    /// imprint.lock pins it as a base image.
    Base,
    /// imprint did not push it (no index artifact); `--include-foreign` deletes it.
    Foreign,
}

impl std::fmt::Display for Keep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Latest { function } => write!(f, "{function} ($LATEST)"),
            Self::Version { function, version } => write!(f, "{function}:{version}"),
            Self::Deployment { id } => write!(f, "deployment {id}"),
            Self::Recent => f.write_str("recent"),
            Self::AgeUnknown => f.write_str("push time unknown"),
            Self::Base => f.write_str("base image"),
            Self::Foreign => f.write_str("not pushed by imprint"),
        }
    }
}

/// A version (or `$LATEST`) of a function outside the configuration that runs an image of
/// this repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Elsewhere {
    /// The function.
    pub function: String,
    /// `$LATEST` or a version number.
    pub version: String,
    /// The image's digest.
    pub digest: String,
}

/// Which functions a plan was checked against, for the report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Checked {
    /// Functions of the configuration (every environment sharing the repository).
    pub configured: usize,
    /// StoredImage functions of the region outside it, every version read.
    pub others: usize,
    /// Those of them that run an image of this repository: `function ($LATEST)` or
    /// `function:version`.
    pub running_here: Vec<String>,
}

/// What the images are checked against.
#[derive(Debug, Clone, Default)]
pub struct References {
    /// Every function of every environment sharing the repository.
    pub functions: Vec<FunctionImages>,
    /// Versions of every other image function of the region that run an image of this
    /// repository: kept, never deleted.
    pub elsewhere: Vec<Elsewhere>,
    /// What was checked.
    pub checked: Checked,
    /// The newest `keep_deployments` successful deployments.
    pub deployments: Vec<Deployment>,
    /// Base images imprint.lock pins.
    pub bases: BTreeSet<String>,
}

/// A Lambda version `gc` deletes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct StaleVersion {
    /// The function.
    pub function: String,
    /// The version.
    pub version: String,
    /// The image it runs.
    pub digest: Option<String>,
}

/// One image kept, with every reason.
#[derive(Debug, Clone, Serialize)]
pub struct Kept {
    /// The image.
    #[serde(flatten)]
    pub image: StoredImage,
    /// Why.
    pub why: Vec<Keep>,
}

/// What one gc run keeps and deletes.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    /// Images kept.
    pub keep: Vec<Kept>,
    /// Images deleted, with their tags and index artifacts.
    pub delete: Vec<StoredImage>,
    /// Bytes of blobs only deleted images use, by image digest.
    pub freed: BTreeMap<String, u64>,
    /// Lambda versions deleted (`--versions`).
    pub versions: Vec<StaleVersion>,
    /// Journal records deleted (`--journal-older-than`).
    pub journal: Vec<JournalTag>,
    /// The functions the plan was checked against.
    pub checked: Checked,
}

impl Plan {
    /// Bytes the deletes free in all.
    pub fn bytes_freed(&self) -> u64 {
        self.freed.values().sum()
    }
}

/// The version numbers in a recorded route (`7`, or `7 + 10% → 8`).
fn route_versions(route: &str) -> impl Iterator<Item = &str> {
    route
        .split(|c: char| !c.is_ascii_digit() && c != '%')
        .filter(|t| !t.is_empty() && !t.ends_with('%'))
}

/// Reasons to keep, by image digest.
type Reasons = BTreeMap<String, Vec<Keep>>;

/// Everything the kept deployments name: their images (and what their functions ran before,
/// the rollback targets) and their versions, as (function, version).
fn deployment_refs(deployments: &[Deployment]) -> (Reasons, BTreeSet<(String, String)>) {
    let (mut images, mut versions) = (Reasons::new(), BTreeSet::new());
    for d in deployments {
        let keep = Keep::Deployment { id: d.id.clone() };
        let records: Vec<&Record> = d.begin.iter().chain(&d.end).collect();
        for record in records {
            let olds = record.functions.iter().filter_map(|f| f.old.as_ref());
            let finals = record.results.iter().filter_map(|f| f.image.as_ref());
            let digests = std::iter::once(&record.image)
                .chain(olds)
                .chain(finals)
                .filter_map(|i| i.digest.clone());
            for digest in digests {
                let reasons = images.entry(digest).or_default();
                if !reasons.contains(&keep) {
                    reasons.push(keep.clone());
                }
            }
            for f in &record.functions {
                if let Some(v) = &f.old_version {
                    versions.extend(route_versions(v).map(|v| (f.name.clone(), v.to_string())));
                }
            }
            for f in &record.results {
                if let Some(v) = &f.version {
                    versions.extend(route_versions(v).map(|v| (f.name.clone(), v.to_string())));
                }
            }
        }
    }
    (images, versions)
}

/// Decides the run: each image is kept for every reason that holds, and deleted when none
/// does; versions (with `policy.versions`) go when no alias routes to them and no kept
/// deployment names them; journal records (with `journal_older_than`) go when older than
/// that and not of a kept deployment.
pub fn plan(inventory: &Inventory, refs: &References, policy: &GcPolicy, now: i64) -> Plan {
    let (by_deployment, needed_versions) = deployment_refs(&refs.deployments);
    let mut reasons: Reasons = by_deployment;
    let mut stale = Vec::new();
    for f in &refs.functions {
        if let Some(digest) = &f.latest {
            reasons
                .entry(digest.clone())
                .or_default()
                .push(Keep::Latest {
                    function: f.name.clone(),
                });
        }
        let aliased: BTreeSet<&str> = f.aliased().collect();
        for (version, digest) in &f.versions {
            let needed = aliased.contains(version.as_str())
                || needed_versions.contains(&(f.name.clone(), version.clone()));
            if policy.versions && !needed {
                stale.push(StaleVersion {
                    function: f.name.clone(),
                    version: version.clone(),
                    digest: digest.clone(),
                });
            } else if let Some(digest) = digest {
                reasons
                    .entry(digest.clone())
                    .or_default()
                    .push(Keep::Version {
                        function: f.name.clone(),
                        version: version.clone(),
                    });
            }
        }
    }
    for e in &refs.elsewhere {
        let keep = match e.version.as_str() {
            "$LATEST" => Keep::Latest {
                function: e.function.clone(),
            },
            version => Keep::Version {
                function: e.function.clone(),
                version: version.to_string(),
            },
        };
        reasons.entry(e.digest.clone()).or_default().push(keep);
    }
    let recent_since = now - i64::from(policy.keep_days) * 86_400;
    let mut out = Plan {
        versions: stale,
        checked: refs.checked.clone(),
        ..Plan::default()
    };
    for image in inventory.images.values() {
        let mut why = reasons.get(&image.digest).cloned().unwrap_or_default();
        if !image.is_imprints() && !policy.include_foreign {
            why.push(Keep::Foreign);
        }
        match image.pushed {
            Some(t) if t > recent_since => why.push(Keep::Recent),
            Some(_) => {}
            None => why.push(Keep::AgeUnknown),
        }
        if refs.bases.contains(&image.digest) {
            why.push(Keep::Base);
        }
        why.sort();
        why.dedup();
        if why.is_empty() {
            out.delete.push(image.clone());
        } else {
            out.keep.push(Kept {
                image: image.clone(),
                why,
            });
        }
    }
    let kept_blobs: BTreeSet<&String> =
        out.keep.iter().flat_map(|k| k.image.blobs.keys()).collect();
    let mut counted = BTreeSet::new();
    for image in &out.delete {
        let bytes = image
            .blobs
            .iter()
            .filter(|(b, _)| !kept_blobs.contains(b) && counted.insert((*b).clone()))
            .map(|(_, n)| n)
            .sum();
        out.freed.insert(image.digest.clone(), bytes);
    }
    if let Some(days) = policy.journal_older_than {
        let before = now - i64::from(days) * 86_400;
        let kept: BTreeSet<&str> = refs.deployments.iter().map(|d| d.id.as_str()).collect();
        out.journal = inventory
            .journal
            .iter()
            .filter(|j| j.time.is_some_and(|t| t < before) && !kept.contains(j.id.as_str()))
            .cloned()
            .collect();
    }
    out
}

/// What `planned` deletes that `again` (the plan made again under the lease) still deletes;
/// and the images `again` keeps that `planned` would have deleted (referenced since).
pub fn intersect(planned: Plan, again: &Plan) -> (Plan, Vec<Kept>) {
    let still: BTreeSet<&str> = again.delete.iter().map(|i| i.digest.as_str()).collect();
    let (delete, spared): (Vec<StoredImage>, Vec<StoredImage>) = planned
        .delete
        .into_iter()
        .partition(|i| still.contains(i.digest.as_str()));
    let kept_since = again
        .keep
        .iter()
        .filter(|k| spared.iter().any(|i| i.digest == k.image.digest))
        .cloned()
        .collect();
    let freed = delete
        .iter()
        .filter_map(|i| Some((i.digest.clone(), *again.freed.get(&i.digest)?)))
        .collect();
    let plan = Plan {
        keep: again.keep.clone(),
        delete,
        freed,
        versions: planned
            .versions
            .into_iter()
            .filter(|v| again.versions.contains(v))
            .collect(),
        journal: planned
            .journal
            .into_iter()
            .filter(|j| again.journal.iter().any(|a| a.tag == j.tag))
            .collect(),
        checked: again.checked.clone(),
    };
    (plan, kept_since)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::record::sample;
    use crate::journal::{Action, Finished, Kind, Outcome};

    fn image(digest: &str, pushed: i64, blobs: &[(&str, u64)]) -> StoredImage {
        StoredImage {
            digest: digest.into(),
            tags: vec![format!("t-{digest}")],
            artifacts: vec![(format!("imprint-{digest}"), format!("a-{digest}"))],
            pushed: Some(pushed),
            blobs: blobs.iter().map(|(b, n)| ((*b).to_string(), *n)).collect(),
        }
    }

    fn policy() -> GcPolicy {
        GcPolicy {
            keep_deployments: 1,
            keep_days: 1,
            include_foreign: false,
            versions: true,
            journal_older_than: Some(30),
        }
    }

    #[test]
    fn a_kept_deployments_versions_stay_and_shared_blobs_are_not_counted_freed() {
        let now = 100 * 86_400;
        let mut inventory = Inventory::default();
        for i in [
            image("old", 0, &[("layer", 10), ("own-old", 5)]),
            image("kept", 0, &[("layer", 10)]),
            image("new", now - 60, &[]),
        ] {
            inventory.images.insert(i.digest.clone(), i);
        }
        let mut foreign = image("foreign", 0, &[]);
        foreign.artifacts.clear();
        inventory.images.insert("foreign".into(), foreign);
        inventory.journal = vec![
            JournalTag {
                tag: "imprint-journal-x-begin".into(),
                id: "x".into(),
                time: Some(0),
            },
            JournalTag {
                tag: "imprint-journal-k-end".into(),
                id: "k".into(),
                time: Some(0),
            },
        ];
        // The kept deployment left f's alias on version 3 with 10% on 4.
        let end = Record {
            id: "k".into(),
            results: vec![Finished {
                name: "f".into(),
                outcome: Outcome::Updated,
                image: None,
                error: None,
                version: Some("3 + 10% → 4".into()),
            }],
            ..sample(Kind::End, Action::Deploy, "t-kept", "kept")
        };
        let refs = References {
            functions: vec![FunctionImages {
                name: "f".into(),
                latest: Some("kept".into()),
                versions: BTreeMap::from([
                    ("2".to_string(), Some("old".to_string())),
                    ("3".to_string(), Some("kept".to_string())),
                    ("4".to_string(), Some("kept".to_string())),
                ]),
                aliases: vec![],
            }],
            deployments: vec![Deployment {
                id: "k".into(),
                begin: None,
                end: Some(end),
            }],
            bases: BTreeSet::new(),
            ..References::default()
        };
        let plan = plan(&inventory, &refs, &policy(), now);
        let deleted: Vec<&str> = plan.delete.iter().map(|i| i.digest.as_str()).collect();
        assert_eq!(deleted, ["old"]);
        assert_eq!(
            plan.versions,
            [StaleVersion {
                function: "f".into(),
                version: "2".into(),
                digest: Some("old".into()),
            }]
        );
        // `layer` is shared with a kept image: only old's own blob is freed.
        assert_eq!(plan.bytes_freed(), 5);
        let why = |d: &str| {
            plan.keep
                .iter()
                .find(|k| k.image.digest == d)
                .map(|k| k.why.clone())
                .unwrap()
        };
        assert_eq!(why("new"), [Keep::Recent]);
        assert_eq!(why("foreign"), [Keep::Foreign]);
        assert!(why("kept").contains(&Keep::Deployment { id: "k".into() }));
        // Journal records: x is old and not kept; k belongs to a kept deployment.
        let journal: Vec<&str> = plan.journal.iter().map(|j| j.tag.as_str()).collect();
        assert_eq!(journal, ["imprint-journal-x-begin"]);
    }

    #[test]
    fn what_a_function_outside_the_configuration_runs_stays_and_its_versions_too() {
        let mut inventory = Inventory::default();
        for i in [image("a", 0, &[]), image("b", 0, &[]), image("c", 0, &[])] {
            inventory.images.insert(i.digest.clone(), i);
        }
        let elsewhere = |version: &str, digest: &str| Elsewhere {
            function: "other".into(),
            version: version.into(),
            digest: digest.into(),
        };
        let refs = References {
            elsewhere: vec![elsewhere("$LATEST", "a"), elsewhere("4", "b")],
            ..References::default()
        };
        let plan = plan(&inventory, &refs, &policy(), 100 * 86_400);
        let deleted: Vec<&str> = plan.delete.iter().map(|i| i.digest.as_str()).collect();
        assert_eq!(deleted, ["c"]);
        assert!(plan.versions.is_empty(), "{:?}", plan.versions);
        let why = |d: &str| {
            plan.keep
                .iter()
                .find(|k| k.image.digest == d)
                .map(|k| k.why.clone())
        };
        assert_eq!(
            why("a"),
            Some(vec![Keep::Latest {
                function: "other".into()
            }])
        );
        assert_eq!(
            why("b"),
            Some(vec![Keep::Version {
                function: "other".into(),
                version: "4".into()
            }])
        );
    }

    #[test]
    fn routes_name_their_versions() {
        assert_eq!(route_versions("7").collect::<Vec<_>>(), ["7"]);
        assert_eq!(
            route_versions("7 + 10% → 8").collect::<Vec<_>>(),
            ["7", "8"]
        );
    }
}
