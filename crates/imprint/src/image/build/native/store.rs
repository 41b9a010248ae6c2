//! Where native images live: `<cache>/native/`, with compressed layers and configs by
//! digest under `blobs/`, one record per content hash under `images/` (the newest build of
//! it) and a scratch folder for layers being written. Every file is written whole
//! (atomically), so a killed build leaves nothing half-written that a later run trusts.
//! Once a day the store is swept: scratch leftovers older than a day, records of images and
//! dependency layers not built or reused for two weeks, then the blobs no record names.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

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
    /// The image the layers not stored live in (records written before `StoredLayer::from`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
    /// Kept in the store (else the image `from` names holds it).
    stored: bool,
    /// The image a layer not stored is borrowed from (the base, a deployed image).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    from: Option<String>,
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

    /// A store in `dir`, its folders made (and swept, once a day).
    pub fn open_at(dir: &Path) -> io::Result<Self> {
        for sub in ["blobs", "images", "dependencies", "tmp"] {
            fs::create_dir_all(dir.join(sub))?;
        }
        let store = Self {
            dir: dir.to_path_buf(),
        };
        let marker = dir.join("swept");
        if marker.exists() && !is_older(&marker, state::LEFTOVER_AGE) {
            return Ok(store);
        }
        state::write_cache(&marker, b"")?;
        store.sweep(KEPT_UNUSED, state::LEFTOVER_AGE);
        Ok(store)
    }

    /// Removes scratch leftovers older than `leftover`, records not used for `unused`, and the
    /// blobs older than `leftover` that no remaining record names (a build writes its blobs
    /// before its record: the age keeps a running build's). What cannot be removed stays.
    fn sweep(&self, unused: Duration, leftover: Duration) {
        state::sweep(&self.tmp_dir(), leftover);
        state::sweep(&self.dir.join("images"), unused);
        state::sweep(&self.dir.join("dependencies"), unused);
        let mut named = HashSet::new();
        for (sub, names) in [
            ("images", record_blobs as fn(&[u8]) -> Vec<String>),
            ("dependencies", dependency_blobs),
        ] {
            let Ok(entries) = fs::read_dir(self.dir.join(sub)) else {
                return;
            };
            for entry in entries.flatten() {
                match fs::read(entry.path()) {
                    Ok(bytes) => named.extend(names(&bytes)),
                    // Unreadable now: keep every blob rather than guess.
                    Err(_) => return,
                }
            }
        }
        let Ok(blobs) = fs::read_dir(self.dir.join("blobs")) else {
            return;
        };
        for entry in blobs.flatten() {
            let digest = entry.file_name().to_string_lossy().replacen('-', ":", 1);
            if named.contains(&digest) || !is_older(&entry.path(), leftover) {
                continue;
            }
            if let Err(e) = fs::remove_file(entry.path()) {
                tracing::debug!("could not remove {}: {e}", entry.path().display());
            }
        }
    }

    fn blob(&self, digest: &str) -> PathBuf {
        self.dir.join("blobs").join(digest.replace(':', "-"))
    }

    /// The blob `digest`, when the store holds it.
    pub fn stored_blob(&self, digest: &str) -> Option<PathBuf> {
        let path = self.blob(digest);
        path.is_file().then_some(path)
    }

    /// Takes `file` (in the scratch folder, its bytes checked to be `digest`) into the store.
    pub fn adopt_blob(&self, file: &Path, digest: &str) -> io::Result<PathBuf> {
        let path = self.blob(digest);
        fs::rename(file, &path)?;
        Ok(path)
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
        let kept: KeptDependencies = serde_json::from_slice(&fs::read(&path).ok()?).ok()?;
        let blob = self.blob(&kept.digest);
        blob.is_file().then(|| {
            touch(&path);
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
                    from: image.lender(&l.digest).map(|b| b.reference.clone()),
                })
                .collect(),
            borrowed_from: None,
        };
        let path = self.dir.join("images").join(format!("{hash}.json"));
        state::write_atomic(&path, &serde_json::to_vec_pretty(&record)?)?;
        Ok(())
    }

    /// The newest build of `hash`, when the store still holds all of it (kept another two
    /// weeks: it was used).
    pub fn record(&self, hash: &str) -> Option<Record> {
        let found = self.read_record(hash)?;
        touch(&self.dir.join("images").join(format!("{hash}.json")));
        Some(found)
    }

    fn read_record(&self, hash: &str) -> Option<Record> {
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
                self.read_record(name.to_str()?.strip_suffix(".json")?)
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
        let mut borrowed: Vec<Borrowed> = Vec::new();
        for layer in record.layers.iter().filter(|l| !l.stored) {
            let reference = layer.from.as_ref().or(record.borrowed_from.as_ref())?;
            let digest = (layer.digest.clone(), layer.size);
            match borrowed.iter_mut().find(|b| b.reference == *reference) {
                Some(from) => from.layers.push(digest),
                None => borrowed.push(Borrowed {
                    reference: reference.clone(),
                    layers: vec![digest],
                }),
            }
        }
        let mut image = Image::new(config, layers);
        image.borrowed = borrowed;
        (image.digest == record.digest).then_some(image)
    }
}

/// How long a record no build used stays.
const KEPT_UNUSED: Duration = Duration::from_secs(14 * 24 * 3600);

/// Whether `path` was last modified longer than `age` ago (false when it cannot be read).
fn is_older(path: &Path, age: Duration) -> bool {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .is_ok_and(|t| t.elapsed().is_ok_and(|e| e > age))
}

/// Marks a record as used now (a failure only makes the sweep take it sooner).
fn touch(path: &Path) {
    let touched = File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(SystemTime::now()));
    if let Err(e) = touched {
        tracing::debug!("could not mark {} as used: {e}", path.display());
    }
}

/// The blobs an image record names (its config and the layers it stored).
fn record_blobs(bytes: &[u8]) -> Vec<String> {
    let Ok(record) = serde_json::from_slice::<Record>(bytes) else {
        return Vec::new();
    };
    let layers = record.layers.into_iter().filter(|l| l.stored);
    std::iter::once(record.config)
        .chain(layers.map(|l| l.digest))
        .collect()
}

/// The blob a dependency record names.
fn dependency_blobs(bytes: &[u8]) -> Vec<String> {
    serde_json::from_slice::<KeptDependencies>(bytes)
        .map(|kept| vec![kept.digest])
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn age(path: &Path, days: u64) {
        let then = SystemTime::now() - Duration::from_secs(days * 24 * 3600);
        File::open(path).and_then(|f| f.set_modified(then)).unwrap();
    }

    /// A layer of `text` in the store, as a build writes one.
    fn layer(store: &Store, text: &str) -> Layer {
        let tar = store.scratch_file().unwrap();
        let mut builder = tar::Builder::new(tar.as_file());
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, "f", text.as_bytes())
            .unwrap();
        builder.finish().unwrap();
        drop(builder);
        store.put_layer(tar.path()).unwrap()
    }

    #[test]
    fn the_sweep_keeps_what_records_name_and_removes_old_leftovers_and_unused_records() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_at(dir.path()).unwrap();
        let used = layer(&store, "used");
        let unused = layer(&store, "unused");
        let deps = layer(&store, "deps");
        let orphan = layer(&store, "orphan");
        let fresh_orphan = layer(&store, "fresh orphan");
        store
            .put_image(
                "used",
                "app:1",
                &Image::new(b"{\"a\":1}".to_vec(), vec![used.clone()]),
            )
            .unwrap();
        store
            .put_image(
                "unused",
                "app:0",
                &Image::new(b"{\"a\":0}".to_vec(), vec![unused.clone()]),
            )
            .unwrap();
        store.keep_dependencies("key", &deps, &[]).unwrap();
        let leftover = store.tmp_dir().join("install-old");
        fs::create_dir_all(&leftover).unwrap();
        // Everything a day and more old; the unused record and its blobs a month.
        for layer in [&used, &deps, &orphan] {
            age(layer.path.as_ref().unwrap(), 2);
        }
        for path in [
            unused.path.clone().unwrap(),
            dir.path().join("images/unused.json"),
            store.blob(&sha256_of(b"{\"a\":0}")),
        ] {
            age(&path, 30);
        }
        age(&store.blob(&sha256_of(b"{\"a\":1}")), 2);
        age(&leftover, 2);
        // Used today: a lookup marks it.
        age(&dir.path().join("images/used.json"), 30);
        assert!(store.record("used").is_some());

        store.sweep(KEPT_UNUSED, state::LEFTOVER_AGE);
        assert!(store.record("used").is_some());
        assert!(store.dependencies("key").is_some());
        assert!(store
            .image(&Image::new(b"{\"a\":1}".to_vec(), vec![used]).digest)
            .is_some());
        assert!(store.read_record("unused").is_none());
        assert!(!unused.path.unwrap().exists());
        assert!(!orphan.path.unwrap().exists());
        // Written within the day: a build may be about to record it.
        assert!(fresh_orphan.path.unwrap().exists());
        assert!(!leftover.exists());
    }

    #[test]
    fn an_image_comes_back_with_each_borrowed_layer_from_the_image_it_lives_in() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_at(dir.path()).unwrap();
        let ours = layer(&store, "code");
        let away = |digest: &str| Layer {
            digest: digest.into(),
            size: 7,
            diff_id: format!("{digest}-diff"),
            path: None,
        };
        let (base, deps) = (away("sha256:base"), away("sha256:deps"));
        let mut image = Image::new(
            b"{\"b\":1}".to_vec(),
            vec![base.clone(), deps.clone(), ours],
        );
        image.borrowed = vec![
            Borrowed {
                reference: "python:3.11".into(),
                layers: vec![(base.digest.clone(), 7)],
            },
            Borrowed {
                reference: "reg/app@sha256:deployed".into(),
                layers: vec![(deps.digest.clone(), 7)],
            },
        ];
        store.put_image("h", "app:1", &image).unwrap();
        let back = store.image(&image.digest).unwrap();
        assert_eq!(back.borrowed, image.borrowed);
        assert!(back.layers[2].path.is_some());

        // A record written before layers named where they live: every one from its base.
        let path = dir.path().join("images/h.json");
        let mut old: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        for layer in old["layers"].as_array_mut().unwrap() {
            layer.as_object_mut().unwrap().remove("from");
        }
        old["borrowed_from"] = "python:3.11".into();
        fs::write(&path, serde_json::to_vec(&old).unwrap()).unwrap();
        let back = store.image(&image.digest).unwrap();
        assert_eq!(
            back.borrowed,
            vec![Borrowed {
                reference: "python:3.11".into(),
                layers: vec![(base.digest, 7), (deps.digest, 7)],
            }]
        );
    }

    fn sha256_of(bytes: &[u8]) -> String {
        crate::registry::sha256_digest(bytes)
    }
}
