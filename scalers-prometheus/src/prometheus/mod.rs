//! The `prometheus` trigger: the value of an instant PromQL query.

mod config;
mod trigger;

pub use config::PrometheusConfig;
pub use trigger::PrometheusTrigger;
pub(crate) use trigger::parse_value;
