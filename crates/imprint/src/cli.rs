//! Command-line arguments. Every flag that has a config key can also come from `IMPRINT_*`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use crate::config::{parse_duration, BuildInputArgs, BuilderChoice, NetworkArgs, RegistryArgs};
use crate::config::{RolloutFlags, Strategy};

/// Deploys container-image AWS Lambda functions with content-based image tags.
#[derive(Debug, Parser)]
#[command(name = "imprint", version = crate::version::LONG_VERSION, about, propagate_version = true)]
pub struct Cli {
    /// Options shared by every command.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Use this imprint.toml instead of searching the current directory and its parents.
    #[arg(long, global = true, env = "IMPRINT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Apply the `[env.NAME]` section of imprint.toml.
    #[arg(long = "env", global = true, env = "IMPRINT_ENV", value_name = "NAME")]
    pub environment: Option<String>,
    /// Print machine-readable JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// More detail on stderr (-v, -vv).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Time limits on the network.
    #[command(flatten)]
    pub network: NetworkArgs,
}

/// imprint's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the tag for the current content: `{timestamp}-{hash:8}` by default.
    Tag(TagArgs),
    /// Build the image for the current content with the docker CLI, unless it exists.
    Build(BuildArgs),
    /// Push the built image over the registry API, verified, with its index artifact.
    Push(PushArgs),
    /// Rebuild the image for the checkout natively and compare it with the pushed one.
    Verify(VerifyArgs),
    /// What an image holds and costs: layers, Python packages, and those no handler imports.
    Inspect(InspectArgs),
    /// Pin every base image the Dockerfile names to its digest in imprint.lock.
    Lock(LockArgs),
    /// Log the docker CLI in to the ECR registry (the token goes over stdin).
    Login(LoginArgs),
    /// Build and push if needed, then move every function to the image: waited on, verified, journaled.
    Deploy(DeployArgs),
    /// What deploy would change: each function's image, and the input files changed since.
    Preview(PreviewArgs),
    /// Per function: tag, image, digest, state, and drift from the registry and the local tree.
    #[command(alias = "outputs")]
    Status(StatusArgs),
    /// Past deployments and rollbacks from the journal, newest first.
    History(HistoryArgs),
    /// Move every function back to the previous deployment's image (or --to TAG).
    Rollback(RollbackArgs),
    /// Check everything a deploy needs: builder, AWS, registry, repository, functions, lock, context.
    Doctor(DoctorArgs),
    /// Build (or reuse) the image and run it locally for an invoke: `--event FILE` posts one.
    RunLocal(RunLocalArgs),
    /// Print the least-privilege IAM policy for the configured repository and functions.
    IamPolicy(IamPolicyArgs),
    /// Delete images (and their artifacts) no function, version, alias, recent deployment or
    /// recent push needs. A dry run unless --yes.
    Gc(GcArgs),
    /// Write imprint.toml (and with --makefile a Makefile) for an existing project: its
    /// Dockerfile, the repository, the image functions already running images from it.
    Init(InitArgs),
    /// Print the shell completion script for bash, zsh, fish or powershell.
    Completions(CompletionsArgs),
    /// Print imprint's man page (roff), e.g. `imprint man > /usr/local/share/man/man1/imprint.1`.
    Man,
    /// Print imprint's version, commit, target and format versions (`--json` for tooling).
    Version,
}

/// `imprint init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The repository [default: the one the image functions run, else a new ECR repository
    /// named after the project in the caller's account and region].
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Select the functions by this Lambda tag (`[deploy] select`) instead of listing them.
    #[arg(long, value_name = "TAG=VALUE")]
    pub select: Option<String>,
    /// The Dockerfile [default: ./Dockerfile, else the only one in the folders below].
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    pub file: Option<std::path::PathBuf>,
    /// Also write a Makefile: one target per imprint command.
    #[arg(long)]
    pub makefile: bool,
    /// Print what would be written, and write nothing.
    #[arg(long)]
    pub print: bool,
}

/// `imprint completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, powershell (or elvish).
    pub shell: clap_complete::Shell,
}

/// `imprint gc`.
#[derive(Debug, Args)]
pub struct GcArgs {
    /// The repository and the functions.
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Delete (without it, gc only shows what it would delete).
    #[arg(short, long)]
    pub yes: bool,
    /// Keep the images of the newest N successful deployments [config: gc.keep_deployments; default 10].
    #[arg(long, value_name = "N")]
    pub keep_deployments: Option<usize>,
    /// Keep anything pushed within the last N days [config: gc.keep_days; default 14].
    #[arg(long, value_name = "DAYS")]
    pub keep_days: Option<u32>,
    /// Also delete images imprint did not push (no index artifact) [config: gc.include_foreign].
    #[arg(long)]
    pub include_foreign: bool,
    /// Also delete Lambda versions no alias routes to and no kept deployment names [config: gc.versions].
    #[arg(long)]
    pub versions: bool,
    /// Delete journal records older than DAYS (never those of kept deployments) [config: gc.journal_older_than].
    #[arg(long, value_name = "DAYS")]
    pub journal_older_than: Option<u32>,
}

/// `imprint iam-policy`.
#[derive(Debug, Args)]
pub struct IamPolicyArgs {
    /// The repository and the functions.
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// The functions' region (default: the ECR repository's; else `*`).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// The functions' account (default: the ECR repository's; else `*`).
    #[arg(long, value_name = "ACCOUNT")]
    pub account: Option<String>,
    /// Also allow creating the repository (`imprint push --create-repo`).
    #[arg(long)]
    pub create_repo: bool,
    /// Also allow `imprint gc --yes` (delete images and unused Lambda versions).
    #[arg(long)]
    pub gc: bool,
}

impl Command {
    /// What the command says about the build inputs, the registry and the settings file.
    pub fn input(&self) -> std::borrow::Cow<'_, BuildInputArgs> {
        use std::borrow::Cow;
        // Commands that only speak to the registry take only its flags.
        let registry_only = |registry: &RegistryArgs| {
            Cow::Owned(BuildInputArgs {
                registry: registry.clone(),
                ..BuildInputArgs::default()
            })
        };
        match self {
            Self::Tag(a) => Cow::Borrowed(&a.input),
            Self::Build(a) => Cow::Borrowed(&a.input),
            Self::Push(a) => Cow::Borrowed(&a.input),
            Self::Verify(a) => Cow::Borrowed(&a.input),
            Self::Inspect(a) => Cow::Borrowed(&a.input),
            Self::Lock(a) => Cow::Borrowed(&a.input),
            Self::Deploy(a) => Cow::Borrowed(&a.input),
            Self::Preview(a) => Cow::Borrowed(&a.input),
            Self::Status(a) => Cow::Borrowed(&a.input),
            Self::Doctor(a) => Cow::Borrowed(&a.input),
            Self::RunLocal(a) => Cow::Borrowed(&a.input),
            Self::Login(a) => registry_only(&a.registry),
            Self::History(a) => registry_only(&a.registry),
            Self::Rollback(a) => registry_only(&a.registry),
            Self::IamPolicy(a) => registry_only(&a.registry),
            Self::Gc(a) => registry_only(&a.registry),
            Self::Init(a) => registry_only(&a.registry),
            // They read no settings (run before any are loaded).
            Self::Completions(_) | Self::Man | Self::Version => {
                Cow::Owned(BuildInputArgs::default())
            }
        }
    }
}

/// `imprint run-local`.
#[derive(Debug, Args)]
pub struct RunLocalArgs {
    /// What goes into the hash and the build.
    #[command(flatten)]
    pub input: BuildInputArgs,
    /// The handler to run, e.g. handlers.debts.handler (the image's CMD otherwise).
    #[arg(long, value_name = "MODULE.FUNCTION")]
    pub handler: Option<String>,
    /// Post this JSON event to the function, print its answer, and stop the container.
    #[arg(long, value_name = "FILE")]
    pub event: Option<PathBuf>,
    /// The host port the emulator's invoke API answers on (the container's 8080 is published
    /// there; with --network host, the port the runtime listens on). Not used with --event
    /// unless --emulator.
    #[arg(long, default_value_t = 9000, value_name = "PORT")]
    pub port: u16,
    /// The container network: `host` where the engine has no bridge (then nothing is published).
    #[arg(long, value_name = "NETWORK")]
    pub network: Option<String>,
    /// An environment variable for the function, KEY=VALUE or KEY to pass on this one's (repeatable).
    #[arg(long = "env-var", short = 'e', value_name = "KEY[=VALUE]")]
    pub env_vars: Vec<String>,
    /// How long to wait for the function to answer an invoke.
    #[arg(long, default_value = "60s", value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Duration,
    /// With --event: post it to the runtime interface emulator inside the image (AWS's base
    /// images) instead of serving the Lambda Runtime API to the image's runtime client.
    #[arg(long)]
    pub emulator: bool,
}

/// `imprint doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The local tree, the registry and the function list.
    #[command(flatten)]
    pub input: BuildInputArgs,
    /// Only this check (repeatable; the ones it needs run too, unreported).
    #[arg(long = "check", value_name = "NAME", value_enum)]
    pub checks: Vec<Check>,
}

/// One of `imprint doctor`'s checks, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Check {
    /// The builder's engine answers.
    Builder,
    /// Room on disk for imprint's cache and the builder's storage.
    Disk,
    /// An AWS region is set.
    Region,
    /// AWS credentials work (STS).
    Credentials,
    /// The registry answers and takes the credentials.
    Registry,
    /// The image repository exists.
    Repository,
    /// The functions exist and are image functions.
    Functions,
    /// imprint.lock pins every base image.
    Lock,
    /// The build context hashes.
    Context,
    /// imprint.toml's functions are the image functions the Pulumi stack creates.
    Pulumi,
}

impl Check {
    /// Its name on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Builder => "builder",
            Self::Disk => "disk",
            Self::Region => "region",
            Self::Credentials => "credentials",
            Self::Registry => "registry",
            Self::Repository => "repository",
            Self::Functions => "functions",
            Self::Lock => "lock",
            Self::Context => "context",
            Self::Pulumi => "pulumi",
        }
    }
}

/// `imprint deploy`.
#[derive(Debug, Args)]
pub struct DeployArgs {
    /// What goes into the hash and the build.
    #[command(flatten)]
    pub input: BuildInputArgs,
    /// Deploy this already-pushed tag, without building; copied here first when it is only
    /// in the source environment's repository (promotion).
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,
    /// With --tag: the environment whose repository the image is copied from (default: the
    /// repository outside every [env.NAME]).
    #[arg(long, value_name = "ENV", requires = "tag")]
    pub from: Option<String>,
    /// Build again, under a new tag, even if this content was built or pushed before.
    #[arg(long, conflicts_with = "tag")]
    pub rebuild: bool,
    /// Create the ECR repository if it does not exist (as `push --create-repo`).
    #[arg(long)]
    pub create_repo: bool,
    /// How the functions are moved.
    #[command(flatten)]
    pub rollout: RolloutArgs,
}

/// `imprint rollback`.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The repository (and its journal) and the function list.
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Go back to this tag instead of the deployment before the current one.
    #[arg(long, value_name = "TAG")]
    pub to: Option<String>,
    /// How the functions are moved.
    #[command(flatten)]
    pub rollout: RolloutArgs,
}

/// How `deploy` and `rollback` move functions.
#[derive(Debug, Args)]
pub struct RolloutArgs {
    /// Only these functions (repeatable; each must be configured).
    #[arg(long = "function", value_name = "NAME")]
    pub functions: Vec<String>,
    /// Do not ask before changing functions (needed without a terminal).
    #[arg(short, long)]
    pub yes: bool,
    /// At most N functions updated (and waited on) at once [default: no limit: the updates
    /// start at the pace of Lambda's control-plane quota].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..), value_name = "N")]
    pub concurrency: Option<u16>,
    /// How long to wait for each function's update: seconds, or with s, m or h.
    #[arg(long, default_value = "10m", value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Duration,
    /// After a failure, leave the functions already updated on the new image (no revert).
    #[arg(long, visible_alias = "no-rollback")]
    pub no_revert: bool,
    /// Close an unfinished deploy begun elsewhere that may look like it is still running.
    #[arg(long)]
    pub recover: bool,
    /// End the deploy lease another run holds (when that run is gone), then deploy.
    #[arg(long)]
    pub force_unlock: bool,
    /// Publish a version and move this alias to it [config: deploy.alias].
    #[arg(long, value_name = "NAME")]
    pub alias: Option<String>,
    /// all-at-once, blue-green, canary:10%:5m, linear:10%:1m (or SAM's names)
    /// [config: deploy.strategy; default all-at-once].
    #[arg(long, value_parser = clap::value_parser!(Strategy), value_name = "STRATEGY")]
    pub strategy: Option<Strategy>,
    /// Deploy even when a watched alarm already fires.
    #[arg(long)]
    pub ignore_alarms: bool,
    /// Move traffic without running the smoke tests of [deploy.smoke] (journaled).
    #[arg(long)]
    pub skip_smoke: bool,
}

impl RolloutArgs {
    /// The flags as given; `config::RolloutSettings::resolve` puts them over `[deploy]`.
    pub fn flags(&self) -> RolloutFlags {
        RolloutFlags {
            concurrency: self.concurrency,
            timeout: self.timeout,
            yes: self.yes,
            no_revert: self.no_revert,
            recover: self.recover,
            force_unlock: self.force_unlock,
            alias: self.alias.clone(),
            strategy: self.strategy,
            ignore_alarms: self.ignore_alarms,
            skip_smoke: self.skip_smoke,
        }
    }
}

/// `imprint preview`.
#[derive(Debug, Args)]
pub struct PreviewArgs {
    /// The local tree and the registry.
    #[command(flatten)]
    pub input: BuildInputArgs,
    /// Only these functions (repeatable; each must be configured).
    #[arg(long = "function", value_name = "NAME")]
    pub functions: Vec<String>,
}

/// `imprint history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The repository whose journal is read.
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Show at most this many deployments, newest first.
    #[arg(long, default_value_t = 20, value_parser = at_least_one, value_name = "N")]
    pub limit: usize,
}

/// `imprint status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The local tree and the registry.
    #[command(flatten)]
    pub input: BuildInputArgs,
    /// Only these functions (repeatable; each must be configured).
    #[arg(long = "function", value_name = "NAME")]
    pub functions: Vec<String>,
}

/// `imprint login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The registry to log in to.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `imprint lock`.
#[derive(Debug, Args)]
pub struct LockArgs {
    /// What the Dockerfile and build arguments are.
    #[command(flatten)]
    pub input: BuildInputArgs,
    /// Resolve every base image again and take newer digests (a new tag follows).
    #[arg(long)]
    pub update: bool,
}

/// `imprint tag`.
#[derive(Debug, Args)]
pub struct TagArgs {
    /// What goes into the hash.
    #[command(flatten)]
    pub input: BuildInputArgs,
    /// Compute the tag from the local tree alone, without asking the registry.
    #[arg(long)]
    pub offline: bool,
    /// List every input with its kind, mode, size and hash (with -v: what was excluded, and by which pattern).
    #[arg(long)]
    pub explain: bool,
    /// A new tag even if this content was built or pushed before.
    #[arg(long)]
    pub rebuild: bool,
}

/// `imprint build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// What goes into the hash and the build.
    #[command(flatten)]
    pub input: BuildInputArgs,
    /// Do not ask the registry whether this content is already pushed.
    #[arg(long)]
    pub offline: bool,
    /// Build again, under a new tag, even if this content was built or pushed before.
    #[arg(long)]
    pub rebuild: bool,
}

/// `imprint verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// What goes into the hash and the build.
    #[command(flatten)]
    pub input: BuildInputArgs,
    /// The pushed tag to compare with (default: the image the registry holds for this
    /// content).
    #[arg(long)]
    pub tag: Option<String>,
    /// Compare with the image of the newest successful deployment in the journal (what the
    /// functions run): is it what this checkout builds?
    #[arg(long, conflicts_with = "tag")]
    pub deployed: bool,
}

/// `imprint inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// What goes into the hash and the build (for the local tree's image).
    #[command(flatten)]
    pub input: BuildInputArgs,
    /// A pushed tag to read from the registry (default: the local tree's image, built when
    /// it is not yet).
    pub tag: Option<String>,
}

/// `imprint push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// What goes into the hash.
    #[command(flatten)]
    pub input: BuildInputArgs,
    /// Create the ECR repository if it does not exist.
    #[arg(long)]
    pub create_repo: bool,
    /// Push the newest local build of this content (from `build --rebuild`) even though the
    /// registry already has an image for it; the index artifact then names the new tag.
    #[arg(long)]
    pub rebuild: bool,
}

/// A count of 1 or more.
fn at_least_one(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err("give a whole number of 1 or more".into()),
    }
}
