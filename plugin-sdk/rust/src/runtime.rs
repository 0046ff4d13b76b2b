//! What runs under a plugin's code: the memory allocator and, for `#![no_std]` plugins, the few
//! symbols Rust's standard library would otherwise bring.
//!
//! The box gives every hook call a fresh instance and throws it away after (no state survives a
//! call), so memory never needs to be reused across calls, and seldom within one. The call
//! arena hands out memory by moving a pointer forward and frees nothing; the last allocation can
//! grow in place, which covers a `Vec` or `String` being built. Measured on the example scheme's
//! `quote-checkout` (docs/PERFORMANCE.md): half the fuel of the C library's `malloc`, and with
//! `#![no_std]` (no WASI imports to link) a quarter less time per call.

use core::alloc::{GlobalAlloc, Layout};
use core::arch::wasm32;
use core::cell::Cell;

const PAGE: usize = 65_536;

/// Memory kept in the module's own data, so a call that allocates less never grows memory
/// (growing is a system call in the host, several microseconds).
const RESERVED: usize = 256 * 1024;

#[repr(C, align(16))]
struct Reserved([u8; RESERVED]);

static mut RESERVED_MEMORY: Reserved = Reserved([0; RESERVED]);

/// The call arena: allocations between `next` and `end`, a region of linear memory.
pub struct CallArena {
    next: Cell<usize>,
    end: Cell<usize>,
}

// SAFETY: a plugin instance runs on one thread (WebAssembly without the threads proposal), so
// the cells are never touched concurrently.
unsafe impl Sync for CallArena {}

impl CallArena {
    pub const fn new() -> CallArena {
        // Empty until the first allocation, which takes the reserve (see `refill`).
        CallArena {
            next: Cell::new(0),
            end: Cell::new(0),
        }
    }

    /// The block for `layout` at `next`, if the region has room.
    #[inline(always)]
    fn fit(&self, layout: Layout) -> Option<(usize, usize)> {
        let align = layout.align() - 1;
        let start = self.next.get().checked_add(align)? & !align;
        let end = start.checked_add(layout.size())?;
        (end <= self.end.get()).then_some((start, end))
    }

    /// Makes room for `layout`: the reserve on the first allocation, then grown memory.
    #[cold]
    fn refill(&self, layout: Layout) -> Option<(usize, usize)> {
        if self.end.get() == 0 {
            let start = (&raw mut RESERVED_MEMORY).cast::<u8>() as usize;
            self.next.set(start);
            self.end.set(start + RESERVED);
            if let Some(block) = self.fit(layout) {
                return Some(block);
            }
        }
        // Grows linear memory; continues the region when the new pages follow it, else starts
        // a new one (the rest of the old one is given up).
        let bytes = layout.size().checked_add(layout.align())?;
        let pages = bytes.div_ceil(PAGE).max(RESERVED / PAGE);
        let old_pages = wasm32::memory_grow(0, pages);
        if old_pages == usize::MAX {
            return None;
        }
        let (start, end) = (old_pages * PAGE, (old_pages + pages) * PAGE);
        if start != self.end.get() {
            self.next.set(start);
        }
        self.end.set(end);
        self.fit(layout)
    }
}

impl Default for CallArena {
    fn default() -> CallArena {
        CallArena::new()
    }
}

// SAFETY: every block handed out lies in memory no other block overlaps (`next` only moves past
// it, or back over it when it is the last one freed), is aligned as asked, and is `size` long
// within the region, which is linear memory the arena owns (its reserve, or pages it grew).
unsafe impl GlobalAlloc for CallArena {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match self.fit(layout).or_else(|| self.refill(layout)) {
            Some((start, end)) => {
                self.next.set(end);
                start as *mut u8
            }
            None => core::ptr::null_mut(),
        }
    }

    /// Nothing: the memory goes with the instance at the end of the call. (Freeing even the
    /// last block costs: measured, dropping every string and list the host passed in, which
    /// the compiler otherwise leaves out, was a seventh of the example scheme's fuel.)
    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {}

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let start = ptr as usize;
        let in_place = start
            .checked_add(new_size)
            .filter(|end| *end <= self.end.get());
        if let Some(end) = in_place.filter(|_| start + layout.size() == self.next.get()) {
            self.next.set(end);
            return ptr;
        }
        // SAFETY: the caller's contract for `realloc` is `alloc`'s and `dealloc`'s together.
        unsafe {
            let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
            let moved = self.alloc(new_layout);
            if !moved.is_null() {
                core::ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
            }
            moved
        }
    }
}

/// The plugin's memory. Without the `arena` feature it still serves the host's `cabi_realloc`
/// in a `no_std_runtime!` plugin, and the plugin's own allocator serves the rest.
#[cfg_attr(feature = "arena", global_allocator)]
static ARENA: CallArena = CallArena::new();

/// The canonical ABI's allocator over the call arena, for [`no_std_runtime!`](crate::no_std_runtime).
///
/// # Safety
/// `old` is null, or a block this function returned with `old_len` and `align`.
pub unsafe fn cabi_realloc(old: *mut u8, old_len: usize, align: usize, new_len: usize) -> *mut u8 {
    // SAFETY: the caller's contract; the canonical ABI asks only for alignments of 1, 2, 4 or 8
    // (powers of two), and a size of zero is asked as one byte (the arena wants a size).
    let block = unsafe {
        let layout = Layout::from_size_align_unchecked(new_len.max(1), align);
        if old.is_null() {
            ARENA.alloc(layout)
        } else {
            let old_layout = Layout::from_size_align_unchecked(old_len.max(1), align);
            ARENA.realloc(old, old_layout, new_len.max(1))
        }
    };
    if block.is_null() {
        // Out of memory: the host reports the memory limit the plugin hit.
        wasm32::unreachable()
    }
    block
}

/// `memcmp`, for [`no_std_runtime!`](crate::no_std_runtime): the compiler calls it for `==` on
/// strings and slices.
///
/// # Safety
/// `a` and `b` are readable for `len` bytes.
pub unsafe fn memcmp(a: *const u8, b: *const u8, len: usize) -> i32 {
    for i in 0..len {
        // SAFETY: the caller's contract.
        let (x, y) = unsafe { (*a.add(i), *b.add(i)) };
        if x != y {
            return i32::from(x) - i32::from(y);
        }
    }
    0
}

/// A panic, for [`no_std_runtime!`](crate::no_std_runtime): logged at error level (the host
/// puts the last error logged in the call's error), then a trap.
pub fn panicked(info: &core::panic::PanicInfo) -> ! {
    static PANICKED: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);
    // A panic while reporting one (say, out of memory) just traps.
    if !PANICKED.swap(true, core::sync::atomic::Ordering::Relaxed) {
        let message = alloc::format!("panicked: {info}");
        crate::log::write(crate::log::Level::Error, &message);
    }
    wasm32::unreachable()
}

/// For a `#![no_std]` plugin: the panic handler, `cabi_realloc` and `memcmp` that the C library
/// gives a plugin built with `std`. Without `std` a component imports nothing from WASI, so
/// each call links less: the fastest plugins (docs/plugins.md, "Fast plugins"). Invoke it once,
/// in the plugin's own crate.
#[macro_export]
macro_rules! no_std_runtime {
    () => {
        #[unsafe(no_mangle)]
        unsafe extern "C" fn cabi_realloc(
            old: *mut u8,
            old_len: usize,
            align: usize,
            new_len: usize,
        ) -> *mut u8 {
            // SAFETY: the host keeps the canonical ABI's contract, which is this one's.
            unsafe { $crate::runtime::cabi_realloc(old, old_len, align, new_len) }
        }

        #[unsafe(no_mangle)]
        unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, len: usize) -> i32 {
            // SAFETY: the compiler calls it with readable blocks of `len` bytes.
            unsafe { $crate::runtime::memcmp(a, b, len) }
        }

        #[unsafe(no_mangle)]
        unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, len: usize) -> i32 {
            // SAFETY: as `memcmp`.
            unsafe { $crate::runtime::memcmp(a, b, len) }
        }

        #[panic_handler]
        fn panic(info: &::core::panic::PanicInfo) -> ! {
            $crate::runtime::panicked(info)
        }
    };
}
