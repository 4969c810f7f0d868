//! TEMP placeholder until the loader lands.
#![allow(missing_docs, unreachable_pub, clippy::all)]
use crate::config::model::Config;
use crate::error::ConfigErrors;
pub fn load_str(_t: &str, _f: &str) -> Result<Config, ConfigErrors> { todo!() }
pub fn load_file(_p: &std::path::Path) -> crate::error::Result<Config> { todo!() }
