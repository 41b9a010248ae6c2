//! Flags, `IMPRINT_*` variables and imprint.toml merged once into plain values.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Context as _;
use imprint_context::{BuildParams, BuilderKind, TagTemplate, DEFAULT_TEMPLATE};

use crate::cli::{BuildInputArgs, BuilderChoice, GlobalArgs};
use crate::config::{self, Config};
use crate::error::UsageError;
use crate::printer::Printer;
use crate::registry::{Registry, Repository};

/// Lambda's default architecture; never the host's.
pub const DEFAULT_PLATFORM: &str = "linux/amd64";

/// Everything a build or a hash needs, resolved.
#[derive(Debug, Clone)]
pub struct BuildSettings {
    /// The build context folder.
    pub context: PathBuf,
    /// The hashed build parameters (builder kind resolved).
    pub params: BuildParams,
    /// How the builder was chosen, for messages.
    pub builder_choice: BuilderChoice,
    /// The tag template.
    pub template: TagTemplate,
}

/// Where images go.
#[derive(Debug, Clone)]
pub struct RegistrySettings {
    /// The image repository.
    pub repository: Repository,
    /// Where requests go instead of the repository's host.
    pub endpoint: Option<String>,
}

impl Settings {
    /// A PEM file of extra CA certificates to trust for registries.
    pub fn ca_cert(&self) -> Option<PathBuf> {
        self.ca_cert.clone()
    }
}

/// The resolved settings of one invocation.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The loaded imprint.toml, if any.
    pub config: Config,
    /// `--env`.
    pub environment: Option<String>,
    /// Build inputs.
    pub build: BuildSettings,
    /// The registry, when one is configured.
    pub registry: Option<RegistrySettings>,
    /// The local image name the builder tags.
    pub image_name: String,
    /// `--locked`: never add to imprint.lock.
    pub locked: bool,
    /// Extra CA certificates (PEM) trusted for registries.
    pub ca_cert: Option<PathBuf>,
}

impl Settings {
    /// Merges flags over `IMPRINT_*` (clap reads those) over imprint.toml over defaults.
    pub fn resolve(global: &GlobalArgs, input: &BuildInputArgs) -> anyhow::Result<Self> {
        let cwd = std::env::current_dir().context("failed to read the current directory")?;
        let config = config::load(
            global.config.as_deref(),
            &cwd,
            global.environment.as_deref(),
        )?;
        let build = resolve_build(&config, input, &cwd)?;
        let section = &config.sections.registry;
        let registry = match input.repository.as_ref().or(section.repository.as_ref()) {
            Some(text) => Some(RegistrySettings {
                repository: Repository::parse(text)?,
                endpoint: input.endpoint.clone().or_else(|| section.endpoint.clone()),
            }),
            None => None,
        };
        let image_name = config
            .sections
            .image
            .name
            .clone()
            .or_else(|| {
                registry
                    .as_ref()
                    .and_then(|r| r.repository.path.rsplit('/').next().map(str::to_string))
            })
            .unwrap_or_else(|| "imprint-image".to_string());
        let ca_cert = match (&input.ca_cert, &config.sections.registry.ca_cert) {
            (Some(flag), _) => Some(cwd.join(flag)),
            (None, Some(conf)) => Some(config.dir().unwrap_or(&cwd).join(conf)),
            (None, None) => None,
        };
        Ok(Self {
            config,
            environment: global.environment.clone(),
            build,
            registry,
            image_name,
            locked: input.locked,
            ca_cert,
        })
    }

    /// A client for the configured registry (with an ECR token for ECR hosts); a usage
    /// error when none is configured.
    pub async fn registry_client(&self, printer: &Printer) -> anyhow::Result<Registry> {
        let r = self.registry.as_ref().ok_or_else(|| {
            UsageError::new(
                "no image repository is configured",
                "set [registry] repository in imprint.toml, or pass --repository HOST/PATH",
            )
        })?;
        crate::ecr::client(
            &r.repository,
            r.endpoint.as_deref(),
            self.ca_cert.as_deref(),
            printer,
        )
        .await
    }
}

fn resolve_build(
    config: &Config,
    input: &BuildInputArgs,
    cwd: &Path,
) -> anyhow::Result<BuildSettings> {
    let image = &config.sections.image;
    let base = config.dir().unwrap_or(cwd);
    let context = match (&input.context, &image.context) {
        (Some(flag), _) => cwd.join(flag),
        (None, Some(conf)) if conf.as_os_str() == "." => base.to_path_buf(),
        (None, Some(conf)) => base.join(conf),
        (None, None) => base.to_path_buf(),
    };
    // Like `docker build -f`, the flag is relative to the current directory; the config key
    // is relative to the context.
    let dockerfile = match (&input.file, &image.dockerfile) {
        (Some(flag), _) => cwd.join(flag),
        (None, Some(conf)) => context.join(conf),
        (None, None) => context.join("Dockerfile"),
    };
    let platform = input
        .platform
        .clone()
        .or_else(|| image.platform.clone())
        .unwrap_or_else(|| DEFAULT_PLATFORM.to_string());
    check_platform(&platform)?;
    let template_text = input
        .template
        .clone()
        .or_else(|| image.tag.clone())
        .unwrap_or_else(|| DEFAULT_TEMPLATE.to_string());
    let template = TagTemplate::parse(&template_text)?;
    let mut build_args = image.build_args.clone().unwrap_or_default();
    build_args.extend(parse_build_args(&input.build_args)?);
    let builder_choice = input
        .builder
        .or(image.builder)
        .unwrap_or(BuilderChoice::Docker);
    let builder = resolve_builder(builder_choice);
    Ok(BuildSettings {
        context,
        params: BuildParams {
            builder,
            dockerfile,
            target: input.target.clone().or_else(|| image.target.clone()),
            platform,
            build_args,
            base_images: Vec::new(),
        },
        builder_choice,
        template,
    })
}

/// `os/arch[/variant]`, lower-case, as Docker and Lambda spell it.
fn check_platform(platform: &str) -> Result<(), UsageError> {
    let parts: Vec<&str> = platform.split('/').collect();
    let well_formed = (2..=3).contains(&parts.len())
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        });
    if well_formed {
        Ok(())
    } else {
        Err(UsageError::new(
            format!("bad platform `{platform}`"),
            "write it as os/arch, e.g. linux/amd64 or linux/arm64 (Lambda's two architectures)",
        ))
    }
}

/// `KEY=VALUE`, or `KEY` alone to take the value from the environment (as `docker build`
/// does; an unset variable leaves the argument out).
fn parse_build_args(args: &[String]) -> Result<BTreeMap<String, String>, UsageError> {
    let mut out = BTreeMap::new();
    for arg in args {
        let (key, value) = match arg.split_once('=') {
            Some((k, v)) => (k, Some(v.to_string())),
            None => (arg.as_str(), std::env::var(arg).ok()),
        };
        if key.is_empty() || key.chars().any(char::is_whitespace) {
            return Err(UsageError::new(
                format!("bad --build-arg `{arg}`"),
                "write --build-arg KEY=VALUE, or --build-arg KEY to take KEY from the environment",
            ));
        }
        if let Some(value) = value {
            out.insert(key.to_string(), value);
        }
    }
    Ok(out)
}

/// `docker` means BuildKit when the CLI has buildx (and `DOCKER_BUILDKIT` does not turn it
/// off), the legacy builder otherwise; the two read different ignore files.
pub fn resolve_builder(choice: BuilderChoice) -> BuilderKind {
    match choice {
        BuilderChoice::Buildkit => BuilderKind::Buildkit,
        BuilderChoice::DockerLegacy => BuilderKind::DockerLegacy,
        BuilderChoice::Podman => BuilderKind::Podman,
        BuilderChoice::Buildah => BuilderKind::Buildah,
        BuilderChoice::Docker => {
            if matches!(
                std::env::var("DOCKER_BUILDKIT").as_deref(),
                Ok("0") | Ok("false")
            ) {
                return BuilderKind::DockerLegacy;
            }
            let buildx = Command::new(crate::builder::docker())
                .args(["buildx", "version"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            match buildx {
                Ok(status) if status.success() => BuilderKind::Buildkit,
                Ok(_) => BuilderKind::DockerLegacy,
                Err(e) => {
                    tracing::info!(
                        "docker CLI not runnable ({e}); hashing as BuildKit would send the context"
                    );
                    BuilderKind::Buildkit
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms() {
        assert!(check_platform("linux/amd64").is_ok());
        assert!(check_platform("linux/arm64/v8").is_ok());
        for bad in ["amd64", "linux/", "Linux/amd64", "linux/amd64/v8/x"] {
            assert!(check_platform(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn build_args() {
        let args = parse_build_args(&["A=1".into(), "B=x=y".into(), "C=".into()]).unwrap();
        assert_eq!(args.get("B").map(String::as_str), Some("x=y"));
        assert_eq!(args.get("C").map(String::as_str), Some(""));
        assert!(parse_build_args(&["=1".into()]).is_err());
        let unset = parse_build_args(&["IMPRINT_TEST_SURELY_UNSET_VARIABLE".into()]).unwrap();
        assert!(unset.is_empty());
    }
}
