//! Scale out (issue 19): three `scalerd run --sharding` processes against the testkit's fake
//! API server and a real Redis, with 3,000 scaled objects from one config file (every replica
//! reads the same file, as a Deployment mounting one ConfigMap does). What the daemons
//! believe is not trusted: ownership is reconstructed from the server's journal of requests
//! and its Lease records (`lease_terms` of every shard Lease).
//!
//! One test, in phases: the three balance the 32 shards; one is killed (`kill -9`) and its
//! objects are owned and scaled again by the others within the lease duration + 2 s; it
//! starts again and takes its share back within the documented bound; at the end every write
//! (`/scale`, status, finalizers, Events) was sent by the holder of the object's shard at that
//! moment, and every object was written only the counts its load asked for, 3 then 6,
//! whichever replicas it moved between.
//!
//! The file, not ScaledObjects in the cluster: three debug builds each taking 3,000
//! ScaledObjects from a watch did not have them all running within minutes on two busy
//! cores. The handover of the persisted status (`lastActiveTime`) in cluster mode has its own
//! test below, with fewer objects.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use scalerd::kube::{shard_lease_name, shard_of};
use scalers_testkit::{
    FakeApiServer, FakeResource, JournalEntry, LeaseTerm, RedisServer, eventually, unique_name,
};
use support::{Dir, ScalerdProcess as Process, kubeconfig, set_list};
use tokio::time::Instant;

const DEPLOY: FakeResource = FakeResource::DEPLOYMENT;
const OBJECTS: usize = 3000;
const SHARDS: u32 = 32;
const LEASE_NAME: &str = "scalerd";
/// `--lease-timings`: an 8 s lease, a 6 s renew deadline, a 0.5 s retry period (three debug
/// builds starting 3,000 objects each answer a Lease call in up to a second at times).
const TIMINGS: [&str; 3] = ["8", "6", "0.5"];
const LEASE_DURATION: Duration = Duration::from_secs(8);
const RETRY: Duration = Duration::from_millis(500);
/// The polling interval of every object: 10 s keeps three debug builds with 3,000 objects
/// within the two cores (each object ticks at its owner only).
const POLLING: u64 = 10;
/// The bound docs/operations.md gives for a joining replica to hold its share: 3 retry
/// periods plus the calls of the rounds (each at most a fifth of renew deadline − retry).
const JOIN_BOUND: Duration = Duration::from_millis(3 * 500 + 4 * 1100);

/// A `scalerd run --sharding` process on the fake server's Leases.
fn spawn(dir: &Dir, config: &Path, kubeconfig: &Path, identity: &str) -> Process {
    spawn_with(dir, Some(config), kubeconfig, identity, SHARDS, TIMINGS)
}

/// A process with `shards` shards and these `--lease-timings`; without a config, in cluster
/// mode.
fn spawn_with(
    dir: &Dir,
    config: Option<&Path>,
    kubeconfig: &Path,
    identity: &str,
    shards: u32,
    timings: [&str; 3],
) -> Process {
    let mut args: Vec<std::ffi::OsString> = Vec::new();
    if let Some(config) = config {
        args.extend(["--config".into(), config.into()]);
    }
    args.extend(["--kubeconfig".into(), kubeconfig.into()]);
    let shards = shards.to_string();
    args.extend(
        [
            "--sharding",
            "--shards",
            &shards,
            "--lease-namespace",
            "scalers",
        ]
        .map(Into::into),
    );
    args.push("--lease-timings".into());
    args.extend(timings.map(Into::into));
    args.extend(["--kube-api-qps", "0"].map(Into::into));
    Process::spawn(dir, identity, "warn,scalerd::kube::shards=info", args)
}

fn name(i: usize) -> String {
    format!("w{i:04}")
}

fn key(i: usize) -> String {
    format!("shop/{}", name(i))
}

/// The config file: `OBJECTS` objects, each scaling its own Deployment on the Redis list of
/// its shard (`{list}-{shard}`): the test can then load the killed replica's objects alone.
fn config(dir: &Dir, redis: &RedisServer, list: &str) -> PathBuf {
    let mut text = String::from("scaledObjects:\n");
    for i in 0..OBJECTS {
        text.push_str(&format!(
            "  - {{name: {n}, namespace: shop, scaleTargetRef: {{name: {n}}}, pollingInterval: {POLLING}, minReplicaCount: 1, maxReplicaCount: 30, triggers: [{{type: redis, name: jobs, metadata: {{address: '{}', listName: '{}', listLength: '10'}}}}]}}\n",
            redis.address(),
            shard_list(list, shard_of(&key(i), SHARDS)),
            n = name(i),
        ));
    }
    dir.write("scalerd.yaml", &text)
}

/// The Redis list the objects of `shard` read.
fn shard_list(list: &str, shard: u32) -> String {
    format!("{list}-{shard}")
}

/// Sets the lists of `shards` to `items` items.
fn set_shard_lists(
    redis: &RedisServer,
    list: &str,
    shards: impl IntoIterator<Item = u32>,
    items: usize,
) {
    let client = redis.client();
    for shard in shards {
        set_list(&client, &shard_list(list, shard), items);
    }
}

/// The terms of every shard Lease, by shard.
fn terms(fake: &FakeApiServer) -> Vec<Vec<LeaseTerm>> {
    (0..SHARDS)
        .map(|i| fake.lease_terms("scalers", &shard_lease_name(LEASE_NAME, i)))
        .collect()
}

/// Who holds each shard now, by the server's Lease records.
fn holders(fake: &FakeApiServer) -> Vec<Option<String>> {
    (0..SHARDS)
        .map(|i| {
            fake.lease("scalers", &shard_lease_name(LEASE_NAME, i))
                .and_then(|l| l.spec?.holder_identity)
                .filter(|h| !h.is_empty())
        })
        .collect()
}

/// Waits until every shard is held and each of `identities` holds its fair share (10 or 11
/// of 32 for three); returns how long it took.
async fn balanced(fake: &FakeApiServer, identities: &[&str], deadline: Duration) -> Duration {
    let started = Instant::now();
    eventually(deadline, || async {
        let h = holders(fake);
        let mut count: BTreeMap<&str, usize> = identities.iter().map(|i| (*i, 0)).collect();
        for holder in h.iter().flatten() {
            if let Some(n) = count.get_mut(holder.as_str()) {
                *n += 1;
            }
        }
        let total: usize = count.values().sum();
        let low = SHARDS as usize / identities.len();
        if total == SHARDS as usize && count.values().all(|n| *n >= low && *n <= low + 1) {
            Ok(())
        } else {
            Err(format!("{count:?} of {SHARDS} held"))
        }
    })
    .await;
    started.elapsed()
}

/// The scaled object a write is about, from its path (`/scale`, `scaledobjects/NAME[/status]`)
/// or, for an Event, its `regarding` (the target, named as its object here).
fn object_of(w: &JournalEntry) -> Option<String> {
    let path = w.path.as_str();
    if let Some(rest) = path.strip_prefix("/apis/apps/v1/namespaces/shop/deployments/") {
        return Some(format!("shop/{}", rest.trim_end_matches("/scale")));
    }
    if let Some(rest) = path.strip_prefix("/apis/keda.sh/v1alpha1/namespaces/shop/scaledobjects/") {
        return Some(format!("shop/{}", rest.trim_end_matches("/status")));
    }
    if path.starts_with("/apis/events.k8s.io/v1/namespaces/shop/events") {
        let body = w.json()?;
        let regarding = &body["regarding"]["name"];
        return match regarding.as_str() {
            Some(n) => Some(format!("shop/{n}")),
            // A PATCH of an Event's series names only the Event (`<target>.<suffix>`).
            None => w
                .path
                .rsplit('/')
                .next()
                .and_then(|e| e.split('.').next())
                .map(|n| format!("shop/{n}")),
        };
    }
    None
}

/// The identity in a request's User-Agent (`scalerd/x (<identity>)`).
fn writer(w: &JournalEntry) -> String {
    let agent = w.user_agent.clone().unwrap_or_default();
    agent
        .rsplit_once('(')
        .map(|(_, id)| id.trim_end_matches(')').to_owned())
        .unwrap_or_else(|| panic!("no identity in the User-Agent {agent:?} of {w}"))
}

/// Checks that every successful write but the Leases' own (`/scale`, status, finalizers,
/// Events) was answered while its writer (by its User-Agent) held the shard of the object it is
/// about (by the server's Lease records); returns how many there were, and the counts written
/// to each object's `/scale`, in order.
fn assert_only_owners_wrote(
    fake: &FakeApiServer,
    shards: u32,
) -> (usize, BTreeMap<String, Vec<u64>>) {
    let terms: Vec<Vec<LeaseTerm>> = (0..shards)
        .map(|i| fake.lease_terms("scalers", &shard_lease_name(LEASE_NAME, i)))
        .collect();
    let mut writes = 0;
    let mut counts: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for w in fake
        .journal()
        .iter()
        .filter(|w| w.succeeded() && w.is_write() && !w.path.contains("/leases"))
    {
        let k = object_of(w).unwrap_or_else(|| panic!("a write about no object: {w}"));
        let who = writer(w);
        let shard = shard_of(&k, shards) as usize;
        assert!(
            terms[shard]
                .iter()
                .any(|t| t.holder == who && t.covers(w.answered)),
            "{who} wrote {w} ({k}, shard {shard}) outside its terms {:?}",
            terms[shard]
        );
        if w.method == "PATCH" && w.path.ends_with("/scale") {
            let n = w.json().and_then(|b| b["spec"]["replicas"].as_u64());
            counts.entry(k).or_default().push(n.unwrap_or(u64::MAX));
        }
        writes += 1;
    }
    (writes, counts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_sharded_replicas_split_the_objects_and_take_over_a_killed_ones_share() {
    let redis = RedisServer::shared().await;
    let list = unique_name("jobs");
    set_shard_lists(redis, &list, 0..SHARDS, 25);
    let fake = FakeApiServer::start().await;
    for i in 0..OBJECTS {
        fake.put_workload(&DEPLOY, "shop", &name(i), 1);
    }
    let dir = Dir::new("sharding");
    let config = config(&dir, redis, &list);
    let kubeconfig = kubeconfig(&dir, &fake);
    let ids = ["shard-a", "shard-b", "shard-c"];
    let mut processes: Vec<Process> = ids
        .iter()
        .map(|id| spawn(&dir, &config, &kubeconfig, id))
        .collect();

    // 1. The three split the shards evenly, and every object is scaled to 3 (25 items).
    balanced(&fake, &ids, Duration::from_secs(60)).await;
    eventually(Duration::from_secs(90), || async {
        let behind: Vec<usize> = (0..OBJECTS)
            .filter(|i| fake.replicas(&DEPLOY, "shop", &name(*i)) != Some(3))
            .collect();
        if behind.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} objects not at 3, e.g. {}",
                behind.len(),
                name(behind[0])
            ))
        }
    })
    .await;

    // `/status` and `/metrics` show the owner of each object; every object is owned once.
    let h = holders(&fake);
    let status = processes[0].status().await.expect("/status");
    let sharding = status.sharding.clone().expect("a sharded status");
    assert_eq!(sharding.shards, SHARDS);
    assert_eq!(sharding.members, ids.map(str::to_owned).to_vec());
    assert_eq!(status.objects.len(), OBJECTS);
    for o in &status.objects {
        let shard = shard_of(&o.scaled_object, SHARDS);
        assert_eq!(o.shard, Some(shard));
        assert_eq!(o.owner, h[shard as usize], "{}", o.scaled_object);
    }
    let mut owned: BTreeMap<String, String> = BTreeMap::new();
    for p in &processes {
        let text = p.metrics().await;
        for line in text
            .lines()
            .filter(|l| l.starts_with("scalers_scaled_object_owner{"))
        {
            let label = |k: &str| {
                let start = line.find(&format!("{k}=\"")).unwrap() + k.len() + 2;
                line[start..].split('"').next().unwrap().to_owned()
            };
            assert_eq!(label("owner"), p.identity, "{line}");
            let k = format!("{}/{}", label("namespace"), label("scaled_object"));
            assert!(
                owned.insert(k.clone(), p.identity.clone()).is_none(),
                "{k} owned twice"
            );
        }
    }
    assert_eq!(owned.len(), OBJECTS);
    for (k, owner) in &owned {
        assert_eq!(
            h[shard_of(k, SHARDS) as usize].as_deref(),
            Some(owner.as_str())
        );
    }
    let table = Command::new(env!("CARGO_BIN_EXE_scalerd"))
        .args(["status", "--url", &processes[1].admin])
        .output()
        .expect("scalerd status");
    let table = String::from_utf8_lossy(&table.stdout).into_owned();
    let header = table.lines().next().unwrap_or_default();
    assert!(header.contains("OWNER"), "{table}");
    let first = table.lines().nth(1).unwrap_or_default();
    let first_owner = h[shard_of(&key(0), SHARDS) as usize].clone().unwrap();
    assert!(
        first.starts_with(&key(0)) && first.contains(&first_owner),
        "{table}"
    );

    // 2. kill -9 of one replica; then more load on its objects alone, so that each of them
    // must be written (the others' load is raised after the takeover is measured, so that the
    // survivors' own writes do not stand in the takeover's way on the two shared cores).
    let victim = processes.remove(2);
    let victim_id = victim.identity.clone();
    let victims_shards: BTreeSet<u32> = holders(&fake)
        .iter()
        .enumerate()
        .filter(|(_, h)| h.as_deref() == Some(victim_id.as_str()))
        .map(|(i, _)| u32::try_from(i).unwrap())
        .collect();
    assert!(!victims_shards.is_empty());
    let mut victim = victim;
    victim.child.kill().unwrap();
    victim.child.wait().unwrap();
    let killed = Instant::now();
    set_shard_lists(redis, &list, victims_shards.iter().copied(), 55);
    let orphans: Vec<usize> = (0..OBJECTS)
        .filter(|i| victims_shards.contains(&shard_of(&key(*i), SHARDS)))
        .collect();
    let bound = LEASE_DURATION + Duration::from_secs(2);
    eventually(bound + Duration::from_secs(20), || async {
        let behind = orphans
            .iter()
            .filter(|i| fake.replicas(&DEPLOY, "shop", &name(**i)) != Some(6))
            .count();
        if behind == 0 {
            Ok(())
        } else {
            Err(format!("{behind} of {} orphans not at 6", orphans.len()))
        }
    })
    .await;
    // Each of its shards was taken over within the lease duration + 2 s (Lease records).
    let after_kill = terms(&fake);
    let mut owned_again = Duration::ZERO;
    for i in &victims_shards {
        let next = after_kill[*i as usize]
            .iter()
            .find(|t| t.holder != victim_id && t.from > killed)
            .unwrap_or_else(|| panic!("shard {i} not taken over: {:?}", after_kill[*i as usize]));
        owned_again = owned_again.max(next.from.duration_since(killed));
    }
    // From the journal: when each orphan's write of 6 was answered, and who sent it.
    let journal = fake.journal();
    let mut scaled_again = Duration::ZERO;
    for w in journal.iter().filter(|w| {
        w.succeeded()
            && w.method == "PATCH"
            && w.path.ends_with("/scale")
            && w.received > killed
            && w.json().is_some_and(|b| b["spec"]["replicas"] == 6)
    }) {
        let Some(k) = object_of(w) else { continue };
        if victims_shards.contains(&shard_of(&k, SHARDS)) {
            assert_ne!(writer(w), victim_id);
            scaled_again = scaled_again.max(w.answered.duration_since(killed));
        }
    }
    eprintln!(
        "sharding: the {} shards of the killed replica owned again {owned_again:?} after the \
         kill, its {} objects all scaled again {scaled_again:?} after it",
        victims_shards.len(),
        orphans.len(),
    );
    assert!(
        owned_again <= bound,
        "the last orphan shard was owned {owned_again:?} after the kill, beyond {bound:?}"
    );
    assert!(
        scaled_again <= bound,
        "the last orphan was scaled {scaled_again:?} after the kill, beyond {bound:?}"
    );
    balanced(&fake, &ids[..2], Duration::from_secs(10)).await;
    // The survivors' own objects get the load too: every object is at 6 after their next tick.
    set_shard_lists(
        redis,
        &list,
        (0..SHARDS).filter(|i| !victims_shards.contains(i)),
        55,
    );
    eventually(Duration::from_secs(POLLING + 20), || async {
        let behind = (0..OBJECTS)
            .filter(|i| fake.replicas(&DEPLOY, "shop", &name(*i)) != Some(6))
            .count();
        if behind == 0 {
            Ok(())
        } else {
            Err(format!("{behind} objects not at 6"))
        }
    })
    .await;

    // 3. The killed replica starts again and takes its share back within the bound; no
    // handover leaves a shard unowned for longer than a round beyond it.
    let rejoined = spawn(&dir, &config, &kubeconfig, &victim_id);
    drop(victim);
    let restarted = Instant::now();
    eventually(Duration::from_secs(60), || async {
        match rejoined.status().await {
            Some(_) => Ok(()),
            None => Err("no /status yet".to_owned()),
        }
    })
    .await;
    balanced(&fake, &ids, Duration::from_secs(60)).await;
    let journal = fake.journal();
    let member = scalerd::kube::member_lease_name(LEASE_NAME, &victim_id);
    let joined = journal
        .iter()
        .filter(|w| w.succeeded() && w.is_write() && w.received > restarted)
        .find(|w| {
            w.path.ends_with(&format!("/leases/{member}"))
                || (w.method == "POST"
                    && w.json()
                        .is_some_and(|b| b["metadata"]["name"] == member.as_str()))
        })
        .map(|w| w.answered)
        .expect("the rejoined replica's membership lease");
    let rebalanced = terms(&fake)
        .iter()
        .flat_map(|ts| {
            ts.iter()
                .filter(|t| t.holder == victim_id && t.from > joined)
        })
        .map(|t| t.from)
        .max()
        .expect("the rejoined replica holds shards");
    let took = rebalanced.duration_since(joined);
    eprintln!("sharding: the rejoined replica held its share {took:?} after joining");
    assert!(
        took <= JOIN_BOUND,
        "balance returned {took:?} after the join, beyond {JOIN_BOUND:?}"
    );
    processes.push(rejoined);
    // Handovers to the rejoined replica: released and taken again within a round or two.
    for (i, ts) in terms(&fake).iter().enumerate() {
        for pair in ts.windows(2) {
            if pair[1].holder == victim_id && pair[1].from > joined {
                let gap = pair[1].from.saturating_duration_since(pair[0].until);
                assert!(
                    gap <= RETRY * 2 + Duration::from_secs(1),
                    "shard {i} unowned for {gap:?}: {pair:?}"
                );
            }
        }
    }
    // A polling interval more: nothing writes again after the moves.
    tokio::time::sleep(Duration::from_secs(POLLING + 2)).await;

    // 4. From the journal and the Lease records: every write was sent by the holder of the
    // object's shard at the moment it was answered, and every object was written 3, then 6.
    let (writes, counts) = assert_only_owners_wrote(&fake, SHARDS);
    assert!(writes > 2 * OBJECTS, "{writes} writes");
    assert_eq!(counts.len(), OBJECTS);
    // 3 while the list held 25 items, then 6, never a lower count after a higher one. The
    // same count may come twice: a write answered after its client gave up is sent again, and
    // a new owner's watch of the workload may not show the previous owner's last write yet.
    for (k, c) in &counts {
        let mut distinct = c.clone();
        distinct.dedup();
        assert_eq!(distinct, [3, 6], "{k} was written {c:?}");
    }
    for p in &processes {
        let log = p.log();
        assert!(!log.contains("panicked"), "{}:\n{log}", p.identity);
    }
}

/// Handover in cluster mode keeps the object's state: an object with `minReplicaCount: 0` was
/// scaled up by its owner, its work ended, and a few seconds later its owner was killed
/// (`kill -9`). The replica taking its shard over reads `lastActiveTime` from the object's
/// status and scales to zero when the cooldown counted from it ends: not earlier (the moved
/// object is not scaled down early), and not a whole cooldown after the takeover either
/// (which is what a replica that knew nothing would do, as in file mode).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_owner_continues_the_cooldown_from_the_persisted_last_active_time() {
    const COOLDOWN: u64 = 20;
    let redis = RedisServer::shared().await;
    let list = unique_name("jobs");
    set_list(&redis.client(), &list, 25);
    let fake = FakeApiServer::start().await;
    fake.put_workload(&DEPLOY, "shop", "handover", 0);
    fake.put_object(
        &FakeResource::SCALED_OBJECT,
        "shop",
        serde_json::json!({
            "metadata": {"name": "handover"},
            "spec": {
                "scaleTargetRef": {"name": "handover"},
                "pollingInterval": 1,
                "minReplicaCount": 0,
                "cooldownPeriod": COOLDOWN,
                "triggers": [{
                    "type": "redis",
                    "name": "jobs",
                    "metadata": {"address": redis.address(), "listName": list, "listLength": "10"},
                }],
            },
        }),
    );
    let dir = Dir::new("sharding-handover");
    let kubeconfig = kubeconfig(&dir, &fake);
    // One shard: the first replica owns the object, the second stands by for it.
    let timings = ["4", "3", "0.5"];
    let spawn = |id: &str| spawn_with(&dir, None, &kubeconfig, id, 1, timings);
    let mut first = spawn("handover-a");
    let shard = shard_lease_name(LEASE_NAME, 0);
    eventually(Duration::from_secs(30), || async {
        let holder = fake
            .lease("scalers", &shard)
            .and_then(|l| l.spec?.holder_identity);
        match holder.as_deref() {
            Some("handover-a") => Ok(()),
            other => Err(format!("shard held by {other:?}")),
        }
    })
    .await;
    let second = spawn("handover-b");
    support::replicas_become(&fake, "handover", 3, Duration::from_secs(30)).await;

    // The work ends; the owner keeps ticking (inactive) for a few seconds, then dies.
    set_list(&redis.client(), &list, 0);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let status = fake
        .object(&FakeResource::SCALED_OBJECT, "shop", "handover")
        .expect("the object")["status"]
        .clone();
    let last_active_ms = status["lastActiveTime"]
        .as_str()
        .and_then(scalerd::kube::parse_time_ms)
        .unwrap_or_else(|| panic!("no lastActiveTime in {status}"));
    first.child.kill().unwrap();
    first.child.wait().unwrap();

    support::replicas_become(&fake, "handover", 0, Duration::from_secs(COOLDOWN + 20)).await;
    let took_over = fake
        .lease_terms("scalers", &shard)
        .iter()
        .find(|t| t.holder == second.identity)
        .map(|t| t.from)
        .expect("the second replica's term");
    let zero = fake
        .requests(
            "PATCH",
            "/apis/apps/v1/namespaces/shop/deployments/handover/scale",
        )
        .into_iter()
        .filter(|w| w.succeeded())
        .find(|w| w.json().is_some_and(|b| b["spec"]["replicas"] == 0))
        .expect("a write of 0");
    assert_eq!(writer(&zero), second.identity);
    // The write's wall-clock time, from the tokio instant the journal records.
    let now = (Instant::now(), support::unix_ms());
    let zero_ms = now.1 - u64::try_from(now.0.duration_since(zero.received).as_millis()).unwrap();
    let cooldown_ms = COOLDOWN * 1000;
    assert!(
        zero_ms >= last_active_ms + cooldown_ms,
        "scaled to zero {} ms after lastActiveTime, before the {COOLDOWN} s cooldown",
        zero_ms - last_active_ms
    );
    assert!(
        zero.received < took_over + Duration::from_secs(COOLDOWN),
        "scaled to zero {:?} after the takeover: lastActiveTime was not used",
        zero.received.duration_since(took_over)
    );
    // Activation (0 → 1), scaling (→ 3), deactivation after the cooldown (→ 0).
    assert_eq!(fake.scale_writes(&DEPLOY, "shop", "handover"), [1, 3, 0]);
    // Status, finalizer, Events and `/scale`: each written by the shard's holder of the moment.
    let (writes, _) = assert_only_owners_wrote(&fake, 1);
    assert!(writes >= 5, "{writes} writes");
    drop(second);
}
