//! Where the Redis servers are and how to talk to them: the connection parameters shared by the
//! list and stream triggers, parsed from KEDA's metadata.

use std::fmt;

use scalers_core::secret::{Secret, redact_url};
use scalers_core::trigger::{Invalid, Params};

/// One server address, `host:port`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Address {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl Address {
    /// Parses `host:port` (`[v6]:port` for IPv6 addresses).
    fn parse(raw: &str) -> Option<Address> {
        let (host, port) = raw.rsplit_once(':')?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let port: u16 = port.parse().ok().filter(|p| *p > 0)?;
        let valid = !host.is_empty() && !host.contains(['/', '@', ' ', '[', ']']);
        valid.then(|| Address {
            host: host.to_owned(),
            port,
        })
    }
}

/// Which kind of Redis deployment a trigger talks to, with what identifies it.
///
/// The trigger type decides the variant: `redis` and `redis-streams` are
/// [`Standalone`](Topology::Standalone), `redis-cluster*` [`Cluster`](Topology::Cluster),
/// `redis-sentinel*` [`Sentinel`](Topology::Sentinel).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Topology {
    /// One server.
    Standalone {
        /// `address`, or `host` and `port`.
        address: Address,
        /// `databaseIndex`; default 0.
        database: u32,
    },
    /// A Redis Cluster, discovered from any of its nodes.
    Cluster {
        /// `addresses`, or `hosts` and `ports`: the seed nodes.
        nodes: Vec<Address>,
    },
    /// A master found through Redis Sentinel.
    Sentinel {
        /// `addresses`, or `hosts` and `ports`: the sentinels (not the master).
        sentinels: Vec<Address>,
        /// `sentinelMaster`: the name the sentinels monitor the master under.
        master: String,
        /// `databaseIndex` on the master; default 0.
        database: u32,
        /// `sentinelUsername`: the ACL user for the sentinels, if any.
        sentinel_username: Option<Secret>,
        /// `sentinelPassword`: the password for the sentinels, if any.
        sentinel_password: Option<Secret>,
    },
}

/// The three deployment kinds, without their parameters: what a trigger type name selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TopologyKind {
    /// `redis`, `redis-streams`.
    Standalone,
    /// `redis-cluster`, `redis-cluster-streams`.
    Cluster,
    /// `redis-sentinel`, `redis-sentinel-streams`.
    Sentinel,
}

impl Topology {
    /// The kind of deployment.
    pub fn kind(&self) -> TopologyKind {
        match self {
            Topology::Standalone { .. } => TopologyKind::Standalone,
            Topology::Cluster { .. } => TopologyKind::Cluster,
            Topology::Sentinel { .. } => TopologyKind::Sentinel,
        }
    }
}

/// TLS to the servers (`enableTLS: true` or `tls: enable`): the settings every trigger shares;
/// `ca` adds to the system roots (see [`scalers_core::tls`]). The client key is kept decrypted
/// (`keyPassword` is applied while parsing), so `client.key_password` is always `None`.
pub type Tls = scalers_core::tls::TlsSettings;

pub use scalers_core::tls::ClientIdentity;

/// Everything needed to reach the data: topology, credentials, TLS.
///
/// Two triggers whose `Connection`s are equal share one connection (see
/// [`RedisPool`](super::RedisPool)). Credentials are [`Secret`]s, so `Debug` never shows them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Connection {
    /// Where the servers are.
    pub topology: Topology,
    /// `username`: the ACL user on the data servers, if any.
    pub username: Option<Secret>,
    /// `password`: the password on the data servers, if any.
    pub password: Option<Secret>,
    /// TLS settings, when TLS is on.
    pub tls: Option<Tls>,
}

impl Connection {
    /// Reads the connection parameters of a trigger of `kind` (named `type_name` in errors),
    /// reporting every problem at once.
    ///
    /// Names and lookup order are KEDA's: `address`/`addresses` (or `host`+`port` /
    /// `hosts`+`ports`), `username`, `password`, `databaseIndex` (not for clusters), `enableTLS`
    /// or `tls` (`enable`/`disable`; not both), `unsafeSsl`, `ca`, `cert`, `key`, and for
    /// sentinels `sentinelMaster` (required), `sentinelUsername`, `sentinelPassword`. Each is
    /// read from the metadata, the authentication parameters or `<name>FromEnv`.
    ///
    /// # Errors
    /// [`Invalid`] after recording each problem in `p`, for example
    /// `metadata.hosts: 3 hosts but 2 ports`.
    pub fn from_params(
        p: &mut Params<'_>,
        kind: TopologyKind,
        type_name: &str,
    ) -> Result<Connection, Invalid> {
        let addresses = parse_addresses(p, kind, type_name);
        let database = match kind {
            TopologyKind::Cluster => {
                if p.is_set("databaseIndex") {
                    Err(p.error("databaseIndex", format!("not supported by {type_name}")))
                } else {
                    Ok(0)
                }
            }
            TopologyKind::Standalone | TopologyKind::Sentinel => {
                p.u64_or("databaseIndex", 0).and_then(|db| {
                    u32::try_from(db).map_err(|_| {
                        p.error(
                            "databaseIndex",
                            format!("must be at most {}, got {db}", u32::MAX),
                        )
                    })
                })
            }
        };
        let sentinel = match kind {
            TopologyKind::Sentinel => {
                let master = p.required_str("sentinelMaster");
                let username = p.secret("sentinelUsername");
                let password = p.secret("sentinelPassword");
                Some((master, username, password))
            }
            _ => None,
        };
        let username = p.secret("username");
        let password = p.secret("password");
        let tls = parse_tls(p);

        let addresses = addresses?;
        let database = database?;
        let topology = match (kind, sentinel) {
            (TopologyKind::Standalone, _) => Topology::Standalone {
                address: addresses.into_iter().next().ok_or(Invalid)?,
                database,
            },
            (TopologyKind::Cluster, _) => Topology::Cluster { nodes: addresses },
            (TopologyKind::Sentinel, Some((master, username, password))) => Topology::Sentinel {
                sentinels: addresses,
                master: master?,
                database,
                sentinel_username: username?,
                sentinel_password: password?,
            },
            (TopologyKind::Sentinel, None) => return Err(Invalid),
        };
        Ok(Connection {
            topology,
            username: username?,
            password: password?,
            tls: tls?,
        })
    }

    /// How messages name the servers: `redis 10.0.0.1:6379`, `redis 10.0.0.1:6379 db 2`,
    /// `redis cluster a:7000,b:7000`, `redis sentinel master "mymaster" via s1:26379,s2:26379`.
    /// TLS adds ` (tls)`. Never contains credentials.
    pub fn endpoint(&self) -> String {
        let list = |addrs: &[Address]| {
            addrs
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        let mut shown = match &self.topology {
            Topology::Standalone { address, database } => match database {
                0 => format!("redis {address}"),
                db => format!("redis {address} db {db}"),
            },
            Topology::Cluster { nodes } => format!("redis cluster {}", list(nodes)),
            Topology::Sentinel {
                sentinels,
                master,
                database,
                ..
            } => match database {
                0 => format!("redis sentinel master {master:?} via {}", list(sentinels)),
                db => format!(
                    "redis sentinel master {master:?} db {db} via {}",
                    list(sentinels)
                ),
            },
        };
        if self.tls.is_some() {
            shown.push_str(" (tls)");
        }
        shown
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// The first of two alternative names that is set, with its value; both set is an error.
fn either(
    p: &mut Params<'_>,
    one: &'static str,
    many: &'static str,
) -> Result<Option<(&'static str, String)>, Invalid> {
    let a = p.optional_str(one);
    let b = p.optional_str(many);
    match (a?, b?) {
        (Some(_), Some(_)) => Err(p.error(many, format!("{one} and {many} cannot both be set"))),
        (Some(v), None) => Ok(Some((one, v))),
        (None, Some(v)) => Ok(Some((many, v))),
        (None, None) => Ok(None),
    }
}

fn split_list(raw: &str) -> Vec<&str> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

fn parse_addresses(
    p: &mut Params<'_>,
    kind: TopologyKind,
    type_name: &str,
) -> Result<Vec<Address>, Invalid> {
    let list = either(p, "address", "addresses");
    let hosts = either(p, "host", "hosts");
    let ports = either(p, "port", "ports");
    let (list, hosts, ports) = (list?, hosts?, ports?);
    let main = match kind {
        TopologyKind::Standalone => "address",
        TopologyKind::Cluster | TopologyKind::Sentinel => "addresses",
    };
    let addresses = match (list, hosts, ports) {
        (Some((name, _)), Some((other, _)), _) | (Some((name, _)), None, Some((other, _))) => {
            return Err(p.error(other, format!("cannot be combined with {name}")));
        }
        (Some((name, raw)), None, None) => {
            let mut addresses = Vec::new();
            let mut ok = true;
            for entry in split_list(&raw) {
                match Address::parse(entry) {
                    Some(a) => addresses.push(a),
                    None => {
                        ok = false;
                        p.error(
                            name,
                            format!("expected host:port, got {:?}", redact_url(entry)),
                        );
                    }
                }
            }
            if !ok {
                return Err(Invalid);
            }
            (name, addresses)
        }
        (None, Some((host_name, hosts)), Some((port_name, ports))) => {
            let hosts = split_list(&hosts);
            let ports = split_list(&ports);
            if hosts.len() != ports.len() {
                return Err(p.error(
                    host_name,
                    format!(
                        "{} but {}",
                        plural(hosts.len(), "host"),
                        plural(ports.len(), "port")
                    ),
                ));
            }
            let mut addresses = Vec::new();
            let mut ok = true;
            for (host, port) in hosts.iter().zip(&ports) {
                match port.parse::<u16>().ok().filter(|p| *p > 0) {
                    Some(port) => addresses.push(Address {
                        host: host
                            .trim_start_matches('[')
                            .trim_end_matches(']')
                            .to_owned(),
                        port,
                    }),
                    None => {
                        ok = false;
                        p.error(port_name, format!("expected a port number, got {port:?}"));
                    }
                }
            }
            if !ok {
                return Err(Invalid);
            }
            (host_name, addresses)
        }
        (None, Some((host_name, _)), None) => {
            let port_name = if host_name == "host" { "port" } else { "ports" };
            return Err(p.error(port_name, format!("required when {host_name} is set")));
        }
        (None, None, Some((port_name, _))) => {
            let host_name = if port_name == "port" { "host" } else { "hosts" };
            return Err(p.error(host_name, format!("required when {port_name} is set")));
        }
        (None, None, None) => {
            let alternative = match kind {
                TopologyKind::Standalone => "host and port",
                TopologyKind::Cluster | TopologyKind::Sentinel => "hosts and ports",
            };
            return Err(p.error(
                main,
                format!("required parameter is missing (or set {alternative})"),
            ));
        }
    };
    let (name, addresses) = addresses;
    if addresses.is_empty() {
        return Err(p.error(name, "no address given"));
    }
    if kind == TopologyKind::Standalone && addresses.len() > 1 {
        return Err(p.error(
            name,
            format!(
                "{type_name} connects to one server, got {} addresses \
                 (redis-cluster and redis-sentinel take several)",
                addresses.len()
            ),
        ));
    }
    Ok(addresses)
}

fn parse_tls(p: &mut Params<'_>) -> Result<Option<Tls>, Invalid> {
    let metadata_set = p.is_set("enableTLS");
    let enable_tls = p.bool_or("enableTLS", false);
    let tls = p.one_of("tls", &["enable", "disable"]);
    let unsafe_ssl = p.bool_or("unsafeSsl", false);
    let (enable_tls, tls, unsafe_ssl) = (enable_tls?, tls?, unsafe_ssl?);
    let enabled = match (metadata_set, tls.as_deref()) {
        (true, Some(_)) => return Err(p.error("tls", "enableTLS and tls cannot both be set")),
        (_, Some(mode)) => mode == "enable",
        (_, None) => enable_tls,
    };
    if !enabled {
        return Ok(None);
    }
    let ca = p.optional_str("ca");
    let cert = p.secret("cert");
    let key = p.secret("key");
    let key_password = p.secret("keyPassword");
    let (ca, cert, key, key_password) = (ca?, cert?, key?, key_password?);
    let key = match (key, key_password) {
        (Some(key), Some(password)) => Some(decrypt_key(p, &key, &password)?),
        (None, Some(_)) => return Err(p.error("keyPassword", "needs key")),
        (key, None) => key,
    };
    let client = match (cert, key) {
        (Some(cert), Some(key)) => Some(ClientIdentity::new(cert, key)),
        (Some(_), None) => return Err(p.error("key", "required when cert is set")),
        (None, Some(_)) => return Err(p.error("cert", "required when key is set")),
        (None, None) => None,
    };
    let tls = Tls {
        unsafe_ssl,
        ca,
        client,
    };
    // Parse the PEM now (no I/O), so bad material is a config error, not a failing sample.
    if let Some(ca) = &tls.ca
        && (!ca.contains("-----BEGIN CERTIFICATE-----")
            || super::pool::check_certificates(Some(ca), None).is_err())
    {
        return Err(p.error("ca", "expected PEM certificates"));
    }
    if let Some(identity) = &tls.client
        && super::pool::check_certificates(None, Some(identity)).is_err()
    {
        // Say nothing about the content: it is a private key.
        return Err(p.error("cert", "cert and key are not a PEM certificate and key"));
    }
    Ok(Some(tls))
}

/// `key` decrypted with `password` (see [`crate::keys::decrypt_private_key`]).
fn decrypt_key(p: &mut Params<'_>, key: &Secret, password: &Secret) -> Result<Secret, Invalid> {
    // Messages say nothing about the content: it is a private key.
    crate::keys::decrypt_private_key(key, password).ok_or_else(|| {
        p.error(
            "keyPassword",
            "does not decrypt key (expected a PEM private key, encrypted with this password)",
        )
    })
}

/// An optional whole number that may be negative (KEDA reads these thresholds as int64).
pub(crate) fn whole_or(p: &mut Params<'_>, name: &str, default: i64) -> Result<i64, Invalid> {
    match p.optional_str(name)? {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse::<i64>()
            .map_err(|_| p.error(name, format!("expected a whole number, got {raw:?}"))),
    }
}

/// A whole-number target greater than zero, with a default.
pub(crate) fn target_or(p: &mut Params<'_>, name: &str, default: u64) -> Result<u64, Invalid> {
    let v = p.u64_or(name, default)?;
    if v == 0 {
        return Err(p.error(name, "must be greater than 0, got 0"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_with_ipv6_and_reject_garbage() {
        assert_eq!(
            Address::parse("10.0.0.1:6379"),
            Some(Address {
                host: "10.0.0.1".into(),
                port: 6379
            })
        );
        let v6 = Address::parse("[::1]:7000").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 7000));
        assert_eq!(v6.to_string(), "[::1]:7000");
        for bad in [
            "redis",
            "redis:",
            ":6379",
            "h:0",
            "h:65536",
            "redis://:pw@h:1",
        ] {
            assert_eq!(Address::parse(bad), None, "{bad}");
        }
    }
}
