//! Carrying out a gc plan under the lease: versions, then images (ECR's BatchDeleteImage or
//! the registry's DELETE), then their index artifacts and old journal records; the run is
//! recorded in the journal.

use super::plan::{Kept, Plan};
use super::report::GcReport;
use crate::journal::{self, Caller, DeletedImage, GcRecord, Runner};
use crate::lambda;
use crate::registry::Registry;
use crate::session::Session;

/// Deletes what `plan` says; `kept_since` are the images spared because something started
/// using them after the first plan.
pub async fn sweep(
    session: &Session,
    registry: &Registry,
    plan: Plan,
    kept_since: Vec<Kept>,
    id: String,
    caller: Caller,
) -> anyhow::Result<GcReport> {
    let reporter = session.reporter();
    let provider = session.provider().await?;
    let mut failed = Vec::new();
    let mut versions = Vec::new();
    if !plan.versions.is_empty() {
        let client = session.lambda().await?;
        for v in &plan.versions {
            match lambda::delete_version(client, &v.function, &v.version).await {
                Ok(()) => versions.push(format!("{}:{}", v.function, v.version)),
                Err(e) => failed.push(format!("{e:#}")),
            }
        }
    }
    reporter.step(&format!("deleting {} images", plan.delete.len()));
    let digests: Vec<String> = plan.delete.iter().map(|i| i.digest.clone()).collect();
    let gone = provider
        .delete_manifests(registry, &digests, &mut failed)
        .await?;
    let deleted: Vec<DeletedImage> = plan
        .delete
        .iter()
        .filter(|i| gone.contains(&i.digest))
        .map(|i| DeletedImage {
            digest: i.digest.clone(),
            tags: i.tags.clone(),
            bytes: plan.freed.get(&i.digest).copied().unwrap_or(0),
        })
        .collect();
    // An image's index artifacts go after it: a run cut short leaves an artifact whose image
    // is gone (ignored by lookups), never an image that looks foreign.
    let artifacts: Vec<String> = plan
        .delete
        .iter()
        .filter(|i| gone.contains(&i.digest))
        .flat_map(|i| i.artifacts.iter().map(|(_, d)| d.clone()))
        .collect();
    provider
        .delete_manifests(registry, &artifacts, &mut failed)
        .await?;
    // Old journal records: each tag's manifest, deleted together.
    let mut records = Vec::new();
    for record in &plan.journal {
        if let Some(digest) = registry.manifest_digest(&record.tag).await? {
            records.push((record.tag.clone(), digest));
        }
    }
    let digests: Vec<String> = records.iter().map(|(_, d)| d.clone()).collect();
    let gone = provider
        .delete_manifests(registry, &digests, &mut failed)
        .await?;
    let journal_gone = records
        .into_iter()
        .filter(|(_, d)| gone.contains(d))
        .map(|(tag, _)| tag)
        .collect();
    let record = GcRecord {
        format: journal::JOURNAL_FORMAT,
        id,
        time: journal::now_rfc3339(),
        caller,
        runner: Runner::this(),
        deleted,
        versions,
        journal: journal_gone,
        failed,
    };
    let unrecorded = journal::write_gc(registry, &record)
        .await
        .err()
        .map(|e| e.to_string());
    Ok(GcReport::done(
        &registry.repository,
        plan,
        kept_since,
        record,
        unrecorded,
    ))
}
