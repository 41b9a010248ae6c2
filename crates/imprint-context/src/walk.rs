//! The context walk: every entry the builder would send, with file contents hashed. Folders
//! are read in parallel (each entry's stat taken relative to its open folder) and put
//! together in path order, then the files the cache does not vouch for are hashed in
//! parallel; the result does not depend on the order in which either happens.

use std::collections::BTreeSet;
use std::fs;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use rustix::fs::{AtFlags, FileType, Mode, OFlags, RawDir, Statx, StatxFlags, CWD};

use crate::builder::BuilderKind;
use crate::cache::{CacheSource, Entry, HashCache, Stat};
use crate::error::ContextError;
use crate::hash::{hash_open, Observer};
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
    /// Files sent, and their bytes.
    pub files: u64,
    pub bytes: u64,
    /// The cache for the next walk: every file with its stat, or `None` when the cache given
    /// should stay (it holds these files, or all but a few the next walk hashes again for
    /// less than writing a new cache costs).
    pub next_cache: Option<HashCache>,
}

/// A regular file as the walk saw it.
#[derive(Debug, Clone, Copy)]
enum Seen {
    /// Listed only: with no cache to compare with, its stat comes from the open file (one
    /// path lookup per file instead of two).
    Listed,
    /// What `lstat` said, to compare with the cache.
    Stated(Stat),
    /// Its hash came from the cache.
    Cached(Stat),
    /// Read and hashed; the stat is from before the read.
    Hashed(Stat),
}

impl Seen {
    fn to_hash(self) -> bool {
        matches!(self, Seen::Listed | Seen::Stated(_))
    }
}

/// Entries the builder sends, in path order, side by side with what the walk saw of each
/// file (so that the entries are handed on as they are, in one move).
#[derive(Debug, Default)]
struct Run {
    inputs: Vec<Input>,
    seen: Vec<Option<Seen>>,
}

impl Run {
    fn with_capacity(n: usize) -> Self {
        Self {
            inputs: Vec::with_capacity(n),
            seen: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, input: Input, seen: Option<Seen>) {
        self.inputs.push(input);
        self.seen.push(seen);
    }

    fn len(&self) -> usize {
        self.inputs.len()
    }

    fn iter(&self) -> impl Iterator<Item = (&Input, &Option<Seen>)> {
        self.inputs.iter().zip(&self.seen)
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = (&mut Input, &mut Option<Seen>)> {
        self.inputs.iter_mut().zip(&mut self.seen)
    }

    /// Runs joined into one, in path order, with the parent folders re-included entries
    /// imply.
    fn joined_with_parents(runs: Vec<Run>) -> Self {
        let mut entries: Vec<(Input, Option<Seen>)> = runs
            .into_iter()
            .flat_map(|run| run.inputs.into_iter().zip(run.seen))
            .collect();
        add_implied_parents(&mut entries);
        entries.sort_by(|a, b| a.0.path.cmp(&b.0.path));
        let mut run = Run::with_capacity(entries.len());
        for (input, seen) in entries {
            run.push(input, seen);
        }
        run
    }
}

/// What the walk's runs found, summed.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    /// Files sent, and their bytes.
    files: usize,
    bytes: u64,
    /// Files whose hash the cache gave, and their bytes.
    hits: usize,
    cached_bytes: u64,
    /// Files hashed that a new cache would hold (not racy), and their bytes.
    fresh: usize,
    fresh_bytes: u64,
}

impl Tally {
    /// `run`'s files once hashed, `hits` of them (`cached_bytes`) from the cache, in a walk
    /// begun at `stamp`.
    fn of(run: &Run, (hits, cached_bytes): (usize, u64), stamp: i64) -> Self {
        let mut tally = Self {
            hits,
            cached_bytes,
            ..Self::default()
        };
        for (input, seen) in run.iter() {
            let Some(seen) = seen else {
                continue;
            };
            tally.files += 1;
            tally.bytes += input.size;
            if let Seen::Hashed(stat) = seen {
                if stat.size == input.size && !stat.is_racy(stamp) {
                    tally.fresh += 1;
                    tally.fresh_bytes += stat.size;
                }
            }
        }
        tally
    }

    /// Whether a new cache is worth writing over `cache`: it saves the next walk enough
    /// hashing (files `cache` did not vouch for and a new one would), or `cache` holds many
    /// files that are gone. Otherwise `cache` stays: it vouches for the files it still can,
    /// and the few it does not are hashed again, as this time. A hash never depends on it.
    fn worth_writing(&self, cache: &HashCache) -> bool {
        if self.hits == self.files && cache.len() == self.files {
            return false;
        }
        let unused = cache.len().saturating_sub(self.hits);
        self.fresh >= REWRITE_FILES || self.fresh_bytes >= REWRITE_BYTES || unused > cache.len() / 4
    }
}

impl std::ops::Add for Tally {
    type Output = Self;

    fn add(self, other: Self) -> Self {
        Self {
            files: self.files + other.files,
            bytes: self.bytes + other.bytes,
            hits: self.hits + other.hits,
            cached_bytes: self.cached_bytes + other.cached_bytes,
            fresh: self.fresh + other.fresh,
            fresh_bytes: self.fresh_bytes + other.fresh_bytes,
        }
    }
}

/// What reading the folders found, before any file is hashed.
#[derive(Debug, Default)]
struct Found {
    /// Entries the builder sends in path order, in runs (joined once, at the end: a deep
    /// tree's entries are not moved once per level).
    runs: Vec<Run>,
    excluded: Vec<Excluded>,
    special: Vec<(Vec<u8>, &'static str)>,
    /// Some excluded folder was walked for re-included entries (which need their parents).
    reincluded: bool,
}

impl Found {
    fn append(&mut self, mut other: Found) {
        self.runs.append(&mut other.runs);
        self.excluded.append(&mut other.excluded);
        self.special.append(&mut other.special);
        self.reincluded |= other.reincluded;
    }
}

/// One entry of a folder.
enum Item {
    /// A file, symlink or a folder's own record.
    Leaf(Input, Option<Seen>),
    /// A subfolder's contents, to walk.
    Under(Vec<u8>),
}

impl Item {
    /// The entry's name in its folder (the end of its path); a subfolder's contents sort as
    /// the name and a `/`, which puts every path below in byte order without sorting them
    /// all again.
    fn key(&self) -> (&[u8], &'static [u8]) {
        let (path, slash): (&[u8], &[u8]) = match self {
            Item::Leaf(input, _) => (&input.path, b""),
            Item::Under(rel) => (rel, b"/"),
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
    builder: BuilderKind,
    observer: &'a dyn Observer,
    /// `lstat` every file while listing (to compare with a cache); else its stat is taken
    /// when it is opened to be hashed.
    stat_files: bool,
}

/// Walks `root` with `rules` as `builder` would, hashing every file it sends (a file whose
/// stat the cache has unchanged is not read). `stamp`: when the walk began, for the next cache.
pub(crate) fn walk(
    root: &Path,
    rules: &IgnoreRules,
    builder: BuilderKind,
    observer: &dyn Observer,
    source: CacheSource<'_>,
    stamp: i64,
) -> Result<Walk, ContextError> {
    let walker = Walker {
        root,
        rules,
        builder,
        observer,
        stat_files: !matches!(source, CacheSource::None),
    };
    // A cache to load is read and checked while the folders are read.
    let (found, loaded) = rayon::join(
        || walker.dir(None, Vec::new()),
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
            let hits = cache.map_or((0, 0), |cache| from_cache(run, cache));
            hash_run(root, run, observer).map(|()| Tally::of(run, hits, stamp))
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

/// Files hashed again (not racy, so a new cache would hold them) from which writing the
/// cache pays: below this and [`REWRITE_BYTES`], the next walk hashes them again for less
/// than writing a cache of tens of thousands of entries costs (measured: 30 ms for 55,000).
const REWRITE_FILES: usize = 256;
/// Bytes of such files from which writing the cache pays.
const REWRITE_BYTES: u64 = 16 << 20;

/// The cache for the next walk (begun at `stamp`): every file hashed or found unchanged,
/// with the stat it had. A file that grew or shrank while it was read is not remembered.
fn next_cache(runs: &[Run], stamp: i64) -> HashCache {
    let entries = runs
        .iter()
        .flat_map(Run::iter)
        .filter_map(|(input, seen)| match seen {
            Some(Seen::Cached(stat) | Seen::Hashed(stat)) if stat.size == input.size => {
                let entry = Entry {
                    stat: *stat,
                    hash: input.hash,
                };
                Some((input.path.as_slice(), entry))
            }
            _ => None,
        });
    HashCache::from_entries(stamp, entries)
}

/// Fills in the hash of every file of `run` whose stat `cache` has unchanged (both are in
/// path order, so one pass side by side from where the run begins); returns how many, and
/// their bytes.
fn from_cache(run: &mut Run, cache: &HashCache) -> (usize, u64) {
    let Some((first, _)) = run
        .iter()
        .find(|(_, seen)| matches!(seen, Some(Seen::Stated(_))))
    else {
        return (0, 0);
    };
    let mut cached = cache.iter_from(&first.path).peekable();
    let (mut hits, mut bytes) = (0, 0);
    for (input, seen) in run.iter_mut() {
        let Some(Seen::Stated(stat)) = *seen else {
            continue;
        };
        while cached
            .next_if(|(path, _)| *path < input.path.as_slice())
            .is_some()
        {}
        if let Some(hash) = cached
            .next_if(|(path, _)| *path == input.path.as_slice())
            .and_then(|(_, entry)| cache.vouches(&entry, &stat))
        {
            input.hash = hash;
            *seen = Some(Seen::Cached(stat));
            hits += 1;
            bytes += stat.size;
        }
    }
    (hits, bytes)
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
    /// One folder (`parent`'s entry named by the end of `dir_rel`, or the root): its entries,
    /// then its subfolders in parallel, put together in path order.
    fn dir(&self, parent: Option<BorrowedFd<'_>>, dir_rel: Vec<u8>) -> Result<Found, ContextError> {
        let fd =
            open_dir(self.root, parent, &dir_rel).map_err(unreadable_at(self.root, &dir_rel))?;
        let mut listing = list(&fd, &dir_rel).map_err(unreadable_at(self.root, &dir_rel))?;
        listing.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut out = Found::default();
        let mut items: Vec<Item> = Vec::with_capacity(listing.len() + 1);
        let mut bytes = 0;
        for (rel, file_type) in listing {
            self.entry(&fd, rel, file_type, &mut out, &mut items, &mut bytes)?;
        }
        self.observer.found(bytes);
        items.sort_unstable_by(by_key);
        let unders: Vec<&Vec<u8>> = items
            .iter()
            .filter_map(|item| match item {
                Item::Under(rel) => Some(rel),
                Item::Leaf(..) => None,
            })
            .collect();
        // In path order, so the first error reported is the same on every run.
        let mut walked = unders
            .into_par_iter()
            .map(|rel| self.dir(Some(fd.as_fd()), rel.clone()))
            .collect::<Vec<_>>()
            .into_iter();
        let mut run = Run::with_capacity(items.len());
        for item in items {
            match item {
                Item::Leaf(input, seen) => run.push(input, seen),
                Item::Under(_) => match walked.next() {
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
        dir: &OwnedFd,
        rel: Vec<u8>,
        file_type: FileType,
        out: &mut Found,
        items: &mut Vec<Item>,
        bytes: &mut u64,
    ) -> Result<(), ContextError> {
        let name = split_name(&rel).1;
        // From the folder listing (d_type); one stat only where it says nothing.
        let (file_type, mut stat) = match file_type {
            FileType::Unknown => {
                let stat = stat_at(dir, name).map_err(unreadable_at(self.root, &rel))?;
                (FileType::from_raw_mode(stat.stx_mode.into()), Some(stat))
            }
            known => (known, None),
        };
        // Only paths in included folders are asked about here, unless `!` patterns exist.
        if let Some(pattern) = self.rules.excluded_by_below_included(&rel) {
            out.excluded.push(Excluded {
                path: rel.clone(),
                pattern: pattern.display(),
                line: pattern.line,
            });
            if file_type == FileType::Directory && self.rules.may_reinclude_under(&rel) {
                out.reincluded = true;
                if self.builder.sends_descended_excluded_dirs() {
                    items.push(Item::Leaf(Input::dir(rel.clone()), None));
                }
                items.push(Item::Under(rel));
            }
            return Ok(());
        }
        match file_type {
            FileType::Directory => {
                items.push(Item::Under(rel.clone()));
                items.push(Item::Leaf(Input::dir(rel), None));
            }
            FileType::RegularFile if !self.stat_files => {
                items.push(Item::Leaf(Input::file(rel, 0, 0), Some(Seen::Listed)));
            }
            FileType::RegularFile => {
                // Relative to the open folder: no walk of the whole path again.
                let stat = match stat.take() {
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

/// Opens a folder of the walk: the root, or `dir_rel`'s last component in its open parent
/// (one path lookup, not one per component of the whole path).
fn open_dir(
    root: &Path,
    parent: Option<BorrowedFd<'_>>,
    dir_rel: &[u8],
) -> std::io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    let fd = match parent {
        Some(parent) => rustix::fs::openat(parent, split_name(dir_rel).1, flags, Mode::empty()),
        None => rustix::fs::openat(CWD, root, flags & !OFlags::NOFOLLOW, Mode::empty()),
    };
    Ok(fd?)
}

thread_local! {
    /// Each thread's buffer for `getdents64`.
    static DIRENTS: std::cell::RefCell<Vec<u8>> =
        std::cell::RefCell::new(Vec::with_capacity(32 * 1024));
}

/// The entries of the open folder `dir` (at `dir_rel`) but `.` and `..`: each one's path in
/// the context and its type as the listing gives it.
fn list(dir: &OwnedFd, dir_rel: &[u8]) -> std::io::Result<Vec<(Vec<u8>, FileType)>> {
    DIRENTS.with_borrow_mut(|buffer| {
        let mut listing = Vec::new();
        let mut entries = RawDir::new(dir, buffer.spare_capacity_mut());
        while let Some(entry) = entries.next() {
            let entry = entry?;
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            let rel = if dir_rel.is_empty() {
                name.to_vec()
            } else {
                let mut rel = Vec::with_capacity(dir_rel.len() + 1 + name.len());
                rel.extend_from_slice(dir_rel);
                rel.push(b'/');
                rel.extend_from_slice(name);
                rel
            };
            listing.push((rel, entry.file_type()));
        }
        Ok(listing)
    })
}

/// `lstat` of `name` in the open folder `dir`.
fn stat_at(dir: &OwnedFd, name: &[u8]) -> std::io::Result<Statx> {
    Ok(rustix::fs::statx(
        dir,
        name,
        AtFlags::SYMLINK_NOFOLLOW,
        StatxFlags::BASIC_STATS,
    )?)
}

/// A re-included entry inside an excluded folder still arrives with its parent folders.
fn add_implied_parents(entries: &mut Vec<(Input, Option<Seen>)>) {
    let dirs: BTreeSet<Vec<u8>> = entries
        .iter()
        .filter(|(i, _)| i.kind == InputKind::Dir)
        .map(|(i, _)| i.path.clone())
        .collect();
    let mut missing = BTreeSet::new();
    for (input, _) in entries.iter() {
        for (i, &b) in input.path.iter().enumerate() {
            if b == b'/' && !dirs.contains(&input.path[..i]) {
                missing.insert(input.path[..i].to_vec());
            }
        }
    }
    entries.extend(missing.into_iter().map(|path| (Input::dir(path), None)));
}
