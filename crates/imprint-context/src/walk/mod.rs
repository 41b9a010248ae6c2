//! The context walk: every entry the builder would send, with file contents hashed. Folders
//! are read in parallel (each entry's stat taken relative to its open folder) and put
//! together in path order, then the files the cache does not vouch for are hashed in
//! parallel; the result does not depend on the order in which either happens.

use std::fs;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use rustix::fs::FileType;

use crate::cache::{CacheSource, HashCache, Stat};
use crate::error::ContextError;
use crate::hash::{hash_open, Observer};
use crate::ignore::{IgnoreRules, Matched};
use crate::input::{Excluded, Input};

mod folder;
mod run;

use folder::{list, open_dir, stat_at};
use run::{from_cache, next_cache, Run, Seen, Tally};

/// What the walk found.
#[derive(Debug, Default)]
pub(crate) struct Walk {
    /// Entries the builder sends, sorted by path bytes, files hashed.
    pub inputs: Vec<Input>,
    /// Entries an ignore pattern left out (the topmost of each excluded subtree).
    pub excluded: Vec<Excluded>,
    /// Fifos, sockets and devices: never sent by a builder, left out with a warning.
    pub special: Vec<(Vec<u8>, &'static str)>,
    /// Files sent, and their bytes.
    pub files: u64,
    pub bytes: u64,
    /// The cache for the next walk: every file with its stat, or `None` when the cache given
    /// should stay (it holds these files, or all but a few the next walk hashes again for
    /// less than writing a new cache costs).
    pub next_cache: Option<HashCache>,
}

/// What reading the folders found, before any file is hashed.
#[derive(Debug, Default)]
struct Listing {
    /// Entries the builder sends in path order, in runs (joined once, at the end: a deep
    /// tree's entries are not moved once per level).
    runs: Vec<Run>,
    excluded: Vec<Excluded>,
    special: Vec<(Vec<u8>, &'static str)>,
    /// Some excluded folder was walked for re-included entries (which need their parents).
    reincluded: bool,
    /// Files sent that BuildKit's check of opened files excludes, with the pattern that
    /// does: an error unless they are empty anyway.
    opened_excluded: Vec<(Vec<u8>, usize)>,
}

impl Listing {
    fn append(&mut self, mut other: Listing) {
        self.runs.append(&mut other.runs);
        self.excluded.append(&mut other.excluded);
        self.special.append(&mut other.special);
        self.reincluded |= other.reincluded;
        self.opened_excluded.append(&mut other.opened_excluded);
    }
}

/// One entry of a folder.
enum Item {
    /// A file, symlink or a folder's own record.
    Leaf(Input, Option<Seen>),
    /// A subfolder's contents, to walk, with what the ignore patterns matched of it.
    Under(Vec<u8>, Above),
}

/// What a folder hands its entries: what the ignore patterns matched of it as the walk asks
/// them, and every pattern that matches it or a folder above it (for BuildKit's check of
/// opened files; empty when the rules make none).
#[derive(Debug, Default)]
struct Above {
    matched: Matched,
    ancestry: Matched,
}

impl Item {
    /// The entry's name in its folder (the end of its path); a subfolder's contents sort as
    /// the name and a `/`, which puts every path below in byte order without sorting them
    /// all again.
    fn key(&self) -> (&[u8], &'static [u8]) {
        let (path, slash): (&[u8], &[u8]) = match self {
            Item::Leaf(input, _) => (&input.path, b""),
            Item::Under(rel, _) => (rel, b"/"),
        };
        (split_name(path).1, slash)
    }
}

/// A relative path's folder (empty at the root) and its last component.
fn split_name(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&b| b == b'/') {
        Some(at) => (&path[..at], &path[at + 1..]),
        None => (&[], path),
    }
}

fn by_key(a: &Item, b: &Item) -> std::cmp::Ordering {
    let ((a, a_slash), (b, b_slash)) = (a.key(), b.key());
    a.iter().chain(a_slash).cmp(b.iter().chain(b_slash))
}

/// Joins a relative `/`-separated byte path onto the root.
pub(crate) fn absolute(root: &Path, rel: &[u8]) -> PathBuf {
    root.join(std::ffi::OsStr::from_bytes(rel))
}

fn unreadable(path: PathBuf) -> impl FnOnce(std::io::Error) -> ContextError {
    move |source| ContextError::Unreadable { path, source }
}

/// [`unreadable`] for `rel` in the context at `root`, its path made only for an error (not
/// once per file walked).
fn unreadable_at<'a>(
    root: &'a Path,
    rel: &'a [u8],
) -> impl FnOnce(std::io::Error) -> ContextError + 'a {
    move |source| ContextError::Unreadable {
        path: absolute(root, rel),
        source,
    }
}

struct Walker<'a> {
    root: &'a Path,
    rules: &'a IgnoreRules,
    observer: &'a dyn Observer,
    /// `lstat` every file while listing (to compare with a cache); else its stat is taken
    /// when it is opened to be hashed.
    stat_files: bool,
}

/// Walks `root` with `rules` as their engine would, hashing every file it sends (a file
/// whose stat the cache has unchanged is not read). `stamp`: when the walk began, for the
/// next cache.
pub(crate) fn walk(
    root: &Path,
    rules: &IgnoreRules,
    observer: &dyn Observer,
    source: CacheSource<'_>,
    stamp: i64,
) -> Result<Walk, ContextError> {
    let walker = Walker {
        root,
        rules,
        observer,
        stat_files: !matches!(source, CacheSource::None),
    };
    // A cache to load is read and checked while the folders are read.
    let (found, loaded) = rayon::join(
        || walker.dir(None, Vec::new(), &Above::default()),
        || match source {
            CacheSource::Load(load) => load(),
            CacheSource::None | CacheSource::Loaded(_) => None,
        },
    );
    let cache = match source {
        CacheSource::Loaded(cache) => Some(cache),
        _ => loaded.as_ref(),
    };
    let mut found = found?;
    if found.reincluded {
        found.runs = vec![Run::joined_with_parents(std::mem::take(&mut found.runs))];
    }
    // In path order, so the first error reported is the same on every run.
    let tally = found
        .runs
        .par_iter_mut()
        .map(|run| {
            if let Some(cache) = cache {
                from_cache(run, cache);
            }
            hash_run(root, run, observer).map(|()| Tally::of(run, stamp))
        })
        .collect::<Vec<Result<Tally, ContextError>>>()
        .into_iter()
        .try_fold(Tally::default(), |sum, run| run.map(|run| sum + run))?;
    observer.hashed(tally.cached_bytes);
    let next_cache = cache
        .is_none_or(|cache| tally.worth_writing(cache))
        .then(|| next_cache(&found.runs, stamp));
    // Sized once, each run's entries moved in one copy.
    let mut inputs = Vec::with_capacity(found.runs.iter().map(Run::len).sum());
    for mut run in found.runs {
        inputs.append(&mut run.inputs);
    }
    sent_whole(&inputs, found.opened_excluded, rules)?;
    found.excluded.sort_by(|a, b| a.path.cmp(&b.path));
    found.special.sort();
    Ok(Walk {
        inputs,
        excluded: found.excluded,
        special: found.special,
        files: tally.files as u64,
        bytes: tally.bytes,
        next_cache,
    })
}

/// Refuses the first file (in path order) of `opened_excluded` that has bytes: BuildKit
/// would send it empty.
fn sent_whole(
    inputs: &[Input],
    mut opened_excluded: Vec<(Vec<u8>, usize)>,
    rules: &IgnoreRules,
) -> Result<(), ContextError> {
    opened_excluded.sort_unstable();
    for (path, index) in opened_excluded {
        let at = inputs.binary_search_by(|input| input.path.as_slice().cmp(&path));
        if at.is_ok_and(|at| inputs[at].size > 0) {
            let pattern = &rules.patterns()[index];
            return Err(ContextError::SentEmpty {
                file: rules.source.clone().unwrap_or_default(),
                path: crate::input::escape_bytes(&path),
                pattern: pattern.display(),
                line: pattern.line,
            });
        }
    }
    Ok(())
}

/// Hashes the files of `run` the cache did not vouch for, in parallel. A run's files share
/// a folder, which is opened once: each file is opened relative to it.
fn hash_run(root: &Path, run: &mut Run, observer: &dyn Observer) -> Result<(), ContextError> {
    let todo: Vec<(&mut Input, &mut Option<Seen>)> = run
        .iter_mut()
        .filter(|(_, seen)| seen.is_some_and(Seen::to_hash))
        .collect();
    let Some((first, _)) = todo.first() else {
        return Ok(());
    };
    let dir_rel = split_name(&first.path).0.to_vec();
    let dir_abs = absolute(root, &dir_rel);
    let dir = fs::File::open(&dir_abs).map_err(unreadable(dir_abs))?;
    let folder = (root, dir, dir_rel);
    let sizes: Vec<Result<(u64, u64), ContextError>> = todo
        .into_par_iter()
        .map(|(input, seen)| {
            hash_one(&folder, input, seen).map_err(|source| ContextError::Unreadable {
                path: absolute(root, &input.path),
                source,
            })
        })
        .collect();
    // Told once per folder: an observer's bookkeeping per file costs more than small files.
    let (mut found, mut hashed) = (0, 0);
    for sizes in sizes {
        let (f, h) = sizes?;
        found += f;
        hashed += h;
    }
    observer.found(found);
    observer.hashed(hashed);
    Ok(())
}

/// Opens, stats (unless the walk did) and hashes one file of the open `folder` (in the
/// context at `root`); returns the bytes it found (when it made the stat) and hashed.
fn hash_one(
    (root, dir, dir_rel): &(&Path, fs::File, Vec<u8>),
    input: &mut Input,
    seen: &mut Option<Seen>,
) -> std::io::Result<(u64, u64)> {
    use rustix::fs::{openat, OFlags, CWD};
    let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    let (parent, name) = split_name(&input.path);
    let file = fs::File::from(match parent == dir_rel.as_slice() {
        true => openat(dir, name, flags, rustix::fs::Mode::empty())?,
        // A run put together after re-includes mixes folders: opened from the context root.
        false => openat(
            CWD,
            absolute(root, &input.path),
            flags,
            rustix::fs::Mode::empty(),
        )?,
    });
    let (stat, found) = match *seen {
        Some(Seen::Stated(stat)) => (stat, 0),
        _ => {
            let meta = file.metadata()?;
            input.set_mode(meta.permissions().mode());
            (Stat::of(&meta), meta.len())
        }
    };
    let (hash, size) = hash_open(file, Some(stat.size))?;
    input.hash = hash;
    input.size = size;
    *seen = Some(Seen::Hashed(stat));
    Ok((found, size))
}

impl Walker<'_> {
    /// One folder (`parent`'s entry named by the end of `dir_rel`, or the root, with what
    /// the ignore patterns matched of it, `above`): its entries, then its subfolders in
    /// parallel, put together in path order.
    fn dir(
        &self,
        parent: Option<BorrowedFd<'_>>,
        dir_rel: Vec<u8>,
        above: &Above,
    ) -> Result<Listing, ContextError> {
        let fd =
            open_dir(self.root, parent, &dir_rel).map_err(unreadable_at(self.root, &dir_rel))?;
        let mut listing = list(&fd, &dir_rel).map_err(unreadable_at(self.root, &dir_rel))?;
        listing.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut out = Listing::default();
        let mut items: Vec<Item> = Vec::with_capacity(listing.len() + 1);
        let mut bytes = 0;
        for (rel, file_type) in listing {
            let at = (&fd, above);
            self.entry(at, rel, file_type, &mut out, &mut items, &mut bytes)?;
        }
        self.observer.found(bytes);
        items.sort_unstable_by(by_key);
        let unders: Vec<(&Vec<u8>, &Above)> = items
            .iter()
            .filter_map(|item| match item {
                Item::Under(rel, above) => Some((rel, above)),
                Item::Leaf(..) => None,
            })
            .collect();
        // In path order, so the first error reported is the same on every run.
        let mut walked = unders
            .into_par_iter()
            .map(|(rel, above)| self.dir(Some(fd.as_fd()), rel.clone(), above))
            .collect::<Vec<_>>()
            .into_iter();
        let mut run = Run::with_capacity(items.len());
        for item in items {
            match item {
                Item::Leaf(input, seen) => run.push(input, seen),
                Item::Under(..) => match walked.next() {
                    Some(found) => {
                        out.runs.push(std::mem::take(&mut run));
                        out.append(found?);
                    }
                    None => unreachable!("one walk per folder"),
                },
            }
        }
        out.runs.push(run);
        Ok(out)
    }

    fn entry(
        &self,
        (dir, above): (&OwnedFd, &Above),
        rel: Vec<u8>,
        file_type: FileType,
        out: &mut Listing,
        items: &mut Vec<Item>,
        bytes: &mut u64,
    ) -> Result<(), ContextError> {
        let name = split_name(&rel).1;
        // From the folder listing (d_type); one stat only where it says nothing.
        let (file_type, stat) = match file_type {
            FileType::Unknown => {
                let stat = stat_at(dir, name).map_err(unreadable_at(self.root, &rel))?;
                (FileType::from_raw_mode(stat.stx_mode.into()), Some(stat))
            }
            known => (known, None),
        };
        let verdict = self.rules.verdict(&rel, &above.matched);
        let under = |matched| Above {
            matched,
            ancestry: match file_type == FileType::Directory && self.rules.checks_opened_files() {
                true => self.rules.ancestry(&rel, &above.ancestry),
                false => Matched::default(),
            },
        };
        if let Some(index) = verdict.by {
            let pattern = &self.rules.patterns()[index];
            // What an excluded folder walked into holds is decided entry by entry; the
            // folder itself is sent only as the parent of something sent.
            out.excluded.push(Excluded {
                path: rel.clone(),
                pattern: pattern.display(),
                line: pattern.line,
            });
            if file_type == FileType::Directory && self.rules.descends_into(&rel) {
                out.reincluded = true;
                let above = under(verdict.matched);
                items.push(Item::Under(rel, above));
            }
            return Ok(());
        }
        if file_type == FileType::RegularFile && self.rules.checks_opened_files() {
            if let Some(index) = self.rules.opened_by(&rel, &above.ancestry) {
                out.opened_excluded.push((rel.clone(), index));
            }
        }
        match file_type {
            FileType::Directory => {
                let above = under(verdict.matched);
                items.push(Item::Under(rel.clone(), above));
                items.push(Item::Leaf(Input::dir(rel), None));
            }
            FileType::RegularFile if !self.stat_files => {
                items.push(Item::Leaf(Input::file(rel, 0, 0), Some(Seen::Listed)));
            }
            FileType::RegularFile => {
                // Relative to the open folder: no walk of the whole path again.
                let stat = match stat {
                    Some(stat) => stat,
                    None => stat_at(dir, name).map_err(unreadable_at(self.root, &rel))?,
                };
                let stat = Stat::of_statx(&stat);
                *bytes += stat.size;
                let input = Input::file(rel, stat.mode, stat.size);
                items.push(Item::Leaf(input, Some(Seen::Stated(stat))));
            }
            FileType::Symlink => {
                let target = rustix::fs::readlinkat(dir, name, Vec::new())
                    .map_err(|e| unreadable_at(self.root, &rel)(e.into()))?;
                let input = Input::symlink(rel, target.into_bytes());
                items.push(Item::Leaf(input, None));
            }
            FileType::Fifo => out.special.push((rel, "fifo")),
            FileType::Socket => out.special.push((rel, "socket")),
            _ => out.special.push((rel, "device")),
        }
        Ok(())
    }
}
