//! Login floods (#21): what failed logins may cost the server. Memory stays bounded however many
//! addresses guess.

use std::time::Duration;

use crate::portal::{Visitor, login};
use crate::support::{Server, eventually};

/// The resident memory of process `pid`, in KiB (`VmRSS` of /proc/PID/status).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A browser at address `ip` behind the trusted proxy.
fn from(ip: &str) -> Visitor {
    Visitor { headers: vec![("X-Forwarded-For".into(), ip.into())], ..Visitor::default() }
}

/// 100 failed logins from 100 addresses (no account needed: unknown codes are checked against a
/// dummy hash), a few at a time as a patient attacker sends them so that none is turned away
/// busy. Each Argon2id check needs 19 MiB; with the default 32 workers they used to stay in
/// whichever worker ran them (RSS grew by hundreds of MiB). Memory is read, not time.
#[test]
fn failed_logins_from_many_addresses_leave_memory_where_it_was() {
    let s = Server::start_with(&["--trusted-proxy", "127.0.0.1", "--workers", "32"], &[]);
    // One login first, so that what any first login allocates once is in the baseline.
    assert_eq!(login(&s, &mut from("198.18.0.1"), "nobody", "wrong password").status, 401);
    let before = rss_kib(s.pid());
    std::thread::scope(|scope| {
        for t in 0..8 {
            let s = &s;
            scope.spawn(move || {
                for i in (t..100).step_by(8) {
                    let mut visitor = from(&format!("198.18.1.{i}"));
                    let r = login(s, &mut visitor, &format!("nobody{i}"), "wrong password");
                    assert_eq!(r.status, 401, "{}", r.text());
                }
            });
        }
    });
    // The allocator may hand memory back a moment after the last answer.
    let mut after = rss_kib(s.pid());
    let settled = eventually(Duration::from_secs(5), || {
        after = rss_kib(s.pid());
        after < before + 100 * 1024
    });
    assert!(settled, "RSS went from {before} KiB to {after} KiB after 100 failed logins");
}
