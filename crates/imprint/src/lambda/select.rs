//! Which functions imprint looks after: chosen by name (`[deploy] functions`) or by a Lambda
//! tag (`[deploy] select`), narrowed by `--function`.

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
    let mut marker: Option<String> = None;
    loop {
        let page = client
            .call("ListFunctions", || {
                client
                    .sdk
                    .list_functions()
                    .set_marker(marker.clone())
                    .send()
            })
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "failed to list the Lambda functions: {}",
                    client.error_text(&e)
                )
            })?;
        for f in page.functions() {
            let Some(arn) = f.function_arn() else {
                continue;
            };
            let tags = client
                .call("ListTags", || client.sdk.list_tags().resource(arn).send())
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "failed to read the tags of {arn}: {}",
                        client.error_text(&e)
                    )
                })?;
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
    Ok(found)
}
