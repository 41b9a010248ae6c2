//! `imprint init`: imprint.toml (and with `--makefile` a Makefile) for an existing project,
//! from its Dockerfile and the image functions Lambda already runs. Never overwrites.

use anyhow::Context as _;

use crate::cli::InitArgs;
use crate::config::file::FILE_NAME;
use crate::config::init::{self, InitReport, Running};
use crate::error::ExitStatus;
use crate::lambda;
use crate::printer::Printer;
use crate::session::Session;
use crate::state;

/// Refuses to run when a file `init` writes is there already (readable or not): checked
/// before the settings are loaded, so a broken imprint.toml is named as one not overwritten.
pub fn refuse_existing(args: &InitArgs) -> anyhow::Result<()> {
    if args.print {
        return Ok(());
    }
    let cwd = std::env::current_dir().context("failed to read the current directory")?;
    init::refuse_existing(&cwd.join(FILE_NAME))?;
    if args.makefile {
        init::refuse_existing(&cwd.join("Makefile"))?;
    }
    Ok(())
}

/// Runs `imprint init`.
pub async fn run(
    session: &Session,
    printer: &Printer,
    args: &InitArgs,
) -> anyhow::Result<ExitStatus> {
    let cwd = std::env::current_dir().context("failed to read the current directory")?;
    let (config_path, makefile_path) = (cwd.join(FILE_NAME), cwd.join("Makefile"));
    refuse_existing(args)?;
    let given = args
        .file
        .as_deref()
        .map(|f| f.strip_prefix(&cwd).unwrap_or(f));
    let found = init::find_dockerfile(&cwd, given)?;
    let select = args
        .select
        .as_deref()
        .map(init::parse_selector)
        .transpose()?;
    let name = init::image_name(&cwd.file_name().unwrap_or_default().to_string_lossy());
    let flag = args.registry.repository.as_deref();

    let running = match running(session, select.as_ref()).await {
        Ok(running) => running,
        // With the repository given, the file is still worth writing; the functions are not
        // silently left out: the warning says to list them.
        Err(e) if flag.is_some() => {
            printer.warn(&format!(
                "cannot list the Lambda functions ({}); [deploy] functions is left for you to fill in",
                crate::diagnose::message(&e)
            ));
            Vec::new()
        }
        Err(e) => return Err(e),
    };
    let new_repository = match (flag, running.is_empty()) {
        (None, true) => new_repository(session, &name).await,
        _ => None,
    };
    let proposal = init::propose(&name, flag, select.as_ref(), &running, new_repository)?;
    let text = init::render(&name, &found, &proposal);
    if args.print {
        printer.data(&text)?;
        if args.makefile {
            printer.data(&format!("# --- Makefile ---\n{}", init::MAKEFILE))?;
        }
        return Ok(ExitStatus::Success);
    }
    let mut written = Vec::new();
    for (path, bytes) in [(&config_path, text.as_bytes())].into_iter().chain(
        args.makefile
            .then_some((&makefile_path, init::MAKEFILE.as_bytes())),
    ) {
        state::write_atomic(path, bytes)
            .with_context(|| format!("failed to write {}", path.display()))?;
        written.push(path.strip_prefix(&cwd).unwrap_or(path).to_path_buf());
    }
    printer.report(&InitReport {
        written,
        found,
        proposal,
    })?;
    Ok(ExitStatus::Success)
}

/// The image functions of the region (those tagged as `select` says, when given).
async fn running(
    session: &Session,
    select: Option<&crate::config::Selector>,
) -> anyhow::Result<Vec<Running>> {
    let client = session.lambda().await?;
    let functions = lambda::image_functions(client, select).await?;
    Ok(functions
        .into_iter()
        .filter_map(|f| {
            Some(Running {
                image_uri: f.image_uri?,
                name: f.name,
                architectures: f.architectures,
            })
        })
        .collect())
}

/// `<account>.dkr.ecr.<region>.amazonaws.com/<name>` for the caller; `None` (with a warning)
/// when STS cannot say who that is.
async fn new_repository(session: &Session, name: &str) -> Option<String> {
    let region = session.aws().await.ok()?.region()?.to_string();
    let sts = session.sts().await.ok()?;
    match lambda::identify(sts).await {
        Ok(caller) => Some(format!(
            "{}.dkr.ecr.{region}.amazonaws.com/{name}",
            caller.account?
        )),
        Err(e) => {
            session
                .reporter()
                .warn(&format!("cannot read the caller's account from STS ({e})"));
            None
        }
    }
}
