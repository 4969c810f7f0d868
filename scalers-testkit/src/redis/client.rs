//! A small RESP client, to set up data and inspect servers.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;

use super::COMMAND_TIMEOUT;

/// A RESP reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resp {
    /// `+OK`.
    Simple(String),
    /// `-ERR …`: an error reply, as text.
    Error(String),
    /// `:42`.
    Int(i64),
    /// `$…`: a bulk string, `None` for nil.
    Bulk(Option<String>),
    /// `*…`: an array, `None` for nil.
    Array(Option<Vec<Resp>>),
}

impl Resp {
    /// The text of a simple or bulk string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Resp::Simple(s) | Resp::Bulk(Some(s)) => Some(s),
            _ => None,
        }
    }

    /// The value of an integer reply.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Resp::Int(n) => Some(*n),
            _ => None,
        }
    }
}

/// A minimal RESP client over plain TCP: one connection per command, for setting up data and
/// inspecting servers (never the code under test).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisClient {
    address: String,
    auth: Option<(String, String)>,
}

impl RedisClient {
    /// A client for `host:port`, as the default user without a password.
    pub fn new(address: impl Into<String>) -> Self {
        RedisClient {
            address: address.into(),
            auth: None,
        }
    }

    /// The same client authenticating as `user` with `password` (`default` for a
    /// `requirepass` server).
    pub fn with_auth(mut self, user: &str, password: &str) -> Self {
        self.auth = Some((user.to_owned(), password.to_owned()));
        self
    }

    /// The server's `host:port`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Sends one command and returns the reply (error replies are `Ok(Resp::Error)`).
    ///
    /// # Errors
    /// When the server cannot be reached or the reply does not parse.
    pub fn try_cmd(&self, args: &[&str]) -> Result<Resp, String> {
        let stream = TcpStream::connect(&self.address)
            .map_err(|e| format!("connect to {}: {e}", self.address))?;
        stream.set_read_timeout(Some(COMMAND_TIMEOUT)).ok();
        stream.set_write_timeout(Some(COMMAND_TIMEOUT)).ok();
        let mut writer = stream
            .try_clone()
            .map_err(|e| format!("{}: {e}", self.address))?;
        let mut reader = BufReader::new(stream);
        if let Some((user, password)) = &self.auth {
            writer
                .write_all(&encode(&["AUTH", user, password]))
                .map_err(|e| format!("{}: {e}", self.address))?;
            if let Resp::Error(e) = read_reply(&mut reader)? {
                return Err(format!("{}: AUTH: {e}", self.address));
            }
        }
        writer
            .write_all(&encode(args))
            .map_err(|e| format!("{}: {e}", self.address))?;
        read_reply(&mut reader).map_err(|e| format!("{}: {e}", self.address))
    }

    /// Sends one command that must succeed.
    ///
    /// # Panics
    /// When the server cannot be reached or answers an error.
    pub fn cmd(&self, args: &[&str]) -> Resp {
        match self.try_cmd(args) {
            Ok(Resp::Error(e)) => panic!("{} {args:?}: {e}", self.address),
            Ok(reply) => reply,
            Err(e) => panic!("{args:?}: {e}"),
        }
    }

    /// How many clients `CLIENT LIST` shows logged in as `user`.
    ///
    /// # Panics
    /// When the server cannot be reached.
    pub fn clients_of_user(&self, user: &str) -> usize {
        let list = self.cmd(&["CLIENT", "LIST"]);
        let text = list.as_str().unwrap_or_default();
        let needle = format!(" user={user} ");
        text.lines()
            .filter(|l| format!("{l} ").contains(&needle))
            .count()
    }

    /// `total_connections_received` from `INFO stats` (this query's own connection included).
    ///
    /// # Panics
    /// When the server cannot be reached.
    pub fn total_connections_received(&self) -> u64 {
        let info = self.cmd(&["INFO", "stats"]);
        info.as_str()
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("total_connections_received:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{}: no total_connections_received", self.address))
    }

    /// Creates (or resets) ACL user `user` with `password`, allowed everything.
    ///
    /// # Panics
    /// When the server refuses.
    pub fn create_user(&self, user: &str, password: &str) {
        let password = format!(">{password}");
        self.cmd(&[
            "ACL", "SETUSER", user, "reset", "on", &password, "~*", "&*", "+@all",
        ]);
    }
}

fn encode(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn read_line(r: &mut impl BufRead) -> Result<String, String> {
    let mut line = String::new();
    let n = r.read_line(&mut line).map_err(|e| e.to_string())?;
    if n == 0 {
        return Err("connection closed".to_owned());
    }
    Ok(line.trim_end_matches("\r\n").to_owned())
}

fn read_reply(r: &mut impl BufRead) -> Result<Resp, String> {
    let line = read_line(r)?;
    let (kind, rest) = line.split_at(1.min(line.len()));
    let number = || {
        rest.parse::<i64>()
            .map_err(|_| format!("bad RESP line {line:?}"))
    };
    match kind {
        "+" => Ok(Resp::Simple(rest.to_owned())),
        "-" => Ok(Resp::Error(rest.to_owned())),
        ":" => Ok(Resp::Int(number()?)),
        "$" => {
            let len = number()?;
            if len < 0 {
                return Ok(Resp::Bulk(None));
            }
            let mut buf = vec![0; len as usize + 2];
            r.read_exact(&mut buf).map_err(|e| e.to_string())?;
            buf.truncate(len as usize);
            Ok(Resp::Bulk(Some(String::from_utf8_lossy(&buf).into_owned())))
        }
        "*" => {
            let len = number()?;
            if len < 0 {
                return Ok(Resp::Array(None));
            }
            let items = (0..len)
                .map(|_| read_reply(r))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Resp::Array(Some(items)))
        }
        _ => Err(format!("bad RESP line {line:?}")),
    }
}
