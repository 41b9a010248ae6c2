//! Buffers kept for reuse: a push moves hundreds of megabytes through megabyte buffers, and
//! fresh memory costs the kernel a page clearing each time (bench/MEASUREMENTS.md).

use std::sync::Mutex;

/// Spare buffers, at most `keep` of them (the rest of those given back are freed).
pub(super) struct Buffers {
    spare: Mutex<Vec<Vec<u8>>>,
    keep: usize,
}

impl Buffers {
    pub(super) const fn new(keep: usize) -> Self {
        Self {
            spare: Mutex::new(Vec::new()),
            keep,
        }
    }

    /// A spare buffer (as it was given back), or a new one of `capacity`.
    pub(super) fn take(&self, capacity: usize) -> Vec<u8> {
        self.spare
            .lock()
            .ok()
            .and_then(|mut spare| spare.pop())
            .unwrap_or_else(|| Vec::with_capacity(capacity))
    }

    /// Keeps `buffers` for later, up to the limit.
    pub(super) fn give(&self, buffers: impl IntoIterator<Item = Vec<u8>>) {
        if let Ok(mut spare) = self.spare.lock() {
            let room = self.keep.saturating_sub(spare.len());
            spare.extend(buffers.into_iter().take(room));
        }
    }
}
