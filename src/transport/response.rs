//! Responses as values, and their exact bytes on the wire.
//!
//! We serialize responses ourselves instead of using tiny_http's writer: that lets us decide
//! when a keep-alive connection is closed (`Connection: close`, which tiny_http refuses to set),
//! and it is the single place where header values are checked. A header value with a control
//! character never reaches the socket: the whole response is replaced by a 500.

use std::cell::RefCell;
use std::fmt::Write as _;

use serde::Serialize;

use crate::error::Error;

#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub content_type: Option<&'static str>,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn empty(status: u16) -> Response {
        Response { status, content_type: None, headers: Vec::new(), body: Vec::new() }
    }

    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Response {
        let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
        Response {
            status,
            content_type: Some("application/json"),
            headers: vec![("Cache-Control", "no-store".into())],
            body,
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
        }
    }

    /// A 303 See Other to `location`: where a form post sends the browser next.
    pub fn see_other(location: String) -> Response {
        Response {
            status: 303,
            content_type: None,
            headers: vec![("Location", location), ("Cache-Control", "no-store".into())],
            body: Vec::new(),
        }
    }

    /// An HTML page, never cached.
    pub fn html(status: u16, body: String) -> Response {
        Response {
            status,
            content_type: Some("text/html; charset=utf-8"),
            headers: vec![("Cache-Control", "no-store".into())],
            body: body.into_bytes(),
        }
    }

    pub fn bytes(status: u16, content_type: &'static str, body: Vec<u8>) -> Response {
        Response { status, content_type: Some(content_type), headers: Vec::new(), body }
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
        let mut out = Vec::with_capacity(160 + self.body.len());
        let mut head_text = String::with_capacity(160);
        let _ = write!(head_text, "HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        DATE.with(|d| head_text.push_str(d.borrow_mut().header()));
        if let Some(ct) = self.content_type {
            let _ = write!(head_text, "Content-Type: {ct}\r\n");
        }
        // 204 and 304 carry no body and, by RFC 9110, no Content-Length.
        let bodyless = matches!(self.status, 204 | 304);
        if !bodyless {
            let _ = write!(head_text, "Content-Length: {}\r\n", self.body.len());
        }
        for (name, value) in &self.headers {
            let _ = write!(head_text, "{name}: {value}\r\n");
        }
        head_text.push_str("X-Content-Type-Options: nosniff\r\n");
        if let Some(c) = connection {
            let _ = write!(head_text, "Connection: {c}\r\n");
        }
        head_text.push_str("\r\n");
        out.extend_from_slice(head_text.as_bytes());
        if !head && !bodyless {
            out.extend_from_slice(&self.body);
        }
        out
    }
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
