//! Published versions and the alias callers use: publish `$LATEST` (guarded by the code it was
//! verified to run), read a version's image, read an alias's route and move it.

use std::collections::HashMap;

use aws_sdk_lambda::types::AliasRoutingConfiguration;
use serde::Serialize;

use super::image::{digest_of, FunctionImage};
use super::retry::{code, Lambda};

/// Where an alias sends its callers: one version, and optionally a share to a second.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Route {
    /// The version that gets the rest of the traffic.
    pub version: String,
    /// A second version and its share of the traffic (0 < weight < 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra: Option<(String, f64)>,
}

impl Route {
    /// All traffic to `version`.
    pub fn to(version: &str) -> Self {
        Self {
            version: version.to_string(),
            extra: None,
        }
    }

    /// `percent` of the traffic to `new`, the rest to `old`.
    pub fn split(old: &str, new: &str, percent: u8) -> Self {
        Self {
            version: old.to_string(),
            extra: Some((new.to_string(), f64::from(percent) / 100.0)),
        }
    }

    /// `7`, or `7 + 10% → 8`.
    pub fn describe(&self) -> String {
        match &self.extra {
            None => self.version.clone(),
            Some((v, w)) => format!("{} + {}% → {v}", self.version, percent_of(*w)),
        }
    }
}

/// A weight (0..=1) as a whole percentage.
pub fn percent_of(weight: f64) -> u32 {
    (weight * 100.0).round().clamp(0.0, 100.0) as u32
}

/// A function's alias as Lambda reports it, with the image of each version it routes to.
#[derive(Debug, Clone, Serialize)]
pub struct AliasView {
    /// The alias name.
    pub name: String,
    /// Where it routes.
    pub route: Route,
    /// The image of the route's main version.
    pub image: Option<FunctionImage>,
    /// The image of the route's second version, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_image: Option<FunctionImage>,
    /// Passed back with an update so a concurrent change is detected.
    #[serde(skip)]
    pub revision_id: Option<String>,
}

/// Reads one alias and the images of its versions; `None` when the function has no such alias.
pub async fn read_alias(
    client: &Lambda,
    function: &str,
    alias: &str,
) -> anyhow::Result<Option<AliasView>> {
    let Some((route, revision_id)) = read_alias_route(client, function, alias).await? else {
        return Ok(None);
    };
    let image = version_image(client, function, &route.version).await?;
    let extra_image = match &route.extra {
        Some((v, _)) => version_image(client, function, v).await?,
        None => None,
    };
    Ok(Some(AliasView {
        name: alias.to_string(),
        route,
        image,
        extra_image,
        revision_id,
    }))
}

fn route_of(version: Option<&str>, weights: Option<&HashMap<String, f64>>) -> Route {
    let extra = weights
        .and_then(|w| w.iter().find(|(_, share)| **share > 0.0))
        .map(|(v, share)| (v.clone(), *share));
    Route {
        version: version.unwrap_or("$LATEST").to_string(),
        extra,
    }
}

/// What one version (or `$LATEST`) of a function runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionCode {
    /// An image (its digest when Lambda resolved it).
    Image(FunctionImage),
    /// Not an image (a zip package).
    NotImage,
    /// The function or the version no longer exists.
    Gone,
}

/// Reads what `version` of `function` runs.
pub async fn read_version_code(
    client: &Lambda,
    function: &str,
    version: &str,
) -> anyhow::Result<VersionCode> {
    let reply = client
        .call(&format!("GetFunction {function}:{version}"), || {
            client
                .sdk
                .get_function()
                .function_name(function)
                .qualifier(version)
                .send()
        })
        .await;
    let reply = match reply {
        Ok(reply) => reply,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            return Ok(VersionCode::Gone)
        }
        Err(e) => {
            return Err(anyhow::anyhow!(
                "failed to read version {version} of {function}: {}",
                client.error_text(&e)
            ))
        }
    };
    let code = reply.code();
    Ok(match code.and_then(|c| c.image_uri()) {
        Some(uri) => VersionCode::Image(FunctionImage {
            uri: uri.to_string(),
            digest: code
                .and_then(|c| c.resolved_image_uri())
                .and_then(digest_of),
        }),
        None => VersionCode::NotImage,
    })
}

/// The image a version runs (`None` for a version that is not an image).
pub async fn version_image(
    client: &Lambda,
    function: &str,
    version: &str,
) -> anyhow::Result<Option<FunctionImage>> {
    match read_version_code(client, function, version).await? {
        VersionCode::Image(image) => Ok(Some(image)),
        VersionCode::NotImage => Ok(None),
        VersionCode::Gone => Err(anyhow::anyhow!(
            "failed to read version {version} of {function}: it does not exist"
        )),
    }
}

/// Publishes `$LATEST` as a version, only if it still runs `digest` (and, when given, is
/// still at `revision`): a change made since imprint verified it cannot be published by
/// mistake. The new version's number.
pub async fn publish_version(
    client: &Lambda,
    function: &str,
    digest: &str,
    revision: Option<&str>,
    description: &str,
) -> anyhow::Result<String> {
    let sha = digest.strip_prefix("sha256:").unwrap_or(digest);
    let reply = client
        .call(&format!("PublishVersion {function}"), || {
            client
                .sdk
                .publish_version()
                .function_name(function)
                .code_sha256(sha)
                .set_revision_id(revision.map(str::to_string))
                .description(description)
                .send()
        })
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "failed to publish a version of {function}: {}",
                client.error_text(&e)
            )
        })?;
    let version = reply
        .version()
        .filter(|v| !v.is_empty() && *v != "$LATEST")
        .ok_or_else(|| anyhow::anyhow!("Lambda published {function} without a version number"))?;
    if let Some(theirs) = reply.code_sha256() {
        if theirs != sha {
            anyhow::bail!(
                "Lambda published version {version} of {function} with code sha256:{theirs}, not {digest}; someone else changed it"
            );
        }
    }
    Ok(version.to_string())
}

/// Points `alias` of `function` at `route`. With `revision` (the alias's as read), a change
/// made by someone else since is refused by Lambda; an answer lost after the change landed is
/// recognised by reading the alias back. The alias's new revision.
pub async fn set_route(
    client: &Lambda,
    function: &str,
    alias: &str,
    route: &Route,
    revision: Option<&str>,
) -> anyhow::Result<Option<String>> {
    let weights: HashMap<String, f64> = route.extra.iter().cloned().collect();
    let routing = AliasRoutingConfiguration::builder()
        .set_additional_version_weights(Some(weights))
        .build();
    let sent = client
        .call(&format!("UpdateAlias {function}:{alias}"), || {
            client
                .sdk
                .update_alias()
                .function_name(function)
                .name(alias)
                .function_version(&route.version)
                .routing_config(routing.clone())
                .set_revision_id(revision.map(str::to_string))
                .send()
        })
        .await;
    match sent {
        Ok(reply) => Ok(reply.revision_id().map(str::to_string)),
        Err(e) if code(&e) == Some("PreconditionFailedException") => {
            match read_alias_route(client, function, alias).await? {
                Some((now, revision)) if now == *route => Ok(revision),
                now => anyhow::bail!(
                    "the alias {alias} of {function} was changed by someone else (it routes to {}); left as it is",
                    now.map_or("nothing".into(), |(r, _)| r.describe())
                ),
            }
        }
        Err(e) => anyhow::bail!(
            "failed to move the alias {alias} of {function} to {}: {}",
            route.describe(),
            client.error_text(&e)
        ),
    }
}

/// The alias's route and revision, without the images of its versions (`None` when the
/// function has no such alias).
pub async fn read_alias_route(
    client: &Lambda,
    function: &str,
    alias: &str,
) -> anyhow::Result<Option<(Route, Option<String>)>> {
    match client
        .call(&format!("GetAlias {function}:{alias}"), || {
            client
                .sdk
                .get_alias()
                .function_name(function)
                .name(alias)
                .send()
        })
        .await
    {
        Ok(reply) => Ok(Some((
            route_of(
                reply.function_version(),
                reply
                    .routing_config()
                    .and_then(|r| r.additional_version_weights()),
            ),
            reply.revision_id().map(str::to_string),
        ))),
        Err(e) if code(&e) == Some("ResourceNotFoundException") => Ok(None),
        Err(e) => anyhow::bail!(
            "failed to read the alias {alias} of {function}: {}",
            client.error_text(&e)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_read_and_described() {
        let weights = HashMap::from([("8".to_string(), 0.1)]);
        let route = route_of(Some("7"), Some(&weights));
        assert_eq!(route, Route::split("7", "8", 10));
        assert_eq!(route.describe(), "7 + 10% → 8");
        let empty = HashMap::new();
        assert_eq!(route_of(Some("8"), Some(&empty)), Route::to("8"));
        assert_eq!(route_of(None, None).version, "$LATEST");
        assert_eq!(percent_of(0.1), 10);
        assert_eq!(percent_of(0.333), 33);
    }
}
