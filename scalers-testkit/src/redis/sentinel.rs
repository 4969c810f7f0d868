//! A sentinel set watching one master: from `.ci/run`, or started here.

use std::fmt;
use std::fs;

use super::{
    READY_DEADLINE, REDIS_SENTINEL_ENV, REDIS_SENTINEL_MASTER_ENV, RedisClient, RedisOptions,
    RedisServer, Resp, SENTINEL, redis_process, run,
};
use crate::eventually;
use crate::process::{ServiceProcess, free_ports, temp_dir};

/// A sentinel set for tests: one master, one replica, one sentinel monitoring the master.
///
/// [`RedisSentinel::shared`] is the test binary's set: the sentinel `.ci/run` started
/// ([`REDIS_SENTINEL_ENV`], master name [`REDIS_SENTINEL_MASTER_ENV`]), or else one started
/// here with `redis-server` and `redis-sentinel` (about 1 s). [`RedisSentinel::start`] starts a
/// test's own set, with passwords if asked.
pub struct RedisSentinel {
    sentinel: String,
    master_name: String,
    sentinel_password: Option<String>,
    master_password: Option<String>,
    servers: Vec<RedisServer>,
    _sentinel: Option<ServiceProcess>,
}

impl fmt::Debug for RedisSentinel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSentinel")
            .field("sentinel", &self.sentinel)
            .field("master_name", &self.master_name)
            .finish()
    }
}

impl RedisSentinel {
    /// The test binary's sentinel set (no passwords), started on first use.
    ///
    /// # Panics
    /// When `redis-server` or `redis-sentinel` is missing (naming the Debian package) or the
    /// sentinel does not know its master within 30 s.
    pub async fn shared() -> &'static RedisSentinel {
        SENTINEL
            .get_or_init(|| async {
                match std::env::var(REDIS_SENTINEL_ENV) {
                    Ok(sentinel) => RedisSentinel {
                        sentinel: sentinel.trim().to_owned(),
                        master_name: std::env::var(REDIS_SENTINEL_MASTER_ENV)
                            .unwrap_or_else(|_| "mymaster".to_owned()),
                        sentinel_password: None,
                        master_password: None,
                        servers: Vec::new(),
                        _sentinel: None,
                    },
                    Err(_) => RedisSentinel::start(None, None).await,
                }
            })
            .await
    }

    /// Starts a set of this test's own, monitoring the master as `mymaster`: the master and the
    /// replica with `requirepass master_password`, the sentinel with `requirepass
    /// sentinel_password`, when given.
    ///
    /// # Panics
    /// When a binary is missing or the sentinel does not know its master within 30 s.
    pub async fn start(
        master_password: Option<&str>,
        sentinel_password: Option<&str>,
    ) -> RedisSentinel {
        let master = RedisServer::start(RedisOptions {
            password: master_password.map(str::to_owned),
            ..RedisOptions::default()
        })
        .await;
        let mut replica_args = vec![
            "--replicaof".to_owned(),
            "127.0.0.1".to_owned(),
            master.port().to_string(),
        ];
        if let Some(p) = master_password {
            replica_args.push("--masterauth".to_owned());
            replica_args.push(p.to_owned());
        }
        let replica = RedisServer::start(RedisOptions {
            password: master_password.map(str::to_owned),
            args: replica_args,
            ..RedisOptions::default()
        })
        .await;
        let master_name = "mymaster".to_owned();
        for _ in 0..5 {
            let [port] = free_ports();
            let dir = temp_dir("redis-sentinel");
            let mut conf = format!(
                "port {port}\nbind 127.0.0.1\ndir {}\n\
                 sentinel monitor {master_name} 127.0.0.1 {} 1\n\
                 sentinel down-after-milliseconds {master_name} 5000\n",
                dir.display(),
                master.port()
            );
            if let Some(p) = master_password {
                conf.push_str(&format!("sentinel auth-pass {master_name} {p}\n"));
            }
            if let Some(p) = sentinel_password {
                conf.push_str(&format!("requirepass {p}\n"));
            }
            let conf_path = dir.join("sentinel.conf");
            fs::write(&conf_path, conf).expect("write sentinel.conf");
            let mut process = redis_process(
                "redis-sentinel",
                vec![conf_path.display().to_string()],
                dir.join("sentinel.log"),
            );
            let address = format!("127.0.0.1:{port}");
            let client = match sentinel_password {
                Some(p) => RedisClient::new(address.clone()).with_auth("default", p),
                None => RedisClient::new(address.clone()),
            };
            if !run(&mut process, &client).await {
                continue;
            }
            let set = RedisSentinel {
                sentinel: address,
                master_name: master_name.clone(),
                sentinel_password: sentinel_password.map(str::to_owned),
                master_password: master_password.map(str::to_owned),
                servers: vec![master, replica],
                _sentinel: Some(process),
            };
            let expected = set.servers[0].address().to_owned();
            eventually(READY_DEADLINE, || {
                let got = set.try_master_address();
                let expected = expected.clone();
                async move {
                    match got {
                        Ok(a) if a == expected => Ok(()),
                        other => Err(format!("sentinel answers {other:?}")),
                    }
                }
            })
            .await;
            return set;
        }
        panic!("redis-sentinel did not start");
    }

    /// `host:port` of the sentinel.
    pub fn sentinel_address(&self) -> &str {
        &self.sentinel
    }

    /// The name the sentinel monitors the master under.
    pub fn master_name(&self) -> &str {
        &self.master_name
    }

    fn sentinel_client(&self) -> RedisClient {
        let client = RedisClient::new(self.sentinel.clone());
        match &self.sentinel_password {
            Some(p) => client.with_auth("default", p),
            None => client,
        }
    }

    fn try_master_address(&self) -> Result<String, String> {
        let reply = self.sentinel_client().try_cmd(&[
            "SENTINEL",
            "GET-MASTER-ADDR-BY-NAME",
            &self.master_name,
        ])?;
        match reply {
            Resp::Array(Some(items)) if items.len() == 2 => Ok(format!(
                "{}:{}",
                items[0].as_str().unwrap_or_default(),
                items[1].as_str().unwrap_or_default()
            )),
            other => Err(format!("{other:?}")),
        }
    }

    /// The master's `host:port`, as the sentinel reports it.
    ///
    /// # Panics
    /// When the sentinel does not know the master.
    pub fn master_address(&self) -> String {
        self.try_master_address()
            .unwrap_or_else(|e| panic!("sentinel {}: {e}", self.sentinel))
    }

    /// A [`RedisClient`] on the master (authenticated when it has a password).
    pub fn master(&self) -> RedisClient {
        let client = RedisClient::new(self.master_address());
        match &self.master_password {
            Some(p) => client.with_auth("default", p),
            None => client,
        }
    }

    /// Kills the master (SIGKILL) of a set this test started; the sentinel notices after 5 s.
    ///
    /// # Panics
    /// On the shared set or one `.ci/run` started.
    pub fn kill_master(&mut self) {
        self.servers
            .first_mut()
            .expect("only a started set has servers")
            .kill();
    }

    /// Starts the killed master again on the same port, empty.
    ///
    /// # Panics
    /// On the shared set, or when the master does not come back within 30 s.
    pub async fn restart_master(&mut self) {
        self.servers
            .first_mut()
            .expect("only a started set has servers")
            .restart()
            .await;
    }

    /// Sends one command to the master; it must succeed.
    ///
    /// # Panics
    /// When the master cannot be reached or answers an error.
    pub fn cmd(&self, args: &[&str]) -> Resp {
        self.master().cmd(args)
    }
}
