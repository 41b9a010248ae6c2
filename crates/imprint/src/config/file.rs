//! `imprint.toml`: found in the current directory or its parents, every key optional,
//! `[env.NAME]` sections overriding any key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::aws::AwsSection;
use super::builder::{BuilderChoice, NativeSection, UnusedCheck};
use super::gc::GcSection;
use super::network::NetworkSection;
use super::smoke::SmokeSpec;
use super::strategy::Strategy;

/// The file name searched for.
pub const FILE_NAME: &str = "imprint.toml";

/// A problem with imprint.toml (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The config file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A syntax error, unknown key or wrong type.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Parse {
        /// The config file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// `--env NAME` names no `[env.NAME]` section.
    #[error("{}: no [env.{name}] section (known: {known})", path.display())]
    UnknownEnv {
        /// The config file.
        path: PathBuf,
        /// The environment asked for.
        name: String,
        /// The sections that exist.
        known: String,
    },
    /// `--env NAME` with no imprint.toml at all.
    #[error("--env {name} needs an imprint.toml with an [env.{name}] section, and none was found")]
    EnvWithoutFile {
        /// The environment asked for.
        name: String,
    },
    /// A value that parses but makes no sense.
    #[error("{}: {message}", path.display())]
    Invalid {
        /// The config file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A value that parses but makes no sense, on a known line.
    #[error("{}:{line}: {message}", path.display())]
    BadValue {
        /// The config file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

impl ConfigError {
    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Parse { .. } => Some(
                "the keys are [image] name, context, dockerfile, platform, tag, target, builder, build_args, unused, [image.native] python, site_packages; [registry] repository, endpoint, ca_cert; [deploy] owner, functions, select, pulumi_dir, pulumi_stack, alias, warn_aliases, strategy, alarms, final_bake, [deploy.smoke] (\"name or glob\" = \"event.json\" or { event, status_code, expect }); [network] connect_timeout, read_timeout, call_timeout; [gc] keep_deployments, keep_days, include_foreign, versions, journal_older_than; [aws] region, profile, role_arn, external_id, session_name, control_plane_rate; [env.NAME] overrides any of them".into(),
            ),
            Self::UnknownEnv { name, .. } => Some(format!("add an [env.{name}] section, or pick one of the known names")),
            _ => None,
        }
    }
}

/// `[image]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageSection {
    /// Local image name.
    pub name: Option<String>,
    /// Build context, relative to imprint.toml.
    pub context: Option<PathBuf>,
    /// Dockerfile, relative to the context.
    pub dockerfile: Option<PathBuf>,
    /// `os/arch`.
    pub platform: Option<String>,
    /// Tag template.
    pub tag: Option<String>,
    /// Dockerfile stage.
    pub target: Option<String>,
    /// Builder.
    pub builder: Option<BuilderChoice>,
    /// Build arguments.
    pub build_args: Option<BTreeMap<String, String>>,
    /// `[image.native]`.
    pub native: Option<NativeSection>,
    /// What a build does about packages no handler imports.
    pub unused: Option<UnusedCheck>,
}

/// `[registry]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrySection {
    /// `host/path` of the image repository.
    pub repository: Option<String>,
    /// Where registry requests go instead of the repository's host.
    pub endpoint: Option<String>,
    /// Extra CA certificates (PEM), relative to imprint.toml.
    pub ca_cert: Option<PathBuf>,
}

/// Who owns the functions' image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Owner {
    /// imprint updates the functions' code.
    Imprint,
    /// Pulumi does; imprint never writes to functions.
    Pulumi,
}

/// `select = { tag = "app", value = "x" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    /// Lambda tag name.
    pub tag: String,
    /// Its value.
    pub value: String,
}

/// `[deploy]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploySection {
    /// `imprint` or `pulumi`.
    pub owner: Option<Owner>,
    /// Function names.
    pub functions: Option<Vec<String>>,
    /// Or every function with this tag.
    pub select: Option<Selector>,
    /// The Pulumi program's folder (owner = "pulumi"), relative to imprint.toml.
    pub pulumi_dir: Option<PathBuf>,
    /// The Pulumi stack (owner = "pulumi"); Pulumi's current stack when unset.
    pub pulumi_stack: Option<String>,
    /// The alias callers use: deploys publish a version and move this alias to it.
    pub alias: Option<String>,
    /// Without an alias: list each function's aliases first, to warn about those on
    /// published versions (one control-plane call a function; `false` when there are none).
    pub warn_aliases: Option<bool>,
    /// How traffic moves to the new versions (needs `alias` unless `all-at-once`).
    pub strategy: Option<Strategy>,
    /// CloudWatch alarms watched while traffic shifts; one firing puts every alias back.
    pub alarms: Option<AlarmsSpec>,
    /// How long the alarms are watched after all traffic is on the new versions.
    pub final_bake: Option<String>,
    /// `[deploy.smoke]`: function name or glob → event file (or a table with expectations).
    pub smoke: Option<BTreeMap<String, SmokeSpec>>,
}

/// `[deploy] alarms`: a list for the whole group, or a table of function name or glob → list.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum AlarmsSpec {
    /// `alarms = ["debt-api-errors"]`: watched whichever functions are deployed.
    Group(Vec<String>),
    /// `[deploy.alarms]` `"debt-*-function" = ["…"]`: watched when a function it names is.
    ByFunction(BTreeMap<String, Vec<String>>),
}

impl AlarmsSpec {
    /// (function glob, alarm) pairs; a group's alarms are under `*`.
    pub fn pairs(&self) -> Vec<(String, String)> {
        match self {
            Self::Group(names) => names.iter().map(|a| ("*".into(), a.clone())).collect(),
            Self::ByFunction(table) => table
                .iter()
                .flat_map(|(glob, names)| names.iter().map(|a| (glob.clone(), a.clone())))
                .collect(),
        }
    }
}

/// The sections an `[env.NAME]` may override.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sections {
    /// `[image]`.
    #[serde(default)]
    pub image: ImageSection,
    /// `[registry]`.
    #[serde(default)]
    pub registry: RegistrySection,
    /// `[deploy]`.
    #[serde(default)]
    pub deploy: DeploySection,
    /// `[network]`.
    #[serde(default)]
    pub network: NetworkSection,
    /// `[gc]`.
    #[serde(default)]
    pub gc: GcSection,
    /// `[aws]`.
    #[serde(default)]
    pub aws: AwsSection,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    image: ImageSection,
    #[serde(default)]
    registry: RegistrySection,
    #[serde(default)]
    deploy: DeploySection,
    #[serde(default)]
    network: NetworkSection,
    #[serde(default)]
    gc: GcSection,
    #[serde(default)]
    aws: AwsSection,
    #[serde(default)]
    env: BTreeMap<String, Sections>,
}

/// A loaded imprint.toml with the chosen environment applied.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The file, if one was found.
    pub path: Option<PathBuf>,
    /// The merged sections.
    pub sections: Sections,
    /// The sections outside every `[env.NAME]` (what a promotion copies from by default).
    pub base: Sections,
    /// Every `[env.NAME]` of the file, each merged over the base sections (`gc` looks
    /// after every environment that shares the repository).
    pub envs: BTreeMap<String, Sections>,
}

impl Config {
    /// The folder relative paths in the file are resolved against.
    pub fn dir(&self) -> Option<&Path> {
        self.path.as_deref().and_then(Path::parent)
    }
}

/// Finds imprint.toml in `start` or its parents.
pub fn discover(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join(FILE_NAME))
        .find(|p| p.is_file())
}

/// Reads `path` (or the discovered file) and applies `[env.NAME]`.
pub fn read(path: Option<&Path>, cwd: &Path, env: Option<&str>) -> Result<Config, ConfigError> {
    let path = match path {
        Some(p) => Some(cwd.join(p)),
        None => discover(cwd),
    };
    let Some(path) = path else {
        if let Some(name) = env {
            return Err(ConfigError::EnvWithoutFile { name: name.into() });
        }
        return Ok(Config::default());
    };
    let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
        path: path.clone(),
        source,
    })?;
    parse(&text, path, env)
}

/// imprint.toml's `text` (read from `path`, for messages) with `[env.NAME]` applied.
pub fn parse(text: &str, path: PathBuf, env: Option<&str>) -> Result<Config, ConfigError> {
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let (line, column) = e
            .span()
            .map(|span| line_column(text, span.start))
            .unwrap_or((1, 1));
        ConfigError::Parse {
            path: path.clone(),
            line,
            column,
            message: e.message().to_string(),
        }
    })?;
    let base = Sections {
        image: raw.image,
        registry: raw.registry,
        deploy: raw.deploy,
        network: raw.network,
        gc: raw.gc,
        aws: raw.aws,
    };
    let envs: BTreeMap<String, Sections> = raw
        .env
        .iter()
        .map(|(name, overlay)| (name.clone(), merge(base.clone(), overlay.clone())))
        .collect();
    if raw.env.contains_key("all") {
        return Err(ConfigError::BadValue {
            line: line_of(text, "[env.all"),
            path,
            message: "[env.all]: `all` is reserved (`status --env all` shows every environment)"
                .into(),
        });
    }
    // An environment's sections are merged once, into `envs`.
    let sections = match env {
        Some(name) => envs
            .get(name)
            .cloned()
            .ok_or_else(|| unknown_env(&path, name, envs.keys()))?,
        None => base.clone(),
    };
    if sections.deploy.functions.is_some() && sections.deploy.select.is_some() {
        return Err(ConfigError::Invalid {
            path,
            message: "[deploy] has both `functions` and `select`; use one".into(),
        });
    }
    sections
        .aws
        .check()
        .map_err(|(key, message)| ConfigError::BadValue {
            line: line_of(text, key),
            path: path.clone(),
            message: format!("[aws] {key}: {message}"),
        })?;
    if let Some(names) = &sections.deploy.functions {
        check_functions(names).map_err(|(name, message)| ConfigError::BadValue {
            line: line_of(text, name),
            path: path.clone(),
            message,
        })?;
    }
    Ok(Config {
        path: Some(path),
        sections,
        base,
        envs,
    })
}

/// `--env NAME` (or `--from NAME`) naming none of `known`.
pub(crate) fn unknown_env<'a>(
    path: &Path,
    name: &str,
    known: impl ExactSizeIterator<Item = &'a String>,
) -> ConfigError {
    ConfigError::UnknownEnv {
        path: path.to_path_buf(),
        name: name.into(),
        known: match known.len() {
            0 => "none".into(),
            _ => known.cloned().collect::<Vec<_>>().join(", "),
        },
    }
}

/// Lambda takes a function name (letters, digits, `-` and `_`, up to 64) or its ARN; each
/// once. `Err` has the offending entry and what is wrong with it.
fn check_functions(names: &[String]) -> Result<(), (&str, String)> {
    if names.is_empty() {
        return Err((
            "functions",
            "[deploy] functions is empty: list the functions to deploy, or remove the key".into(),
        ));
    }
    let valid_name = |n: &str| {
        (1..=64).contains(&n.len())
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    let valid_arn = |n: &str| {
        let parts: Vec<&str> = n.split(':').collect();
        parts.len() == 7
            && parts[0] == "arn"
            && parts[1].starts_with("aws")
            && parts[2] == "lambda"
            && parts[4].len() == 12
            && parts[4].chars().all(|c| c.is_ascii_digit())
            && parts[5] == "function"
            && valid_name(parts[6])
    };
    for (i, name) in names.iter().enumerate() {
        if !(valid_name(name) || valid_arn(name)) {
            return Err((
                name,
                format!("[deploy] functions: `{name}` is not a Lambda function name (letters, digits, - and _, up to 64) or function ARN"),
            ));
        }
        if names[..i].contains(name) {
            return Err((name, format!("[deploy] functions lists `{name}` twice")));
        }
    }
    Ok(())
}

/// The line the quoted `needle` first stands on (1 when it is not found).
fn line_of(text: &str, needle: &str) -> usize {
    let quoted = format!("\"{needle}\"");
    text.find(&quoted)
        .or_else(|| text.find(needle))
        .map_or(1, |at| line_column(text, at).0)
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// `overlay`'s keys win; build args merge key by key.
fn merge(base: Sections, overlay: Sections) -> Sections {
    let (b, o) = (base.image, overlay.image);
    let build_args = match (b.build_args, o.build_args) {
        (Some(mut b), Some(o)) => {
            b.extend(o);
            Some(b)
        }
        (b, o) => o.or(b),
    };
    Sections {
        image: ImageSection {
            name: o.name.or(b.name),
            context: o.context.or(b.context),
            dockerfile: o.dockerfile.or(b.dockerfile),
            platform: o.platform.or(b.platform),
            tag: o.tag.or(b.tag),
            target: o.target.or(b.target),
            builder: o.builder.or(b.builder),
            unused: o.unused.or(b.unused),
            build_args,
            native: NativeSection::merge(b.native, o.native),
        },
        registry: RegistrySection {
            repository: overlay.registry.repository.or(base.registry.repository),
            endpoint: overlay.registry.endpoint.or(base.registry.endpoint),
            ca_cert: overlay.registry.ca_cert.or(base.registry.ca_cert),
        },
        deploy: {
            let (bd, od) = (base.deploy, overlay.deploy);
            // A selection in the overlay replaces the base's, whichever form either uses.
            let (functions, select) = if od.functions.is_some() || od.select.is_some() {
                (od.functions, od.select)
            } else {
                (bd.functions, bd.select)
            };
            DeploySection {
                owner: od.owner.or(bd.owner),
                functions,
                select,
                pulumi_dir: od.pulumi_dir.or(bd.pulumi_dir),
                pulumi_stack: od.pulumi_stack.or(bd.pulumi_stack),
                alias: od.alias.or(bd.alias),
                warn_aliases: od.warn_aliases.or(bd.warn_aliases),
                strategy: od.strategy.or(bd.strategy),
                alarms: od.alarms.or(bd.alarms),
                final_bake: od.final_bake.or(bd.final_bake),
                smoke: od.smoke.or(bd.smoke),
            }
        },
        network: base.network.merge(overlay.network),
        gc: base.gc.merge(overlay.gc),
        aws: base.aws.merge(overlay.aws),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join(FILE_NAME);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn env_section_overrides_base_keys() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "[image]\nplatform = \"linux/amd64\"\nbuild_args = { A = \"1\", B = \"2\" }\n[registry]\nrepository = \"r/dev\"\n[env.prod]\nregistry.repository = \"r/prod\"\nimage.build_args = { B = \"3\" }\n",
        );
        let prod = read(None, dir.path(), Some("prod")).unwrap();
        assert_eq!(prod.sections.registry.repository.as_deref(), Some("r/prod"));
        assert_eq!(prod.sections.image.platform.as_deref(), Some("linux/amd64"));
        let args = prod.sections.image.build_args.unwrap();
        assert_eq!(args.get("A").map(String::as_str), Some("1"));
        assert_eq!(args.get("B").map(String::as_str), Some("3"));
        let base = read(None, dir.path(), None).unwrap();
        assert_eq!(base.sections.registry.repository.as_deref(), Some("r/dev"));
    }

    #[test]
    fn found_in_a_parent_folder() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "[image]\nname = \"x\"\n");
        let sub = dir.path().join("a/b");
        std::fs::create_dir_all(&sub).unwrap();
        assert_eq!(read(None, &sub, None).unwrap().path, Some(path));
    }

    #[test]
    fn unknown_keys_and_bad_types_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "[image]\nname = \"x\"\nplatfrom = \"linux/amd64\"\n",
        );
        match read(None, dir.path(), None) {
            Err(e @ ConfigError::Parse { line, .. }) => {
                assert_eq!(line, 3);
                assert!(e.to_string().contains("platfrom"), "{e}");
                let hint = e.hint().unwrap_or_default();
                for key in ["ca_cert", "pulumi_dir", "pulumi_stack", "call_timeout"] {
                    assert!(hint.contains(key), "the hint names {key}: {hint}");
                }
            }
            other => panic!("expected a parse error, got {other:?}"),
        }
        write(dir.path(), "[deploy]\n\nfunctions = \"one\"\n");
        match read(None, dir.path(), None) {
            Err(ConfigError::Parse { line, .. }) => assert_eq!(line, 3),
            other => panic!("expected a parse error, got {other:?}"),
        }
        write(dir.path(), "[env.prod.image]\nnope = 1\n");
        assert!(matches!(
            read(None, dir.path(), None),
            Err(ConfigError::Parse { line: 2, .. })
        ));
    }

    #[test]
    fn function_lists_are_checked_with_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("functions = []", 2, "is empty"),
            ("functions = [\n  \"a\",\n  \"a\",\n]", 3, "lists `a` twice"),
            ("functions = [\"\"]", 2, "`` is not a Lambda function name"),
            (
                "functions = [\"ok\", \"my function\"]",
                2,
                "`my function` is not",
            ),
        ];
        for (deploy, line, says) in cases {
            write(dir.path(), &format!("[deploy]\n{deploy}\n"));
            match read(None, dir.path(), None) {
                Err(e @ ConfigError::BadValue { .. }) => {
                    assert!(
                        e.to_string().contains(&format!("imprint.toml:{line}: ")),
                        "{e}"
                    );
                    assert!(e.to_string().contains(says), "{e}");
                }
                other => panic!("{deploy}: expected a bad value, got {other:?}"),
            }
        }
        write(
            dir.path(),
            "[deploy]\nfunctions = [\"a-1_b\", \"arn:aws:lambda:us-east-1:123456789012:function:x\"]\n",
        );
        assert!(read(None, dir.path(), None).is_ok());
    }

    #[test]
    fn unknown_env_lists_the_known_ones() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "[env.prod]\n[env.staging]\n");
        let err = read(None, dir.path(), Some("qa")).unwrap_err();
        assert!(err.to_string().contains("prod, staging"), "{err}");
    }
}
