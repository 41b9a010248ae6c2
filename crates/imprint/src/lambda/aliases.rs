//! Aliases: which of a function's aliases route traffic away from `$LATEST`.

use super::retry::Lambda;

/// Aliases of the function that route traffic somewhere other than `$LATEST` (so updating
/// `$LATEST` does not change what their callers run).
pub async fn routing_aliases(client: &Lambda, name: &str) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = client
            .call(&format!("ListAliases {name}"), || {
                client
                    .sdk
                    .list_aliases()
                    .function_name(name)
                    .set_marker(marker.clone())
                    .send()
            })
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "failed to list the aliases of {name}: {}",
                    client.error_text(&e)
                )
            })?;
        for alias in page.aliases() {
            let version = alias.function_version().unwrap_or("$LATEST");
            let weighted = alias
                .routing_config()
                .and_then(|r| r.additional_version_weights())
                .is_some_and(|w| !w.is_empty());
            if version != "$LATEST" || weighted {
                out.push(format!(
                    "{} → version {version}{}",
                    alias.name().unwrap_or("?"),
                    if weighted { " (weighted)" } else { "" }
                ));
            }
        }
        match page.next_marker() {
            Some(next) if !next.is_empty() => marker = Some(next.to_string()),
            _ => return Ok(out),
        }
    }
}
