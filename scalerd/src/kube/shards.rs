//! Sharding (`scalerd run --sharding`): every replica active, each owning a share of the
//! scaled objects through a fixed set of shard Leases.
//!
//! An object belongs to shard [`shard_of`]`(namespace/name, N)`. Shard `i` is the
//! `coordination.k8s.io/v1` Lease `<lease-name>-shard-<i>`; the replica that holds it owns the
//! shard's objects. Each replica also holds a membership Lease of its own
//! (`<lease-name>-member-<hash of the identity>`), so that a replica that holds no shard yet
//! is counted. Every retry period a [`ShardElector`] renews the Leases it holds, lists the set
//! (one `list` with a label selector), counts the live members `m` and aims at
//! `ceil(N / m)` shards: it gives up the ones beyond (after its writes in flight on them are
//! answered, see [`Fence::quiesced`]) and takes free or expired ones up to it. Expiry is judged
//! as [`super::LeaderElector`] does, by when this replica last saw a Lease change, plus its
//! `leaseDurationSeconds`.
//!
//! Each shard has its own [`Fence`]: a write about an object leaves only while this replica's
//! last renewal of that object's shard is fresh ([`Fence::for_object`] on [`ShardView::fence`]).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::future::{join, join_all};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use tokio::sync::watch;
use tokio::time::Instant;

use super::error::call;
use super::lease::{held_spec, holder};
use super::{Fence, KubeError, LeaseTimings, MIN_FENCED_TIMEOUT, Operation};

/// The number of shards when `--shards` is not given: 32, enough for up to 32 active
/// replicas, for about 16 Lease renewals per second in all at the default 2 s retry period.
pub const DEFAULT_SHARDS: u32 = 32;

/// The label every Lease of a shard set carries, whose value is the set's `--lease-name`; the
/// replicas list the set by it.
pub const SHARD_SET_LABEL: &str = "scalers.dev/shard-set";

/// The label saying what a Lease of a shard set is: `shard` or `member`.
pub const SHARD_ROLE_LABEL: &str = "scalers.dev/shard-role";

/// The shard of the scaled object `key` (`namespace/name`) among `shards` (at least 1).
///
/// The hash is 64-bit FNV-1a of the UTF-8 bytes of `key`, modulo `shards`: fixed by this
/// definition, the same in every process and every version (not Rust's randomly seeded
/// hasher), so that replicas of different versions agree during a rolling update.
///
/// ```
/// assert_eq!(scalerd::kube::shard_of("shop/orders", 32), scalerd::kube::shard_of("shop/orders", 32));
/// assert!(scalerd::kube::shard_of("shop/orders", 32) < 32);
/// assert_eq!(scalerd::kube::shard_of("anything", 1), 0);
/// ```
pub fn shard_of(key: &str, shards: u32) -> u32 {
    let n = u64::from(shards.max(1));
    u32::try_from(fnv1a(key.as_bytes()) % n).unwrap_or(0)
}

/// 64-bit FNV-1a.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The name of shard `i`'s Lease in the set `lease_name`.
pub fn shard_lease_name(lease_name: &str, i: u32) -> String {
    format!("{lease_name}-shard-{i}")
}

/// The name of the membership Lease of `identity` in the set `lease_name`: the identity's
/// FNV-1a hash in hex, since an identity need not be a valid object name.
pub fn member_lease_name(lease_name: &str, identity: &str) -> String {
    format!("{lease_name}-member-{:016x}", fnv1a(identity.as_bytes()))
}

/// The target share of `shards` among `members` replicas: `ceil(shards / members)`.
fn share(shards: u32, members: usize) -> usize {
    let members = members.max(1);
    usize::try_from(shards)
        .unwrap_or(usize::MAX)
        .div_ceil(members)
}

/// What this replica knows of the shards: which it holds, who holds the others, the live
/// members. Shared by the elector (its only writer), the object loops and the admin server.
#[derive(Debug)]
pub struct ShardView {
    identity: String,
    shards: Vec<ShardState>,
    members: Mutex<Vec<String>>,
    fence: Fence,
    revision: watch::Sender<u64>,
}

#[derive(Debug)]
struct ShardState {
    fence: Fence,
    owned: watch::Sender<bool>,
    /// The holder as last seen (this replica while it holds the shard).
    holder: Mutex<Option<String>>,
}

impl ShardView {
    /// A view of `shards` shards (at least 1) for the replica `identity`, holding none, whose
    /// fences permit a write for as long as `renew_deadline` after a renewal.
    pub fn new(identity: &str, shards: u32, renew_deadline: Duration) -> Self {
        let states: Vec<ShardState> = (0..shards.max(1))
            .map(|_| ShardState {
                fence: Fence::elected(renew_deadline),
                owned: watch::channel(false).0,
                holder: Mutex::new(None),
            })
            .collect();
        let fence = Fence::sharded(states.iter().map(|s| s.fence.clone()).collect());
        ShardView {
            identity: identity.to_owned(),
            shards: states,
            members: Mutex::new(vec![identity.to_owned()]),
            fence,
            revision: watch::channel(0).0,
        }
    }

    /// This replica's identity.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The number of shards.
    pub fn count(&self) -> u32 {
        u32::try_from(self.shards.len()).unwrap_or(u32::MAX)
    }

    /// The shard of the object `key` ([`shard_of`]).
    pub fn shard_of(&self, key: &str) -> u32 {
        shard_of(key, self.count())
    }

    fn state(&self, key: &str) -> &ShardState {
        let i = usize::try_from(self.shard_of(key)).unwrap_or(0);
        &self.shards[i.min(self.shards.len() - 1)]
    }

    /// Whether this replica holds the shard of `key`, as a channel: the object's loop ticks
    /// only while it says true.
    pub fn owned(&self, key: &str) -> watch::Receiver<bool> {
        self.state(key).owned.subscribe()
    }

    /// Whether this replica holds the shard of `key` now.
    pub fn holds(&self, key: &str) -> bool {
        *self.state(key).owned.borrow()
    }

    /// Who holds the shard of `key`, as last seen; none when it is free.
    pub fn owner(&self, key: &str) -> Option<String> {
        lock(&self.state(key).holder).clone()
    }

    /// The holder of each shard, as last seen.
    pub fn holders(&self) -> Vec<Option<String>> {
        self.shards
            .iter()
            .map(|s| lock(&s.holder).clone())
            .collect()
    }

    /// The shards this replica holds.
    pub fn held(&self) -> Vec<u32> {
        (0..self.count())
            .filter(|i| *self.shards[*i as usize].owned.borrow())
            .collect()
    }

    /// The live members (replicas), this one included, sorted.
    pub fn members(&self) -> Vec<String> {
        lock(&self.members).clone()
    }

    /// The fence of every write: [`Fence::for_object`] gives the fence of an object's shard.
    pub fn fence(&self) -> Fence {
        self.fence.clone()
    }

    /// A channel that changes whenever the holders or the members change.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.revision.subscribe()
    }

    fn set_holder(&self, i: u32, holder: Option<String>) -> bool {
        let mut h = lock(&self.shards[i as usize].holder);
        let changed = *h != holder;
        *h = holder;
        changed
    }

    fn set_owned(&self, i: u32, owned: bool) {
        self.shards[i as usize]
            .owned
            .send_if_modified(|v| std::mem::replace(v, owned) != owned);
    }

    fn fence_of(&self, i: u32) -> &Fence {
        &self.shards[i as usize].fence
    }

    fn bump(&self) {
        self.revision.send_modify(|r| *r = r.wrapping_add(1));
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A shard this replica holds.
struct Held {
    /// The Lease as this replica last wrote it.
    lease: Lease,
    /// When the last successful renewal (or the acquisition) was sent.
    renewed_at: Instant,
}

/// What the elector knows between rounds.
#[derive(Default)]
struct Seen {
    held: BTreeMap<u32, Held>,
    /// This replica's membership Lease as last written.
    member: Option<Lease>,
    /// Per Lease name: the `resourceVersion` last seen and when it was first seen.
    observed: HashMap<String, (String, Instant)>,
    /// Whether a list has succeeded yet.
    listed: bool,
}

/// Holds a fair share of the shard Leases for one replica: renews them, counts the live
/// members, gives up the shards beyond `ceil(shards / members)` and takes free ones up to it
/// (docs/operations.md, Sharding).
///
/// Needs `get`, `list`, `create`, `update` and `delete` on `leases.coordination.k8s.io` in the
/// namespace.
///
/// # Examples
/// ```no_run
/// # async fn f(client: kube::Client) {
/// use scalerd::kube::{LeaseTimings, ShardElector};
/// let elector = ShardElector::new(client, "scalers", "scalerd", "pod-a", 32, LeaseTimings::default());
/// let view = elector.view();
/// let run = tokio::spawn(elector.run(async { let _ = tokio::signal::ctrl_c().await; }));
/// println!("holds the shard of shop/orders: {}", view.holds("shop/orders"));
/// # let _ = run.await; }
/// ```
pub struct ShardElector {
    api: Api<Lease>,
    namespace: String,
    lease_name: String,
    identity: String,
    timings: LeaseTimings,
    view: Arc<ShardView>,
}

impl std::fmt::Debug for ShardElector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardElector")
            .field("namespace", &self.namespace)
            .field("lease_name", &self.lease_name)
            .field("identity", &self.identity)
            .field("shards", &self.view.count())
            .field("timings", &self.timings)
            .finish_non_exhaustive()
    }
}

impl ShardElector {
    /// An elector for the shard set `lease_name` (Leases `<lease_name>-shard-0` …
    /// `-shard-<shards - 1>` and the members' Leases) in `namespace`, as replica `identity`.
    pub fn new(
        client: Client,
        namespace: &str,
        lease_name: &str,
        identity: &str,
        shards: u32,
        timings: LeaseTimings,
    ) -> Self {
        ShardElector {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_owned(),
            lease_name: lease_name.to_owned(),
            identity: identity.to_owned(),
            timings,
            view: Arc::new(ShardView::new(identity, shards, timings.renew_deadline)),
        }
    }

    /// What this replica holds and sees, shared.
    pub fn view(&self) -> Arc<ShardView> {
        self.view.clone()
    }

    /// Takes part in the shard set until `shutdown` completes; then gives up every shard it
    /// holds (once its writes in flight are answered) and deletes its membership Lease.
    ///
    /// Failures are logged and retried; they never end it.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let mut shutdown = pin!(shutdown);
        let mut seen = Seen::default();
        loop {
            let started = Instant::now();
            let expiry = tokio::select! {
                biased;
                () = &mut shutdown => break,
                expiry = self.round(&mut seen) => expiry,
            };
            // The next round comes a retry period after this one began, or as soon as a
            // shard another replica holds expires, whichever is first: a dead replica's
            // shards are taken at their expiry, not up to a retry period later.
            let next = (started + self.timings.retry_period)
                .min(expiry.unwrap_or(Instant::now() + self.timings.retry_period))
                .max(Instant::now() + Duration::from_millis(10));
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                () = tokio::time::sleep_until(next) => {}
            }
        }
        let held: Vec<u32> = seen.held.keys().copied().collect();
        let released = held.into_iter().filter_map(|i| {
            let h = seen.held.remove(&i)?;
            Some(self.release(i, h))
        });
        join_all(released).await;
        if let Some(member) = seen.member.take() {
            self.delete_member(&member).await;
        }
        self.view.bump();
    }

    /// How long one call of a round other than a renewal may take: a round's calls
    /// (renewals, the list, the membership renewal, releases, acquisitions) and the wait
    /// before the next one then fit within the renew deadline.
    fn call_timeout(&self) -> Duration {
        let t = &self.timings;
        (t.renew_deadline.saturating_sub(t.retry_period) / 5).max(MIN_FENCED_TIMEOUT)
    }

    /// One round: renew, list, count the members, give up or take shards. Returns when the
    /// first shard held by another replica expires, if one does.
    async fn round(&self, seen: &mut Seen) -> Option<Instant> {
        // The renewals and the list go together: a round that comes at a dead replica's
        // expiry judges it (and takes its shards) without first waiting for its own renewals.
        // The list may show this replica's held shards before their renewal: they are not
        // judged from it.
        let ((), listed) = join(self.renew_held(seen), self.list()).await;
        let leases = match listed {
            Ok(leases) => leases,
            Err(e) => {
                tracing::warn!(lease = %self.lease_name, error = %e, "cannot list the shard leases");
                return None;
            }
        };
        let first_round = !std::mem::replace(&mut seen.listed, true);
        let now = Instant::now();
        let mut by_name: HashMap<String, Lease> = HashMap::new();
        for lease in leases {
            let Some(name) = lease.metadata.name.clone() else {
                continue;
            };
            let version = lease.metadata.resource_version.clone().unwrap_or_default();
            let first_seen = match seen.observed.get(&name) {
                Some((v, at)) if *v == version => *at,
                _ => now,
            };
            seen.observed.insert(name.clone(), (version, first_seen));
            by_name.insert(name, lease);
        }
        seen.observed.retain(|name, _| by_name.contains_key(name));
        let observed = std::mem::take(&mut seen.observed);
        let expiry_of = |lease: &Lease| -> Option<Instant> {
            let name = lease.metadata.name.as_deref().unwrap_or_default();
            let duration = lease
                .spec
                .as_ref()
                .and_then(|s| s.lease_duration_seconds)
                .and_then(|s| u64::try_from(s).ok())
                .map_or(self.timings.lease_duration, Duration::from_secs);
            observed.get(name).map(|(_, at)| *at + duration)
        };
        let expired = |lease: &Lease| expiry_of(lease).is_some_and(|at| now >= at);

        // The members: live membership Leases, and this replica.
        let mine = member_lease_name(&self.lease_name, &self.identity);
        let mut members: Vec<String> = by_name
            .values()
            .filter(|l| role(l) == Some("member") && !expired(l))
            .filter_map(|l| holder(l).map(str::to_owned))
            .collect();
        members.push(self.identity.clone());
        members.sort();
        members.dedup();
        // Renewed beside this round's releases or acquisitions, not before them.
        let member = self.renew_member(by_name.get(&mine));

        // Who holds what; which shards are free.
        let count = self.view.count();
        let mut free: Vec<(u32, Option<Lease>)> = Vec::new();
        // The first expiry of another replica's membership or shard: the next round comes
        // then. A dead replica's membership Lease expires a moment after its shards (it was
        // renewed after them, in the same round); a round at that moment counts one member
        // fewer and takes the rest of its shards, instead of a retry period later.
        let mut next_expiry: Option<Instant> = by_name
            .values()
            .filter(|l| role(l) == Some("member") && !expired(l))
            .filter(|l| holder(l).is_some_and(|h| h != self.identity))
            .filter_map(&expiry_of)
            .min();
        let mut changed = false;
        for i in 0..count {
            if seen.held.contains_key(&i) {
                changed |= self.view.set_holder(i, Some(self.identity.clone()));
                continue;
            }
            let listed = by_name.get(&shard_lease_name(&self.lease_name, i));
            let taken =
                listed.and_then(|l| holder(l).filter(|h| *h != self.identity && !expired(l)));
            changed |= self.view.set_holder(i, taken.map(str::to_owned));
            match (taken, listed.and_then(&expiry_of)) {
                (None, _) => free.push((i, listed.cloned())),
                (Some(_), Some(at)) => {
                    next_expiry = Some(next_expiry.map_or(at, |n: Instant| n.min(at)));
                }
                (Some(_), None) => {}
            }
        }
        seen.observed = observed;
        {
            let mut known = lock(&self.view.members);
            if *known != members {
                *known = members.clone();
                changed = true;
            }
        }

        let target = share(count, members.len());
        let written_member;
        if first_round {
            // A replica starting takes nothing before it has listed twice: the others
            // starting with it have then written their membership Leases, and it does not
            // take every shard only to give most of them back a round later.
            written_member = member.await;
        } else if seen.held.len() > target {
            // Keep the shards this replica prefers (rendezvous order), give up the others.
            let mut held: Vec<u32> = seen.held.keys().copied().collect();
            held.sort_by_key(|i| std::cmp::Reverse(self.preference(*i)));
            let extra: Vec<u32> = held.split_off(target);
            let releases = extra.into_iter().filter_map(|i| {
                let h = seen.held.remove(&i)?;
                Some(async move {
                    self.release(i, h).await;
                    i
                })
            });
            let (m, released) = join(member, join_all(releases)).await;
            written_member = m;
            for i in released {
                self.view.set_holder(i, None);
            }
            changed = true;
        } else if seen.held.len() < target && !free.is_empty() {
            free.sort_by_key(|(i, _)| std::cmp::Reverse(self.preference(*i)));
            free.truncate(target - seen.held.len());
            let (m, acquired) = join(
                member,
                join_all(
                    free.into_iter()
                        .map(|(i, listed)| async move { (i, self.acquire(i, listed).await) }),
                ),
            )
            .await;
            written_member = m;
            for (i, lease) in acquired {
                if let Some((lease, sent)) = lease {
                    self.view.fence_of(i).renewed(sent);
                    seen.held.insert(
                        i,
                        Held {
                            lease,
                            renewed_at: sent,
                        },
                    );
                    self.view.set_holder(i, Some(self.identity.clone()));
                    self.view.set_owned(i, true);
                    changed = true;
                }
            }
            if changed {
                tracing::info!(
                    shards = ?seen.held.keys().collect::<Vec<_>>(),
                    members = members.len(),
                    target,
                    "shards held"
                );
            }
        } else {
            written_member = member.await;
        }
        if let Some(lease) = written_member {
            seen.member = Some(lease);
        }
        if changed {
            self.view.bump();
        }
        next_expiry
    }

    /// This replica's preference for shard `i` (rendezvous hashing): replicas try free shards
    /// and keep held ones in different orders, so that they rarely race for the same one.
    fn preference(&self, i: u32) -> u64 {
        fnv1a(format!("{}/{i}", self.identity).as_bytes())
    }

    /// Renews every held shard at once; a shard whose renewal fails past the renew deadline,
    /// or that another replica took, is lost.
    async fn renew_held(&self, seen: &mut Seen) {
        let started = Instant::now();
        let deadline = |h: &Held| h.renewed_at + self.timings.renew_deadline;
        let late: Vec<u32> = seen
            .held
            .iter()
            .filter(|(_, h)| started >= deadline(h))
            .map(|(i, _)| *i)
            .collect();
        for i in late {
            seen.held.remove(&i);
            self.lose(i, "renew deadline passed");
        }
        let renewals = seen.held.iter().map(|(i, h)| {
            let mut lease = h.lease.clone();
            let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
            spec.renew_time = Some(MicroTime(Timestamp::now()));
            spec.lease_duration_seconds = Some(self.timings.duration_seconds());
            let name = shard_lease_name(&self.lease_name, *i);
            let left = deadline(h).saturating_duration_since(started);
            async move {
                let renewed = call(
                    || self.operation("update", &name),
                    left,
                    self.api.replace(&name, &PostParams::default(), &lease),
                )
                .await;
                (*i, renewed)
            }
        });
        for (i, renewed) in join_all(renewals).await {
            match renewed {
                Ok(lease) => {
                    if let Some(h) = seen.held.get_mut(&i) {
                        h.lease = lease;
                        h.renewed_at = started;
                        self.view.fence_of(i).renewed(started);
                    }
                }
                Err(e) if e.is_conflict() => {
                    seen.held.remove(&i);
                    self.lose(i, "the lease changed under this replica");
                }
                Err(e) => {
                    tracing::warn!(shard = i, error = %e, "cannot renew the shard lease");
                }
            }
        }
    }

    /// Stops owning shard `i` at once: no write leaves, the loops abandon their ticks.
    fn lose(&self, i: u32, why: &str) {
        self.view.fence_of(i).revoke();
        self.view.set_owned(i, false);
        self.view.set_holder(i, None);
        self.view.bump();
        tracing::warn!(shard = i, identity = %self.identity, reason = why, "lost the shard");
    }

    /// Gives shard `i` up: no new write, the writes in flight answered, the loops stopped,
    /// then an empty holder, so that another replica takes it at its next round. When the
    /// writes in flight take too long, the Lease is left to lapse instead.
    async fn release(&self, i: u32, held: Held) {
        let fence = self.view.fence_of(i);
        fence.revoke();
        let quiet = tokio::time::timeout(self.call_timeout(), fence.quiesced())
            .await
            .is_ok();
        self.view.set_owned(i, false);
        if !quiet {
            tracing::warn!(
                shard = i,
                "writes still in flight: the shard lease is left to lapse"
            );
            return;
        }
        let mut lease = held.lease;
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        let now = Some(MicroTime(Timestamp::now()));
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.acquire_time = now.clone();
        spec.renew_time = now;
        let name = shard_lease_name(&self.lease_name, i);
        let released = call(
            || self.operation("update", &name),
            self.call_timeout(),
            self.api.replace(&name, &PostParams::default(), &lease),
        )
        .await;
        match released {
            Ok(_) => tracing::info!(shard = i, identity = %self.identity, "released the shard"),
            Err(e) => {
                tracing::warn!(shard = i, error = %e, "cannot release the shard lease: it lapses");
            }
        }
    }

    /// Takes shard `i`, free or expired (`listed` as last listed; none: it does not exist
    /// yet). Returns the Lease written and when the request was sent.
    async fn acquire(&self, i: u32, listed: Option<Lease>) -> Option<(Lease, Instant)> {
        let name = shard_lease_name(&self.lease_name, i);
        let sent = Instant::now();
        let written = self.write_held(&name, "shard", listed).await;
        match written {
            Ok(lease) => {
                tracing::info!(shard = i, identity = %self.identity, "acquired the shard");
                Some((lease, sent))
            }
            // Another replica took it first.
            Err(e) if e.is_conflict() => None,
            Err(e) => {
                tracing::warn!(shard = i, error = %e, "cannot acquire the shard lease");
                None
            }
        }
    }

    /// Renews this replica's membership Lease (`listed` as last listed), creating it if need
    /// be; the Lease as written, if it was.
    async fn renew_member(&self, listed: Option<&Lease>) -> Option<Lease> {
        let name = member_lease_name(&self.lease_name, &self.identity);
        let written = self.write_held(&name, "member", listed.cloned()).await;
        match written {
            Ok(lease) => Some(lease),
            Err(e) => {
                tracing::warn!(lease = %name, error = %e, "cannot renew the membership lease");
                None
            }
        }
    }

    /// Deletes this replica's membership Lease (on shutdown), if it is still the one written.
    async fn delete_member(&self, member: &Lease) {
        let name = member_lease_name(&self.lease_name, &self.identity);
        let params = DeleteParams {
            preconditions: Some(kube::api::Preconditions {
                resource_version: member.metadata.resource_version.clone(),
                uid: None,
            }),
            ..DeleteParams::default()
        };
        let deleted = call(
            || self.operation("delete", &name),
            self.call_timeout(),
            self.api.delete(&name, &params),
        )
        .await;
        if let Err(e) = deleted {
            tracing::warn!(lease = %name, error = %e, "cannot delete the membership lease");
        }
    }

    /// Every Lease of the set.
    async fn list(&self) -> Result<Vec<Lease>, KubeError> {
        let selector = format!("{SHARD_SET_LABEL}={}", self.lease_name);
        let list = call(
            || Operation {
                verb: "list",
                resource: "leases.coordination.k8s.io".to_owned(),
                subresource: None,
                name: None,
                namespace: Some(self.namespace.clone()),
            },
            self.call_timeout(),
            self.api.list(&ListParams::default().labels(&selector)),
        )
        .await?;
        Ok(list.items)
    }

    fn metadata(&self, name: &str, role: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(self.namespace.clone()),
            labels: Some(
                [
                    (SHARD_SET_LABEL.to_owned(), self.lease_name.clone()),
                    (SHARD_ROLE_LABEL.to_owned(), role.to_owned()),
                ]
                .into(),
            ),
            ..ObjectMeta::default()
        }
    }

    /// The spec this replica writes when it takes a Lease over from `previous`.
    fn spec(&self, previous: Option<&LeaseSpec>) -> LeaseSpec {
        held_spec(&self.identity, &self.timings, previous)
    }

    /// Writes Lease `name` held by this replica: replaces `listed` (as last listed), or
    /// creates it (labelled with `role`) when there is none.
    async fn write_held(
        &self,
        name: &str,
        role: &str,
        listed: Option<Lease>,
    ) -> Result<Lease, KubeError> {
        match listed {
            None => {
                let lease = Lease {
                    metadata: self.metadata(name, role),
                    spec: Some(self.spec(None)),
                };
                call(
                    || self.operation("create", name),
                    self.call_timeout(),
                    self.api.create(&PostParams::default(), &lease),
                )
                .await
            }
            Some(mut lease) => {
                let previous = lease.spec.clone().unwrap_or_default();
                lease.spec = Some(self.spec(Some(&previous)));
                call(
                    || self.operation("update", name),
                    self.call_timeout(),
                    self.api.replace(name, &PostParams::default(), &lease),
                )
                .await
            }
        }
    }

    fn operation(&self, verb: &'static str, name: &str) -> Operation {
        Operation::object(verb, "leases.coordination.k8s.io", &self.namespace, name)
    }
}

/// The role label of a Lease of the set.
fn role(lease: &Lease) -> Option<&str> {
    lease
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(SHARD_ROLE_LABEL))
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shard_hash_is_fixed() {
        // FNV-1a 64 reference values: a change here breaks replicas of mixed versions.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
        assert_eq!(
            shard_of("foobar", 32),
            (0x8594_4171_f739_67e8_u64 % 32) as u32
        );
    }

    #[test]
    fn objects_spread_evenly_over_shards() {
        let mut counts = [0u32; 32];
        for i in 0..32_000 {
            counts[shard_of(&format!("ns-{}/object-{i}", i % 7), 32) as usize] += 1;
        }
        let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
        assert!(*min > 850 && *max < 1150, "{counts:?}");
    }

    #[test]
    fn the_share_is_the_ceiling() {
        assert_eq!(share(32, 3), 11);
        assert_eq!(share(32, 2), 16);
        assert_eq!(share(32, 1), 32);
        assert_eq!(share(2, 3), 1);
        assert_eq!(share(32, 0), 32);
    }

    #[test]
    fn lease_names_are_valid_object_names() {
        assert_eq!(shard_lease_name("scalerd", 7), "scalerd-shard-7");
        let member = member_lease_name("scalerd", "Host_Name-123");
        assert!(member.starts_with("scalerd-member-"));
        assert!(
            member
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        );
    }

    #[test]
    fn a_sharded_fence_routes_by_object_and_permits_nothing_alone() {
        let view = ShardView::new("a", 4, Duration::from_secs(10));
        let fence = view.fence();
        assert_eq!(fence.permit(Duration::from_secs(1)), None);
        let key = "shop/orders";
        let i = view.shard_of(key);
        assert_eq!(fence.for_object(key).permit(Duration::from_secs(1)), None);
        view.fence_of(i).renewed(Instant::now());
        assert_eq!(
            fence.for_object(key).permit(Duration::from_secs(1)),
            Some(Duration::from_secs(1))
        );
        let other = (0..100)
            .map(|n| format!("shop/o{n}"))
            .find(|k| view.shard_of(k) != i)
            .unwrap();
        assert_eq!(
            fence.for_object(&other).permit(Duration::from_secs(1)),
            None
        );
    }
}
