//! `LeaderElector` against the testkit's fake API server, through real `kube::Client`s.
//!
//! Real time with short timings (2 s lease, 1 s renew deadline, 100 ms retry period); every
//! test runs on one thread, so an elector's deadline timer fires before a later takeover.

use std::time::Duration;

use scalerd::kube::{LeaderElector, LeaseTimings, client_from_config};
use scalers_testkit::{FakeApiServer, FakeResource, Fault, JournalEntry, eventually};
use serde_json::json;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

const LEASE: &str = "/apis/coordination.k8s.io/v1/namespaces/scalers/leases/scalerd";
const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/scalers/leases/**";

const TIMINGS: LeaseTimings = LeaseTimings {
    lease_duration: Duration::from_secs(2),
    renew_deadline: Duration::from_secs(1),
    retry_period: Duration::from_millis(100),
};

/// A running candidate: whether it leads, and how to stop it.
struct Candidate {
    identity: &'static str,
    leading: watch::Receiver<bool>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Candidate {
    fn start(server: &FakeApiServer, identity: &'static str) -> Self {
        let client = client_from_config(server.config()).expect("client");
        let elector = LeaderElector::new(client, "scalers", "scalerd", identity, TIMINGS);
        let (leading_tx, leading) = watch::channel(false);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(elector.run(leading_tx, async {
            let _ = stopped.await;
        }));
        Candidate {
            identity,
            leading,
            stop: Some(stop),
            task,
        }
    }

    fn leads(&self) -> bool {
        *self.leading.borrow()
    }

    /// Graceful shutdown: the elector releases the lease and returns.
    async fn shut_down(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await.expect("elector task");
    }
}

fn holder(server: &FakeApiServer) -> Option<String> {
    server.lease("scalers", "scalerd")?.spec?.holder_identity
}

/// Successful writes of the lease, with the holder each wrote and when it took effect.
fn lease_writes(server: &FakeApiServer) -> Vec<(Option<String>, Instant)> {
    server
        .journal()
        .into_iter()
        .filter(|e| e.succeeded() && e.is_write() && e.matches("*", LEASES))
        .map(|e: JournalEntry| {
            let holder = e
                .json()
                .and_then(|b| b["spec"]["holderIdentity"].as_str().map(str::to_owned));
            (holder, e.answered)
        })
        .collect()
}

async fn wait_for_leader<'a>(candidates: &'a [&'a Candidate]) -> &'a Candidate {
    eventually(Duration::from_secs(10), || {
        let leaders: Vec<_> = candidates.iter().filter(|c| c.leads()).collect();
        let found = (leaders.len() == 1).then(|| *leaders[0]);
        async move { found }
    })
    .await
}

/// Watches the candidates for `period`, failing if two lead at once.
async fn never_two_leaders(candidates: &[&Candidate], period: Duration) {
    let end = Instant::now() + period;
    while Instant::now() < end {
        let leaders = candidates.iter().filter(|c| c.leads()).count();
        assert!(leaders <= 1, "{leaders} candidates lead at once");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn of_three_candidates_exactly_one_leads_and_holds_the_lease() {
    let server = FakeApiServer::start().await;
    let a = Candidate::start(&server, "a");
    let b = Candidate::start(&server, "b");
    let c = Candidate::start(&server, "c");
    let all = [&a, &b, &c];

    let leader = wait_for_leader(&all).await.identity;
    // Several lease durations: renewals keep the leader, nobody else takes over.
    never_two_leaders(&all, TIMINGS.lease_duration * 2).await;

    assert_eq!(wait_for_leader(&all).await.identity, leader);
    assert_eq!(holder(&server).as_deref(), Some(leader));
    let created: Vec<_> = server
        .requests("POST", LEASES)
        .into_iter()
        .filter(|e| e.succeeded())
        .collect();
    assert_eq!(created.len(), 1, "only one candidate creates the lease");
    let lease = server.lease("scalers", "scalerd").unwrap();
    let spec = lease.spec.unwrap();
    assert_eq!(spec.lease_duration_seconds, Some(2));
    assert_eq!(spec.lease_transitions, Some(0));
}

#[tokio::test]
async fn a_standby_takes_over_after_the_leader_stops_renewing() {
    let server = FakeApiServer::start().await;
    let mut a = Candidate::start(&server, "a");
    wait_for_leader(&[&a]).await;
    let b = Candidate::start(&server, "b");
    never_two_leaders(&[&a, &b], Duration::from_millis(500)).await;
    assert!(a.leads() && !b.leads());

    // The leader's process dies: no more renewals, no release.
    a.task.abort();
    let died = Instant::now();
    let _ = (&mut a.task).await;
    eventually(Duration::from_secs(10), || {
        let leads = b.leads();
        async move { leads.then_some(()) }
    })
    .await;
    let took = died.elapsed();

    assert!(
        took <= TIMINGS.lease_duration + Duration::from_millis(1500),
        "took {took:?}"
    );
    assert_eq!(holder(&server).as_deref(), Some("b"));
    // Safety: the takeover took effect a full lease duration after a's last renewal.
    let writes = lease_writes(&server);
    let last_a = writes
        .iter()
        .filter(|(h, _)| h.as_deref() == Some("a"))
        .map(|(_, at)| *at)
        .max()
        .unwrap();
    let first_b = writes
        .iter()
        .filter(|(h, _)| h.as_deref() == Some("b"))
        .map(|(_, at)| *at)
        .min()
        .unwrap();
    assert!(
        first_b >= last_a + TIMINGS.lease_duration,
        "b took over {:?} after a's last renewal",
        first_b - last_a
    );
    let spec = server.lease("scalers", "scalerd").unwrap().spec.unwrap();
    assert_eq!(spec.lease_transitions, Some(1));
    let terms = server.lease_terms("scalers", "scalerd");
    let holders: Vec<_> = terms.iter().map(|t| t.holder.as_str()).collect();
    assert_eq!(holders, ["a", "b"]);
    assert_eq!(terms[0].until, last_a + TIMINGS.lease_duration);
    assert!(terms[0].until <= terms[1].from);
}

#[tokio::test]
async fn a_graceful_release_hands_over_at_once() {
    let server = FakeApiServer::start().await;
    let a = Candidate::start(&server, "a");
    wait_for_leader(&[&a]).await;
    let b = Candidate::start(&server, "b");
    never_two_leaders(&[&a, &b], Duration::from_millis(300)).await;
    let mut a_leading = a.leading.clone();

    let stopped = Instant::now();
    a.shut_down().await;
    assert!(!*a_leading.borrow_and_update(), "a stopped leading");
    eventually(Duration::from_secs(10), || {
        let leads = b.leads();
        async move { leads.then_some(()) }
    })
    .await;
    let took = stopped.elapsed();

    // Far sooner than a lease duration: b saw the empty holder at its next attempt.
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert_eq!(holder(&server).as_deref(), Some("b"));
    let writes = lease_writes(&server);
    let release = writes
        .iter()
        .position(|(h, _)| h.is_none())
        .expect("a released the lease");
    assert!(
        writes[..release]
            .iter()
            .all(|(h, _)| h.as_deref() == Some("a")),
        "{writes:?}"
    );
    assert!(
        writes[release + 1..]
            .iter()
            .all(|(h, _)| h.as_deref() == Some("b")),
        "{writes:?}"
    );
    let terms = server.lease_terms("scalers", "scalerd");
    let holders: Vec<_> = terms.iter().map(|t| t.holder.as_str()).collect();
    assert_eq!(holders, ["a", "b"]);
    assert_eq!(
        terms[0].until, writes[release].1,
        "a's term ends with its release"
    );
    assert!(terms[1].covers(Instant::now()));
}

#[tokio::test]
async fn a_leader_whose_renewals_fail_stops_leading_by_the_renew_deadline() {
    let server = FakeApiServer::start().await;
    let a = Candidate::start(&server, "a");
    wait_for_leader(&[&a]).await;
    let mut leading = a.leading.clone();
    leading.borrow_and_update();

    server.inject(Fault::status(500).on("PUT", LEASE));
    let broke = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), leading.changed())
        .await
        .expect("a stops leading")
        .unwrap();
    let took = broke.elapsed();

    assert!(!a.leads());
    assert!(
        took <= TIMINGS.renew_deadline + TIMINGS.retry_period * 2,
        "took {took:?}"
    );
    let failed = server
        .requests("PUT", LEASE)
        .iter()
        .filter(|e| e.status == 500)
        .count();
    assert!(failed >= 2, "renewal was retried ({failed} attempts)");

    // The API recovers: the lease still names a, so a leads again at once.
    server.clear_faults();
    tokio::time::timeout(Duration::from_secs(5), leading.changed())
        .await
        .expect("a leads again")
        .unwrap();
    assert!(a.leads());
    assert_eq!(holder(&server).as_deref(), Some("a"));
}

#[tokio::test]
async fn a_hanging_renewal_still_stops_leading_on_time() {
    let server = FakeApiServer::start().await;
    let a = Candidate::start(&server, "a");
    wait_for_leader(&[&a]).await;
    let mut leading = a.leading.clone();
    leading.borrow_and_update();

    server.inject(Fault::delay(Duration::from_secs(30)).on("PUT", LEASE));
    let hung = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), leading.changed())
        .await
        .expect("a stops leading")
        .unwrap();

    assert!(!a.leads());
    let took = hung.elapsed();
    assert!(
        took <= TIMINGS.renew_deadline + TIMINGS.retry_period * 2,
        "took {took:?}"
    );
}

#[tokio::test]
async fn a_leader_that_finds_another_holder_stops_leading_at_once() {
    let server = FakeApiServer::start().await;
    let a = Candidate::start(&server, "a");
    wait_for_leader(&[&a]).await;
    let mut leading = a.leading.clone();
    leading.borrow_and_update();

    // Someone else writes the lease: a's next renewal carries a stale resourceVersion.
    let mut lease = server
        .object(&FakeResource::LEASE, "scalers", "scalerd")
        .unwrap();
    lease["spec"]["holderIdentity"] = json!("intruder");
    server.put_object(&FakeResource::LEASE, "scalers", lease);
    let written = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), leading.changed())
        .await
        .expect("a stops leading")
        .unwrap();

    assert!(!a.leads());
    assert!(
        written.elapsed() < TIMINGS.renew_deadline,
        "took {:?}",
        written.elapsed()
    );
    assert!(
        server
            .requests("PUT", LEASE)
            .iter()
            .any(|e| e.status == 409),
        "the renewal met a conflict"
    );
    assert_eq!(holder(&server).as_deref(), Some("intruder"));
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_by_one_candidate_only() {
    let server = FakeApiServer::start().await;
    server.put_object(
        &FakeResource::LEASE,
        "scalers",
        json!({
            "metadata": {"name": "scalerd"},
            "spec": {
                "holderIdentity": "ghost",
                "leaseDurationSeconds": 1,
                "renewTime": "2020-01-01T00:00:00.000000Z",
                "leaseTransitions": 4,
            },
        }),
    );
    let a = Candidate::start(&server, "a");
    let b = Candidate::start(&server, "b");
    let started = Instant::now();

    let leader = wait_for_leader(&[&a, &b]).await.identity;
    let took = started.elapsed();
    never_two_leaders(&[&a, &b], Duration::from_millis(500)).await;

    // Expiry counts from when each candidate first saw the record (plus the record's 1 s),
    // not from its old renewTime.
    assert!(took >= Duration::from_secs(1), "took {took:?}");
    let writers: Vec<_> = lease_writes(&server)
        .into_iter()
        .filter_map(|(h, _)| h)
        .collect();
    assert!(
        !writers.is_empty() && writers.iter().all(|h| h == leader),
        "only the leader wrote: {writers:?}"
    );
    let spec = server.lease("scalers", "scalerd").unwrap().spec.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some(leader));
    assert_eq!(spec.lease_transitions, Some(5));
}

#[tokio::test]
async fn leading_starts_false_and_the_default_timings_are_kedas() {
    assert_eq!(
        LeaseTimings::default(),
        LeaseTimings {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    );
    let server = FakeApiServer::start().await;
    server.inject(Fault::status(403).on("*", "/apis/coordination.k8s.io/**"));
    let a = Candidate::start(&server, "a");
    eventually(Duration::from_secs(5), || {
        let tried = server.requests("GET", LEASE).len() >= 2;
        async move { tried.then_some(()) }
    })
    .await;
    assert!(!a.leads(), "a forbidden lease is never led");
    a.shut_down().await;
    assert!(server.requests("PUT", LEASE).is_empty());
}
