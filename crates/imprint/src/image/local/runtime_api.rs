//! The Lambda Runtime API for one invocation, served by imprint on a loopback port: a
//! container's runtime interface client takes the event from
//! `/2018-06-01/runtime/invocation/next` and posts the result to `…/{id}/response`, or an
//! error to `…/{id}/error` (or `/runtime/init/error` when it cannot even start).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Requests larger than this are refused (Lambda's own limit on a synchronous answer).
const MAX_BODY: usize = 6 * 1024 * 1024;
/// The longest request line or header.
const MAX_LINE: usize = 16 * 1024;
const NEXT: &str = "/2018-06-01/runtime/invocation/next";
const INIT_ERROR: &str = "/2018-06-01/runtime/init/error";

/// What the runtime posted back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `…/response`: the function's answer.
    Response(Vec<u8>),
    /// `…/error` or `init/error`: the error document the runtime sent.
    Error(Vec<u8>),
    /// An answer or error larger than Lambda takes (6 MB): refused with 413, as Lambda does,
    /// and its size.
    TooLarge(usize),
}

/// One invocation being served.
pub struct RuntimeApi {
    address: SocketAddr,
    reply: watch::Receiver<Option<Reply>>,
    server: tokio::task::JoinHandle<()>,
}

struct Invocation {
    event: Vec<u8>,
    request_id: String,
    function_arn: String,
    deadline: Duration,
    given: AtomicBool,
    reply: watch::Sender<Option<Reply>>,
}

impl RuntimeApi {
    /// Serves `event` once on 127.0.0.1 (a free port); the runtime has `deadline` to answer.
    pub async fn start(event: Vec<u8>, function: &str, deadline: Duration) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("cannot listen on a loopback port for the Lambda Runtime API")?;
        let address = listener.local_addr()?;
        let (sender, reply) = watch::channel(None);
        let shared = Arc::new(Invocation {
            event,
            request_id: format!("{:08x}-imprint-run-local", fastrand::u32(..)),
            function_arn: format!("arn:aws:lambda:local:000000000000:function:{function}"),
            deadline,
            given: AtomicBool::new(false),
            reply: sender,
        });
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, shared.clone()));
            }
        });
        Ok(Self {
            address,
            reply,
            server,
        })
    }

    /// `host:port`, for `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.address.to_string()
    }

    /// Waits for the runtime's reply (`None` when `limit` passes first).
    pub async fn reply(&mut self, limit: Duration) -> Option<Reply> {
        let waited = tokio::time::timeout(limit, self.reply.wait_for(Option::is_some)).await;
        match waited {
            Ok(Ok(reply)) => reply.clone(),
            _ => None,
        }
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// One connection: requests one after another (keep-alive), until it closes. A body over
/// Lambda's limit is answered 413 unread, and the connection closed.
async fn serve(stream: TcpStream, shared: Arc<Invocation>) {
    let mut stream = BufReader::new(stream);
    while let Ok(Some((method, path, body))) = read_request(&mut stream).await {
        let too_large = body.as_ref().err().copied();
        let (status, headers, answer) = match body {
            Ok(body) => answer(&shared, &method, &path, body).await,
            Err(length) => {
                shared.reply.send_replace(Some(Reply::TooLarge(length)));
                let message = format!(
                    "{{\"errorMessage\":\"Response payload size ({length} bytes) exceeded maximum allowed payload size ({MAX_BODY} bytes).\",\"errorType\":\"RequestEntityTooLarge\"}}"
                );
                (
                    "413 Request Entity Too Large",
                    Vec::new(),
                    message.into_bytes(),
                )
            }
        };
        let mut head = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/json\r\n",
            answer.len()
        );
        for (key, value) in headers {
            head.push_str(&format!("{key}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let out = stream.get_mut();
        if out.write_all(head.as_bytes()).await.is_err() || out.write_all(&answer).await.is_err() {
            return;
        }
        if too_large.is_some() {
            return;
        }
    }
}

/// The method, path and body of the next request (`Err` with its length when the body is
/// larger than Lambda takes: left unread); `None` when the connection closed.
async fn read_request(
    stream: &mut BufReader<TcpStream>,
) -> anyhow::Result<Option<(String, String, Result<Vec<u8>, usize>)>> {
    let Some(line) = read_line(stream).await? else {
        return Ok(None);
    };
    let mut parts = line.split_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        anyhow::bail!("a malformed request line");
    };
    let (method, path) = (method.to_string(), path.to_string());
    let mut length = 0usize;
    loop {
        let Some(header) = read_line(stream).await? else {
            return Ok(None);
        };
        if header.is_empty() {
            break;
        }
        if let Some((key, value)) = header.split_once(':') {
            if key.trim().eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().context("a bad Content-Length")?;
            }
        }
    }
    if length > MAX_BODY {
        return Ok(Some((method, path, Err(length))));
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await?;
    Ok(Some((method, path, Ok(body))))
}

async fn read_line(stream: &mut BufReader<TcpStream>) -> anyhow::Result<Option<String>> {
    let mut line = Vec::new();
    let read = (&mut *stream)
        .take(MAX_LINE as u64)
        .read_until(b'\n', &mut line)
        .await?;
    if read == 0 {
        return Ok(None);
    }
    anyhow::ensure!(line.ends_with(b"\n"), "a line longer than {MAX_LINE} bytes");
    Ok(Some(String::from_utf8_lossy(&line).trim_end().to_string()))
}

/// Status, extra headers and body for one request.
async fn answer(
    shared: &Invocation,
    method: &str,
    path: &str,
    body: Vec<u8>,
) -> (&'static str, Vec<(&'static str, String)>, Vec<u8>) {
    let accepted = ("202 Accepted", Vec::new(), b"{\"status\":\"OK\"}".to_vec());
    let invocation = format!("/2018-06-01/runtime/invocation/{}", shared.request_id);
    match (method, path) {
        ("GET", NEXT) => {
            if shared.given.swap(true, Ordering::SeqCst) {
                // The runtime asks for the next event after answering: there is none; it
                // waits here until the container is stopped.
                std::future::pending::<()>().await;
            }
            let deadline = SystemTime::now() + shared.deadline;
            let millis = deadline
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis());
            let headers = vec![
                ("Lambda-Runtime-Aws-Request-Id", shared.request_id.clone()),
                ("Lambda-Runtime-Deadline-Ms", millis.to_string()),
                (
                    "Lambda-Runtime-Invoked-Function-Arn",
                    shared.function_arn.clone(),
                ),
                (
                    "Lambda-Runtime-Trace-Id",
                    "Root=1-00000000-000000000000000000000000".into(),
                ),
            ];
            ("200 OK", headers, shared.event.clone())
        }
        ("POST", p) if p == format!("{invocation}/response") => {
            shared.reply.send_replace(Some(Reply::Response(body)));
            accepted
        }
        ("POST", p) if p == format!("{invocation}/error") || p == INIT_ERROR => {
            shared.reply.send_replace(Some(Reply::Error(body)));
            accepted
        }
        _ => (
            "404 Not Found",
            Vec::new(),
            b"{\"errorMessage\":\"not a Runtime API path\"}".to_vec(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn request(address: &str, method: &str, path: &str, body: &str) -> String {
        let mut stream = TcpStream::connect(address).await.unwrap();
        let text = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(text.as_bytes()).await.unwrap();
        let mut answer = String::new();
        let mut buf = [0u8; 4096];
        // One answer per request: read until the body's length is in.
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            answer.push_str(&String::from_utf8_lossy(&buf[..n]));
            if let Some((head, rest)) = answer.split_once("\r\n\r\n") {
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .unwrap()
                    .parse()
                    .unwrap();
                if rest.len() >= length {
                    break;
                }
            }
        }
        answer
    }

    #[tokio::test]
    async fn hands_the_event_over_once_and_takes_the_answer() {
        let mut api = RuntimeApi::start(b"{\"a\":1}".to_vec(), "f", Duration::from_secs(5))
            .await
            .unwrap();
        let address = api.address();
        let next = request(&address, "GET", NEXT, "").await;
        assert!(next.starts_with("HTTP/1.1 200 OK"), "{next}");
        assert!(next.ends_with("{\"a\":1}"), "{next}");
        let id = next
            .lines()
            .find_map(|l| l.strip_prefix("Lambda-Runtime-Aws-Request-Id: "))
            .unwrap()
            .to_string();
        let wrong = request(
            &address,
            "POST",
            "/2018-06-01/runtime/invocation/x/response",
            "{}",
        )
        .await;
        assert!(wrong.starts_with("HTTP/1.1 404"), "{wrong}");
        let path = format!("/2018-06-01/runtime/invocation/{id}/response");
        let posted = request(&address, "POST", &path, "{\"ok\":true}").await;
        assert!(posted.starts_with("HTTP/1.1 202"), "{posted}");
        assert_eq!(
            api.reply(Duration::from_secs(1)).await,
            Some(Reply::Response(b"{\"ok\":true}".to_vec()))
        );
    }

    #[tokio::test]
    async fn an_init_error_is_the_reply_and_silence_times_out() {
        let mut api = RuntimeApi::start(b"{}".to_vec(), "f", Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(api.reply(Duration::from_millis(100)).await, None);
        request(
            &api.address(),
            "POST",
            INIT_ERROR,
            "{\"errorType\":\"ImportError\"}",
        )
        .await;
        assert_eq!(
            api.reply(Duration::from_secs(1)).await,
            Some(Reply::Error(b"{\"errorType\":\"ImportError\"}".to_vec()))
        );
    }

    #[tokio::test]
    async fn an_answer_over_six_megabytes_is_refused_at_once() {
        let mut api = RuntimeApi::start(b"{}".to_vec(), "f", Duration::from_secs(5))
            .await
            .unwrap();
        let mut stream = TcpStream::connect(api.address()).await.unwrap();
        let length = MAX_BODY + 1;
        let head = format!(
            "POST /2018-06-01/runtime/invocation/x/response HTTP/1.1\r\nContent-Length: {length}\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        assert!(
            answer.contains("exceeded maximum allowed payload size"),
            "{answer}"
        );
        assert_eq!(
            api.reply(Duration::from_millis(100)).await,
            Some(Reply::TooLarge(length))
        );
    }
}
