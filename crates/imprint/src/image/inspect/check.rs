//! What a build says about its image (`[image] unused`): one line with its size, the change
//! from the deployed image's and what no handler imports; a warning, or a stop, when a
//! package is unused and the project asks for it.

use std::fmt;

use imprint_context::BaseImage;
use serde::Serialize;

use super::read::{Commands, Subject};
use super::report::{human, Unused};
use super::run::inspect;
use crate::config::UnusedCheck;
use crate::error::UsageError;
use crate::image::build::{self, ExportWay, LocalImage};
use crate::journal;
use crate::session::Session;

/// The image of the newest successful deployment, to compare with.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Deployed {
    /// Its tag and compressed bytes.
    Image(String, u64),
    /// No registry, or nothing deployed yet.
    Nothing,
    /// The registry could not say (why).
    Unknown(String),
}

/// The line a build ends with.
#[derive(Debug, Clone, Serialize)]
pub struct BuiltSize {
    /// Compressed bytes of the image's layers.
    pub size: u64,
    /// The deployed image.
    pub deployed: Deployed,
    /// Packages no handler imports (the base's left out).
    pub unused: Unused,
}

impl fmt::Display for BuiltSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "image {} compressed", human(self.size))?;
        match &self.deployed {
            Deployed::Image(tag, size) => {
                let (sign, delta) = match self.size >= *size {
                    true => ('+', self.size - size),
                    false => ('-', size - self.size),
                };
                write!(f, " ({sign}{} from the deployed {tag})", human(delta))?;
            }
            Deployed::Nothing => f.write_str(" (nothing deployed to compare with)")?,
            Deployed::Unknown(why) => write!(f, " (the deployed image's size is unknown: {why})")?,
        }
        let bytes = human(self.unused.size);
        match self.unused.packages {
            0 => f.write_str(", every package reached by a handler"),
            1 => write!(f, ", {bytes} in 1 package no handler imports"),
            n => write!(f, ", {bytes} in {n} packages no handler imports"),
        }
    }
}

/// After `image` was built: the line, and `[image] unused`'s warning or stop. `report` runs
/// only where the layers are at hand (the native builder's store); `warn` and `fail` export
/// the image from any builder. With `report`, a failure to inspect is only a warning.
pub async fn after_build(
    session: &Session,
    image: &LocalImage,
    bases: &[BaseImage],
    check: UnusedCheck,
) -> anyhow::Result<()> {
    let settings = &session.settings;
    let written = build::for_settings(&settings.build).export_way() == ExportWay::Written;
    match check {
        UnusedCheck::Off => return Ok(()),
        UnusedCheck::Report if !written => return Ok(()),
        _ => {}
    }
    let reporter = session.reporter();
    let report = match inspect(session, Subject::Built { image, bases }, Commands::Lambda).await {
        Ok(report) => report,
        Err(e) if check == UnusedCheck::Report => {
            reporter.warn(&format!("cannot inspect {image} ({e:#})"));
            return Ok(());
        }
        Err(e) => return Err(e.context(format!("[image] unused: cannot inspect {image}"))),
    };
    let line = BuiltSize {
        size: report.size,
        deployed: deployed_size(session).await,
        unused: report.unused.clone(),
    };
    let unused = &report.unused.names;
    reporter.note(&line.to_string());
    if unused.is_empty() {
        return Ok(());
    }
    let what = format!(
        "{} no handler imports: {}",
        if unused.len() == 1 {
            "a package".to_string()
        } else {
            format!("{} packages", unused.len())
        },
        unused.join(", ")
    );
    match check {
        UnusedCheck::Warn => reporter.warn(&format!(
            "{image} holds {what} (`imprint inspect` says why and what to do)"
        )),
        UnusedCheck::Fail => {
            return Err(UsageError::new(
                format!("{image} holds {what}, and [image] unused = \"fail\""),
                "move them out of the image (`imprint inspect` names them and the dependency group they could go to), or set [image] unused = \"warn\"",
            )
            .into())
        }
        _ => {}
    }
    Ok(())
}

/// The tag and compressed size of the newest successful deployment's image.
async fn deployed_size(session: &Session) -> Deployed {
    if session.settings.registry.is_none() {
        return Deployed::Nothing;
    }
    let read = async {
        let registry = session.registry().await?;
        let Some(record) = journal::newest_succeeded(registry).await? else {
            return Ok(Deployed::Nothing);
        };
        let tag = record.tag;
        let size = registry
            .image_size(&tag)
            .await?
            .ok_or_else(|| anyhow::anyhow!("{tag} is gone from the registry"))?;
        anyhow::Ok(Deployed::Image(tag, size))
    };
    read.await
        .unwrap_or_else(|e| Deployed::Unknown(format!("{e:#}")))
}
