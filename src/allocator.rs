//! The memory allocator: mimalloc, with transparent huge pages off and memory handed back to
//! the system as soon as it is free.
//!
//! Why not the C library's allocator: a request allocates and frees dozens of small blocks on
//! two or more threads, and a profile of `/healthz` under load had glibc's `malloc`, `free` and
//! their helpers at about a tenth of the CPU; with mimalloc it served about a third more
//! requests per second. glibc also kept more memory: 47 to 54 MB after three runs of 1,000
//! connections on `/count`, growing from run to run.
//!
//! Two settings, each measured at 1,000 connections on `/count` (the memory goal of the
//! benchmark, `bench/`):
//!
//! - `no_thp` (a build feature): with transparent huge pages, mimalloc's memory is rounded up
//!   to 2 MiB pages, and the peak was 53 MB instead of 35.
//! - purge delay 0 ([`tune`]): mimalloc returns the pages it no longer uses to the system at
//!   once instead of a second later (its default); with the default, the peak was 43 to 47 MB
//!   against 35, and it stayed there after the load, with no measurable change in requests
//!   per second either way.
//!
//! The allocator is the library's, so the tests run on what ships.

/// `mi_option_purge_delay` of `mimalloc.h` (version 3, the one the mimalloc crate builds).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Applies the settings above; `main` calls it first.
pub fn tune() {
    // SAFETY: `mi_option_set` stores one integer option of the allocator, which mimalloc reads
    // whenever it decides whether to purge; its API allows setting options at any time.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, 0) };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn purge_delay() -> std::ffi::c_long {
        // SAFETY: reading an option has no preconditions.
        unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) }
    }

    #[test]
    fn the_option_set_is_the_purge_delay() {
        // The index is mimalloc's enum position, not a name: if a new version moved it, the
        // option found there would not have the purge delay's documented default of 1,000 ms.
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(purge_delay(), 1000, "mimalloc's default purge delay");
        }
        tune();
        assert_eq!(purge_delay(), 0);
    }
}
