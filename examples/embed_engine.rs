//! Embedding the engine: a trigger built in code, a `ScaleTarget` of our own (a pool of worker
//! tasks), and scalers-core's `Controller` ticking on a timer. No YAML, no cluster, no daemon.
//! The program is `scalers_examples::embed::run_demo` (in `src/embed.rs`), so a test runs it too.
//!
//! `cargo run -p scalers-examples --example embed_engine`

use std::time::Duration;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    scalers_examples::embed::run_demo(Duration::from_millis(500), |line| println!("{line}")).await
}
