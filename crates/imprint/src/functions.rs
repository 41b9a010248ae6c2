//! The Lambda functions imprint looks after: chosen by name (`[deploy] functions`) or by a
//! Lambda tag (`[deploy] select`), narrowed by `--function`, and read as Lambda reports them.

use futures_util::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;

use crate::error::UsageError;
use crate::lambda::{self, retrying};
use crate::settings::Settings;

/// Functions read at once.
pub const PARALLEL_READS: usize = 8;

/// One function as Lambda reports it.
#[derive(Debug, Clone, Serialize)]
pub struct Function {
    /// Function name.
    pub name: String,
    /// `Image` or `Zip`.
    pub package_type: Option<String>,
    /// The image URI it was given.
    pub image_uri: Option<String>,
    /// The tag in that URI (none when it names a digest).
    pub tag: Option<String>,
    /// The digest Lambda resolved the image to (after the last `@` of ResolvedImageUri).
    pub digest: Option<String>,
    /// `Active`, `Pending`, `Inactive` or `Failed`.
    pub state: Option<String>,
    /// `Successful`, `InProgress` or `Failed`.
    pub last_update_status: Option<String>,
    /// Why the last update failed, when it did.
    pub last_update_reason: Option<String>,
    /// When the function last changed.
    pub last_modified: Option<String>,
    /// `x86_64` or `arm64`.
    pub architectures: Vec<String>,
    /// The revision, passed back with an update so a concurrent change is detected.
    #[serde(skip)]
    pub revision_id: Option<String>,
}

/// An SDK config from the standard AWS chain; a region is required.
pub async fn aws_config() -> anyhow::Result<aws_config::SdkConfig> {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    if config.region().is_none() {
        return Err(UsageError::new(
            "no AWS region is set",
            "set AWS_REGION (or a region in your AWS profile)",
        )
        .into());
    }
    Ok(config)
}

/// The configured functions, narrowed to `only` when it is not empty.
pub async fn select(
    client: &aws_sdk_lambda::Client,
    settings: &Settings,
    only: &[String],
) -> anyhow::Result<Vec<String>> {
    let deploy = &settings.config.sections.deploy;
    let mut names = match (&deploy.functions, &deploy.select) {
        (Some(list), _) => list.clone(),
        (None, Some(selector)) => {
            let mut found = Vec::new();
            let mut marker: Option<String> = None;
            loop {
                let page = retrying("ListFunctions", || {
                    client.list_functions().set_marker(marker.clone()).send()
                })
                .await
                .map_err(|e| anyhow::anyhow!("failed to list the Lambda functions: {}", lambda::describe(&e)))?;
                for f in page.functions() {
                    let Some(arn) = f.function_arn() else { continue };
                    let tags = retrying("ListTags", || client.list_tags().resource(arn).send())
                        .await
                        .map_err(|e| anyhow::anyhow!("failed to read the tags of {arn}: {}", lambda::describe(&e)))?;
                    if tags.tags().and_then(|t| t.get(&selector.tag)) == Some(&selector.value) {
                        found.push(f.function_name().unwrap_or_default().to_string());
                    }
                }
                match page.next_marker() {
                    Some(next) if !next.is_empty() => marker = Some(next.to_string()),
                    _ => break,
                }
            }
            found.sort();
            found
        }
        (None, None) => {
            return Err(UsageError::new(
                "no functions are configured",
                "list them in [deploy] functions, or select them by a Lambda tag with [deploy] select = { tag = \"app\", value = \"…\" }",
            )
            .into())
        }
    };
    if !only.is_empty() {
        if let Some(stray) = only.iter().find(|n| !names.contains(n)) {
            return Err(UsageError::new(
                format!(
                    "--function {stray} is not one of the configured functions ({})",
                    names.join(", ")
                ),
                "name a function from [deploy] functions or the [deploy] select tag",
            )
            .into());
        }
        names.retain(|n| only.contains(n));
    }
    Ok(names)
}

/// Reads every function, a few at a time.
pub async fn describe_all(
    client: &aws_sdk_lambda::Client,
    names: &[String],
) -> anyhow::Result<Vec<Function>> {
    stream::iter(names)
        .map(|name| describe(client, name))
        .buffered(PARALLEL_READS)
        .try_collect()
        .await
}

/// Reads one function; a missing one is a usage error naming it.
pub async fn describe(client: &aws_sdk_lambda::Client, name: &str) -> anyhow::Result<Function> {
    let reply = match retrying(&format!("GetFunction {name}"), || {
        client.get_function().function_name(name).send()
    })
    .await
    {
        Ok(reply) => reply,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            return Err(UsageError::new(
                format!("the Lambda function {name} does not exist"),
                "create it (Pulumi), or remove it from [deploy] functions",
            )
            .into())
        }
        Err(e) => {
            return Err(anyhow::anyhow!(
                "failed to read the Lambda function {name}: {}",
                lambda::describe(&e)
            ))
        }
    };
    let config = reply.configuration();
    let code = reply.code();
    let image_uri = code.and_then(|c| c.image_uri()).map(str::to_string);
    let tag = image_uri.as_deref().and_then(tag_of);
    let digest = code
        .and_then(|c| c.resolved_image_uri())
        .and_then(|r| r.rsplit_once('@'))
        .map(|(_, d)| d.to_string())
        .filter(|d| d.starts_with("sha256:"));
    Ok(Function {
        name: name.to_string(),
        package_type: config
            .and_then(|c| c.package_type())
            .map(|p| p.as_str().to_string()),
        image_uri,
        tag,
        digest,
        state: config
            .and_then(|c| c.state())
            .map(|s| s.as_str().to_string()),
        last_update_status: config
            .and_then(|c| c.last_update_status())
            .map(|s| s.as_str().to_string()),
        last_update_reason: config
            .and_then(|c| c.last_update_status_reason())
            .map(str::to_string),
        last_modified: config.and_then(|c| c.last_modified()).map(str::to_string),
        architectures: config
            .map(|c| {
                c.architectures()
                    .iter()
                    .map(|a| a.as_str().to_string())
                    .collect()
            })
            .unwrap_or_default(),
        revision_id: config.and_then(|c| c.revision_id()).map(str::to_string),
    })
}

/// `host/path:tag` → `tag` (none for `@sha256:` references).
pub fn tag_of(image_uri: &str) -> Option<String> {
    if image_uri.contains('@') {
        return None;
    }
    let last = image_uri.rsplit('/').next()?;
    last.split_once(':').map(|(_, t)| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_of_image_uris() {
        assert_eq!(
            tag_of("1.dkr.ecr.us-east-1.amazonaws.com/a/b:20250526-145140-9f6a1a2a").as_deref(),
            Some("20250526-145140-9f6a1a2a")
        );
        assert_eq!(tag_of("127.0.0.1:5000/a:t").as_deref(), Some("t"));
        assert_eq!(tag_of("127.0.0.1:5000/a"), None);
        assert_eq!(tag_of("r.io/a@sha256:00"), None);
    }
}
