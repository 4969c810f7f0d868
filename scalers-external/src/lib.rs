//! # scalers-external
//!
//! The `external` and `external-push` triggers of scalers: a metric served over gRPC by an
//! external scaler written for KEDA, in any language, unchanged.
//!
//! Where to start: [`register`] adds both types to a [`Registry`]; a trigger is then built from
//! config like any other. Embedders that build triggers themselves use
//! [`ExternalConfig::from_params`] and [`ExternalTrigger::new`] with a [`ChannelPool`]. The
//! protocol's messages, client and server are in [`proto`]: a Rust program can implement an
//! external scaler with [`proto::external_scaler_server`].
//!
//! ## KEDA semantics implemented (`external`, `external-push`)
//! - KEDA's protocol (`externalscaler.ExternalScaler`: `IsActive`, `StreamIsActive`,
//!   `GetMetricSpec`, `GetMetrics`), same package, names and field numbers; the `.proto` is
//!   `proto/externalscaler.proto` in this crate.
//! - Parameters `scalerAddress` (required, `host:port`), `enableTLS` and `unsafeSsl` (false),
//!   and `caCert`, `tlsClientCert`, `tlsClientKey` (PEM, usually from a TriggerAuthentication);
//!   TLS is used when `enableTLS` is true or any TLS material is given. `timeout` (milliseconds,
//!   3000) bounds each call.
//! - `ScaledObjectRef` carries the scaled object's `name` and `namespace` and the whole trigger
//!   metadata, each `<key>FromEnv` value resolved as KEDA does (and, ours, also sent as `<key>`
//!   when that key is not written): see [`ExternalConfig::from_params`].
//! - Each sample calls `GetMetrics` (with the first spec's `metricName`) **then** `IsActive`.
//!   Values are summed; a float field is used only when greater than 0, else the integer one.
//!   The trigger is active iff `IsActive` says so (no activation threshold).
//! - `external-push`: a `StreamIsActive` stream per trigger; each `true` asks the object's loop
//!   for an evaluation at once (instead of at the next `pollingInterval`) and makes that
//!   evaluation active, as KEDA's push activation does; `false` is ignored (deactivation
//!   follows polling). The stream reconnects after 2 s, doubling to 60 s after each failed
//!   attempt ([`PushBackoff`]); it is closed when the trigger is dropped.
//! - Failures are typed ([`Error::kind`]): unreachable → `Unavailable`, the per-call deadline
//!   → `Timeout`, a gRPC status from the scaler → `BadResponse` naming the code (`UNAVAILABLE`,
//!   `DEADLINE_EXCEEDED`, `UNAUTHENTICATED`/`PERMISSION_DENIED` map to `Unavailable`,
//!   `Timeout`, `Unauthorized`). `GetMetrics` returning no value gives a "no data" sample
//!   (value 0, activity still `IsActive`'s).
//!
//! ## Targets and values
//! A trigger's target is fixed when it is built, and building does no I/O, but the target of
//! an external scaler comes from `GetMetricSpec`, a call. So, unless the metadata gives
//! `targetValue` (ours, not KEDA's), the trigger reports **the number of replicas the scaler
//! asks for** against a target of 1:
//!
//! - target: `1`, with the trigger's `metricType`;
//! - value: `Σ metric / spec target`, both in KEDA's milli-units, rounded up to 0.001
//!   (`GetMetricSpec` is called on the first sample and its first spec kept until a call
//!   fails).
//!
//! This is what the HPA computes with the real target:
//! - AverageValue: the HPA proposes `ceil(Σ metric / target)` = `ceil(value / 1)`, and its
//!   tolerance ratio `Σ metric / (target × replicas)` = `value / (1 × replicas)`;
//! - Value: the HPA's ratio `metric / target` is `value / 1`, and it proposes
//!   `ceil(ratio × ready replicas)`.
//!
//! The only difference is resolution: the engine reads values in thousandths, so the ratio is
//! carried to 0.001 replica, rounded up. AverageValue proposals outside the tolerance band
//! are exact; within 0.001 below the band's lower edge the current count is kept, and a Value
//! proposal may be one higher when the ratio lies within 0.001 below a multiple of
//! `1 / ready`: the rounding errs toward more replicas, never fewer. Fallback keeps its
//! meaning (`fallback.replicas` replicas). Values shown by `scalerd status` and fed to
//! `scalingModifiers` formulas are these ratios; `scalerd simulate` traces for such triggers
//! are ratios too.
//!
//! With `targetValue: "<n>"` (greater than 0) the scaler's target is ignored and the trigger
//! reports the raw summed metric against `n`, like any other trigger (`GetMetricSpec` still
//! names the metric).
//!
//! ## Connections
//! Channels are shared per scaler address and TLS settings by every trigger built from the same
//! registration ([`ChannelPool`]): one HTTP/2 connection carries every call and push stream.
//! Building a trigger does no I/O; the channel connects on first use and reconnects by itself.
//! TLS goes through rustls with the aws-lc-rs provider, the system's roots plus `caCert`;
//! `unsafeSsl` skips certificate verification. Connecting (TCP and TLS) gives up after
//! [`CONNECT_TIMEOUT`].
//!
//! Not implemented: KEDA's `round_robin` balancing over every address a name resolves to (a
//! connection goes to one resolved address at a time), the deprecated `tlsCertFile`, and the
//! optional `StreamMetricSpec` (targets pushed by the scaler).
//!
//! ## Code generation
//! The Rust code of the protocol is generated from `proto/externalscaler.proto` and committed
//! (`src/generated/externalscaler.rs`), so building needs no `protoc`; `regen.sh` in this
//! crate regenerates it (it needs `protoc`).
//!
//! ## Features
//! None: tonic is built with its `channel` and `codegen` features only, and TLS is done with
//! rustls (aws-lc-rs) by this crate.
//!
//! # Examples
//! ```no_run
//! use scalers_core::config::model::{ScaledObject, TriggerSpec};
//! use scalers_core::trigger::{BuildContext, Registry};
//!
//! # async fn demo() {
//! let mut registry = Registry::new();
//! scalers_external::register(&mut registry);
//!
//! let mut spec = TriggerSpec::new("external");
//! spec.metadata.insert("scalerAddress".to_owned(), "queue-scaler.jobs:6000".to_owned());
//! spec.metadata.insert("queue".to_owned(), "orders".to_owned());
//! let mut object = ScaledObject::new("orders", "orders-worker");
//! object.triggers.push(spec);
//!
//! let built = registry
//!     .build(BuildContext::new(&object, 0).with_env(&|var| std::env::var(var).ok()))
//!     .expect("valid trigger");
//! match built.trigger.sample().await {
//!     Ok(sample) => println!("{} replicas asked (active: {})", sample.value, sample.active),
//!     Err(e) => println!("{} failure: {e}", e.kind),
//! }
//! # }
//! ```

mod channel;
mod config;
mod error;
mod push;
mod tls;
mod trigger;

pub mod proto {
    //! KEDA's external scaler protocol (`package externalscaler`), generated from
    //! `proto/externalscaler.proto` by `regen.sh`: the messages, a client
    //! ([`external_scaler_client::ExternalScalerClient`]) and a server
    //! ([`external_scaler_server::ExternalScalerServer`], for scalers written in Rust).
    include!("generated/externalscaler.rs");
}

use std::sync::Arc;

use scalers_core::trigger::Registry;

pub use channel::{CONNECT_TIMEOUT, ChannelPool};
pub use config::{
    ClientIdentity, DEFAULT_GRPC_PORT, DEFAULT_TIMEOUT_MS, ExternalConfig, Mode, ScalerAddress,
    TlsSettings,
};
pub use error::{Error, Result, code_name};
pub use push::PushBackoff;
pub use trigger::{ExternalTrigger, Reading};

/// The pull trigger's type name, as in KEDA.
pub const TYPE: &str = "external";

/// The push trigger's type name, as in KEDA.
pub const TYPE_PUSH: &str = "external-push";

/// Registers the `external` and `external-push` trigger types, with a [`ChannelPool`] of their
/// own shared by every trigger the registry builds, and KEDA's push backoff.
pub fn register(registry: &mut Registry) {
    register_with(registry, ChannelPool::new(), PushBackoff::default());
}

/// Registers both trigger types with the given [`ChannelPool`] (so the caller can share it
/// further or observe it) and push stream [`PushBackoff`].
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use scalers_core::trigger::Registry;
/// use scalers_external::{ChannelPool, PushBackoff};
///
/// let pool = ChannelPool::new();
/// let mut registry = Registry::new();
/// let backoff = PushBackoff { initial: Duration::from_millis(100), max: Duration::from_secs(1) };
/// scalers_external::register_with(&mut registry, pool.clone(), backoff);
/// assert_eq!(registry.types().collect::<Vec<_>>(), ["external", "external-push"]);
/// assert!(pool.is_empty());
/// ```
pub fn register_with(registry: &mut Registry, pool: ChannelPool, backoff: PushBackoff) {
    for (name, mode) in [(TYPE, Mode::Pull), (TYPE_PUSH, Mode::Push)] {
        let pool = pool.clone();
        registry.register(name, move |p| {
            let config = ExternalConfig::from_params(p, mode)?;
            Ok(Arc::new(ExternalTrigger::new(config, &pool, backoff)))
        });
    }
}
