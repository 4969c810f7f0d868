//! Leader election on a `coordination.k8s.io/v1` Lease.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, PostParams};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use super::error::call;
use super::{KubeError, Operation};

/// The timings of leader election; the default is KEDA's (and client-go's usual) 15 s / 10 s /
/// 2 s.
///
/// `renew_deadline` must be shorter than `lease_duration`, so that a leader that cannot renew
/// stops acting before a standby may take over; `retry_period` shorter than `renew_deadline`,
/// so that a leader tries more than once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseTimings {
    /// How long a standby waits, after it last saw the lease change, before taking it over.
    /// Written to the Lease in whole seconds (rounded up, at least 1).
    pub lease_duration: Duration,
    /// How long a leader keeps leading without a successful renewal.
    pub renew_deadline: Duration,
    /// Time between two attempts to acquire or renew.
    pub retry_period: Duration,
}

impl Default for LeaseTimings {
    fn default() -> Self {
        LeaseTimings {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

impl LeaseTimings {
    /// `lease_duration` as written to a Lease: whole seconds, rounded up, at least 1.
    pub(crate) fn duration_seconds(&self) -> i32 {
        let secs =
            self.lease_duration.as_secs() + u64::from(self.lease_duration.subsec_nanos() > 0);
        i32::try_from(secs.max(1)).unwrap_or(i32::MAX)
    }
}

/// The shortest timeout a fenced write is sent with: below it, a request would not have the
/// time to be answered, so it is not sent at all.
pub const MIN_FENCED_TIMEOUT: Duration = Duration::from_millis(250);

/// Whether this process may send a write now, and with what timeout: the fencing of every
/// write by the freshness of the leader lease.
///
/// A write may leave only while the last successful renewal of the lease is younger than the
/// renew deadline less the request's own timeout: then the request is answered (or given up)
/// before this process stops leading, and so before any other replica can take over (a
/// standby waits the whole lease duration, longer than the renew deadline, after the last
/// renewal it saw). [`Fence::permit`] gives each write the timeout it may use: the request's
/// usual timeout, cut to what is left of the renew deadline.
///
/// A fence that is not tied to an election ([`Fence::open`]) always permits, with the usual
/// timeout. A fence of sharded replicas ([`Fence::sharded`]) holds one fence per shard: a
/// writer asks it for the fence of the object it writes ([`Fence::for_object`]); on its own
/// it permits nothing. Clones share their state.
///
/// ```
/// use std::time::Duration;
/// use scalerd::kube::Fence;
/// let fence = Fence::open();
/// assert_eq!(fence.permit(Duration::from_secs(10)), Some(Duration::from_secs(10)));
/// let elected = Fence::elected(Duration::from_secs(10));
/// assert_eq!(elected.permit(Duration::from_secs(10)), None); // not leading yet
/// ```
#[derive(Clone, Debug)]
pub struct Fence {
    kind: FenceKind,
}

#[derive(Clone, Debug)]
enum FenceKind {
    Open,
    Elected(Arc<FenceState>),
    /// One fence per shard, the shard of an object by [`super::shard_of`].
    Sharded(Arc<[Fence]>),
}

#[derive(Debug)]
struct FenceState {
    renew_deadline: Duration,
    /// When the last successful renewal (or the acquisition) was sent, while leading.
    renewed_at: Mutex<Option<Instant>>,
    /// Writes permitted and not yet answered (or given up).
    in_flight: AtomicUsize,
    /// Notified when `in_flight` drops to zero.
    idle: Notify,
}

/// A write in flight through a [`Fence`]: counted until dropped ([`Fence::quiesced`]).
#[derive(Debug)]
pub(crate) struct Flight {
    state: Option<Arc<FenceState>>,
}

impl Drop for Flight {
    fn drop(&mut self) {
        if let Some(s) = &self.state
            && s.in_flight.fetch_sub(1, Ordering::AcqRel) == 1
        {
            s.idle.notify_waiters();
        }
    }
}

impl Fence {
    /// A fence that always permits: no leader election, this process is the only writer.
    pub fn open() -> Self {
        Fence {
            kind: FenceKind::Open,
        }
    }

    /// A fence for a process that leads through a lease with this renew deadline; it permits
    /// nothing until [`Fence::renewed`] is called.
    pub fn elected(renew_deadline: Duration) -> Self {
        Fence {
            kind: FenceKind::Elected(Arc::new(FenceState {
                renew_deadline,
                renewed_at: Mutex::new(None),
                in_flight: AtomicUsize::new(0),
                idle: Notify::new(),
            })),
        }
    }

    /// A fence over shards: the fence of an object is `shards[shard_of(key, shards.len())]`
    /// ([`Fence::for_object`], [`super::shard_of`]). Used alone, it permits nothing.
    pub fn sharded(shards: Vec<Fence>) -> Self {
        Fence {
            kind: FenceKind::Sharded(shards.into()),
        }
    }

    /// The fence of the writes about the scaled object `key` (`namespace/name`): the fence of
    /// its shard for a sharded fence, else this one.
    pub fn for_object(&self, key: &str) -> Fence {
        match &self.kind {
            FenceKind::Sharded(shards) if !shards.is_empty() => {
                let count = u32::try_from(shards.len()).unwrap_or(u32::MAX);
                let i = usize::try_from(super::shard_of(key, count)).unwrap_or(0);
                shards.get(i).cloned().unwrap_or_else(|| self.clone())
            }
            _ => self.clone(),
        }
    }

    /// Records a successful renewal (or acquisition) whose request was sent at `sent`.
    pub fn renewed(&self, sent: Instant) {
        if let FenceKind::Elected(s) = &self.kind {
            *s.renewed_at.lock().unwrap_or_else(PoisonError::into_inner) = Some(sent);
        }
    }

    /// Records that this process no longer leads: nothing is permitted until the next
    /// [`Fence::renewed`].
    pub fn revoke(&self) {
        if let FenceKind::Elected(s) = &self.kind {
            *s.renewed_at.lock().unwrap_or_else(PoisonError::into_inner) = None;
        }
    }

    /// The timeout a write may be sent with now, at most `timeout`; `None` when it must not
    /// be sent (not leading, or less than [`MIN_FENCED_TIMEOUT`] left before the renew
    /// deadline; always for a sharded fence, whose writes go through [`Fence::for_object`]).
    pub fn permit(&self, timeout: Duration) -> Option<Duration> {
        let s = match &self.kind {
            FenceKind::Open => return Some(timeout),
            FenceKind::Sharded(_) => return None,
            FenceKind::Elected(s) => s,
        };
        let renewed_at = (*s.renewed_at.lock().unwrap_or_else(PoisonError::into_inner))?;
        let left = s.renew_deadline.checked_sub(renewed_at.elapsed())?;
        let allowed = timeout.min(left);
        (allowed >= MIN_FENCED_TIMEOUT).then_some(allowed)
    }

    /// As [`Fence::permit`], and counts the write as in flight until the [`Flight`] is
    /// dropped, so that [`Fence::quiesced`] can wait for it.
    pub(crate) fn enter(&self, timeout: Duration) -> Option<(Duration, Flight)> {
        let allowed = self.permit(timeout)?;
        let state = match &self.kind {
            FenceKind::Elected(s) => {
                s.in_flight.fetch_add(1, Ordering::AcqRel);
                Some(s.clone())
            }
            _ => None,
        };
        Some((allowed, Flight { state }))
    }

    /// Completes once no write permitted by this fence is in flight. Call it after
    /// [`Fence::revoke`]: then no new write starts, and the ones sent have been answered (or
    /// given up) when it completes, so that giving up the lease cannot let another replica
    /// write while one of this replica's writes is still on its way.
    pub async fn quiesced(&self) {
        let FenceKind::Elected(s) = &self.kind else {
            return;
        };
        loop {
            let idle = s.idle.notified();
            if s.in_flight.load(Ordering::Acquire) == 0 {
                return;
            }
            idle.await;
        }
    }
}

/// Takes part in leader election on one Lease.
///
/// [`LeaderElector::run`] acquires the Lease when it is free, released or expired, renews it
/// every `retry_period` while leading, and says whether this process leads through a
/// `watch` channel. Every write carries the `resourceVersion` last read, so of two candidates
/// taking over at once only one succeeds (the other gets 409 Conflict).
///
/// Expiry is judged like client-go: by the time this process last saw the Lease record
/// change, plus the record's `leaseDurationSeconds`, not by the other holder's clock. A leader
/// that has not renewed for `renew_deadline` stops leading at once (even while a request
/// hangs), before any standby can take over. On shutdown a leader releases the Lease (empty
/// holder) so a standby takes over at its next attempt.
///
/// Needs `get`, `create` and `update` on `leases.coordination.k8s.io` in the namespace.
///
/// # Examples
/// ```no_run
/// # async fn f(client: kube::Client) {
/// use scalerd::kube::{LeaderElector, LeaseTimings};
/// let (leading, mut is_leader) = tokio::sync::watch::channel(false);
/// let elector = LeaderElector::new(client, "scalers", "scalerd-leader", "pod-a", LeaseTimings::default());
/// let election = tokio::spawn(elector.run(leading, async { let _ = tokio::signal::ctrl_c().await; }));
/// while is_leader.changed().await.is_ok() {
///     println!("leading: {}", *is_leader.borrow());
/// }
/// # let _ = election.await; }
/// ```
pub struct LeaderElector {
    api: Api<Lease>,
    namespace: String,
    name: String,
    identity: String,
    timings: LeaseTimings,
    fence: Fence,
}

impl std::fmt::Debug for LeaderElector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaderElector")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .field("identity", &self.identity)
            .field("timings", &self.timings)
            .finish_non_exhaustive()
    }
}

/// What the elector knows between attempts.
#[derive(Default)]
struct Seen {
    /// The Lease as this process last wrote it while leading.
    held: Option<Lease>,
    /// When the last successful renewal (or the acquisition) was sent.
    renewed_at: Option<Instant>,
    /// The `resourceVersion` last observed while not leading, and when it was first seen.
    observed: Option<(String, Instant)>,
}

impl LeaderElector {
    /// An elector for Lease `namespace/name`, as candidate `identity` (unique per process,
    /// e.g. the pod name).
    pub fn new(
        client: Client,
        namespace: &str,
        name: &str,
        identity: &str,
        timings: LeaseTimings,
    ) -> Self {
        LeaderElector {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            identity: identity.to_owned(),
            timings,
            fence: Fence::elected(timings.renew_deadline),
        }
    }

    /// The fence of this elector's writes: it permits a write only while the last renewal is
    /// fresh enough ([`Fence`]). Give it to every client of the cluster that writes.
    pub fn fence(&self) -> Fence {
        self.fence.clone()
    }

    /// Runs the election until `shutdown` completes, setting `leading` to whether this process
    /// leads; then, if leading, sets it to false and releases the Lease.
    ///
    /// Failures are logged and retried; they never end the election.
    pub async fn run(self, leading: watch::Sender<bool>, shutdown: impl Future<Output = ()>) {
        let mut shutdown = pin!(shutdown);
        let mut seen = Seen::default();
        loop {
            let wait = tokio::select! {
                biased;
                () = &mut shutdown => break,
                wait = self.attempt(&mut seen, &leading) => wait,
            };
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                () = tokio::time::sleep(wait) => {}
            }
        }
        self.fence.revoke();
        set(&leading, false);
        if let Some(lease) = seen.held.take() {
            self.release(lease).await;
        }
    }

    /// One attempt to acquire or renew; returns how long to wait before the next one.
    async fn attempt(&self, seen: &mut Seen, leading: &watch::Sender<bool>) -> Duration {
        let retry = self.timings.retry_period;
        if seen.held.is_none() {
            return self.try_acquire(seen, leading).await;
        }
        let renewed_at = seen.renewed_at.unwrap_or_else(Instant::now);
        let deadline = renewed_at + self.timings.renew_deadline;
        let started = Instant::now();
        if started >= deadline {
            self.lose(seen, leading, "renew deadline passed");
            return retry;
        }
        let Some(mut lease) = seen.held.clone() else {
            return retry;
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        spec.lease_duration_seconds = Some(self.timings.duration_seconds());
        let renewed = call(
            || self.operation("update"),
            deadline - started,
            self.api.replace(&self.name, &PostParams::default(), &lease),
        )
        .await;
        match renewed {
            Ok(lease) => {
                seen.held = Some(lease);
                seen.renewed_at = Some(started);
                self.fence.renewed(started);
                retry
            }
            Err(e) if e.is_conflict() => {
                // Someone else wrote the Lease: still ours (retry at once with its version)?
                match self.read().await {
                    Ok(Some(current)) if holder(&current) == Some(self.identity.as_str()) => {
                        seen.held = Some(current);
                        Duration::ZERO
                    }
                    Ok(_) => {
                        self.lose(seen, leading, "another candidate holds the lease");
                        retry
                    }
                    Err(e) => {
                        tracing::warn!(lease = %self.name, error = %e, "cannot read the lease after a conflict");
                        retry.min(deadline.saturating_duration_since(Instant::now()))
                    }
                }
            }
            Err(e) => {
                tracing::warn!(lease = %self.name, error = %e, "cannot renew the lease");
                retry.min(deadline.saturating_duration_since(Instant::now()))
            }
        }
    }

    async fn try_acquire(&self, seen: &mut Seen, leading: &watch::Sender<bool>) -> Duration {
        let retry = self.timings.retry_period;
        let current = match self.read().await {
            Ok(current) => current,
            Err(e) => {
                tracing::warn!(lease = %self.name, error = %e, "cannot read the lease");
                return retry;
            }
        };
        let now = Instant::now();
        let written = match current {
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.name.clone()),
                        namespace: Some(self.namespace.clone()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(self.spec(None)),
                };
                call(
                    || self.operation("create"),
                    self.timings.renew_deadline,
                    self.api.create(&PostParams::default(), &lease),
                )
                .await
            }
            Some(current) => {
                let version = current
                    .metadata
                    .resource_version
                    .clone()
                    .unwrap_or_default();
                let first_seen = match &seen.observed {
                    Some((v, at)) if *v == version => *at,
                    _ => now,
                };
                seen.observed = Some((version, first_seen));
                let spec = current.spec.clone().unwrap_or_default();
                let duration = spec
                    .lease_duration_seconds
                    .and_then(|s| u64::try_from(s).ok())
                    .map_or(self.timings.lease_duration, Duration::from_secs);
                let free = match holder(&current) {
                    None => true,
                    Some(h) => h == self.identity || now >= first_seen + duration,
                };
                if !free {
                    return retry;
                }
                let mut lease = current;
                lease.spec = Some(self.spec(Some(&spec)));
                call(
                    || self.operation("update"),
                    self.timings.renew_deadline,
                    self.api.replace(&self.name, &PostParams::default(), &lease),
                )
                .await
            }
        };
        match written {
            Ok(lease) => {
                seen.held = Some(lease);
                seen.renewed_at = Some(now);
                seen.observed = None;
                self.fence.renewed(now);
                set(leading, true);
                tracing::info!(lease = %self.name, identity = %self.identity, "became the leader");
            }
            // Another candidate created or took it first.
            Err(e) if e.is_conflict() => {}
            Err(e) => tracing::warn!(lease = %self.name, error = %e, "cannot acquire the lease"),
        }
        retry
    }

    /// The spec this candidate writes when it takes the Lease over from `previous`.
    fn spec(&self, previous: Option<&LeaseSpec>) -> LeaseSpec {
        held_spec(&self.identity, &self.timings, previous)
    }

    fn lose(&self, seen: &mut Seen, leading: &watch::Sender<bool>, why: &str) {
        self.fence.revoke();
        seen.held = None;
        seen.renewed_at = None;
        seen.observed = None;
        set(leading, false);
        tracing::warn!(lease = %self.name, identity = %self.identity, reason = why, "stopped leading");
    }

    /// Gives the Lease up: empty holder, so a standby takes it at its next attempt.
    async fn release(&self, mut lease: Lease) {
        for _ in 0..3 {
            let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
            let now = Some(MicroTime(Timestamp::now()));
            spec.holder_identity = None;
            spec.lease_duration_seconds = Some(1);
            spec.acquire_time = now.clone();
            spec.renew_time = now;
            let released = call(
                || self.operation("update"),
                self.timings.renew_deadline,
                self.api.replace(&self.name, &PostParams::default(), &lease),
            )
            .await;
            match released {
                Ok(_) => {
                    tracing::info!(lease = %self.name, identity = %self.identity, "released the lease");
                    return;
                }
                // A renewal cut short by the shutdown may have landed: release that version.
                Err(e) if e.is_conflict() => match self.read().await {
                    Ok(Some(current)) if holder(&current) == Some(self.identity.as_str()) => {
                        lease = current;
                    }
                    _ => return,
                },
                Err(e) => {
                    tracing::warn!(lease = %self.name, error = %e, "cannot release the lease");
                    return;
                }
            }
        }
    }

    /// The Lease, or none when it does not exist.
    async fn read(&self) -> Result<Option<Lease>, KubeError> {
        let got = call(
            || self.operation("get"),
            self.timings.renew_deadline,
            self.api.get(&self.name),
        )
        .await;
        match got {
            Ok(lease) => Ok(Some(lease)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn operation(&self, verb: &'static str) -> Operation {
        Operation::object(
            verb,
            "leases.coordination.k8s.io",
            &self.namespace,
            &self.name,
        )
    }
}

/// The Lease's holder, if any (an empty identity is none).
pub(crate) fn holder(lease: &Lease) -> Option<&str> {
    lease
        .spec
        .as_ref()
        .and_then(|s| s.holder_identity.as_deref())
        .filter(|h| !h.is_empty())
}

fn set(leading: &watch::Sender<bool>, value: bool) {
    leading.send_if_modified(|v| std::mem::replace(v, value) != value);
}

/// The spec `identity` writes to hold a Lease (`previous`: the spec it read, none for a new
/// Lease): renewed now; acquired now and one more transition when the holder changes (a
/// released Lease's empty holder counts as another holder), else the previous acquire time.
pub(super) fn held_spec(
    identity: &str,
    timings: &LeaseTimings,
    previous: Option<&LeaseSpec>,
) -> LeaseSpec {
    let now = Some(MicroTime(Timestamp::now()));
    let previous_holder = previous.and_then(|p| p.holder_identity.as_deref());
    let transitions = previous.and_then(|p| p.lease_transitions).unwrap_or(0);
    let changed = previous.is_some() && previous_holder != Some(identity);
    let acquire_time = match previous {
        Some(p) if !changed => p.acquire_time.clone().or_else(|| now.clone()),
        _ => now.clone(),
    };
    LeaseSpec {
        holder_identity: Some(identity.to_owned()),
        lease_duration_seconds: Some(timings.duration_seconds()),
        acquire_time,
        renew_time: now,
        lease_transitions: Some(transitions + i32::from(changed)),
        ..previous.cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_seconds_round_up() {
        let t = |ms| LeaseTimings {
            lease_duration: Duration::from_millis(ms),
            ..LeaseTimings::default()
        };
        assert_eq!(t(15_000).duration_seconds(), 15);
        assert_eq!(t(1_500).duration_seconds(), 2);
        assert_eq!(t(10).duration_seconds(), 1);
    }
}
