//! One way to run the service processes of the tests (redis-server, redis-sentinel, prometheus,
//! the Pushgateway, tansu): a [`ServiceProcess`] started with its output in a log file, waited
//! for until a readiness probe succeeds, killed and started again on demand, killed when
//! dropped; and, whatever way the test process ends, killed by the [watchdog](tell_watchdog)
//! with its temp dir removed.
//!
//! The watchdog is a `sh` reading a pipe from the test process. When the test process exits —
//! normally, on panic, or killed by SIGKILL, as a nextest timeout does — the kernel closes the
//! pipe, the watchdog reads end-of-file, kills every process it was told of and removes every
//! directory. A `static` is never dropped, so a `Drop` guard could not do this for the shared
//! services; `PR_SET_PDEATHSIG` would need `unsafe`; a fixed `timeout` would leave them running
//! long after a short test.

use std::fmt;
use std::fs;
use std::future::Future;
use std::io::{ErrorKind, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// How often a starting process is checked and probed.
const PROBE_INTERVAL: Duration = Duration::from_millis(20);

static WATCHDOG: Mutex<Option<Watchdog>> = Mutex::new(None);

/// The watchdog of this test process: the shell, and the pipe it reads.
struct Watchdog {
    _child: Child,
    stdin: ChildStdin,
}

/// Hands a line (`pid N` or `dir PATH`) to the watchdog, starting it on first use.
fn tell_watchdog(line: &str) {
    let mut watchdog = WATCHDOG.lock().unwrap_or_else(|e| e.into_inner());
    if watchdog.is_none() {
        let mut child = Command::new("sh")
            .arg("-c")
            // Collect lines until stdin closes (the test process is gone), then clean up. A
            // killed process may still be writing for a moment: retry the removal.
            .arg(
                r#"pids=; dirs=
                   while read -r kind value; do
                     case $kind in pid) pids="$pids $value";; dir) dirs="$dirs $value";; esac
                   done
                   kill -KILL $pids 2>/dev/null
                   for d in $dirs; do rm -rf "$d" 2>/dev/null || { sleep 1; rm -rf "$d"; }; done"#,
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the watchdog shell (sh)");
        let stdin = child.stdin.take().expect("watchdog stdin");
        *watchdog = Some(Watchdog {
            _child: child,
            stdin,
        });
    }
    if let Some(w) = watchdog.as_mut() {
        writeln!(w.stdin, "{line}").expect("hand a line to the watchdog");
    }
}

/// A fresh directory `scalers-testkit-<kind>_<pid>_<time>_<n>` (see
/// [`unique_name`](crate::unique_name)) under the system temp dir, removed by the watchdog when
/// the test process exits.
pub(crate) fn temp_dir(kind: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("scalers-testkit-{}", crate::unique_name(kind)));
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    tell_watchdog(&format!("dir {}", dir.display()));
    dir
}

/// `N` distinct loopback ports nobody listened on when probed (all held at once, so they
/// differ). Another process may take one before the service binds it: callers retry.
pub(crate) fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: [TcpListener; N] = std::array::from_fn(|_| {
        TcpListener::bind("127.0.0.1:0").expect("bind a free loopback port")
    });
    listeners.map(|l| l.local_addr().expect("local address").port())
}

/// Runs a tool (`openssl`, `redis-cli`) to completion and returns its output.
///
/// # Panics
/// When it cannot be started: with `hint` (what to install) when it is not found.
pub(crate) fn run_tool(command: &mut Command, hint: &str) -> Output {
    let program = command.get_program().to_string_lossy().into_owned();
    match command.stdin(Stdio::null()).output() {
        Ok(output) => output,
        Err(e) if e.kind() == ErrorKind::NotFound => panic!("{hint}"),
        Err(e) => panic!("run {program}: {e}"),
    }
}

/// Why a [`ServiceProcess`] did not start.
#[derive(Debug)]
pub(crate) enum NotStarted {
    /// It exited before it was ready (or just after: another process held its port).
    Exited {
        /// How it ended.
        status: ExitStatus,
        /// Its log.
        log: String,
    },
    /// Its probe did not succeed in time; the process was killed.
    NotReady {
        /// How long it had.
        deadline: Duration,
        /// The probe's last answer.
        last: String,
        /// Its log.
        log: String,
    },
}

impl fmt::Display for NotStarted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotStarted::Exited { status, log } => write!(f, "exited with {status}\n{log}"),
            NotStarted::NotReady {
                deadline,
                last,
                log,
            } => write!(f, "not ready within {deadline:?} ({last})\n{log}"),
        }
    }
}

/// A service process of the tests: a program, its arguments and its log file; started (and
/// started again after [`kill`](ServiceProcess::kill)) by [`start`](ServiceProcess::start),
/// killed when dropped, and killed by the watchdog when the test process ends.
pub(crate) struct ServiceProcess {
    program: PathBuf,
    args: Vec<String>,
    log: PathBuf,
    /// What to install when the program is not found.
    hint: String,
    /// The process, while it runs.
    child: Option<Child>,
}

impl ServiceProcess {
    /// `program` with `args`, its output (stdout and stderr) going to `log`; `hint` is the panic
    /// message when the program is not found (which package to install, or which `.ci/run` step).
    pub(crate) fn new(
        program: impl Into<PathBuf>,
        args: Vec<String>,
        log: PathBuf,
        hint: String,
    ) -> Self {
        ServiceProcess {
            program: program.into(),
            args,
            log,
            hint,
            child: None,
        }
    }

    /// Starts the process and waits until `probe` succeeds, for at most `deadline`.
    ///
    /// Between probes it checks the process is alive, and again after the probe succeeds:
    /// another process may hold the port and answer the probe while ours exits.
    ///
    /// # Errors
    /// [`NotStarted`] when the process exits first or is not ready in time (it is then killed).
    ///
    /// # Panics
    /// When the program cannot be started (with the hint when it is not found), or when it runs.
    pub(crate) async fn start<F, Fut>(
        &mut self,
        deadline: Duration,
        mut probe: F,
    ) -> Result<(), NotStarted>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<(), String>>,
    {
        assert!(
            self.child.is_none(),
            "{} is running",
            self.program.display()
        );
        self.spawn();
        let end = Instant::now() + deadline;
        loop {
            if let Some(status) = self.exited() {
                return Err(NotStarted::Exited {
                    status,
                    log: self.log_text(),
                });
            }
            let last = match probe().await {
                Ok(()) => {
                    return match self.exited() {
                        Some(status) => Err(NotStarted::Exited {
                            status,
                            log: self.log_text(),
                        }),
                        None => Ok(()),
                    };
                }
                Err(last) => last,
            };
            if Instant::now() >= end {
                self.kill();
                return Err(NotStarted::NotReady {
                    deadline,
                    last,
                    log: self.log_text(),
                });
            }
            tokio::time::sleep(PROBE_INTERVAL).await;
        }
    }

    /// Starts the program with its output in the log file and hands its PID to the watchdog.
    fn spawn(&mut self) {
        let out = fs::File::create(&self.log)
            .unwrap_or_else(|e| panic!("create {}: {e}", self.log.display()));
        let err = out.try_clone().expect("clone the log file handle");
        let child = match Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
        {
            Ok(child) => child,
            Err(e) if e.kind() == ErrorKind::NotFound => panic!("{}", self.hint),
            Err(e) => panic!("start {}: {e}", self.program.display()),
        };
        tell_watchdog(&format!("pid {}", child.id()));
        self.child = Some(child);
    }

    /// How the process ended, if it has (it is then forgotten, so it can be started again).
    fn exited(&mut self) -> Option<ExitStatus> {
        let status = self.child.as_mut()?.try_wait().ok()??;
        self.child = None;
        Some(status)
    }

    /// Kills the process (SIGKILL) and waits until it is gone; nothing when it is not running.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// What the process has written to its log so far.
    pub(crate) fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
