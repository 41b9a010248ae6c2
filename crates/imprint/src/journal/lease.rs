//! One deployment at a time per repository: a lease kept in the registry beside the journal.
//!
//! Lease `N` is a one-blob artifact at `imprint-lease-N` naming its holder and expiry; a
//! marker at `imprint-lease-N-released` ends it. To take the lease, a deployer finds the
//! newest `N`; when that one is free (released, expired, or its process is gone from this
//! machine) it writes `N+1`, waits a settling moment and reads `N+1` back: the deployer whose
//! record is there holds the lease, every other one lost the race. With immutable tags (ECR's
//! recommended setting) the second write of `N+1` is refused outright.
//!
//! Generations are written one after another from 1, so the newest is found by probing tags
//! (a doubling search, then bisection), never by listing the repository; and each names the
//! journal ID of the run that took it, which makes the generations the journal's index.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::record::{unix_now, Runner};
use crate::lambda::Caller;
use crate::registry::{
    put_artifact, read_artifact_blob, ArtifactManifest, Registry, RegistryError,
};

/// How long a new lease settles before it is read back (a rival's claim lands meanwhile).
pub const LEASE_SETTLE: Duration = Duration::from_secs(1);
/// Every lease tag starts with this.
pub const LEASE_PREFIX: &str = "imprint-lease-";
pub(crate) const ARTIFACT_TYPE: &str = "application/vnd.dev.imprint.lease.v1";
const MEDIA_TYPE: &str = "application/vnd.dev.imprint.lease.v1+json";
const RELEASED: &str = "-released";
/// Annotation of a lease naming the journal ID of the run that took it.
const DEPLOYMENT_ANNOTATION: &str = "dev.imprint.lease.deployment";

/// Who holds a lease, and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// A random ID of the holding run.
    pub id: String,
    /// Who (STS).
    pub caller: Caller,
    /// Where.
    pub runner: Runner,
    /// Since when (Unix seconds).
    pub since: i64,
    /// Until when, at the latest (Unix seconds).
    pub until: i64,
    /// The journal ID of the deployment (or gc run) this run records; absent in leases
    /// written before the journal was indexed by them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
}

impl Holder {
    /// This run, recording the journal ID `deployment`, holding for `ttl` from now.
    pub fn this(caller: Caller, ttl: Duration, deployment: String) -> Self {
        let since = unix_now();
        Self {
            id: format!("{:016x}", fastrand::u64(..)),
            caller,
            runner: Runner::this(),
            since,
            until: since + ttl.as_secs() as i64,
            deployment: Some(deployment),
        }
    }

    /// Who, where and since when, for messages.
    pub fn describe(&self) -> String {
        format!(
            "{} on {} (pid {}) since {}, until {} at the latest",
            self.caller.arn.as_deref().unwrap_or("an unknown caller"),
            self.runner.host,
            self.runner.pid,
            imprint_context::format_rfc3339(self.since),
            imprint_context::format_rfc3339(self.until),
        )
    }
}

/// The lease is held by another run.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// Another deployment holds it.
    #[error("another deployment of {repository} holds its lease: {holder}; wait for it to end, or pass --force-unlock if it is gone")]
    Held {
        /// The repository.
        repository: String,
        /// Who holds it.
        holder: String,
    },
    /// Talking to the registry failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// The newest lease and whether it still holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseState {
    /// No lease holds; the next one is this generation.
    Free {
        /// The generation to write.
        next: u64,
    },
    /// A lease holds.
    Held {
        /// Its generation.
        generation: u64,
        /// Its holder.
        holder: Holder,
    },
}

/// A lease this run holds; [`release`] it when done.
#[derive(Debug, Clone)]
pub struct Lease {
    generation: u64,
}

/// The state of the lease from the newest generation's record and release marker, at `now`:
/// free when there is none, when it was released, when it expired, or when its holder's
/// process is gone from this machine.
pub fn state(newest: Option<(u64, Option<Holder>, bool)>, now: i64) -> LeaseState {
    let Some((generation, holder, released)) = newest else {
        return LeaseState::Free { next: 1 };
    };
    let free = LeaseState::Free {
        next: generation + 1,
    };
    match holder {
        // An unreadable record holds nothing (it is replaced by the next generation).
        None => free,
        Some(_) if released => free,
        Some(h) if h.until <= now => free,
        Some(h) if h.runner.is_gone() => free,
        Some(holder) => LeaseState::Held { generation, holder },
    }
}

fn tag(generation: u64) -> String {
    format!("{LEASE_PREFIX}{generation}")
}

/// The newest generation, its holder and whether it was released.
async fn newest(registry: &Registry) -> Result<Option<(u64, Option<Holder>, bool)>, RegistryError> {
    let Some(generation) = newest_generation(registry).await? else {
        return Ok(None);
    };
    let released = exists(registry, &format!("{}{RELEASED}", tag(generation))).await?;
    let holder = read_holder(registry, generation).await?;
    Ok(Some((generation, holder, released)))
}

async fn exists(registry: &Registry, tag: &str) -> Result<bool, RegistryError> {
    Ok(registry.manifest_digest(tag).await?.is_some())
}

/// The newest lease generation: generations are written in order from 1, so doubling until
/// one is missing and then bisecting finds it in about 2·log2(N) probes; from the generation
/// this machine saw last (a hint in the cache folder, checked like any other probe) it
/// usually takes two. A repository whose first generation is gone is listed instead.
pub(crate) async fn newest_generation(registry: &Registry) -> Result<Option<u64>, RegistryError> {
    let hint = read_hint(registry);
    let start = match hint {
        Some(h) if exists(registry, &tag(h)).await? => h,
        _ => {
            if !exists(registry, &tag(1)).await? {
                let tags = registry.tags().await?;
                return Ok(tags
                    .iter()
                    .filter_map(|t| t.strip_prefix(LEASE_PREFIX)?.parse::<u64>().ok())
                    .max());
            }
            1
        }
    };
    // From a generation that exists: double the step until a missing one, then bisect.
    let (mut present, mut step) = (start, 1u64);
    let mut missing = present + step;
    while exists(registry, &tag(missing)).await? {
        present = missing;
        step = step.saturating_mul(2);
        missing = present.saturating_add(step);
    }
    while missing - present > 1 {
        let middle = present + (missing - present) / 2;
        if exists(registry, &tag(middle)).await? {
            present = middle;
        } else {
            missing = middle;
        }
    }
    if hint != Some(present) {
        write_hint(registry, present);
    }
    Ok(Some(present))
}

/// Where this machine keeps the newest generation it saw of the registry's repository.
fn hint_path(registry: &Registry) -> Option<std::path::PathBuf> {
    let key = crate::registry::sha256_digest(registry.repository.to_string().as_bytes());
    let name = format!("lease-{}", key.trim_start_matches("sha256:").get(..16)?);
    Some(crate::state::cache_dir().ok()?.join("journal").join(name))
}

fn read_hint(registry: &Registry) -> Option<u64> {
    std::fs::read_to_string(hint_path(registry)?)
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|g| *g >= 1)
}

/// Remembers the newest generation seen; a cache, so a failure to write it is no error.
fn write_hint(registry: &Registry, generation: u64) {
    let Some(path) = hint_path(registry) else {
        return;
    };
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| crate::state::write_atomic(&path, generation.to_string().as_bytes()));
    if let Err(e) = written {
        tracing::debug!(
            "could not remember the newest lease in {}: {e}",
            path.display()
        );
    }
}

/// What lease `generation` says about the journal: `None` when it is missing, `Some(None)`
/// for a lease that names no journal ID (written by an older imprint), else that ID.
pub(crate) async fn deployment_at(
    registry: &Registry,
    generation: u64,
) -> Result<Option<Option<String>>, RegistryError> {
    let Some(found) = registry.get_manifest(&tag(generation)).await? else {
        return Ok(None);
    };
    let id = serde_json::from_slice::<ArtifactManifest>(&found.bytes)
        .ok()
        .and_then(|mut m| m.annotations.remove(DEPLOYMENT_ANNOTATION));
    Ok(Some(id))
}

async fn read_holder(
    registry: &Registry,
    generation: u64,
) -> Result<Option<Holder>, RegistryError> {
    let blob = read_artifact_blob(registry, &tag(generation), MEDIA_TYPE, "lease").await?;
    Ok(blob.and_then(|b| serde_json::from_slice(&b).ok()))
}

async fn put(registry: &Registry, tag: &str, holder: &Holder) -> Result<(), RegistryError> {
    let body = serde_json::to_vec_pretty(holder).map_err(|e| RegistryError::Io {
        path: "lease record".into(),
        source: e.into(),
    })?;
    put_artifact(
        registry,
        tag,
        ARTIFACT_TYPE,
        (MEDIA_TYPE, body),
        None,
        BTreeMap::from_iter(
            [("dev.imprint.lease.holder".to_string(), holder.id.clone())]
                .into_iter()
                .chain(
                    (!tag.ends_with(RELEASED))
                        .then(|| holder.deployment.clone())
                        .flatten()
                        .map(|id| (DEPLOYMENT_ANNOTATION.to_string(), id)),
                ),
        ),
    )
    .await?;
    Ok(())
}

/// The generation the next lease takes, when the lease is free now (`None` while held).
pub async fn next_free(registry: &Registry) -> Result<Option<u64>, RegistryError> {
    Ok(match state(newest(registry).await?, unix_now()) {
        LeaseState::Free { next } => Some(next),
        LeaseState::Held { .. } => None,
    })
}

impl Lease {
    /// Its generation.
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

/// Takes the lease for `holder`: fails with who holds it, or when another run took the same
/// generation at the same moment. `settle` is how long to wait before reading the claim back.
pub async fn acquire(
    registry: &Registry,
    holder: &Holder,
    settle: Duration,
) -> Result<Lease, LeaseError> {
    let held = |holder: &Holder| LeaseError::Held {
        repository: registry.repository.to_string(),
        holder: holder.describe(),
    };
    let next = match state(newest(registry).await?, unix_now()) {
        LeaseState::Held { holder, .. } => return Err(held(&holder)),
        LeaseState::Free { next } => next,
    };
    // With immutable tags a second claim of the same generation is refused here.
    if let Err(e) = put(registry, &tag(next), holder).await {
        return match read_holder(registry, next).await? {
            Some(other) if other.id != holder.id => Err(held(&other)),
            _ => Err(e.into()),
        };
    }
    tokio::time::sleep(settle).await;
    match read_holder(registry, next).await? {
        Some(now) if now.id == holder.id => Ok(Lease { generation: next }),
        Some(other) => Err(held(&other)),
        None => Err(LeaseError::Registry(RegistryError::Status {
            method: reqwest::Method::GET,
            url: registry.repository.uri(&tag(next)),
            status: reqwest::StatusCode::NOT_FOUND,
            body: "the lease just written is gone".into(),
            retry_after: None,
        })),
    }
}

/// Ends a lease this run holds.
pub async fn release(
    registry: &Registry,
    lease: &Lease,
    holder: &Holder,
) -> Result<(), RegistryError> {
    put(
        registry,
        &format!("{}{RELEASED}", tag(lease.generation)),
        holder,
    )
    .await
}

/// Ends whatever lease holds now (`--force-unlock`); who held it.
pub async fn force_release(
    registry: &Registry,
    by: &Holder,
) -> Result<Option<Holder>, RegistryError> {
    match state(newest(registry).await?, unix_now()) {
        LeaseState::Held { generation, holder } => {
            put(registry, &format!("{}{RELEASED}", tag(generation)), by).await?;
            Ok(Some(holder))
        }
        LeaseState::Free { .. } => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(host: &str, pid: u32, until: i64) -> Holder {
        Holder {
            id: "h".into(),
            caller: Caller::default(),
            runner: Runner {
                host: host.into(),
                pid,
            },
            since: 0,
            until,
            deployment: None,
        }
    }

    #[test]
    fn a_lease_holds_until_released_expired_or_its_process_is_gone() {
        let now = 1_000;
        assert_eq!(state(None, now), LeaseState::Free { next: 1 });
        let elsewhere = holder("another-machine", 1, now + 60);
        assert_eq!(
            state(Some((4, Some(elsewhere.clone()), false)), now),
            LeaseState::Held {
                generation: 4,
                holder: elsewhere.clone()
            }
        );
        assert_eq!(
            state(Some((4, Some(elsewhere.clone()), true)), now),
            LeaseState::Free { next: 5 }
        );
        assert_eq!(
            state(
                Some((4, Some(holder("another-machine", 1, now)), false)),
                now
            ),
            LeaseState::Free { next: 5 }
        );
        assert_eq!(
            state(Some((4, None, false)), now),
            LeaseState::Free { next: 5 }
        );
        // This machine, a process that no longer exists.
        let gone = holder(&Runner::this().host, u32::MAX - 1, now + 60);
        assert_eq!(
            state(Some((4, Some(gone), false)), now),
            LeaseState::Free { next: 5 }
        );
    }
}
