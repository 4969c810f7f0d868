//! [`RunOptions`]: everything `scalerd run` is told, as plain data.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::kube::{LeaseTimings, RateLimitSettings};

/// Default admin address.
pub const DEFAULT_ADMIN_ADDR: &str = "127.0.0.1:9102";

/// Everything `scalerd run` is told, as plain data.
#[derive(Clone)]
pub struct RunOptions {
    /// The config file; none: cluster mode (KEDA's ScaledObjects and authentications are
    /// watched in the cluster).
    pub config: Option<PathBuf>,
    /// Cluster mode: the namespaces to watch (every namespace when empty).
    pub watch_namespaces: Vec<String>,
    /// Log writes instead of doing them.
    pub dry_run: bool,
    /// Where the admin server listens (port 0: any free port; ask [`App::admin_addr`](crate::daemon::App::admin_addr)).
    pub admin_addr: SocketAddr,
    /// Longest time one trigger sample may take.
    pub sample_timeout: Duration,
    /// Longest time to wait for the loops to stop on shutdown.
    pub drain_timeout: Duration,
    /// How often to look for a changed config file (zero: never).
    pub watch_interval: Duration,
    /// The kubeconfig file (default: as kube-rs infers: `KUBECONFIG`, `~/.kube/config`, or the
    /// in-cluster service account).
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context (default: the current one).
    pub context: Option<String>,
    /// A ready client instead of the kubeconfig (embedders and tests).
    pub kube_client: Option<kube::Client>,
    /// Coordinate through a Lease so that only one replica writes (default: on in a pod).
    pub leader_elect: Option<bool>,
    /// Every replica active, each owning a share of the objects through shard Leases
    /// (`--sharding`); leader election is then off.
    pub sharding: bool,
    /// The number of shard Leases with [`RunOptions::sharding`].
    pub shards: u32,
    /// Name of the Lease (with sharding: the prefix of the shard and membership Leases).
    pub lease_name: String,
    /// Namespace of the Lease, and of the Secrets of cluster-wide authentications.
    pub namespace: String,
    /// This process's identity in the Lease (default: `POD_NAME`, else host name and pid).
    pub identity: String,
    /// Lease timings.
    pub lease_timings: LeaseTimings,
    /// The client-side rate limit of calls to the Kubernetes API (not applied to
    /// [`RunOptions::kube_client`], whose maker chooses).
    pub kube_api: RateLimitSettings,
}

impl RunOptions {
    /// Defaults for cluster mode: no config file, ScaledObjects watched in every namespace.
    pub fn cluster() -> Self {
        RunOptions {
            config: None,
            ..RunOptions::new(PathBuf::new())
        }
    }

    /// Defaults for `config`.
    pub fn new(config: PathBuf) -> Self {
        RunOptions {
            config: Some(config),
            watch_namespaces: Vec::new(),
            dry_run: false,
            admin_addr: DEFAULT_ADMIN_ADDR
                .parse()
                .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 9102))),
            sample_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(10),
            watch_interval: Duration::from_secs(2),
            kubeconfig: None,
            context: None,
            kube_client: None,
            leader_elect: None,
            sharding: false,
            shards: crate::kube::DEFAULT_SHARDS,
            lease_name: "scalerd".to_owned(),
            namespace: std::env::var("POD_NAMESPACE").unwrap_or_else(|_| "default".to_owned()),
            identity: default_identity(),
            lease_timings: LeaseTimings::default(),
            kube_api: RateLimitSettings::default(),
        }
    }
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("config", &self.config)
            .field("watch_namespaces", &self.watch_namespaces)
            .field("dry_run", &self.dry_run)
            .field("admin_addr", &self.admin_addr)
            .field("kubeconfig", &self.kubeconfig)
            .field("context", &self.context)
            .field("kube_client", &self.kube_client.is_some())
            .field("leader_elect", &self.leader_elect)
            .field("sharding", &self.sharding)
            .field("shards", &self.shards)
            .field("lease_name", &self.lease_name)
            .field("namespace", &self.namespace)
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

fn default_identity() -> String {
    std::env::var("POD_NAME")
        .ok()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| {
            let host = std::fs::read_to_string("/etc/hostname")
                .map(|h| h.trim().to_owned())
                .ok()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "scalerd".to_owned());
            format!("{host}-{}", std::process::id())
        })
}
