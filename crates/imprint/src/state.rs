//! imprint's own state (blob cache, later the token cache) under `$XDG_CACHE_HOME/imprint`,
//! never in the build context; and atomic file writes.

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

/// Writes a file so that readers see the old content or the new, never a half (mode 0644).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_with_mode(path, bytes, 0o644)
}

/// Like [`write_atomic`], readable by the owner only (0600): tokens and other secrets.
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_with_mode(path, bytes, 0o600)
}

fn write_with_mode(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
