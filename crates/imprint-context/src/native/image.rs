//! A plan resolved on its base: the stage's variables expanded as docker expands them (the
//! base's environment, `ARG`s, `ENV`s in order), paths made absolute against the working
//! folder, and the image it makes: its config and the steps that add layers.

use std::collections::BTreeMap;

use super::deps::{self, DepStep};
use super::words::{Lexer, Vars};
use super::{refuse, Plan, StepKind, Unsupported};

/// What the steps are resolved against: the base's environment (`KEY=VALUE`, as its config
/// has it) and working folder, and the build arguments.
struct On<'a> {
    env: &'a [String],
    workdir: &'a str,
    build_args: &'a BTreeMap<String, String>,
}

impl Plan {
    /// The stage built, resolved against the base image's `env` and working folder
    /// (`KEY=VALUE` entries, as its config has them) with `build_args`.
    pub fn resolve(
        &self,
        base_env: &[String],
        base_workdir: &str,
        build_args: &BTreeMap<String, String>,
    ) -> Result<ImagePlan, Unsupported> {
        let on = On {
            env: base_env,
            workdir: base_workdir,
            build_args,
        };
        self.resolve_steps(&self.steps, &self.args, &on, true)
    }

    /// `steps` (with their `args`) on `on`; `built`: the stage built, whose `COPY --from`
    /// takes a builder stage's packages (in a builder stage, it takes a tool: skipped).
    fn resolve_steps(
        &self,
        steps: &[super::Step],
        args_of: &[String],
        on: &On<'_>,
        built: bool,
    ) -> Result<ImagePlan, Unsupported> {
        let (base_env, base_workdir, build_args) = (on.env, on.workdir, on.build_args);
        let mut out = ImagePlan {
            env: base_env
                .iter()
                .map(|kv| match kv.split_once('=') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    None => (kv.clone(), String::new()),
                })
                .collect(),
            workdir: base_workdir.to_string(),
            ..ImagePlan::default()
        };
        // Variables for expansion: the stage's ARGs, then ENV over them.
        let mut args: BTreeMap<String, Option<String>> = BTreeMap::new();
        let mut cmd_set = false;
        for (step, raw) in steps.iter().zip(args_of) {
            let mut vars_map = args.clone();
            for (k, v) in &out.env {
                vars_map.insert(k.clone(), Some(v.clone()));
            }
            let vars = Vars::new(&vars_map);
            let words = || {
                Lexer::new(raw, &vars)
                    .words()
                    .map_err(|e| refuse(step.line, e))
            };
            let mut layer = false;
            match &step.kind {
                StepKind::Arg => {
                    for word in words()? {
                        let (name, value) = self.stage_arg(&word, build_args);
                        args.insert(name, value);
                    }
                }
                StepKind::Env => {
                    for (key, value) in pairs(words()?, step.line, "ENV")? {
                        match out.env.iter_mut().find(|(k, _)| *k == key) {
                            Some(entry) => entry.1 = value,
                            None => out.env.push((key, value)),
                        }
                    }
                }
                StepKind::Label => {
                    for (key, value) in pairs(words()?, step.line, "LABEL")? {
                        out.labels.insert(key, value);
                    }
                }
                StepKind::Workdir => {
                    let dir = one_word(words()?, step.line, "WORKDIR")?;
                    out.workdir = absolute(&out.workdir, &dir);
                }
                StepKind::User => out.user = Some(one_word(words()?, step.line, "USER")?),
                StepKind::Cmd(cmd) => {
                    out.cmd = Some(cmd.clone());
                    cmd_set = true;
                }
                StepKind::Entrypoint(entrypoint) => {
                    out.entrypoint = Some(entrypoint.clone());
                    if !cmd_set {
                        // As docker: a new entrypoint drops the base's CMD.
                        out.cmd = Some(Vec::new());
                    }
                }
                StepKind::Copy { from: Some(_), .. } if !built => {}
                StepKind::Copy {
                    from: Some(stage),
                    chmod,
                } => {
                    let copy = copy_of(words()?, step.line, &out.workdir, *chmod)?;
                    let install = self.packages_of(stage, &copy, on)?;
                    out.layers.push(LayerStep::Install(install));
                    layer = true;
                }
                StepKind::Copy { chmod, from: None } => {
                    let copy = copy_of(words()?, step.line, &out.workdir, *chmod)?;
                    out.layers.push(LayerStep::Copy(copy));
                    layer = true;
                }
                StepKind::Install => {
                    let install = install_of(words()?, step.line, &out)?;
                    out.layers.push(LayerStep::Install(install));
                    layer = true;
                }
            }
            out.history.push(History {
                created_by: format!("{} # imprint native", step.text),
                empty_layer: !layer,
            });
        }
        Ok(out)
    }
}

impl Plan {
    /// `ARG name[=default]` in a stage: a build argument, else the stage's default, else the
    /// global's.
    fn stage_arg(
        &self,
        word: &str,
        build_args: &BTreeMap<String, String>,
    ) -> (String, Option<String>) {
        let (name, default) = match word.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (word.to_string(), None),
        };
        let value = build_args.get(&name).cloned().or(default);
        let value = value.or_else(|| self.globals.get(&name).cloned().flatten());
        (name, value)
    }

    /// `COPY --from=stage SRC DEST` in the stage built: the packages the builder stage
    /// `stage` installed into `SRC`, installed for `DEST` (where the code finds them).
    fn packages_of(&self, stage: &str, copy: &Copy, on: &On<'_>) -> Result<Install, Unsupported> {
        let line = copy.line;
        let index = self.stage(stage).ok_or_else(|| {
            refuse(line, format!("COPY --from={stage}: the native builder copies from an earlier stage of this Dockerfile only"))
        })?;
        let builder = &self.earlier[index];
        if builder.base != self.base {
            return Err(refuse(line, format!("COPY --from={stage}: the native builder installs a builder stage's packages on the base of the image it builds, and {stage} starts from another")));
        }
        let resolved = self.resolve_steps(&builder.steps, &builder.args, on, false)?;
        let mut installs = resolved.layers.into_iter().filter_map(|layer| match layer {
            LayerStep::Install(install) => Some(install),
            LayerStep::Copy(_) => None,
        });
        let (Some(install), None) = (installs.next(), installs.next()) else {
            return Err(refuse(line, format!("COPY --from={stage}: the native builder copies a stage that installs one requirements file")));
        };
        let source = match copy.sources.as_slice() {
            [one] => super::absolute("/", one),
            _ => return Err(refuse(line, "COPY --from= of several paths")),
        };
        if install.target.as_deref() != Some(source.as_str()) {
            return Err(refuse(line, format!("COPY --from={stage} {source}: the native builder copies the folder {stage} installs into ({}) and nothing else", install.target.as_deref().unwrap_or("its site-packages"))));
        }
        Ok(Install {
            target: Some(copy.dest.clone()),
            ..install
        })
    }
}

/// A `COPY` resolved: context paths (relative, `/`-separated, `""` for the root) to an
/// absolute destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    /// 1-based line.
    pub line: usize,
    /// The sources, relative to the context root.
    pub sources: Vec<String>,
    /// The destination, absolute, without a trailing `/`.
    pub dest: String,
    /// The destination is a folder (it ended with `/`, or there are several sources).
    pub dir_dest: bool,
    /// `--chmod`.
    pub chmod: Option<u32>,
}

/// A step that adds a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerStep {
    /// Files of the context.
    Copy(Copy),
    /// Packages of a requirements file.
    Install(Install),
}

/// A dependency step resolved: where its requirements are and its packages go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Install {
    /// 1-based line.
    pub line: usize,
    /// The step as the Dockerfile says it.
    pub step: DepStep,
    /// The requirements file in the image (absolute): a file an earlier `COPY` put there, or
    /// the one `uv export` writes from the `pyproject.toml` and `uv.lock` an earlier `COPY`
    /// put in the working folder.
    pub requirements: String,
    /// The working folder (where `uv export` runs).
    pub workdir: String,
    /// `--target`, absolute; `None`: the interpreter's site-packages.
    pub target: Option<String>,
    /// Bytecode is compiled (the flag, else `UV_COMPILE_BYTECODE` for uv, else pip's default
    /// yes and uv's no).
    pub compile: bool,
    /// The `COPY`s of the context before it in its stage: where its files come from.
    pub copies: Vec<Copy>,
}

/// One history entry of the image config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct History {
    /// The instruction.
    pub created_by: String,
    /// It added no layer.
    pub empty_layer: bool,
}

/// The image the steps make on top of the base: its config and its layers (one per `COPY`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImagePlan {
    /// The environment, in order (the base's first).
    pub env: Vec<(String, String)>,
    /// The working folder.
    pub workdir: String,
    /// `USER`, when set.
    pub user: Option<String>,
    /// Labels set by the Dockerfile.
    pub labels: BTreeMap<String, String>,
    /// `CMD`, when set (empty when an `ENTRYPOINT` dropped the base's).
    pub cmd: Option<Vec<String>>,
    /// `ENTRYPOINT`, when set.
    pub entrypoint: Option<Vec<String>>,
    /// The steps that add files, each a layer, in order.
    pub layers: Vec<LayerStep>,
    /// One entry per step.
    pub history: Vec<History>,
}

/// A `COPY` of the (expanded) `words` at `line`, with `workdir` the working folder.
fn copy_of(
    mut words: Vec<String>,
    line: usize,
    workdir: &str,
    chmod: Option<u32>,
) -> Result<Copy, Unsupported> {
    if words.len() < 2 {
        return Err(refuse(line, "COPY needs a source and a destination"));
    }
    let dest_word = words.pop().unwrap_or_default();
    let dir_dest = dest_word.ends_with('/') || words.len() > 1;
    let mut sources = Vec::new();
    for source in words {
        if source.contains(['*', '?', '[']) {
            return Err(refuse(
                line,
                format!("COPY of `{source}`: wildcards are not supported by the native builder"),
            ));
        }
        sources.push(in_context(&source));
    }
    Ok(Copy {
        line,
        sources,
        dest: absolute(workdir, &dest_word),
        dir_dest,
        chmod,
    })
}

/// Environment variables of uv and pip the native builder follows; any other `UV_*` or
/// `PIP_*` in the environment is refused (it would change what is installed).
const INSTALLER_ENV: [&str; 7] = [
    "UV_COMPILE_BYTECODE",
    "UV_NO_INSTALLER_METADATA",
    "UV_LINK_MODE",
    "UV_NO_CACHE",
    "UV_SYSTEM_PYTHON",
    "UV_PYTHON_DOWNLOADS",
    "PIP_NO_CACHE_DIR",
];

/// A dependency `RUN` of the (expanded) `words` at `line`, in the image so far.
fn install_of(words: Vec<String>, line: usize, image: &ImagePlan) -> Result<Install, Unsupported> {
    let step = deps::commands(words)
        .and_then(|commands| deps::dependency_step(&commands))
        .map_err(|e| refuse(line, format!("RUN: {e}")))?;
    let env = |key: &str| {
        image
            .env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    if let Some((key, _)) = image.env.iter().find(|(k, _)| {
        (k.starts_with("UV_") || k.starts_with("PIP_")) && !INSTALLER_ENV.contains(&k.as_str())
    }) {
        return Err(refuse(
            line,
            format!("ENV {key}: the native builder installs from uv's defaults for the image's platform"),
        ));
    }
    let truthy = |v: &str| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on");
    let compile = step.compile.unwrap_or(match step.installer {
        deps::Installer::Pip => true,
        deps::Installer::Uv => env("UV_COMPILE_BYTECODE").is_some_and(truthy),
    });
    Ok(Install {
        line,
        requirements: absolute(&image.workdir, &step.requirements),
        workdir: image.workdir.clone(),
        target: step.target.as_deref().map(|t| absolute(&image.workdir, t)),
        compile,
        step,
        copies: image
            .layers
            .iter()
            .filter_map(|layer| match layer {
                LayerStep::Copy(copy) => Some(copy.clone()),
                LayerStep::Install(_) => None,
            })
            .collect(),
    })
}

/// `KEY=VALUE ...`, or the old `KEY VALUE` form (one pair, the value the rest of the line).
fn pairs(
    words: Vec<String>,
    line: usize,
    what: &str,
) -> Result<Vec<(String, String)>, Unsupported> {
    if words.first().is_some_and(|w| !w.contains('=')) {
        let mut words = words.into_iter();
        let key = words.next().unwrap_or_default();
        let value: Vec<String> = words.collect();
        if value.is_empty() {
            return Err(refuse(line, format!("{what} {key} has no value")));
        }
        return Ok(vec![(key, value.join(" "))]);
    }
    words
        .into_iter()
        .map(|word| match word.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(refuse(line, format!("{what} `{word}` is not KEY=VALUE"))),
        })
        .collect()
}

fn one_word(words: Vec<String>, line: usize, what: &str) -> Result<String, Unsupported> {
    match <[String; 1]>::try_from(words) {
        Ok([word]) => Ok(word),
        Err(_) => Err(refuse(line, format!("{what} takes one argument"))),
    }
}

/// `path` made absolute against `cwd` and cleaned (no `.`, `..` or repeated `/`; no
/// trailing `/` but on the root).
pub fn absolute(cwd: &str, path: &str) -> String {
    let joined = match path.starts_with('/') {
        true => path.to_string(),
        false => format!("{cwd}/{path}"),
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    format!("/{}", parts.join("/"))
}

/// A `COPY` source as a path in the context: cleaned, never above the root (`""` is the
/// root), as docker resolves it.
pub(super) fn in_context(source: &str) -> String {
    absolute("/", source).trim_start_matches('/').to_string()
}
