//! Deterministic parallel gzip for image layers: the input is cut into fixed 1 MiB blocks,
//! each deflated on its own (as pigz does, without a shared dictionary) on every core, and
//! the pieces joined into one gzip member. The bytes depend only on the input, the block size
//! and the level: the same layer always gives the same blob. A block whose sample does not
//! compress (already-compressed files, random data) is stored as is, as Go's deflate does,
//! instead of spending time making it bigger.

use std::io::{self, Read, Write};

use flate2::{Compress, Compression, FlushCompress, Status};
use rayon::prelude::*;

use super::buffers::Buffers;

/// Uncompressed bytes per block.
pub const BLOCK: usize = 1 << 20;
/// Blocks compressed at once (bounds memory to about 2 × BATCH × BLOCK).
const BATCH: usize = 16;
/// Bytes of a block tried at a fast level to judge whether it compresses.
const SAMPLE: usize = 16 * 1024;
/// Deflate level for blocks that compress (gzip's and docker's default).
const LEVEL: u32 = 6;

/// Blocks kept from one layer for the next (a push compresses layer after layer).
static SPARE: Buffers = Buffers::new(3 * BATCH);

/// What a compression pass produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Uncompressed bytes read.
    pub bytes_in: u64,
    /// Compressed bytes written.
    pub bytes_out: u64,
}

/// Compresses `input` into `output` as one gzip member (no name, time 0, OS 255); `observe`
/// sees every uncompressed byte in order (for the layer's diff ID), on the reading thread.
/// Reading goes on while earlier blocks are compressed and written (on another thread), so a
/// slow producer (a `docker save` pipe) and the compression overlap, and what `observe` does
/// (a SHA-256) is not added to what `output` does (another one); the bytes are the same
/// either way.
pub fn compress(
    mut input: impl Read,
    output: impl Write + Send,
    mut observe: impl FnMut(&[u8]),
) -> io::Result<Summary> {
    std::thread::scope(|scope| {
        let (blocks, received) = std::sync::mpsc::sync_channel::<Vec<u8>>(BATCH);
        // Blocks come back once written, to be read into again: fresh memory costs the
        // kernel a page clearing each time.
        let (spare, returned) = std::sync::mpsc::channel::<Vec<u8>>();
        let writer = scope.spawn(move || write_blocks(received, spare, output));
        let read = loop {
            let mut block = returned.try_recv().unwrap_or_else(|_| SPARE.take(0));
            match read_block(&mut input, &mut block) {
                Ok(()) if block.is_empty() => break Ok(()),
                Ok(()) => {
                    observe(&block);
                    // The writer stopped: its error is the one to report.
                    if blocks.send(block).is_err() {
                        break Ok(());
                    }
                }
                Err(e) => break Err(e),
            }
        };
        drop(blocks);
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the compressing thread panicked")));
        SPARE.give(returned.try_iter());
        read.and(written)
    })
}

/// The writing side of [`compress`]: blocks as they arrive, compressed a batch at a time on
/// every core (the last block of the input, known when the channel closes, carries BFINAL).
fn write_blocks(
    blocks: std::sync::mpsc::Receiver<Vec<u8>>,
    spare: std::sync::mpsc::Sender<Vec<u8>>,
    mut output: impl Write,
) -> io::Result<Summary> {
    const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    output.write_all(&HEADER)?;
    let mut crc = crc32fast::Hasher::new();
    let mut summary = Summary {
        bytes_in: 0,
        bytes_out: HEADER.len() as u64,
    };
    // Compressed blocks, one per block of a batch, kept from batch to batch (and layer to
    // layer).
    let mut compressed: Vec<Vec<u8>> = Vec::new();
    let mut pending = blocks.recv().ok();
    if pending.is_none() {
        // Empty input: one final, empty stored block.
        summary.bytes_out += write_stored(&[], true, &mut output)?;
    }
    while let Some(first) = pending.take() {
        // What has arrived (at least one block), keeping the newest back until the next
        // one shows that it is not the last.
        let mut batch = vec![first];
        loop {
            let next = match batch.len() < BATCH {
                true => blocks.try_recv().ok(),
                false => None,
            };
            match next {
                Some(block) => batch.push(block),
                None => break,
            }
        }
        pending = blocks.recv().ok();
        let last_batch = pending.is_none();
        let count = batch.len();
        if compressed.len() < count {
            compressed.resize_with(count, || SPARE.take(0));
        }
        let last = |i: usize| last_batch && i + 1 == count;
        let mut stores = vec![false; count];
        batch
            .par_iter()
            .zip(compressed[..count].par_iter_mut())
            .zip(stores.par_iter_mut())
            .enumerate()
            .for_each(|(i, ((block, out), store))| *store = deflate_block(block, last(i), out));
        for (i, (block, (out, store))) in batch
            .into_iter()
            .zip(compressed.iter().zip(stores))
            .enumerate()
        {
            crc.update(&block);
            summary.bytes_in += block.len() as u64;
            summary.bytes_out += match store {
                true => write_stored(&block, last(i), &mut output)?,
                false => {
                    output.write_all(out)?;
                    out.len() as u64
                }
            };
            // The reader may have finished: the block is simply dropped.
            let _ = spare.send(block);
        }
    }
    SPARE.give(compressed);
    output.write_all(&crc.finalize().to_le_bytes())?;
    // ISIZE is the length modulo 2^32, by the gzip format.
    output.write_all(&(summary.bytes_in as u32).to_le_bytes())?;
    summary.bytes_out += 8;
    output.flush()?;
    Ok(summary)
}

/// Reads up to one block into `block` (a buffer given back or a new one); empty at the end
/// of the input.
fn read_block(input: &mut impl Read, block: &mut Vec<u8>) -> io::Result<()> {
    // Zeroes a new buffer once; a returned one is full length already.
    block.resize(BLOCK, 0);
    let mut filled = 0;
    while filled < BLOCK {
        match input.read(&mut block[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                block.clear();
                return Err(e);
            }
        }
    }
    block.truncate(filled);
    Ok(())
}

/// Deflate streams kept per thread (for the sample, and for blocks), reset between blocks
/// instead of being allocated again: a reset stream compresses exactly as a new one.
struct Deflaters {
    sample: Compress,
    block: Compress,
    sample_out: Vec<u8>,
}

thread_local! {
    static DEFLATERS: std::cell::RefCell<Deflaters> = std::cell::RefCell::new(Deflaters {
        sample: Compress::new(Compression::new(1), false),
        block: Compress::new(Compression::new(LEVEL), false),
        sample_out: Vec::with_capacity(SAMPLE + 1024),
    });
}

/// One block into `out` as a byte-aligned run of deflate blocks (only the last carries
/// BFINAL); `true`, and `out` left empty, when the block is better stored as it is (it is
/// then written straight from the input: see [`write_stored`]).
fn deflate_block(data: &[u8], last: bool, out: &mut Vec<u8>) -> bool {
    out.clear();
    DEFLATERS.with_borrow_mut(|d| {
        let sample = &data[..data.len().min(SAMPLE)];
        if !sample.is_empty() {
            d.sample_out.clear();
            deflate(&mut d.sample, sample, true, &mut d.sample_out);
            if d.sample_out.len() as f64 > sample.len() as f64 * 0.97 {
                return true;
            }
        }
        deflate(&mut d.block, data, last, out);
        let store = out.len() > data.len() + data.len() / 64 + 16;
        if store {
            out.clear();
        }
        store
    })
}

/// Raw deflate of `data` onto `out` with a reset `stream`, ending with a full flush
/// (byte-aligned, no BFINAL) or, for the last block, with BFINAL.
fn deflate(stream: &mut Compress, data: &[u8], last: bool, out: &mut Vec<u8>) {
    stream.reset();
    out.reserve(data.len() / 2 + 1024);
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Full
    };
    loop {
        if out.capacity() - out.len() < 1024 {
            out.reserve(out.capacity().max(64 * 1024));
        }
        let consumed = stream.total_in() as usize;
        let status = stream.compress_vec(&data[consumed..], out, flush);
        let done_input = stream.total_in() as usize == data.len();
        match status {
            Ok(Status::StreamEnd) => break,
            Ok(Status::BufError) if done_input => break,
            // zlib's rule: a flush is complete when the call returns with output room left.
            Ok(_) if !last && done_input && out.len() < out.capacity() => break,
            Ok(_) => {}
            // Compressing memory into memory only fails on a bug in the deflate backend.
            Err(e) => unreachable!("deflate of an in-memory block failed: {e}"),
        }
    }
}

/// `data` as deflate stored blocks (at most 65,535 bytes each), byte-aligned, written to
/// `output` piece by piece (a 5-byte head, then the data itself: no copy is made first);
/// returns the bytes written.
fn write_stored(data: &[u8], last: bool, output: &mut impl Write) -> io::Result<u64> {
    let pieces = data.len().div_ceil(65_535).max(1);
    for i in 0..pieces {
        let piece = &data[(i * 65_535).min(data.len())..((i + 1) * 65_535).min(data.len())];
        let len = piece.len() as u16;
        let mut head = [u8::from(last && i + 1 == pieces), 0, 0, 0, 0];
        head[1..3].copy_from_slice(&len.to_le_bytes());
        head[3..].copy_from_slice(&(!len).to_le_bytes());
        output.write_all(&head)?;
        output.write_all(piece)?;
    }
    Ok((data.len() + 5 * pieces) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::MultiGzDecoder;

    fn roundtrip(data: &[u8]) -> Vec<u8> {
        let mut gz = Vec::new();
        let mut seen = Vec::new();
        let summary = compress(data, &mut gz, |b| seen.extend_from_slice(b)).unwrap();
        assert_eq!(seen, data);
        assert_eq!(summary.bytes_in, data.len() as u64);
        assert_eq!(summary.bytes_out, gz.len() as u64);
        let mut back = Vec::new();
        MultiGzDecoder::new(gz.as_slice())
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data, "round trip of {} bytes", data.len());
        gz
    }

    fn noise(len: usize) -> Vec<u8> {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn round_trips_every_shape() {
        roundtrip(b"");
        roundtrip(b"a");
        let text: Vec<u8> = b"def handler(event, context):\n    return 42\n".repeat(100_000);
        let gz = roundtrip(&text);
        assert!(gz.len() < text.len() / 10, "text should compress");
        let random = noise(3 * BLOCK + 12_345);
        let gz = roundtrip(&random);
        assert!(
            gz.len() < random.len() + random.len() / 100,
            "random data is stored, not inflated"
        );
        roundtrip(&noise(BLOCK));
        roundtrip(&noise(BLOCK * BATCH + 1));
        let mut mixed = text[..BLOCK * 2].to_vec();
        mixed.extend(noise(BLOCK + 7));
        mixed.extend(&text[..1000]);
        roundtrip(&mixed);
    }

    /// Hands out at most a few bytes per read, varying: input arriving in odd pieces.
    struct Trickle<'a>(&'a [u8], usize);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.1 = (self.1 * 7 + 3) % 70_001;
            let n = buf.len().min(self.0.len()).min(self.1 + 1);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn the_same_input_gives_the_same_bytes_however_it_arrives_and_on_any_cores() {
        let mut data = b"x = 1\n".repeat(400_000);
        data.extend(noise(BLOCK / 2));
        let expected = roundtrip(&data);
        assert_eq!(roundtrip(&data), expected);
        let mut trickled = Vec::new();
        compress(Trickle(&data, 1), &mut trickled, |_| {}).unwrap();
        assert_eq!(trickled, expected, "read in odd pieces");
        let one_core = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let mut single = Vec::new();
        one_core
            .install(|| compress(data.as_slice(), &mut single, |_| {}))
            .unwrap();
        assert_eq!(single, expected, "on one core");
    }

    /// The bytes of a layer never change between releases either: a pushed image keeps its
    /// digests when a newer imprint exports it again.
    #[test]
    fn the_bytes_stay_the_same_from_release_to_release() {
        use sha2::{Digest, Sha256};
        let mut data = b"def handler(event, context):\n    return 42\n".repeat(60_000);
        let mut x = 7u64;
        data.extend((0..2 * BLOCK + 5).map(|_| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (x >> 33) as u8
        }));
        data.extend(b"x = 1\n".repeat(1000));
        let gz = roundtrip(&data);
        assert_eq!(
            imprint_context::hex(&Sha256::digest(&gz)),
            "f6828d0c20f471e3b6cfcff8cef8b01421298c307a5b84c2c31af3ed1944f2fa"
        );
    }
}
