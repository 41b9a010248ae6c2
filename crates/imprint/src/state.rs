//! imprint's own state (hash caches, tokens, scratch folders) under
//! `$XDG_CACHE_HOME/imprint`, never in the build context; and atomic file writes.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// `$XDG_CACHE_HOME/imprint`, else `~/.cache/imprint`.
pub fn cache_dir() -> io::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("imprint"));
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".cache").join("imprint")),
        None => Err(io::Error::new(
            io::ErrorKind::NotFound,
            "neither XDG_CACHE_HOME nor HOME is set, so imprint has no cache folder",
        )),
    }
}

/// How old a scratch folder's leftover must be to be swept: older than any run.
pub const LEFTOVER_AGE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// A scratch folder of its own under `<cache>/<under>` (an export's blobs), removed when
/// dropped. Leftovers of runs that were killed (and the loose blobs of older imprint versions)
/// older than a day are swept first, so the cache does not grow with every push.
pub fn scratch_dir(under: &str) -> io::Result<tempfile::TempDir> {
    let parent = cache_dir()?.join(under);
    std::fs::create_dir_all(&parent)?;
    sweep(&parent, LEFTOVER_AGE);
    tempfile::Builder::new().prefix("run-").tempdir_in(&parent)
}

/// Removes what in `dir` was last modified longer than `age` ago; what cannot be removed
/// stays (a debug message).
pub fn sweep(dir: &Path, age: std::time::Duration) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().is_ok_and(|e| e > age));
        if !old {
            continue;
        }
        let path = entry.path();
        let removed = match entry.file_type().is_ok_and(|t| t.is_dir()) {
            true => std::fs::remove_dir_all(&path),
            false => std::fs::remove_file(&path),
        };
        if let Err(e) = removed {
            tracing::debug!("could not remove {}: {e}", path.display());
        }
    }
}

/// Writes a file so that readers see the old content or the new, never a half (mode 0644).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_with_mode(path, bytes, 0o644, Durable::Synced)
}

/// Like [`write_atomic`] without waiting for the disk, its folder made first: for caches,
/// which check what they read or take it only as a hint (a crash may leave the old file,
/// the new one, or one that fails its check and is ignored), and whose loss only costs time.
pub fn write_cache(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    write_with_mode(path, bytes, 0o644, Durable::Unsynced)
}

/// Like [`write_atomic`], readable by the owner only (0600): tokens and other secrets.
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_with_mode(path, bytes, 0o600, Durable::Synced)
}

/// Whether a write waits until the disk has the new content.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Durable {
    Synced,
    Unsynced,
}

fn write_with_mode(path: &Path, bytes: &[u8], mode: u32, durable: Durable) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))?;
    tmp.write_all(bytes)?;
    if durable == Durable::Synced {
        tmp.as_file().sync_all()?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Bytes free for an unprivileged writer on the file system holding `path`.
pub fn free_space(path: &Path) -> io::Result<u64> {
    let stat = rustix::fs::statvfs(path)?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}
