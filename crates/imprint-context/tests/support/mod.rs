//! What the tests and benches of imprint-context share.

use std::collections::BTreeMap;
use std::path::Path;

use imprint_context::{BuildParams, BuilderKind};

pub mod cases;

/// Build parameters for `root/Dockerfile` on linux/amd64, no target, arguments or bases.
pub fn params(root: &Path, builder: BuilderKind) -> BuildParams {
    BuildParams {
        builder,
        dockerfile: root.join("Dockerfile"),
        target: None,
        platform: "linux/amd64".into(),
        build_args: BTreeMap::new(),
        base_images: Vec::new(),
        native: Default::default(),
    }
}
