//! The command line: `scalerd check`, `simulate`, `probe`, `run` and `status`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Parser, Subcommand};
use scalers_core::config::ValidatedObject;
use scalers_core::trigger::Registry;

use crate::error::{Error, Result};
use crate::tools::simulate::{Trace, simulate, to_csv};

/// Exit code for invalid input (config, trace, arguments).
pub const EXIT_INVALID: i32 = 2;
/// Exit code for a failure to read input, or a trigger that failed in `probe`.
pub const EXIT_FAILURE: i32 = 1;
/// Exit code of `scalerd run` for an invalid config.
pub const EXIT_BAD_CONFIG: i32 = 64;

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
        #[arg(long, conflicts_with = "scaled_job")]
        scaled_object: Option<String>,
        /// The scaled job to simulate (the only one of a config without scaled objects is
        /// taken without it). The trace may have a `completed` column: Jobs finishing then.
        #[arg(long)]
        scaled_job: Option<String>,
        /// Replica count at the start.
        #[arg(long, default_value_t = 1)]
        initial_replicas: u32,
        /// Also draw the run as an SVG chart into this file (values, targets, replicas and
        /// what decided each tick).
        #[arg(long, value_name = "FILE.svg")]
        plot: Option<PathBuf>,
    },
    /// Run the daemon: one loop per scaled object, writing the targets' scale subresource.
    Run {
        /// The config file; without one, cluster mode: KEDA's ScaledObject, ScaledJob,
        /// TriggerAuthentication and ClusterTriggerAuthentication resources are watched.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Cluster mode: watch this namespace only (repeatable; default: every namespace).
        #[arg(long, value_name = "NS")]
        watch_namespace: Vec<String>,
        /// Log and record writes instead of doing them; without a cluster, simulate the
        /// workloads in memory.
        #[arg(long)]
        dry_run: bool,
        /// Address of the admin server (/livez, /readyz, /metrics, /status).
        #[arg(long, default_value = crate::daemon::DEFAULT_ADMIN_ADDR)]
        admin_addr: std::net::SocketAddr,
        /// Longest time one trigger sample may take, in seconds.
        #[arg(long, default_value_t = 10.0)]
        sample_timeout: f64,
        /// Longest time to wait for the loops on shutdown, in seconds.
        #[arg(long, default_value_t = 10.0)]
        drain_timeout: f64,
        /// The kubeconfig file (default: KUBECONFIG, ~/.kube/config, or the in-cluster service
        /// account).
        #[arg(long)]
        kubeconfig: Option<PathBuf>,
        /// The kubeconfig context (default: the current one).
        #[arg(long)]
        context: Option<String>,
        /// Coordinate replicas through a Lease so only one writes (default: true in a pod).
        #[arg(long, num_args = 0..=1, default_missing_value = "true")]
        leader_elect: Option<bool>,
        /// Every replica active, each owning a share of the objects through shard Leases
        /// (instead of --leader-elect).
        #[arg(long)]
        sharding: bool,
        /// The number of shard Leases with --sharding (the most replicas that can be active).
        #[arg(long, default_value_t = crate::kube::DEFAULT_SHARDS)]
        shards: u32,
        /// Name of the leader Lease (with --sharding: the prefix of the shard Leases).
        #[arg(long, default_value = "scalerd")]
        lease_name: String,
        /// Namespace of the leader Lease and of cluster-wide authentications' Secrets (default:
        /// POD_NAMESPACE, else `default`).
        #[arg(long)]
        lease_namespace: Option<String>,
        /// This replica's identity in the Lease (default: POD_NAME, else host name and pid).
        #[arg(long)]
        identity: Option<String>,
        /// Lease duration, renew deadline and retry period, in seconds.
        #[arg(long, num_args = 3, value_names = ["DURATION", "RENEW", "RETRY"], default_values_t = [15.0, 10.0, 2.0])]
        lease_timings: Vec<f64>,
        /// How often to look for a changed config file, in seconds (0: only on SIGHUP).
        #[arg(long, default_value_t = 2.0)]
        config_watch_interval: f64,
        /// Calls per second to the Kubernetes API, sustained (0: no limit).
        #[arg(long, default_value_t = crate::kube::DEFAULT_QPS)]
        kube_api_qps: f64,
        /// Calls to the Kubernetes API that may go at once after a quiet time.
        #[arg(long, default_value_t = crate::kube::DEFAULT_BURST)]
        kube_api_burst: u32,
    },
    /// Print the JSON Schema of scalerd's own config format (for editors and CI checks).
    Schema,
    /// Print a running daemon's status as a table.
    Status {
        /// The daemon's admin address.
        #[arg(long, default_value = "http://127.0.0.1:9102")]
        url: String,
    },
    /// Sample every trigger once against its live source; one JSON line per trigger.
    Probe {
        /// The config file.
        #[arg(long, short)]
        config: PathBuf,
        /// Only this scaled object.
        #[arg(long)]
        scaled_object: Option<String>,
        /// Give up on a trigger after this many seconds.
        #[arg(long, default_value_t = 10.0)]
        timeout: f64,
    },
}

/// Parses the process arguments, runs the command with `registry`, and returns the exit code.
pub fn main_with(registry: Registry) -> i32 {
    let cli = Cli::parse();
    init_tracing(matches!(cli.command, Command::Run { .. }));
    if let Command::Run { .. } = cli.command {
        return match run_daemon(cli.command, registry) {
            Ok(()) => 0,
            Err(e @ Error::Config(_)) => {
                eprintln!("{e}");
                EXIT_BAD_CONFIG
            }
            Err(e) => {
                eprintln!("scalerd: {}", error_chain(&e));
                EXIT_FAILURE
            }
        };
    }
    let mut stdout = std::io::stdout().lock();
    match run(cli.command, &registry, &mut stdout) {
        Ok(Outcome::Success) => 0,
        Ok(Outcome::SomeFailed) => EXIT_FAILURE,
        Err(e) => {
            eprintln!("{}", error_chain(&e));
            if e.is_input() {
                EXIT_INVALID
            } else {
                EXIT_FAILURE
            }
        }
    }
}

/// Logs to stderr; `RUST_LOG` filters (default `info` for the daemon, `warn` otherwise).
fn init_tracing(daemon: bool) {
    use tracing_subscriber::EnvFilter;
    let default = if daemon { "info" } else { "warn" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

/// `error: cause: cause …`
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

fn seconds(name: &str, v: f64) -> Result<Duration> {
    Duration::try_from_secs_f64(v)
        .ok()
        .filter(|t| !t.is_zero())
        .ok_or_else(|| Error::Selection(format!("--{name}: expected seconds > 0, got {v}")))
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)
}

/// `scalerd run`: builds the app and runs it until SIGTERM/SIGINT.
fn run_daemon(command: Command, registry: Registry) -> Result<()> {
    let Command::Run {
        config,
        watch_namespace,
        dry_run,
        admin_addr,
        sample_timeout,
        drain_timeout,
        kubeconfig,
        context,
        leader_elect,
        sharding,
        shards,
        lease_name,
        lease_namespace,
        identity,
        lease_timings,
        config_watch_interval,
        kube_api_qps,
        kube_api_burst,
    } = command
    else {
        return Ok(());
    };
    let mut opts = match config {
        Some(config) => crate::daemon::RunOptions::new(config),
        None => crate::daemon::RunOptions::cluster(),
    };
    if !watch_namespace.is_empty() && opts.config.is_some() {
        return Err(Error::Selection(
            "--watch-namespace: only without --config (cluster mode)".to_owned(),
        ));
    }
    opts.watch_namespaces = watch_namespace;
    opts.dry_run = dry_run;
    opts.admin_addr = admin_addr;
    opts.kubeconfig = kubeconfig;
    opts.context = context;
    if sharding && leader_elect == Some(true) {
        return Err(Error::Selection(
            "--sharding and --leader-elect: choose one (with --sharding every replica is active)"
                .to_owned(),
        ));
    }
    if shards == 0 {
        return Err(Error::Selection("--shards: expected at least 1".to_owned()));
    }
    opts.leader_elect = leader_elect;
    opts.sharding = sharding;
    opts.shards = shards;
    opts.lease_name = lease_name;
    if let Some(ns) = lease_namespace {
        opts.namespace = ns;
    }
    if let Some(id) = identity {
        opts.identity = id;
    }
    if let [duration, renew, retry] = lease_timings[..] {
        opts.lease_timings = crate::kube::LeaseTimings {
            lease_duration: seconds("lease-timings", duration)?,
            renew_deadline: seconds("lease-timings", renew)?,
            retry_period: seconds("lease-timings", retry)?,
        };
    }
    opts.watch_interval = if config_watch_interval == 0.0 {
        Duration::ZERO
    } else {
        seconds("config-watch-interval", config_watch_interval)?
    };
    opts.sample_timeout = seconds("sample-timeout", sample_timeout)?;
    opts.drain_timeout = seconds("drain-timeout", drain_timeout)?;
    if !(kube_api_qps >= 0.0 && kube_api_qps.is_finite()) {
        return Err(Error::Selection(format!(
            "--kube-api-qps: expected calls per second >= 0, got {kube_api_qps}"
        )));
    }
    if kube_api_burst == 0 {
        return Err(Error::Selection(
            "--kube-api-burst: expected at least 1".to_owned(),
        ));
    }
    opts.kube_api = crate::kube::RateLimitSettings {
        qps: kube_api_qps,
        burst: kube_api_burst,
    };
    runtime()?.block_on(async {
        let app = crate::daemon::App::build(opts, registry).await?;
        if let Ok(addr) = app.admin_addr() {
            tracing::info!(%addr, "admin server listening");
        }
        app.run(crate::daemon::termination()).await
    })
}

/// `simulate --plot`: the run as an SVG chart at `path`.
#[cfg(feature = "plot")]
fn write_plot(
    path: &std::path::Path,
    object: &scalers_core::config::ValidatedObject,
    trace: &Trace,
    ticks: &[crate::tools::simulate::Tick],
) -> Result<()> {
    let svg = crate::tools::plot::render(object, trace, ticks)?;
    std::fs::write(path, svg).map_err(|e| {
        Error::Write(std::io::Error::new(
            e.kind(),
            format!("{}: {e}", path.display()),
        ))
    })
}

/// `simulate --plot` in a build without the `plot` feature.
#[cfg(not(feature = "plot"))]
fn write_plot(
    _: &std::path::Path,
    _: &scalers_core::config::ValidatedObject,
    _: &Trace,
    _: &[crate::tools::simulate::Tick],
) -> Result<()> {
    Err(Error::Selection(
        "--plot: this scalerd was built without the `plot` feature".to_owned(),
    ))
}

/// How a command that ran to its end went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Everything worked.
    Success,
    /// It ran, but some of what it checked failed (a trigger in `probe`).
    SomeFailed,
}

/// Runs one command, writing its output to `out`.
///
/// # Errors
/// The command's error; [`Error::is_input`] tells an invalid input from a failure.
pub fn run(command: Command, registry: &Registry, out: &mut dyn Write) -> Result<Outcome> {
    match command {
        Command::Check { config } => {
            let validated = crate::load_all(&config, registry)?;
            // Warnings do not fail the check: stderr, exit 0.
            for warning in validated.warnings() {
                eprintln!("warning: {warning}");
            }
            let summary = crate::Summary::of_all(&config.display().to_string(), &validated);
            writeln!(out, "{summary}").map_err(Error::Write)?;
        }
        Command::Simulate {
            config,
            trace,
            scaled_object,
            scaled_job,
            initial_replicas,
            plot,
        } => {
            let validated = crate::load_all(&config, registry)?;
            let wants_job = scaled_job.is_some()
                || (scaled_object.is_none()
                    && validated.objects.is_empty()
                    && !validated.jobs.is_empty());
            if wants_job {
                let job = select_job(&validated.jobs, scaled_job.as_deref(), &config)?;
                if plot.is_some() {
                    return Err(Error::Selection(
                        "--plot: scaled jobs are not plotted; the CSV says it all".to_owned(),
                    ));
                }
                let trace_file = trace.display().to_string();
                let text = std::fs::read_to_string(&trace).map_err(|source| Error::Read {
                    file: trace_file.clone(),
                    source,
                })?;
                let trace = Trace::parse(&text, &trace_file)?;
                let ticks = crate::tools::simulate::simulate_job(job, &trace, &trace_file)?;
                out.write_all(crate::tools::simulate::jobs_to_csv(&ticks).as_bytes())
                    .map_err(Error::Write)?;
                return Ok(Outcome::Success);
            }
            let objects = validated.objects;
            let object = select(&objects, scaled_object.as_deref(), &config)?;
            let trace_file = trace.display().to_string();
            let text = std::fs::read_to_string(&trace).map_err(|source| Error::Read {
                file: trace_file.clone(),
                source,
            })?;
            let trace = Trace::parse(&text, &trace_file)?;
            let ticks = simulate(object, &trace, &trace_file, initial_replicas)?;
            if let Some(path) = plot {
                write_plot(&path, object, &trace, &ticks)?;
            }
            out.write_all(to_csv(&ticks).as_bytes())
                .map_err(Error::Write)?;
        }
        Command::Probe {
            config,
            scaled_object,
            timeout,
        } => {
            let objects = crate::load(&config, registry)?;
            let chosen: Vec<&ValidatedObject> = match scaled_object.as_deref() {
                Some(name) => vec![select(&objects, Some(name), &config)?],
                None => objects.iter().collect(),
            };
            let timeout = seconds("timeout", timeout)?;
            let results = runtime()?.block_on(crate::tools::probe::probe(&chosen, timeout));
            for r in &results {
                writeln!(out, "{}", r.to_json()).map_err(Error::Write)?;
            }
            if results.iter().any(|r| r.outcome.is_err()) {
                return Ok(Outcome::SomeFailed);
            }
        }
        Command::Schema => {
            out.write_all(crate::tools::schema::render(registry).as_bytes())
                .map_err(Error::Write)?;
        }
        Command::Status { url } => {
            let status = runtime()?.block_on(crate::tools::status_table::fetch(&url))?;
            out.write_all(crate::tools::status_table::render(&status).as_bytes())
                .map_err(Error::Write)?;
        }
        Command::Run { .. } => {
            return Err(Error::Selection(
                "scalerd run is started through main_with".to_owned(),
            ));
        }
    }
    Ok(Outcome::Success)
}

/// How a kind of item is named in the messages of [`pick`].
struct Kind {
    /// One of them: `scaled object`.
    one: &'static str,
    /// Several, in the list of names: `objects`.
    listed: &'static str,
    /// Several, in the count: `scaled objects`.
    counted: &'static str,
    /// The flag that chooses one: `--scaled-object`.
    flag: &'static str,
}

/// Picks the item of `items` named `name` (by `name_of`), or the only one.
fn pick<'a, T>(
    items: &'a [T],
    name: Option<&str>,
    name_of: impl Fn(&T) -> &str,
    kind: &Kind,
    config: &Path,
) -> Result<&'a T> {
    let names = || items.iter().map(&name_of).collect::<Vec<_>>().join(", ");
    match name {
        Some(n) => items.iter().find(|i| name_of(i) == n).ok_or_else(|| {
            Error::Selection(format!(
                "{}: no {} named {n:?}; {}: {}",
                config.display(),
                kind.one,
                kind.listed,
                names()
            ))
        }),
        None if items.len() == 1 => Ok(&items[0]),
        None => Err(Error::Selection(format!(
            "{}: {} {}; choose one with {}: {}",
            config.display(),
            items.len(),
            kind.counted,
            kind.flag,
            names()
        ))),
    }
}

/// Picks the scaled job named `name`, or the only one.
fn select_job<'a>(
    jobs: &'a [scalers_core::config::ValidatedJob],
    name: Option<&str>,
    config: &Path,
) -> Result<&'a scalers_core::config::ValidatedJob> {
    let kind = Kind {
        one: "scaled job",
        listed: "scaled jobs",
        counted: "scaled jobs",
        flag: "--scaled-job",
    };
    pick(jobs, name, |j| j.job.name.as_str(), &kind, config)
}

/// Picks the object named `name`, or the only one.
fn select<'a>(
    objects: &'a [ValidatedObject],
    name: Option<&str>,
    config: &Path,
) -> Result<&'a ValidatedObject> {
    let kind = Kind {
        one: "scaled object",
        listed: "objects",
        counted: "scaled objects",
        flag: "--scaled-object",
    };
    pick(objects, name, |o| o.object.name.as_str(), &kind, config)
}
