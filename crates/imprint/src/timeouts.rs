//! How long imprint waits on the network: to connect, between reads, for one whole call.

use std::time::Duration;

/// The time limits of every registry and AWS call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// To open a connection.
    pub connect: Duration,
    /// Between two reads of an answer.
    pub read: Duration,
    /// For one call in all, its retries included (a blob upload gets more by its size).
    pub call: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            read: Duration::from_secs(30),
            call: Duration::from_secs(60),
        }
    }
}
