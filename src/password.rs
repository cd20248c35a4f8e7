//! Portal passwords: hashing with Argon2id and checking a password against its hash, with the
//! parameters OWASP's Password Storage Cheat Sheet recommends (19 MiB of memory, 2 passes, 1
//! lane), a 128-bit random salt per hash, and the PHC string format
//! (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`), which records the parameters beside the hash
//! so they can be raised later without breaking stored ones.
//!
//! A hash costs tens of milliseconds of CPU and 19 MiB of memory by design. So callers run it on
//! the request's worker (never on the writer thread, which every write waits for), and [`Gate`]
//! bounds how many run at once and how many wait: a burst of logins then costs at most
//! [`MAX_RUNNING`] cores and ties up at most [`MAX_RUNNING`] + [`MAX_WAITING`] workers, and the
//! rest get 503 at once instead of piling up in front of tracking links.
//!
//! Checking compares the computed hash with the stored one in constant time (the `phc` crate's
//! `Output` equality), and an account without a password is checked against a fixed dummy hash
//! with the same parameters, so timing does not tell which referral codes have a password.
//! Nothing here logs, and passwords are never stored or returned.

use std::sync::{Condvar, LazyLock, Mutex};
use std::time::{Duration, Instant};

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};

use crate::error::Error;

/// Argon2id memory cost in KiB (OWASP: 19 MiB).
pub const MEMORY_KIB: u32 = 19 * 1024;
/// Argon2id passes over the memory (OWASP: 2 with 19 MiB).
pub const ITERATIONS: u32 = 2;
/// Argon2id lanes (OWASP: 1).
pub const PARALLELISM: u32 = 1;
/// Salt length in bytes (the PHC string format recommends 16).
const SALT_BYTES: usize = 16;

/// Hashes computed at the same moment, at most.
pub const MAX_RUNNING: usize = 2;
/// Requests waiting for a free slot, at most; more get 503 at once.
pub const MAX_WAITING: usize = 8;
/// How long a request waits for a slot before it gets 503.
pub const MAX_WAIT: Duration = Duration::from_secs(5);

fn argon2() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).expect("OWASP's parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The PHC string of `password` under a new random salt.
pub fn hash(password: &str) -> Result<String, Error> {
    let mut salt = [0u8; SALT_BYTES];
    rand::fill(&mut salt);
    let hash = argon2()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map_err(|e| Error::internal(format!("while hashing a password: {e}")))?;
    Ok(hash.to_string())
}

/// A hash of a password nobody has, checked when an account has no password of its own.
static DUMMY: LazyLock<String> =
    LazyLock::new(|| hash("no account has this password, it only costs time").expect("hashing works"));

/// Whether `password` matches `stored` (a PHC string). With `None`, or a stored text that is not
/// a valid hash, the password is checked against a dummy hash anyway and `false` is returned,
/// so the answer takes as long as for a real account.
pub fn verify(password: &str, stored: Option<&str>) -> bool {
    let parsed = stored.and_then(|s| PasswordHash::new(s).ok());
    match parsed {
        Some(hash) => argon2().verify_password(password.as_bytes(), &hash).is_ok(),
        None => {
            let dummy = PasswordHash::new(&DUMMY).expect("the dummy hash parses");
            let _ = argon2().verify_password(password.as_bytes(), &dummy);
            false
        }
    }
}

/// Bounds how many hashes run at once (see the module comment).
pub struct Gate {
    state: Mutex<Slots>,
    freed: Condvar,
    running: usize,
    waiting: usize,
    wait: Duration,
}

#[derive(Default)]
struct Slots {
    running: usize,
    waiting: usize,
}

/// The gate every password hash and check of this process passes.
pub static GATE: Gate = Gate::new(MAX_RUNNING, MAX_WAITING, MAX_WAIT);

impl Gate {
    pub const fn new(running: usize, waiting: usize, wait: Duration) -> Gate {
        Gate { state: Mutex::new(Slots { running: 0, waiting: 0 }), freed: Condvar::new(), running, waiting, wait }
    }

    /// Runs `work` once a slot is free; 503 `busy` when too many wait already or no slot frees up
    /// in time.
    pub fn run<T>(&self, work: impl FnOnce() -> T) -> Result<T, Error> {
        self.enter()?;
        struct Leave<'a>(&'a Gate);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                let mut slots = self.0.state.lock().unwrap_or_else(|p| p.into_inner());
                slots.running -= 1;
                self.0.freed.notify_one();
            }
        }
        let _leave = Leave(self);
        Ok(work())
    }

    fn enter(&self) -> Result<(), Error> {
        let mut slots = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if slots.running < self.running {
            slots.running += 1;
            return Ok(());
        }
        if slots.waiting >= self.waiting {
            return Err(busy());
        }
        slots.waiting += 1;
        let deadline = Instant::now() + self.wait;
        while slots.running >= self.running {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                slots.waiting -= 1;
                return Err(busy());
            }
            slots = self.freed.wait_timeout(slots, left).unwrap_or_else(|p| p.into_inner()).0;
        }
        slots.waiting -= 1;
        slots.running += 1;
        Ok(())
    }
}

fn busy() -> Error {
    Error::new(503, "busy", "too many logins are being checked right now; try again in a few seconds")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    use super::*;

    #[test]
    fn a_password_matches_its_own_hash_only() {
        let stored = hash("correct horse battery").unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{stored}");
        assert!(verify("correct horse battery", Some(&stored)));
        assert!(!verify("correct horse batterY", Some(&stored)));
        assert!(!verify("", Some(&stored)));
        let again = hash("correct horse battery").unwrap();
        assert_ne!(stored, again, "every hash has its own salt");
        assert!(!verify("correct horse battery", None), "no password: nothing matches");
        assert!(!verify("correct horse battery", Some("not a hash")));
    }

    #[test]
    fn the_gate_bounds_running_and_waiting_work() {
        let gate = Arc::new(Gate::new(1, 1, Duration::from_secs(30)));
        let (entered, inside) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        let holder = {
            let gate = gate.clone();
            std::thread::spawn(move || {
                gate.run(|| {
                    entered.send(()).unwrap();
                    released.recv().unwrap();
                })
            })
        };
        inside.recv().unwrap();
        // One may wait; it runs once the slot is free.
        let ran = Arc::new(AtomicUsize::new(0));
        let waiter = {
            let (gate, ran) = (gate.clone(), ran.clone());
            std::thread::spawn(move || gate.run(|| ran.fetch_add(1, Ordering::SeqCst)))
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while gate.state.lock().unwrap().waiting == 0 {
            assert!(Instant::now() < deadline, "the second caller never waited");
            std::thread::sleep(Duration::from_millis(1));
        }
        // A third finds the queue full and is refused at once.
        let refused = gate.run(|| ()).unwrap_err();
        assert_eq!((refused.status, refused.code.as_ref()), (503, "busy"));
        release.send(()).unwrap();
        holder.join().unwrap().unwrap();
        waiter.join().unwrap().unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), 1);
        // A caller that waits too long is refused.
        let short = Gate::new(0, 1, Duration::from_millis(1));
        assert_eq!(short.run(|| ()).unwrap_err().code, "busy");
        assert_eq!(short.state.lock().unwrap().waiting, 0, "it stopped waiting");
    }
}
