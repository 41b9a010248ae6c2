//! An image's file tree read from its layers as they stream past (bottom first, whiteouts
//! applied, nothing written to disk): every file's size and layer, each Python source's
//! imports, the texts of package metadata and `.pth` files; nothing else is kept.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::ops::Bound;

use serde::{Deserialize, Serialize};

use super::python::{self, Imports};

/// The largest Python source read for its imports (a larger one is "not read", said so).
const MAX_SOURCE: u64 = 16 << 20;
/// The largest metadata or `.pth` text kept.
const MAX_TEXT: u64 = 16 << 20;

/// What is known of one file of the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct File {
    /// Its size on disk (0 for links).
    pub size: u64,
    /// The layer it comes from (0: the bottom one).
    #[serde(skip)]
    pub layer: usize,
    /// A Python source's imports (`None`: not a source, or too large to read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imports: Option<Box<Imports>>,
    /// A metadata or `.pth` file's text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<Box<str>>,
}

/// One entry of a layer, as it applies to the layers below.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Entry {
    /// A file (or link) at this path.
    File(String, File),
    /// `.wh.NAME`: the path and all under it are gone.
    Whiteout(String),
    /// `.wh..wh..opq`: what lower layers hold under this folder is gone.
    Opaque(String),
}

/// One layer as read: what it does to the tree, and its size. Depends only on the layer's
/// bytes, so the layer reader keeps it by digest in the cache folder.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LayerScan {
    /// Its entries in order (folders left out).
    pub entries: Vec<Entry>,
    /// Bytes of its files unpacked.
    pub size: u64,
    /// Its entries (files, folders, links, whiteouts).
    pub count: u64,
    /// Python sources too large to read.
    pub unread: Vec<String>,
}

/// One layer as applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LayerFacts {
    /// Bytes of its files unpacked.
    pub size: u64,
    /// Its entries (files, folders, links, whiteouts).
    pub entries: u64,
}

/// The image's files after every layer applied so far.
#[derive(Debug, Default)]
pub struct Tree {
    /// Path (no leading `/`) → the file. Folders are not kept: one exists when a path is
    /// under it.
    pub files: BTreeMap<String, File>,
    /// The layers applied, bottom first.
    pub layers: Vec<LayerFacts>,
    /// Python sources too large to read.
    pub unread: Vec<String>,
}

/// The layer format: gzip, or a plain tar.
fn decompressed<'a>(reader: impl Read + 'a) -> std::io::Result<Box<dyn Read + 'a>> {
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    let head = reader.fill_buf()?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::bufread::MultiGzDecoder::new(reader)))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Err(std::io::Error::other(
            "the layer is compressed with zstd, which inspect does not read yet",
        ))
    } else {
        Ok(Box::new(reader))
    }
}

/// A path as the tree keeps it: no leading `./` or `/`, no trailing `/`.
fn clean(path: &str) -> &str {
    let path = path.trim_start_matches("./").trim_start_matches('/');
    path.trim_end_matches('/')
}

/// Reads one layer (a gzipped or plain tar) as it streams past.
pub fn scan_layer(reader: impl Read) -> anyhow::Result<LayerScan> {
    let mut scan = LayerScan::default();
    let mut archive = tar::Archive::new(decompressed(reader)?);
    for entry in archive.entries()? {
        let mut entry = entry?;
        scan.count += 1;
        let raw = entry.path()?.to_string_lossy().into_owned();
        let path = clean(&raw).to_string();
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", &path));
        if name == ".wh..wh..opq" {
            scan.entries.push(Entry::Opaque(dir.to_string()));
            continue;
        }
        if let Some(hidden) = name.strip_prefix(".wh.") {
            let hidden = match dir {
                "" => hidden.to_string(),
                _ => format!("{dir}/{hidden}"),
            };
            scan.entries.push(Entry::Whiteout(hidden));
            continue;
        }
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            continue;
        }
        let size = if kind.is_file() { entry.size() } else { 0 };
        scan.size += size;
        let mut file = File {
            size,
            layer: 0,
            imports: None,
            text: None,
        };
        if kind.is_file() && !read_contents(&path, &mut entry, &mut file)? {
            scan.unread.push(path.clone());
        }
        scan.entries.push(Entry::File(path, file));
    }
    Ok(scan)
}

/// Keeps what the analysis needs of a file: a source's imports, a metadata or `.pth` text;
/// false for a source too large to read.
fn read_contents(path: &str, entry: &mut impl Read, file: &mut File) -> anyhow::Result<bool> {
    let keep_text = super::packages::metadata_file(path).is_some() || path.ends_with(".pth");
    let source = path.ends_with(".py");
    if !(keep_text || source) {
        return Ok(true);
    }
    let limit = if source { MAX_SOURCE } else { MAX_TEXT };
    if file.size > limit {
        return Ok(!source);
    }
    let mut bytes = Vec::with_capacity(usize::try_from(file.size).unwrap_or(0));
    entry.take(limit).read_to_end(&mut bytes)?;
    if source {
        file.imports = Some(Box::new(python::imports(&bytes)));
    } else {
        file.text = Some(String::from_utf8_lossy(&bytes).into());
    }
    Ok(true)
}

impl Tree {
    /// Reads the next layer (a gzipped or plain tar) on top of the ones read.
    #[cfg(test)]
    pub fn read_layer(&mut self, reader: impl Read) -> anyhow::Result<()> {
        let scan = scan_layer(reader)?;
        self.apply(scan);
        Ok(())
    }

    /// Puts the next layer on top of the ones applied.
    pub fn apply(&mut self, scan: LayerScan) {
        let layer = self.layers.len();
        for entry in scan.entries {
            match entry {
                Entry::Opaque(dir) => self.remove_under(&dir, |f| f.layer < layer),
                Entry::Whiteout(hidden) => {
                    self.files.remove(&hidden);
                    self.remove_under(&hidden, |_| true);
                }
                Entry::File(path, mut file) => {
                    // A file replacing a folder hides what the folder held.
                    self.remove_under(&path, |f| f.layer < layer);
                    file.layer = layer;
                    self.files.insert(path, file);
                }
            }
        }
        self.unread.extend(scan.unread);
        self.layers.push(LayerFacts {
            size: scan.size,
            entries: scan.count,
        });
    }

    /// Removes the files under folder `dir` that `which` picks.
    fn remove_under(&mut self, dir: &str, which: impl Fn(&File) -> bool) {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        let gone: Vec<String> = self
            .under(&prefix)
            .filter(|(_, f)| which(f))
            .map(|(p, _)| p.clone())
            .collect();
        for path in gone {
            self.files.remove(&path);
        }
    }

    /// The files whose path starts with `prefix`.
    pub fn under<'a>(&'a self, prefix: &str) -> impl Iterator<Item = (&'a String, &'a File)> {
        let owned = prefix.to_string();
        self.files
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(move |(p, _)| p.starts_with(&owned))
    }

    /// Whether `dir` is a folder holding anything.
    pub fn is_dir(&self, dir: &str) -> bool {
        self.under(&format!("{dir}/")).next().is_some()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A gzipped layer of `(path, contents)`; a path ending in `/` is a folder.
    pub(crate) fn layer(files: &[(&str, &str)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        for (path, contents) in files {
            let mut header = tar::Header::new_gnu();
            if path.ends_with('/') {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
            } else {
                header.set_size(contents.len() as u64);
            }
            header.set_mode(0o644);
            builder
                .append_data(&mut header, path, contents.as_bytes())
                .unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn whiteouts_and_opaque_folders_hide_lower_layers() {
        let mut tree = Tree::default();
        tree.read_layer(
            &layer(&[
                ("a/", ""),
                ("a/one.py", "import x\n"),
                ("a/two", "22"),
                ("b/keep", "k"),
                ("b/old/file", "o"),
            ])[..],
        )
        .unwrap();
        tree.read_layer(
            &layer(&[
                ("a/.wh.two", ""),
                ("b/.wh..wh..opq", ""),
                ("b/new", "n"),
                ("c", "plain"),
            ])[..],
        )
        .unwrap();
        let paths: Vec<&str> = tree.files.keys().map(String::as_str).collect();
        assert_eq!(paths, ["a/one.py", "b/new", "c"]);
        assert_eq!(
            tree.files["a/one.py"].imports.as_ref().unwrap().imports[0].module,
            "x"
        );
        assert_eq!(
            tree.layers[0],
            LayerFacts {
                size: 13,
                entries: 5
            }
        );
        assert_eq!(tree.layers[1].size, 6);
        assert!(tree.is_dir("a") && !tree.is_dir("a/one.py"));
    }

    #[test]
    fn a_plain_tar_reads_as_a_gzipped_one() {
        let gz = layer(&[("x.py", "import y\n")]);
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut plain)
            .unwrap();
        let (mut a, mut b) = (Tree::default(), Tree::default());
        a.read_layer(&gz[..]).unwrap();
        b.read_layer(&plain[..]).unwrap();
        assert_eq!(
            a.files["x.py"].imports.as_deref(),
            b.files["x.py"].imports.as_deref()
        );
    }
}
