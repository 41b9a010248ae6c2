//! Which functions imprint looks after: chosen by name (`[deploy] functions`) or by a Lambda
//! tag (`[deploy] select`), narrowed by `--function`.

use std::collections::BTreeSet;

use aws_sdk_lambda::config::http::HttpResponse;
use aws_sdk_lambda::error::{ProvideErrorMetadata as _, SdkError};
use aws_sdk_resourcegroupstagging::operation::get_resources::GetResourcesError;
use aws_sdk_resourcegroupstagging::types::TagFilter;

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
        (None, Some(selector)) => tagged(client, selector)
            .await?
            .into_iter()
            .map(|l| l.name)
            .collect(),
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

/// Every function whose Lambda tag matches, sorted by name: the Resource Groups Tagging API
/// names the tagged functions, a hundred a page and outside Lambda's quotas (a ListTags for
/// each function of the region would spend the control plane's 15 a second on every one),
/// and ListFunctions, fifty a page, keeps those that exist now (the tagging API lags behind
/// a deletion). Without `tag:GetResources` (an older policy), each function's tags are read.
async fn tagged(client: &Lambda, selector: &Selector) -> anyhow::Result<Vec<Listed>> {
    let listed = list_all(client, false).await?;
    let mut found = match tagged_names(client, selector).await {
        Ok(names) => listed
            .into_iter()
            .filter(|l| names.contains(&l.name))
            .collect(),
        Err(e) if e.code() == Some("AccessDeniedException") => {
            tracing::warn!(
                "no tag:GetResources ({}); reading each function's tags instead, a control-plane call each",
                client.error_text(&e)
            );
            let mut found = Vec::new();
            for l in listed {
                if has_tag(client, &l.arn, selector).await? {
                    found.push(l);
                }
            }
            found
        }
        Err(e) => anyhow::bail!(
            "failed to find the functions tagged {}={}: {}",
            selector.tag,
            selector.value,
            client.error_text(&e)
        ),
    };
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

/// The names of the functions the tagging API says carry the selector's tag.
async fn tagged_names(
    client: &Lambda,
    selector: &Selector,
) -> Result<BTreeSet<String>, SdkError<GetResourcesError, HttpResponse>> {
    let filter = TagFilter::builder()
        .key(&selector.tag)
        .values(&selector.value)
        .build();
    let mut names = BTreeSet::new();
    let mut token: Option<String> = None;
    loop {
        let page = client
            .call_unpaced("GetResources", || {
                client
                    .tagging
                    .get_resources()
                    .resource_type_filters("lambda:function")
                    .tag_filters(filter.clone())
                    .resources_per_page(100)
                    .set_pagination_token(token.clone())
                    .send()
            })
            .await?;
        for mapping in page.resource_tag_mapping_list() {
            // arn:aws:lambda:REGION:ACCOUNT:function:NAME (a qualifier after it, if any).
            let arn = mapping.resource_arn().unwrap_or_default();
            if let Some(name) = arn.split(':').nth(6).filter(|n| !n.is_empty()) {
                names.insert(name.to_string());
            }
        }
        match page.pagination_token().filter(|t| !t.is_empty()) {
            Some(next) if token.as_deref() != Some(next) => token = Some(next.to_string()),
            _ => return Ok(names),
        }
    }
}

/// Every image function of the region (only those `selector` matches, when given), read
/// whole (ListFunctions does not name the image), sorted by name: what `imprint init`
/// proposes.
pub async fn image_functions(
    client: &Lambda,
    selector: Option<&Selector>,
) -> anyhow::Result<Vec<Function>> {
    let listed = match selector {
        Some(selector) => tagged(client, selector).await?,
        None => list_all(client, false).await?,
    };
    let mut names: Vec<String> = listed
        .into_iter()
        .filter(|f| f.image)
        .map(|f| f.name)
        .collect();
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
