//! Flags, `IMPRINT_*` variables and imprint.toml merged once into plain values.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::builder::BoolishValueParser;
use clap::Args;
use imprint_context::{BuildParams, BuilderKind, NativeParams, TagTemplate, DEFAULT_TEMPLATE};

use super::aws::AwsSection;
use super::builder::{BuilderChoice, NativeSection};
use super::file::{self, Config, ConfigError, DeploySection, RegistrySection};
use super::gc::{GcPolicy, GcSection};
use super::network::NetworkArgs;
use super::rollout::{RolloutFlags, RolloutSettings};
use crate::error::UsageError;
use crate::registry::Repository;
use crate::timeouts::Timeouts;

/// Lambda's default architecture; never the host's.
pub const DEFAULT_PLATFORM: &str = "linux/amd64";

/// Where images go, as the command line says (every command that speaks to the registry).
#[derive(Debug, Args, Clone, Default)]
pub struct RegistryArgs {
    /// The image repository, host/path [config: registry.repository].
    #[arg(long, env = "IMPRINT_REPOSITORY", value_name = "HOST/PATH")]
    pub repository: Option<String>,
    /// Send registry requests here instead of the repository's host [config: registry.endpoint].
    #[arg(long, env = "IMPRINT_REGISTRY_ENDPOINT", value_name = "URL")]
    pub endpoint: Option<String>,
    /// Also trust the CA certificates in this PEM file for registries [config: registry.ca_cert].
    #[arg(long, env = "IMPRINT_CA_CERT", value_name = "PEM")]
    pub ca_cert: Option<PathBuf>,
}

/// What goes into the content hash, as `docker build` would take it.
#[derive(Debug, Args, Clone, Default)]
pub struct BuildInputArgs {
    /// The registry.
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// The build context folder [config: image.context; default: the folder of imprint.toml].
    #[arg(long, env = "IMPRINT_CONTEXT", value_name = "DIR")]
    pub context: Option<PathBuf>,
    /// The Dockerfile [config: image.dockerfile; default: Dockerfile in the context].
    #[arg(short = 'f', long = "file", env = "IMPRINT_FILE", value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// A build argument, `KEY=VALUE`, or `KEY` to take it from the environment (repeatable).
    #[arg(long = "build-arg", value_name = "KEY[=VALUE]")]
    pub build_args: Vec<String>,
    /// The Dockerfile stage to build [config: image.target].
    #[arg(long, env = "IMPRINT_TARGET", value_name = "STAGE")]
    pub target: Option<String>,
    /// The image platform, e.g. linux/amd64 or linux/arm64 [config: image.platform].
    #[arg(long, env = "IMPRINT_PLATFORM", value_name = "OS/ARCH")]
    pub platform: Option<String>,
    /// The builder whose context and ignore file are hashed [config: image.builder].
    #[arg(long, env = "IMPRINT_BUILDER", value_enum)]
    pub builder: Option<BuilderChoice>,
    /// The tag template; must hold {hash:N} [config: image.tag].
    #[arg(long, env = "IMPRINT_TAG_TEMPLATE", value_name = "TEMPLATE")]
    pub template: Option<String>,
    /// Fail instead of adding a missing base image to imprint.lock.
    #[arg(long)]
    pub locked: bool,
    /// Read and hash every file, without the hash cache (the hash is the same either way).
    #[arg(long, env = "IMPRINT_NO_HASH_CACHE", value_parser = BoolishValueParser::new())]
    pub no_hash_cache: bool,
    /// The version for {version} and the image's version label [default: [project] version
    /// in pyproject.toml].
    #[arg(long, env = "IMPRINT_APP_VERSION", value_name = "VERSION")]
    pub app_version: Option<String>,
    /// Refuse to build from a tree with changes git has not committed (else a warning).
    #[arg(long, env = "IMPRINT_REQUIRE_CLEAN", value_parser = BoolishValueParser::new())]
    pub require_clean: bool,
}

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
    /// Use the hash cache (not with `--no-hash-cache`).
    pub hash_cache: bool,
    /// `--app-version`.
    pub app_version: Option<String>,
    /// `--require-clean`.
    pub require_clean: bool,
    /// `[image] unused`.
    pub unused: super::builder::UnusedCheck,
}

/// Where images go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrySettings {
    /// The image repository.
    pub repository: Repository,
    /// Where requests go instead of the repository's host.
    pub endpoint: Option<String>,
}

/// The resolved settings of one invocation.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The loaded imprint.toml, if any.
    pub config: Config,
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
    /// Time limits on the network.
    pub timeouts: Timeouts,
}

impl Settings {
    /// Merges flags over `IMPRINT_*` (clap reads those) over imprint.toml (`config_file`, or
    /// the one found from the current directory up, with `[env.NAME]` applied) over defaults.
    pub fn load(
        config_file: Option<&Path>,
        environment: Option<&str>,
        input: &BuildInputArgs,
        network: &NetworkArgs,
    ) -> anyhow::Result<Self> {
        let cwd = std::env::current_dir().context("failed to read the current directory")?;
        let config = file::read(config_file, &cwd, environment)?;
        let build = build_settings(&config, input, &cwd)?;
        let registry = registry_settings(&input.registry, &config.sections.registry)?;
        let timeouts = config
            .sections
            .network
            .timeouts(network)
            .map_err(|message| ConfigError::Invalid {
                path: config.path.clone().unwrap_or_default(),
                message,
            })?;
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
        check_image_name(&image_name)?;
        let ca_cert = match (&input.registry.ca_cert, &config.sections.registry.ca_cert) {
            (Some(flag), _) => Some(cwd.join(flag)),
            (None, Some(conf)) => Some(config.dir().unwrap_or(&cwd).join(conf)),
            (None, None) => None,
        };
        Ok(Self {
            config,
            build,
            registry,
            image_name,
            locked: input.locked,
            ca_cert,
            timeouts,
        })
    }
}

/// The resolved settings of each command, from the file's sections and the command's flags:
/// nothing outside `config/` reads a raw section.
impl Settings {
    /// The names of imprint.toml's `[env.NAME]` sections (`--env all`); a usage error when
    /// there are none.
    pub fn environments(config_file: Option<&Path>) -> anyhow::Result<Vec<String>> {
        let cwd = std::env::current_dir().context("failed to read the current directory")?;
        let config = file::read(config_file, &cwd, None)?;
        if config.envs.is_empty() {
            return Err(UsageError::new(
                "--env all: imprint.toml has no [env.NAME] section",
                "add [env.NAME] sections (one per environment), or run `imprint status` alone",
            )
            .into());
        }
        Ok(config.envs.into_keys().collect())
    }

    /// `[deploy]`: which functions, who owns them, the Pulumi program, traffic settings.
    pub fn deploy(&self) -> &DeploySection {
        &self.config.sections.deploy
    }

    /// `[aws]` of this environment.
    pub fn aws(&self) -> &AwsSection {
        &self.config.sections.aws
    }

    /// `[deploy]` of this environment and of every `[env.NAME]` that pushes to the same
    /// repository (gc looks after all of them).
    pub fn deploys_sharing_the_repository(&self) -> Vec<&DeploySection> {
        let ours = self.registry.as_ref().map(|r| r.repository.to_string());
        let sharing = |s: &&file::Sections| {
            s.registry.repository.is_none() || s.registry.repository.as_deref() == ours.as_deref()
        };
        std::iter::once(&self.config.sections)
            .chain(self.config.envs.values().filter(sharing))
            .map(|s| &s.deploy)
            .collect()
    }

    /// A rollout's settings: `flags` over `[deploy]`.
    pub fn rollout(&self, flags: &RolloutFlags) -> Result<RolloutSettings, UsageError> {
        RolloutSettings::resolve(&self.config, flags)
    }

    /// gc's policy: `flags` over `[gc]` over the defaults.
    pub fn gc_policy(&self, flags: &GcSection) -> GcPolicy {
        GcPolicy::resolve(&self.config.sections.gc, flags)
    }
}

impl Settings {
    /// The settings a promotion reads its image with: the environment `from` (else the
    /// sections outside every `[env.NAME]`), its repository, endpoint (this run's, for a
    /// repository on the same host that names none), CA and `[aws]`, with this run's time
    /// limits. `None` when that repository is this run's own.
    pub fn source(&self, from: Option<&str>) -> Result<Option<Settings>, ConfigError> {
        let config = &self.config;
        let path = || config.path.clone().unwrap_or_default();
        let sections = match from {
            None => config.base.clone(),
            Some(name) => config
                .envs
                .get(name)
                .cloned()
                .ok_or_else(|| file::unknown_env(&path(), name, config.envs.keys()))?,
        };
        // The file's check covered only the run's own environment.
        let invalid = |section: &str, message: String| ConfigError::Invalid {
            path: path(),
            message: match from {
                Some(name) => format!("[env.{name}] {section}: {message}"),
                None => format!("[{section}]: {message}"),
            },
        };
        sections
            .aws
            .check()
            .map_err(|(key, why)| invalid("aws", format!("{key}: {why}")))?;
        let mut registry = registry_settings(&RegistryArgs::default(), &sections.registry)
            .map_err(|e| invalid("registry", e.message))?;
        // An endpoint given for this run (`--endpoint`, IMPRINT_REGISTRY_ENDPOINT) is where
        // its registry host is reached: a source on the same host goes there too.
        if let (Some(source), Some(own)) = (registry.as_mut(), self.registry.as_ref()) {
            if source.endpoint.is_none() && source.repository.host == own.repository.host {
                source.endpoint.clone_from(&own.endpoint);
            }
        }
        if registry.is_none() || registry == self.registry {
            return Ok(None);
        }
        let ca_cert = match (&sections.registry.ca_cert, config.dir()) {
            (Some(conf), Some(dir)) => Some(dir.join(conf)),
            _ => self.ca_cert.clone(),
        };
        Ok(Some(Settings {
            config: Config {
                sections,
                ..config.clone()
            },
            build: self.build.clone(),
            registry,
            image_name: self.image_name.clone(),
            locked: self.locked,
            ca_cert,
            timeouts: self.timeouts,
        }))
    }
}

/// The repository flags over the `[registry]` section: `None` when neither names one.
fn registry_settings(
    flags: &RegistryArgs,
    section: &RegistrySection,
) -> Result<Option<RegistrySettings>, UsageError> {
    let Some(text) = flags.repository.as_ref().or(section.repository.as_ref()) else {
        return Ok(None);
    };
    let endpoint = flags.endpoint.clone().or_else(|| section.endpoint.clone());
    if let Some(endpoint) = &endpoint {
        check_endpoint(endpoint)?;
    }
    Ok(Some(RegistrySettings {
        repository: Repository::parse(text)?,
        endpoint,
    }))
}

fn build_settings(
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
    if let Some(key) = build_args.keys().find(|k| steers_the_builder(k)) {
        return Err(UsageError::new(
            format!("the build argument {key} is refused: imprint hands build-arg values to the builder in its environment, where {key} would change the builder itself"),
            "remove it; set what it configures in the builder's own configuration (e.g. proxies in ~/.docker/config.json, the daemon with DOCKER_HOST in imprint's environment)",
        )
        .into());
    }
    let builder_choice = input
        .builder
        .or(image.builder)
        .unwrap_or(BuilderChoice::Docker);
    let builder = builder_choice.kind();
    let native = match builder {
        BuilderKind::Native => native_params(image.native.as_ref())?,
        _ if image.native.is_some() => {
            tracing::warn!("imprint.toml: [image.native] is for the native builder; the {builder_choice} builder ignores it");
            NativeParams::default()
        }
        _ => NativeParams::default(),
    };
    Ok(BuildSettings {
        context,
        params: BuildParams {
            builder,
            dockerfile,
            target: input.target.clone().or_else(|| image.target.clone()),
            platform,
            build_args,
            base_images: Vec::new(),
            native,
        },
        builder_choice,
        template,
        hash_cache: !input.no_hash_cache,
        app_version: input.app_version.clone(),
        require_clean: input.require_clean,
        unused: image.unused.unwrap_or_default(),
    })
}

/// `[image.native]`, checked: a Python `3.N`, an absolute site-packages folder.
fn native_params(section: Option<&NativeSection>) -> Result<NativeParams, UsageError> {
    let Some(section) = section else {
        return Ok(NativeParams::default());
    };
    if let Some(python) = &section.python {
        let minor = python.strip_prefix("3.").unwrap_or_default();
        if minor.is_empty() || !minor.chars().all(|c| c.is_ascii_digit()) {
            return Err(UsageError::new(
                format!(
                    "imprint.toml: [image.native] python = \"{python}\" is not a Python version"
                ),
                "write the image's Python as 3.N, e.g. python = \"3.12\"",
            ));
        }
    }
    if let Some(dir) = &section.site_packages {
        if !dir.starts_with('/') || dir.split('/').any(|part| part == "..") {
            return Err(UsageError::new(
                format!("imprint.toml: [image.native] site_packages = \"{dir}\" is not an absolute folder in the image"),
                "write the folder the base's Python reads packages from, e.g. \"/usr/local/lib/python3.12/site-packages\"",
            ));
        }
    }
    Ok(NativeParams {
        python: section.python.clone(),
        site_packages: section.site_packages.clone(),
    })
}

/// Lambda runs `linux/amd64` and `linux/arm64` (`/v8` is the same), nothing else.
fn check_platform(platform: &str) -> Result<(), UsageError> {
    if matches!(platform, "linux/amd64" | "linux/arm64" | "linux/arm64/v8") {
        Ok(())
    } else {
        Err(UsageError::new(
            format!(
                "bad platform `{platform}`: Lambda runs linux/amd64 and linux/arm64 images only"
            ),
            "write linux/amd64 or linux/arm64 (Lambda's two architectures)",
        ))
    }
}

/// `[registry] endpoint` is an http or https URL (checked before anything is written).
fn check_endpoint(endpoint: &str) -> Result<(), UsageError> {
    let bad = |why: String| {
        UsageError::new(
            format!("bad registry endpoint `{endpoint}`: {why}"),
            "write it as an http or https URL, e.g. http://127.0.0.1:5000",
        )
    };
    let url = url::Url::parse(endpoint).map_err(|e| bad(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(bad("it is not an http or https URL with a host".into()));
    }
    Ok(())
}

/// `[image] name` as Docker takes a local image name: lower-case components of letters and
/// digits joined by `.`, `_`, `__` or dashes, separated by `/`.
fn check_image_name(name: &str) -> Result<(), UsageError> {
    let component = |c: &str| {
        let bytes = c.as_bytes();
        !c.is_empty()
            && bytes[0].is_ascii_alphanumeric()
            && bytes[bytes.len() - 1].is_ascii_alphanumeric()
            && c.chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || "._-".contains(ch))
            && !c.contains("..")
            && !c.contains("___")
    };
    if name.len() <= 128 && name.split('/').all(component) {
        Ok(())
    } else {
        Err(UsageError::new(
            format!("bad image name `{name}`"),
            "[image] name takes lower-case letters, digits and . _ - (e.g. debt-api)",
        ))
    }
}

/// Whether a variable of that name changes how the docker CLI, podman or buildah itself
/// behaves (which daemon, builder, storage, proxy, credentials): such a build argument would
/// reach the builder through its environment.
fn steers_the_builder(key: &str) -> bool {
    const PREFIXES: [&str; 8] = [
        "DOCKER_",
        "BUILDKIT_",
        "BUILDX_",
        "CONTAINERS_",
        "CONTAINER_",
        "BUILDAH_",
        "PODMAN_",
        "XDG_",
    ];
    const NAMES: [&str; 14] = [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "ALL_PROXY",
        "FTP_PROXY",
        "PATH",
        "HOME",
        "TMPDIR",
        "REGISTRY_AUTH_FILE",
        "STORAGE_DRIVER",
        "STORAGE_OPTS",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "GODEBUG",
    ];
    let upper = key.to_ascii_uppercase();
    NAMES.contains(&upper.as_str())
        || PREFIXES.iter().any(|p| upper.starts_with(p))
        || upper.starts_with("LD_")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms() {
        assert!(check_platform("linux/amd64").is_ok());
        assert!(check_platform("linux/arm64/v8").is_ok());
        for bad in [
            "amd64",
            "linux/",
            "Linux/amd64",
            "linux/amd64/v8/x",
            "windows/sparc",
            "linux/s390x",
        ] {
            assert!(check_platform(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn endpoints_and_image_names() {
        assert!(check_endpoint("http://127.0.0.1:5000").is_ok());
        assert!(check_endpoint("https://registry.example.com").is_ok());
        for bad in ["not a url", "ftp://127.0.0.1/", "file:///tmp/x"] {
            assert!(check_endpoint(bad).is_err(), "{bad}");
        }
        for good in ["debt-api", "a/b.c", "x__y", "it-run-local"] {
            assert!(check_image_name(good).is_ok(), "{good}");
        }
        for bad in ["Probe App!", "", "-a", "a/", "a..b", "UPPER"] {
            assert!(check_image_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn build_arguments_that_would_steer_the_builder_are_known() {
        for refused in [
            "DOCKER_HOST",
            "DOCKER_BUILDKIT",
            "http_proxy",
            "HTTPS_PROXY",
            "PATH",
            "LD_PRELOAD",
            "BUILDX_BUILDER",
        ] {
            assert!(steers_the_builder(refused), "{refused}");
        }
        for fine in ["BASE", "APP_VERSION", "PYTHON_VERSION", "DOCKERFILE_STAGE"] {
            assert!(!steers_the_builder(fine), "{fine}");
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
