//! The `scalerd` binary: the stock command line with the built-in triggers.

/// The allocator (feature `mimalloc`, on by default): tens of thousands of loops keep many
/// small, long-lived allocations, which glibc's malloc spreads over per-thread arenas.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(scalerd::cli::main_with(scalerd::builtin_registry()));
}
