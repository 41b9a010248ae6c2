//! The context walk: every entry the builder would send, in a fixed order.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::builder::BuilderKind;
use crate::error::ContextError;
use crate::ignore::IgnoreRules;
use crate::input::{Excluded, Input, InputKind};

/// What the walk found, before file contents are hashed.
#[derive(Debug, Default)]
pub(crate) struct Walk {
    /// Entries the builder sends, sorted by path bytes; file hashes not yet filled in.
    pub inputs: Vec<Input>,
    /// Entries an ignore pattern left out (the topmost of each excluded subtree).
    pub excluded: Vec<Excluded>,
    /// Fifos, sockets and devices: never sent by a builder, left out with a warning.
    pub special: Vec<(Vec<u8>, &'static str)>,
}

/// Joins a relative `/`-separated byte path onto the root.
pub(crate) fn absolute(root: &Path, rel: &[u8]) -> PathBuf {
    root.join(std::ffi::OsStr::from_bytes(rel))
}

fn unreadable(path: PathBuf) -> impl FnOnce(std::io::Error) -> ContextError {
    move |source| ContextError::Unreadable { path, source }
}

/// Walks `root` with `rules` as `builder` would.
pub(crate) fn walk(
    root: &Path,
    rules: &IgnoreRules,
    builder: BuilderKind,
) -> Result<Walk, ContextError> {
    let mut out = Walk::default();
    let mut stack: Vec<Vec<u8>> = vec![Vec::new()];
    while let Some(dir_rel) = stack.pop() {
        let dir_abs = absolute(root, &dir_rel);
        let mut names: Vec<Vec<u8>> = fs::read_dir(&dir_abs)
            .map_err(unreadable(dir_abs.clone()))?
            .map(|entry| {
                entry
                    .map(|e| e.file_name().as_bytes().to_vec())
                    .map_err(unreadable(dir_abs.clone()))
            })
            .collect::<Result<_, _>>()?;
        names.sort();
        // Children are pushed in reverse so the stack pops them in name order.
        let mut subdirs = Vec::new();
        for name in names {
            let rel = if dir_rel.is_empty() {
                name
            } else {
                [dir_rel.as_slice(), b"/", name.as_slice()].concat()
            };
            let abs = absolute(root, &rel);
            let meta = fs::symlink_metadata(&abs).map_err(unreadable(abs.clone()))?;
            let file_type = meta.file_type();
            if let Some(pattern) = rules.excluded_by(&rel) {
                out.excluded.push(Excluded {
                    path: rel.clone(),
                    pattern: pattern.display(),
                    line: pattern.line,
                });
                if file_type.is_dir() && rules.may_reinclude_under(&rel) {
                    if builder.sends_descended_excluded_dirs() {
                        out.inputs.push(Input::dir(rel.clone()));
                    }
                    subdirs.push(rel);
                }
                continue;
            }
            let mode = meta.permissions().mode();
            if file_type.is_dir() {
                out.inputs.push(Input::dir(rel.clone()));
                subdirs.push(rel);
            } else if file_type.is_file() {
                out.inputs.push(Input::file(rel, mode, meta.len()));
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
        }
        stack.extend(subdirs.into_iter().rev());
    }
    add_implied_parents(&mut out.inputs);
    out.inputs.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
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
