//! The JS face (wasm32 only). `driver.js` (copied into the package) performs each call's I/O
//! — fetch, timers, the caller's signal, bodies — and asks this module's handle API what to do
//! next. Options arrive as bytes (`core::option_bytes`), encoded by `encode.js`.

// The main module exports the Instance; the fleet's module (feature `fleet`) only its classes.
#[cfg(not(feature = "fleet"))]
mod exports;
#[cfg(feature = "fleet")]
mod fleet_exports;
#[cfg(not(feature = "std"))]
mod heap;

// Without std, the wasm brings its own allocator and panic handler. The core has no reachable
// panic (clippy denies the ways to write one); were one reached, the instance traps.
#[cfg(not(feature = "std"))]
#[global_allocator]
static ALLOCATOR: heap::SizeClasses = heap::SizeClasses::new();

#[cfg(not(feature = "std"))]
#[panic_handler]
fn panic(_: &::core::panic::PanicInfo) -> ! {
    ::core::arch::wasm32::unreachable()
}
