//! The `scalerd` binary: the stock command line with the built-in triggers.

fn main() {
    std::process::exit(scalerd::cli::main_with(scalerd::builtin_registry()));
}
