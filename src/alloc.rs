//! The global allocator: the system allocator, except for giant requests.
//!
//! tiny_http 0.12 discards the unread rest of a request body by allocating a buffer as large as
//! the remaining declared `Content-Length` (upstream issue #252). A client that declares 1 TiB
//! and sends five bytes would make that allocation fail, and a failed allocation aborts the
//! process. Requests of [`HUGE`] bytes or more (this program never needs one legitimately) are
//! therefore served by an anonymous `MAP_NORESERVE` mapping: the kernel reserves no memory for
//! it and only the pages actually written (the few bytes the client sent) ever exist. If even
//! that fails (strict overcommit, `vm.overcommit_memory=2`), the allocation fails as before and
//! the service manager restarts the process.

use std::alloc::{GlobalAlloc, Layout, System};

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
