//! The command line: `scalerd check` and `scalerd simulate`.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use scalers_core::config::ValidatedObject;
use scalers_core::trigger::Registry;

use crate::error::{Error, Result};
use crate::simulate::{Trace, simulate, to_csv};

/// Exit code for invalid input (config, trace, arguments).
pub const EXIT_INVALID: i32 = 2;
/// Exit code for a failure to read input.
pub const EXIT_FAILURE: i32 = 1;

/// scalerd: event-driven autoscaling for Kubernetes, KEDA-compatible.
#[derive(Debug, Parser)]
#[command(name = "scalerd", version, about)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// scalerd's subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate a config (scalerd format or KEDA ScaledObject manifests).
    Check {
        /// The config file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Replay a recorded trace of trigger values through the decision engine, offline.
    Simulate {
        /// The config file.
        #[arg(long, short)]
        config: PathBuf,
        /// CSV trace: `time,<trigger>,...`, time in seconds, empty or `error` for a failure.
        #[arg(long, short)]
        trace: PathBuf,
        /// The scaled object to simulate, when the config has several.
        #[arg(long)]
        scaled_object: Option<String>,
        /// Replica count at the start.
        #[arg(long, default_value_t = 1)]
        initial_replicas: u32,
    },
}

/// Parses the process arguments, runs the command with `registry`, and returns the exit code.
pub fn main_with(registry: Registry) -> i32 {
    let cli = Cli::parse();
    let mut stdout = std::io::stdout().lock();
    match run(cli.command, &registry, &mut stdout) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{e}");
            if e.is_input() {
                EXIT_INVALID
            } else {
                EXIT_FAILURE
            }
        }
    }
}

/// Runs one command, writing its output to `out`.
///
/// # Errors
/// The command's error; [`Error::is_input`] tells an invalid input from a failure.
pub fn run(command: Command, registry: &Registry, out: &mut dyn Write) -> Result<()> {
    match command {
        Command::Check { config } => {
            let objects = crate::load(&config, registry)?;
            let summary = crate::Summary::of(&config.display().to_string(), &objects);
            writeln!(out, "{summary}").map_err(Error::Write)?;
        }
        Command::Simulate {
            config,
            trace,
            scaled_object,
            initial_replicas,
        } => {
            let objects = crate::load(&config, registry)?;
            let object = select(&objects, scaled_object.as_deref(), &config)?;
            let trace_file = trace.display().to_string();
            let text = std::fs::read_to_string(&trace).map_err(|source| Error::Read {
                file: trace_file.clone(),
                source,
            })?;
            let trace = Trace::parse(&text, &trace_file)?;
            let ticks = simulate(object, &trace, &trace_file, initial_replicas)?;
            out.write_all(to_csv(&ticks).as_bytes())
                .map_err(Error::Write)?;
        }
    }
    Ok(())
}

/// Picks the object named `name`, or the only one.
fn select<'a>(
    objects: &'a [ValidatedObject],
    name: Option<&str>,
    config: &Path,
) -> Result<&'a ValidatedObject> {
    let names = || {
        objects
            .iter()
            .map(|o| o.object.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match name {
        Some(n) => objects.iter().find(|o| o.object.name == n).ok_or_else(|| {
            Error::Selection(format!(
                "{}: no scaled object named {n:?}; objects: {}",
                config.display(),
                names()
            ))
        }),
        None if objects.len() == 1 => Ok(&objects[0]),
        None => Err(Error::Selection(format!(
            "{}: {} scaled objects; choose one with --scaled-object: {}",
            config.display(),
            objects.len(),
            names()
        ))),
    }
}
