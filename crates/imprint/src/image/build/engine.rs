//! The Docker Engine API on a local socket: an image's export read straight from the daemon
//! (as skopeo does), not relayed by the docker CLI through a pipe.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::registry::credentials::current_context;

/// The daemon's socket when nothing else is configured.
const DEFAULT_SOCKET: &str = "/var/run/docker.sock";
/// How long the daemon may say nothing: it stages a whole export before its first byte.
const QUIET_LIMIT: Duration = Duration::from_secs(600);
/// How long sending the request may take.
const SEND_LIMIT: Duration = Duration::from_secs(30);
/// The most an answer's head (status line and headers), or an error's body, may take.
const HEAD_LIMIT: u64 = 64 * 1024;
/// The most a chunk's size line or a trailer line may take.
const LINE_LIMIT: u64 = 4 * 1024;
/// Trailer lines read at most after the last chunk.
const TRAILERS_LIMIT: usize = 64;
/// Bytes read from the socket at a time when the caller asks for fewer (chunk heads); larger
/// reads go straight into the caller's buffer.
const READ_BUFFER: usize = 4 * 1024;

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
    UnixStream::connect(&socket).ok().map(|_| socket)
}

/// `docker save image`, asked of the daemon at `socket`: the export as it comes. An error
/// means the daemon could not be asked or refused (the CLI, asked instead, says why in its
/// own words); a failure after the answer began surfaces from reading the body.
pub fn save(socket: &Path, image: &str) -> io::Result<Body> {
    let mut stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(QUIET_LIMIT))?;
    stream.set_write_timeout(Some(SEND_LIMIT))?;
    let names: String = url::form_urlencoded::byte_serialize(image.as_bytes()).collect();
    write!(
        stream,
        "GET /images/get?names={names} HTTP/1.1\r\nHost: docker\r\nUser-Agent: imprint/{}\r\nConnection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    )?;
    let mut reader = BufReader::with_capacity(READ_BUFFER, stream);
    let head = read_head(&mut reader)?;
    let (status, framing) = parse_head(&head)?;
    let mut body = Body { reader, framing };
    if status != 200 {
        let mut text = Vec::new();
        (&mut body).take(HEAD_LIMIT).read_to_end(&mut text)?;
        return Err(io::Error::other(format!(
            "the daemon answered {status}: {}",
            message(&text)
        )));
    }
    Ok(body)
}

/// How an answer's body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// When the daemon closes the connection.
    Close,
    /// After this many more bytes.
    Length(u64),
    /// In chunks: `left` of the current one; `first` until the first size line is read.
    Chunked { left: u64, first: bool },
    /// The last chunk was read.
    Done,
}

/// An answer's body, its framing taken off.
pub struct Body {
    reader: BufReader<UnixStream>,
    framing: Framing,
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if let Framing::Chunked { left: 0, first } = &mut self.framing {
            if !std::mem::replace(first, false) {
                expect_line_end(&mut self.reader)?;
            }
            let size = chunk_size(&mut self.reader)?;
            if size == 0 {
                skip_trailers(&mut self.reader)?;
                self.framing = Framing::Done;
                return Ok(0);
            }
            self.framing = Framing::Chunked {
                left: size,
                first: false,
            };
        }
        let left = match &mut self.framing {
            Framing::Close => return self.reader.read(buf),
            Framing::Done | Framing::Length(0) => return Ok(0),
            Framing::Length(left) | Framing::Chunked { left, .. } => left,
        };
        let want = buf.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
        let read = self.reader.read(&mut buf[..want])?;
        if read == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the daemon closed the connection in the middle of its answer",
            ));
        }
        *left -= read as u64;
        Ok(read)
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("the daemon sent {what}"),
    )
}

/// One line (with its end), at most `LINE_LIMIT` bytes.
fn read_line(reader: &mut impl BufRead, line: &mut Vec<u8>) -> io::Result<()> {
    line.clear();
    reader.take(LINE_LIMIT).read_until(b'\n', line)?;
    match line.last() {
        Some(b'\n') => Ok(()),
        _ if line.len() as u64 == LINE_LIMIT => Err(invalid("a line that does not end")),
        _ => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the daemon closed the connection in the middle of its answer",
        )),
    }
}

fn is_blank(line: &[u8]) -> bool {
    matches!(line, b"\r\n" | b"\n")
}

/// The status line and headers, up to the blank line that ends them.
fn read_head(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut line = Vec::new();
    loop {
        read_line(reader, &mut line)?;
        head.extend_from_slice(&line);
        if is_blank(&line) && head.len() > line.len() {
            return Ok(head);
        }
        if head.len() as u64 > HEAD_LIMIT {
            return Err(invalid("an answer whose headers exceed 64 KiB"));
        }
    }
}

/// The status and how the body ends (chunked wins over a length, as HTTP/1.1 says).
fn parse_head(head: &[u8]) -> io::Result<(u16, Framing)> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(invalid("an answer that is not HTTP/1.1")),
    }
    let status = response.code.unwrap_or_default();
    let mut framing = Framing::Close;
    for header in response.headers.iter() {
        let value = String::from_utf8_lossy(header.value);
        if header.name.eq_ignore_ascii_case("transfer-encoding")
            && value.to_ascii_lowercase().contains("chunked")
        {
            return Ok((
                status,
                Framing::Chunked {
                    left: 0,
                    first: true,
                },
            ));
        }
        if header.name.eq_ignore_ascii_case("content-length") {
            let length = value.trim().parse().map_err(|_| invalid("a bad length"))?;
            framing = Framing::Length(length);
        }
    }
    Ok((status, framing))
}

/// A chunk's size line: hexadecimal, perhaps with extensions after `;`.
fn chunk_size(reader: &mut impl BufRead) -> io::Result<u64> {
    let mut line = Vec::new();
    read_line(reader, &mut line)?;
    let text = std::str::from_utf8(&line).map_err(|_| invalid("a bad chunk size"))?;
    let digits = text.split(';').next().unwrap_or_default().trim();
    u64::from_str_radix(digits, 16).map_err(|_| invalid("a bad chunk size"))
}

/// The line end after a chunk's data.
fn expect_line_end(reader: &mut impl BufRead) -> io::Result<()> {
    let mut line = Vec::new();
    read_line(reader, &mut line)?;
    match is_blank(&line) {
        true => Ok(()),
        false => Err(invalid("a chunk longer than it said")),
    }
}

/// Trailer lines after the last chunk, up to the blank one.
fn skip_trailers(reader: &mut impl BufRead) -> io::Result<()> {
    let mut line = Vec::new();
    for _ in 0..TRAILERS_LIMIT {
        read_line(reader, &mut line)?;
        if is_blank(&line) {
            return Ok(());
        }
    }
    Err(invalid("too many trailers"))
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
    use super::*;

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
        let read = save(&socket, "example.com/a/b:t 1").and_then(|mut body| {
            let mut out = Vec::new();
            body.read_to_end(&mut out).map(|_| out)
        });
        let request = daemon.join().unwrap();
        assert!(
            request.starts_with("GET /images/get?names=example.com%2Fa%2Fb%3At+1 HTTP/1.1\r\n"),
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
        assert!(answered(long, 5)
            .unwrap_err()
            .to_string()
            .contains("longer than it said"));
        let bad = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        assert!(answered(bad, 5)
            .unwrap_err()
            .to_string()
            .contains("bad chunk size"));
        assert!(answered(b"SSH-2.0\r\n\r\n", 5).is_err());
    }
}
