//! The checks of AWS and the registry: region, credentials, registry, repository, functions,
//! each skipped when what it needs failed.

use super::Checks;
use crate::cli::Check;
use crate::error::UsageError;
use crate::lambda;
use crate::session::Session;

/// Region, credentials, registry, repository and functions, each skipped when what it needs
/// failed; the functions selected, when that check got as far.
pub(super) async fn check_aws(session: &Session, checks: &mut Checks) -> Option<Vec<String>> {
    // The region check is the one every AWS command makes.
    let region = match session.aws().await {
        Ok(sdk) => {
            checks.ok(
                Check::Region,
                sdk.region().map_or(String::new(), ToString::to_string),
            );
            true
        }
        Err(e) => {
            checks.fail(Check::Region, &e, "");
            false
        }
    };
    let credentials = if region {
        check_credentials(session, checks).await
    } else {
        checks.skip(Check::Credentials, "needs a region");
        false
    };
    let tags = check_registry(session, credentials, checks).await;
    check_repository(session, tags, credentials, checks).await;
    if !credentials {
        checks.skip(Check::Functions, "needs AWS credentials");
        return None;
    }
    match check_functions(session).await {
        Ok((names, detail)) => {
            checks.ok(Check::Functions, detail);
            Some(names)
        }
        Err(e) => {
            checks.fail(
                Check::Functions,
                &e,
                "create them (Pulumi), or fix [deploy] functions / select",
            );
            None
        }
    }
}

/// STS answers with who we are.
pub(super) async fn check_credentials(session: &Session, checks: &mut Checks) -> bool {
    let identified = match session.sts().await {
        Ok(sts) => lambda::identify(sts).await,
        Err(e) => Err(format!("{e:#}")),
    };
    match identified {
        Ok(id) => {
            checks.ok(
                Check::Credentials,
                format!(
                    "{} (account {})",
                    id.arn.as_deref().unwrap_or("unknown ARN"),
                    id.account.as_deref().unwrap_or("unknown")
                ),
            );
            true
        }
        Err(e) => {
            checks.fail(
                Check::Credentials,
                &anyhow::anyhow!("STS GetCallerIdentity failed: {e}"),
                "set AWS_PROFILE (and `aws sso login`), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
            );
            false
        }
    }
}

/// The registry answers and takes our credentials (a tag listing needs them); the number of
/// tags listed, for the repository check.
pub(super) async fn check_registry(
    session: &Session,
    credentials: bool,
    checks: &mut Checks,
) -> Option<usize> {
    // Fails only when no repository is configured: the error says so with its hint.
    let provider = match session.provider().await {
        Ok(provider) => provider,
        Err(e) => {
            checks.fail(Check::Registry, &e, "");
            return None;
        }
    };
    if provider.needs_aws() && !credentials {
        checks.skip(
            Check::Registry,
            "an ECR registry: needs AWS credentials for its token",
        );
        return None;
    }
    let attempt = async {
        let registry = session.registry().await?;
        registry.ping().await?;
        let tags = registry.tags().await?;
        anyhow::Ok((registry, tags.len()))
    };
    match attempt.await {
        Ok((registry, tags)) => {
            checks.ok(
                Check::Registry,
                format!("{} answers and accepts the credentials", registry.address()),
            );
            Some(tags)
        }
        Err(e) => {
            checks.fail(
                Check::Registry,
                &e,
                "check [registry] endpoint and your network; `imprint login` for the docker CLI",
            );
            None
        }
    }
}

/// ECR repositories must exist before the first push; other registries make them on push.
pub(super) async fn check_repository(
    session: &Session,
    tags: Option<usize>,
    credentials: bool,
    checks: &mut Checks,
) {
    let Some(configured) = &session.settings.registry else {
        checks.skip(Check::Repository, "needs a configured repository");
        return;
    };
    let repository = &configured.repository;
    let provider = match session.provider().await {
        Ok(provider) => provider,
        Err(e) => return checks.fail(Check::Repository, &e, ""),
    };
    if !provider.makes_repositories_on_push() {
        if !credentials {
            checks.skip(Check::Repository, "needs AWS credentials");
            return;
        }
        let found = provider
            .ensure_repository(repository, false, session.reporter())
            .await;
        match found {
            Ok(()) => checks.ok(Check::Repository, format!("{repository} exists")),
            Err(e) => checks.fail(
                Check::Repository,
                &e,
                "create it (the Pulumi program's bootstrap, or `imprint push --create-repo`)",
            ),
        }
        return;
    }
    match tags {
        Some(0) => checks.ok(
            Check::Repository,
            format!("{repository} is empty; the first push creates it"),
        ),
        Some(tags) => checks.ok(Check::Repository, format!("{repository}: {tags} tags")),
        None => checks.skip(Check::Repository, "needs the registry"),
    }
}

pub(super) async fn check_functions(session: &Session) -> anyhow::Result<(Vec<String>, String)> {
    let client = session.lambda().await?;
    let names = lambda::select(client, session.settings.deploy(), &[]).await?;
    let found = lambda::read_functions(client, &names).await?;
    let zip: Vec<&str> = found
        .iter()
        .filter(|f| !f.is_image())
        .map(|f| f.name.as_str())
        .collect();
    if !zip.is_empty() {
        return Err(UsageError::new(
            format!("not image functions: {}", zip.join(", ")),
            "imprint deploys container-image functions; remove these from [deploy]",
        )
        .into());
    }
    let detail = format!(
        "{} image function{} exist: {}",
        found.len(),
        if found.len() == 1 { "" } else { "s" },
        names.join(", ")
    );
    Ok((names, detail))
}
