//! Outbound postbacks to an affiliate's own tracker: macros, signature, retries, SSRF guard.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;
use sha2::Sha256;

use crate::support::{Server, eventually};

/// A request the tracker saw: its path and its headers (names lower-cased).
pub type Seen = (String, Vec<(String, String)>);

/// A tiny tracker: records each request (path and headers) and answers with the next status
/// of `script` (the last one repeats).
pub struct Tracker {
    pub port: u16,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl Tracker {
    pub fn start(script: Vec<u16>) -> Tracker {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorded = seen.clone();
        std::thread::spawn(move || {
            let mut n = 0;
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                let mut headers = Vec::new();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.trim_end().split_once(':') {
                        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                    }
                }
                recorded.lock().unwrap().push((path, headers));
                let status = script[n.min(script.len() - 1)];
                n += 1;
                let _ = write!(stream, "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            }
        });
        Tracker { port, seen }
    }

    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

/// Records a conversion for affiliate `code` (through a click of its own), which queues a
/// postback if it has a postback URL.
fn postback_for(s: &Server, code: &str) {
    let click = s.click(code, json!({}));
    let order = format!("order-of-{code}");
    let r = s.post("/api/v1/conversions", &json!({"external_id": order, "amount": "10.00", "click_id": click}));
    assert_eq!(r.status, 201, "{}", r.text());
}

fn delivery_status(s: &Server) -> Vec<serde_json::Value> {
    s.get("/api/v1/postbacks").json()["data"].as_array().unwrap().clone()
}

#[test]
fn conversions_are_posted_back_signed_and_retried() {
    let s = Server::start_with(&["--allow-private-postbacks", "--outbound", "on"], &[]);
    s.seed();
    let tracker = Tracker::start(vec![500, 200]);
    let template = format!(
        "http://127.0.0.1:{}/pb?cid={{click_id}}&oid={{external_id}}&amt={{amount}}&com={{commission}}&cur={{currency}}&st={{status}}&id={{conversion_id}}&o={{offer}}&s1={{sub1}}&ev={{event}}",
        tracker.port
    );
    let aff = s.post("/api/v1/affiliates", &json!({"referral_code": "pat", "name": "Pat", "postback_url": template}));
    assert_eq!(aff.status, 201, "{}", aff.text());
    let secret = aff.json()["postback_secret"].as_str().expect("secret shown at creation").to_string();
    assert!(s.get("/api/v1/affiliates/pat").json().get("postback_secret").is_none(), "shown only once");

    let click = s.click("pat", json!({"sub1": "camp 1"}));
    let conv = s.post("/api/v1/conversions", &json!({"external_id": "ord&1", "amount": "80.00", "click_id": click}));
    assert_eq!(conv.status, 201);
    let id = conv.json()["id"].as_i64().unwrap();

    // The first attempt gets a 500; the retry (a few seconds later) succeeds.
    assert!(
        eventually(Duration::from_secs(30), || delivery_status(&s).iter().any(|d| d["status"] == "delivered")),
        "not delivered: {:?}",
        delivery_status(&s)
    );
    let d = &delivery_status(&s)[0];
    assert_eq!(d["attempts"], 2);
    assert_eq!(d["event"], "created");
    assert_eq!(tracker.count(), 2);
    let (path, headers) = tracker.seen.lock().unwrap()[1].clone();
    assert_eq!(
        path,
        format!(
            "/pb?cid={click}&oid=ord%261&amt=80.00&com=8.00&cur=USD&st=pending&id={id}&o=main&s1=camp%201&ev=created"
        )
    );

    // The signature: t=<unix>,v1=hex(HMAC-SHA256(secret, "t.<url>")).
    let sig = headers.iter().find(|(k, _)| k == "x-affiliated-signature").map(|(_, v)| v.clone()).expect("signed");
    let (t, v1) = sig.split_once(',').unwrap();
    let t = t.strip_prefix("t=").unwrap();
    let url = format!("http://127.0.0.1:{}{path}", tracker.port);
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{url}").as_bytes());
    let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(v1.strip_prefix("v1=").unwrap(), expected);

    // Approval is posted back too.
    s.post(&format!("/api/v1/conversions/{id}/approve"), &json!({}));
    assert!(eventually(Duration::from_secs(10), || tracker.count() == 3));
    assert!(tracker.seen.lock().unwrap()[2].0.contains("st=approved&"));
}

#[test]
fn a_redirect_is_a_failure_and_retry_requeues() {
    let s = Server::start_with(&["--allow-private-postbacks", "--outbound", "on"], &[]);
    s.seed();
    let tracker = Tracker::start(vec![302, 204]);
    // A conversion's postback (a test postback gets one attempt only, #21), to a fixed URL.
    let url = format!("http://127.0.0.1:{}/x?e=test", tracker.port);
    assert_eq!(
        s.post("/api/v1/affiliates", &json!({"referral_code": "rd", "name": "R", "postback_url": url})).status,
        201
    );
    postback_for(&s, "rd");
    let id = delivery_status(&s)[0]["id"].as_i64().unwrap();
    assert!(eventually(Duration::from_secs(10), || delivery_status(&s)[0]["last_status"] == 302));
    let d = &delivery_status(&s)[0];
    assert_eq!(d["status"], "pending", "a 302 is a failed attempt: {d}");
    assert!(d["last_error"].as_str().unwrap().contains("302"));
    let retried = s.post(&format!("/api/v1/postbacks/{id}/retry"), &json!({}));
    assert_eq!(retried.status, 200);
    assert!(eventually(Duration::from_secs(10), || delivery_status(&s)[0]["status"] == "delivered"));
    assert!(tracker.seen.lock().unwrap().iter().all(|(p, _)| p == "/x?e=test"));
    s.post("/api/v1/postbacks/999/retry", &json!({})).assert_error(404, "not_found");
}

#[test]
fn private_addresses_are_refused_without_the_flag() {
    let s = Server::start_with(&["--outbound", "on"], &[]);
    s.seed();
    let tracker = Tracker::start(vec![200]);
    let hosts = [
        format!("127.0.0.1:{}", tracker.port),
        format!("localhost:{}", tracker.port),
        format!("[::ffff:127.0.0.1]:{}", tracker.port),
    ];
    for (i, host) in hosts.iter().enumerate() {
        let code = format!("p{i}");
        let url = format!("http://{host}/pb?e={{event}}");
        assert_eq!(
            s.post("/api/v1/affiliates", &json!({"referral_code": code, "name": "P", "postback_url": url})).status,
            201
        );
        // A conversion's postback: a test postback would get one attempt only (#21).
        postback_for(&s, &code);
    }
    assert!(eventually(Duration::from_secs(10), || {
        let d = delivery_status(&s);
        d.len() == 3 && d.iter().all(|d| d["attempts"].as_i64() >= Some(1))
    }));
    for d in delivery_status(&s) {
        assert_eq!(d["status"], "pending");
        assert!(d["last_error"].as_str().unwrap().contains("not a public address"), "{d}");
    }
    assert_eq!(tracker.count(), 0, "nothing may reach a private address");
}

#[test]
fn with_outbound_off_deliveries_stay_queued_until_it_is_on_again() {
    let mut s = Server::start_with(&["--allow-private-postbacks", "--outbound", "off"], &[]);
    s.seed();
    let tracker = Tracker::start(vec![200]);
    let url = format!("http://127.0.0.1:{}/off?e={{event}}", tracker.port);
    let aff = s.post("/api/v1/affiliates", &json!({"referral_code": "off", "name": "O", "postback_url": url}));
    assert_eq!(aff.status, 201, "{}", aff.text());
    // A host name that must never be looked up.
    let unresolvable = "http://never-resolved.invalid/pb?e={event}";
    let aff = s.post("/api/v1/affiliates", &json!({"referral_code": "inv", "name": "I", "postback_url": unresolvable}));
    assert_eq!(aff.status, 201, "{}", aff.text());
    for code in ["off", "inv"] {
        assert_eq!(s.post(&format!("/api/v1/affiliates/{code}/postback-test"), &json!({})).status, 201);
    }
    let id = delivery_status(&s)[0]["id"].as_i64().unwrap();
    assert_eq!(s.post(&format!("/api/v1/postbacks/{id}/retry"), &json!({})).status, 200);
    assert!(s.log_text().contains("outbound postbacks are off"), "{}", s.log_text());
    // Nothing goes out: with delivery on, the first attempt comes within a quarter second.
    assert!(!eventually(Duration::from_secs(3), || tracker.count() > 0), "a postback was sent with --outbound off");
    let queued = delivery_status(&s);
    assert_eq!(queued.len(), 2, "{queued:?}");
    for d in &queued {
        assert_eq!(d["status"], "pending", "{d}");
        assert_eq!(d["attempts"], 0, "{d}");
    }
    // Switched on again, the queued delivery goes out.
    s.extra_args.retain(|a| a != "--outbound" && a != "off");
    s.extra_args.extend(["--outbound".to_string(), "on".to_string()]);
    s.restart();
    assert!(eventually(Duration::from_secs(15), || tracker.count() == 1), "{:?}", delivery_status(&s));
    assert_eq!(tracker.seen.lock().unwrap()[0].0, "/off?e=test");
}
