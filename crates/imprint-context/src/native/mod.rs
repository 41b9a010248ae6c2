//! What imprint's own builder makes of a Dockerfile: the subset it builds without a daemon
//! (`ARG`, one `FROM`, `ENV`, `WORKDIR`, `LABEL`, `USER`, `CMD` and `ENTRYPOINT` in exec form,
//! `COPY` from the context), read into a [`Plan`] with every instruction's line, and resolved
//! against the base image's environment into an [`ImagePlan`]; anything else is refused with
//! its line.

use std::collections::BTreeMap;
use std::path::Path;

use crate::dockerfile::{directives, instructions, Instruction};
use crate::error::ContextError;
use crate::BuildParams;

pub mod layer;
mod words;

use words::{Lexer, Vars};

/// The version of the native builder's layer format: part of the tag's hash, so a change to
/// how layers are written makes new tags.
pub const LAYER_FORMAT: u32 = 1;

/// Where the native builder cannot follow a Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    /// 1-based line.
    pub line: usize,
    /// What it is and why.
    pub message: String,
}

impl Unsupported {
    /// The refusal as the error of the Dockerfile at `path` (exit 2), saying which builder
    /// builds it.
    pub fn in_file(self, path: &Path) -> ContextError {
        ContextError::DockerfileRefused {
            path: path.to_path_buf(),
            line: self.line,
            message: format!("{} ({DOCKER_BUILDS_IT})", self.message),
        }
    }
}

/// The Dockerfile of `params` (its `text`) read for the native builder.
pub fn read_plan(text: &str, params: &BuildParams) -> Result<Plan, ContextError> {
    Plan::read(text, &params.build_args, params.target.as_deref())
        .map_err(|refusal| refusal.in_file(&params.dockerfile))
}

fn refuse(line: usize, message: impl Into<String>) -> Unsupported {
    Unsupported {
        line,
        message: message.into(),
    }
}

/// One instruction the native builder follows, as written (variables not yet expanded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// 1-based line.
    pub line: usize,
    /// The instruction as written (for the image's history).
    pub text: String,
    /// What it does.
    pub kind: StepKind,
}

/// What one step does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepKind {
    /// `ARG NAME[=default]` inside the stage.
    Arg,
    /// `ENV`.
    Env,
    /// `WORKDIR`.
    Workdir,
    /// `LABEL`.
    Label,
    /// `USER`.
    User,
    /// `CMD [...]`.
    Cmd(Vec<String>),
    /// `ENTRYPOINT [...]`.
    Entrypoint(Vec<String>),
    /// `COPY [--chmod=MODE] SRC... DEST` from the context.
    Copy {
        /// `--chmod`, when given.
        chmod: Option<u32>,
    },
}

/// A Dockerfile the native builder can build: its base and its steps in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The base image as `FROM` names it after global `ARG`s; `None` for `scratch`.
    pub base: Option<String>,
    /// The `FROM` line.
    pub from_line: usize,
    /// The global `ARG`s (before `FROM`) with their values: a stage's `ARG NAME` takes one.
    globals: BTreeMap<String, Option<String>>,
    /// The steps after `FROM`.
    pub steps: Vec<Step>,
    /// Each step's arguments, as read (parallel to `steps`).
    args: Vec<String>,
}

/// The hint every refusal ends with.
pub const DOCKER_BUILDS_IT: &str = "`--builder docker` builds it";

impl Plan {
    /// Reads `text` (a Dockerfile the syntax check passed) with `build_args` over the `ARG`
    /// defaults; `target`, when given, must name its one stage.
    pub fn read(
        text: &str,
        build_args: &BTreeMap<String, String>,
        target: Option<&str>,
    ) -> Result<Self, Unsupported> {
        let (directives, start) = directives(text);
        if let Some(escape) = directives.get("escape").filter(|e| e.as_str() != "\\") {
            return Err(refuse(
                1,
                format!("the escape directive `{escape}` is not supported by the native builder"),
            ));
        }
        if directives.contains_key("syntax") {
            return Err(refuse(
                1,
                "a `# syntax=` frontend is BuildKit's: the native builder reads the Dockerfile itself",
            ));
        }
        let mut plan = Plan {
            base: None,
            from_line: 0,
            globals: BTreeMap::new(),
            steps: Vec::new(),
            args: Vec::new(),
        };
        for inst in instructions(text, start, '\\') {
            if inst.words.iter().any(|(w, _)| w.starts_with("<<")) {
                return Err(refuse(
                    inst.line,
                    "heredocs are not supported by the native builder",
                ));
            }
            if plan.from_line == 0 {
                match inst.keyword.as_str() {
                    "ARG" => plan.global_arg(&inst, build_args)?,
                    "FROM" => plan.from(&inst, target)?,
                    _ => return Err(refuse(inst.line, "an instruction before FROM")),
                }
                continue;
            }
            let kind = match inst.keyword.as_str() {
                "FROM" => {
                    return Err(refuse(
                        inst.line,
                        "a second FROM: multi-stage Dockerfiles are not built natively yet",
                    ))
                }
                "ARG" => StepKind::Arg,
                "ENV" => StepKind::Env,
                "WORKDIR" => StepKind::Workdir,
                "LABEL" => StepKind::Label,
                "USER" => StepKind::User,
                "CMD" => StepKind::Cmd(exec_form(&inst)?),
                "ENTRYPOINT" => StepKind::Entrypoint(exec_form(&inst)?),
                "COPY" => copy(&inst)?,
                "RUN" => {
                    return Err(refuse(
                        inst.line,
                        "RUN: the native builder runs no commands",
                    ))
                }
                other => {
                    return Err(refuse(
                        inst.line,
                        format!("{other} is not supported by the native builder"),
                    ))
                }
            };
            let args = match &kind {
                StepKind::Copy { .. } => without_flags(&inst),
                _ => inst.rest.clone(),
            };
            plan.steps.push(Step {
                line: inst.line,
                text: format!("{} {}", inst.keyword, inst.rest),
                kind,
            });
            plan.args.push(args);
        }
        if plan.from_line == 0 {
            return Err(refuse(1, "no FROM"));
        }
        Ok(plan)
    }

    fn global_arg(
        &mut self,
        inst: &Instruction,
        build_args: &BTreeMap<String, String>,
    ) -> Result<(), Unsupported> {
        let vars = Vars::new(&self.globals);
        for word in Lexer::new(&inst.rest, &vars)
            .words()
            .map_err(|e| refuse(inst.line, e))?
        {
            let (name, default) = match word.split_once('=') {
                Some((name, value)) => (name.to_string(), Some(value.to_string())),
                None => (word, None),
            };
            let value = build_args.get(&name).cloned().or(default);
            self.globals.insert(name, value);
        }
        Ok(())
    }

    fn from(&mut self, inst: &Instruction, target: Option<&str>) -> Result<(), Unsupported> {
        let words: Vec<&str> = inst.words.iter().map(|(w, _)| w.as_str()).collect();
        if words.first().is_some_and(|w| w.starts_with("--")) {
            return Err(refuse(
                inst.line,
                "FROM --platform: the native builder builds for the configured platform",
            ));
        }
        let stage = match words.as_slice() {
            [_] => None,
            [_, as_, name] if as_.eq_ignore_ascii_case("as") => Some(*name),
            _ => {
                return Err(refuse(
                    inst.line,
                    "FROM takes an image and an optional `AS name`",
                ))
            }
        };
        if let Some(target) = target.filter(|t| stage.is_none_or(|s| !s.eq_ignore_ascii_case(t))) {
            return Err(refuse(
                inst.line,
                format!("--target {target} names no stage"),
            ));
        }
        let vars = Vars::new(&self.globals);
        let image = Lexer::new(words[0], &vars)
            .word()
            .map_err(|e| refuse(inst.line, e))?;
        self.base = (!image.eq_ignore_ascii_case("scratch")).then_some(image);
        self.from_line = inst.line;
        Ok(())
    }

    /// The steps resolved against the base image's `env` and working folder (`KEY=VALUE`
    /// entries, as its config has them) with `build_args`.
    pub fn resolve(
        &self,
        base_env: &[String],
        base_workdir: &str,
        build_args: &BTreeMap<String, String>,
    ) -> Result<ImagePlan, Unsupported> {
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
        for (step, raw) in self.steps.iter().zip(&self.args) {
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
                        let (name, default) = match word.split_once('=') {
                            Some((n, v)) => (n.to_string(), Some(v.to_string())),
                            None => (word.clone(), None),
                        };
                        // A build argument, else the stage's default, else the global's.
                        let value = build_args.get(&name).cloned().or(default);
                        let value = value.or_else(|| self.globals.get(&name).cloned().flatten());
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
                StepKind::Copy { chmod } => {
                    let copy = copy_of(words()?, step.line, &out.workdir, *chmod)?;
                    out.copies.push(copy);
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
    /// The `COPY` steps, each a layer.
    pub copies: Vec<Copy>,
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

/// `CMD` and `ENTRYPOINT` in exec form: a JSON array of strings.
fn exec_form(inst: &Instruction) -> Result<Vec<String>, Unsupported> {
    serde_json::from_str::<Vec<String>>(&inst.rest).map_err(|_| {
        refuse(
            inst.line,
            format!(
                "{} in shell form: the native builder takes the exec form, as in {} [\"main.handler\"]",
                inst.keyword, inst.keyword
            ),
        )
    })
}

/// Reads `COPY`'s flags: `--chmod` alone.
fn copy(inst: &Instruction) -> Result<StepKind, Unsupported> {
    let mut chmod = None;
    for (word, _) in inst.words.iter().take_while(|(w, _)| w.starts_with("--")) {
        match word.split_once('=') {
            Some(("--chmod", mode)) => {
                let bits = u32::from_str_radix(mode, 8)
                    .ok()
                    .filter(|m| *m <= 0o7777)
                    .ok_or_else(|| {
                        refuse(
                            inst.line,
                            format!("COPY --chmod={mode}: the native builder takes an octal mode"),
                        )
                    })?;
                chmod = Some(bits);
            }
            Some(("--from", _)) => {
                return Err(refuse(
                    inst.line,
                    "COPY --from: multi-stage Dockerfiles are not built natively yet",
                ))
            }
            _ => {
                return Err(refuse(
                    inst.line,
                    format!("COPY {word} is not supported by the native builder"),
                ))
            }
        }
    }
    if inst.rest.trim_start().starts_with('[') {
        return Err(refuse(
            inst.line,
            "COPY in JSON form is not supported by the native builder",
        ));
    }
    Ok(StepKind::Copy { chmod })
}

/// `COPY`'s arguments after its flags.
fn without_flags(inst: &Instruction) -> String {
    let mut rest = inst.rest.as_str();
    while rest.starts_with("--") {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        rest = rest[end..].trim_start();
    }
    rest.to_string()
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
fn in_context(source: &str) -> String {
    absolute("/", source).trim_start_matches('/').to_string()
}

#[cfg(test)]
mod tests;
