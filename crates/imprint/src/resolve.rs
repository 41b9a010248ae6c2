//! Which tag the current content has: the one already pushed (through the index artifact),
//! the one already built locally, or a new one from the template and the clock.

use imprint_context::ContextHash;

use crate::artifact::{self, Pushed};
use crate::printer::Printer;
use crate::settings::Settings;

/// Where the tag came from.
#[derive(Debug, Clone)]
pub enum Source {
    /// The registry holds an image for this content.
    Pushed(Pushed),
    /// A local image (`name:tag`) was built from this content and not pushed yet.
    Built(String),
    /// Nothing exists for this content yet.
    New,
}

/// The current content, its tag, and where the tag came from.
#[derive(Debug, Clone)]
pub struct Resolution {
    /// The hashed context.
    pub hashed: ContextHash,
    /// The tag.
    pub tag: String,
    /// Where it came from.
    pub source: Source,
}

impl Resolution {
    /// The full hash in hex.
    pub fn hash(&self) -> String {
        self.hashed.hex()
    }
}

/// Hashes the context and finds its tag. `offline` skips the registry and the builder;
/// `rebuild` always gives a new tag.
pub async fn resolve(
    settings: &Settings,
    printer: &Printer,
    offline: bool,
    rebuild: bool,
) -> anyhow::Result<Resolution> {
    let hashed = crate::commands::tag::compute(&settings.build, printer)?;
    let hash = hashed.hex();
    if !offline && !rebuild {
        if settings.registry.is_some() {
            let registry = settings.registry_client()?;
            if let Some(pushed) = artifact::lookup(&registry, &hash).await? {
                return Ok(Resolution {
                    tag: pushed.tag.clone(),
                    source: Source::Pushed(pushed),
                    hashed,
                });
            }
        }
        match crate::builder::find_local(&settings.build, &hash) {
            Ok(Some(image)) => {
                let tag = image
                    .rsplit_once(':')
                    .map_or(image.as_str(), |(_, t)| t)
                    .to_string();
                return Ok(Resolution {
                    tag,
                    source: Source::Built(image),
                    hashed,
                });
            }
            Ok(None) => {}
            Err(e) => tracing::info!("no local image lookup: {e:#}"),
        }
    }
    let tag = settings
        .build
        .template
        .render(&hash, crate::now_for_tags()?);
    Ok(Resolution {
        tag,
        source: Source::New,
        hashed,
    })
}
