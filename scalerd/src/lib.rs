//! # scalerd
//!
//! The scalers daemon and CLI, usable as a library: [`builtin_registry`] composes the built-in
//! triggers, [`load`] reads and validates a config through a registry, [`tools::simulate`]
//! replays a recorded trace through the engine, [`tools::probe`] samples live sources once,
//! [`daemon`] is `scalerd run` ([`App`]), and [`cli`] is the command line (`scalerd check`,
//! `scalerd simulate`, `scalerd probe`, `scalerd run`).
//!
//! A program that adds its own trigger types registers them next to the built-ins and runs the
//! stock command line:
//!
//! ```no_run
//! let mut registry = scalerd::builtin_registry();
//! // registry.register("my-trigger", |p| { ... });
//! std::process::exit(scalerd::cli::main_with(registry));
//! ```

pub mod cli;
pub mod daemon;
pub mod error;
pub mod kube;
pub mod tools;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use scalers_core::config::{self, Validated, ValidatedObject};
use scalers_core::trigger::Registry;

pub use daemon::{App, RunOptions};
pub use error::{Error, Result};

/// A registry with every built-in trigger type.
pub fn builtin_registry() -> Registry {
    let mut registry = Registry::new();
    scalers_prometheus::register(&mut registry);
    scalers_queue::register(&mut registry);
    scalers_cron::register(&mut registry);
    scalers_external::register(&mut registry);
    registry
}

/// Looks up a variable in the process environment, for `*FromEnv` parameters.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Reads `path` (scalerd's format or KEDA manifests) and validates it against `registry`.
///
/// Authentication values come from the process environment and mounted files; Kubernetes
/// Secrets are not read here (they are checked against placeholders): the daemon reads them
/// through [`load_with_secrets`].
///
/// # Errors
/// [`Error::Read`] when the file cannot be read; [`Error::Config`] with every problem found.
pub fn load(path: &Path, registry: &Registry) -> Result<Vec<ValidatedObject>> {
    load_with_secrets(path, registry, &config::auth::offline_secrets)
}

/// Like [`load`], with the scaled jobs as well as the scaled objects.
///
/// # Errors
/// As [`load`].
pub fn load_all(path: &Path, registry: &Registry) -> Result<Validated> {
    let file = path.display().to_string();
    let config = config::load_file(path)?;
    Ok(config::validate_all_with_secrets(
        &config,
        registry,
        &file,
        &process_env,
        &config::auth::offline_secrets,
    )?)
}

/// Like [`load`], reading Kubernetes Secrets through `secrets`.
///
/// # Errors
/// As [`load`].
pub fn load_with_secrets(
    path: &Path,
    registry: &Registry,
    secrets: config::auth::SecretReader<'_>,
) -> Result<Vec<ValidatedObject>> {
    let file = path.display().to_string();
    let config = config::load_file(path)?;
    Ok(config::validate_with_secrets(
        &config,
        registry,
        &file,
        &process_env,
        secrets,
    )?)
}

/// What `scalerd check` reports about a valid config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// The file checked.
    pub file: String,
    /// Number of scaled objects.
    pub objects: usize,
    /// Number of scaled jobs.
    pub jobs: usize,
    /// Trigger count per type, sorted by type.
    pub triggers: BTreeMap<String, usize>,
}

impl Summary {
    /// Summarizes validated objects from `file`.
    pub fn of(file: &str, objects: &[ValidatedObject]) -> Self {
        Summary::of_all(
            file,
            &Validated {
                objects: objects.to_vec(),
                jobs: Vec::new(),
            },
        )
    }

    /// Summarizes a validated config from `file`, scaled jobs included.
    pub fn of_all(file: &str, validated: &Validated) -> Self {
        let mut triggers = BTreeMap::new();
        let all = validated
            .objects
            .iter()
            .flat_map(|o| &o.triggers)
            .chain(validated.jobs.iter().flat_map(|j| &j.triggers));
        for t in all {
            *triggers.entry(t.trigger_type.clone()).or_default() += 1;
        }
        Summary {
            file: file.to_owned(),
            objects: validated.objects.len(),
            jobs: validated.jobs.len(),
            triggers,
        }
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total: usize = self.triggers.values().sum();
        let kinds: Vec<String> = self
            .triggers
            .iter()
            .map(|(t, n)| format!("{t} {n}"))
            .collect();
        let mut parts = Vec::new();
        if self.objects > 0 || self.jobs == 0 {
            parts.push(plural(self.objects, "scaled object"));
        }
        if self.jobs > 0 {
            parts.push(plural(self.jobs, "scaled job"));
        }
        write!(
            f,
            "{}: ok: {}, {} ({})",
            self.file,
            parts.join(", "),
            plural(total, "trigger"),
            kinds.join(", ")
        )
    }
}
