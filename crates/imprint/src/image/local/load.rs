//! A native image put into the local engine for `run-local`: its own layers from the native
//! store, its base's layers from the base's registry (downloaded once, checked, and kept in the
//! store), all streamed to `docker load` as one archive.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::Context as _;
use imprint_context::BuilderKind;

use crate::config::builder_program;
use crate::image::build::native::Store;
use crate::image::build::LocalImage;
use crate::image::push::archive::Image;
use crate::registry::ImageName;
use crate::session::Session;

/// Makes the native image `image` runnable by the local engine under its name: nothing
/// happens when the engine already has it; else the base's layers this machine lacks are
/// downloaded into the store and the image is loaded.
pub async fn load_native(session: &Session, image: &LocalImage) -> anyhow::Result<()> {
    let engine = builder_program(BuilderKind::Native);
    let stored = Store::open()?;
    let built = stored
        .image(&image.id)
        .with_context(|| format!("the native store has no image {image} ({})", image.id))?;
    if engine_has(&engine, &image.name, &built) {
        return Ok(());
    }
    let files = layer_files(session, &stored, &built).await?;
    let reporter = session.reporter();
    reporter.step(&format!("loading {} into {engine}", image.name));
    write_archive(&engine, &image.name, &built, &files)
}

/// Whether the engine has `name` as this image (its id is the config's digest, or the
/// manifest's where the engine keeps images by manifest).
fn engine_has(engine: &str, name: &str, image: &Image) -> bool {
    let Ok(out) = Command::new(engine)
        .args(["image", "inspect", "--format", "{{.Id}}", name])
        .stderr(Stdio::null())
        .output()
    else {
        return false;
    };
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    out.status.success() && (id == image.config_digest || id == image.digest)
}

/// Every layer's compressed file, bottom first: the store's, and those it borrows (the
/// base's, a deployed image's dependency layer) brought from their registry into the store.
async fn layer_files(
    session: &Session,
    store: &Store,
    image: &Image,
) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut from = HashMap::new();
    for layer in &image.layers {
        if let Some(path) = layer
            .path
            .clone()
            .or_else(|| store.stored_blob(&layer.digest))
        {
            files.push(path);
            continue;
        }
        let borrowed = image
            .lender(&layer.digest)
            .with_context(|| format!("the layer {} is in no store and no base", layer.digest))?;
        let registry = match from.get(&borrowed.reference) {
            Some(registry) => registry,
            None => {
                let name = ImageName::parse(&borrowed.reference)?;
                let registry = session.registry_for(&name.repository, None).await?;
                from.entry(borrowed.reference.clone()).or_insert(registry)
            }
        };
        let scratch = store.tmp_dir().join(format!(
            "download-{}-{:08x}",
            layer.digest.replace(':', "-"),
            fastrand::u32(..)
        ));
        registry
            .download_blob(&layer.digest, layer.size, &scratch)
            .await
            .with_context(|| {
                format!(
                    "failed to download the layer {} of {}",
                    layer.digest, borrowed.reference
                )
            })?;
        files.push(store.adopt_blob(&scratch, &layer.digest)?);
    }
    Ok(files)
}

/// Streams `image` as a `docker save` archive (its layers compressed, as `load` accepts them)
/// into `<engine> load`, tagged `name`.
fn write_archive(engine: &str, name: &str, image: &Image, files: &[PathBuf]) -> anyhow::Result<()> {
    let mut child = Command::new(engine)
        .args(["load", "--quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {engine}"))?;
    let stdin = child.stdin.take().context("no pipe to the engine")?;
    let hex = |digest: &str| digest.trim_start_matches("sha256:").to_string();
    let config_name = format!("{}.json", hex(&image.config_digest));
    let layer_names: Vec<String> = image
        .layers
        .iter()
        .map(|l| format!("{}.tar.gz", hex(&l.digest)))
        .collect();
    let manifest = serde_json::to_vec(&serde_json::json!([{
        "Config": config_name,
        "RepoTags": [name],
        "Layers": layer_names,
    }]))?;
    let written = (|| -> std::io::Result<()> {
        let mut tar = tar::Builder::new(std::io::BufWriter::new(stdin));
        append(&mut tar, &config_name, &image.config)?;
        for (file, member) in files.iter().zip(&layer_names) {
            tar.append_path_with_name(file, member)?;
        }
        append(&mut tar, "manifest.json", &manifest)?;
        tar.into_inner()?.flush()
    })();
    let out = child.wait_with_output()?;
    let said = String::from_utf8_lossy(&out.stderr);
    anyhow::ensure!(
        out.status.success(),
        "{engine} load did not take {name}: {}",
        said.trim()
    );
    written.with_context(|| format!("failed to send {name} to {engine} load"))
}

fn append<W: std::io::Write>(
    tar: &mut tar::Builder<W>,
    name: &str,
    bytes: &[u8],
) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, name, bytes)
}
