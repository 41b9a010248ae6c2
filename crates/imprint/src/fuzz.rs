//! Entry points for the fuzz targets in fuzz/ (feature `fuzzing`): the readers of what imprint
//! takes from files and registries must refuse bad bytes, never panic.

use std::path::PathBuf;

use crate::config::file;
use crate::image::lock::{pick_platform, PlatformEntry};
use crate::journal::Record;
use crate::registry::ArtifactManifest;

/// imprint.toml, with and without an `[env.NAME]` overlay.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for env in [None, Some("prod")] {
        let _ = file::parse(text, PathBuf::from("imprint.toml"), env);
    }
}

/// An image index or manifest, as `imprint lock` reads it: a picked digest is a sha256 one.
pub fn index(data: &[u8]) {
    for platform in ["linux/amd64", "linux/arm64/v8"] {
        if let PlatformEntry::Digest(d) = pick_platform(data, platform) {
            assert!(d.starts_with("sha256:") && d.len() == 71, "{d}");
        }
    }
    let _ = serde_json::from_slice::<ArtifactManifest>(data);
}

/// A journal record: what reads back writes the same record again.
pub fn record(data: &[u8]) {
    if let Ok(record) = serde_json::from_slice::<Record>(data) {
        let Ok(again) = serde_json::to_vec(&record) else {
            panic!("a record that was read cannot be written");
        };
        let reread = serde_json::from_slice::<Record>(&again).ok();
        assert_eq!(reread.as_ref(), Some(&record));
    }
}

/// Any bytes as a Python source, a layer, and a handler's module followed through the image.
pub fn inspect(data: &[u8]) {
    crate::image::inspect::fuzz(data);
}
