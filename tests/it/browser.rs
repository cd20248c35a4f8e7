//! A real browser for the admin tests: Debian's headless chromium, driven through chromedriver
//! over the W3C WebDriver HTTP protocol with the support module's plain-socket client.
//!
//! When chromium or chromedriver is missing, [`Browser::start`] prints `SKIPPED: …` and returns
//! `None`, unless `AFFILIATED_REQUIRE_TOOLS=1`, in which case it fails the test (CI installs them:
//! `apt-get install chromium chromium-driver`).

#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{self, Resp};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long a page may take to show what a test waits for.
pub const WAIT: Duration = Duration::from_secs(20);

pub struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
    _profile: tempfile::TempDir,
}

/// A found element's WebDriver reference.
pub struct Element(String);

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Browser {
    /// Starts chromedriver and a headless chromium session with a window of `width` x `height`.
    pub fn start(test: &str, width: u32, height: u32) -> Option<Browser> {
        Browser::start_with(test, width, height, &[])
    }

    /// Like [`Browser::start`], with more chromium command-line switches (e.g. `--user-agent=…`).
    pub fn start_with(test: &str, width: u32, height: u32, switches: &[&str]) -> Option<Browser> {
        let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER].into_iter().filter(|p| !Path::new(p).exists()).collect();
        if !missing.is_empty() {
            let message =
                format!("{test}: {} not installed (apt-get install chromium chromium-driver)", missing.join(" and "));
            crate::systemd::skip(&message);
            return None;
        }
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut browser = Browser { driver, addr, session: String::new(), _profile: tempfile::tempdir().unwrap() };
        let ready = support::eventually(WAIT, || {
            std::net::TcpStream::connect(addr).is_ok()
                && browser.call("GET", "/status", None).1["value"]["ready"] == json!(true)
        });
        assert!(ready, "chromedriver did not become ready on port {port}");
        let profile = browser._profile.path().display().to_string();
        let mut args: Vec<String> = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend([format!("--window-size={width},{height}"), format!("--user-data-dir={profile}")]);
        args.extend(switches.iter().map(|s| s.to_string()));
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": args,
            }
        }}});
        let (status, body) = browser.call("POST", "/session", Some(&capabilities));
        assert_eq!(status, 200, "could not start chromium: {body}");
        browser.session = body["value"]["sessionId"].as_str().expect("a session id").to_string();
        Some(browser)
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let Resp { status, body, .. } = support::request(self.addr, method, path, &[], &bytes);
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    /// A command on the session; panics with WebDriver's message if it fails.
    fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        let body = if method == "POST" { Some(body.unwrap_or_else(|| json!({}))) } else { None };
        let (status, answer) = self.call(method, &path, body.as_ref());
        assert_eq!(status, 200, "WebDriver {method} {path} failed: {answer}");
        answer["value"].clone()
    }

    pub fn goto(&self, url: &str) {
        self.command("POST", "/url", Some(json!({"url": url})));
    }

    pub fn url(&self) -> String {
        self.command("GET", "/url", None).as_str().unwrap_or_default().to_string()
    }

    /// The first element matching `css`, if there is one now.
    pub fn find(&self, css: &str) -> Option<Element> {
        let path = format!("/session/{}/element", self.session);
        let (status, answer) = self.call("POST", &path, Some(&json!({"using": "css selector", "value": css})));
        if status != 200 {
            return None;
        }
        answer["value"].as_object()?.values().next()?.as_str().map(|id| Element(id.to_string()))
    }

    /// Waits for an element matching `css` to appear.
    pub fn wait_for(&self, css: &str) -> Element {
        let until = Instant::now() + WAIT;
        loop {
            if let Some(e) = self.find(css) {
                return e;
            }
            assert!(Instant::now() < until, "no element matches {css} at {}", self.url());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the text of the element matching `css` satisfies `check`; returns the text.
    pub fn wait_for_text(&self, css: &str, check: impl Fn(&str) -> bool) -> String {
        let until = Instant::now() + WAIT;
        loop {
            let text = self.find(css).map(|e| self.text(&e)).unwrap_or_default();
            if check(&text) {
                return text;
            }
            assert!(Instant::now() < until, "{css} still reads {text:?} at {}", self.url());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn text(&self, e: &Element) -> String {
        let path = format!("/session/{}/element/{}/text", self.session, e.0);
        let (status, answer) = self.call("GET", &path, None);
        if status == 200 { answer["value"].as_str().unwrap_or_default().to_string() } else { String::new() }
    }

    /// A DOM property of the element, as text (`value` of an input).
    pub fn property(&self, e: &Element, name: &str) -> String {
        self.command("GET", &format!("/element/{}/property/{name}", e.0), None).as_str().unwrap_or_default().to_string()
    }

    pub fn click(&self, e: &Element) {
        self.command("POST", &format!("/element/{}/click", e.0), None);
    }

    pub fn type_into(&self, e: &Element, text: &str) {
        self.command("POST", &format!("/element/{}/value", e.0), Some(json!({"text": text})));
    }

    /// Resizes the window (to make a screenshot hold a whole page).
    pub fn resize(&self, width: u32, height: u32) {
        self.command("POST", "/window/rect", Some(json!({"width": width, "height": height})));
    }

    /// The value of a JavaScript expression evaluated in the page.
    pub fn eval(&self, expression: &str) -> Value {
        let script = json!({"script": format!("return {expression}"), "args": []});
        self.command("POST", "/execute/sync", Some(script))
    }

    /// The cookies the current page's site has, as WebDriver describes them (with `path`,
    /// `sameSite`, `secure`, `expiry`).
    pub fn cookies(&self) -> Vec<Value> {
        self.command("GET", "/cookie", None).as_array().cloned().unwrap_or_default()
    }

    fn script_number(&self, expression: &str) -> i64 {
        self.eval(expression).as_i64().unwrap_or(0)
    }

    /// Makes the window `width` wide and tall enough to show the whole page (at most 4000 px).
    pub fn fit_page(&self, width: u32) {
        for _ in 0..3 {
            let page = self.script_number("document.documentElement.scrollHeight");
            let viewport = self.script_number("window.innerHeight");
            if viewport >= page {
                return;
            }
            let outer = self.script_number("window.outerHeight");
            self.resize(width, (outer + page - viewport).clamp(600, 4000) as u32);
        }
    }

    /// A PNG of the viewport.
    pub fn screenshot(&self) -> Vec<u8> {
        let encoded = self.command("GET", "/screenshot", None);
        base64_decode(encoded.as_str().expect("a base64 screenshot"))
    }

    /// Logs in to the admin at `base` through the form, and waits for the overview.
    pub fn log_in(&self, base: &str, token: &str) {
        self.goto(&format!("{base}/admin/login"));
        let field = self.wait_for("input[name=token]");
        self.type_into(&field, token);
        self.click(&self.wait_for("form[action='/admin/login'] button[type=submit]"));
        self.wait_for("header.top nav");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.call("DELETE", &format!("/session/{}", self.session), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Decodes standard base64 (with or without padding); panics on other characters.
pub fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {:?}", c as char),
        }
    };
    let digits: Vec<u8> = text.bytes().filter(|c| !matches!(c, b'=' | b'\n' | b'\r')).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, c)| acc | value(*c) << (18 - 6 * i));
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..chunk.len() - 1]);
    }
    out
}

#[test]
fn base64_decodes_known_values() {
    assert_eq!(base64_decode("Zm9vYmFy"), b"foobar");
    assert_eq!(base64_decode("Zm9vYg=="), b"foob");
    assert_eq!(base64_decode("Zm9vYmE="), b"fooba");
    assert_eq!(base64_decode(""), b"");
}
