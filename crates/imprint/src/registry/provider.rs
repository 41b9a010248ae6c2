//! Which kind of registry a repository lives in, resolved once per repository: Amazon ECR
//! (its token, its repositories, its delete, its IAM actions) or any other OCI registry (the
//! docker config's credential, repositories made on push, deletes over the distribution API).
//! A new registry kind is a variant here.

use serde_json::{json, Value};

use super::client::Registry;
use super::credentials::{self, Credential};
use super::delete::ecr_delete;
use super::ecr::{self, EcrHost};
use super::reference::{is_loopback_host, Repository};
use crate::error::UsageError;
use crate::reporter::Reporter;
use crate::retry::Aws;

/// The kind of registry the repository is in, with what talking to it takes.
#[derive(Clone)]
pub enum Provider {
    /// Amazon ECR, with a client for the host's region.
    Ecr {
        /// Its account and region.
        host: EcrHost,
        /// The ECR API in that region.
        client: Aws<aws_sdk_ecr::Client>,
    },
    /// Any other registry: the distribution API is all there is.
    Oci,
}

impl Provider {
    /// The region of the ECR API a repository's provider needs a client for, when its host
    /// is an ECR one.
    pub fn ecr_region(repository: &Repository) -> Option<String> {
        EcrHost::parse(&repository.host).map(|h| h.region)
    }

    /// The provider of `repository`; `ecr` is the ECR client for [`Provider::ecr_region`]'s
    /// region (none for other registries).
    pub fn new(repository: &Repository, ecr: Option<Aws<aws_sdk_ecr::Client>>) -> Self {
        match (EcrHost::parse(&repository.host), ecr) {
            (Some(host), Some(client)) => Self::Ecr { host, client },
            _ => Self::Oci,
        }
    }

    /// Whether talking to it takes AWS credentials (ECR's token).
    pub fn needs_aws(&self) -> bool {
        matches!(self, Self::Ecr { .. })
    }

    /// Whether a push makes the repository (else it must exist first: ECR).
    pub fn makes_repositories_on_push(&self) -> bool {
        matches!(self, Self::Oci)
    }

    /// The credential for `registry`'s repository: an ECR token, which is only ever sent to
    /// an ECR host or to loopback (never to an `[registry] endpoint` elsewhere), else the
    /// docker config's credential for the host.
    pub async fn credential(
        &self,
        registry: &Registry,
        reporter: &dyn Reporter,
    ) -> anyhow::Result<Option<Credential>> {
        let repository = &registry.repository;
        match self {
            Self::Ecr { host, client } => {
                let target = registry.target_host();
                if EcrHost::parse(&target).is_none() && !is_loopback_host(&target) {
                    return Err(UsageError::new(
                        format!("[registry] endpoint sends {repository}'s traffic to {target}, which is neither ECR nor loopback; imprint does not send an ECR token there"),
                        "point the endpoint at the ECR host or at a loopback proxy, or remove it",
                    )
                    .into());
                }
                Ok(Some(ecr::credential(client, host, reporter).await?))
            }
            Self::Oci => Ok(credentials::for_host(&repository.host)?),
        }
    }

    /// The credential `imprint login` hands to `docker login`: ECR's token; other registries
    /// are logged in to with `docker login` itself.
    pub async fn login_credential(
        &self,
        repository: &Repository,
        reporter: &dyn Reporter,
    ) -> anyhow::Result<Credential> {
        match self {
            Self::Ecr { host, client } => ecr::credential(client, host, reporter).await,
            Self::Oci => Err(UsageError::new(
                format!(
                    "{} is not an ECR registry; imprint login only fetches ECR tokens",
                    repository.host
                ),
                format!(
                    "log in with `docker login {}` (imprint reads the docker config for pushes)",
                    repository.host
                ),
            )
            .into()),
        }
    }

    /// That the repository exists (made when `create`); nothing for registries that make
    /// repositories on push.
    pub async fn ensure_repository(
        &self,
        repository: &Repository,
        create: bool,
        reporter: &dyn Reporter,
    ) -> anyhow::Result<()> {
        match self {
            Self::Ecr { host, client } => {
                ecr::ensure_repository(client, host, &repository.path, create, reporter).await
            }
            Self::Oci => Ok(()),
        }
    }

    /// Deletes the manifests `digests` from `registry`'s repository (every tag naming one
    /// goes too): through ECR's API, else `DELETE` by digest. Returns the digests now gone;
    /// each one that could not be deleted goes to `failed` with its reason. A registry that
    /// cannot delete at all is an error.
    pub async fn delete_manifests(
        &self,
        registry: &Registry,
        digests: &[String],
        failed: &mut Vec<String>,
    ) -> anyhow::Result<Vec<String>> {
        if digests.is_empty() {
            return Ok(Vec::new());
        }
        if let Self::Ecr { host, client } = self {
            let refused = ecr_delete(client, host, &registry.repository.path, digests).await?;
            // What ECR does not report as failed is gone (ImageNotFound included).
            let gone = digests
                .iter()
                .filter(|d| !refused.iter().any(|(r, _)| r == *d))
                .cloned()
                .collect();
            failed.extend(refused.into_iter().map(|(d, why)| format!("{d}: {why}")));
            return Ok(gone);
        }
        let mut gone = Vec::new();
        for digest in digests {
            match registry.delete_manifest(digest).await {
                Ok(_) => gone.push(digest.clone()),
                Err(e) if e.is_usage() => return Err(e.into()),
                Err(e) => failed.push(format!("{digest}: {e}")),
            }
        }
        Ok(gone)
    }
}

/// What a repository's registry needs granted in IAM: for ECR, its account and region and the
/// statements on the repository (pushes, reads and the repository check; `create`:
/// CreateRepository; `gc`: BatchDeleteImage; and the token); nothing for other registries.
#[derive(Debug, Clone)]
pub struct IamGrants {
    /// The repository's account.
    pub account: String,
    /// The repository's region.
    pub region: String,
    /// The policy statements.
    pub statements: Vec<Value>,
}

impl IamGrants {
    /// The grants for `repository` (no client needed: read from its host).
    pub fn of(repository: &Repository, create: bool, gc: bool) -> Option<Self> {
        let host = EcrHost::parse(&repository.host)?;
        let arn = format!(
            "arn:aws:ecr:{}:{}:repository/{}",
            host.region, host.account, repository.path
        );
        let mut actions: Vec<&str> = ecr::REPOSITORY_ACTIONS.to_vec();
        if create {
            actions.extend(ecr::CREATE_ACTIONS);
        }
        if gc {
            actions.extend(ecr::GC_REPOSITORY_ACTIONS);
        }
        Some(Self {
            statements: vec![
                json!({"Sid": "PushAndJournal", "Effect": "Allow",
                    "Action": actions, "Resource": arn}),
                json!({"Sid": "RegistryToken", "Effect": "Allow",
                    "Action": ecr::TOKEN_ACTIONS, "Resource": "*"}),
            ],
            account: host.account,
            region: host.region,
        })
    }

    /// Every action the grants may hold, for any options.
    pub fn every_action() -> Vec<&'static str> {
        [
            &ecr::REPOSITORY_ACTIONS[..],
            &ecr::CREATE_ACTIONS,
            &ecr::GC_REPOSITORY_ACTIONS,
            &ecr::TOKEN_ACTIONS,
        ]
        .concat()
    }
}
