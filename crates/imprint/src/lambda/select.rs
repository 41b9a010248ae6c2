//! Which functions imprint looks after: chosen by name (`[deploy] functions`) or by a Lambda
//! tag (`[deploy] select`), narrowed by `--function`.

use super::function::{read_functions, Function};
use super::retry::Lambda;
use crate::config::{DeploySection, Selector};
use crate::error::UsageError;

/// The configured functions, narrowed to `only` when it is not empty.
pub async fn select(
    client: &Lambda,
    deploy: &DeploySection,
    only: &[String],
) -> anyhow::Result<Vec<String>> {
    let mut names = match (&deploy.functions, &deploy.select) {
        (Some(list), _) => list.clone(),
        (None, Some(selector)) => tagged(client, selector).await?,
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

/// Every function whose Lambda tag matches, sorted by name.
async fn tagged(client: &Lambda, selector: &Selector) -> anyhow::Result<Vec<String>> {
    let mut found = Vec::new();
    for listed in list_all(client, false).await? {
        if has_tag(client, &listed.arn, selector).await? {
            found.push(listed.name);
        }
    }
    found.sort();
    Ok(found)
}

/// Every image function of the region (only those `selector` matches, when given), read
/// whole (ListFunctions does not name the image), sorted by name: what `imprint init`
/// proposes.
pub async fn image_functions(
    client: &Lambda,
    selector: Option<&Selector>,
) -> anyhow::Result<Vec<Function>> {
    let mut names = Vec::new();
    for listed in list_all(client, false)
        .await?
        .into_iter()
        .filter(|f| f.image)
    {
        let selected = match selector {
            Some(selector) => has_tag(client, &listed.arn, selector).await?,
            None => true,
        };
        if selected {
            names.push(listed.name);
        }
    }
    names.sort();
    read_functions(client, &names).await
}

/// A function as ListFunctions lists it (one of its versions, listing every version).
pub(super) struct Listed {
    pub(super) name: String,
    arn: String,
    pub(super) image: bool,
    /// `$LATEST` or a version number.
    pub(super) version: String,
    /// Its CodeSha256: for an image function, the digest of the image it runs.
    pub(super) code_sha256: Option<String>,
}

/// Every function of the region, page by page; with `every_version`, every published
/// version of each too.
pub(super) async fn list_all(client: &Lambda, every_version: bool) -> anyhow::Result<Vec<Listed>> {
    let mut found = Vec::new();
    let versions = every_version.then_some(aws_sdk_lambda::types::FunctionVersion::All);
    let list = |marker| {
        client
            .sdk
            .list_functions()
            .set_function_version(versions.clone())
            .set_marker(marker)
            .send()
    };
    let failed = "failed to list the Lambda functions";
    client
        .pages("ListFunctions", failed, list, |page| {
            for f in page.functions() {
                let (Some(name), Some(arn)) = (f.function_name(), f.function_arn()) else {
                    continue;
                };
                found.push(Listed {
                    name: name.to_string(),
                    arn: arn.to_string(),
                    image: f.package_type() == Some(&aws_sdk_lambda::types::PackageType::Image),
                    version: f.version().unwrap_or("$LATEST").to_string(),
                    code_sha256: f.code_sha256().map(str::to_string),
                });
            }
            page.next_marker().map(str::to_string)
        })
        .await?;
    Ok(found)
}

/// Whether the function `arn` has the selector's tag and value.
async fn has_tag(client: &Lambda, arn: &str, selector: &Selector) -> anyhow::Result<bool> {
    let tags = client
        .call("ListTags", || client.sdk.list_tags().resource(arn).send())
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "failed to read the tags of {arn}: {}",
                client.error_text(&e)
            )
        })?;
    Ok(tags.tags().and_then(|t| t.get(&selector.tag)) == Some(&selector.value))
}
