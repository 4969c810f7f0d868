//! Safety under faults (issue 14) with two `scalerd run --leader-elect` processes against the
//! testkit's fake API server and a real Redis. What the daemons believe is not trusted: every
//! check is made on the fake server's journal of requests and its Lease records.
//!
//! - A leader whose renewals hang and whose reads are slow never writes once another replica
//!   may hold the Lease: every successful write came from the Lease holder of that moment.
//! - A standby taking over an object with `minReplicaCount: 0` does not scale it to zero
//!   before a full cooldown.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use scalers_testkit::{
    FakeApiServer, FakeResource, Fault, JournalEntry, LeaseTerm, RedisServer, eventually,
    unique_name,
};
use support::{
    Dir, ScalerdProcess as Process, k8s_name, kubeconfig, refuse_workload_watches, replicas_become,
    set_list,
};
use tokio::time::Instant;

const DEPLOY: FakeResource = FakeResource::DEPLOYMENT;
const LEASE: &str = "/apis/coordination.k8s.io/v1/namespaces/scalers/leases/scalerd";
const LEASES: &str = "/apis/coordination.k8s.io/**";
/// `--lease-timings`: a 3 s lease, a 2 s renew deadline, a 0.2 s retry period.
const TIMINGS: [&str; 3] = ["3", "2", "0.2"];

/// A `scalerd run` process with leader election on the fake server's Lease.
fn spawn(dir: &Dir, config: &Path, kubeconfig: &Path, identity: &str) -> Process {
    let (config, kubeconfig) = (config.as_os_str(), kubeconfig.as_os_str());
    let mut args = vec![
        "--config".as_ref(),
        config,
        "--kubeconfig".as_ref(),
        kubeconfig,
        "--leader-elect".as_ref(),
        "--lease-namespace".as_ref(),
        "scalers".as_ref(),
        "--lease-timings".as_ref(),
    ];
    args.extend(TIMINGS.iter().map(std::ffi::OsStr::new));
    Process::spawn(dir, identity, "info", args)
}

/// Whether `p` leads, from its `/status`.
async fn leads(p: &Process) -> Option<bool> {
    p.status().await.map(|s| s.leader)
}

/// Waits until exactly one of `a` and `b` leads; returns (leader, standby).
async fn roles<'p>(a: &'p Process, b: &'p Process) -> (&'p Process, &'p Process) {
    eventually(Duration::from_secs(30), || async {
        match (leads(a).await, leads(b).await) {
            (Some(true), Some(false)) => Ok((a, b)),
            (Some(false), Some(true)) => Ok((b, a)),
            other => Err(format!("{other:?}")),
        }
    })
    .await
}

/// Which of the two processes sent `entry`, from its User-Agent (`scalerd/x (<identity>)`).
fn writer<'a>(entry: &JournalEntry, identities: [&'a str; 2]) -> &'a str {
    let agent = entry.user_agent.clone().unwrap_or_default();
    identities
        .into_iter()
        .find(|id| agent.contains(&format!("({id})")))
        .unwrap_or_else(|| panic!("unknown writer {agent:?} of {entry}"))
}

/// Every successful write but the Lease's own (`/scale` patches, Events) was answered while
/// its writer held the Lease, by the server's own records.
fn assert_only_holders_wrote(fake: &FakeApiServer, identities: [&str; 2]) -> Vec<JournalEntry> {
    let terms: Vec<LeaseTerm> = fake.lease_terms("scalers", "scalerd");
    let writes: Vec<JournalEntry> = fake
        .journal()
        .into_iter()
        .filter(|e| e.succeeded() && e.is_write() && !e.matches("*", LEASES))
        .collect();
    for w in &writes {
        let who = writer(w, identities);
        assert!(
            terms
                .iter()
                .any(|t| t.holder == who && t.covers(w.answered)),
            "{who} wrote {w} at {:?}, outside its terms {terms:?}",
            w.answered
        );
    }
    writes
}

fn config(dir: &Dir, name: &str, redis: &RedisServer, key: &str, extra: &str) -> PathBuf {
    dir.write(
        "c.yaml",
        &format!(
            "scaledObjects:\n  - name: {name}\n    namespace: shop\n    scaleTargetRef: {{name: {name}}}\n    pollingInterval: 1\n    maxReplicaCount: 30\n{extra}    advanced:\n      horizontalPodAutoscalerConfig:\n        behavior:\n          scaleUp: {{stabilizationWindowSeconds: 0, policies: [{{type: Pods, value: 100, periodSeconds: 1}}]}}\n    triggers:\n      - type: redis\n        name: jobs\n        metadata: {{address: '{}', listName: '{key}', listLength: '10'}}\n",
            redis.address()
        ),
    )
}

/// Issue 14, item 1. The leader's Lease renewals hang and its reads of the workload take
/// 2.5 s each (a tick reads `/scale` and the Deployment: 5 s, more than the whole lease
/// duration). It used to finish such a tick and write `/scale` seconds after the standby had
/// taken over. Now its tick is abandoned, no write of it is sent, and every successful write
/// (from the journal) was answered while its writer held the Lease (from the Lease records).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_lost_its_lease_never_writes_even_with_a_slow_api_server() {
    let redis = RedisServer::shared().await;
    let key = unique_name("jobs");
    set_list(&redis.client(), &key, 25);
    let fake = FakeApiServer::start().await;
    let name = k8s_name("fenced");
    fake.put_workload(&DEPLOY, "shop", &name, 1);
    // The workload is read through `/scale` each tick (no watch), so that reads can crawl.
    refuse_workload_watches(&fake);
    let dir = Dir::new("safety-fence");
    let config = config(&dir, &name, redis, &key, "    minReplicaCount: 1\n");
    let kubeconfig = kubeconfig(&dir, &fake);
    let a = spawn(&dir, &config, &kubeconfig, "fence-a");
    let b = spawn(&dir, &config, &kubeconfig, "fence-b");
    let (leader, standby) = roles(&a, &b).await;
    replicas_become(&fake, &name, 3, Duration::from_secs(20)).await;

    // The leader's renewals hang, its reads crawl; meanwhile the load changes, so that every
    // tick it started would write.
    let agent = format!("({})", leader.identity);
    fake.inject(
        Fault::delay(Duration::from_secs(60))
            .on("PUT", LEASE)
            .from_agent(&agent),
    );
    fake.inject(
        Fault::delay(Duration::from_millis(2500))
            .on("GET", "/apis/apps/v1/namespaces/shop/deployments/**")
            .from_agent(&agent),
    );
    let faulted = Instant::now();
    set_list(&redis.client(), &key, 95);

    // The standby takes over and writes the new count.
    eventually(Duration::from_secs(20), || async {
        match leads(standby).await {
            Some(true) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    replicas_become(&fake, &name, 10, Duration::from_secs(20)).await;
    // Long enough for any write of a tick the old leader began to arrive: its reads end
    // 5 s after it began, the last one it could begin before the deadline.
    let settle = faulted + Duration::from_secs(12);
    tokio::time::sleep_until(settle).await;

    let writes = assert_only_holders_wrote(&fake, [&a.identity, &b.identity]);
    assert!(
        writes
            .iter()
            .any(|w| writer(w, [&a.identity, &b.identity]) == standby.identity),
        "the new leader wrote nothing"
    );
    // The old leader sent no write of `/scale` after the fault at all, not even a refused one:
    // every tick it began then read the workload too slowly to write in time.
    let sent: Vec<JournalEntry> = fake
        .requests(
            "PATCH",
            &format!("/apis/apps/v1/namespaces/shop/deployments/{name}/scale"),
        )
        .into_iter()
        .filter(|w| {
            w.received > faulted && writer(w, [&a.identity, &b.identity]) == leader.identity
        })
        .collect();
    assert!(sent.is_empty(), "the old leader sent {sent:?}");
    let log = leader.log();
    assert!(
        log.contains("stopped leading during the tick: abandoned")
            || log.contains("stopped leading before the write: tick abandoned"),
        "the old leader's log does not say its tick was abandoned:\n{log}"
    );
    assert!(log.contains("stopped leading"), "{log}");
    assert_eq!(fake.replicas(&DEPLOY, "shop", &name), Some(10));
}

/// Issue 14, item 2, for a takeover: the leader scaled an object with `minReplicaCount: 0`
/// up, the work ended, and the leader was killed (`kill -9`) a moment later. The standby that
/// takes over knows nothing of the object's last activity: it must wait a full cooldown from
/// the takeover before it scales to zero (it used to do so at its first tick).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_taking_over_waits_a_full_cooldown_before_scaling_to_zero() {
    const COOLDOWN: Duration = Duration::from_secs(8);
    let redis = RedisServer::shared().await;
    let key = unique_name("jobs");
    set_list(&redis.client(), &key, 25);
    let fake = FakeApiServer::start().await;
    let name = k8s_name("takeover");
    fake.put_workload(&DEPLOY, "shop", &name, 0);
    let dir = Dir::new("safety-takeover");
    let extra = format!(
        "    minReplicaCount: 0\n    cooldownPeriod: {}\n",
        COOLDOWN.as_secs()
    );
    let config = config(&dir, &name, redis, &key, &extra);
    let kubeconfig = kubeconfig(&dir, &fake);
    let a = spawn(&dir, &config, &kubeconfig, "takeover-a");
    let b = spawn(&dir, &config, &kubeconfig, "takeover-b");
    let (leader, standby) = roles(&a, &b).await;
    let (leader_id, standby_id) = (leader.identity.clone(), standby.identity.clone());
    replicas_become(&fake, &name, 3, Duration::from_secs(20)).await;

    set_list(&redis.client(), &key, 0);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (mut leader, standby) = if leader_id == a.identity {
        (a, b)
    } else {
        (b, a)
    };
    leader.child.kill().unwrap();
    leader.child.wait().unwrap();

    replicas_become(&fake, &name, 0, COOLDOWN + Duration::from_secs(15)).await;
    assert_eq!(leads(&standby).await, Some(true));
    let terms = fake.lease_terms("scalers", "scalerd");
    let took_over = terms
        .iter()
        .find(|t| t.holder == standby_id)
        .map(|t| t.from)
        .expect("the standby's term");
    let zero = fake
        .requests(
            "PATCH",
            &format!("/apis/apps/v1/namespaces/shop/deployments/{name}/scale"),
        )
        .into_iter()
        .filter(|w| w.succeeded())
        .find(|w| w.json().is_some_and(|b| b["spec"]["replicas"] == 0))
        .expect("a write of 0");
    assert_eq!(writer(&zero, [&leader_id, &standby_id]), standby_id);
    let after = zero.received.duration_since(took_over);
    assert!(
        after >= COOLDOWN,
        "scaled to zero {after:?} after the takeover, before the {COOLDOWN:?} cooldown"
    );
    assert_eq!(fake.scale_writes(&DEPLOY, "shop", &name), [1, 3, 0]);
    assert_only_holders_wrote(&fake, [&leader_id, &standby_id]);
}
