//! `gc`: reference-aware cleanup of the image repository: what no function, version, alias,
//! kept deployment or recent push needs goes, with its index artifacts.

mod inventory;
mod plan;
mod report;
mod sweep;

use std::collections::BTreeSet;
use std::time::Duration;

use futures_util::stream::{self, StreamExt as _, TryStreamExt as _};

pub use report::GcReport;

use crate::config::GcPolicy;
use crate::error::{Failure, UsageError};
use crate::image::lock::{self, Lockfile};
use crate::journal::{self, Holder};
use crate::lambda::{self, FunctionImages, PARALLEL_READS};
use crate::registry::Registry;
use crate::session::Session;
use inventory::Inventory;

/// How long a gc run may hold the repository's lease.
const LEASE_TIME: Duration = Duration::from_secs(30 * 60);

/// Plans a gc run and, with `delete`, carries it out under the repository's lease.
pub async fn run(session: &Session, policy: &GcPolicy, delete: bool) -> anyhow::Result<GcReport> {
    let (registry, reporter) = (session.registry().await?, session.reporter());
    refuse_open_deploys(registry).await?;
    let names = functions(session).await?;
    reporter.step(&format!(
        "reading the repository {} and what {} function{} use",
        registry.repository,
        names.len(),
        if names.len() == 1 { "" } else { "s" }
    ));
    let bases = base_images(session)?;
    let inventory = inventory::read(registry).await?;
    let refs = references(session, registry, &names, policy, &bases, &inventory).await?;
    let planned = plan::plan(&inventory, &refs, policy, journal::unix_now());
    if !delete {
        return Ok(GcReport::dry_run(&registry.repository, planned));
    }
    if planned.delete.is_empty() && planned.versions.is_empty() && planned.journal.is_empty() {
        return Ok(GcReport::nothing(&registry.repository, planned));
    }
    let caller = lambda::caller_identity(session.sts().await?, reporter).await;
    let id = journal::new_id();
    let holder = Holder::this(caller.clone(), LEASE_TIME, id.clone());
    let lease = journal::acquire(registry, &holder, journal::LEASE_SETTLE).await?;
    let result = async {
        // Under the lease no deploy starts; what changed since the plan is read again, and
        // only what both plans delete goes.
        refuse_open_deploys(registry).await?;
        let again = references(session, registry, &names, policy, &bases, &inventory).await?;
        let replanned = plan::plan(&inventory, &again, policy, journal::unix_now());
        let (confirmed, kept_since) = plan::intersect(planned, &replanned);
        sweep::sweep(session, registry, confirmed, kept_since, id, caller).await
    }
    .await;
    if let Err(e) = journal::release(registry, &lease, &holder).await {
        reporter.warn(&format!(
            "could not release the lease ({e}); it ends by itself at {}",
            imprint_context::format_rfc3339(holder.until)
        ));
    }
    result
}

/// A deployment that began and never ended may still need anything: gc waits for it.
async fn refuse_open_deploys(registry: &Registry) -> anyhow::Result<()> {
    if let Some(open) = journal::unfinished(registry).await?.first() {
        return Err(UsageError::new(
            format!(
                "{} {} (began {}) has not ended; gc deletes nothing while a deployment is open",
                open.action, open.id, open.time
            ),
            "wait for it to end, or close it with the next `imprint deploy` (see `imprint status`)",
        )
        .into());
    }
    Ok(())
}

/// Every function of this configuration and of each `[env.NAME]` that shares the repository.
async fn functions(session: &Session) -> anyhow::Result<Vec<String>> {
    let client = session.lambda().await?;
    let mut names = BTreeSet::new();
    for deploy in session.settings.deploys_sharing_the_repository() {
        if deploy.functions.is_some() || deploy.select.is_some() {
            names.extend(lambda::select(client, deploy, &[]).await?);
        }
    }
    if names.is_empty() {
        return Err(UsageError::new(
            "no functions are configured, so gc cannot tell which images are in use",
            "list them in [deploy] functions (or select them with [deploy] select)",
        )
        .into());
    }
    Ok(names.into_iter().collect())
}

/// The base images imprint.lock pins.
fn base_images(session: &Session) -> anyhow::Result<BTreeSet<String>> {
    let lock = Lockfile::load(&lock::path(&session.settings))?;
    Ok(lock.digests().map(str::to_string).collect())
}

/// What the functions (configured or not) and the newest successful deployments use now.
async fn references(
    session: &Session,
    registry: &Registry,
    names: &[String],
    policy: &GcPolicy,
    bases: &BTreeSet<String>,
    inventory: &Inventory,
) -> anyhow::Result<plan::References> {
    let client = session.lambda().await?;
    let functions: Vec<FunctionImages> = stream::iter(names)
        .map(|name| lambda::read_images(client, name))
        .buffered(PARALLEL_READS)
        .try_collect()
        .await?;
    let (elsewhere, others) = elsewhere(client, registry, names, inventory).await?;
    let deployments = journal::successful(registry, policy.keep_deployments).await?;
    let checked = plan::Checked {
        configured: names.len(),
        others,
        running_here: elsewhere
            .iter()
            .map(|e| match e.version.as_str() {
                "$LATEST" => format!("{} ($LATEST)", e.function),
                version => format!("{}:{version}", e.function),
            })
            .collect(),
    };
    Ok(plan::References {
        functions,
        elsewhere,
        checked,
        deployments,
        bases: bases.clone(),
    })
}

/// The versions of image functions outside the configuration that run an image of this
/// repository, and how many such functions there are. Every version of the region is listed
/// with its digest; one whose digest is an image here (or that Lambda does not say) is read
/// for its image URI, which says whether the image is this repository's. A version that
/// cannot be read stops gc before anything is deleted: it never guesses.
async fn elsewhere(
    client: &lambda::Lambda,
    registry: &Registry,
    configured: &[String],
    inventory: &Inventory,
) -> anyhow::Result<(Vec<plan::Elsewhere>, usize)> {
    let listed: Vec<lambda::RegionVersion> = lambda::region_image_versions(client)
        .await
        .map_err(|e| e.context("gc reads every image function of the region before it deletes"))?
        .into_iter()
        .filter(|v| !configured.contains(&v.function))
        .collect();
    let others: BTreeSet<&str> = listed.iter().map(|v| v.function.as_str()).collect();
    let to_read = listed.iter().filter(|v| {
        v.digest
            .as_ref()
            .is_none_or(|d| inventory.images.contains_key(d))
    });
    let ours = registry.repository.to_string();
    let read: Vec<Option<plan::Elsewhere>> = stream::iter(to_read)
        .map(|v| async {
            let found = lambda::read_version_code(client, &v.function, &v.version)
                .await
                .map_err(|e| {
                    Failure::new(
                        format!(
                            "cannot tell which image {}:{} runs ({e:#}), so gc deletes nothing",
                            v.function, v.version
                        ),
                        "let this identity read it (lambda:GetFunction), or run gc again when it can be read",
                    )
                })?;
            // Gone since the listing, or not an image: it runs nothing of this repository.
            let lambda::VersionCode::Image(image) = found else {
                return Ok(None);
            };
            if lambda::repository_of(&image.uri) != ours {
                return Ok(None);
            }
            match image.digest.or_else(|| v.digest.clone()) {
                Some(digest) => Ok(Some(plan::Elsewhere {
                    function: v.function.clone(),
                    version: v.version.clone(),
                    digest,
                })),
                None => Err(Failure::new(
                    format!(
                        "{}:{} runs an image of {ours} whose digest Lambda does not say, so gc deletes nothing",
                        v.function, v.version
                    ),
                    "wait until the function is Active, then run gc again",
                )),
            }
        })
        .buffered(PARALLEL_READS)
        .try_collect::<Vec<_>>()
        .await
        .map_err(anyhow::Error::from)?;
    Ok((read.into_iter().flatten().collect(), others.len()))
}
