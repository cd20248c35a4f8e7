//! E-mail (#24) against a real SMTP server: aiosmtpd (`smtp_sink.py`, installed pinned by
//! `.ci/run`; the tests skip visibly without it). Each test reads the delivered messages as
//! Python's MIME parser sees them, follows their links and completes the flow: an invite sets a
//! password; a forgotten password is reset and every old session ends; notifications carry a
//! working one-click unsubscribe; a server that is down is retried until it is up; STARTTLS is
//! required of any server that is not on loopback; a certificate that does not verify gets
//! nothing; a hanging server holds up no postback (`outbound_fairness.rs`).

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::admin::{self, TOKEN};
use crate::portal::{self, PASSWORD, Visitor};
use crate::support::{Server, eventually, request};
use crate::systemd::skip;

const SINK: &str = include_str!("smtp_sink.py");
pub const FROM: &str = "Shop Partners <partners@shop.example>";
const ANN: &str = "ann@example.com";

/// A port nobody listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The SMTP server of a test, and the messages it received.
pub struct Sink {
    child: Child,
    dir: PathBuf,
}

/// Whether aiosmtpd can be imported; skips (or fails under AFFILIATED_REQUIRE_TOOLS=1) otherwise.
pub fn aiosmtpd() -> bool {
    match Command::new("python3").args(["-c", "import aiosmtpd"]).output() {
        Ok(out) if out.status.success() => true,
        Ok(_) => {
            skip("the Python package aiosmtpd is not installed (pip install aiosmtpd; .ci/run does)");
            false
        }
        Err(e) => {
            skip(&format!("python3 is not available ({e})"));
            false
        }
    }
}

impl Sink {
    /// Starts aiosmtpd on `port`, writing what it receives to `dir`.
    pub fn start(port: u16, dir: &Path) -> Sink {
        Sink::start_with(port, dir, &[])
    }

    /// Starts aiosmtpd on `port` with `tls` (a certificate and its key: implicit TLS, or none).
    fn start_with(port: u16, dir: &Path, tls: &[&str]) -> Sink {
        std::fs::create_dir_all(dir).unwrap();
        let mut child = Command::new("python3")
            .args(["-c", SINK, &port.to_string(), dir.to_str().unwrap()])
            .args(tls)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3");
        let mut ready = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut ready).unwrap();
        assert_eq!(ready.trim(), "ready", "aiosmtpd did not start");
        Sink { child, dir: dir.to_path_buf() }
    }

    pub fn messages(&self) -> Vec<Value> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        names.sort();
        names.iter().map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()).collect()
    }

    /// Waits until `n` messages arrived; returns them all.
    pub fn wait_for(&self, n: usize) -> Vec<Value> {
        let arrived = eventually(Duration::from_secs(30), || self.messages().len() >= n);
        let messages = self.messages();
        assert!(arrived, "{} of {n} messages arrived: {messages:#?}", messages.len());
        messages
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server sending through `smtp://127.0.0.1:{port}` (plain: a loopback host).
fn server_with_mail(port: u16, extra: &[&str]) -> Server {
    let url = format!("smtp://127.0.0.1:{port}");
    let mut args = vec!["--smtp-url", &url, "--mail-from", FROM, "--merchant-email", "owner@shop.example"];
    args.extend_from_slice(&["--admin-token", TOKEN]);
    args.extend_from_slice(extra);
    Server::start_with(&args, &[])
}

/// `ann` (with `ANN` as her address) and the main offer.
fn seed(s: &Server) {
    s.seed();
    let body = json!({"email": ANN}).to_string();
    let r = request(s.addr, "PATCH", "/api/v1/affiliates/ann", &[("X-Api-Key", crate::support::KEY)], body.as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
}

/// The path of the first link to this server in `text` that starts with `prefix`.
pub fn link(s: &Server, text: &str, prefix: &str) -> String {
    let base = s.url(prefix);
    let start = text.find(&base).unwrap_or_else(|| panic!("no {base} link in\n{text}"));
    let url: String = text[start..].chars().take_while(|c| !c.is_whitespace() && *c != '"' && *c != '<').collect();
    url.strip_prefix(&s.url("")).unwrap().to_string()
}

fn emails(s: &Server) -> Vec<Value> {
    let r = s.get("/api/v1/emails");
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["data"].as_array().unwrap().clone()
}

#[test]
fn an_invite_is_e_mailed_and_its_link_sets_the_password() {
    if !aiosmtpd() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let sink = Sink::start(port, dir.path());
    let s = server_with_mail(port, &[]);
    seed(&s);
    let r = s.post("/api/v1/affiliates/ann/invite", &json!({}));
    assert_eq!(r.status, 201, "{}", r.text());
    let answer = r.json();
    assert_eq!(answer["emailed"], true, "{answer}");
    let invite_url = answer["invite_url"].as_str().unwrap().to_string();

    let m = &sink.wait_for(1)[0];
    assert_eq!(m["rcpt_tos"], json!([ANN]));
    assert_eq!(m["mail_from"], "partners@shop.example");
    let headers = &m["headers"];
    assert_eq!(headers["From"], FROM);
    assert_eq!(headers["To"], ANN);
    assert_eq!(headers["Subject"], "Your invite to the affiliate portal");
    assert!(headers["Message-ID"].as_str().unwrap().ends_with("@shop.example>"), "{headers}");
    assert!(headers["Date"].is_string(), "{headers}");
    assert!(headers.get("List-Unsubscribe").is_none(), "an invite is not a notification: {headers}");
    assert_eq!(m["content_type"], "multipart/alternative");
    let text = m["text"].as_str().unwrap().replace("\r\n", "\n");
    assert!(text.contains(&format!("\n{invite_url}\n")), "the link of the answer: {text}");
    assert!(text.contains("referral code ann"), "{text}");
    assert!(m["html"].as_str().unwrap().contains(&format!("<a href=\"{invite_url}\">")), "{m}");

    let mut visitor = Visitor::default();
    let r = portal::accept(&s, &mut visitor, &link(&s, &text, "/portal/invite/"), PASSWORD);
    assert_eq!((r.status, r.header("Location")), (303, Some("/portal")), "{}", r.text());
    assert_eq!(visitor.get(&s, "/portal/settings").status, 200, "logged in");

    let listed = emails(&s);
    assert_eq!(listed.len(), 1);
    let e = &listed[0];
    assert_eq!((e["kind"].as_str(), e["recipient"].as_str()), (Some("invite"), Some(ANN)));
    assert_eq!((e["status"].as_str(), e["attempts"].as_i64()), (Some("sent"), Some(1)));
    assert_eq!(e["subject"], "Your invite to the affiliate portal");
    assert!(e["sent_at"].is_string() && e["last_error"].is_null(), "{e}");
    let listed = serde_json::to_string(&listed).unwrap();
    assert!(!listed.contains("afi_") && !listed.contains("/portal/invite"), "never a link: {listed}");
    let bodies: i64 = s
        .sql()
        .query_row("SELECT count(*) FROM emails WHERE body_text IS NOT NULL OR body_html IS NOT NULL", [], |r| r.get(0))
        .unwrap();
    assert_eq!(bodies, 0, "a sent message keeps no body");

    let admin = admin::Session::start(&s);
    let page = admin.get(&s, "/admin/emails").text();
    for shown in ["E-mails", ANN, "Your invite to the affiliate portal", "smtp://127.0.0.1:", "sent"] {
        assert!(page.contains(shown), "{shown:?} not on the admin page");
    }
    assert!(!page.contains("afi_"), "never a link on the admin page");

    // The admin's button e-mails the link too, and says so beside the link it shows once.
    let card = admin.get(&s, "/admin/affiliates/ann").text();
    assert!(card.contains(&format!("The link is e-mailed to {ANN}")), "{card}");
    let r = admin.post(&s, "/admin/affiliates/ann/invite", &[]);
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(r.text().contains(&format!("It was e-mailed to {ANN}")), "{}", r.text());
    let second = &sink.wait_for(2)[1];
    assert_eq!(second["rcpt_tos"], json!([ANN]));
    let shown = r.text();
    let at = shown.find(&s.url("/portal/invite/afi_")).expect("the link, shown once");
    let shown_link = shown[at..].split('"').next().unwrap();
    assert!(second["text"].as_str().unwrap().contains(shown_link), "the link shown is the one sent");
}

/// Ann joined and is logged in in two browsers; another visitor asks for a reset.
#[test]
fn a_forgotten_password_is_reset_by_e_mail_and_every_old_session_ends() {
    if !aiosmtpd() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let sink = Sink::start(port, dir.path());
    let s = server_with_mail(port, &[]);
    seed(&s);
    let mut phone = portal::join(&s, "ann");
    let mut laptop = Visitor::default();
    assert_eq!(portal::login(&s, &mut laptop, "ann", PASSWORD).status, 303);
    sink.wait_for(1);

    let ask = |email: &str| {
        let mut stranger = Visitor::default();
        let form = stranger.get(&s, "/portal/forgot");
        assert_eq!(form.status, 200, "{}", form.text());
        stranger.post(&s, "/portal/forgot", &[("email", email)])
    };
    let known = ask("ANN@example.com");
    let unknown = ask("nobody@example.com");
    assert_eq!((known.status, unknown.status), (200, 200));
    assert_eq!(known.text(), unknown.text(), "the same page whoever has the address");
    assert!(known.text().contains("If an affiliate account has this address"), "{}", known.text());

    let messages = sink.wait_for(2);
    let reset = &messages[1];
    assert_eq!(reset["rcpt_tos"], json!([ANN]));
    assert_eq!(reset["headers"]["Subject"], "Reset your affiliate portal password");
    let path = link(&s, reset["text"].as_str().unwrap(), "/portal/reset/");
    assert!(path.starts_with("/portal/reset/afr_"), "{path}");
    assert!(!eventually(Duration::from_millis(1500), || sink.messages().len() > 2), "no message for nobody@");

    let mut owner = Visitor::default();
    assert_eq!(owner.get(&s, &path).status, 200);
    let new_password = "a whole new battery staple";
    let r = owner.post(&s, &path, &[("password", new_password), ("password_again", new_password)]);
    assert_eq!((r.status, r.header("Location")), (303, Some("/portal")), "{}", r.text());
    assert_eq!(owner.get(&s, "/portal/settings").status, 200, "the new browser is logged in");
    for old in [&mut phone, &mut laptop] {
        let r = old.get(&s, "/portal/settings");
        assert_eq!((r.status, r.header("Location")), (303, Some("/portal/login")), "old sessions ended");
    }
    assert_eq!(portal::login(&s, &mut Visitor::default(), "ann", PASSWORD).status, 401, "the old password");
    assert_eq!(portal::login(&s, &mut Visitor::default(), "ann", new_password).status, 303);
    let again = Visitor::default().get(&s, &path);
    assert_eq!(again.status, 410, "a reset link works once");
    let mut late = Visitor::default();
    late.get(&s, "/portal/forgot");
    let r =
        late.post(&s, &path, &[("password", "another battery staple"), ("password_again", "another battery staple")]);
    assert_eq!(r.status, 410, "{}", r.text());
    assert_eq!(portal::login(&s, &mut Visitor::default(), "ann", new_password).status, 303, "unchanged");
}

#[test]
fn asking_for_resets_is_throttled_like_the_login() {
    if !aiosmtpd() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _sink = Sink::start(port, dir.path());
    let s = server_with_mail(port, &[]);
    seed(&s);
    let mut visitor = Visitor::default();
    visitor.get(&s, "/portal/forgot");
    for _ in 0..3 {
        assert_eq!(visitor.post(&s, "/portal/forgot", &[("email", ANN)]).status, 200);
    }
    let r = visitor.post(&s, "/portal/forgot", &[("email", ANN)]);
    assert_eq!(r.status, 429, "three an address per 15 minutes: {}", r.text());
    assert!(r.header("Retry-After").is_some());
    let resets: i64 = s.sql().query_row("SELECT count(*) FROM password_resets", [], |r| r.get(0)).unwrap();
    assert_eq!(resets, 3, "the refused request made no link");
    // From one client, other addresses too, up to its own limit.
    for i in 0..7 {
        assert_eq!(visitor.post(&s, "/portal/forgot", &[("email", &format!("x{i}@example.com"))]).status, 200);
    }
    assert_eq!(visitor.post(&s, "/portal/forgot", &[("email", "y@example.com")]).status, 429);
}

#[test]
fn notifications_follow_the_affiliates_choice_and_unsubscribe_in_one_click() {
    if !aiosmtpd() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let sink = Sink::start(port, dir.path());
    let s = server_with_mail(port, &[]);
    seed(&s);
    let mut ann = portal::join(&s, "ann");
    sink.wait_for(1);
    let click = s.click("ann", json!({}));
    let first = portal::convert(&s, json!({"click_id": click, "external_id": "order-1001", "amount": "100.00"}));
    assert_eq!(s.post(&format!("/api/v1/conversions/{first}/approve"), &json!({})).status, 200);
    assert!(!eventually(Duration::from_millis(1500), || sink.messages().len() > 1), "opt-in only");

    let page = ann.get(&s, "/portal/settings").text();
    assert!(page.contains("name=\"conversions\"") && page.contains(ANN), "{page}");
    let r = ann.post(&s, "/portal/settings/emails", &[("conversions", "on"), ("payouts", "on")]);
    assert_eq!(r.status, 303, "{}", r.text());
    let second = portal::convert(&s, json!({"click_id": click, "external_id": "order-1002", "amount": "50.00"}));
    assert_eq!(s.post(&format!("/api/v1/conversions/{second}/approve"), &json!({})).status, 200);
    let approved = &sink.wait_for(2)[1];
    assert_eq!(approved["headers"]["Subject"], "Commission approved: 5.00 USD");
    assert!(approved["text"].as_str().unwrap().contains("(order …1002)"), "{approved}");
    let unsubscribe = approved["headers"]["List-Unsubscribe"].as_str().unwrap().to_string();
    assert_eq!(approved["headers"]["List-Unsubscribe-Post"], "List-Unsubscribe=One-Click");

    let run = s.post("/api/v1/payouts", &json!({"currency": "USD", "minimum": "1.00"}));
    assert_eq!(run.status, 201, "{}", run.text());
    let payout = run.json()["data"][0]["id"].as_i64().unwrap();
    let r = s.post(&format!("/api/v1/payouts/{payout}/mark-paid"), &json!({"reference": "PP-7788"}));
    assert_eq!(r.status, 200, "{}", r.text());
    let paid = &sink.wait_for(3)[2];
    assert_eq!(paid["headers"]["Subject"], "Your payout of 15.00 USD was paid");
    assert!(paid["text"].as_str().unwrap().contains("Payment reference: PP-7788"), "{paid}");

    // RFC 8058: the mail provider POSTs to the header's URL, without a cookie or a form token.
    let url = unsubscribe.trim_start_matches('<').trim_end_matches('>');
    let path = url.strip_prefix(&s.url("")).unwrap();
    assert_eq!(request(s.addr, "GET", path, &[], b"").status, 200, "a page that asks first");
    let form = ("Content-Type", "application/x-www-form-urlencoded");
    let r = request(s.addr, "POST", path, &[form], b"List-Unsubscribe=One-Click");
    assert_eq!(r.status, 200, "{}", r.text());
    let third = portal::convert(&s, json!({"click_id": click, "external_id": "order-1003", "amount": "10.00"}));
    assert_eq!(s.post(&format!("/api/v1/conversions/{third}/approve"), &json!({})).status, 200);
    assert!(!eventually(Duration::from_millis(1500), || sink.messages().len() > 3), "unsubscribed");
    assert!(!ann.get(&s, "/portal/settings").text().contains("name=\"conversions\" value=\"on\" checked"));
    let wrong = request(s.addr, "POST", "/portal/unsubscribe/afu_nope", &[form], b"");
    assert_eq!(wrong.status, 404);

    // Erasure: the messages keep no address and no name; nothing pending is sent.
    assert_eq!(s.delete("/api/v1/affiliates/ann/personal-data").status, 204);
    let listed = serde_json::to_string(&emails(&s)).unwrap();
    assert!(!listed.contains(ANN) && !listed.contains("Ann"), "{listed}");
}

#[test]
fn a_server_that_is_down_is_retried_with_back_off_until_it_is_up() {
    if !aiosmtpd() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let s = server_with_mail(port, &[]);
    seed(&s);
    let r = s.post("/api/v1/affiliates/ann/invite", &json!({}));
    assert_eq!((r.status, r.json()["emailed"].as_bool()), (201, Some(true)), "queued, though the server is down");
    assert!(eventually(Duration::from_secs(10), || emails(&s)[0]["attempts"].as_i64() == Some(1)));
    let e = &emails(&s)[0];
    assert_eq!(e["status"], "pending", "{e}");
    assert!(e["last_error"].as_str().is_some_and(|t| !t.is_empty()), "{e}");
    let next: chrono::DateTime<chrono::Utc> = e["next_attempt_at"].as_str().unwrap().parse().unwrap();
    let last: chrono::DateTime<chrono::Utc> = e["last_attempt_at"].as_str().unwrap().parse().unwrap();
    assert_eq!((next - last).num_seconds(), 5, "the first retry waits 5 s");
    let backlog = || {
        let metrics = s.get_public("/metrics").text();
        metrics.lines().find(|l| l.starts_with("affiliated_email_backlog ")).map(String::from)
    };
    assert_eq!(backlog().as_deref(), Some("affiliated_email_backlog 1"));

    let sink = Sink::start(port, dir.path());
    let m = &sink.wait_for(1)[0];
    assert_eq!(m["rcpt_tos"], json!([ANN]));
    assert!(eventually(Duration::from_secs(10), || emails(&s)[0]["status"] == "sent"));
    assert_eq!(emails(&s)[0]["attempts"], 2);
    assert_eq!(backlog().as_deref(), Some("affiliated_email_backlog 0"));
}

#[test]
fn starttls_is_required_of_a_server_that_is_not_on_loopback() {
    if !aiosmtpd() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let sink = Sink::start(port, dir.path());
    // 0.0.0.0 reaches this machine, but is not a loopback address: STARTTLS is required, and
    // the plain sink does not offer it.
    let url = format!("smtp://ann:secret-password@0.0.0.0:{port}");
    let s = Server::start_with(&["--smtp-url", &url, "--mail-from", FROM], &[]);
    seed(&s);
    assert_eq!(s.post("/api/v1/affiliates/ann/invite", &json!({})).status, 201);
    assert!(eventually(Duration::from_secs(10), || emails(&s)[0]["attempts"].as_i64() == Some(1)));
    let e = &emails(&s)[0];
    let error = e["last_error"].as_str().unwrap_or("").to_lowercase();
    assert!(error.contains("tls"), "refused for want of STARTTLS: {e}");
    assert!(sink.messages().is_empty(), "nothing was sent in plain text");
    let log = s.log_text();
    assert!(!log.contains("secret-password"), "the password never reaches the log");
    assert!(log.contains("smtp://ann:****@0.0.0.0:"), "the banner shows it masked");
}

/// smtps:// to a server whose certificate does not verify (self-signed): no message, and the
/// error says why; TLS is verified even to a loopback host.
#[test]
fn a_certificate_that_does_not_verify_gets_no_message() {
    if !aiosmtpd() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-days", "1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE", "-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output();
    if !made.as_ref().is_ok_and(|o| o.status.success()) {
        skip(&format!("openssl could not make a certificate ({made:?})"));
        return;
    }
    let port = free_port();
    let sink = Sink::start_with(port, &dir.path().join("in"), &[cert.to_str().unwrap(), key.to_str().unwrap()]);
    let url = format!("smtps://ann:secret-password@127.0.0.1:{port}");
    let s = Server::start_with(&["--smtp-url", &url, "--mail-from", FROM], &[]);
    seed(&s);
    assert_eq!(s.post("/api/v1/affiliates/ann/invite", &json!({})).status, 201);
    assert!(eventually(Duration::from_secs(10), || emails(&s)[0]["attempts"].as_i64() == Some(1)));
    let e = &emails(&s)[0];
    assert_eq!(e["status"], "pending", "retried later: {e}");
    let error = e["last_error"].as_str().unwrap_or("").to_lowercase();
    assert!(error.contains("certificate"), "refused for its certificate: {e}");
    assert!(sink.messages().is_empty(), "nothing was sent");
}

#[test]
fn plain_smtp_is_refused_at_start_unless_the_host_is_loopback() {
    for (url, says) in [
        ("smtp://mail.example:25?tls=none", "plain SMTP only to a loopback host"),
        ("http://mail.example", "is not smtp or smtps"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(crate::support::bin())
            .args(["serve", "--db", dir.path().join("a.db").to_str().unwrap(), "--smtp-url", url])
            .env_clear()
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{url}: {stderr}");
        assert!(stderr.contains(says), "{url}: {stderr}");
        assert!(!dir.path().join("a.db").exists(), "nothing was created");
    }
    // A sender the SMTP client could not write is refused before anything starts too.
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(crate::support::bin())
        .args(["serve", "--db", dir.path().join("a.db").to_str().unwrap()])
        .args(["--smtp-url", "smtp://127.0.0.1:25", "--mail-from", "Shop, Partners <p@shop.example>"])
        .env_clear()
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--mail-from") && stderr.contains("quote"), "{stderr}");
    assert!(!dir.path().join("a.db").exists(), "nothing was created");
}

#[test]
fn without_a_server_nothing_is_queued_and_the_pages_say_what_to_do() {
    let s = Server::start();
    seed(&s);
    let r = s.post("/api/v1/affiliates/ann/invite", &json!({}));
    assert_eq!((r.status, r.json()["emailed"].as_bool()), (201, Some(false)));
    assert!(r.json()["invite_url"].is_string(), "the link to hand over by hand");
    let forgot = Visitor::default().get(&s, "/portal/forgot");
    assert_eq!(forgot.status, 200);
    assert!(forgot.text().contains("Ask the merchant for a new invite link"), "{}", forgot.text());
    assert!(!forgot.text().contains("name=\"email\""), "no form that would send nothing");
    let mut ann = portal::join(&s, "ann");
    assert!(ann.get(&s, "/portal/settings").text().contains("This program sends no e-mail"));
    let login = Visitor::default().get(&s, "/portal/login").text();
    assert!(login.contains("href=\"/portal/forgot\""), "{login}");
    assert!(emails(&s).is_empty());
    let count: i64 = s.sql().query_row("SELECT count(*) FROM emails", [], |r| r.get(0)).unwrap();
    assert_eq!(count, 0);
}
