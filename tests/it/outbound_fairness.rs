//! Outbound fairness (#21): a test postback is sent once and at most 5 times an hour per
//! affiliate; one affiliate's backlog at a hanging tracker does not hold up another's postbacks,
//! and a hanging merchant webhook endpoint or SMTP server does not hold up postbacks. No speed
//! is asserted: only what went out while the slow endpoint still hung.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::outbound::Tracker;
use crate::portal::join;
use crate::support::{Server, eventually};

/// An endpoint that accepts connections and never answers: each stays open until the client
/// gives up (its timeout) or the endpoint is dropped.
struct Hang {
    port: u16,
    /// Per accepted connection: whether the client has closed it.
    closed: Arc<Mutex<Vec<Arc<AtomicBool>>>>,
    stop: Arc<AtomicBool>,
}

impl Hang {
    fn start() -> Hang {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (closed, stop) = (Arc::new(Mutex::new(Vec::new())), Arc::new(AtomicBool::new(false)));
        let (list, stopping) = (closed.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut stream) = stream else { continue };
                let gone = Arc::new(AtomicBool::new(false));
                list.lock().unwrap().push(gone.clone());
                std::thread::spawn(move || {
                    // Read (and ignore) whatever comes, never answer; EOF means the client left.
                    let mut buf = [0u8; 4096];
                    while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
                    gone.store(true, Ordering::SeqCst);
                });
            }
        });
        Hang { port, closed, stop }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn accepted(&self) -> usize {
        self.closed.lock().unwrap().len()
    }

    /// Whether the first connection is still open: its client has not given up yet.
    fn first_still_open(&self) -> bool {
        self.closed.lock().unwrap().first().is_some_and(|gone| !gone.load(Ordering::SeqCst))
    }
}

impl Drop for Hang {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn server() -> Server {
    let s = Server::start_with(&["--allow-private-postbacks", "--outbound", "on", "--min-click-age", "0"], &[]);
    s.seed();
    s
}

fn affiliate(s: &Server, code: &str, postback_url: Option<&str>) {
    let r = s.post("/api/v1/affiliates", &json!({"referral_code": code, "name": code, "postback_url": postback_url}));
    assert_eq!(r.status, 201, "{}", r.text());
}

fn convert(s: &Server, code: &str, order: &str) {
    let click = s.click(code, json!({}));
    let r = s.post("/api/v1/conversions", &json!({"external_id": order, "amount": "10.00", "click_id": click}));
    assert_eq!(r.status, 201, "{}", r.text());
}

fn deliveries(s: &Server) -> Vec<Value> {
    s.get("/api/v1/postbacks?limit=500").json()["data"].as_array().unwrap().clone()
}

fn pending_of(s: &Server, code: &str) -> i64 {
    s.sql()
        .query_row(
            "SELECT count(*) FROM postback_deliveries d JOIN affiliates a ON a.id = d.affiliate_id
             WHERE a.referral_code = ?1 AND d.status = 'pending'",
            [code],
            |r| r.get(0),
        )
        .unwrap()
}

#[test]
fn a_test_postback_is_sent_once_and_five_times_an_hour_at_most() {
    let s = server();
    let tracker = Tracker::start(vec![500]);
    let url = format!("http://127.0.0.1:{}/pb?e={{event}}", tracker.port);
    affiliate(&s, "pat", Some(&url));

    // Sent once: the tracker's 500 is not retried.
    let first = s.post("/api/v1/affiliates/pat/postback-test", &json!({}));
    assert_eq!(first.status, 201, "{}", first.text());
    let id = first.json()["id"].clone();
    let mine = |s: &Server| deliveries(s).into_iter().find(|d| d["id"] == id).unwrap();
    assert!(eventually(Duration::from_secs(15), || mine(&s)["attempts"] == 1), "{:?}", mine(&s));
    let d = mine(&s);
    assert_eq!((&d["status"], &d["last_status"]), (&json!("failed"), &json!(500)), "given up after one attempt: {d}");
    assert_eq!(tracker.count(), 1);

    // Four more, from the portal: five within the hour, from every source together.
    let mut pat = join(&s, "pat");
    for _ in 0..4 {
        let r = pat.post(&s, "/portal/settings/postback-test", &[]);
        assert_eq!(r.header("Location"), Some("/portal/settings?done=test-queued"), "{}", r.text());
    }
    let r = pat.post(&s, "/portal/settings/postback-test", &[]);
    assert_eq!(r.status, 429, "{}", r.text());
    assert!(r.text().contains("test postbacks were sent to this affiliate within the last hour"), "{}", r.text());
    let wait: u64 = r.header("Retry-After").expect("Retry-After").parse().unwrap();
    assert!((3000..=3600).contains(&wait), "{wait}");
    let r = s.post("/api/v1/affiliates/pat/postback-test", &json!({}));
    r.assert_error(429, "too_many_test_postbacks");
    assert!(r.header("Retry-After").is_some_and(|w| w.parse::<u64>().is_ok_and(|w| w > 3000)), "{r:?}");
    // Another affiliate has its own five.
    affiliate(&s, "bea", Some(&url));
    assert_eq!(s.post("/api/v1/affiliates/bea/postback-test", &json!({})).status, 201);

    // Each of the six went out once and was given up.
    assert!(eventually(Duration::from_secs(20), || deliveries(&s).iter().all(|d| d["status"] == "failed")));
    let all = deliveries(&s);
    assert_eq!(all.len(), 6, "{all:?}");
    assert!(all.iter().all(|d| d["event"] == "test" && d["attempts"] == 1), "{all:?}");
    assert_eq!(tracker.count(), 6);
}

/// Affiliate `slow`'s tracker hangs with 200 postbacks queued for it; `fast`'s postback goes
/// out while `slow`'s first ones still hang, not after its backlog.
#[test]
fn one_affiliates_hanging_tracker_does_not_hold_up_anothers_postbacks() {
    let s = server();
    let hang = Hang::start();
    affiliate(&s, "slow", Some(&hang.url("/pb?id={conversion_id}")));
    let slow_id: i64 =
        s.sql().query_row("SELECT id FROM affiliates WHERE referral_code = 'slow'", [], |r| r.get(0)).unwrap();
    let mut db = s.sql();
    let tx = db.transaction().unwrap();
    for i in 0..200 {
        tx.execute(
            "INSERT INTO postback_deliveries (affiliate_id, event, url, status, next_attempt_at, created_at)
             VALUES (?1, 'created', ?2, 'pending', 0, 0)",
            rusqlite::params![slow_id, hang.url(&format!("/pb?n={i}"))],
        )
        .unwrap();
    }
    tx.commit().unwrap();
    assert!(eventually(Duration::from_secs(15), || hang.accepted() >= 1), "slow's tracker was never called");

    let tracker = Tracker::start(vec![200]);
    affiliate(&s, "fast", Some(&format!("http://127.0.0.1:{}/pb?e={{event}}", tracker.port)));
    convert(&s, "fast", "fast-1");
    assert!(
        eventually(Duration::from_secs(30), || tracker.count() == 1),
        "fast's postback did not go out; slow's tracker was called {} times",
        hang.accepted()
    );
    // Every attempt at slow's tracker hangs for the whole timeout: fast's went out while the
    // first (or, at a stretch, the next two) of slow's 200 were in flight.
    assert!(hang.accepted() <= 3, "fast waited for {} of slow's attempts", hang.accepted());
    assert!(pending_of(&s, "slow") >= 197, "{}", pending_of(&s, "slow"));
    let fast = deliveries(&s).into_iter().find(|d| d["referral_code"] == "fast").unwrap();
    assert_eq!(fast["status"], "delivered", "{fast}");
}

/// The merchant's webhook endpoint hangs; an affiliate's postback goes out while the first
/// webhook request still hangs: postbacks and webhooks never wait on each other.
#[test]
fn a_hanging_merchant_webhook_does_not_hold_up_postbacks() {
    let s = server();
    let hang = Hang::start();
    crate::webhooks::create(&s, &hang.url("/hooks"), &["conversion.created"]);
    convert(&s, "ann", "ann-1");
    assert!(eventually(Duration::from_secs(15), || hang.accepted() >= 1), "the webhook was never sent");

    let tracker = Tracker::start(vec![200]);
    affiliate(&s, "fast", Some(&format!("http://127.0.0.1:{}/pb?e={{event}}", tracker.port)));
    convert(&s, "fast", "fast-1");
    assert!(eventually(Duration::from_secs(30), || tracker.count() == 1), "the postback did not go out");
    assert!(hang.first_still_open(), "the postback waited for the webhook's attempt to time out");
}

/// The SMTP server hangs (accepts, never greets) with an invite e-mail on its way; an
/// affiliate's postback goes out while that connection still hangs: e-mail has a lane of its
/// own (#24).
#[test]
fn a_hanging_smtp_server_does_not_hold_up_postbacks() {
    let hang = Hang::start();
    let smtp = format!("smtp://127.0.0.1:{}", hang.port);
    let s = Server::start_with(
        &["--allow-private-postbacks", "--outbound", "on", "--min-click-age", "0", "--smtp-url", &smtp],
        &[],
    );
    s.seed();
    let body = json!({"email": "ann@example.com"}).to_string();
    let key = [("X-Api-Key", crate::support::KEY)];
    let r = crate::support::request(s.addr, "PATCH", "/api/v1/affiliates/ann", &key, body.as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(s.post("/api/v1/affiliates/ann/invite", &json!({})).json()["emailed"], true);
    assert!(eventually(Duration::from_secs(15), || hang.accepted() >= 1), "the e-mail was never tried");

    let tracker = Tracker::start(vec![200]);
    affiliate(&s, "fast", Some(&format!("http://127.0.0.1:{}/pb?e={{event}}", tracker.port)));
    convert(&s, "fast", "fast-1");
    assert!(eventually(Duration::from_secs(30), || tracker.count() == 1), "the postback did not go out");
    assert!(hang.first_still_open(), "the postback waited for the e-mail's attempt to time out");
}
