//! The context walk: every entry the builder would send, with file contents hashed as they are
//! found. Folders are read and files hashed in parallel; the result does not depend on the
//! order in which either happens.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::builder::BuilderKind;
use crate::cache::{Entry, HashCache, Stat};
use crate::error::ContextError;
use crate::hash::{hash_file, Observer};
use crate::ignore::IgnoreRules;
use crate::input::{Excluded, Input, InputKind};

/// What the walk found.
#[derive(Debug, Default)]
pub(crate) struct Walk {
    /// Entries the builder sends, sorted by path bytes, files hashed.
    pub inputs: Vec<Input>,
    /// Entries an ignore pattern left out (the topmost of each excluded subtree).
    pub excluded: Vec<Excluded>,
    /// Fifos, sockets and devices: never sent by a builder, left out with a warning.
    pub special: Vec<(Vec<u8>, &'static str)>,
    /// Every file hashed (or found unchanged in the cache) with its stat, for the next cache.
    pub stats: Vec<(Vec<u8>, Entry)>,
}

impl Walk {
    fn append(&mut self, mut other: Walk) {
        self.inputs.append(&mut other.inputs);
        self.excluded.append(&mut other.excluded);
        self.special.append(&mut other.special);
        self.stats.append(&mut other.stats);
    }
}

/// Joins a relative `/`-separated byte path onto the root.
pub(crate) fn absolute(root: &Path, rel: &[u8]) -> PathBuf {
    root.join(std::ffi::OsStr::from_bytes(rel))
}

fn unreadable(path: PathBuf) -> impl FnOnce(std::io::Error) -> ContextError {
    move |source| ContextError::Unreadable { path, source }
}

struct Walker<'a> {
    root: &'a Path,
    rules: &'a IgnoreRules,
    builder: BuilderKind,
    observer: &'a dyn Observer,
    cache: Option<&'a HashCache>,
}

/// Work left after reading one folder: files to hash and folders to walk.
enum Task {
    Hash(Input, Stat),
    Descend(Vec<u8>),
}

/// Walks `root` with `rules` as `builder` would, hashing every file it sends (a file whose
/// stat `cache` has unchanged is not read).
pub(crate) fn walk(
    root: &Path,
    rules: &IgnoreRules,
    builder: BuilderKind,
    observer: &dyn Observer,
    cache: Option<&HashCache>,
) -> Result<Walk, ContextError> {
    let walker = Walker {
        root,
        rules,
        builder,
        observer,
        cache,
    };
    let mut out = walker.dir(Vec::new())?;
    add_implied_parents(&mut out.inputs);
    out.inputs.sort_by(|a, b| a.path.cmp(&b.path));
    out.excluded.sort_by(|a, b| a.path.cmp(&b.path));
    out.special.sort();
    Ok(out)
}

impl Walker<'_> {
    fn dir(&self, dir_rel: Vec<u8>) -> Result<Walk, ContextError> {
        let dir_abs = absolute(self.root, &dir_rel);
        let mut names: Vec<Vec<u8>> = fs::read_dir(&dir_abs)
            .map_err(unreadable(dir_abs.clone()))?
            .map(|entry| {
                entry
                    .map(|e| e.file_name().as_bytes().to_vec())
                    .map_err(unreadable(dir_abs.clone()))
            })
            .collect::<Result<_, _>>()?;
        names.sort();
        let mut out = Walk::default();
        let mut tasks = Vec::new();
        for name in names {
            let rel = if dir_rel.is_empty() {
                name
            } else {
                [dir_rel.as_slice(), b"/", name.as_slice()].concat()
            };
            self.entry(rel, &mut out, &mut tasks)?;
        }
        // In name order, so the first error reported is the same on every run.
        let results: Vec<Result<Walk, ContextError>> = tasks
            .into_par_iter()
            .map(|task| match task {
                Task::Hash(input, stat) => self.hash(input, stat),
                Task::Descend(rel) => self.dir(rel),
            })
            .collect();
        for result in results {
            out.append(result?);
        }
        Ok(out)
    }

    fn entry(
        &self,
        rel: Vec<u8>,
        out: &mut Walk,
        tasks: &mut Vec<Task>,
    ) -> Result<(), ContextError> {
        let abs = absolute(self.root, &rel);
        let meta = fs::symlink_metadata(&abs).map_err(unreadable(abs.clone()))?;
        let file_type = meta.file_type();
        if let Some(pattern) = self.rules.excluded_by(&rel) {
            out.excluded.push(Excluded {
                path: rel.clone(),
                pattern: pattern.display(),
                line: pattern.line,
            });
            if file_type.is_dir() && self.rules.may_reinclude_under(&rel) {
                if self.builder.sends_descended_excluded_dirs() {
                    out.inputs.push(Input::dir(rel.clone()));
                }
                tasks.push(Task::Descend(rel));
            }
            return Ok(());
        }
        if file_type.is_dir() {
            out.inputs.push(Input::dir(rel.clone()));
            tasks.push(Task::Descend(rel));
        } else if file_type.is_file() {
            self.observer.found(meta.len());
            tasks.push(Task::Hash(
                Input::file(rel, meta.permissions().mode(), meta.len()),
                Stat::of(&meta),
            ));
        } else if file_type.is_symlink() {
            let target = fs::read_link(&abs).map_err(unreadable(abs.clone()))?;
            out.inputs
                .push(Input::symlink(rel, target.as_os_str().as_bytes().to_vec()));
        } else {
            let what = if file_type.is_fifo() {
                "fifo"
            } else if file_type.is_socket() {
                "socket"
            } else {
                "device"
            };
            out.special.push((rel, what));
        }
        Ok(())
    }

    /// One file: from the cache when its stat is unchanged, else read and hashed.
    fn hash(&self, mut input: Input, stat: Stat) -> Result<Walk, ContextError> {
        let cached = self.cache.and_then(|c| c.get(&input.path, &stat));
        let (hash, size) = match cached {
            Some(hash) => (hash, stat.size),
            None => hash_file(&absolute(self.root, &input.path))?,
        };
        input.hash = hash;
        input.size = size;
        self.observer.hashed(size);
        // A file that grew or shrank while it was read is not remembered.
        let stats = match size == stat.size {
            true => vec![(input.path.clone(), Entry { stat, hash })],
            false => Vec::new(),
        };
        Ok(Walk {
            inputs: vec![input],
            stats,
            ..Walk::default()
        })
    }
}

/// A re-included entry inside an excluded folder still arrives with its parent folders.
fn add_implied_parents(inputs: &mut Vec<Input>) {
    let dirs: BTreeSet<Vec<u8>> = inputs
        .iter()
        .filter(|i| i.kind == InputKind::Dir)
        .map(|i| i.path.clone())
        .collect();
    let mut missing = BTreeSet::new();
    for input in inputs.iter() {
        for (i, &b) in input.path.iter().enumerate() {
            if b == b'/' && !dirs.contains(&input.path[..i]) {
                missing.insert(input.path[..i].to_vec());
            }
        }
    }
    inputs.extend(missing.into_iter().map(Input::dir));
}
