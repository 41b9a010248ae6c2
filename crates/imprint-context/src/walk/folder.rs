//! One folder of the walk, read with few system calls: opened in its open parent, listed
//! with `getdents64` into a buffer each thread keeps, its entries stat-ed relative to it.

use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, RawDir, Statx, StatxFlags, CWD};

use super::split_name;

/// Opens a folder of the walk: the root, or `dir_rel`'s last component in its open parent
/// (one path lookup, not one per component of the whole path).
pub(super) fn open_dir(
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
pub(super) fn list(dir: &OwnedFd, dir_rel: &[u8]) -> std::io::Result<Vec<(Vec<u8>, FileType)>> {
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
pub(super) fn stat_at(dir: &OwnedFd, name: &[u8]) -> std::io::Result<Statx> {
    Ok(rustix::fs::statx(
        dir,
        name,
        AtFlags::SYMLINK_NOFOLLOW,
        StatxFlags::BASIC_STATS,
    )?)
}
