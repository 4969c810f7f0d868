//! The `metrics-api` trigger: a number read from any HTTP endpoint, JSON or Prometheus text.

mod config;
mod exposition;
mod json_path;
mod trigger;

pub use config::{MetricsApiConfig, ValueLocation};
pub use exposition::SeriesSelector;
pub use json_path::JsonPath;
pub use trigger::MetricsApiTrigger;
