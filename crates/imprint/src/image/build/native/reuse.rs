//! Dependency layers the registry already holds: the newest deployed image's config says
//! under which key each of its dependency layers was made, so a build on a machine that never
//! made it (a fresh CI runner) takes it from there instead of running uv.

use std::fmt;

use anyhow::Context as _;
use tokio::runtime::{Handle, RuntimeFlavor};

use super::config::BaseImageData;
use crate::image::build::KnownLayers;
use crate::image::push::archive::{Borrowed, Layer};
use crate::journal;
use crate::session::Session;

/// The dependency layers of the image the journal of the configured repository says was
/// deployed last.
pub struct Deployed<'a> {
    session: &'a Session,
}

impl<'a> Deployed<'a> {
    /// Looks in the repository `session` is configured with.
    pub fn new(session: &'a Session) -> Self {
        Self { session }
    }

    /// The layer made under `key` in the newest deployed image, when the repository has it.
    async fn lookup(&self, key: &str) -> anyhow::Result<Option<(Layer, Borrowed)>> {
        let registry = self.session.registry().await?;
        let Some(record) = journal::newest_succeeded(registry).await? else {
            return Ok(None);
        };
        let reference = record.image.digest.as_deref().unwrap_or(&record.tag);
        let Some(manifest) = registry.get_manifest(reference).await? else {
            return Ok(None);
        };
        let parsed: serde_json::Value =
            serde_json::from_slice(&manifest.bytes).context("its manifest is not JSON")?;
        let Some(config_digest) = parsed["config"]["digest"].as_str() else {
            return Ok(None);
        };
        let Some(config) = registry.get_blob(config_digest).await? else {
            return Ok(None);
        };
        let name = format!("{}@{}", registry.repository, manifest.digest);
        let image = BaseImageData::new(&name, &manifest.bytes, &config)?;
        let Some(layer) = image.dependency_layer(key)? else {
            return Ok(None);
        };
        if !registry.has_blob(&layer.digest).await? {
            return Ok(None);
        }
        let borrowed = image.borrowed(std::slice::from_ref(&layer))?;
        Ok(Some((layer, borrowed)))
    }
}

impl fmt::Debug for Deployed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the deployed image's dependency layers")
    }
}

impl KnownLayers for Deployed<'_> {
    fn find(&self, key: &str) -> Option<(Layer, Borrowed)> {
        // The build is synchronous; the lookup waits for the registry on this thread while the
        // runtime's workers go on.
        let handle = Handle::try_current().ok()?;
        if handle.runtime_flavor() != RuntimeFlavor::MultiThread {
            tracing::debug!(
                "no registry lookup of dependency layers outside a multi-thread runtime"
            );
            return None;
        }
        let found = tokio::task::block_in_place(|| handle.block_on(self.lookup(key)));
        found.unwrap_or_else(|e| {
            self.session.reporter().note(&format!(
                "could not look for the dependency layer in the deployed image ({e:#}); uv installs it"
            ));
            None
        })
    }
}
