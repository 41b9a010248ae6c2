//! Moving each function's `$LATEST` to the target, all at once (each move waited on and
//! verified), and Ctrl-C. Deploys through an alias go on in `shift`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use futures_util::stream::StreamExt;

use super::target::Target;
use crate::config::RolloutSettings;
use crate::journal::{FunctionImage, Outcome};
use crate::lambda::{self, Function, Lambda, MoveError};
use crate::reporter::Reporter;

/// How one function's move ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Move {
    /// It runs the target, verified.
    Done(FunctionImage),
    /// It failed, or someone else changed it.
    Failed(MoveError),
    /// Not started: another function failed first, or Ctrl-C.
    NotStarted,
}

/// One function and how its move ended.
#[derive(Debug, Clone)]
pub struct Moved {
    /// The function as read before the move.
    pub function: Function,
    /// How it ended.
    pub result: Move,
}

/// The journal outcome of a failed move.
pub fn failure_outcome(error: &MoveError) -> Outcome {
    match error {
        MoveError::Failed(_) => Outcome::Failed,
        MoveError::Conflict(_) => Outcome::Conflict,
    }
}

/// Ctrl-C during a rollout: the first stops new updates (in-flight ones finish, moved ones
/// go back, the end record is written); a second quits at once, and the next run closes the
/// record. Watching ends when this is dropped.
pub struct Interrupt {
    stop: Arc<AtomicBool>,
    watcher: tokio::task::JoinHandle<()>,
}

impl Interrupt {
    /// Starts watching for Ctrl-C.
    pub fn watch(reporter: Arc<dyn Reporter>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let watcher = tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_err() {
                return;
            }
            flag.store(true, Ordering::SeqCst);
            reporter.warn("interrupted: no new updates start; the ones in flight finish and are put back (Ctrl-C again to quit now)");
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        });
        Self { stop, watcher }
    }

    /// Whether Ctrl-C was pressed (or a move failed).
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

impl Drop for Interrupt {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}

/// Moves the `$LATEST` of every function of `todo` to the target, `concurrency` at a time,
/// each starting at its turn of the control plane's budget; the first failure (or Ctrl-C)
/// stops the moves that have not started.
pub async fn apply(
    client: &Lambda,
    todo: &[&Function],
    target: &Target,
    options: &RolloutSettings,
    interrupt: &Interrupt,
    reporter: &dyn Reporter,
) -> Vec<Moved> {
    let timeout = options.timeout;
    let image = target.image();
    let meter = reporter.count("updated", todo.len() as u64);
    let moves = client.in_turn(todo, || interrupt.stopped()).map(|f| {
        let (image, meter) = (&image, &meter);
        async move {
            if interrupt.stopped() {
                return Moved {
                    function: (*f).clone(),
                    result: Move::NotStarted,
                };
            }
            let started = Instant::now();
            let moved =
                lambda::update_image(client, &f.name, image, f.revision_id.clone(), timeout).await;
            let result = match moved {
                Ok(now) => {
                    meter.line(&format!(
                        "updated   {} ({:.1} s)",
                        f.name,
                        started.elapsed().as_secs_f64()
                    ));
                    meter.advance(1);
                    Move::Done(now)
                }
                Err(e) => {
                    interrupt.stop();
                    meter.advance(1);
                    reporter.step(&format!(
                        "  {:<9} {}: {}",
                        failure_outcome(&e).as_str(),
                        f.name,
                        e.message()
                    ));
                    Move::Failed(e)
                }
            };
            Moved {
                function: (*f).clone(),
                result,
            }
        }
    });
    let moved = moves.buffer_unordered(options.concurrency).collect().await;
    meter.finish();
    moved
}
