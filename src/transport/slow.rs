//! Work that waits for a slow client, kept off the request workers.
//!
//! Reading a body tiny_http has not buffered, and discarding the unread rest of one, can each
//! take as long as the client likes (up to the body deadline or the socket timeout). Such work
//! runs here, on a short-lived thread of its own, at most [`MAX_SLOW`] at once. A slot is a guard
//! given back however the thread ends, panics included; with no slot or no thread to be had, the
//! work is handed back to the caller, which answers 503 ([`busy`]) and closes the connection. It
//! never falls back onto a worker.
//!
//! tiny_http discards an unread body by allocating its whole declared remainder first, which
//! panics (capacity overflow) from 2^63 bytes on: [`answer_before_drain`] answers first, catches
//! that panic and logs it as one line, and the panic hook installed by [`quiet_discard_panics`]
//! keeps it from being printed with a backtrace.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use super::response::Response;
use crate::error::Error;

/// At most this many requests read slow bodies, or discard unread ones, on their own threads.
pub const MAX_SLOW: usize = 256;
/// What a 503 for lack of threads tells the client to wait, in seconds: slow bodies end within
/// the body deadline or the socket timeout.
const BUSY_RETRY_AFTER: &str = "5";

/// Requests on threads of their own right now (one server per process; shown in the metrics).
pub static SLOW_IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// One of the [`MAX_SLOW`] slots, given back when dropped.
struct Slot;

impl Drop for Slot {
    fn drop(&mut self) {
        SLOW_IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Takes one of the [`MAX_SLOW`] slots, or `None` if all are taken.
fn reserve() -> Option<Slot> {
    if SLOW_IN_FLIGHT.fetch_add(1, Ordering::SeqCst) >= MAX_SLOW {
        SLOW_IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
        return None;
    }
    Some(Slot)
}

/// Runs `work(value)` on a thread of its own, holding a slot until the thread ends however it
/// ends; gives `value` back when no slot is free or no thread can be started.
pub fn offload<T, W>(value: T, work: W) -> Result<(), T>
where
    T: Send + 'static,
    W: FnOnce(T) + Send + 'static,
{
    let Some(slot) = reserve() else { return Err(value) };
    let value = Arc::new(Mutex::new(Some(value)));
    let inside = value.clone();
    let spawned = thread::Builder::new().name("slow-request".into()).stack_size(512 * 1024).spawn(move || {
        let _slot = slot;
        let taken = inside.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(value) = taken
            && let Err(panic) = catch_unwind(AssertUnwindSafe(|| work(value)))
        {
            log::error!("a slow request's thread panicked: {}", crate::error::panic_text(&*panic));
        }
    });
    match spawned {
        Ok(_) => Ok(()),
        Err(e) => {
            log::error!("could not start a thread for a slow request: {e}");
            match value.lock().unwrap_or_else(|p| p.into_inner()).take() {
                Some(value) => Err(value),
                None => Ok(()),
            }
        }
    }
}

/// The answer when no slot (or no thread) is free.
pub fn busy() -> Response {
    Response::error(&Error::new(
        503,
        "unavailable",
        format!("{MAX_SLOW} slow uploads are in flight; nothing was saved, retry in a few seconds"),
    ))
    .with_header("Retry-After", BUSY_RETRY_AFTER)
}

/// Answers through tiny_http's `respond`, which writes the answer and only then drops the request
/// (whose drop discards the unread body). Our own writer path (`into_writer`) would discard first
/// and answer after, keeping a client that sent too much waiting for its 413. tiny_http's discard
/// panics for a body declared longer than the address space (it allocates the whole remainder
/// first); the answer is out by then, and the panic is caught here, so the thread goes on.
pub fn answer_before_drain(rq: tiny_http::Request, response: &Response) {
    let answer = response.to_tiny();
    DISCARDING.set(true);
    let outcome = catch_unwind(AssertUnwindSafe(move || rq.respond(answer)));
    DISCARDING.set(false);
    if let Err(panic) = outcome {
        log::warn!("tiny_http failed discarding an unread body: {}", crate::error::panic_text(&*panic));
    }
}

thread_local! {
    /// Set while tiny_http discards a body on this thread: a panic there is expected and logged
    /// as one line by [`answer_before_drain`], not printed with a backtrace.
    static DISCARDING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Installs (once) a panic hook that stays silent for the expected panic above and hands every
/// other panic to the hook that was there before.
pub fn quiet_discard_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !DISCARDING.get() {
                previous(info);
            }
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_come_back_however_the_work_ends() {
        let before = SLOW_IN_FLIGHT.load(Ordering::SeqCst);
        let (done, finished) = std::sync::mpsc::channel();
        offload(done.clone(), |done| {
            let _ = done.send(());
            panic!("the work panicked");
        })
        .unwrap();
        offload(done, |done| {
            let _ = done.send(());
        })
        .unwrap();
        for _ in 0..2 {
            finished.recv().unwrap();
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while SLOW_IN_FLIGHT.load(Ordering::SeqCst) > before && std::time::Instant::now() < deadline {
            thread::yield_now();
        }
        assert_eq!(SLOW_IN_FLIGHT.load(Ordering::SeqCst), before);
    }
}
