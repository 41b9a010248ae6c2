//! `imprint inspect`'s report: the layers, the Python packages largest first with their
//! verdicts, the duplicates of the base's packages, the files that should not ship, and what
//! to do about the unused ones.

use std::fmt;

use serde::Serialize;

use super::reach::{Computed, Verdict};
use super::waste::Waste;

/// Where the image was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReadFrom {
    /// The registry, layer by layer.
    Registry,
    /// The builder on this machine (its export).
    Local,
}

/// One layer.
#[derive(Debug, Clone, Serialize)]
pub struct LayerReport {
    /// Its digest (compressed).
    pub digest: String,
    /// Compressed bytes.
    pub size: u64,
    /// Bytes of its files unpacked.
    pub size_on_disk: u64,
    /// Its entries.
    pub entries: u64,
    /// The instruction that made it (the config's history).
    pub created_by: Option<String>,
    /// It is the base image's.
    pub base: bool,
}

/// One installed distribution.
#[derive(Debug, Clone, Serialize)]
pub struct PackageReport {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The folder it is installed in.
    pub location: String,
    /// Its files in the image.
    pub files: usize,
    /// The top-level modules and packages its files make importable.
    pub provides: Vec<String>,
    /// Its largest files (at most five): path, bytes on disk.
    pub largest_files: Vec<(String, u64)>,
    /// Their bytes on disk.
    pub size: u64,
    /// Whether the handlers reach it.
    pub verdict: Verdict,
    /// Why.
    pub why: String,
    /// It comes with the base image (not counted as the project's to remove).
    pub base: bool,
}

/// One copy of a distribution installed twice.
#[derive(Debug, Clone, Serialize)]
pub struct Copy {
    /// Its version.
    pub version: String,
    /// Its folder.
    pub location: String,
    /// It is the base image's.
    pub base: bool,
}

/// A distribution installed in more than one folder (the first on the search path wins).
#[derive(Debug, Clone, Serialize)]
pub struct Duplicate {
    /// Its name.
    pub name: String,
    /// Each copy, in the order Python finds them.
    pub copies: Vec<Copy>,
}

/// What to do about the unused packages of a uv project.
#[derive(Debug, Clone, Serialize)]
pub struct Advice {
    /// Unused packages the project lists itself in `[project] dependencies`.
    pub direct: Vec<String>,
    /// The dependency group they could move to.
    pub group: String,
    /// The commands.
    pub commands: Vec<String>,
}

/// A handler followed.
#[derive(Debug, Clone, Serialize)]
pub struct Handler {
    /// `module.function (who runs it)`.
    pub handler: String,
    /// Whether its module is in the image.
    pub found: bool,
}

/// The sum of the packages no handler reaches (the base's left out).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Unused {
    /// How many.
    pub packages: usize,
    /// Their bytes on disk.
    pub size: u64,
    /// Their names, largest first.
    pub names: Vec<String>,
}

/// `imprint inspect`.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    /// The image.
    pub image: String,
    /// Its manifest digest.
    pub digest: String,
    /// Where it was read from.
    pub read_from: ReadFrom,
    /// Compressed bytes of its layers.
    pub size: u64,
    /// Bytes of its files unpacked (after whiteouts).
    pub size_on_disk: u64,
    /// Its Python.
    pub python: Option<String>,
    /// The base image the bottom layers are, when imprint could read it.
    pub base_image: Option<String>,
    /// Layers, bottom first.
    pub layers: Vec<LayerReport>,
    /// The handlers followed.
    pub handlers: Vec<Handler>,
    /// Python's search path for the handlers.
    pub search_path: Vec<String>,
    /// Installed distributions, largest first.
    pub packages: Vec<PackageReport>,
    /// Those no handler reaches, outside the base.
    pub unused: Unused,
    /// Distributions installed twice.
    pub duplicates: Vec<Duplicate>,
    /// Imports with a computed name in files the handlers reach.
    pub computed_imports: Vec<Computed>,
    /// Python sources too large to read.
    pub unread: Vec<String>,
    /// Files that should not ship.
    pub should_not_ship: Vec<Waste>,
    /// What to do about the unused packages.
    pub advice: Option<Advice>,
    /// What imprint could not find out (and so did not judge).
    pub notes: Vec<String>,
}

/// Bytes for people: `12.3 MB`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

impl fmt::Display for Inspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} ({})", self.image, self.digest)?;
        writeln!(
            f,
            "  {} compressed, {} on disk{}{}",
            human(self.size),
            human(self.size_on_disk),
            self.python
                .as_ref()
                .map(|p| format!(", Python {p}"))
                .unwrap_or_default(),
            self.base_image
                .as_ref()
                .map(|b| format!(", on {b}"))
                .unwrap_or_default()
        )?;
        writeln!(f, "\nlayers (compressed, on disk, instruction)")?;
        for (index, layer) in self.layers.iter().enumerate() {
            let made = layer.created_by.as_deref().unwrap_or("?");
            let made = made.strip_prefix("/bin/sh -c ").unwrap_or(made);
            let made: String = made.chars().take(80).collect();
            writeln!(
                f,
                "  {index:>3} {:>9} {:>9}  {}{made}",
                human(layer.size),
                human(layer.size_on_disk),
                if layer.base { "(base) " } else { "" }
            )?;
        }
        self.fmt_packages(f)?;
        self.fmt_findings(f)
    }
}

impl Inspection {
    fn fmt_packages(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let handlers: Vec<String> = self
            .handlers
            .iter()
            .map(|h| match h.found {
                true => h.handler.clone(),
                false => format!("{}: NOT FOUND", h.handler),
            })
            .collect();
        writeln!(
            f,
            "\npackages, largest first (handlers: {})",
            if handlers.is_empty() {
                "none known".into()
            } else {
                handlers.join(", ")
            }
        )?;
        for p in &self.packages {
            let verdict = match p.verdict {
                Verdict::Used => "used",
                Verdict::Maybe => "maybe",
                Verdict::Unused => "UNUSED",
            };
            writeln!(
                f,
                "  {:>9}  {:<6} {} {} in /{}{}: {}",
                human(p.size),
                verdict,
                p.name,
                p.version,
                p.location,
                if p.base { " (base)" } else { "" },
                p.why
            )?;
        }
        Ok(())
    }

    fn fmt_findings(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unused = &self.unused.names;
        if unused.is_empty() {
            writeln!(f, "\nno handler leaves a package of the image unused")?;
        } else {
            writeln!(
                f,
                "\n{} {} no handler imports: {}",
                human(self.unused.size),
                if unused.len() == 1 {
                    "in 1 package".to_string()
                } else {
                    format!("in {} packages", unused.len())
                },
                unused.join(", ")
            )?;
        }
        if let Some(advice) = &self.advice {
            writeln!(
                f,
                "  {} {} listed in pyproject.toml; move {} to the dependency group `{}` (the image's `uv export --no-dev` / `uv sync --no-dev` leaves other groups out):",
                advice.direct.join(", "),
                if advice.direct.len() == 1 { "is" } else { "are" },
                if advice.direct.len() == 1 { "it" } else { "them" },
                advice.group
            )?;
            for command in &advice.commands {
                writeln!(f, "    {command}")?;
            }
        }
        for d in &self.duplicates {
            let copies: Vec<String> = d
                .copies
                .iter()
                .map(|c| {
                    format!(
                        "{} in /{}{}",
                        c.version,
                        c.location,
                        if c.base { " (base)" } else { "" }
                    )
                })
                .collect();
            writeln!(
                f,
                "duplicate: {} installed twice, {} (the first is the one imported)",
                d.name,
                copies.join(" and ")
            )?;
        }
        let mut in_packages: std::collections::BTreeMap<&str, usize> = Default::default();
        for c in &self.computed_imports {
            match &c.package {
                Some(package) => *in_packages.entry(package).or_default() += 1,
                None => writeln!(
                    f,
                    "computed import at {}:{}: static reading cannot follow it",
                    c.file, c.line
                )?,
            }
        }
        if !in_packages.is_empty() {
            let each: Vec<String> = in_packages
                .iter()
                .map(|(p, n)| format!("{p} {n}"))
                .collect();
            writeln!(
                f,
                "computed imports inside packages the handlers use ({}): what they load is counted as used only if a static import reaches it too (--json lists them)",
                each.join(", ")
            )?;
        }
        for w in &self.should_not_ship {
            let places: Vec<String> = w
                .places
                .iter()
                .map(|(p, s)| format!("{p} {}", human(*s)))
                .collect();
            writeln!(
                f,
                "should not ship: {} ({} files, {}): {}",
                w.what,
                w.files,
                human(w.size),
                places.join(", ")
            )?;
        }
        for path in &self.unread {
            writeln!(f, "not read (too large): /{path}")?;
        }
        for note in &self.notes {
            writeln!(f, "note: {note}")?;
        }
        Ok(())
    }
}
