//! Portal passwords: hashing with Argon2id and checking a password against its hash, with the
//! parameters OWASP's Password Storage Cheat Sheet recommends (19 MiB of memory, 2 passes, 1
//! lane), a 128-bit random salt per hash, and the PHC string format
//! (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`), which records the parameters beside the hash
//! so they can be raised later without breaking stored ones.
//!
//! A hash costs tens of milliseconds of CPU and 19 MiB of memory by design. Both are bounded by
//! [`Gate`]: every hash and check of the process ([`hash`], [`verify`]) runs on one of the gate's
//! [`MAX_RUNNING`] own threads, each of which allocated its Argon2 memory once when it started and
//! reuses it for every hash; at most [`MAX_WAITING`] more requests wait for a thread, and the rest
//! get 503 at once instead of piling up in front of tracking links. So a burst of logins costs at
//! most [`MAX_RUNNING`] cores and [`MAX_RUNNING`] × 19 MiB, whatever the number of workers: the
//! allocator never sees a hash's memory (glibc keeps a freed 19 MiB block in the arena of the
//! thread that freed it, so hashing on the request's worker left up to one block per worker,
//! and more with fragmentation, resident for good; FIELD-NOTES, 2026-12-06). Never on the writer.
//!
//! Checking compares the computed hash with the stored one in constant time, and an account
//! without a password is checked against a fixed dummy hash with the same parameters, so timing
//! does not tell which referral codes have a password.
//! Nothing here logs, and passwords are never stored or returned.

use std::cell::Cell;
use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, LazyLock, Mutex, mpsc};
use std::time::{Duration, Instant};

use argon2::password_hash::phc::{Output, ParamsString, Salt};
use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, Version};

use crate::error::Error;

/// Argon2id memory cost in KiB (OWASP: 19 MiB).
pub const MEMORY_KIB: u32 = 19 * 1024;
/// Argon2id passes over the memory (OWASP: 2 with 19 MiB).
pub const ITERATIONS: u32 = 2;
/// Argon2id lanes (OWASP: 1).
pub const PARALLELISM: u32 = 1;
/// Salt length in bytes (the PHC string format recommends 16).
const SALT_BYTES: usize = 16;
/// Hash length in bytes (Argon2's default).
const OUTPUT_BYTES: usize = 32;

/// Hashes computed at the same moment, at most: the gate's threads.
pub const MAX_RUNNING: usize = 2;
/// Requests waiting for a free thread, at most; more get 503 at once.
pub const MAX_WAITING: usize = 8;
/// How long a request waits for a thread before it gets 503.
pub const MAX_WAIT: Duration = Duration::from_secs(5);

fn params() -> Params {
    Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, Some(OUTPUT_BYTES)).expect("OWASP's parameters are valid")
}

/// The PHC string of `password` under a new random salt. Runs on the gate (see the module
/// comment); 503 `busy` when too many hashes wait already.
pub fn hash(password: &str) -> Result<String, Error> {
    let password = password.to_string();
    GATE.run(move |memory| hash_with(memory, &password))?
}

/// Whether `password` matches `stored` (a PHC string). With `None`, or a stored text that is not
/// a valid hash, the password is checked against a dummy hash anyway and `false` is returned,
/// so the answer takes as long as for a real account. Runs on the gate; 503 `busy` when too
/// many checks wait already.
pub fn verify(password: &str, stored: Option<&str>) -> Result<bool, Error> {
    let (password, stored) = (password.to_string(), stored.map(str::to_string));
    GATE.run(move |memory| verify_with(memory, &password, stored.as_deref()))
}

/// [`hash`] in `memory` (at least [`MEMORY_KIB`] blocks).
fn hash_with(memory: &mut [Block], password: &str) -> Result<String, Error> {
    let failed = |e: &dyn std::fmt::Display| Error::internal(format!("while hashing a password: {e}"));
    let mut salt = [0u8; SALT_BYTES];
    rand::fill(&mut salt);
    let params = params();
    let mut out = [0u8; OUTPUT_BYTES];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, memory)
        .map_err(|e| failed(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| failed(&e))?,
        salt: Some(Salt::new(&salt).map_err(|e| failed(&e))?),
        hash: Some(Output::new(&out).map_err(|e| failed(&e))?),
    };
    Ok(phc.to_string())
}

/// A hash of a password nobody has (made once with [`hash`]'s parameters), checked when an
/// account has no password of its own.
const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$WclYduvkETdWJo8e+mtHfg$V+cks5lB3HmIfX73R+KYQvRuk0Y8mx1NZuQAS6andt0";

/// [`verify`] in `memory`.
fn verify_with(memory: &mut [Block], password: &str, stored: Option<&str>) -> bool {
    match stored.and_then(|s| matches(memory, password, s)) {
        Some(matched) => matched,
        None => {
            let _ = matches(memory, password, DUMMY);
            false
        }
    }
}

/// Whether `password` hashes to `stored`; `None` if `stored` is not a hash this gate can check
/// (not a PHC string of Argon2, or needing more memory than the gate's threads have).
fn matches(memory: &mut [Block], password: &str, stored: &str) -> Option<bool> {
    let phc = PasswordHash::new(stored).ok()?;
    let algorithm = Algorithm::try_from(phc.algorithm.as_str()).ok()?;
    let version = phc.version.map_or(Some(Version::default()), |v| Version::try_from(v).ok())?;
    let params = Params::try_from(&phc).ok()?;
    let (salt, expected) = (phc.salt?, phc.hash?);
    if params.block_count() > memory.len() {
        return None;
    }
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, &mut *memory)
        .ok()?;
    Some(crate::secret::constant_time_eq(&out, expected.as_bytes()))
}

/// Argon2 blocks (of 1 KiB) each gate thread holds: enough for [`MEMORY_KIB`].
fn blocks() -> usize {
    params().block_count()
}

/// A piece of work for a gate thread, and when it stops being worth doing. The work gets the
/// thread's memory and a function to call once it is done with it (before it wakes its caller,
/// who may come straight back with the next job).
struct Job {
    deadline: Instant,
    work: Work,
}

type Work = Box<dyn FnOnce(&mut [Block], &dyn Fn()) + Send>;

/// What the callers and the gate's threads share.
struct Shared {
    state: Mutex<State>,
    queued: Condvar,
}

struct State {
    queue: VecDeque<Job>,
    /// Jobs accepted and not finished: queued or running.
    pending: usize,
    /// Threads started (they are started on first use, at most `running`).
    threads: usize,
    /// The gate was dropped: its threads end.
    closed: bool,
}

/// Runs work on its own threads, at most `running` at once, each with its own Argon2 memory;
/// at most `waiting` more wait (see the module comment).
pub struct Gate {
    shared: Arc<Shared>,
    running: usize,
    waiting: usize,
    wait: Duration,
    /// Argon2 blocks each thread allocates once.
    blocks: usize,
}

/// The gate every password hash and check of this process passes.
pub static GATE: LazyLock<Gate> = LazyLock::new(|| Gate::new(MAX_RUNNING, MAX_WAITING, MAX_WAIT, blocks()));

impl Gate {
    pub fn new(running: usize, waiting: usize, wait: Duration, blocks: usize) -> Gate {
        let state = State { queue: VecDeque::new(), pending: 0, threads: 0, closed: false };
        Gate {
            shared: Arc::new(Shared { state: Mutex::new(state), queued: Condvar::new() }),
            running,
            waiting,
            wait,
            blocks,
        }
    }

    /// Runs `work` on one of the gate's threads with that thread's memory, once one is free;
    /// 503 `busy` when too many wait already or none frees up in time.
    pub fn run<T: Send + 'static>(&self, work: impl FnOnce(&mut [Block]) -> T + Send + 'static) -> Result<T, Error> {
        let (done, result) = mpsc::sync_channel(1);
        let deadline = Instant::now() + self.wait;
        {
            let mut state = self.shared.state.lock().unwrap_or_else(|p| p.into_inner());
            if state.pending >= self.running + self.waiting {
                return Err(busy());
            }
            if state.threads < self.running.min(state.pending + 1) {
                self.start_thread()?;
                state.threads += 1;
            }
            state.pending += 1;
            let work = Box::new(move |memory: &mut [Block], finished: &dyn Fn()| {
                let value = work(memory);
                finished();
                let _ = done.send(value);
            });
            state.queue.push_back(Job { deadline, work });
        }
        self.shared.queued.notify_one();
        // A job is either run or dropped once its deadline passed; either way the sender goes.
        result.recv().map_err(|_| {
            if Instant::now() >= deadline {
                busy()
            } else {
                Error::internal("a password hash failed on the gate's thread")
            }
        })
    }

    fn start_thread(&self) -> Result<(), Error> {
        let (shared, blocks) = (self.shared.clone(), self.blocks);
        std::thread::Builder::new()
            .name("password".into())
            .spawn(move || work_on(&shared, blocks))
            .map(|_| ())
            .map_err(|e| Error::internal(format!("while starting a password thread: {e}")))
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner()).closed = true;
        self.shared.queued.notify_all();
    }
}

/// A gate thread: allocates its memory once, then runs jobs until the gate is dropped.
fn work_on(shared: &Shared, blocks: usize) {
    let mut memory = vec![Block::new(); blocks];
    loop {
        let job = {
            let mut state = shared.state.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                if state.closed {
                    return;
                }
                if let Some(job) = state.queue.pop_front() {
                    break job;
                }
                state = shared.queued.wait(state).unwrap_or_else(|p| p.into_inner());
            }
        };
        let counted = Cell::new(false);
        let finished = || {
            if !counted.replace(true) {
                shared.state.lock().unwrap_or_else(|p| p.into_inner()).pending -= 1;
            }
        };
        if Instant::now() < job.deadline {
            // A panic drops the job's sender: its caller gets an error, the thread goes on.
            let _ = catch_unwind(AssertUnwindSafe(|| (job.work)(&mut memory, &finished)));
        }
        finished();
    }
}

fn busy() -> Error {
    Error::new(503, "busy", "too many logins are being checked right now; try again in a few seconds")
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use argon2::{PasswordHasher, PasswordVerifier};

    use super::*;

    #[test]
    fn a_password_matches_its_own_hash_only() {
        let stored = hash("correct horse battery").unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{stored}");
        assert!(verify("correct horse battery", Some(&stored)).unwrap());
        assert!(!verify("correct horse batterY", Some(&stored)).unwrap());
        assert!(!verify("", Some(&stored)).unwrap());
        let again = hash("correct horse battery").unwrap();
        assert_ne!(stored, again, "every hash has its own salt");
        assert!(!verify("correct horse battery", None).unwrap(), "no password: nothing matches");
        assert!(!verify("correct horse battery", Some("not a hash")).unwrap());
    }

    #[test]
    fn hashes_are_those_of_the_reference_implementation() {
        let reference = Argon2::new(Algorithm::Argon2id, Version::V0x13, params());
        let ours = hash("correct horse battery").unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(reference.verify_password(b"correct horse battery", &parsed).is_ok());
        assert!(reference.verify_password(b"correct horse batterY", &parsed).is_err());
        let theirs = reference.hash_password_with_salt(b"tr0ub4dor&3", b"0123456789abcdef").unwrap().to_string();
        assert!(verify("tr0ub4dor&3", Some(&theirs)).unwrap());
        assert!(!verify("tr0ub4dor&4", Some(&theirs)).unwrap());
        // The dummy hash has the same parameters as every real one, so it costs the same.
        assert!(DUMMY.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert_eq!(PasswordHash::new(DUMMY).unwrap().hash.unwrap().len(), OUTPUT_BYTES);
        assert!(!verify("", Some(DUMMY)).unwrap());
    }

    #[test]
    fn a_hash_needing_more_memory_than_a_thread_has_is_not_checked() {
        let reference = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(64, 1, 1, None).unwrap());
        let stored = reference.hash_password_with_salt(b"pw", b"0123456789abcdef").unwrap().to_string();
        let mut small = vec![Block::new(); 32];
        assert_eq!(matches(&mut small, "pw", &stored), None);
        let mut enough = vec![Block::new(); 64];
        assert_eq!(matches(&mut enough, "pw", &stored), Some(true));
        assert_eq!(matches(&mut enough, "pv", &stored), Some(false));
    }

    /// Occupies one of the gate's threads until the returned sender is used.
    fn hold(gate: &Arc<Gate>) -> (std::thread::JoinHandle<Result<(), Error>>, mpsc::Sender<()>) {
        let (entered, inside) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        let gate = gate.clone();
        let holder = std::thread::spawn(move || {
            gate.run(move |_| {
                entered.send(()).unwrap();
                released.recv().unwrap();
            })
        });
        inside.recv().unwrap();
        (holder, release)
    }

    #[test]
    fn the_gate_bounds_running_and_waiting_work() {
        let gate = Arc::new(Gate::new(1, 1, Duration::from_secs(30), 8));
        let (holder, release) = hold(&gate);
        // One may wait; it runs once the thread is free.
        let ran = Arc::new(AtomicUsize::new(0));
        let waiter = {
            let (gate, ran) = (gate.clone(), ran.clone());
            std::thread::spawn(move || gate.run(move |_| ran.fetch_add(1, Ordering::SeqCst)))
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while gate.shared.state.lock().unwrap().queue.is_empty() {
            assert!(Instant::now() < deadline, "the second caller never waited");
            std::thread::sleep(Duration::from_millis(1));
        }
        // A third finds the queue full and is refused at once.
        let refused = gate.run(|_| ()).unwrap_err();
        assert_eq!((refused.status, refused.code.as_ref()), (503, "busy"));
        release.send(()).unwrap();
        holder.join().unwrap().unwrap();
        waiter.join().unwrap().unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), 1);
        assert_eq!(gate.shared.state.lock().unwrap().threads, 1, "one thread did both");
    }

    #[test]
    fn a_caller_whose_turn_comes_too_late_is_refused_and_its_work_never_runs() {
        let wait = Duration::from_secs(1);
        let gate = Arc::new(Gate::new(1, 1, wait, 8));
        let (holder, release) = hold(&gate);
        let ran = Arc::new(AtomicUsize::new(0));
        let queued_at = Instant::now();
        let late = {
            let (gate, ran) = (gate.clone(), ran.clone());
            std::thread::spawn(move || gate.run(move |_| ran.fetch_add(1, Ordering::SeqCst)))
        };
        // Hold the thread until the late caller's deadline has certainly passed.
        while Instant::now() < queued_at + wait + Duration::from_millis(50) {
            std::thread::sleep(Duration::from_millis(10));
        }
        release.send(()).unwrap();
        holder.join().unwrap().unwrap();
        assert_eq!(late.join().unwrap().unwrap_err().code, "busy");
        assert_eq!(ran.load(Ordering::SeqCst), 0);
        assert_eq!(gate.shared.state.lock().unwrap().pending, 0, "nothing is left waiting");
        assert!(gate.run(|_| 7).is_ok_and(|v| v == 7), "the gate serves again");
    }

    #[test]
    fn the_memory_is_the_threads_own_and_reused() {
        let gate = Gate::new(1, 1, Duration::from_secs(30), 8);
        let first = gate.run(|memory| {
            memory[0].as_mut()[0] = 7;
            (memory.len(), memory.as_ptr() as usize)
        });
        let second = gate.run(|memory| (memory[0].as_ref()[0], memory.as_ptr() as usize));
        let ((len, a), (seen, b)) = (first.unwrap(), second.unwrap());
        assert_eq!((len, seen), (8, 7));
        assert_eq!(a, b, "the same block of memory");
    }
}
