//! The config loader and validator on arbitrary text.
//!
//! Bytes that are UTF-8 go through `scalers_core::config::load_str`, as `scalerd check` reads a
//! file (scalerd's own format or KEDA manifests); a config that loads is then validated with
//! `validate` against the registry of every built-in trigger type, so every trigger's metadata
//! parser runs too (building a trigger does no I/O). `*FromEnv` parameters find a value of
//! their own; authentications are not read (that would read files named by the input).
//!
//! Checks: no panic, no hang; every error names the file and says something.

#![no_main]

use std::collections::BTreeMap;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use scalers_core::ConfigErrors;
use scalers_core::config::{load_str, validate};
use scalers_core::trigger::Registry;

const FILE: &str = "fuzz.yaml";

static REGISTRY: LazyLock<Registry> = LazyLock::new(scalerd::builtin_registry);

fn check_located(errors: &ConfigErrors) {
    assert!(!errors.is_empty(), "an Err without errors");
    for e in errors.iter() {
        let text = e.to_string();
        let message = text.strip_prefix("fuzz.yaml: ");
        assert!(message.is_some_and(|m| !m.is_empty()), "{text:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let config = match load_str(text, FILE) {
        Ok(config) => config,
        Err(errors) => return check_located(&errors),
    };
    let env = |name: &str| Some(format!("{}", name.len()));
    let no_auth = |_: &_, _: &_| BTreeMap::new();
    if let Err(errors) = validate(&config, &REGISTRY, FILE, &env, &no_auth) {
        check_located(&errors);
    }
});
