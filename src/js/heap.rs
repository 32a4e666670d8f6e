//! The wasm's allocator: power-of-two size classes, each with a free list, carved from pages
//! taken with `memory.grow`. Alloc and free are O(1); freed blocks are reused by their own
//! class and never merged or given back, so memory is bounded by twice the peak use of each
//! class. The core's allocations are few and small (a key, a call, an options value, the
//! registry's table), so this serves as well as dlmalloc in about a tenth of its bytes.
//!
//! The module is single-threaded (no shared memory, no atomics): nothing here is ever entered
//! twice at once.

use core::alloc::{GlobalAlloc, Layout};
use core::arch::wasm32::memory_grow;
use core::cell::UnsafeCell;
use core::ptr::null_mut;

const PAGE: usize = 65_536;
/// The smallest block holds the free list's next pointer; classes go up to 2^31 bytes.
const MIN_SHIFT: u32 = 3;
const CLASSES: usize = 29;
/// Bump allocations are aligned to this; larger alignments get a block at its own size.
const BUMP_ALIGN: usize = 16;

struct Heap {
    /// Head of each class's free list (0: empty); a free block's first word is the next one.
    free: [usize; CLASSES],
    /// The untouched part of the pages taken so far.
    next: usize,
    end: usize,
}

pub struct SizeClasses(UnsafeCell<Heap>);

// Safety: wasm32 without threads: the allocator is never used from two threads.
unsafe impl Sync for SizeClasses {}

impl SizeClasses {
    pub const fn new() -> Self {
        SizeClasses(UnsafeCell::new(Heap { free: [0; CLASSES], next: 0, end: 0 }))
    }
}

/// The class of a layout, and its block size: the power of two at least as large as the size,
/// the alignment and a pointer.
fn class_of(layout: Layout) -> Option<(usize, usize)> {
    let need = layout.size().max(layout.align()).max(1 << MIN_SHIFT);
    let block = need.checked_next_power_of_two()?;
    let class = usize::try_from(block.trailing_zeros().checked_sub(MIN_SHIFT)?).ok()?;
    (class < CLASSES).then_some((class, block))
}

impl Heap {
    /// A fresh block of `block` bytes aligned to `align`, from the pages taken or new ones.
    fn bump(&mut self, block: usize, align: usize) -> *mut u8 {
        let start = match self.next.checked_add(align - 1) {
            Some(n) => n & !(align - 1),
            None => return null_mut(),
        };
        let Some(stop) = start.checked_add(block) else { return null_mut() };
        if self.next == 0 || stop > self.end {
            // New pages after the current end of memory; what was left of the old ones is lost
            // (at most one block's worth).
            let pages = (block + align).div_ceil(PAGE);
            let previous = memory_grow(0, pages);
            if previous == usize::MAX {
                return null_mut();
            }
            self.next = previous * PAGE;
            self.end = self.next + pages * PAGE;
            return self.bump(block, align);
        }
        self.next = stop;
        start as *mut u8
    }
}

unsafe impl GlobalAlloc for SizeClasses {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some((class, block)) = class_of(layout) else { return null_mut() };
        // Safety: single-threaded, and no allocation happens while the heap is borrowed.
        let heap = unsafe { &mut *self.0.get() };
        if layout.align() <= BUMP_ALIGN {
            if let Some(head) = heap.free.get_mut(class) {
                if *head != 0 {
                    let ptr = *head as *mut usize;
                    // Safety: a free block of this class, at least a word long and aligned.
                    *head = unsafe { *ptr };
                    return ptr.cast();
                }
            }
            return heap.bump(block, BUMP_ALIGN);
        }
        // A rare large alignment: a fresh block aligned to its own size (free lists only
        // promise BUMP_ALIGN).
        heap.bump(block, block)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some((class, _)) = class_of(layout) else { return };
        // Safety: as in alloc; `ptr` came from alloc with this layout, so its block is this
        // class's size and at least BUMP_ALIGN-aligned.
        let heap = unsafe { &mut *self.0.get() };
        if let Some(head) = heap.free.get_mut(class) {
            unsafe { *(ptr as *mut usize) = *head };
            *head = ptr as usize;
        }
    }
}
