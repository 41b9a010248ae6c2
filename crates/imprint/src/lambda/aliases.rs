//! Aliases: every alias with the versions it routes to, and which route away from `$LATEST`.

use super::retry::Lambda;

/// One alias and the versions it sends traffic to (its version first, then any weighted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasRoutes {
    /// The alias.
    pub name: String,
    /// Its version (`$LATEST` when it names none).
    pub version: String,
    /// Versions with a weight above zero besides it.
    pub weighted: Vec<String>,
}

/// Every alias of the function with the versions it routes to.
pub async fn list_aliases(client: &Lambda, name: &str) -> anyhow::Result<Vec<AliasRoutes>> {
    let mut out = Vec::new();
    let list = |marker| {
        client
            .sdk
            .list_aliases()
            .function_name(name)
            .set_marker(marker)
            .send()
    };
    let failed = format!("failed to list the aliases of {name}");
    client
        .pages(&format!("ListAliases {name}"), &failed, list, |page| {
            out.extend(page.aliases().iter().map(routes));
            page.next_marker().map(str::to_string)
        })
        .await?;
    Ok(out)
}

/// An alias as Lambda lists it, with the versions it routes to.
fn routes(alias: &aws_sdk_lambda::types::AliasConfiguration) -> AliasRoutes {
    let mut weighted: Vec<String> = alias
        .routing_config()
        .and_then(|r| r.additional_version_weights())
        .map(|w| {
            w.iter()
                .filter(|(_, share)| **share > 0.0)
                .map(|(v, _)| v.clone())
                .collect()
        })
        .unwrap_or_default();
    weighted.sort();
    AliasRoutes {
        name: alias.name().unwrap_or("?").to_string(),
        version: alias.function_version().unwrap_or("$LATEST").to_string(),
        weighted,
    }
}

/// Aliases of the function that route traffic somewhere other than `$LATEST` (so updating
/// `$LATEST` does not change what their callers run).
pub async fn routing_aliases(client: &Lambda, name: &str) -> anyhow::Result<Vec<String>> {
    Ok(list_aliases(client, name)
        .await?
        .into_iter()
        .filter(|a| a.version != "$LATEST" || !a.weighted.is_empty())
        .map(|a| {
            format!(
                "{} → version {}{}",
                a.name,
                a.version,
                if a.weighted.is_empty() {
                    ""
                } else {
                    " (weighted)"
                }
            )
        })
        .collect())
}
