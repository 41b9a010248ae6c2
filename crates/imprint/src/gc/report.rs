//! What a gc run did (or, dry, would do): `Serialize + Display`.

use std::fmt;

use serde::Serialize;

use super::plan::{Checked, Keep, Kept, Plan};
use crate::error::ExitStatus;
use crate::journal::GcRecord;
use crate::registry::Repository;

/// How a gc run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GcOutcome {
    /// Dry run: nothing was deleted.
    DryRun,
    /// Nothing to delete.
    NothingToDelete,
    /// Everything planned was deleted.
    Deleted,
    /// Some deletes failed (listed in `failed`).
    PartlyDeleted,
}

/// One image in the table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Its manifest digest.
    pub digest: String,
    /// Its tags.
    pub tags: Vec<String>,
    /// Its index artifacts' tags.
    pub artifacts: Vec<String>,
    /// When it was pushed (RFC 3339).
    pub pushed: Option<String>,
    /// Bytes it alone holds.
    pub bytes: u64,
}

/// The report of a gc run.
#[derive(Debug, Clone, Serialize)]
pub struct GcReport {
    /// The repository.
    pub repository: String,
    /// How it ended.
    pub outcome: GcOutcome,
    /// The run's journal ID (not for dry runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Images deleted (or to delete).
    pub delete: Vec<Row>,
    /// Bytes freed (or to free).
    pub bytes_freed: u64,
    /// Lambda versions deleted (or to delete), `function:version`.
    pub versions: Vec<String>,
    /// Journal records deleted (or to delete).
    pub journal: Vec<String>,
    /// Images kept, with why.
    pub keep: Vec<Kept>,
    /// The functions checked before anything was deleted.
    pub checked: Checked,
    /// Images the first plan deleted that something started using before the deletes.
    pub kept_since_plan: Vec<Kept>,
    /// What failed.
    pub failed: Vec<String>,
    /// Why the run's journal record could not be written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unrecorded: Option<String>,
}

fn rows(plan: &Plan) -> Vec<Row> {
    plan.delete
        .iter()
        .map(|i| Row {
            digest: i.digest.clone(),
            tags: i.tags.clone(),
            artifacts: i.artifacts.iter().map(|(t, _)| t.clone()).collect(),
            pushed: i.pushed.map(imprint_context::format_rfc3339),
            bytes: plan.freed.get(&i.digest).copied().unwrap_or(0),
        })
        .collect()
}

impl GcReport {
    fn planned(repository: &Repository, plan: Plan, outcome: GcOutcome) -> Self {
        Self {
            repository: repository.to_string(),
            outcome,
            id: None,
            delete: rows(&plan),
            bytes_freed: plan.bytes_freed(),
            versions: plan
                .versions
                .iter()
                .map(|v| format!("{}:{}", v.function, v.version))
                .collect(),
            journal: plan.journal.iter().map(|j| j.tag.clone()).collect(),
            keep: plan.keep,
            checked: plan.checked,
            kept_since_plan: Vec::new(),
            failed: Vec::new(),
            unrecorded: None,
        }
    }

    /// A dry run of `plan`.
    pub fn dry_run(repository: &Repository, plan: Plan) -> Self {
        Self::planned(repository, plan, GcOutcome::DryRun)
    }

    /// A run with nothing to delete.
    pub fn nothing(repository: &Repository, plan: Plan) -> Self {
        Self::planned(repository, plan, GcOutcome::NothingToDelete)
    }

    /// A run that deleted what `record` says.
    pub fn done(
        repository: &Repository,
        plan: Plan,
        kept_since_plan: Vec<Kept>,
        record: GcRecord,
        unrecorded: Option<String>,
    ) -> Self {
        let outcome = if record.failed.is_empty() {
            GcOutcome::Deleted
        } else {
            GcOutcome::PartlyDeleted
        };
        let mut report = Self::planned(repository, plan, outcome);
        report
            .delete
            .retain(|r| record.deleted.iter().any(|d| d.digest == r.digest));
        report.bytes_freed = record.deleted.iter().map(|d| d.bytes).sum();
        report.versions = record.versions;
        report.journal = record.journal;
        report.id = Some(record.id);
        report.kept_since_plan = kept_since_plan;
        report.failed = record.failed;
        report.unrecorded = unrecorded;
        report
    }

    /// The exit status: a failed delete is a failure, and so is a run whose record could not
    /// be written (its deletes are then known only from this report).
    pub fn conclude(&self) -> ExitStatus {
        match (self.outcome, &self.unrecorded) {
            (GcOutcome::PartlyDeleted, _) | (_, Some(_)) => ExitStatus::Failure,
            _ => ExitStatus::Success,
        }
    }
}

/// `1234567` → `1.2 MB`.
fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The reasons to keep an image, for one line: many functions' `$LATEST` or versions are
/// summed up (`--json` has each).
fn reasons(why: &[Keep]) -> String {
    let mut latest = Vec::new();
    let mut versions: Vec<(&str, &str)> = Vec::new();
    let mut parts = Vec::new();
    for keep in why {
        match keep {
            Keep::Latest { function } => latest.push(function.as_str()),
            Keep::Version { function, version } => versions.push((function, version)),
            other => parts.push(other.to_string()),
        }
    }
    let mut out = Vec::new();
    match latest.as_slice() {
        [] => {}
        [one] => out.push(format!("{one} ($LATEST)")),
        many => out.push(format!("$LATEST of {} functions", many.len())),
    }
    match versions.as_slice() {
        [] => {}
        [(function, version)] => out.push(format!("{function}:{version}")),
        many => {
            let mut numbers: Vec<&str> = many.iter().map(|(_, v)| *v).collect();
            numbers.sort_by_key(|v| v.parse::<u64>().unwrap_or(u64::MAX));
            numbers.dedup();
            let mut functions: Vec<&str> = many.iter().map(|(f, _)| *f).collect();
            functions.sort_unstable();
            functions.dedup();
            out.push(match functions.as_slice() {
                [one] => format!("{one}:{}", numbers.join(",")),
                _ => format!(
                    "version {} of {} functions",
                    numbers.join(", "),
                    functions.len()
                ),
            });
        }
    }
    out.extend(parts);
    out.join(", ")
}

impl fmt::Display for GcReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = match self.outcome {
            GcOutcome::DryRun => "would delete",
            GcOutcome::NothingToDelete => "nothing to delete:",
            _ => "deleted",
        };
        let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        writeln!(
            f,
            "gc {}: {verb} {} ({}), {}, {}; kept {}",
            self.repository,
            plural(self.delete.len(), "image"),
            size(self.bytes_freed),
            plural(self.versions.len(), "version"),
            plural(self.journal.len(), "journal record"),
            plural(self.keep.len(), "image"),
        )?;
        let c = &self.checked;
        write!(
            f,
            "  checked {} and {} of the region",
            plural(c.configured, "configured function"),
            plural(c.others, "other image function"),
        )?;
        match c.running_here.as_slice() {
            [] => writeln!(f)?,
            running => writeln!(
                f,
                "; of these, this repository's images run in {}",
                running.join(", ")
            )?,
        }
        for row in &self.delete {
            let name = row.tags.first().unwrap_or(&row.digest);
            let pushed = row.pushed.as_deref().unwrap_or("?");
            writeln!(
                f,
                "  delete  {name:<40} pushed {pushed}  {:>9}",
                size(row.bytes)
            )?;
        }
        for v in &self.versions {
            writeln!(f, "  delete  version {v}")?;
        }
        for j in &self.journal {
            writeln!(f, "  delete  {j}")?;
        }
        for k in &self.kept_since_plan {
            writeln!(
                f,
                "  kept    {} (in use since the plan: {})",
                k.image.name(),
                reasons(&k.why)
            )?;
        }
        for k in &self.keep {
            writeln!(f, "  keep    {:<40} {}", k.image.name(), reasons(&k.why))?;
        }
        for failure in &self.failed {
            writeln!(f, "  failed  {failure}")?;
        }
        if let Some(why) = &self.unrecorded {
            writeln!(f, "  the gc record could not be written: {why}")?;
        }
        if self.outcome == GcOutcome::DryRun && !self.delete.is_empty() {
            writeln!(f, "dry run: nothing was deleted; pass --yes to delete")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_functions_reasons_are_summed_up() {
        let latest = |f: &str| Keep::Latest { function: f.into() };
        let version = |f: &str, v: &str| Keep::Version {
            function: f.into(),
            version: v.into(),
        };
        assert_eq!(reasons(&[latest("a")]), "a ($LATEST)");
        assert_eq!(
            reasons(&[
                latest("a"),
                latest("b"),
                version("a", "10"),
                version("b", "9"),
                Keep::Recent
            ]),
            "$LATEST of 2 functions, version 9, 10 of 2 functions, recent"
        );
        assert_eq!(reasons(&[version("a", "2"), version("a", "3")]), "a:2,3");
        assert_eq!(size(999), "999 B");
        assert_eq!(size(41_300_000), "41.3 MB");
    }
}
