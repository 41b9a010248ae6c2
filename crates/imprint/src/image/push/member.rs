//! One layer of an export: compressed deterministically into the blob folder (or a copy of
//! it streamed as it is made), or only checked against the diff ID it had when it was
//! compressed before; and the errors of reading an export.

use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use sha2::{Digest as _, Sha256};

/// A problem with the builder's export.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// Reading or writing a file failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The export is not what a docker or OCI archive looks like.
    #[error("the image export {} is malformed: {why}", path.display())]
    Malformed {
        /// The archive.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// A layer member was not what compressing it before gave (the push reads the export
    /// again, compressing every layer).
    #[error("the export's layer {name} is not the one this machine compressed before")]
    NotAsRemembered {
        /// The member.
        name: String,
    },
    /// The image was built for another platform than configured.
    #[error("the built image is {actual}, but the configured platform is {expected}")]
    Platform {
        /// Configured.
        expected: String,
        /// Found in the image config.
        actual: String,
    },
}

impl ImageError {
    /// Whether `e` says a layer was not what this machine compressed before.
    pub fn is_not_as_remembered(e: &anyhow::Error) -> bool {
        e.chain()
            .any(|cause| matches!(cause.downcast_ref(), Some(Self::NotAsRemembered { .. })))
    }
}

/// One compressed layer, stored as a file in the blob cache.
#[derive(Debug, Clone)]
pub struct Layer {
    /// `sha256:` of the compressed bytes.
    pub digest: String,
    /// Compressed size.
    pub size: u64,
    /// `sha256:` of the uncompressed tar.
    pub diff_id: String,
    /// The compressed file; none for a layer streamed to the registry as it was made.
    pub path: Option<PathBuf>,
}

/// A copy of one layer's compressed bytes.
pub trait LayerTee: Write + Send {
    /// The layer is complete: its digest and size are known.
    fn finish(self: Box<Self>, layer: &Layer);
}

/// An I/O error on `path` while doing `what`.
pub(super) fn io_err(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> ImageError {
    let path = path.to_path_buf();
    move |source| ImageError::Io { what, path, source }
}

/// Writes into the blob file, or the copy, or both.
struct TeeWriter<W> {
    file: Option<W>,
    copy: Option<Box<dyn LayerTee>>,
}

impl<W: Write> Write for TeeWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(file) = &mut self.file {
            file.write_all(buf)?;
        }
        if let Some(copy) = &mut self.copy {
            copy.write_all(buf)?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        match &mut self.file {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }
}

/// Writes what passes through into a SHA-256 as well.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A layer member's tar bytes (decompressed when the export holds it gzipped).
fn uncompressed<'a>(
    member: &'a mut impl io::BufRead,
    label: &Path,
) -> Result<Box<dyn Read + 'a>, ImageError> {
    let gzipped = member
        .fill_buf()
        .map_err(io_err("cannot read", label))?
        .starts_with(&[0x1f, 0x8b]);
    Ok(match gzipped {
        true => Box::new(GzDecoder::new(member)),
        false => Box::new(member),
    })
}

/// The diff ID of a layer member: the SHA-256 of its tar bytes.
pub(super) fn diff_id_of(
    member: &mut impl io::BufRead,
    label: &Path,
) -> Result<String, ImageError> {
    let mut source = uncompressed(member, label)?;
    let mut hasher = Sha256::new();
    io::copy(&mut source, &mut hasher).map_err(io_err("cannot read", label))?;
    Ok(format!(
        "sha256:{}",
        imprint_context::hex(&hasher.finalize())
    ))
}

/// Compresses one layer member (decompressing first if the export holds it gzipped) into
/// the blob folder, or only into `copy` when there is one (a streamed layer is not stored:
/// it goes out as it is made); returns it with its uncompressed digest (the diff ID).
pub(crate) fn compress_member(
    member: &mut impl io::BufRead,
    label: &Path,
    blobs: &Path,
    copy: Option<Box<dyn LayerTee>>,
) -> Result<Layer, ImageError> {
    let mut source = uncompressed(member, label)?;
    let tmp = match copy {
        Some(_) => None,
        None => Some(
            tempfile::NamedTempFile::new_in(blobs)
                .map_err(io_err("cannot create a file in", blobs))?,
        ),
    };
    let file = match &tmp {
        Some(tmp) => Some(BufWriter::with_capacity(
            256 * 1024,
            tmp.as_file()
                .try_clone()
                .map_err(io_err("cannot write", tmp.path()))?,
        )),
        None => None,
    };
    let mut out = Hashing {
        inner: TeeWriter { file, copy },
        hasher: Sha256::new(),
        count: 0,
    };
    // Fixed blocks, no name, no time: the same layer always compresses to the same bytes.
    let mut uncompressed = Sha256::new();
    super::gzip::compress(&mut source, &mut out, |block| uncompressed.update(block))
        .map_err(io_err("cannot compress a layer of", label))?;
    let diff_id = format!("sha256:{}", imprint_context::hex(&uncompressed.finalize()));
    let digest = format!("sha256:{}", imprint_context::hex(&out.hasher.finalize()));
    let path = match tmp {
        Some(tmp) => {
            let path = blobs.join(digest.replace(':', "-"));
            tmp.persist(&path).map_err(|e| ImageError::Io {
                what: "cannot store",
                path: path.clone(),
                source: e.error,
            })?;
            Some(path)
        }
        None => None,
    };
    let layer = Layer {
        digest,
        size: out.count,
        diff_id,
        path,
    };
    if let Some(copy) = out.inner.copy {
        copy.finish(&layer);
    }
    Ok(layer)
}
