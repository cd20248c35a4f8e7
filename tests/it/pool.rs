//! tiny_http's connection pool meets a burst of new connections: every one is served by a thread
//! of its own at once, never left queued for the connection watch (`transport/rescue.rs`) to
//! find. No timing is asserted; the rescue counter says whether a connection had to wait.

use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{Server, read_response};

/// More connections at once than tiny_http starts its pool with (4 threads).
const BURST: usize = 48;

fn metric(s: &Server, name: &str) -> u64 {
    let text = s.get_public("/metrics").text();
    let line = text.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("no {name}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

fn rescued(s: &Server) -> u64 {
    metric(s, "affiliated_connections_rescued_total")
}

/// Opens `BURST` connections at once, then sends a request on each and reads every answer;
/// returns the slowest time from the request to its answer (printed, never asserted).
///
/// "At once" is made exact: the server is stopped (SIGSTOP) while the kernel completes the
/// connections into the listener's accept queue, then continued, so tiny_http's accept thread
/// finds them all waiting and hands them to its pool back to back, as on a busy machine where
/// it did not get a core while visitors arrived.
fn burst(s: &Server) -> Duration {
    let signal =
        |sig: &str| assert!(Command::new("kill").args([sig, s.pid().to_string().as_str()]).status().unwrap().success());
    signal("-STOP");
    let streams: Vec<_> = (0..BURST).map(|_| TcpStream::connect(s.addr)).collect();
    signal("-CONT");
    let mut streams: Vec<TcpStream> = streams.into_iter().map(|c| c.expect("connect")).collect();
    let sent = Instant::now();
    for stream in &mut streams {
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        stream.write_all(b"GET /nothing-here HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    }
    let mut slowest = Duration::ZERO;
    for stream in &mut streams {
        assert_eq!(read_response(stream).status, 404);
        slowest = slowest.max(sent.elapsed());
    }
    slowest
}

#[test]
fn a_burst_of_new_connections_right_after_start_and_after_a_quiet_spell_is_served_without_the_watch() {
    // Right after start, tiny_http's pool holds 4 idle threads of its own.
    let s = Server::start();
    let slowest = burst(&s);
    eprintln!("burst of {BURST} new connections after start: slowest answer after {slowest:?}");
    assert_eq!(rescued(&s), 0, "connections were left queued by the pool until the watch found them");
    // tiny_http ends a thread after 5 s idle: a quiet spell longer than that (the scenario
    // itself, not a wait for something) leaves it nothing but what is kept for it.
    std::thread::sleep(Duration::from_secs(6));
    let slowest = burst(&s);
    eprintln!("burst of {BURST} new connections after a quiet spell: slowest answer after {slowest:?}");
    assert_eq!(rescued(&s), 0, "after a quiet spell, connections were left queued until the watch found them");
}

#[test]
fn the_spare_threads_requests_are_answered_by_the_transport_alone() {
    let s = Server::start();
    // Requests counted, but for the reads of /metrics themselves.
    let counted = |s: &Server| -> u64 {
        let text = s.get_public("/metrics").text();
        text.lines()
            .filter(|l| l.starts_with("affiliated_http_requests_total{") && !l.contains("route=\"/metrics\""))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
            .sum()
    };
    let before = counted(&s);
    let mut stream = TcpStream::connect(s.addr).unwrap();
    stream.write_all(b"GET /.affiliated/spare HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let r = read_response(&mut stream);
    assert_eq!((r.status, r.body.len()), (204, 0));
    // Not a route, not counted by route, not in the access log.
    assert_eq!(counted(&s), before);
    assert!(!s.log_text().contains("/.affiliated/spare"), "{}", s.log_text());
    // Anything else under the path is the site's, as usual.
    let r = s.get_public("/.affiliated/spare?x=1");
    assert_eq!(r.status, 404);
}
