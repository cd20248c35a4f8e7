//! Responses as values, and their exact bytes on the wire.
//!
//! We serialize responses ourselves instead of using tiny_http's writer: that lets us decide
//! when a keep-alive connection is closed (`Connection: close`, which tiny_http refuses to set),
//! and it is the single place where header values are checked. A header value with a control
//! character never reaches the socket: the whole response is replaced by a 500.
//!
//! A body is either bytes held whole, or a [`Stream`]: chunks made while the answer is sent
//! (`Transfer-Encoding: chunked`), for files whose size grows with the books (CSV exports), so
//! that no request holds its whole result in memory.

use std::cell::RefCell;
use std::io::Write as _;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::error::Error;

#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub content_type: Option<&'static str>,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    /// A body made while it is sent, instead of `body` (see [`Stream`]).
    pub stream: Option<Stream>,
}

/// The next chunk of a streamed body: `None` when it is complete, an error when it cannot go on
/// (the connection is then cut without the final chunk, so the client knows the file is
/// incomplete).
pub type Chunks = Box<dyn FnMut() -> Option<Result<Vec<u8>, String>> + Send>;

/// A body made chunk by chunk as the worker sends it. The producer owns what it reads from (its
/// own read connection), so the worker's state stays free.
#[derive(Clone)]
pub struct Stream(Arc<Mutex<Chunks>>);

impl Stream {
    pub fn new(chunks: Chunks) -> Stream {
        Stream(Arc::new(Mutex::new(chunks)))
    }

    /// The next chunk (see [`Chunks`]).
    pub fn next_chunk(&self) -> Option<Result<Vec<u8>, String>> {
        let mut chunks = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        chunks()
    }
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Stream")
    }
}

impl Response {
    pub fn empty(status: u16) -> Response {
        Response { status, content_type: None, headers: Vec::new(), body: Vec::new(), stream: None }
    }

    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Response {
        let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
        Response {
            status,
            content_type: Some("application/json"),
            headers: vec![("Cache-Control", "no-store".into())],
            body,
            stream: None,
        }
    }

    pub fn error(e: &Error) -> Response {
        let mut r = Response::json(e.status, &e.body());
        if e.status == 401 {
            r.headers.push(("WWW-Authenticate", "Bearer realm=\"affiliated\"".into()));
        }
        r.busy_hint()
    }

    /// A 503 says when to come back: each cause of one here (a full write queue, too many login
    /// checks at once) clears within seconds.
    pub fn busy_hint(self) -> Response {
        if self.status == 503 && !self.headers.iter().any(|(n, _)| *n == "Retry-After") {
            self.with_header("Retry-After", "5")
        } else {
            self
        }
    }

    /// A 302 to `location`, never cached: a cached redirect would skip the next click.
    pub fn redirect(location: String) -> Response {
        Response {
            status: 302,
            content_type: None,
            headers: vec![("Location", location), ("Cache-Control", "no-store".into())],
            body: Vec::new(),
            stream: None,
        }
    }

    /// A 303 See Other to `location`: where a form post sends the browser next.
    pub fn see_other(location: String) -> Response {
        Response {
            status: 303,
            content_type: None,
            headers: vec![("Location", location), ("Cache-Control", "no-store".into())],
            body: Vec::new(),
            stream: None,
        }
    }

    /// An HTML page, never cached.
    pub fn html(status: u16, body: String) -> Response {
        Response {
            status,
            content_type: Some("text/html; charset=utf-8"),
            headers: vec![("Cache-Control", "no-store".into())],
            body: body.into_bytes(),
            stream: None,
        }
    }

    pub fn bytes(status: u16, content_type: &'static str, body: Vec<u8>) -> Response {
        Response { status, content_type: Some(content_type), headers: Vec::new(), body, stream: None }
    }

    /// A CSV file to download, saved as `file_name`, made while it is sent: `chunks` gives it
    /// piece by piece (see [`Stream`]).
    pub fn csv_stream(file_name: &str, chunks: Chunks) -> Response {
        Response::streamed("text/csv; charset=utf-8", chunks)
            .with_header("Content-Disposition", format!("attachment; filename=\"{file_name}\""))
    }

    /// A 200 whose body `chunks` makes while it is sent (see [`Stream`]), never cached.
    pub fn streamed(content_type: &'static str, chunks: Chunks) -> Response {
        let mut r = Response::bytes(200, content_type, Vec::new()).with_header("Cache-Control", "no-store");
        r.stream = Some(Stream::new(chunks));
        r
    }

    /// A CSV file to download, saved as `file_name`.
    pub fn csv(file_name: &str, body: String) -> Response {
        Response::bytes(200, "text/csv; charset=utf-8", body.into_bytes())
            .with_header("Content-Disposition", format!("attachment; filename=\"{file_name}\""))
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }

    /// The bytes to send. `head` omits the body (HEAD requests); `connection` is the value of the
    /// `Connection` header, if one is needed.
    pub fn encode(&self, head: bool, connection: Option<&str>) -> Vec<u8> {
        if let Some((name, _)) = self.headers.iter().find(|(_, v)| !is_safe_header_value(v)) {
            log::error!("refusing to send a {name} header with a control character; answering 500 instead");
            let fallback = Response::error(&Error::internal(format!("unsafe {name} header value")));
            return fallback.encode(head, Some("close"));
        }
        // Written straight into the bytes that leave (`io::Write` for a `Vec` cannot fail).
        // The fixed lines (status, date, type, length, nosniff, connection) fit in 192 bytes.
        let headers: usize = self.headers.iter().map(|(name, value)| name.len() + value.len() + 4).sum();
        let mut out = Vec::with_capacity(192 + headers + self.body.len());
        let _ = write!(out, "HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        DATE.with(|d| out.extend_from_slice(d.borrow_mut().header().as_bytes()));
        if let Some(ct) = self.content_type {
            let _ = write!(out, "Content-Type: {ct}\r\n");
        }
        // 204 and 304 carry no body and, by RFC 9110, no Content-Length.
        let bodyless = matches!(self.status, 204 | 304);
        if self.stream.is_some() {
            out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
        } else if !bodyless {
            let _ = write!(out, "Content-Length: {}\r\n", self.body.len());
        }
        for (name, value) in &self.headers {
            for part in [name.as_bytes(), b": ", value.as_bytes(), b"\r\n"] {
                out.extend_from_slice(part);
            }
        }
        out.extend_from_slice(b"X-Content-Type-Options: nosniff\r\n");
        if let Some(c) = connection {
            for part in [b"Connection: ".as_slice(), c.as_bytes(), b"\r\n"] {
                out.extend_from_slice(part);
            }
        }
        out.extend_from_slice(b"\r\n");
        if !head && !bodyless && self.stream.is_none() {
            out.extend_from_slice(&self.body);
        }
        out
    }

    /// For a client that cannot read chunks (HTTP/1.0): the streamed body made whole, so the
    /// answer has a length. Rare (the shipped proxies speak HTTP/1.1 to us); the file is then
    /// held in memory once. An error ends it as a 500.
    pub fn into_whole(mut self) -> Response {
        let Some(stream) = self.stream.take() else { return self };
        while let Some(chunk) = stream.next_chunk() {
            match chunk {
                Ok(bytes) => self.body.extend_from_slice(&bytes),
                Err(e) => return Response::error(&Error::internal(e)),
            }
        }
        self
    }
}

/// Writes the chunks of `stream` as HTTP/1.1 chunked encoding, then the final empty chunk.
/// Fails on a write error or a failed chunk (without the final chunk: the body is incomplete).
pub fn write_chunks(out: &mut dyn std::io::Write, stream: &Stream) -> Result<(), String> {
    while let Some(chunk) = stream.next_chunk() {
        let bytes = chunk?;
        if bytes.is_empty() {
            continue;
        }
        let frame = |out: &mut dyn std::io::Write| -> std::io::Result<()> {
            write!(out, "{:x}\r\n", bytes.len())?;
            out.write_all(&bytes)?;
            out.write_all(b"\r\n")
        };
        frame(out).map_err(|e| format!("while sending a streamed body: {e}"))?;
    }
    out.write_all(b"0\r\n\r\n").and_then(|()| out.flush()).map_err(|e| format!("while ending a streamed body: {e}"))
}

impl Response {
    /// The same answer as tiny_http's own response, for `Request::respond` (which writes before
    /// it drops the request). tiny_http adds its `Date` and `Server` headers and cannot send
    /// `Connection`; a header value with a control character is left out.
    pub fn to_tiny(&self) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
        let mut headers = Vec::with_capacity(self.headers.len() + 1);
        let mut add = |name: &str, value: &str| {
            if is_safe_header_value(value)
                && let Ok(h) = tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes())
            {
                headers.push(h);
            }
        };
        if let Some(ct) = self.content_type {
            add("Content-Type", ct);
        }
        for (name, value) in &self.headers {
            add(name, value);
        }
        let len = self.body.len();
        let status = tiny_http::StatusCode(self.status);
        tiny_http::Response::new(status, headers, std::io::Cursor::new(self.body.clone()), Some(len), None)
    }
}

/// Visible ASCII, spaces and tabs only: no CR, LF or other control bytes.
pub fn is_safe_header_value(value: &str) -> bool {
    value.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
}

thread_local! {
    static DATE: RefCell<DateCache> = const { RefCell::new(DateCache { second: -1, text: String::new() }) };
}

/// The `Date` header, formatted at most once per second per thread.
struct DateCache {
    second: i64,
    text: String,
}

impl DateCache {
    fn header(&mut self) -> &str {
        let now = chrono::Utc::now();
        if now.timestamp() != self.second {
            self.second = now.timestamp();
            self.text = format!("Date: {}\r\n", now.format("%a, %d %b %Y %H:%M:%S GMT"));
        }
        &self.text
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        417 => "Expectation Failed",
        409 => "Conflict",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_503_says_when_to_come_back_once() {
        let busy = Response::error(&Error::new(503, "busy", "try again"));
        assert_eq!(busy.headers.iter().filter(|(n, v)| *n == "Retry-After" && v == "5").count(), 1);
        let already = Response::json(503, &serde_json::json!({})).with_header("Retry-After", "30").busy_hint();
        assert_eq!(already.headers.iter().filter(|(n, _)| *n == "Retry-After").count(), 1);
        let other = Response::error(&Error::new(409, "conflict", "no"));
        assert!(!other.headers.iter().any(|(n, _)| *n == "Retry-After"));
    }

    fn text(r: &Response, head: bool, conn: Option<&str>) -> String {
        String::from_utf8(r.encode(head, conn)).unwrap()
    }

    #[test]
    fn encodes_status_headers_and_body() {
        let r = Response::json(201, &serde_json::json!({"a": 1}));
        let t = text(&r, false, None);
        assert!(t.starts_with("HTTP/1.1 201 Created\r\n"), "{t}");
        assert!(t.contains("\r\nContent-Type: application/json\r\n"));
        assert!(t.contains("\r\nContent-Length: 7\r\n"));
        assert!(t.contains("\r\nDate: "));
        assert!(t.ends_with("\r\n\r\n{\"a\":1}"));
        assert!(!t.contains("Connection:"));
    }

    #[test]
    fn head_keeps_the_length_but_drops_the_body() {
        let r = Response::json(200, &serde_json::json!({"a": 1}));
        let t = text(&r, true, Some("close"));
        assert!(t.contains("Content-Length: 7\r\n"));
        assert!(t.contains("Connection: close\r\n"));
        assert!(t.ends_with("\r\n\r\n"));
    }

    fn chunks(parts: Vec<Result<&'static str, &'static str>>) -> Chunks {
        let mut parts = parts.into_iter();
        Box::new(move || parts.next().map(|p| p.map(|t| t.as_bytes().to_vec()).map_err(String::from)))
    }

    #[test]
    fn a_streamed_body_is_sent_in_chunks_and_ends_with_the_empty_chunk() {
        let r = Response::csv_stream("a.csv", chunks(vec![Ok("a,b\r\n"), Ok(""), Ok("1,2\r\n")]));
        let head = text(&r, false, None);
        assert!(head.contains("\r\nTransfer-Encoding: chunked\r\n") && !head.contains("Content-Length"), "{head}");
        assert!(head.ends_with("\r\n\r\n"), "the head only: {head}");
        let mut out = Vec::new();
        write_chunks(&mut out, r.stream.as_ref().unwrap()).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "5\r\na,b\r\n\r\n5\r\n1,2\r\n\r\n0\r\n\r\n");
        let broken = Response::csv_stream("a.csv", chunks(vec![Ok("a\r\n"), Err("the disk is gone")]));
        let mut out = Vec::new();
        assert!(write_chunks(&mut out, broken.stream.as_ref().unwrap()).is_err());
        assert_eq!(out, b"3\r\na\r\n\r\n", "no final chunk after a failure");
        let whole = Response::csv_stream("a.csv", chunks(vec![Ok("a\r\n"), Ok("b\r\n")])).into_whole();
        assert!(text(&whole, false, None).contains("Content-Length: 6\r\n"));
        assert_eq!((whole.body.as_slice(), whole.stream.is_none()), (b"a\r\nb\r\n".as_slice(), true));
    }

    #[test]
    fn control_characters_never_reach_a_header() {
        for evil in ["https://x.example/\r\nSet-Cookie: a=b", "a\nb", "a\u{0}b", "a\u{7f}"] {
            let t = text(&Response::redirect(evil.into()), false, None);
            assert!(t.starts_with("HTTP/1.1 500 "), "{t}");
            assert!(!t.contains("Set-Cookie"));
            assert!(!t.contains("Location"));
        }
        assert!(is_safe_header_value("Bearer realm=\"x\"\tok"));
    }
}
