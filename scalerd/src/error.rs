//! The daemon library's error type.

use scalers_core::ConfigErrors;

/// Result with scalerd's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What scalerd's commands can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Cluster mode (no `--config`) without a reachable cluster.
    #[error(
        "cluster mode (no --config) needs a cluster: no kubeconfig or service account answered"
    )]
    NoCluster,
    /// The config is invalid (every problem listed, one per line).
    #[error("{0}")]
    Config(ConfigErrors),
    /// A file could not be read.
    #[error("{file}: cannot read the file")]
    Read {
        /// The file.
        file: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The trace file is malformed.
    #[error("{file}: line {line}: {message}")]
    Trace {
        /// The trace file.
        file: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The trace does not match the scaled object's triggers.
    #[error("{file}: {message}")]
    TraceColumns {
        /// The trace file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// The admin server could not bind its address.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The admin server failed.
    #[error("admin server failed")]
    Serve(#[source] std::io::Error),
    /// A running daemon could not be asked for its status.
    #[error("{url}: {message}")]
    Fetch {
        /// The endpoint, without credentials.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// Kubernetes could not be used.
    #[error("kubernetes")]
    Kube(#[source] crate::kube::KubeError),
    /// The async runtime could not start.
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    /// The output could not be written.
    #[error("cannot write the output")]
    Write(#[source] std::io::Error),
    /// `--scaled-object` names no object, or is needed and missing.
    #[error("{0}")]
    Selection(String),
}

impl Error {
    /// Whether the error is the user's input (config, trace, selection), as opposed to I/O.
    pub fn is_input(&self) -> bool {
        !matches!(
            self,
            Error::Read { .. }
                | Error::Write(_)
                | Error::Runtime(_)
                | Error::Bind { .. }
                | Error::Serve(_)
                | Error::Fetch { .. }
                | Error::Kube(_)
        )
    }
}

impl From<scalers_core::Error> for Error {
    fn from(e: scalers_core::Error) -> Self {
        match e {
            scalers_core::Error::Config(c) => Error::Config(c),
            scalers_core::Error::Read { file, source } => Error::Read { file, source },
            other => Error::Selection(other.to_string()),
        }
    }
}

impl From<ConfigErrors> for Error {
    fn from(e: ConfigErrors) -> Self {
        Error::Config(e)
    }
}
