//! Which tag the current content has: the one already pushed (through the index artifact),
//! the one already built locally, or a new one from the template and the clock.

use imprint_context::ContextHash;

use crate::artifact::{self, Pushed};
use crate::error::UsageError;
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
    /// The base images hashed (from imprint.lock).
    pub bases: crate::lock::Bases,
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
    resolve_with(settings, printer, offline, rebuild, false).await
}

/// [`resolve`] for commands that only read (`preview`, `status`): imprint.lock is not written.
pub async fn resolve_read_only(
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<Resolution> {
    resolve_with(settings, printer, false, false, true).await
}

async fn resolve_with(
    settings: &Settings,
    printer: &Printer,
    offline: bool,
    rebuild: bool,
    read_only: bool,
) -> anyhow::Result<Resolution> {
    let bases = crate::lock::prepare(
        settings,
        printer,
        crate::lock::Mode {
            offline,
            locked: settings.locked,
            update: false,
            read_only,
        },
    )
    .await?;
    let mut build = settings.build.clone();
    build.params.base_images = bases.images.clone();
    let hashed = crate::commands::tag::compute(&build, printer)?;
    let hash = hashed.hex();
    let mut existing = None;
    if !offline {
        if settings.registry.is_some() {
            let registry = settings.registry_client(printer).await?;
            if let Some(pushed) = artifact::lookup(&registry, &hash).await? {
                existing = Some((pushed.tag.clone(), Source::Pushed(pushed)));
            }
        }
        if existing.is_none() {
            match crate::builder::find_local(&settings.build, &hash) {
                Ok(Some(image)) => {
                    let tag = image
                        .rsplit_once(':')
                        .map_or(image.as_str(), |(_, t)| t)
                        .to_string();
                    existing = Some((tag, Source::Built(image)));
                }
                Ok(None) => {}
                Err(e) => tracing::info!("no local image lookup: {e:#}"),
            }
        }
    }
    match existing {
        Some((tag, source)) if !rebuild => Ok(Resolution {
            tag,
            source,
            hashed,
            bases,
        }),
        Some((old, _)) => {
            let tag = new_tag(settings, &hash, Some(&old))?;
            Ok(Resolution {
                tag,
                source: Source::New,
                hashed,
                bases,
            })
        }
        None => Ok(Resolution {
            tag: new_tag(settings, &hash, None)?,
            source: Source::New,
            hashed,
            bases,
        }),
    }
}

/// A tag from the template and the clock, never equal to `old` (a rebuild within the same
/// second takes the next second: a tag is never moved to another image).
fn new_tag(settings: &Settings, hash: &str, old: Option<&str>) -> anyhow::Result<String> {
    let template = &settings.build.template;
    let mut now = crate::now_for_tags()?;
    let mut tag = template.render(hash, now);
    if let Some(old) = old {
        if !template.has_timestamp() {
            return Err(UsageError::new(
                format!("--rebuild cannot give a new tag: the template `{}` has no {{timestamp}}, so this content is always `{old}`", template.as_str()),
                "add {timestamp} to [image] tag, or drop --rebuild",
            )
            .into());
        }
        while tag == old {
            now += 1;
            tag = template.render(hash, now);
        }
    }
    Ok(tag)
}
