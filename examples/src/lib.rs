//! # scalers-examples
//!
//! Runnable examples of the three ways to use scalers, and the sample configs and traces the
//! README and tests use:
//!
//! - `configs/` and `traces/`: sample configs (scalerd's format and KEDA manifests) and
//!   recorded traces for `scalerd simulate`.
//! - `embed_engine.rs` (`cargo run -p scalers-examples --example embed_engine`): a program that
//!   embeds the engine with a trigger built in code and its own [`ScaleTarget`]: a pool of
//!   worker tasks ([`worker_pool`]); the program itself is [`embed::run_demo`].
//! - `custom_trigger.rs` (`cargo run -p scalers-examples --example custom_trigger -- check
//!   --config ...`): a new trigger type ([`directory`]) registered next to the built-ins, with
//!   the stock scalerd command line.
//!
//! [`ScaleTarget`]: scalers_core::target::ScaleTarget

pub mod directory;
pub mod embed;
pub mod worker_pool;
