//! The hash cache, like git's index: for each file of a context, what `lstat` said (device,
//! inode, size, mode, mtime and ctime to the nanosecond) and the BLAKE3 of its bytes. A file
//! whose stat is unchanged is not read again. A file changed within [`RACY_NS`] of the time
//! the walk began is never cached (its next change could keep the same times), so the cache
//! can only save work, never change a hash. The bytes (see [`HashCache::encode`]) end in a
//! BLAKE3 of everything before them: a damaged or foreign cache is refused as a whole.
//!
//! In memory the cache stays in its encoded form (one buffer and where each record starts):
//! loading tens of thousands of entries costs one copy, not an allocation per path.

use std::os::unix::fs::MetadataExt;

/// How close to the walk's start a change makes a file "racy" (never cached): filesystem
/// timestamps can be as coarse as the kernel's tick or a second.
pub const RACY_NS: i64 = 2_000_000_000;
const MAGIC: &[u8] = b"imprint-hash-cache\n";
const VERSION: u32 = 2;
/// A record after its path: dev, ino, size, mode, mtime, ctime, hash.
const FIXED: usize = 8 + 8 + 8 + 4 + 8 + 8 + 32;

/// What `lstat` says about a file, as compared.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stat {
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
    /// Size in bytes.
    pub size: u64,
    /// Mode bits (type and permissions).
    pub mode: u32,
    /// Last modification, nanoseconds since the epoch.
    pub mtime: i64,
    /// Last status change, nanoseconds since the epoch.
    pub ctime: i64,
}

impl Stat {
    /// The fields of `meta`.
    pub fn of(meta: &std::fs::Metadata) -> Self {
        let ns = |s: i64, n: i64| s.saturating_mul(1_000_000_000).saturating_add(n);
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mode: meta.mode(),
            mtime: ns(meta.mtime(), meta.mtime_nsec()),
            ctime: ns(meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// What `statx` said (the device as `makedev` numbers it, as [`Stat::of`] does).
    pub fn of_statx(stat: &rustix::fs::Statx) -> Self {
        let ns = |t: &rustix::fs::StatxTimestamp| {
            t.tv_sec
                .saturating_mul(1_000_000_000)
                .saturating_add(i64::from(t.tv_nsec))
        };
        Self {
            dev: rustix::fs::makedev(stat.stx_dev_major, stat.stx_dev_minor),
            ino: stat.stx_ino,
            size: stat.stx_size,
            mode: u32::from(stat.stx_mode),
            mtime: ns(&stat.stx_mtime),
            ctime: ns(&stat.stx_ctime),
        }
    }

    /// Changed within [`RACY_NS`] of `stamp` (or after it).
    pub(crate) fn is_racy(&self, stamp: i64) -> bool {
        self.mtime.max(self.ctime) >= stamp.saturating_sub(RACY_NS)
    }
}

/// The cache a walk compares stats with.
#[derive(Clone, Copy)]
pub enum CacheSource<'a> {
    /// None: every file is read (and no file stat-ed before it is opened).
    None,
    /// This one.
    Loaded(&'a HashCache),
    /// The one this loads (`None`: there is none fit to use), read and checked while the
    /// walk reads the folders.
    Load(&'a (dyn Fn() -> Option<HashCache> + Sync)),
}

impl<'a> From<Option<&'a HashCache>> for CacheSource<'a> {
    fn from(cache: Option<&'a HashCache>) -> Self {
        cache.map_or(Self::None, Self::Loaded)
    }
}

/// One cached file: its stat and hash.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Entry {
    /// What `lstat` said when it was hashed.
    pub stat: Stat,
    /// BLAKE3 of its bytes.
    pub hash: [u8; 32],
}

/// The cache of one context: path (relative, raw bytes) → entry, in path order (the order of
/// the context's own records, so a walk looks its files up side by side, hashing no path).
#[derive(Debug, Clone, Default)]
pub struct HashCache {
    /// When the walk that wrote it began (nanoseconds since the epoch).
    pub stamp: i64,
    /// The records as encoded (path length (u32), path, then [`FIXED`] bytes) in
    /// `bytes[body]`: a decoded cache keeps the buffer it was read into.
    bytes: Vec<u8>,
    body: std::ops::Range<usize>,
    /// Where each record starts in `bytes`.
    starts: Vec<usize>,
}

impl PartialEq for HashCache {
    fn eq(&self, other: &Self) -> bool {
        self.stamp == other.stamp
            && self.bytes[self.body.clone()] == other.bytes[other.body.clone()]
    }
}

impl Eq for HashCache {}

/// Why cache bytes were refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CacheError {
    /// Not an imprint hash cache of this version.
    #[error("not an imprint hash cache of version {VERSION}")]
    Foreign,
    /// Cut short or changed since it was written.
    #[error("damaged (its checksum does not match)")]
    Damaged,
}

impl HashCache {
    /// The cache of a walk that began at `stamp`: every entry whose stat is not racy for it
    /// (for a path given twice, the last).
    pub fn from_entries<'a>(
        stamp: i64,
        entries: impl IntoIterator<Item = (&'a [u8], Entry)>,
    ) -> Self {
        let mut entries: Vec<(&[u8], Entry)> = entries
            .into_iter()
            .filter(|(_, e)| !e.stat.is_racy(stamp))
            .collect();
        if !entries.is_sorted_by(|a, b| a.0 < b.0) {
            entries.reverse();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            entries.dedup_by(|a, b| a.0 == b.0);
        }
        let size = entries.iter().map(|(p, _)| 4 + p.len() + FIXED).sum();
        let mut cache = Self {
            stamp,
            bytes: Vec::with_capacity(size),
            body: 0..0,
            starts: Vec::with_capacity(entries.len()),
        };
        for (path, entry) in &entries {
            cache.push(path, entry);
        }
        cache.body = 0..cache.bytes.len();
        cache
    }

    fn push(&mut self, path: &[u8], e: &Entry) {
        let out = &mut self.bytes;
        self.starts.push(out.len());
        // A path longer than 4 GiB cannot be a file name.
        out.extend_from_slice(&u32::try_from(path.len()).unwrap_or(u32::MAX).to_le_bytes());
        out.extend_from_slice(path);
        for n in [e.stat.dev, e.stat.ino, e.stat.size] {
            out.extend_from_slice(&n.to_le_bytes());
        }
        out.extend_from_slice(&e.stat.mode.to_le_bytes());
        out.extend_from_slice(&e.stat.mtime.to_le_bytes());
        out.extend_from_slice(&e.stat.ctime.to_le_bytes());
        out.extend_from_slice(&e.hash);
    }

    /// The record at offset `start`: its path and entry. `starts` only holds offsets of
    /// records that `decode` or `push` checked.
    fn record_at(&self, start: usize) -> (&[u8], Entry) {
        let parsed = Reader(self.bytes.get(start..self.body.end).unwrap_or_default()).record();
        debug_assert!(parsed.is_ok(), "records are checked when loaded");
        parsed.unwrap_or_default()
    }

    /// The hash of `path` if its stat is still `stat`.
    pub fn get(&self, path: &[u8], stat: &Stat) -> Option<[u8; 32]> {
        let at = self
            .starts
            .binary_search_by(|&start| self.record_at(start).0.cmp(path))
            .ok()?;
        self.vouches(&self.record_at(self.starts[at]).1, stat)
    }

    /// `entry`'s hash if the file's stat is still `stat` and was not racy when cached.
    pub(crate) fn vouches(&self, entry: &Entry, stat: &Stat) -> Option<[u8; 32]> {
        (entry.stat == *stat && !entry.stat.is_racy(self.stamp)).then_some(entry.hash)
    }

    /// The records from the first whose path is not below `path` (byte order) on.
    pub(crate) fn iter_from(&self, path: &[u8]) -> impl Iterator<Item = (&[u8], Entry)> {
        let at = self
            .starts
            .partition_point(|&start| self.record_at(start).0 < path);
        self.starts[at..].iter().map(|&start| self.record_at(start))
    }

    /// How many files it holds.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// The cache as bytes: magic, version, stamp, count, the records in path order, then a
    /// BLAKE3 of all of it.
    pub fn encode(&self) -> Vec<u8> {
        let records = &self.bytes[self.body.clone()];
        let mut out = Vec::with_capacity(64 + records.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&self.stamp.to_le_bytes());
        out.extend_from_slice(&(self.len() as u64).to_le_bytes());
        out.extend_from_slice(records);
        let sum = blake3::hash(&out);
        out.extend_from_slice(sum.as_bytes());
        out
    }

    /// Reads what [`encode`](Self::encode) wrote (keeping the buffer); anything else is
    /// refused whole.
    pub fn decode(bytes: Vec<u8>) -> Result<Self, CacheError> {
        if !bytes.starts_with(MAGIC) {
            return Err(CacheError::Foreign);
        }
        let (body, sum) = bytes
            .split_at_checked(bytes.len().saturating_sub(32))
            .ok_or(CacheError::Damaged)?;
        if sum.len() != 32 || blake3::hash(body).as_bytes() != sum {
            return Err(CacheError::Damaged);
        }
        let mut r = Reader(&body[MAGIC.len()..]);
        if u32::from_le_bytes(r.take()?) != VERSION {
            return Err(CacheError::Foreign);
        }
        let stamp = i64::from_le_bytes(r.take()?);
        let count = u64::from_le_bytes(r.take()?);
        let end = body.len();
        let records_start = end - r.0.len();
        let mut starts = Vec::with_capacity(r.0.len() / (4 + FIXED));
        let mut last: Option<&[u8]> = None;
        for _ in 0..count {
            starts.push(end - r.0.len());
            let (path, _) = r.record()?;
            if last.is_some_and(|last| last >= path) {
                return Err(CacheError::Damaged);
            }
            last = Some(path);
        }
        if !r.0.is_empty() {
            return Err(CacheError::Damaged);
        }
        Ok(Self {
            stamp,
            bytes,
            body: records_start..end,
            starts,
        })
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], CacheError> {
        let (head, rest) = self.0.split_at_checked(n).ok_or(CacheError::Damaged)?;
        self.0 = rest;
        Ok(head)
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], CacheError> {
        self.bytes(N)?.try_into().map_err(|_| CacheError::Damaged)
    }

    fn record(&mut self) -> Result<(&'a [u8], Entry), CacheError> {
        let len =
            usize::try_from(u32::from_le_bytes(self.take()?)).map_err(|_| CacheError::Damaged)?;
        let path = self.bytes(len)?;
        let stat = Stat {
            dev: u64::from_le_bytes(self.take()?),
            ino: u64::from_le_bytes(self.take()?),
            size: u64::from_le_bytes(self.take()?),
            mode: u32::from_le_bytes(self.take()?),
            mtime: i64::from_le_bytes(self.take()?),
            ctime: i64::from_le_bytes(self.take()?),
        };
        let hash = self.take()?;
        Ok((path, Entry { stat, hash }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(mtime: i64) -> Stat {
        Stat {
            dev: 1,
            ino: 2,
            size: 3,
            mode: 0o100644,
            mtime,
            ctime: mtime,
        }
    }

    #[test]
    fn statx_and_std_give_the_same_stat() {
        let path = std::env::current_exe().unwrap();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let statx = rustix::fs::statx(
            rustix::fs::CWD,
            &path,
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
            rustix::fs::StatxFlags::BASIC_STATS,
        )
        .unwrap();
        assert_eq!(Stat::of_statx(&statx), Stat::of(&meta));
        assert_ne!(Stat::of(&meta).dev, 0);
    }

    #[test]
    fn a_cache_round_trips_and_refuses_damage() {
        let stamp = 100 * 1_000_000_000;
        let entry = |mtime, byte| Entry {
            stat: stat(mtime),
            hash: [byte; 32],
        };
        let cache = HashCache::from_entries(
            stamp,
            [
                (&b"z"[..], entry(1, 9)),
                // Changed within the racy window of the walk: never cached.
                (b"racy", entry(stamp - 1, 8)),
                (b"a/b", entry(1, 6)),
                (b"a/b", entry(1, 7)),
            ],
        );
        assert_eq!(
            cache.len(),
            2,
            "the racy entry is left out, the last a/b kept"
        );
        let bytes = cache.encode();
        let back = HashCache::decode(bytes.clone()).unwrap();
        assert_eq!(back, cache);
        assert_eq!(back.get(b"a/b", &stat(1)), Some([7; 32]));
        assert_eq!(back.get(b"a/b", &stat(2)), None, "another mtime");
        assert_eq!(back.get(b"racy", &stat(stamp - 1)), None);
        for cut in [0, 10, bytes.len() - 1] {
            assert!(
                HashCache::decode(bytes[..cut].to_vec()).is_err(),
                "cut at {cut}"
            );
        }
        let mut flipped = bytes.clone();
        flipped[MAGIC.len() + 6] ^= 1;
        assert_eq!(HashCache::decode(flipped), Err(CacheError::Damaged));
        assert_eq!(HashCache::decode(b"{}".to_vec()), Err(CacheError::Foreign));
    }
}
