//! What the walk saw of each entry, run by run (a folder's entries in path order), and what
//! the hash cache makes of it: hashes taken from it, the counts that decide whether a new
//! one is written, the new one.

use std::collections::BTreeSet;

use crate::cache::{Entry, HashCache, Stat};
use crate::input::{Input, InputKind};

/// A regular file as the walk saw it.
#[derive(Debug, Clone, Copy)]
pub(super) enum Seen {
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
    pub(super) fn to_hash(self) -> bool {
        matches!(self, Seen::Listed | Seen::Stated(_))
    }
}

/// Entries the builder sends, in path order, side by side with what the walk saw of each
/// file (so that the entries are handed on as they are, in one move).
#[derive(Debug, Default)]
pub(super) struct Run {
    pub(super) inputs: Vec<Input>,
    seen: Vec<Option<Seen>>,
}

impl Run {
    pub(super) fn with_capacity(n: usize) -> Self {
        Self {
            inputs: Vec::with_capacity(n),
            seen: Vec::with_capacity(n),
        }
    }

    pub(super) fn push(&mut self, input: Input, seen: Option<Seen>) {
        self.inputs.push(input);
        self.seen.push(seen);
    }

    pub(super) fn len(&self) -> usize {
        self.inputs.len()
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (&Input, &Option<Seen>)> {
        self.inputs.iter().zip(&self.seen)
    }

    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = (&mut Input, &mut Option<Seen>)> {
        self.inputs.iter_mut().zip(&mut self.seen)
    }

    /// Runs joined into one, in path order, with the parent folders re-included entries
    /// imply.
    pub(super) fn joined_with_parents(runs: Vec<Run>) -> Self {
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
pub(super) struct Tally {
    /// Files sent, and their bytes.
    pub(super) files: usize,
    pub(super) bytes: u64,
    /// Files whose hash the cache gave, and their bytes.
    pub(super) hits: usize,
    pub(super) cached_bytes: u64,
    /// Files hashed that a new cache would hold (not racy), and their bytes.
    pub(super) fresh: usize,
    pub(super) fresh_bytes: u64,
}

impl Tally {
    /// `run`'s files once hashed, in a walk begun at `stamp`.
    pub(super) fn of(run: &Run, stamp: i64) -> Self {
        let mut tally = Self::default();
        for (input, seen) in run.iter() {
            let Some(seen) = seen else {
                continue;
            };
            tally.files += 1;
            tally.bytes += input.size;
            match seen {
                Seen::Cached(stat) => {
                    tally.hits += 1;
                    tally.cached_bytes += stat.size;
                }
                Seen::Hashed(stat) if stat.size == input.size && !stat.is_racy(stamp) => {
                    tally.fresh += 1;
                    tally.fresh_bytes += stat.size;
                }
                _ => {}
            }
        }
        tally
    }

    /// Whether a new cache is worth writing over `cache`: it saves the next walk enough
    /// hashing (files `cache` did not vouch for and a new one would), or `cache` holds many
    /// files that are gone. Otherwise `cache` stays: it vouches for the files it still can,
    /// and the few it does not are hashed again, as this time. A hash never depends on it.
    pub(super) fn worth_writing(&self, cache: &HashCache) -> bool {
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

/// Files hashed again (not racy, so a new cache would hold them) from which writing the
/// cache pays: below this and [`REWRITE_BYTES`], the next walk hashes them again for less
/// than writing a cache of tens of thousands of entries costs (bench/MEASUREMENTS.md).
const REWRITE_FILES: usize = 256;
/// Bytes of such files from which writing the cache pays.
const REWRITE_BYTES: u64 = 16 << 20;

/// The cache for the next walk (begun at `stamp`): every file hashed or found unchanged,
/// with the stat it had. A file that grew or shrank while it was read is not remembered.
pub(super) fn next_cache(runs: &[Run], stamp: i64) -> HashCache {
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
/// path order, so one pass side by side from where the run begins).
pub(super) fn from_cache(run: &mut Run, cache: &HashCache) {
    let Some((first, _)) = run
        .iter()
        .find(|(_, seen)| matches!(seen, Some(Seen::Stated(_))))
    else {
        return;
    };
    let mut cached = cache.iter_from(&first.path).peekable();
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
        }
    }
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
