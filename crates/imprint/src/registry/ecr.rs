//! Amazon ECR: recognising its hosts, its authorization token as one more registry credential
//! (from GetAuthorizationToken, cached 0600 under the state folder and refreshed well before
//! its 12 h expiry), and making sure the repository exists.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::credentials::{Credential, Secret};
use crate::error::UsageError;
use crate::reporter::Reporter;
use crate::retry::Aws;

/// IAM actions on the image repository: imprint's pushes and reads over the registry API,
/// the repository check, and what Lambda requires of whoever points a function at an image.
pub const REPOSITORY_ACTIONS: [&str; 10] = [
    "ecr:BatchCheckLayerAvailability",
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
    "ecr:PutImage",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
    "ecr:ListImages",
    "ecr:DescribeImages",
    "ecr:DescribeRepositories",
];
/// IAM actions of `imprint gc --yes` on the repository.
pub const GC_REPOSITORY_ACTIONS: [&str; 1] = ["ecr:BatchDeleteImage"];
/// `imprint push --create-repo`.
pub const CREATE_ACTIONS: [&str; 1] = ["ecr:CreateRepository"];
/// The registry token, which IAM grants on every resource only.
pub const TOKEN_ACTIONS: [&str; 1] = ["ecr:GetAuthorizationToken"];

/// A token this close to expiry is fetched again (tokens live 12 h).
const REFRESH_BEFORE_SECS: i64 = 3 * 3600;

/// `<account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]`, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcrHost {
    /// 12-digit account.
    pub account: String,
    /// Region.
    pub region: String,
}

impl EcrHost {
    /// Recognises an ECR registry host (without port).
    pub fn parse(host: &str) -> Option<Self> {
        let host = host.split(':').next()?;
        let host = host
            .strip_suffix(".amazonaws.com.cn")
            .or_else(|| host.strip_suffix(".amazonaws.com"))?;
        let mut parts = host.split('.');
        let account = parts.next()?;
        let (dkr, ecr, region) = (parts.next()?, parts.next()?, parts.next()?);
        let valid = account.len() == 12
            && account.chars().all(|c| c.is_ascii_digit())
            && dkr == "dkr"
            && (ecr == "ecr" || ecr == "ecr-fips")
            && !region.is_empty()
            && parts.next().is_none();
        valid.then(|| Self {
            account: account.into(),
            region: region.into(),
        })
    }
}

#[derive(Serialize, Deserialize)]
struct CachedToken {
    username: String,
    password: String,
    expires_at: i64,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn cache_path(host: &EcrHost) -> anyhow::Result<PathBuf> {
    Ok(crate::state::cache_dir()
        .context("failed to find imprint's cache folder")?
        .join(format!("ecr-token-{}-{}.json", host.account, host.region)))
}

/// The cached token, when it is readable and fresh.
fn cached(path: &std::path::Path, reporter: &dyn Reporter) -> Option<Credential> {
    match std::fs::read(path) {
        Ok(bytes) => match serde_json::from_slice::<CachedToken>(&bytes) {
            Ok(cached) if cached.expires_at - now() > REFRESH_BEFORE_SECS => {
                return Some(Credential {
                    username: cached.username,
                    secret: Secret::new(cached.password),
                    source: format!("the ECR token cached in {}", path.display()),
                });
            }
            Ok(_) => tracing::info!("the cached ECR token is near its expiry; fetching a new one"),
            Err(_) => reporter.warn(&format!(
                "{} is corrupt; discarding it and fetching a new ECR token",
                path.display()
            )),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => reporter.warn(&format!(
            "cannot read {} ({e}); fetching a new ECR token",
            path.display()
        )),
    }
    None
}

/// The registry credential for an ECR host: from the cache when fresh, else from
/// GetAuthorizationToken (and cached). `client` must be for the host's region.
pub async fn credential(
    client: &Aws<aws_sdk_ecr::Client>,
    host: &EcrHost,
    reporter: &dyn Reporter,
) -> anyhow::Result<Credential> {
    let path = cache_path(host)?;
    if let Some(cached) = cached(&path, reporter) {
        return Ok(cached);
    }
    let reply = client
        .call("GetAuthorizationToken", || {
            client.sdk.get_authorization_token().send()
        })
        .await
        .map_err(|e| anyhow::anyhow!(aws_sdk_ecr::error::DisplayErrorContext(e)))
        .with_context(|| {
            format!(
                "failed to get an ECR authorization token for account {} in {}",
                host.account, host.region
            )
        })?;
    let data = reply
        .authorization_data()
        .first()
        .context("ECR answered GetAuthorizationToken without authorization data")?;
    let token = data
        .authorization_token()
        .context("ECR answered without a token")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .context("ECR's token is not base64 text")?;
    let (username, password) = decoded
        .split_once(':')
        .context("ECR's token is not user:password")?;
    // ECR tokens live 12 hours. An expiry that is not in the future (clock skew, or an
    // emulator that reports a fixed date) is read as that lifetime from now.
    let expires_at = data
        .expires_at()
        .map(|t| t.secs())
        .filter(|t| *t > now())
        .unwrap_or(now() + 12 * 3600);
    let cached = CachedToken {
        username: username.to_string(),
        password: password.to_string(),
        expires_at,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("failed to create {}", dir.display()))?;
    }
    let bytes = serde_json::to_vec(&cached).context("failed to encode the token cache")?;
    crate::state::write_private(&path, &bytes)
        .with_context(|| format!("failed to write {}", path.display()))?;
    Ok(Credential {
        username: cached.username,
        secret: Secret::new(cached.password),
        source: format!(
            "ECR GetAuthorizationToken ({} in {})",
            host.account, host.region
        ),
    })
}

/// Makes sure the ECR repository exists; creates it when `create` is set.
/// `client` must be for the host's region.
pub async fn ensure_repository(
    client: &Aws<aws_sdk_ecr::Client>,
    host: &EcrHost,
    name: &str,
    create: bool,
    reporter: &dyn Reporter,
) -> anyhow::Result<()> {
    let found = client
        .call("DescribeRepositories", || {
            client
                .sdk
                .describe_repositories()
                .registry_id(&host.account)
                .repository_names(name)
                .send()
        })
        .await;
    match found {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_repository_not_found_exception()) =>
        {
            if !create {
                return Err(UsageError::new(
                    format!(
                        "the ECR repository {name} does not exist in account {} ({})",
                        host.account, host.region
                    ),
                    "create it (Pulumi, or pass --create-repo to let imprint create it)",
                )
                .into());
            }
            // imprint never moves a tag it wrote: the tags can be immutable, as ECR advises.
            client
                .call("CreateRepository", || {
                    client
                        .sdk
                        .create_repository()
                        .registry_id(&host.account)
                        .repository_name(name)
                        .image_tag_mutability(aws_sdk_ecr::types::ImageTagMutability::Immutable)
                        .send()
                })
                .await
                .map_err(|e| anyhow::anyhow!(aws_sdk_ecr::error::DisplayErrorContext(e)))
                .with_context(|| format!("failed to create the ECR repository {name}"))?;
            reporter.note(&format!(
                "created the ECR repository {name} (immutable tags)"
            ));
            Ok(())
        }
        Err(e) => Err(anyhow::anyhow!(aws_sdk_ecr::error::DisplayErrorContext(e)))
            .with_context(|| format!("failed to look up the ECR repository {name}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecr_hosts() {
        let h = EcrHost::parse("123456789012.dkr.ecr.us-east-1.amazonaws.com").unwrap();
        assert_eq!(
            (h.account.as_str(), h.region.as_str()),
            ("123456789012", "us-east-1")
        );
        assert!(EcrHost::parse("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com").is_some());
        assert!(EcrHost::parse("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn").is_some());
        for not in [
            "127.0.0.1:5000",
            "12345.dkr.ecr.us-east-1.amazonaws.com",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.io",
            "public.ecr.aws",
        ] {
            assert!(EcrHost::parse(not).is_none(), "{not}");
        }
    }
}
