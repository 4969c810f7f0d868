//! gRPC channels shared by every trigger with the same scaler address and TLS settings.

use std::fmt;
use std::sync::{Arc, OnceLock};

use scalers_core::pool::SharedPool;
use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

use crate::config::{ExternalConfig, ScalerAddress, TlsSettings};
use crate::error::{Error, Result};
use crate::tls;

/// How long establishing a connection (TCP and TLS) may take.
///
/// Each call also has the trigger's own `timeout`; this bounds the connection attempts made
/// for push streams, which have no deadline of their own once open.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The gRPC channels of a set of triggers, one per scaler address and TLS settings.
///
/// Triggers built from the same pool that point at the same address with the same TLS settings
/// (`enableTLS`, `unsafeSsl`, `caCert`, client certificate) share one channel, hence one
/// HTTP/2 connection, as KEDA shares its `grpc.ClientConn`s. The pool holds its channels
/// weakly: a channel is closed when the last trigger using it is dropped (after a config
/// reload, say).
///
/// [`register`](crate::register) keeps one pool inside the registered constructors rather than
/// in a process-wide `static`: everything built from one registry shares, nothing is shared
/// behind an embedder's back, and a channel (whose connection belongs to the tokio runtime that
/// opened it) never leaks from one runtime into another.
///
/// Cloning a pool gives another handle on the same channels.
#[derive(Clone, Default)]
pub struct ChannelPool {
    channels: SharedPool<ChannelKey, SharedChannel>,
}

impl fmt::Debug for ChannelPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelPool")
            .field("channels", &self.len())
            .finish()
    }
}

impl ChannelPool {
    /// An empty pool.
    pub fn new() -> Self {
        ChannelPool::default()
    }

    /// How many distinct channels triggers of this pool currently hold.
    pub fn len(&self) -> usize {
        self.channels.len()
    }

    /// Whether no trigger of this pool holds a channel.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The channel for `config`, shared with every trigger of the same key. Cheap: the channel
    /// itself is made on first use.
    pub(crate) fn channel_for(&self, config: &ExternalConfig) -> Arc<SharedChannel> {
        let key = ChannelKey {
            address: config.address.clone(),
            tls: config.tls.clone(),
        };
        self.channels.get_or_insert_with(&key, |key| SharedChannel {
            address: key.address.clone(),
            shown: key.address.to_string(),
            tls: key.tls.clone(),
            channel: OnceLock::new(),
        })
    }
}

/// What makes two triggers share a channel: KEDA's pool key. TLS material stays in
/// [`Secret`](scalers_core::secret::Secret)s here, so the map cannot print it.
#[derive(Clone, PartialEq, Eq, Hash)]
struct ChannelKey {
    address: ScalerAddress,
    tls: Option<TlsSettings>,
}

/// One lazily connecting tonic channel.
pub(crate) struct SharedChannel {
    address: ScalerAddress,
    /// `host:port`, for messages.
    shown: String,
    tls: Option<TlsSettings>,
    channel: OnceLock<Channel>,
}

impl SharedChannel {
    /// The address, for messages.
    pub(crate) fn shown(&self) -> &str {
        &self.shown
    }

    /// The channel, made now if this is its first use (must run inside a tokio runtime). It
    /// connects on its first call and reconnects by itself after a failure. A failed TLS setup
    /// is not remembered: the next call tries again.
    pub(crate) fn get(&self) -> Result<Channel> {
        if let Some(channel) = self.channel.get() {
            return Ok(channel.clone());
        }
        let made = self.make()?;
        // Two first calls may race; both get the one that was stored.
        Ok(self.channel.get_or_init(|| made).clone())
    }

    fn make(&self) -> Result<Channel> {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let uri = format!("{scheme}://{}", self.address.authority());
        let endpoint = Endpoint::from_shared(uri)
            .expect("a ScalerAddress always forms a valid URI (checked by ScalerAddress::parse)")
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true);
        Ok(match &self.tls {
            None => endpoint.connect_lazy(),
            Some(settings) => {
                let config = tls::client_config(settings).map_err(|source| Error::Tls {
                    address: self.shown.clone(),
                    source,
                })?;
                endpoint.connect_with_connector_lazy(tls::connector(Arc::new(config)))
            }
        })
    }
}
