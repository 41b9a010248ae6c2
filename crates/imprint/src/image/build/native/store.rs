//! Where native images live: `<cache>/native/`, with compressed layers and configs by
//! digest under `blobs/`, one record per content hash under `images/` (the newest build of
//! it) and a scratch folder for layers being written. Every file is written whole
//! (atomically), so a killed build leaves nothing half-written that a later run trusts.

use std::fs::{self, File};
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::image::push::archive::{compress_member, Borrowed, Image, Layer};
use crate::state;

/// The native store.
pub struct Store {
    dir: PathBuf,
}

/// What the store keeps of one image.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// `name:tag`.
    pub name: String,
    /// The manifest digest.
    pub digest: String,
    config: String,
    layers: Vec<StoredLayer>,
    #[serde(default)]
    borrowed_from: Option<String>,
}

/// A dependency layer, kept by what decides its bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct KeptDependencies {
    digest: String,
    size: u64,
    diff_id: String,
    left_out: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredLayer {
    digest: String,
    size: u64,
    diff_id: String,
    /// Kept in the store (else the base's repository holds it).
    stored: bool,
}

impl Store {
    /// `<cache>/native`.
    pub fn dir() -> io::Result<PathBuf> {
        Ok(state::cache_dir()?.join("native"))
    }

    /// The store, its folders made.
    pub fn open() -> io::Result<Self> {
        Self::open_at(&Self::dir()?)
    }

    /// A store in `dir`, its folders made.
    pub fn open_at(dir: &Path) -> io::Result<Self> {
        for sub in ["blobs", "images", "tmp"] {
            fs::create_dir_all(dir.join(sub))?;
        }
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    fn blob(&self, digest: &str) -> PathBuf {
        self.dir.join("blobs").join(digest.replace(':', "-"))
    }

    /// Its scratch folder (on the same file system as the blobs).
    pub fn tmp_dir(&self) -> PathBuf {
        self.dir.join("tmp")
    }

    /// A file to write a layer's tar into, removed when dropped.
    pub fn scratch_file(&self) -> io::Result<tempfile::NamedTempFile> {
        tempfile::NamedTempFile::new_in(self.dir.join("tmp"))
    }

    /// Compresses the tar at `tar` into a stored layer (gzip as every push makes it).
    pub fn put_layer(&self, tar: &Path) -> anyhow::Result<Layer> {
        // As an export's layers are: compressed, hashed and stored by digest in one pass.
        let mut input = BufReader::new(File::open(tar)?);
        Ok(compress_member(
            &mut input,
            tar,
            &self.dir.join("blobs"),
            None,
        )?)
    }

    /// The dependency layer kept under `key` (and the files it left out), when its blob is
    /// still here.
    pub fn dependencies(&self, key: &str) -> Option<(Layer, Vec<String>)> {
        let path = self.dir.join("dependencies").join(format!("{key}.json"));
        let kept: KeptDependencies = serde_json::from_slice(&fs::read(path).ok()?).ok()?;
        let blob = self.blob(&kept.digest);
        blob.is_file().then(|| {
            let layer = Layer {
                digest: kept.digest,
                size: kept.size,
                diff_id: kept.diff_id,
                path: Some(blob),
            };
            (layer, kept.left_out)
        })
    }

    /// Keeps the dependency layer made for `key`.
    pub fn keep_dependencies(
        &self,
        key: &str,
        layer: &Layer,
        left_out: &[String],
    ) -> anyhow::Result<()> {
        let dir = self.dir.join("dependencies");
        fs::create_dir_all(&dir)?;
        let kept = KeptDependencies {
            digest: layer.digest.clone(),
            size: layer.size,
            diff_id: layer.diff_id.clone(),
            left_out: left_out.to_vec(),
        };
        let path = dir.join(format!("{key}.json"));
        state::write_atomic(&path, &serde_json::to_vec_pretty(&kept)?)?;
        Ok(())
    }

    /// Records `image` as the build of `hash` named `name`; its config stored by digest.
    pub fn put_image(&self, hash: &str, name: &str, image: &Image) -> anyhow::Result<()> {
        state::write_atomic(&self.blob(&image.config_digest), &image.config)?;
        let record = Record {
            name: name.to_string(),
            digest: image.digest.clone(),
            config: image.config_digest.clone(),
            layers: image
                .layers
                .iter()
                .map(|l| StoredLayer {
                    digest: l.digest.clone(),
                    size: l.size,
                    diff_id: l.diff_id.clone(),
                    stored: l.path.is_some(),
                })
                .collect(),
            borrowed_from: image.borrowed.as_ref().map(|b| b.reference.clone()),
        };
        let path = self.dir.join("images").join(format!("{hash}.json"));
        state::write_atomic(&path, &serde_json::to_vec_pretty(&record)?)?;
        Ok(())
    }

    /// The newest build of `hash`, when the store still holds all of it.
    pub fn record(&self, hash: &str) -> Option<Record> {
        let path = self.dir.join("images").join(format!("{hash}.json"));
        let record: Record = serde_json::from_slice(&fs::read(path).ok()?).ok()?;
        let whole = self.blob(&record.config).is_file()
            && record
                .layers
                .iter()
                .all(|l| !l.stored || self.blob(&l.digest).is_file());
        whole.then_some(record)
    }

    /// The stored image with the manifest digest `digest` (any record naming it).
    pub fn image(&self, digest: &str) -> Option<Image> {
        let records = fs::read_dir(self.dir.join("images")).ok()?;
        let record = records
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name();
                self.record(name.to_str()?.strip_suffix(".json")?)
            })
            .find(|record| record.digest == digest)?;
        let config = fs::read(self.blob(&record.config)).ok()?;
        let layers: Vec<Layer> = record
            .layers
            .iter()
            .map(|l| Layer {
                digest: l.digest.clone(),
                size: l.size,
                diff_id: l.diff_id.clone(),
                path: l.stored.then(|| self.blob(&l.digest)),
            })
            .collect();
        let borrowed = record.borrowed_from.clone().map(|reference| Borrowed {
            reference,
            layers: layers
                .iter()
                .filter(|l| l.path.is_none())
                .map(|l| (l.digest.clone(), l.size))
                .collect(),
        });
        let mut image = Image::new(config, layers);
        image.borrowed = borrowed;
        (image.digest == record.digest).then_some(image)
    }
}
