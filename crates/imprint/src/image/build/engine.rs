//! The Docker Engine API on a local socket: an image's export read straight from the daemon
//! (as skopeo does), not relayed by the docker CLI through a pipe. hyper's HTTP/1 client
//! speaks to the socket on a runtime of the reading thread's own; the export is read as a
//! `Read` by the blocking thread that turns it into layers.

use std::io::{self, Read};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::{Buf, Bytes};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;

use crate::registry::credentials::current_context;

/// The daemon's socket when nothing else is configured.
const DEFAULT_SOCKET: &str = "/var/run/docker.sock";
/// How long the daemon may say nothing: it stages a whole export before its first byte.
const QUIET_LIMIT: Duration = Duration::from_secs(600);
/// How long connecting and sending the request may take.
const SEND_LIMIT: Duration = Duration::from_secs(30);
/// The most an error's body may take.
const ERROR_LIMIT: usize = 64 * 1024;

/// The daemon socket the docker CLI would talk to, when it is a local one: `DOCKER_HOST`
/// `unix://…`, or no host and the default context. Any other host or context (TCP, TLS, SSH,
/// or a config that cannot be read) is left to the CLI.
pub fn local_socket() -> Option<PathBuf> {
    if let Some(host) = std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()) {
        return host.strip_prefix("unix://").map(PathBuf::from);
    }
    let context = match std::env::var("DOCKER_CONTEXT")
        .ok()
        .filter(|c| !c.is_empty())
    {
        Some(context) => Some(context),
        None => current_context().ok()?,
    };
    match context.as_deref() {
        None | Some("default") => Some(PathBuf::from(DEFAULT_SOCKET)),
        Some(_) => None,
    }
}

/// The local daemon socket, when imprint can connect to it.
pub fn reachable_socket() -> Option<PathBuf> {
    let socket = local_socket()?;
    StdUnixStream::connect(&socket).ok().map(|_| socket)
}

/// `docker save image`, asked of the daemon at `socket`: the export as it comes. An error
/// means the daemon could not be asked or refused (the CLI, asked instead, says why in its
/// own words); a failure after the answer began surfaces from reading the body. Called on the
/// thread that reads the export (a blocking one, never inside a task): the connection runs on
/// a runtime of that thread's own, so the reader and the connection never wake each other
/// across threads (a 500 MB export is tens of thousands of frames).
pub fn save(socket: &Path, image: &str) -> io::Result<Body> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    let names: String = url::form_urlencoded::byte_serialize(image.as_bytes()).collect();
    let request = http::Request::get(format!("/images/get?names={names}"))
        .header(http::header::HOST, "docker")
        .header(
            http::header::USER_AGENT,
            concat!("imprint/", env!("CARGO_PKG_VERSION")),
        )
        .body(Empty::<Bytes>::new())
        .map_err(io::Error::other)?;
    let answer = runtime.block_on(async {
        let stream = within(SEND_LIMIT, "connect", UnixStream::connect(socket)).await??;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(from_hyper)?;
        // The connection is a task of this thread's runtime, driven whenever the reader
        // waits; it ends with the body (or when the runtime is dropped).
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("the daemon's connection ended: {e}");
            }
        });
        within(QUIET_LIMIT, "answer", sender.send_request(request))
            .await?
            .map_err(from_hyper)
    })?;
    let status = answer.status();
    let body = Body {
        runtime,
        incoming: answer.into_body(),
        pending: Bytes::new(),
    };
    if status != http::StatusCode::OK {
        let limited = Limited::new(body.incoming, ERROR_LIMIT);
        let text = body
            .runtime
            .block_on(within(QUIET_LIMIT, "error", limited.collect()))?
            .map(|collected| collected.to_bytes())
            .unwrap_or_default();
        return Err(io::Error::other(format!(
            "the daemon answered {}: {}",
            status.as_u16(),
            message(&text)
        )));
    }
    Ok(body)
}

/// `future` within `limit`, or an error saying what the daemon did not do in time.
async fn within<T>(
    limit: Duration,
    what: &str,
    future: impl std::future::Future<Output = T>,
) -> io::Result<T> {
    tokio::time::timeout(limit, future).await.map_err(|_| {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("the daemon did not {what} within {} s", limit.as_secs()),
        )
    })
}

/// hyper's error as an I/O error; an answer cut short is an unexpected end.
fn from_hyper(e: hyper::Error) -> io::Error {
    let mut sources = std::iter::successors(std::error::Error::source(&e), |s| s.source());
    let ended = sources.any(|s| {
        s.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::UnexpectedEof)
    });
    if e.is_incomplete_message() || ended {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the daemon closed the connection in the middle of its answer",
        )
    } else {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the daemon's answer: {e}"),
        )
    }
}

/// An answer's body, read on a blocking thread with the runtime its connection runs on.
pub struct Body {
    runtime: tokio::runtime::Runtime,
    incoming: Incoming,
    /// What the last frame held and the reader has not taken yet.
    pending: Bytes,
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.pending.is_empty() {
            let frame =
                self.runtime
                    .block_on(within(QUIET_LIMIT, "go on", self.incoming.frame()))?;
            match frame {
                None => return Ok(0),
                Some(Err(e)) => return Err(from_hyper(e)),
                // Trailers carry no data.
                Some(Ok(frame)) => self.pending = frame.into_data().unwrap_or_default(),
            }
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.advance(n);
        Ok(n)
    }
}

/// The daemon's error: `{"message": …}`, else its text.
fn message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Reply {
        message: String,
    }
    match serde_json::from_slice::<Reply>(body) {
        Ok(reply) => reply.message,
        Err(_) => String::from_utf8_lossy(body).trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    //! A hand-made daemon on a socket pair: the framings and failures a real dockerd does
    //! not produce on demand (the real one is exercised by every push test).
    use std::io::{BufRead, BufReader, Write};

    use super::*;

    fn is_blank(line: &[u8]) -> bool {
        matches!(line, b"\r\n" | b"\n")
    }

    /// What `save` reads when the daemon answers `answer` (split into writes of `pieces`
    /// bytes) to a request in `dir`.
    fn answered(answer: &'static [u8], pieces: usize) -> io::Result<Vec<u8>> {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("docker.sock");
        let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let daemon = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            loop {
                let mut line = Vec::new();
                reader.read_until(b'\n', &mut line).unwrap();
                request.extend_from_slice(&line);
                if is_blank(&line) {
                    break;
                }
            }
            // The reader may stop early (a broken answer): later writes may fail.
            for piece in answer.chunks(pieces) {
                if conn.write_all(piece).is_err() {
                    break;
                }
            }
            String::from_utf8(request).unwrap()
        });
        // As a push reads it: on a blocking thread of imprint's runtime.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let reading = runtime.spawn_blocking(move || {
            save(&socket, "example.com/a/b:t 1").and_then(|mut body| {
                let mut out = Vec::new();
                body.read_to_end(&mut out).map(|_| out)
            })
        });
        let read = runtime.block_on(reading).unwrap();
        let request = daemon.join().unwrap();
        assert!(
            request.starts_with("GET /images/get?names=example.com%2Fa%2Fb%3At+1 HTTP/1.1\r\n")
                && request.contains("\r\nhost: docker\r\n"),
            "{request}"
        );
        read
    }

    #[test]
    fn chunked_answers_are_read_whole_however_they_are_cut() {
        const ANSWER: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1;ext=1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n";
        for pieces in [1, 3, 7, ANSWER.len()] {
            assert_eq!(answered(ANSWER, pieces).unwrap(), b"hello 0123456789");
        }
    }

    #[test]
    fn lengths_and_closed_connections_end_the_body() {
        let sized = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ntar!";
        assert_eq!(answered(sized, 2).unwrap(), b"tar!");
        let closed = b"HTTP/1.1 200 OK\r\n\r\nall of it";
        assert_eq!(answered(closed, 4).unwrap(), b"all of it");
    }

    #[test]
    fn refusals_and_broken_answers_are_errors() {
        let missing = b"HTTP/1.1 404 Not Found\r\nContent-Length: 42\r\n\r\n{\"message\":\"reference does not exist\"}\n\n\n\n";
        let e = answered(missing, 8).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the daemon answered 404: reference does not exist"
        );
        let cut = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nshort";
        assert_eq!(
            answered(cut, 5).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        let long = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n";
        assert_eq!(
            answered(long, 5).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        let bad = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        assert_eq!(
            answered(bad, 5).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        assert!(answered(b"SSH-2.0\r\n\r\n", 5).is_err());
    }
}
