//! The offline tools of the command line: [`simulate`] (with [`plot`]), [`probe`], [`schema`]
//! and the [`status_table`] of `scalerd status`. `scalerd check` is [`crate::load`].
//!
//! `plot` needs the `plot` feature (on by default): a daemon-only build can leave plotters out
//! with `--no-default-features`.

#[cfg(feature = "plot")]
pub mod plot;
pub mod probe;
pub mod schema;
pub mod simulate;
pub mod status_table;
