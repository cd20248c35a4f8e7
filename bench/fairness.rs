//! Connection fairness: does every keep-alive connection get served?
//!
//! Opens N connections at once, each on its own thread, and sends `GET /r/CODE` requests back
//! to back on each for D seconds (one request in flight per connection, like a browser or a
//! reverse proxy's upstream pool). Reports how many connections never got a response, the
//! longest any connection waited for its first response, and min/median/max requests per
//! connection. tiny_http 0.12 can leave queued connections unserved for a whole run
//! (FIELD-NOTES.md); wrk's totals hide that.
//!
//! ```text
//! cargo run --release --example fairness -- --addr 127.0.0.1:8080 --connections 64 --seconds 10 \
//!     --codes aff-001,aff-002
//! ```
//! The last line is machine-readable (`RESULT key=value ...`) for bench/run.

#[path = "support.rs"]
mod support;

use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use support::{arg, arg_or, median, read_response};

const HELP: &str = "\
fairness: N keep-alive connections at once, each sending GET /r/CODE back to back.

Usage: fairness --addr HOST:PORT [--connections 64] [--seconds 10] [--codes a,b,c] [--path-prefix /r/]
";

/// What one connection experienced.
struct Outcome {
    /// Time from the common start to the first complete response.
    first: Option<Duration>,
    responses: u64,
    /// Why the connection ended before the deadline, if it did.
    ended: Option<String>,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        print!("{HELP}");
        return ExitCode::SUCCESS;
    }
    let Some(addr) = arg(&args, "--addr").and_then(|a| a.parse::<SocketAddr>().ok()) else {
        eprint!("--addr HOST:PORT is required\n{HELP}");
        return ExitCode::from(2);
    };
    let connections: usize = arg_or(&args, "--connections", 64);
    let seconds: f64 = arg_or(&args, "--seconds", 10.0);
    let prefix = arg(&args, "--path-prefix").unwrap_or_else(|| "/r/".into());
    let codes: Vec<String> = arg(&args, "--codes")
        .unwrap_or_else(|| "aff-001".into())
        .split(',')
        .filter(|c| !c.is_empty())
        .map(String::from)
        .collect();

    let duration = Duration::from_secs_f64(seconds);
    let barrier = Arc::new(Barrier::new(connections + 1));
    let mut handles = Vec::with_capacity(connections);
    for i in 0..connections {
        let barrier = barrier.clone();
        let path = format!("{prefix}{}?sub1=fairness&sub2={i}", codes[i % codes.len()]);
        let spawned = thread::Builder::new()
            .name(format!("conn-{i}"))
            .stack_size(128 * 1024)
            .spawn(move || connection(addr, &path, &barrier, duration));
        match spawned {
            Ok(h) => handles.push(h),
            Err(e) => {
                eprintln!("could not start thread {i}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    // Everyone connects at the same moment.
    barrier.wait();
    let started = Instant::now();
    let outcomes: Vec<Outcome> = handles
        .into_iter()
        .map(|h| h.join().unwrap_or(Outcome { first: None, responses: 0, ended: Some("thread panicked".into()) }))
        .collect();
    let wall = started.elapsed();
    report(addr, &outcomes, duration, wall);
    ExitCode::SUCCESS
}

fn connection(addr: SocketAddr, path: &str, barrier: &Barrier, duration: Duration) -> Outcome {
    barrier.wait();
    let start = Instant::now();
    let deadline = start + duration;
    let mut outcome = Outcome { first: None, responses: 0, ended: None };
    let mut stream = match TcpStream::connect_timeout(&addr, duration) {
        Ok(s) => s,
        Err(e) => {
            outcome.ended = Some(format!("connect: {e}"));
            return outcome;
        }
    };
    let _ = stream.set_nodelay(true);
    // Short read timeouts let a waiting connection notice the deadline.
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: Mozilla/5.0 (bench fairness)\r\n\
         Referer: https://blog.example/fairness\r\n\r\n"
    );
    while Instant::now() < deadline {
        if let Err(e) = stream.write_all(request.as_bytes()) {
            outcome.ended = Some(format!("write: {e}"));
            break;
        }
        match read_response(&mut stream, deadline) {
            // Only answers that arrive within the run count: when the other connections close
            // at the deadline, a queued one may get its first answer a moment later.
            Ok(_) if Instant::now() > deadline => break,
            Ok(_) => {
                outcome.responses += 1;
                if outcome.first.is_none() {
                    outcome.first = Some(start.elapsed());
                }
            }
            Err(e) if e.kind() == ErrorKind::TimedOut => break,
            Err(e) => {
                outcome.ended = Some(format!("read: {e}"));
                break;
            }
        }
    }
    outcome
}

fn report(addr: SocketAddr, outcomes: &[Outcome], duration: Duration, wall: Duration) {
    let n = outcomes.len();
    let mut per_conn: Vec<u64> = outcomes.iter().map(|o| o.responses).collect();
    per_conn.sort_unstable();
    let total: u64 = per_conn.iter().sum();
    let starved = outcomes.iter().filter(|o| o.first.is_none()).count();
    let mut firsts: Vec<Duration> = outcomes.iter().filter_map(|o| o.first).collect();
    firsts.sort_unstable();
    let first_max = firsts.last().copied().unwrap_or_default();
    let first_median = median(&firsts).unwrap_or_default();
    let ended: Vec<&String> = outcomes.iter().filter_map(|o| o.ended.as_ref()).collect();
    let (min, med, max) = (per_conn[0], median(&per_conn).unwrap_or(0), per_conn[n - 1]);
    let rps = total as f64 / wall.as_secs_f64();

    println!("fairness against {addr}: {n} keep-alive connections for {:.1} s", duration.as_secs_f64());
    println!("  responses: {total} in {:.2} s ({rps:.0}/s)", wall.as_secs_f64());
    println!("  connections that got no response at all: {starved} of {n}");
    if starved > 0 {
        println!("    (each of those waited the whole run, {:.1} s, without an answer)", duration.as_secs_f64());
    }
    println!(
        "  wait for the first response among served connections: median {:.1} ms, longest {:.1} ms",
        first_median.as_secs_f64() * 1e3,
        first_max.as_secs_f64() * 1e3
    );
    println!("  requests per connection: min {min}, median {med}, max {max}");
    if !ended.is_empty() {
        println!("  connections that ended early: {} (first reason: {})", ended.len(), ended[0]);
    }
    // A starved connection's wait is the whole run: count it as such in the longest wait.
    let longest_wait = if starved > 0 { duration } else { first_max };
    println!(
        "RESULT connections={n} no_response={starved} first_wait_max_ms={:.1} first_wait_median_ms={:.1} \
         longest_wait_ms={:.1} per_conn_min={min} per_conn_median={med} per_conn_max={max} total={total} \
         rps={rps:.1} ended_early={}",
        first_max.as_secs_f64() * 1e3,
        first_median.as_secs_f64() * 1e3,
        longest_wait.as_secs_f64() * 1e3,
        ended.len()
    );
}
