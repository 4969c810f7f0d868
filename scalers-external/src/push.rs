//! The `StreamIsActive` stream of an `external-push` trigger.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use scalers_core::trigger::Waker;
use tokio::task::AbortHandle;
use tracing::{debug, warn};

use crate::channel::SharedChannel;
use crate::error::Error;
use crate::proto::ScaledObjectRef;
use crate::proto::external_scaler_client::ExternalScalerClient;

/// How a push stream waits before reconnecting: `initial` after a clean end or a stream that
/// delivered messages, doubling after each failed attempt up to `max`.
///
/// KEDA's are 2 s and 60 s ([`PushBackoff::default`]); tests shorten them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PushBackoff {
    /// The first wait.
    pub initial: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Default for PushBackoff {
    fn default() -> Self {
        PushBackoff {
            initial: Duration::from_secs(2),
            max: Duration::from_secs(60),
        }
    }
}

/// What the trigger and its stream task share.
#[derive(Default)]
struct Shared {
    /// The loop's waker, replaced when the runner hands a new one.
    waker: Mutex<Option<Waker>>,
    /// A `true` arrived since the last sample.
    pushed: AtomicBool,
}

/// A push trigger's stream: started once a waker is known and a runtime is at hand, aborted on
/// drop.
pub(crate) struct Push {
    channel: Arc<SharedChannel>,
    object_ref: ScaledObjectRef,
    open_timeout: Duration,
    backoff: PushBackoff,
    shared: Arc<Shared>,
    task: Mutex<Option<AbortHandle>>,
}

impl Push {
    pub(crate) fn new(
        channel: Arc<SharedChannel>,
        object_ref: ScaledObjectRef,
        open_timeout: Duration,
        backoff: PushBackoff,
    ) -> Self {
        Push {
            channel,
            object_ref,
            open_timeout,
            backoff,
            shared: Arc::default(),
            task: Mutex::new(None),
        }
    }

    /// Keeps `wake` for the stream and starts the stream if it is not running.
    pub(crate) fn set_waker(&self, wake: Waker) {
        *self
            .shared
            .waker
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(wake);
        self.ensure_running();
    }

    /// Starts the stream task if a waker is known, none is running and this thread is in a
    /// tokio runtime (else the next sample starts it).
    pub(crate) fn ensure_running(&self) {
        let has_waker = self
            .shared
            .waker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some();
        if !has_waker {
            return;
        }
        let mut task = self.task.lock().unwrap_or_else(PoisonError::into_inner);
        if task.as_ref().is_some_and(|t| !t.is_finished()) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let stream = StreamTask {
            channel: self.channel.clone(),
            object_ref: self.object_ref.clone(),
            open_timeout: self.open_timeout,
            backoff: self.backoff,
            shared: self.shared.clone(),
        };
        *task = Some(runtime.spawn(stream.run()).abort_handle());
    }

    /// Whether a `true` arrived since the last call; clears it.
    pub(crate) fn take_pushed(&self) -> bool {
        self.shared.pushed.swap(false, Ordering::AcqRel)
    }
}

impl Drop for Push {
    fn drop(&mut self) {
        if let Some(task) = self
            .task
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
    }
}

/// How one stream ended.
enum End {
    /// The scaler closed the stream (OK status).
    Closed,
    /// The stream failed after delivering messages, so the connection had been healthy.
    Broken(Error),
    /// The stream could not be opened, or failed before its first message.
    Failed(Error),
}

/// The task: open, read, reconnect, forever (until aborted).
struct StreamTask {
    channel: Arc<SharedChannel>,
    object_ref: ScaledObjectRef,
    open_timeout: Duration,
    backoff: PushBackoff,
    shared: Arc<Shared>,
}

impl StreamTask {
    async fn run(self) {
        let mut wait = self.backoff.initial;
        loop {
            match self.once().await {
                End::Closed => {
                    debug!(
                        address = self.channel.shown(),
                        "push stream closed by the scaler"
                    );
                    wait = self.backoff.initial;
                }
                End::Broken(e) => {
                    warn!(error = %e, "push stream broken; reconnecting");
                    wait = self.backoff.initial;
                }
                End::Failed(e) => {
                    warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "push stream failed");
                }
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(self.backoff.max);
        }
    }

    async fn once(&self) -> End {
        let method = "StreamIsActive";
        let address = self.channel.shown();
        let channel = match self.channel.get() {
            Ok(c) => c,
            Err(e) => return End::Failed(e),
        };
        let mut client = ExternalScalerClient::new(channel);
        let opening = client.stream_is_active(self.object_ref.clone());
        let mut stream = match tokio::time::timeout(self.open_timeout, opening).await {
            Ok(Ok(response)) => response.into_inner(),
            Ok(Err(status)) => return End::Failed(Error::from_status(address, method, status)),
            Err(_) => {
                return End::Failed(Error::Timeout {
                    address: address.to_owned(),
                    method,
                    timeout: self.open_timeout,
                });
            }
        };
        debug!(address, "push stream open");
        let mut received = false;
        loop {
            match stream.message().await {
                Ok(Some(message)) => {
                    received = true;
                    if message.result {
                        self.shared.pushed.store(true, Ordering::Release);
                        let waker = self
                            .shared
                            .waker
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .clone();
                        if let Some(waker) = waker {
                            waker.wake();
                        }
                    }
                }
                Ok(None) => return End::Closed,
                Err(status) => {
                    let e = Error::from_status(address, method, status);
                    return if received {
                        End::Broken(e)
                    } else {
                        End::Failed(e)
                    };
                }
            }
        }
    }
}
