//! # scalers-queue
//!
//! Queue triggers: Redis lists and streams on standalone, cluster and sentinel servers (feature
//! `redis`), and Kafka consumer lag (feature `kafka`). Both features are on by default. Both
//! link the system OpenSSL (libssl): `kafka` through librdkafka's TLS, both to decrypt
//! encrypted private keys (`keyPassword`); Redis connections and the Kafka coordinator
//! connections themselves use rustls.
//!
//! Start with [`register`], which adds every enabled trigger type to a
//! [`Registry`].

#[cfg(feature = "kafka")]
pub mod kafka;
#[cfg(any(feature = "redis", feature = "kafka"))]
mod keys;
#[cfg(feature = "redis")]
pub mod redis;

use scalers_core::trigger::Registry;

/// Registers every trigger type of the enabled features.
pub fn register(registry: &mut Registry) {
    #[cfg(feature = "redis")]
    redis::register(registry);
    #[cfg(feature = "kafka")]
    kafka::register(registry);
}
