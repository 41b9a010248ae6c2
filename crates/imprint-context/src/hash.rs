//! The content hash, format v1: length-prefixed records sorted by path bytes, then the build
//! parameters, all under BLAKE3. `docs/hash-format.md` is the written form of this file.

use crate::error::ContextError;
use crate::input::{Input, InputKind};
use crate::{BuildParams, BuilderKind};
use std::fs::File;
use std::path::Path;

/// The domain tag that opens every v1 hash.
pub const FORMAT_TAG: &[u8] = b"imprint-context-v1";

/// Hears about hashing progress; every method has a no-op default. Called from several
/// threads at once.
pub trait Observer: Sync {
    /// The walk found a file of `bytes` bytes to hash.
    fn found(&self, _bytes: u64) {}
    /// `bytes` more bytes were hashed.
    fn hashed(&self, _bytes: u64) {}
}

/// An observer that ignores everything.
pub struct Quiet;
impl Observer for Quiet {}

/// BLAKE3 of a file's bytes and their count, read in chunks (never the whole file at once).
pub fn hash_file(path: &Path) -> Result<([u8; 32], u64), ContextError> {
    let unreadable = |source| ContextError::Unreadable {
        path: path.to_path_buf(),
        source,
    };
    File::open(path)
        .and_then(|file| hash_open(file, None))
        .map_err(unreadable)
}

/// How much of a file is read at once.
const READ_SIZE: usize = 64 * 1024;

thread_local! {
    /// One read buffer per thread, made once: a context has tens of thousands of files, and
    /// a fresh zeroed buffer for each would cost more than reading most of them.
    static BUFFER: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; READ_SIZE]);
}

/// BLAKE3 of an open file's bytes (to its end) and their count. With `size` (what `lstat`
/// said), a short read that ends exactly there is the end: a regular file reads short only
/// at its end, and most files then cost one `read`, not two.
pub(crate) fn hash_open(mut file: File, size: Option<u64>) -> std::io::Result<([u8; 32], u64)> {
    use std::io::Read as _;
    BUFFER.with_borrow_mut(|buffer| {
        let mut hasher = blake3::Hasher::new();
        loop {
            match file.read(buffer) {
                Ok(0) => break,
                Ok(n) => {
                    hasher.update(&buffer[..n]);
                    if n < buffer.len() && Some(hasher.count()) == size {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok((*hasher.finalize().as_bytes(), hasher.count()))
    })
}

/// Feeds length-prefixed fields into BLAKE3, through a buffer (BLAKE3 is fastest on large
/// updates; a context has tens of thousands of small records).
struct Encoder {
    hasher: blake3::Hasher,
    buffer: Vec<u8>,
}

impl Encoder {
    const BUFFER: usize = 64 * 1024;

    fn new() -> Self {
        Self {
            hasher: blake3::Hasher::new(),
            buffer: Vec::with_capacity(Self::BUFFER),
        }
    }
    fn u64(&mut self, n: u64) {
        self.raw(&n.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u64(b.len() as u64);
        self.raw(b);
    }
    fn raw(&mut self, b: &[u8]) {
        if self.buffer.len() + b.len() > Self::BUFFER {
            self.hasher.update(&self.buffer);
            self.buffer.clear();
        }
        if b.len() > Self::BUFFER {
            self.hasher.update(b);
        } else {
            self.buffer.extend_from_slice(b);
        }
    }
    fn finalize(mut self) -> [u8; 32] {
        self.hasher.update(&self.buffer);
        *self.hasher.finalize().as_bytes()
    }
    fn optional(&mut self, value: Option<&str>) {
        match value {
            None => self.raw(&[0]),
            Some(v) => {
                self.raw(&[1]);
                self.bytes(v.as_bytes());
            }
        }
    }
}

/// The root hash over the sorted records and the build parameters.
pub(crate) fn root_hash(
    inputs: &[Input],
    params: &BuildParams,
    special: &SpecialFiles,
) -> [u8; 32] {
    let mut e = Encoder::new();
    e.bytes(FORMAT_TAG);
    e.u64(inputs.len() as u64);
    for input in inputs {
        e.raw(&[input.kind.tag()]);
        e.bytes(&input.path);
        match input.kind {
            InputKind::File => {
                // The native builder sets every mode itself (0644, or 0755 when the owner
                // may run the file): whether others may read the file changes nothing there.
                let other_readable = input.other_readable && params.builder != BuilderKind::Native;
                e.raw(&[u8::from(input.executable) | (u8::from(other_readable) << 1)]);
                e.u64(input.size);
                e.raw(&input.hash);
            }
            InputKind::Symlink => e.bytes(&input.target),
            InputKind::Dir => {}
        }
    }
    e.bytes(b"params");
    e.bytes(params.builder.hashed_name().as_bytes());
    e.bytes(special.dockerfile_rel.as_bytes());
    e.raw(&special.dockerfile_hash);
    match &special.ignore {
        None => e.raw(&[0]),
        Some((rel, hash)) => {
            e.raw(&[1]);
            e.bytes(rel.as_bytes());
            e.raw(hash);
        }
    }
    e.optional(params.target.as_deref());
    e.bytes(params.platform.as_bytes());
    e.u64(params.build_args.len() as u64);
    for (key, value) in &params.build_args {
        e.bytes(key.as_bytes());
        e.bytes(value.as_bytes());
    }
    e.u64(params.base_images.len() as u64);
    for base in &params.base_images {
        e.bytes(base.reference.as_bytes());
        e.bytes(base.digest.as_bytes());
    }
    // Only when set, so every hash made without them stays what it was.
    let native = &params.native;
    if native.python.is_some() || native.site_packages.is_some() {
        e.bytes(b"native");
        e.optional(native.python.as_deref());
        e.optional(native.site_packages.as_deref());
    }
    e.finalize()
}

/// The Dockerfile and ignore file, hashed whether or not they are inside the context.
#[derive(Debug, Clone)]
pub(crate) struct SpecialFiles {
    pub dockerfile_rel: String,
    pub dockerfile_hash: [u8; 32],
    pub ignore: Option<(String, [u8; 32])>,
}
