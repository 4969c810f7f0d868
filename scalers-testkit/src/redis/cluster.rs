//! A 3-master Redis cluster: from `.ci/run`, or started here.

use std::fmt;
use std::net::TcpListener;
use std::process::Command;

use super::{
    CLUSTER, READY_DEADLINE, REDIS_CLUSTER_ENV, RedisClient, RedisOptions, RedisServer, Resp,
    missing, redis_process, run, server_args,
};
use crate::eventually;
use crate::process::{free_ports, run_tool, temp_dir};

/// A 3-master Redis Cluster for tests.
///
/// [`RedisCluster::shared`] is the test binary's cluster: the one `.ci/run` started
/// ([`REDIS_CLUSTER_ENV`]), or else three `redis-server --cluster-enabled yes` joined with
/// `redis-cli --cluster create` (about 2.5 s).
pub struct RedisCluster {
    nodes: Vec<String>,
    _servers: Vec<RedisServer>,
}

impl fmt::Debug for RedisCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCluster")
            .field("nodes", &self.nodes)
            .finish()
    }
}

impl RedisCluster {
    /// The test binary's cluster, started on first use.
    ///
    /// # Panics
    /// When `redis-server` or `redis-cli` is missing (naming the Debian package) or the cluster
    /// does not form within 30 s.
    pub async fn shared() -> &'static RedisCluster {
        CLUSTER
            .get_or_init(|| async {
                match std::env::var(REDIS_CLUSTER_ENV) {
                    Ok(nodes) => RedisCluster {
                        nodes: nodes
                            .split(',')
                            .map(|n| n.trim().to_owned())
                            .filter(|n| !n.is_empty())
                            .collect(),
                        _servers: Vec::new(),
                    },
                    Err(_) => RedisCluster::start().await,
                }
            })
            .await
    }

    async fn start() -> RedisCluster {
        let mut servers = Vec::new();
        for _ in 0..3 {
            // Each node also listens on its port + 10000 (the cluster bus).
            let options = RedisOptions {
                args: vec![
                    "--cluster-enabled".to_owned(),
                    "yes".to_owned(),
                    "--cluster-config-file".to_owned(),
                    "nodes.conf".to_owned(),
                    "--cluster-node-timeout".to_owned(),
                    "2000".to_owned(),
                ],
                ..RedisOptions::default()
            };
            servers.push(start_cluster_node(options).await);
        }
        let nodes: Vec<String> = servers.iter().map(|s| s.address().to_owned()).collect();
        let mut args = vec!["--cluster".to_owned(), "create".to_owned()];
        args.extend(nodes.iter().cloned());
        args.extend(["--cluster-replicas", "0", "--cluster-yes"].map(str::to_owned));
        let output = run_tool(Command::new("redis-cli").args(&args), &missing("redis-cli"));
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let cluster = RedisCluster {
            nodes,
            _servers: servers,
        };
        cluster.wait_ok().await;
        cluster
    }

    async fn wait_ok(&self) {
        for node in &self.nodes {
            let client = RedisClient::new(node.clone());
            eventually(READY_DEADLINE, || {
                let reply = client.try_cmd(&["CLUSTER", "INFO"]);
                async move {
                    let reply = reply?;
                    let text = reply.as_str().unwrap_or_default();
                    if text.contains("cluster_state:ok") {
                        Ok(())
                    } else {
                        Err(format!("not ok yet: {text}"))
                    }
                }
            })
            .await;
        }
    }

    /// `host:port` of each node.
    pub fn nodes(&self) -> &[String] {
        &self.nodes
    }

    /// A [`RedisClient`] on each node.
    pub fn clients(&self) -> Vec<RedisClient> {
        self.nodes
            .iter()
            .map(|n| RedisClient::new(n.clone()))
            .collect()
    }

    /// Sends a one-key command to the node owning the key (following `MOVED`); it must succeed.
    ///
    /// # Panics
    /// When no node answers or the command fails.
    pub fn cmd(&self, args: &[&str]) -> Resp {
        let mut address = self.nodes[0].clone();
        for _ in 0..5 {
            let reply = RedisClient::new(address.clone())
                .try_cmd(args)
                .unwrap_or_else(|e| panic!("{args:?}: {e}"));
            match reply {
                Resp::Error(e) if e.starts_with("MOVED ") => {
                    address = e.rsplit(' ').next().unwrap_or_default().to_owned();
                }
                Resp::Error(e) => panic!("{address} {args:?}: {e}"),
                reply => return reply,
            }
        }
        panic!("{args:?}: too many redirections");
    }

    /// Creates (or resets) ACL user `user` with `password` on every node.
    ///
    /// # Panics
    /// When a node refuses.
    pub fn create_user(&self, user: &str, password: &str) {
        for client in self.clients() {
            client.create_user(user, password);
        }
    }
}

/// A cluster node: a server whose bus port (port + 10000) is free too.
async fn start_cluster_node(options: RedisOptions) -> RedisServer {
    // `free_port(true)` only picks ports whose bus port is free; `start` picks its own, so
    // pass the port explicitly and retry on a collision.
    for _ in 0..5 {
        let port = cluster_port();
        let dir = temp_dir("redis-cluster");
        let mut args = server_args(port, &dir);
        args.extend(options.args.iter().cloned());
        let mut process = redis_process("redis-server", args, dir.join("redis.log"));
        let client = RedisClient::new(format!("127.0.0.1:{port}"));
        if run(&mut process, &client).await {
            return RedisServer {
                address: format!("127.0.0.1:{port}"),
                tls_address: None,
                tls: None,
                password: None,
                process: Some(process),
            };
        }
    }
    panic!("no cluster node could start");
}

/// A loopback port nobody listens on whose cluster bus port (port + 10000) is free too.
fn cluster_port() -> u16 {
    loop {
        let [port] = free_ports();
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}
