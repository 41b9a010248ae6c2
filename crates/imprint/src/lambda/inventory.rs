//! What images a function still needs, for `gc`: `$LATEST`, every published version and
//! the versions its aliases route to; and deleting a version no one uses.

use std::collections::BTreeMap;

use super::aliases::{list_aliases, AliasRoutes};
use super::function::read_function;
use super::retry::Lambda;
use super::select::list_all;

/// A function's references to images.
#[derive(Debug, Clone, Default)]
pub struct FunctionImages {
    /// The function.
    pub name: String,
    /// The digest `$LATEST` runs, when it is an image.
    pub latest: Option<String>,
    /// Each published version with the digest it runs (its CodeSha256, which for an image
    /// function is the image's manifest digest).
    pub versions: BTreeMap<String, Option<String>>,
    /// Every alias.
    pub aliases: Vec<AliasRoutes>,
}

impl FunctionImages {
    /// Versions some alias routes traffic to.
    pub fn aliased(&self) -> impl Iterator<Item = &str> {
        self.aliases
            .iter()
            .flat_map(|a| std::iter::once(&a.version).chain(&a.weighted))
            .map(String::as_str)
    }
}

/// Reads `$LATEST`, the versions and the aliases of `name`.
pub async fn read_images(client: &Lambda, name: &str) -> anyhow::Result<FunctionImages> {
    let (latest, versions, aliases) = tokio::try_join!(
        read_function(client, name),
        list_versions(client, name),
        list_aliases(client, name)
    )?;
    Ok(FunctionImages {
        name: name.to_string(),
        latest: latest.image().and_then(|i| i.digest),
        versions,
        aliases,
    })
}

/// Every published version (not `$LATEST`) with its image digest.
async fn list_versions(
    client: &Lambda,
    name: &str,
) -> anyhow::Result<BTreeMap<String, Option<String>>> {
    let mut out = BTreeMap::new();
    let list = |marker| {
        client
            .sdk
            .list_versions_by_function()
            .function_name(name)
            .set_marker(marker)
            .send()
    };
    let (what, failed) = (
        format!("ListVersionsByFunction {name}"),
        format!("failed to list the versions of {name}"),
    );
    client
        .pages(&what, &failed, list, |page| {
            for version in page.versions() {
                match version.version().unwrap_or("$LATEST") {
                    "$LATEST" => {}
                    number => {
                        out.insert(number.to_string(), code_digest(version.code_sha256()));
                    }
                }
            }
            page.next_marker().map(str::to_string)
        })
        .await?;
    Ok(out)
}

/// An image function's CodeSha256 as the digest of the image it runs.
fn code_digest(code_sha256: Option<&str>) -> Option<String> {
    code_sha256
        .filter(|sha| sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(|sha| format!("sha256:{sha}"))
}

/// One version (or `$LATEST`) of an image function of the region, with the digest it runs
/// when Lambda says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionVersion {
    /// The function.
    pub function: String,
    /// `$LATEST` or a version number.
    pub version: String,
    /// The digest of the image it runs.
    pub digest: Option<String>,
}

/// Every version of every image function of the region, with its digest, in one listing
/// (aliases route only to versions, so they name nothing more).
pub async fn region_image_versions(client: &Lambda) -> anyhow::Result<Vec<RegionVersion>> {
    Ok(list_all(client, true)
        .await?
        .into_iter()
        .filter(|listed| listed.image)
        .map(|listed| RegionVersion {
            digest: code_digest(listed.code_sha256.as_deref()),
            function: listed.name,
            version: listed.version,
        })
        .collect())
}

/// Deletes version `version` of `name` (never `$LATEST`).
pub async fn delete_version(client: &Lambda, name: &str, version: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        version.bytes().all(|b| b.is_ascii_digit()) && !version.is_empty(),
        "refusing to delete {name}:{version}: only numbered versions are deleted"
    );
    client
        .call(&format!("DeleteFunction {name}:{version}"), || {
            client
                .sdk
                .delete_function()
                .function_name(name)
                .qualifier(version)
                .send()
        })
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "failed to delete version {version} of {name}: {}",
                client.error_text(&e)
            )
        })?;
    Ok(())
}
