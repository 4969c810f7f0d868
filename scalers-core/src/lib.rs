//! # scalers-core
//!
//! The part of scalers that everything else plugs into: the config model (KEDA's ScaledObject,
//! field for field), the [`trigger::Trigger`] trait and [`trigger::Registry`], and the decision
//! [`engine`] that reproduces what KEDA's operator and the Kubernetes HPA decide together.
//!
//! No network, no runtime, no clock: the engine takes `now` as an argument, so every decision
//! is deterministic and can be replayed (that is what `scalerd simulate` does).
//!
//! Where to start:
//! - [`config::load_file`] → [`config::validate()`] turns YAML (scalerd's own format or KEDA
//!   manifests) into scaled objects with built triggers, reporting every error at once with its
//!   file and field path.
//! - [`engine::Engine::evaluate`] turns one tick's readings into a [`engine::Decision`] that
//!   says what to do and why.
//! - [`job::decide`] is the ScaledJob counterpart of the engine: how many Jobs to create from
//!   the queue lengths, the target per Job, the running and pending Jobs and the strategy.
//! - [`scale_loop::ScaleLoop`] ties an object's triggers, engine and [`target::ScaleTarget`]
//!   together: a program that embeds scalers calls [`scale_loop::ScaleLoop::tick`] on a timer
//!   (see `examples/embed_engine.rs`); [`target::MemoryTarget`] keeps a count in memory.
//!
//! The vocabulary every trigger crate shares, written once here: [`tls::TlsSettings`] (and the
//! one rule for `ca`: it adds to the system roots), [`pool::SharedPool`] (clients shared per
//! key, dropped with their last user), [`quantity::parse`] (Kubernetes quantities) and
//! [`trigger::parse_bool`] (KEDA's booleans).
//!
//! Feature `schema` (off by default): `schemars` derives on the config model, for the JSON Schema
//! `scalerd schema` prints.
//!
//! Semantics implemented: HPA External-metric replica math (AverageValue/Value, tolerance with
//! per-direction overrides, milli-quantities), legacy normalization (300 s max-window,
//! `max(2 × current, 4)` per step) and `behavior` normalization (stabilization windows, Pods and
//! Percent policies, selectPolicy, autoscaling/v2 defaults), never scaling down on partial
//! metric failure; KEDA's activation phase (activation thresholds, scale from and to zero,
//! `idleReplicaCount`, `cooldownPeriod`, `initialCooldownPeriod`), fallback
//! (`failureThreshold`, four behaviors, fed through the HPA math like KEDA), pause and
//! `scalingModifiers` formulas; KEDA's ScaledJob (`jobTargetRef`, history limits, rollout, the
//! `default`, `custom`, `accurate` and `eager` strategies, `multipleScalersCalculation`).

pub mod config;
pub mod engine;
pub mod error;
pub mod formula;
pub mod job;
pub mod pool;
pub mod quantity;
pub mod scale_loop;
pub mod secret;
pub mod target;
pub mod time;
pub mod tls;
pub mod trigger;

pub use error::{ConfigError, ConfigErrors, Error, Result};
pub use time::Timestamp;
