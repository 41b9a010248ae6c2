//! The hash cache, like git's index: for each file of a context, what `lstat` said (device,
//! inode, size, mode, mtime and ctime to the nanosecond) and the BLAKE3 of its bytes. A file
//! whose stat is unchanged is not read again. A file changed within [`RACY_NS`] of the time
//! the walk began is never cached (its next change could keep the same times), so the cache
//! can only save work, never change a hash. The bytes (see [`HashCache::encode`]) end in a
//! BLAKE3 of everything before them: a damaged or foreign cache is refused as a whole.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;

/// How close to the walk's start a change makes a file "racy" (never cached): filesystem
/// timestamps can be as coarse as the kernel's tick or a second.
pub const RACY_NS: i128 = 2_000_000_000;
const MAGIC: &[u8] = b"imprint-hash-cache\n";
const VERSION: u32 = 1;

/// What `lstat` says about a file, as compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    pub mtime: i128,
    /// Last status change, nanoseconds since the epoch.
    pub ctime: i128,
}

impl Stat {
    /// The fields of `meta`.
    pub fn of(meta: &std::fs::Metadata) -> Self {
        let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mode: meta.mode(),
            mtime: ns(meta.mtime(), meta.mtime_nsec()),
            ctime: ns(meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// Changed within [`RACY_NS`] of `stamp` (or after it).
    fn is_racy(&self, stamp: i128) -> bool {
        self.mtime.max(self.ctime) >= stamp - RACY_NS
    }
}

/// One cached file: its stat and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// What `lstat` said when it was hashed.
    pub stat: Stat,
    /// BLAKE3 of its bytes.
    pub hash: [u8; 32],
}

/// The cache of one context: path (relative, raw bytes) → entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HashCache {
    /// When the walk that wrote it began (nanoseconds since the epoch).
    pub stamp: i128,
    entries: HashMap<Vec<u8>, Entry>,
}

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
    /// An empty cache for a walk that began at `stamp`.
    pub fn new(stamp: i128) -> Self {
        Self {
            stamp,
            entries: HashMap::new(),
        }
    }

    /// The hash of `path` if its stat is still `stat`.
    pub fn get(&self, path: &[u8], stat: &Stat) -> Option<[u8; 32]> {
        self.entries
            .get(path)
            .filter(|e| e.stat == *stat && !e.stat.is_racy(self.stamp))
            .map(|e| e.hash)
    }

    /// Records `path`'s hash, unless its stat is racy for this cache's walk.
    pub fn insert(&mut self, path: Vec<u8>, entry: Entry) {
        if !entry.stat.is_racy(self.stamp) {
            self.entries.insert(path, entry);
        }
    }

    /// Whether both hold the same files with the same stats and hashes (whatever their
    /// stamps): then the one on disk need not be written again.
    pub fn same_entries(&self, other: &Self) -> bool {
        self.entries == other.entries
    }

    /// How many files it holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The cache as bytes: magic, version, stamp, count, the entries sorted by path, then a
    /// BLAKE3 of all of it.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.entries.len() * 120);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&self.stamp.to_le_bytes());
        out.extend_from_slice(&(self.entries.len() as u64).to_le_bytes());
        let mut paths: Vec<&Vec<u8>> = self.entries.keys().collect();
        paths.sort();
        for path in paths {
            let e = &self.entries[path];
            out.extend_from_slice(&(path.len() as u64).to_le_bytes());
            out.extend_from_slice(path);
            for n in [e.stat.dev, e.stat.ino, e.stat.size] {
                out.extend_from_slice(&n.to_le_bytes());
            }
            out.extend_from_slice(&e.stat.mode.to_le_bytes());
            out.extend_from_slice(&e.stat.mtime.to_le_bytes());
            out.extend_from_slice(&e.stat.ctime.to_le_bytes());
            out.extend_from_slice(&e.hash);
        }
        let sum = blake3::hash(&out);
        out.extend_from_slice(sum.as_bytes());
        out
    }

    /// Reads what [`encode`](Self::encode) wrote; anything else is refused whole.
    pub fn decode(bytes: &[u8]) -> Result<Self, CacheError> {
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
        let stamp = i128::from_le_bytes(r.take()?);
        let count = u64::from_le_bytes(r.take()?);
        let mut cache = Self::new(stamp);
        for _ in 0..count {
            let len =
                usize::try_from(u64::from_le_bytes(r.take()?)).map_err(|_| CacheError::Damaged)?;
            let path = r.bytes(len)?.to_vec();
            let stat = Stat {
                dev: u64::from_le_bytes(r.take()?),
                ino: u64::from_le_bytes(r.take()?),
                size: u64::from_le_bytes(r.take()?),
                mode: u32::from_le_bytes(r.take()?),
                mtime: i128::from_le_bytes(r.take()?),
                ctime: i128::from_le_bytes(r.take()?),
            };
            let hash = r.take()?;
            cache.entries.insert(path, Entry { stat, hash });
        }
        if !r.0.is_empty() {
            return Err(CacheError::Damaged);
        }
        Ok(cache)
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(mtime: i128) -> Stat {
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
    fn a_cache_round_trips_and_refuses_damage() {
        let stamp = 100 * 1_000_000_000;
        let mut cache = HashCache::new(stamp);
        cache.insert(
            b"a/b".to_vec(),
            Entry {
                stat: stat(1),
                hash: [7; 32],
            },
        );
        // Changed within the racy window of the walk: never cached.
        cache.insert(
            b"racy".to_vec(),
            Entry {
                stat: stat(stamp - 1),
                hash: [8; 32],
            },
        );
        assert_eq!(cache.len(), 1);
        let bytes = cache.encode();
        let back = HashCache::decode(&bytes).unwrap();
        assert_eq!(back, cache);
        assert_eq!(back.get(b"a/b", &stat(1)), Some([7; 32]));
        assert_eq!(back.get(b"a/b", &stat(2)), None, "another mtime");
        assert_eq!(back.get(b"racy", &stat(stamp - 1)), None);
        for cut in [0, 10, bytes.len() - 1] {
            assert!(HashCache::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut flipped = bytes.clone();
        flipped[MAGIC.len() + 6] ^= 1;
        assert_eq!(HashCache::decode(&flipped), Err(CacheError::Damaged));
        assert_eq!(HashCache::decode(b"{}"), Err(CacheError::Foreign));
    }
}
