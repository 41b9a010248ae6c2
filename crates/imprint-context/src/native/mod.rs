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

pub mod deps;
mod image;
pub mod layer;
mod words;

pub use image::{absolute, Copy, History, ImagePlan, Install, LayerStep};
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
        ContextError::NativeUnsupported {
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
    /// `COPY [--chmod=MODE] [--from=STAGE] SRC... DEST`: from the context, or the packages a
    /// builder stage installed (a copy from a tool stage, in a builder stage, is its
    /// installer: imprint installs with its own).
    Copy {
        /// `--chmod`, when given.
        chmod: Option<u32>,
        /// `--from`, when given.
        from: Option<String>,
    },
    /// `RUN` of a dependency step (see [`deps`]).
    Install,
}

/// One stage as read: its name, base and steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// `AS name`, lowercase.
    pub name: Option<String>,
    /// The base image as `FROM` names it after global `ARG`s; `None` for `scratch`.
    pub base: Option<String>,
    /// The `FROM` line.
    pub from_line: usize,
    /// The steps after `FROM`.
    pub steps: Vec<Step>,
    /// Each step's arguments, as read (parallel to `steps`).
    args: Vec<String>,
}

/// A Dockerfile the native builder can build: the stage it builds (the `--target`, else the
/// last), and the stages before it, whose installed packages it may copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The base image of the stage built; `None` for `scratch`.
    pub base: Option<String>,
    /// Its `FROM` line.
    pub from_line: usize,
    /// Its steps.
    pub steps: Vec<Step>,
    args: Vec<String>,
    /// Every stage before it, in order (a builder stage's packages are copied with `COPY
    /// --from`; a tool stage, which only provides the installer, is never built).
    pub earlier: Vec<Stage>,
    /// The global `ARG`s (before `FROM`) with their values: a stage's `ARG NAME` takes one.
    globals: BTreeMap<String, Option<String>>,
}

/// The hint every refusal ends with.
pub const DOCKER_BUILDS_IT: &str = "`--builder docker` builds it";

impl Plan {
    /// Reads `text` (a Dockerfile the syntax check passed) with `build_args` over the `ARG`
    /// defaults; `target`, when given, names the stage built.
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
        let mut globals = BTreeMap::new();
        let mut stages: Vec<Stage> = Vec::new();
        for inst in instructions(text, start, '\\') {
            if inst.words.iter().any(|(w, _)| w.starts_with("<<")) {
                return Err(refuse(
                    inst.line,
                    "heredocs are not supported by the native builder",
                ));
            }
            match (inst.keyword.as_str(), stages.last_mut()) {
                ("ARG", None) => global_arg(&mut globals, &inst, build_args)?,
                ("FROM", _) => stages.push(from(&globals, &inst, &stages)?),
                (_, None) => return Err(refuse(inst.line, "an instruction before FROM")),
                (_, Some(stage)) => {
                    let kind = step_kind(&inst)?;
                    let args = match &kind {
                        StepKind::Copy { .. } => without_flags(&inst),
                        _ => inst.rest.clone(),
                    };
                    stage.steps.push(Step {
                        line: inst.line,
                        text: format!("{} {}", inst.keyword, inst.rest),
                        kind,
                    });
                    stage.args.push(args);
                }
            }
        }
        let last = stages
            .len()
            .checked_sub(1)
            .ok_or_else(|| refuse(1, "no FROM"))?;
        let built = match target {
            None => last,
            Some(target) => stages
                .iter()
                .position(|s| s.name.as_deref() == Some(target.to_ascii_lowercase().as_str()))
                .ok_or_else(|| {
                    refuse(
                        stages[last].from_line,
                        format!("--target {target} names no stage"),
                    )
                })?,
        };
        stages.truncate(built + 1);
        let Some(stage) = stages.pop() else {
            return Err(refuse(1, "no FROM"));
        };
        Ok(Plan {
            base: stage.base,
            from_line: stage.from_line,
            steps: stage.steps,
            args: stage.args,
            earlier: stages,
            globals,
        })
    }

    /// The earlier stage a `COPY --from=` names (by name or number).
    pub fn stage(&self, name: &str) -> Option<usize> {
        let name = name.to_ascii_lowercase();
        match name.parse::<usize>() {
            Ok(index) => (index < self.earlier.len()).then_some(index),
            Err(_) => self
                .earlier
                .iter()
                .position(|s| s.name.as_deref() == Some(name.as_str())),
        }
    }
}

/// What one instruction after a `FROM` is, or why it is refused.
fn step_kind(inst: &Instruction) -> Result<StepKind, Unsupported> {
    Ok(match inst.keyword.as_str() {
        "ARG" => StepKind::Arg,
        "ENV" => StepKind::Env,
        "WORKDIR" => StepKind::Workdir,
        "LABEL" => StepKind::Label,
        "USER" => StepKind::User,
        "CMD" => StepKind::Cmd(exec_form(inst)?),
        "ENTRYPOINT" => StepKind::Entrypoint(exec_form(inst)?),
        "COPY" => copy(inst)?,
        "RUN" => {
            let no_vars = BTreeMap::new();
            let vars = Vars::new(&no_vars);
            let words = Lexer::new(&inst.rest, &vars)
                .words()
                .map_err(|e| refuse(inst.line, e))?;
            deps::commands(words)
                .and_then(|commands| deps::dependency_step(&commands))
                .map_err(|e| refuse(inst.line, format!("RUN: {e}")))?;
            StepKind::Install
        }
        other => {
            return Err(refuse(
                inst.line,
                format!("{other} is not supported by the native builder"),
            ))
        }
    })
}

/// `ARG name[=default]` before the first `FROM`: a global, with its build-arg value.
fn global_arg(
    globals: &mut BTreeMap<String, Option<String>>,
    inst: &Instruction,
    build_args: &BTreeMap<String, String>,
) -> Result<(), Unsupported> {
    let vars = Vars::new(globals);
    let words = Lexer::new(&inst.rest, &vars)
        .words()
        .map_err(|e| refuse(inst.line, e))?;
    for word in words {
        let (name, default) = match word.split_once('=') {
            Some((name, value)) => (name.to_string(), Some(value.to_string())),
            None => (word, None),
        };
        let value = build_args.get(&name).cloned().or(default);
        globals.insert(name, value);
    }
    Ok(())
}

/// A `FROM`: a new stage on an image (or `scratch`), never on an earlier stage.
fn from(
    globals: &BTreeMap<String, Option<String>>,
    inst: &Instruction,
    stages: &[Stage],
) -> Result<Stage, Unsupported> {
    let words: Vec<&str> = inst.words.iter().map(|(w, _)| w.as_str()).collect();
    if words.first().is_some_and(|w| w.starts_with("--")) {
        return Err(refuse(
            inst.line,
            "FROM --platform: the native builder builds for the configured platform",
        ));
    }
    let name = match words.as_slice() {
        [_] => None,
        [_, as_, name] if as_.eq_ignore_ascii_case("as") => Some(name.to_ascii_lowercase()),
        _ => {
            return Err(refuse(
                inst.line,
                "FROM takes an image and an optional `AS name`",
            ))
        }
    };
    let vars = Vars::new(globals);
    let image = Lexer::new(words[0], &vars)
        .word()
        .map_err(|e| refuse(inst.line, e))?;
    if stages
        .iter()
        .any(|s| s.name.as_deref() == Some(image.to_ascii_lowercase().as_str()))
    {
        return Err(refuse(
            inst.line,
            format!("FROM {image}: a stage on an earlier stage is not built natively"),
        ));
    }
    Ok(Stage {
        name,
        base: (!image.eq_ignore_ascii_case("scratch")).then_some(image),
        from_line: inst.line,
        steps: Vec::new(),
        args: Vec::new(),
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
    let (mut chmod, mut from) = (None, None);
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
            Some(("--from", stage)) => from = Some(stage.to_string()),
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
    Ok(StepKind::Copy { chmod, from })
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

#[cfg(test)]
mod tests;
