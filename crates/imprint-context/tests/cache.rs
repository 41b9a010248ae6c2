//! The hash cache can never change a hash: random edit sequences (same-size rewrites, mtimes
//! set back, renames, chmod, symlink retargets, edits right after a walk) hashed with the
//! cache carried from run to run and without it, compared at every step.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use imprint_context::{hash_context, hash_context_cached, BuilderKind, HashCache, Quiet};

mod support;

use support::params;

/// xorshift64*: the same edits on every run.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n as u64) as usize
    }
}

fn set_mtime(path: &Path, to: SystemTime) {
    let file = fs::File::options().write(true).open(path).unwrap();
    file.set_modified(to).unwrap();
}

fn edit(root: &Path, rng: &mut Rng, step: usize) {
    let name = |i: usize| root.join(format!("src/f{i}.py"));
    let i = rng.below(12);
    match rng.below(6) {
        // The same size, new bytes, the old mtime put back.
        0 => {
            let path = name(i);
            let old = fs::metadata(&path).unwrap().modified().unwrap();
            let len = fs::metadata(&path).unwrap().len() as usize;
            let text: Vec<u8> = (0..len).map(|k| b'a' + ((k + step) % 26) as u8).collect();
            fs::write(&path, text).unwrap();
            set_mtime(&path, old);
        }
        // Renamed over another file.
        1 => {
            let j = (i + 1 + rng.below(11)) % 12;
            fs::rename(name(i), name(j)).unwrap();
            fs::write(name(i), format!("print({step})\n")).unwrap();
        }
        // Mode changes.
        2 => {
            let mode = if rng.below(2) == 0 { 0o755 } else { 0o600 };
            fs::set_permissions(name(i), fs::Permissions::from_mode(mode)).unwrap();
        }
        // A symlink retargeted.
        3 => {
            let link = root.join("src/link");
            let _ = fs::remove_file(&link);
            std::os::unix::fs::symlink(format!("f{i}.py"), &link).unwrap();
        }
        // An append, then the mtime set far back.
        4 => {
            let path = name(i);
            let mut text = fs::read(&path).unwrap();
            text.extend_from_slice(b"# more\n");
            fs::write(&path, text).unwrap();
            set_mtime(
                &path,
                SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000),
            );
        }
        // Two edits in the same instant.
        _ => {
            fs::write(name(i), format!("x = {step}\n")).unwrap();
            fs::write(name(i), format!("y = {step}\n")).unwrap();
        }
    }
}

#[test]
fn the_cache_never_changes_a_hash() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir(root.join("src")).unwrap();
    fs::write(root.join("Dockerfile"), "FROM scratch\nCOPY . /app/\n").unwrap();
    for i in 0..12 {
        fs::write(
            root.join(format!("src/f{i}.py")),
            format!("print({i:04})\n"),
        )
        .unwrap();
    }
    let p = params(root, BuilderKind::Buildkit);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut cache: Option<HashCache> = None;
    let mut cached_files = 0;
    for step in 0..36 {
        // Every 12 steps let the tree age past the racy window, so the cache holds files
        // that the next edits must be noticed in.
        if step % 12 == 0 {
            std::thread::sleep(Duration::from_millis(2_200));
        }
        let plain = hash_context(root, &p, &Quiet).unwrap().hex();
        let (hashed, next) = hash_context_cached(root, &p, &Quiet, cache.as_ref().into()).unwrap();
        assert_eq!(
            hashed.hex(),
            plain,
            "step {step}: the cache changed the hash"
        );
        // The cache round-trips through its bytes, as it does on disk; `None` is "unchanged".
        if let Some(next) = next {
            cache = Some(HashCache::decode(next.encode()).unwrap());
        }
        cached_files = cached_files.max(cache.as_ref().map_or(0, HashCache::len));
        edit(root, &mut rng, step);
    }
    assert!(
        cached_files >= 10,
        "the cache was never used: {cached_files}"
    );
}

#[test]
fn the_cache_is_written_again_only_when_that_saves_more_than_it_costs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir(root.join("src")).unwrap();
    fs::write(root.join("Dockerfile"), "FROM scratch\nCOPY . /app/\n").unwrap();
    let name = |i: usize| root.join(format!("src/f{i:03}.py"));
    for i in 0..400 {
        fs::write(name(i), format!("print({i})\n")).unwrap();
    }
    let p = params(root, BuilderKind::Buildkit);
    // Past the racy window, so what changed can be cached.
    let settle = || std::thread::sleep(Duration::from_millis(2_200));
    settle();
    let (_, first) = hash_context_cached(root, &p, &Quiet, None.into()).unwrap();
    let cache = first.expect("no cache yet: one is written");
    assert_eq!(cache.len(), 401, "the 400 files and the Dockerfile");

    // One file edited: hashing it again next time costs less than a new cache of 400.
    fs::write(name(7), "print('edited')\n").unwrap();
    settle();
    let (hashed, next) = hash_context_cached(root, &p, &Quiet, Some(&cache).into()).unwrap();
    assert!(next.is_none(), "a cache was written for one edited file");
    assert_eq!(hashed.hex(), hash_context(root, &p, &Quiet).unwrap().hex());

    // 300 edited: the next walk would hash them all again, so the cache is written.
    for i in 0..300 {
        fs::write(name(i), format!("print('again {i}')\n")).unwrap();
    }
    settle();
    let (hashed, next) = hash_context_cached(root, &p, &Quiet, Some(&cache).into()).unwrap();
    let next = next.expect("300 files hashed again: the cache pays");
    assert_eq!(hashed.hex(), hash_context(root, &p, &Quiet).unwrap().hex());
    let (_, after) = hash_context_cached(root, &p, &Quiet, Some(&next).into()).unwrap();
    assert!(after.is_none(), "the new cache holds every file");

    // Most files gone: the old records are dropped.
    for i in 0..300 {
        fs::remove_file(name(i)).unwrap();
    }
    let (_, next) = hash_context_cached(root, &p, &Quiet, Some(&cache).into()).unwrap();
    assert_eq!(next.map(|c| c.len()), Some(101));
}
