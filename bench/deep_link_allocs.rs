//! What building a redirect's destination costs, in heap allocations and time per call: the
//! landing URL (a tracking link without `url`, unchanged by deep links) against a deep link's
//! check and destination, and a refused one. Pure functions, no server:
//!
//! ```text
//! cargo run --release --example deep_link_allocs
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use affiliated::tracking::deep_link;
use affiliated::tracking::link::{self, Visit};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator, counting allocations on the way.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const LANDING: &str = "https://shop.example/landing?ref={affiliate_id}&utm_source=affiliates";
const PAGE: &str = "https://shop.example/product/1234-trail-tent?colour=green&size=2p#reviews";
const EVIL: &str = "https://shop.example@evil.example/";
const ELSEWHERE: &str = "https://evil.example/product/1234-trail-tent";

fn measure(name: &str, mut f: impl FnMut() -> usize) {
    let rounds = 1_000_000;
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    black_box(f());
    let one = ALLOCATIONS.load(Ordering::Relaxed) - before;
    let start = Instant::now();
    for _ in 0..rounds {
        black_box(f());
    }
    let ns = start.elapsed().as_nanos() as f64 / rounds as f64;
    println!("{name:<36} {one} allocation(s) per call, {ns:.0} ns per call");
}

fn main() {
    let allowed = deep_link::check_allowed_hosts(["blog.shop.example", "*.cdn.shop.example"]).unwrap();
    let visit = Visit {
        click_id: Some("P7-VZDfIM9DiL2qnxBtMY3ZTcoRm5W"),
        referral_code: "ann",
        offer_id: "main",
        subs: [Some("spring"), None, None, None, None],
    };
    measure("landing URL (no url)", || link::landing_url(black_box(LANDING), &visit).len());
    measure("deep link: check + destination", || {
        deep_link::check(black_box(PAGE), LANDING, &allowed).unwrap();
        deep_link::destination(PAGE, LANDING, &visit).len()
    });
    measure("deep link refused (user info): check", || {
        deep_link::check(black_box(EVIL), LANDING, &allowed).is_err() as usize
    });
    measure("deep link refused (other host): check", || {
        deep_link::check(black_box(ELSEWHERE), LANDING, &allowed).is_err() as usize
    });
}
