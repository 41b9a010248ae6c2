//! The local tree's image on this machine: found in the registry or the builder, or built now
//! (the native builder with the layers the registry holds, `[image] unused`'s check after).

use anyhow::Context as _;

use super::build::{self, BuildRequest, Builder, LocalImage};
use super::push::index;
use super::source::Source;
use super::tag::{now_for_tags, tag_content, TagQuery, TagSource, Tagged};
use crate::config::Settings;
use crate::session::Session;

/// Where the image for the content is once [`bring_built`] is done.
#[derive(Debug)]
pub enum OnMachine {
    /// The registry holds it already: nothing is built.
    AlreadyPushed,
    /// This machine holds it already.
    AlreadyBuilt(LocalImage),
    /// It was built now.
    Built(LocalImage),
}

/// Says that the registry holds the image for the content already.
pub(crate) async fn note_already_pushed(
    session: &Session,
    pushed: &index::Pushed,
) -> anyhow::Result<()> {
    session.reporter().note(&format!(
        "{} is already pushed ({}); nothing to build or push (--rebuild makes a new image)",
        session.registry().await?.repository.uri(&pushed.tag),
        pushed.digest
    ));
    Ok(())
}

/// The image for `tagged` on this machine, unless the registry holds it: built when nothing
/// is (`fresh`: without the builder's cache; `source` labels it).
pub async fn bring_built(
    session: &Session,
    tagged: &Tagged,
    fresh: bool,
    source: &Source,
) -> anyhow::Result<OnMachine> {
    match &tagged.source {
        TagSource::Pushed(pushed) => {
            note_already_pushed(session, pushed).await?;
            Ok(OnMachine::AlreadyPushed)
        }
        TagSource::Built(local) => {
            session.reporter().note(&format!(
                "this content is already built as {local}; nothing to build (--rebuild makes a new image)"
            ));
            Ok(OnMachine::AlreadyBuilt(local.clone()))
        }
        TagSource::New => Ok(OnMachine::Built(
            build_new(session, tagged, fresh, source).await?,
        )),
    }
}

/// The local tree tagged (imprint.lock written as `build` writes it), and its image found in
/// the registry or on this machine, or built now.
pub async fn bring_tree_built(
    session: &Session,
    source: &Source,
    offline: bool,
    rebuild: bool,
) -> anyhow::Result<(Tagged, OnMachine)> {
    let query = TagQuery {
        offline,
        rebuild,
        read_only: false,
        source: Some(source),
    };
    let tagged = tag_content(session, query)
        .await
        .context("failed to work out the tag")?;
    let on_machine = bring_built(session, &tagged, rebuild, source).await?;
    Ok((tagged, on_machine))
}

/// `push --rebuild`: the newest local build of this content (from `build --rebuild`) goes
/// out under its own tag even though the registry holds an image for the content already.
pub fn prefer_newest_build(settings: &Settings, tagged: &mut Tagged) -> anyhow::Result<()> {
    if let Some(image) = build::for_settings(&settings.build).find(&tagged.hash())? {
        let tag = image.tag().to_string();
        if tag != tagged.tag {
            tagged.tag = tag;
            tagged.source = TagSource::Built(image);
        }
    }
    Ok(())
}

/// Builds the image for content that has none yet, with the OCI labels of its `source` (a
/// dirty tree is a warning, or refused with `--require-clean`). `fresh` turns the builder's
/// cache off.
pub async fn build_new(
    session: &Session,
    tagged: &Tagged,
    fresh: bool,
    source: &Source,
) -> anyhow::Result<LocalImage> {
    let builder = build::for_settings(&session.settings.build);
    // A dependency layer the deployed image holds is taken from the registry.
    let deployed = build::native::Deployed::new(session);
    let known = session
        .settings
        .registry
        .is_some()
        .then_some(&deployed as &dyn build::KnownLayers);
    let image = build_with(session, tagged, fresh, source, builder.as_ref(), known).await?;
    session.reporter().note(&format!("built {image}"));
    let check = session.settings.build.unused;
    crate::image::inspect::after_build(session, &image, &tagged.bases.images, check).await?;
    Ok(image)
}

/// [`build_new`] with `builder` (`verify`'s native builder with a store of its own) and the
/// layers it may take from the registry.
pub async fn build_with(
    session: &Session,
    tagged: &Tagged,
    fresh: bool,
    source: &Source,
    builder: &dyn Builder,
    known: Option<&dyn build::KnownLayers>,
) -> anyhow::Result<LocalImage> {
    let settings = &session.settings;
    let name = format!("{}:{}", settings.image_name, tagged.tag);
    if let Some(warning) = source.check_clean(settings.build.require_clean)? {
        session.reporter().warn(&warning);
    }
    let created = imprint_context::format_rfc3339(now_for_tags()?);
    let base = match builder.reads_base() {
        true => build::native::fetch_base(session, &tagged.bases.images)
            .await
            .context("failed to read the base image")?,
        false => None,
    };
    let request = BuildRequest {
        name: &name,
        hash: &tagged.hash(),
        fresh,
        bases: &tagged.bases.images,
        labels: &source.labels(created),
        inputs: &tagged.hashed.inputs,
        base: base.as_ref(),
        known,
    };
    builder
        .build(&request, session.reporter())
        .with_context(|| format!("failed to build {name}"))
}
