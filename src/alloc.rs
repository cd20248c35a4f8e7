//! The global allocator: the system allocator, except for giant requests; and how the C
//! allocator behind it is told to give memory back ([`tune`], [`Releaser`]).
//!
//! tiny_http 0.12 discards the unread rest of a request body by allocating a buffer as large as
//! the remaining declared `Content-Length` (upstream issue #252). A client that declares 1 TiB
//! and sends five bytes would make that allocation fail, and a failed allocation aborts the
//! process. Requests of [`HUGE`] bytes or more (this program never needs one legitimately) are
//! therefore served by an anonymous `MAP_NORESERVE` mapping: the kernel reserves no memory for
//! it and only the pages actually written (the few bytes the client sent) ever exist. If even
//! that fails (strict overcommit, `vm.overcommit_memory=2`), the allocation fails as before and
//! the service manager restarts the process.

//!
//! Memory given back: glibc's malloc keeps what a thread freed in that thread's arena (up to
//! 8 per core) for later. A server that answered its heaviest pages 8 at a time on a database
//! with 2M clicks kept 2.5 GiB that way, 5 s after the last answer (bench/scale). [`tune`]
//! has every block of [`MMAP_THRESHOLD`] or more mapped on its own (glibc raises that threshold as large blocks come and go, up to 32 MiB, after which
//! they stay in the arenas); [`Releaser`], asked once a second by the thread of
//! [`spawn_releaser`], hands the free memory in the arenas back to the kernel (`malloc_trim`)
//! once more than [`KEEP`] became free. The number of arenas is left at glibc's default: capping
//! it at 2 (one per core) made threads contend for them and cost ~20% more CPU per redirect and
//! per conversion (bench/run, 44.7 against 37.7 µs a redirect), while the trim alone already
//! hands every arena's free memory back. musl's allocator (the static release build) maps
//! large blocks on its own and returns freed pages by itself; there both are no-ops.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// Allocations from this size on are mapped directly.
pub const HUGE: usize = 1 << 30;
const PAGE: usize = 4096;

pub struct Allocator;

// SAFETY: every method forwards to `System` for ordinary sizes. Huge blocks come from mmap and
// go back to munmap; the GlobalAlloc contract guarantees `dealloc` and `realloc` receive the
// layout the block was allocated with, so a block is always returned to where it came from.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() >= HUGE { map(layout) } else { unsafe { System.alloc(layout) } }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // Fresh anonymous mappings are zero-filled.
        if layout.size() >= HUGE { map(layout) } else { unsafe { System.alloc_zeroed(layout) } }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if layout.size() >= HUGE {
            // SAFETY: `ptr` came from `map` with this size.
            unsafe { libc::munmap(ptr.cast(), layout.size()) };
        } else {
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.size() < HUGE && new_size < HUGE {
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // SAFETY: the caller guarantees `new_size`, rounded up to `align`, does not overflow.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}

/// Blocks from this size on are mapped on their own and unmapped when freed.
pub const MMAP_THRESHOLD: i32 = 256 * 1024;
/// Memory freed that the C allocator may keep before [`Releaser`] hands it back.
pub const KEEP: usize = 16 << 20;

/// Sets the C allocator up to keep little (see the module's comment). Call once, at the start
/// of the process, before its threads.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes glibc's allocator parameters; any value is accepted or refused.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}

/// Hands the memory the C allocator holds free back to the kernel (`malloc_trim`) once more than
/// [`KEEP`] became free since it last did. (glibc keeps counting trimmed memory as free, so the
/// floor is the least free memory seen since the last trim: memory taken again and freed again
/// counts anew.)
#[derive(Default)]
pub struct Releaser {
    floor: Option<usize>,
}

impl Releaser {
    /// Looks once; returns how much had become free when it trimmed (`None`: nothing to do, or
    /// not glibc).
    pub fn release(&mut self) -> Option<usize> {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        {
            // SAFETY: mallinfo2 only reads the allocator's counters.
            let free = unsafe { libc::mallinfo2() }.fordblks;
            let floor = self.floor.map_or(free, |f| f.min(free));
            if free >= floor + KEEP {
                // SAFETY: malloc_trim returns free pages to the kernel; live blocks are untouched.
                unsafe { libc::malloc_trim(0) };
                self.floor = Some(free);
                return Some(free - floor);
            }
            self.floor = Some(floor);
        }
        None
    }
}

/// The thread that looks once a second, until `stopping`, whether memory should go back.
pub fn spawn_releaser(stopping: Arc<AtomicBool>) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name("release".into()).spawn(move || {
        let mut releaser = Releaser::default();
        while !stopping.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_secs(1));
            let started = std::time::Instant::now();
            if let Some(freed) = releaser.release() {
                log::debug!(
                    "gave the {} MiB freed since the last time back to the kernel in {:.1} ms",
                    freed >> 20,
                    started.elapsed().as_secs_f64() * 1e3
                );
            }
        }
    })
}

fn map(layout: Layout) -> *mut u8 {
    if layout.align() > PAGE {
        return std::ptr::null_mut();
    }
    // SAFETY: an anonymous private mapping touches no existing memory.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            layout.size(),
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED { std::ptr::null_mut() } else { p.cast() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_terabyte_block_costs_only_the_pages_written() {
        // What tiny_http asks for when it discards a body declared as 1 TiB.
        let layout = Layout::from_size_align(1 << 40, 1).unwrap();
        unsafe {
            let p = Allocator.alloc_zeroed(layout);
            assert!(!p.is_null());
            *p = 1;
            *p.add((1 << 40) - 1) = 2;
            assert_eq!(*p.add(12345), 0);
            assert_eq!(*p + *p.add((1 << 40) - 1), 3);
            Allocator.dealloc(p, layout);
        }
    }

    #[test]
    fn growing_into_and_shrinking_out_of_the_huge_range_keeps_the_data() {
        let small = Layout::from_size_align(16, 8).unwrap();
        unsafe {
            let p = Allocator.alloc(small);
            std::ptr::write_bytes(p, 7, 16);
            let big = Allocator.realloc(p, small, HUGE + 1);
            assert!(!big.is_null());
            assert_eq!(*big.add(15), 7);
            *big.add(HUGE) = 9;
            let big_layout = Layout::from_size_align(HUGE + 1, 8).unwrap();
            let back = Allocator.realloc(big, big_layout, 32);
            assert_eq!(*back, 7);
            assert_eq!(*back.add(15), 7);
            Allocator.dealloc(back, Layout::from_size_align(32, 8).unwrap());
        }
    }
}
