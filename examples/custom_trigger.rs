//! A trigger plugin in Rust: the `directory` type registered next to scalerd's built-ins, with
//! the stock command line (`check`, `simulate`, `probe`, `run`, `status`).
//!
//! `cargo run -p scalers-examples --example custom_trigger -- probe --config examples/configs/plugin/directory.yaml`

fn main() {
    let mut registry = scalerd::builtin_registry();
    scalers_examples::directory::register(&mut registry);
    std::process::exit(scalerd::cli::main_with(registry));
}
