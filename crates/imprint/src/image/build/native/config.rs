//! The base image as the native builder reads it (its manifest and config, never its
//! layers), and the config it writes on top: the base's, with the Dockerfile's environment,
//! working folder, user, labels, command and entrypoint, one history entry per step, the new
//! layers' diff IDs, and a fixed creation time (never the clock).

use std::collections::BTreeMap;

use anyhow::Context as _;
use imprint_context::native::ImagePlan;
use serde_json::{json, Map, Value};

use crate::image::push::archive::{Borrowed, Layer};

/// The creation time of every native image (the layers' time).
pub const CREATED: &str = "1980-01-01T00:00:01Z";

/// How a dependency layer's history entry begins its comment: then the key of what decided
/// its bytes, by which a later build on any machine finds it in the registry.
const DEPENDENCIES_COMMENT: &str = "imprint dependencies ";

/// A layer the Dockerfile's steps made, or found made before.
pub struct Made {
    /// The layer.
    pub layer: Layer,
    /// What decided a dependency layer's bytes (its history entry says it).
    pub key: Option<String>,
    /// Where it lives when not on this machine (a deployed image's dependency layer).
    pub borrowed: Option<Borrowed>,
}

impl Made {
    /// A layer written here now.
    pub fn here(layer: Layer) -> Self {
        Self {
            layer,
            key: None,
            borrowed: None,
        }
    }
}

/// A base image's manifest and config, as its registry holds them (at its locked digest).
#[derive(Debug, Clone)]
pub struct BaseImageData {
    /// The reference as the Dockerfile names it (empty for `scratch`).
    pub reference: String,
    /// The manifest.
    pub manifest: Value,
    /// The config.
    pub config: Value,
}

impl BaseImageData {
    /// Reads the bytes the registry gave.
    pub fn new(reference: &str, manifest: &[u8], config: &[u8]) -> anyhow::Result<Self> {
        let parse = |bytes: &[u8], what: &str| -> anyhow::Result<Value> {
            serde_json::from_slice(bytes)
                .with_context(|| format!("the {what} of {reference} is not JSON"))
        };
        Ok(Self {
            reference: reference.to_string(),
            manifest: parse(manifest, "manifest")?,
            config: parse(config, "config")?,
        })
    }

    /// `FROM scratch` for `platform` (`os/arch[/variant]`).
    pub fn scratch(platform: &str) -> anyhow::Result<Self> {
        let mut parts = platform.split('/');
        let (Some(os), Some(arch)) = (parts.next(), parts.next()) else {
            anyhow::bail!("the platform `{platform}` is not os/arch");
        };
        let mut config = json!({
            "architecture": arch,
            "os": os,
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": []},
            "history": [],
        });
        if let Some(variant) = parts.next() {
            config["variant"] = json!(variant);
        }
        Ok(Self {
            reference: String::new(),
            manifest: json!({"layers": []}),
            config,
        })
    }

    /// That the base is an image for `platform` (`os/arch[/variant]`).
    pub fn check_platform(&self, platform: &str) -> anyhow::Result<()> {
        let mut parts = platform.split('/');
        let (os, arch) = (
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
        );
        let (their_os, their_arch) = (
            self.config["os"].as_str().unwrap_or_default(),
            self.config["architecture"].as_str().unwrap_or_default(),
        );
        anyhow::ensure!(
            (their_os, their_arch) == (os, arch),
            "the base image {} is {their_os}/{their_arch}, not {platform}: lock it for {platform} (`imprint lock --update`)",
            self.reference
        );
        Ok(())
    }

    /// The base's environment (`KEY=VALUE`) and working folder (`/` when it sets none).
    pub fn env_and_workdir(&self) -> anyhow::Result<(Vec<String>, String)> {
        let inner = &self.config["config"];
        let env = match &inner["Env"] {
            Value::Null => Vec::new(),
            value => serde_json::from_value(value.clone()).with_context(|| {
                format!("the Env of {} is not a list of strings", self.reference)
            })?,
        };
        let workdir = inner["WorkingDir"].as_str().filter(|w| !w.is_empty());
        Ok((env, workdir.unwrap_or("/").to_string()))
    }

    /// The base's layers as the manifest names them (with the config's diff IDs), stored
    /// nowhere here.
    pub fn layers(&self) -> anyhow::Result<Vec<Layer>> {
        let descriptors = self.manifest["layers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let diff_ids = self.config["rootfs"]["diff_ids"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        anyhow::ensure!(
            descriptors.len() == diff_ids.len(),
            "{}: its manifest names {} layers, its config {}",
            self.reference,
            descriptors.len(),
            diff_ids.len()
        );
        descriptors
            .iter()
            .zip(diff_ids)
            .map(|(layer, diff_id)| {
                let media_type = layer["mediaType"].as_str().unwrap_or_default();
                anyhow::ensure!(
                    media_type.ends_with("gzip"),
                    "{}: a layer of media type `{media_type}`: the native builder takes gzip layers",
                    self.reference
                );
                let (Some(digest), Some(size), Some(diff_id)) = (
                    layer["digest"].as_str(),
                    layer["size"].as_u64(),
                    diff_id.as_str(),
                ) else {
                    anyhow::bail!("{}: a layer without a digest or size", self.reference);
                };
                Ok(Layer {
                    digest: digest.to_string(),
                    size,
                    diff_id: diff_id.to_string(),
                    path: None,
                })
            })
            .collect()
    }

    /// What the push brings from the base's repository.
    pub fn borrowed(&self, layers: &[Layer]) -> anyhow::Result<Borrowed> {
        Ok(Borrowed {
            reference: self.reference.clone(),
            layers: layers.iter().map(|l| (l.digest.clone(), l.size)).collect(),
        })
    }

    /// The layer of this image whose history entry says a dependency step made it under
    /// `key` (what decided its bytes), as the image's manifest names it.
    pub fn dependency_layer(&self, key: &str) -> anyhow::Result<Option<Layer>> {
        let comment = format!("{DEPENDENCIES_COMMENT}{key}");
        let history = self.config["history"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let with_layers = history
            .iter()
            .filter(|entry| entry["empty_layer"].as_bool() != Some(true));
        let Some(at) = with_layers
            .clone()
            .position(|entry| entry["comment"].as_str() == Some(comment.as_str()))
        else {
            return Ok(None);
        };
        let layers = self.layers()?;
        anyhow::ensure!(
            layers.len() == with_layers.count(),
            "{}: its history names another number of layers than its manifest",
            self.reference
        );
        Ok(layers.into_iter().nth(at))
    }

    /// The config of the image `plan` makes on this base with the layers `ours` and
    /// `labels` (over the base's and the Dockerfile's): compact JSON, keys sorted.
    pub fn config_for(
        &self,
        plan: &ImagePlan,
        ours: &[Made],
        labels: &[(&str, &str)],
    ) -> anyhow::Result<Vec<u8>> {
        let mut config = self.config.clone();
        let object = config
            .as_object_mut()
            .with_context(|| format!("the config of {} is not an object", self.reference))?;
        // What described the base's own build.
        for key in ["container", "container_config", "docker_version", "author"] {
            object.remove(key);
        }
        object.insert("created".into(), json!(CREATED));
        let inner = object
            .entry("config")
            .or_insert_with(|| Value::Object(Map::new()));
        if inner.is_null() {
            *inner = Value::Object(Map::new());
        }
        let inner = inner
            .as_object_mut()
            .with_context(|| format!("the config of {} has no config object", self.reference))?;
        let env: Vec<String> = plan.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        inner.insert("Env".into(), json!(env));
        inner.insert("WorkingDir".into(), json!(plan.workdir));
        if let Some(user) = &plan.user {
            inner.insert("User".into(), json!(user));
        }
        if let Some(cmd) = &plan.cmd {
            inner.insert("Cmd".into(), json!(cmd));
        }
        if let Some(entrypoint) = &plan.entrypoint {
            inner.insert("Entrypoint".into(), json!(entrypoint));
        }
        let mut all_labels: BTreeMap<String, String> = match inner.get("Labels") {
            Some(Value::Object(map)) => map
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect(),
            _ => BTreeMap::new(),
        };
        all_labels.extend(plan.labels.clone());
        all_labels.extend(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        inner.insert("Labels".into(), json!(all_labels));
        let history = object
            .entry("history")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(history) = history {
            let mut keys = ours.iter().map(|made| made.key.as_deref());
            for step in &plan.history {
                let mut entry = json!({"created": CREATED, "created_by": step.created_by});
                if step.empty_layer {
                    entry["empty_layer"] = json!(true);
                } else if let Some(key) = keys.next().flatten() {
                    entry["comment"] = json!(format!("{DEPENDENCIES_COMMENT}{key}"));
                }
                history.push(entry);
            }
        }
        let rootfs = object
            .entry("rootfs")
            .or_insert_with(|| json!({"type": "layers", "diff_ids": []}));
        if let Some(Value::Array(diff_ids)) = rootfs.get_mut("diff_ids") {
            diff_ids.extend(ours.iter().map(|made| json!(made.layer.diff_id)));
        }
        Ok(serde_json::to_vec(&config)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(history: Value, layers: usize) -> BaseImageData {
        let digests: Vec<String> = (0..layers).map(|i| format!("sha256:l{i}")).collect();
        let manifest = json!({
            "layers": digests.iter().map(|d| json!({
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "digest": d,
                "size": 10,
            })).collect::<Vec<_>>(),
        });
        let config = json!({
            "history": history,
            "rootfs": {"type": "layers", "diff_ids": digests.iter().map(|d| format!("{d}-diff")).collect::<Vec<_>>()},
        });
        BaseImageData::new(
            "reg/app@sha256:x",
            &serde_json::to_vec(&manifest).unwrap(),
            &serde_json::to_vec(&config).unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn a_dependency_layer_is_found_by_its_key_among_the_layers_history_names() {
        let history = json!([
            {"created_by": "base layer"},
            {"created_by": "ENV A=1", "empty_layer": true},
            {"created_by": "COPY . /var/task", "comment": "not ours"},
            {"created_by": "RUN uv pip install", "comment": "imprint dependencies k1"},
            {"created_by": "COPY app.py /var/task"},
        ]);
        let found = image(history.clone(), 4).dependency_layer("k1").unwrap();
        let layer = found.unwrap();
        assert_eq!(layer.digest, "sha256:l2");
        assert_eq!(layer.diff_id, "sha256:l2-diff");
        assert!(image(history.clone(), 4)
            .dependency_layer("k2")
            .unwrap()
            .is_none());
        // History and manifest that disagree say so rather than name the wrong layer.
        assert!(image(history, 5).dependency_layer("k1").is_err());
    }
}
