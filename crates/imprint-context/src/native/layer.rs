//! A `COPY` as a deterministic tar: the entries it copies out of the hashed context, with
//! their parent folders, sorted bytewise by path; owner 0:0 with no names, one fixed time,
//! modes set so Lambda's user can read (files 0644, or 0755 when the owner may run them;
//! folders 0755; `--chmod` over both), link texts as they are. Every file's bytes are
//! checked against the hash the tag was made from as they are written.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::Copy;
use crate::error::ContextError;
use crate::input::{Input, InputKind};

/// The time of every entry: 1980-01-01T00:00:01Z, the earliest a zip (and so a wheel) can
/// hold, as reproducible-build tools use.
pub const LAYER_TIME: u64 = 315_532_801;

/// What goes at one path of the layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A folder with its mode.
    Dir(u32),
    /// A file: where its bytes are, how many, its mode, and the BLAKE3 they must have (a
    /// context file's, from the hash the tag was made from).
    File {
        /// The file on this machine.
        source: PathBuf,
        /// Its size.
        size: u64,
        /// Its mode in the layer.
        mode: u32,
        /// The hash its bytes must have, when known.
        hash: Option<[u8; 32]>,
    },
    /// A symbolic link and its text.
    Symlink(Vec<u8>),
}

/// The entries of `copy` (path in the image without the leading `/` → entry), out of the
/// context's `inputs` (sorted by path, as the walk gives them).
pub fn entries(
    root: &Path,
    inputs: &[Input],
    copy: &Copy,
    dockerfile: &Path,
) -> Result<BTreeMap<Vec<u8>, Entry>, ContextError> {
    let mut out = BTreeMap::new();
    let dest = copy.dest.trim_start_matches('/').as_bytes().to_vec();
    let file_entry = |input: &Input| {
        let mode = copy.chmod.unwrap_or(match input.executable {
            true => 0o755,
            false => 0o644,
        });
        Entry::File {
            source: root.join(OsStr::from_bytes(&input.path)),
            size: input.size,
            mode,
            hash: Some(input.hash),
        }
    };
    // Docker refuses a source that is not in the context too; the rest is the native
    // builder's own limit.
    let missing = |source: &str, why: &str| ContextError::DockerfileRefused {
        path: dockerfile.to_path_buf(),
        line: copy.line,
        message: format!("COPY {source}: {why}"),
    };
    let unsupported = |source: &str, why: &str| ContextError::NativeUnsupported {
        path: dockerfile.to_path_buf(),
        line: copy.line,
        message: format!("COPY {source}: {why} (`--builder docker` builds it)"),
    };
    for source in &copy.sources {
        let source_bytes = source.as_bytes();
        let found = match source.is_empty() {
            true => None,
            false => Some(
                inputs
                    .binary_search_by(|i| i.path.as_slice().cmp(source_bytes))
                    .map(|at| &inputs[at])
                    .map_err(|_| {
                        missing(
                            source,
                            "not in the build context (or left out by the ignore file)",
                        )
                    })?,
            ),
        };
        match found {
            None => {}
            Some(input) if input.kind == InputKind::Dir => {}
            Some(input) if input.kind == InputKind::Symlink => {
                return Err(unsupported(
                    source,
                    "a symbolic link named as a source (docker copies what it points to); name its target",
                ))
            }
            Some(input) => {
                let name = source_bytes.rsplit(|b| *b == b'/').next().unwrap_or(source_bytes);
                let path = match copy.dir_dest {
                    true => join(&dest, name),
                    false => dest.clone(),
                };
                if path.is_empty() {
                    return Err(unsupported(source, "copied over the root folder"));
                }
                add(path, file_entry(input), &mut out);
                continue;
            }
        }
        // A folder (or the whole context): what is in it, below the destination.
        if !dest.is_empty() {
            add(dest.clone(), Entry::Dir(0o755), &mut out);
        }
        let prefix = match source.is_empty() {
            true => Vec::new(),
            false => [source_bytes, b"/"].concat(),
        };
        let start = inputs.partition_point(|i| i.path.as_slice() < prefix.as_slice());
        for input in inputs[start..]
            .iter()
            .take_while(|i| i.path.starts_with(&prefix))
        {
            let path = join(&dest, &input.path[prefix.len()..]);
            let entry = match input.kind {
                InputKind::Dir => Entry::Dir(copy.chmod.unwrap_or(0o755)),
                InputKind::File => file_entry(input),
                InputKind::Symlink => Entry::Symlink(input.target.clone()),
            };
            add(path, entry, &mut out);
        }
    }
    Ok(out)
}

/// Puts `entry` at `path` with every folder above it (0755 where no entry says otherwise).
fn add(path: Vec<u8>, entry: Entry, out: &mut BTreeMap<Vec<u8>, Entry>) {
    for (at, _) in path.iter().enumerate().filter(|(_, b)| **b == b'/') {
        out.entry(path[..at].to_vec()).or_insert(Entry::Dir(0o755));
    }
    out.insert(path, entry);
}

/// The entries of the folder `dir` on this machine put at `dest` (absolute) in the image,
/// with modes set as for a `COPY`; a link that leads out of the folder is an error.
pub fn tree_entries(dir: &Path, dest: &str) -> io::Result<BTreeMap<Vec<u8>, Entry>> {
    let mut out = BTreeMap::new();
    let dest = dest.trim_start_matches('/').as_bytes().to_vec();
    if !dest.is_empty() {
        add(dest.clone(), Entry::Dir(0o755), &mut out);
    }
    let mut todo = vec![(dir.to_path_buf(), Vec::new())];
    while let Some((folder, rel)) = todo.pop() {
        for entry in std::fs::read_dir(&folder)? {
            let entry = entry?;
            let name = entry.file_name();
            let child = match rel.is_empty() {
                true => name.as_bytes().to_vec(),
                false => [rel.as_slice(), b"/", name.as_bytes()].concat(),
            };
            let meta = std::fs::symlink_metadata(entry.path())?;
            let path = join(&dest, &child);
            if meta.is_dir() {
                add(path, Entry::Dir(0o755), &mut out);
                todo.push((entry.path(), child));
            } else if meta.file_type().is_symlink() {
                let target = std::fs::read_link(entry.path())?;
                let target = target.as_os_str().as_bytes().to_vec();
                if !stays_inside(&child, &target) {
                    return Err(io::Error::other(format!(
                        "{} links to {}, outside the installed packages",
                        entry.path().display(),
                        String::from_utf8_lossy(&target)
                    )));
                }
                add(path, Entry::Symlink(target), &mut out);
            } else if meta.is_file() {
                use std::os::unix::fs::PermissionsExt as _;
                let mode = match meta.permissions().mode() & 0o100 {
                    0 => 0o644,
                    _ => 0o755,
                };
                let source = entry.path();
                let size = meta.len();
                add(
                    path,
                    Entry::File {
                        source,
                        size,
                        mode,
                        hash: None,
                    },
                    &mut out,
                );
            } else {
                return Err(io::Error::other(format!(
                    "{} is not a file, folder or link",
                    entry.path().display()
                )));
            }
        }
    }
    Ok(out)
}

/// A relative link at `at` (a path in the tree) to `target` ends inside the tree.
fn stays_inside(at: &[u8], target: &[u8]) -> bool {
    if target.starts_with(b"/") {
        return false;
    }
    let mut depth = at.iter().filter(|b| **b == b'/').count() as i64;
    for part in target.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => depth -= 1,
            _ => depth += 1,
        }
        if depth < 0 {
            return false;
        }
    }
    true
}

fn join(dir: &[u8], rel: &[u8]) -> Vec<u8> {
    match dir.is_empty() {
        true => rel.to_vec(),
        false => [dir, b"/", rel].concat(),
    }
}

/// Writes `entries` as a tar into `out`, checking each file's bytes against its hash, when it
/// has one (a file changed since it was hashed is an error).
pub fn write_tar(entries: &BTreeMap<Vec<u8>, Entry>, out: impl Write) -> Result<(), ContextError> {
    let mut tar = tar::Builder::new(out);
    let failed = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ContextError::Unreadable { path, source }
    };
    let sink = Path::new("<layer>");
    for (path, entry) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(LAYER_TIME);
        let name = OsStr::from_bytes(path);
        match entry {
            Entry::Dir(mode) => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(*mode);
                header.set_size(0);
                let mut dir = name.to_owned();
                dir.push("/");
                tar.append_data(&mut header, Path::new(&dir), io::empty())
                    .map_err(failed(sink))?;
            }
            Entry::Symlink(target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                tar.append_link(&mut header, Path::new(name), OsStr::from_bytes(target))
                    .map_err(failed(sink))?;
            }
            Entry::File {
                source,
                size,
                mode,
                hash,
            } => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                header.set_size(*size);
                let file = File::open(source).map_err(failed(source))?;
                let mut checked = Checked {
                    inner: file.take(*size),
                    hasher: blake3::Hasher::new(),
                    read: 0,
                };
                tar.append_data(&mut header, Path::new(name), &mut checked)
                    .map_err(failed(source))?;
                let changed = checked.read != *size
                    || hash.is_some_and(|h| *checked.hasher.finalize().as_bytes() != h);
                if changed {
                    return Err(ContextError::Unreadable {
                        path: source.clone(),
                        source: io::Error::other(
                            "the file changed after it was hashed; run the build again",
                        ),
                    });
                }
            }
        }
    }
    tar.finish().map_err(failed(sink))?;
    Ok(())
}

/// Reads through, hashing what it reads.
struct Checked<R> {
    inner: R,
    hasher: blake3::Hasher,
    read: u64,
}

impl<R: Read> Read for Checked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}
