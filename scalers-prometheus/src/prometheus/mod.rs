//! The `prometheus` trigger: the value of an instant PromQL query.

mod config;
mod trigger;

pub use config::PrometheusConfig;
pub(crate) use trigger::parse_value;
pub use trigger::{PrometheusTrigger, decode_query_response};
