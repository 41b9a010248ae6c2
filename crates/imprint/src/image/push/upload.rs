//! Uploading layers while the export makes them: a large layer no repository of the registry
//! has been sent from here goes out as it is compressed (one streamed `PATCH`, never stored);
//! every other layer is checked (`HEAD`) the moment it is stored, while the next one is being
//! compressed, and when missing is mounted from a repository it was sent to before, else sent
//! whole.

use std::collections::HashMap;
use std::io::{self, Write};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt as _;
use tokio::sync::mpsc;

use super::archive::{Layer, LayerTee, LayerWatch};
use super::buffers::Buffers;
use super::sent::Sent;
use crate::registry::{Placed, Registry, RegistryError};
use crate::reporter::Meter;

/// Bytes handed from compression to the upload at a time.
const CHUNK: usize = 1 << 20;
/// Layers smaller than this (as exported) are sent whole once stored: streaming saves them
/// little.
const STREAM_FROM: u64 = 16 << 20;
/// Chunks waiting for the network before compression waits too.
const CHUNKS_AHEAD: usize = 16;

/// What the export reports to the uploads.
pub(super) enum Event {
    /// A layer's compressed bytes as they are made, ending with the layer; about how many
    /// (its size as exported).
    Streamed(mpsc::Receiver<Piece>, u64),
    /// A layer compressed and stored whole, and another repository of the registry it was
    /// sent to before.
    Stored(Layer, Option<String>),
    /// A layer not compressed again (its bytes checked against what compressing them gave
    /// before): not on this machine, so found in the repository or mounted from another.
    Remembered(Layer, Option<String>),
}

/// Part of a streamed layer.
pub(super) enum Piece {
    /// The next compressed bytes (a buffer that goes back to its pool once sent).
    Data(Bytes),
    /// The layer is complete; its last bytes.
    End(Layer, Vec<u8>),
}

/// The export's side: decides per layer whether to stream it and reports each one.
pub(super) struct UploadWatch {
    sent: Sent,
    events: mpsc::UnboundedSender<Event>,
    /// Large layers may stream and remembered ones skip compression (else every layer is
    /// compressed, stored and sent whole).
    shortcuts: bool,
    /// Buffers for the streamed layers' chunks.
    pool: Pool,
    /// The layer being compressed now is streaming (the export goes one layer at a time).
    streaming: bool,
    /// The layer being read now skips compression (the repository to mount it from).
    remembered: Option<Option<String>>,
    /// Every layer: export name, size, layer.
    layers: Vec<(String, u64, Layer)>,
}

impl UploadWatch {
    /// `shortcuts`: whether a large layer new to the registry may go out as it is made, and
    /// a layer compressed before skip compression.
    pub(super) fn new(sent: Sent, events: mpsc::UnboundedSender<Event>, shortcuts: bool) -> Self {
        Self {
            sent,
            events,
            shortcuts,
            pool: Pool::default(),
            streaming: false,
            remembered: None,
            layers: Vec::new(),
        }
    }

    /// What the repository was sent before, and every layer of this export; the uploads
    /// hear that the export is over.
    pub(super) fn finish(self) -> (Sent, Vec<(String, u64, Layer)>) {
        (self.sent, self.layers)
    }
}

impl LayerWatch for UploadWatch {
    fn begins(&mut self, name: &str, size: u64) -> Option<Box<dyn LayerTee>> {
        self.streaming = false;
        if !self.shortcuts || size < STREAM_FROM || self.sent.knows(name, size) {
            return None;
        }
        let (tx, rx) = mpsc::channel(CHUNKS_AHEAD);
        self.events.send(Event::Streamed(rx, size)).ok()?;
        self.streaming = true;
        Some(Box::new(Chunks {
            tx,
            buffer: Vec::new(),
            pool: self.pool.clone(),
        }))
    }

    fn compressed(&mut self, name: &str, size: u64) -> Option<Layer> {
        if !self.shortcuts {
            return None;
        }
        let (layer, holder) = self.sent.compressed(name, size)?;
        tracing::info!(
            "{} was compressed before: checked, not compressed again",
            layer.digest
        );
        self.remembered = Some(holder);
        Some(layer)
    }

    fn not_as_remembered(&mut self, name: &str, size: u64) {
        self.remembered = None;
        self.sent.forget(name, size);
    }

    fn done(&mut self, name: &str, size: u64, layer: &Layer) {
        if let Some(holder) = self.remembered.take() {
            let _ = self.events.send(Event::Remembered(layer.clone(), holder));
        } else if !self.streaming {
            // Nobody listening any more means the uploads failed; that error is reported.
            let holder = self.sent.holder(&layer.digest);
            let _ = self.events.send(Event::Stored(layer.clone(), holder));
        }
        self.layers.push((name.to_string(), size, layer.clone()));
    }
}

/// A streamed layer's copy: cut into chunks and handed to its upload (waiting for it when
/// it falls behind).
struct Chunks {
    tx: mpsc::Sender<Piece>,
    buffer: Vec<u8>,
    pool: Pool,
}

impl Write for Chunks {
    fn write(&mut self, mut buf: &[u8]) -> io::Result<usize> {
        let written = buf.len();
        // Chunks of exactly CHUNK bytes (but the last), each in a buffer used before.
        while !buf.is_empty() {
            if self.buffer.capacity() == 0 {
                self.buffer = self.pool.take();
            }
            let take = (CHUNK - self.buffer.len()).min(buf.len());
            self.buffer.extend_from_slice(&buf[..take]);
            buf = &buf[take..];
            if self.buffer.len() == CHUNK {
                let chunk = self.pool.lend(std::mem::take(&mut self.buffer));
                // A closed upload has failed and says why; the layer is still read.
                let _ = self.tx.blocking_send(Piece::Data(chunk));
            }
        }
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Chunk buffers, lent to the uploads and given back once sent: a push of hundreds of
/// megabytes reuses a few dozen buffers, layer after layer.
#[derive(Clone)]
pub(super) struct Pool(Arc<Buffers>);

impl Default for Pool {
    fn default() -> Self {
        Self(Arc::new(Buffers::new(2 * CHUNKS_AHEAD + 8)))
    }
}

impl Pool {
    /// An empty buffer of CHUNK bytes' capacity.
    fn take(&self) -> Vec<u8> {
        self.0.take(CHUNK)
    }

    /// `chunk` as bytes to send, its buffer coming back here when they are dropped.
    fn lend(&self, chunk: Vec<u8>) -> Bytes {
        Bytes::from_owner(LentBuffer {
            buffer: chunk,
            pool: self.clone(),
        })
    }
}

/// A buffer out on loan from a [`Pool`].
struct LentBuffer {
    buffer: Vec<u8>,
    pool: Pool,
}

impl AsRef<[u8]> for LentBuffer {
    fn as_ref(&self) -> &[u8] {
        &self.buffer
    }
}

impl Drop for LentBuffer {
    fn drop(&mut self) {
        let mut buffer = std::mem::take(&mut self.buffer);
        buffer.clear();
        self.pool.0.give([buffer]);
    }
}

impl LayerTee for Chunks {
    fn finish(self: Box<Self>, layer: &Layer) {
        let _ = self
            .tx
            .blocking_send(Piece::End(layer.clone(), self.buffer));
    }
}

/// Every layer's upload (digest → how it got there), run as the export reports them
/// until it ends. A streamed layer the registry refused is missing: it was not stored, so it
/// needs another export.
pub(super) async fn upload_as_exported(
    registry: &Registry,
    mut events: mpsc::UnboundedReceiver<Event>,
    meter: &dyn Meter,
) -> Result<HashMap<String, Placed>, RegistryError> {
    let mut running = FuturesUnordered::new();
    let mut done = HashMap::new();
    let mut open = true;
    while open || !running.is_empty() {
        tokio::select! {
            event = events.recv(), if open => match event {
                Some(Event::Streamed(pieces, size)) => {
                    running.push(streamed(registry, pieces, size, meter).boxed());
                }
                Some(Event::Stored(layer, holder)) => {
                    running.push(whole(registry, layer, holder, meter).boxed());
                }
                Some(Event::Remembered(layer, holder)) => {
                    running.push(remembered(registry, layer, holder).boxed());
                }
                None => open = false,
            },
            Some(result) = running.next(), if !running.is_empty() => {
                if let Some((digest, uploaded)) = result? {
                    done.insert(digest, uploaded);
                }
            }
        }
    }
    Ok(done)
}

/// A stored layer: sent whole unless the repository has it or can mount it from `holder`
/// (a streamed one, not stored, is left missing).
async fn whole(
    registry: &Registry,
    layer: Layer,
    holder: Option<String>,
    meter: &dyn Meter,
) -> Result<Option<(String, Placed)>, RegistryError> {
    let Some(path) = &layer.path else {
        return Ok(None);
    };
    meter.grow(layer.size);
    let placed = registry
        .place_blob(&layer.digest, path, holder.as_deref())
        .await?;
    meter.advance(layer.size);
    if let Placed::Mounted(from) = &placed {
        tracing::info!("{} mounted from {from}", layer.digest);
    }
    Ok(Some((layer.digest, placed)))
}

/// A layer not compressed again: in the repository, or mounted from `holder`; else left
/// missing (the export is read again, compressing every layer).
async fn remembered(
    registry: &Registry,
    layer: Layer,
    holder: Option<String>,
) -> Result<Option<(String, Placed)>, RegistryError> {
    let placed = registry
        .find_or_mount(&layer.digest, holder.as_deref())
        .await?;
    if let Some(Placed::Mounted(from)) = &placed {
        tracing::info!("{} mounted from {from}", layer.digest);
    }
    Ok(placed.map(|placed| (layer.digest, placed)))
}

/// A layer sent as it is compressed, in one streamed `PATCH`. A registry that refuses it
/// leaves it missing (the export is read again, sending it whole); an export that stops
/// midway leaves nothing (its own error says why).
async fn streamed(
    registry: &Registry,
    mut pieces: mpsc::Receiver<Piece>,
    expected: u64,
    meter: &dyn Meter,
) -> Result<Option<(String, Placed)>, RegistryError> {
    let mut upload = registry.begin_chunked().await?;
    let (body, body_rx) = mpsc::channel::<io::Result<Bytes>>(CHUNKS_AHEAD);
    let stream = futures_util::stream::unfold(body_rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    // The pieces go on to the request for as long as it takes them, and are read to the
    // end in any case: the end names the layer.
    let pump = async {
        let mut end = None;
        while let Some(piece) = pieces.recv().await {
            let (bytes, layer) = match piece {
                Piece::Data(bytes) => (bytes, None),
                Piece::End(layer, last) => (Bytes::from(last), Some(layer)),
            };
            let len = bytes.len() as u64;
            meter.grow(len);
            let _ = body.send(Ok(bytes)).await;
            meter.advance(len);
            if layer.is_some() {
                end = layer;
                break;
            }
        }
        drop(body);
        end
    };
    let (sent, end) = tokio::join!(upload.send_stream(stream, expected), pump);
    let Some(layer) = end else {
        upload.cancel().await;
        return Ok(None);
    };
    let finished = match sent {
        Ok(()) => upload.finish(&layer.digest, Vec::new()).await,
        Err(e) => Err(e),
    };
    match finished {
        Ok(()) => Ok(Some((layer.digest, Placed::Sent))),
        Err(e) => {
            refused(e)?;
            whole(registry, layer, None, meter).await
        }
    }
}

/// `Ok` when the registry answered the chunked upload with an error status (it may not take
/// chunks) or the connection dropped under it (a stream cannot be sent again): the layer
/// goes whole, with the retry policy; any other failure stands.
fn refused(e: RegistryError) -> Result<(), RegistryError> {
    match e {
        RegistryError::Status { .. } | RegistryError::Dropped { .. } => {
            tracing::info!("the chunked upload failed ({e}); the layer goes whole");
            Ok(())
        }
        _ => Err(e),
    }
}
