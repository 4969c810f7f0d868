//! `scalerd run` with scaled jobs, against a real Redis and the fake Kubernetes API server:
//! one Job per item, the maximum, the history limits, the strategies, the rollout of a
//! changed template, and what a failing trigger or a refused create does.

mod support;

use std::cell::Cell;
use std::time::Duration;

use scalerd::daemon::status::JobStatus;
use scalers_testkit::{
    FakeApiServer, FakeResource, Fault, JobState, RedisServer, eventually, unique_name,
};
use serde_json::{Value, json};
use support::{Daemon, Dir, k8s_name, options, set_list};

const NS: &str = "media";
const LABEL: &str = "scaledjob.keda.sh/name";

/// A scaled job of scalerd's format reading list `key` (one item per Job), polling every
/// `poll` seconds; `extra` adds spec lines (indented by 4).
fn scaled_job(name: &str, address: &str, key: &str, poll: u32, extra: &str) -> String {
    format!(
        "  - name: {name}\n    namespace: {NS}\n    pollingInterval: {poll}\n    \
         jobTargetRef:\n      template:\n        spec:\n          containers: [{{name: work, image: busybox}}]\n\
         {extra}    triggers:\n      - type: redis\n        name: items\n        \
         metadata: {{address: '{address}', listName: '{key}', listLength: '1'}}\n"
    )
}

/// The Jobs of scaled job `name`, sorted by name.
fn jobs(fake: &FakeApiServer, name: &str) -> Vec<Value> {
    fake.jobs_labelled(NS, LABEL, name)
}

fn job_name(job: &Value) -> String {
    job["metadata"]["name"].as_str().unwrap().to_owned()
}

fn finished(job: &Value) -> bool {
    job["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["status"] == "True" && (c["type"] == "Complete" || c["type"] == "Failed"))
    })
}

fn unfinished(fake: &FakeApiServer, name: &str) -> Vec<String> {
    jobs(fake, name)
        .iter()
        .filter(|j| !finished(j))
        .map(job_name)
        .collect()
}

async fn job_status(d: &Daemon, key: &str) -> Option<JobStatus> {
    d.status()
        .await
        .jobs
        .into_iter()
        .find(|j| j.scaled_job == key)
}

/// Waits until the scaled job's status satisfies `f`.
async fn until(d: &Daemon, key: &str, what: &str, f: impl Fn(&JobStatus) -> bool) -> JobStatus {
    eventually(Duration::from_secs(20), || async {
        match job_status(d, key).await {
            Some(s) if f(&s) => Ok(s),
            other => Err(format!("{what}: {other:?}")),
        }
    })
    .await
}

/// Waits for `polls` more polls of the scaled job, and returns its status then.
async fn polls(d: &Daemon, key: &str, polls: u64) -> JobStatus {
    let first = until(d, key, "a status", |_| true)
        .await
        .last_poll
        .unwrap_or(0);
    let (seen, count) = (Cell::new(first), Cell::new(0));
    let (seen, count) = (&seen, &count);
    eventually(Duration::from_secs(30), || async move {
        let s = job_status(d, key).await.unwrap();
        let at = s.last_poll.unwrap_or(0);
        if at > seen.get() {
            seen.set(at);
            count.set(count.get() + 1);
        }
        if count.get() >= polls {
            Ok(s)
        } else {
            Err(format!("{} of {polls} polls: {s:?}", count.get()))
        }
    })
    .await
}

/// Waits until the wall clock is in a later second than now: Kubernetes times (such as a
/// Job's `completionTime`) have whole seconds, and the test needs two of them to differ.
async fn next_second() {
    let secs = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    let start = secs();
    eventually(Duration::from_secs(3), || async {
        if secs() > start {
            Ok(())
        } else {
            Err("same second")
        }
    })
    .await;
}

/// Every read of pods, in any namespace or all.
fn pod_reads(fake: &FakeApiServer) -> Vec<scalers_testkit::JournalEntry> {
    let mut reads = fake.requests("GET", "/api/v1/pods");
    reads.extend(fake.requests("GET", "/api/v1/namespaces/*/pods"));
    reads.extend(fake.requests("GET", "/api/v1/namespaces/*/pods/*"));
    reads
}

/// A Job `job` of scaled job `name` made before scalerd started (its pod template labelled
/// as scalerd's and KEDA's are), with no status yet.
fn put_job(fake: &FakeApiServer, name: &str, job: &str) {
    fake.put_object(
        &FakeResource::JOB,
        NS,
        json!({
            "metadata": {"name": job, "labels": {LABEL: name}},
            "spec": {"template": {
                "metadata": {"labels": {LABEL: name}},
                "spec": {"containers": [{"name": "w"}], "restartPolicy": "Never"},
            }},
        }),
    );
}

async fn start(dir: &Dir, fake: &FakeApiServer, text: &str) -> Daemon {
    let config = dir.write("c.yaml", &format!("scaledJobs:\n{text}"));
    Daemon::start(options(&config, fake)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_items_make_exactly_three_jobs_and_none_once_they_are_taken() {
    let redis = RedisServer::shared().await;
    let (name, key) = (k8s_name("images"), unique_name("images"));
    set_list(&redis.client(), &key, 3);
    let fake = FakeApiServer::start().await;
    let dir = Dir::new("scalerd_jobs");
    let d = start(
        &dir,
        &fake,
        &scaled_job(&name, redis.address(), &key, 1, ""),
    )
    .await;
    let sj = format!("{NS}/{name}");

    until(&d, &sj, "3 Jobs created", |s| s.created_total == 3).await;
    // Three more polls see the 3 items and the 3 Jobs running them: nothing more.
    let s = polls(&d, &sj, 3).await;
    assert_eq!(jobs(&fake, &name).len(), 3);
    assert_eq!((s.created_total, s.running), (3, 3));
    let decision = s.decision.unwrap();
    assert_eq!(decision.reason_code, "no-room", "{}", decision.explanation);
    // The polls read a watch-fed cache: at most the first one listed through the API (before
    // the cache's first list), then nothing; one watch of the labelled Jobs serves them.
    let lists = fake.requests("GET", &format!("/apis/batch/v1/namespaces/{NS}/jobs"));
    assert!(lists.len() <= 1, "{lists:?}");
    let watches: Vec<_> = fake
        .requests("GET", "/apis/batch/v1/jobs")
        .into_iter()
        .filter(|e| e.is_watch())
        .collect();
    assert_eq!(watches.len(), 1, "{watches:?}");
    // `default` does not read pending Jobs: no pod is read at all.
    assert!(pod_reads(&fake).is_empty());
    assert!(
        watches[0]
            .query
            .as_deref()
            .unwrap_or_default()
            .contains("labelSelector=scaledjob.keda.sh%2Fname"),
        "{:?}",
        watches[0].query
    );

    // What a created Job looks like: KEDA's labels, a name from generateName, the revision.
    let job = &jobs(&fake, &name)[0];
    let labels = &job["metadata"]["labels"];
    assert_eq!(labels[LABEL], name.as_str());
    assert_eq!(labels["app.kubernetes.io/managed-by"], "scalerd");
    assert!(job_name(job).starts_with(&format!("{name}-")), "{job}");
    assert_eq!(
        job["metadata"]["annotations"]["scaledjob.keda.sh/generation"]
            .as_str()
            .map(str::len),
        Some(16)
    );
    let pod = &job["spec"]["template"];
    assert_eq!(pod["metadata"]["labels"][LABEL], name.as_str());
    assert_eq!(pod["spec"]["restartPolicy"], "OnFailure");
    assert_eq!(pod["spec"]["containers"][0]["image"], "busybox");
    // Every create went through the daemon's client: POSTs of Jobs, one per Job.
    let creates = fake.requests("POST", &format!("/apis/batch/v1/namespaces/{NS}/jobs"));
    assert_eq!(creates.len(), 3);
    // One Event on the ScaledJob for the poll that created them.
    eventually(Duration::from_secs(10), || async {
        let events = fake.events(NS);
        let notes: Vec<_> = events
            .iter()
            .filter(|e| e.reason.as_deref() == Some("KEDAJobsCreated"))
            .filter_map(|e| e.note.clone())
            .collect();
        if notes == ["Created 3 jobs"] {
            Ok(())
        } else {
            Err(format!("{notes:?}"))
        }
    })
    .await;
    assert!(creates.iter().all(|e| e.succeeded()));

    // Each Job takes its item and succeeds: no new Job.
    set_list(&redis.client(), &key, 0);
    for j in jobs(&fake, &name) {
        fake.set_job_state(NS, &job_name(&j), JobState::Succeeded);
    }
    let s = polls(&d, &sj, 3).await;
    assert_eq!((s.created_total, s.running, s.succeeded), (3, 0, 3));
    assert_eq!(s.active, Some(false));
    assert_eq!(
        jobs(&fake, &name).len(),
        3,
        "the history keeps them (limit 100)"
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_items_with_max_five_never_run_more_than_five_jobs() {
    let redis = RedisServer::shared().await;
    let (name, key) = (k8s_name("thumbs"), unique_name("thumbs"));
    let client = redis.client();
    set_list(&client, &key, 10);
    let fake = FakeApiServer::start().await;
    let dir = Dir::new("scalerd_jobs");
    let text = scaled_job(&name, redis.address(), &key, 1, "    maxReplicaCount: 5\n");
    let d = start(&dir, &fake, &text).await;
    let sj = format!("{NS}/{name}");

    until(&d, &sj, "5 Jobs created", |s| s.created_total == 5).await;
    let mut most = 0;
    let mut processed = 0;
    // Work as the Jobs would: one Job at a time takes an item and succeeds.
    while processed < 10 {
        let running = unfinished(&fake, &name);
        most = most.max(running.len());
        assert!(
            running.len() <= 5,
            "{} Jobs running: {running:?}",
            running.len()
        );
        let Some(next) = running.first() else {
            polls(&d, &sj, 1).await;
            continue;
        };
        client.cmd(&["LPOP", &key]);
        fake.set_job_state(NS, next, JobState::Succeeded);
        processed += 1;
        polls(&d, &sj, 1).await;
    }
    let s = polls(&d, &sj, 2).await;
    let running = unfinished(&fake, &name);
    assert!(running.len() <= 5, "{running:?}");
    assert_eq!(most, 5);
    assert!(s.created_total >= 10, "{s:?}");
    assert_eq!(client.cmd(&["LLEN", &key]).as_int(), Some(0));
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_limits_keep_the_newest_finished_jobs() {
    let redis = RedisServer::shared().await;
    let (name, key) = (k8s_name("reports"), unique_name("reports"));
    let client = redis.client();
    set_list(&client, &key, 4);
    let fake = FakeApiServer::start().await;
    let dir = Dir::new("scalerd_jobs");
    let extra = "    successfulJobsHistoryLimit: 2\n    failedJobsHistoryLimit: 1\n";
    let d = start(
        &dir,
        &fake,
        &scaled_job(&name, redis.address(), &key, 1, extra),
    )
    .await;
    let sj = format!("{NS}/{name}");

    until(&d, &sj, "4 Jobs created", |s| s.created_total == 4).await;
    set_list(&client, &key, 0);
    let first: Vec<String> = jobs(&fake, &name).iter().map(job_name).collect();
    // In this order: three succeed, then one fails.
    for j in &first[..3] {
        fake.set_job_state(NS, j, JobState::Succeeded);
    }
    fake.set_job_state(NS, &first[3], JobState::Failed);
    until(&d, &sj, "history cut to 2 succeeded", |s| {
        s.succeeded == 2 && s.failed == 1 && s.running == 0
    })
    .await;
    let left: Vec<String> = jobs(&fake, &name).iter().map(job_name).collect();
    assert_eq!(left, [first[1].clone(), first[2].clone(), first[3].clone()]);

    // Two more items: two more Jobs; one fails, the other succeeds.
    set_list(&client, &key, 2);
    until(&d, &sj, "6 Jobs created", |s| s.created_total == 6).await;
    set_list(&client, &key, 0);
    let second: Vec<String> = unfinished(&fake, &name);
    assert_eq!(second.len(), 2);
    next_second().await;
    fake.set_job_state(NS, &second[0], JobState::Failed);
    fake.set_job_state(NS, &second[1], JobState::Succeeded);
    until(&d, &sj, "history cut again", |s| {
        s.succeeded == 2 && s.failed == 1 && s.running == 0
    })
    .await;
    let mut expected = vec![first[2].clone(), second[0].clone(), second[1].clone()];
    expected.sort();
    let left: Vec<String> = jobs(&fake, &name).iter().map(job_name).collect();
    assert_eq!(left, expected);
    // The oldest went, each deleted once, in the background.
    let deletes = fake.requests("DELETE", &format!("/apis/batch/v1/namespaces/{NS}/jobs/*"));
    let deleted: Vec<&str> = deletes
        .iter()
        .map(|e| e.path.rsplit('/').next().unwrap())
        .collect();
    assert_eq!(
        deleted,
        [first[0].as_str(), first[1].as_str(), first[3].as_str()]
    );
    for e in &deletes {
        assert_eq!(
            e.json().unwrap()["propagationPolicy"],
            "Background",
            "{e:?}"
        );
    }
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_strategy_creates_its_own_number_of_jobs() {
    // 3 items wait; 4 Jobs of the scaled job exist, 3 running and 1 pending; at most 10.
    // default: 3 - 4 < 0 → 0; custom (50 %): 3 - trunc(4 × 0.5) = 1; accurate:
    // 3 + 4 - 1 <= 10 → 3 - 1 = 2; eager: min(10 - 4 - 1, 3) = 3.
    let redis = RedisServer::shared().await;
    let fake = FakeApiServer::start().await;
    let dir = Dir::new("scalerd_jobs");
    let mut text = String::new();
    let mut names = Vec::new();
    for (strategy, extra) in [
        ("default", ""),
        ("custom", ", customScalingRunningJobPercentage: '0.5'"),
        ("accurate", ""),
        ("eager", ""),
    ] {
        let (name, key) = (k8s_name(strategy), unique_name(strategy));
        set_list(&redis.client(), &key, 3);
        for i in 0..4 {
            let job = format!("{name}-old{i}");
            put_job(&fake, &name, &job);
            // The pods tell `accurate` and `eager` which are pending: 3 run, 1 waits.
            if i < 3 {
                fake.set_job_state(NS, &job, JobState::Running);
                fake.put_job_pod(NS, &job, &format!("{job}-p"), "Running", &["Ready"]);
            } else {
                fake.put_job_pod(NS, &job, &format!("{job}-p"), "Pending", &[]);
            }
        }
        // A long polling interval: the poll at start is the one looked at. `gradual` keeps
        // the Jobs of no known template.
        let spec = format!(
            "    maxReplicaCount: 10\n    rollout: {{strategy: gradual}}\n    \
             scalingStrategy: {{strategy: {strategy}{extra}}}\n"
        );
        text.push_str(&scaled_job(&name, redis.address(), &key, 60, &spec));
        names.push(name);
    }
    let d = start(&dir, &fake, &text).await;
    let mut created = Vec::new();
    for name in &names {
        let s = until(&d, &format!("{NS}/{name}"), "the first poll", |s| {
            s.last_poll.is_some()
        })
        .await;
        let decision = s.decision.clone().unwrap();
        assert_eq!(
            (s.running, s.pending),
            (4 + decision.created, 1 + decision.created)
        );
        created.push((decision.created, jobs(&fake, name).len() - 4));
    }
    assert_eq!(created, [(0, 0), (1, 1), (2, 2), (3, 3)]);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_pod_conditions_count_running_but_unready_jobs_as_pending() {
    // 2 items wait; 2 Jobs of each scaled job run, their pods Running but not Ready; at most
    // 10, strategy `accurate` (E = maxScale - pending, as maxScale + running - pending <= 10).
    // Without pendingPodConditions a Running pod ends pending: 2 - 0 = 2 new Jobs, whose pods
    // do not exist yet (pending), so nothing more: 4 Jobs. With `[Ready]` both are pending:
    // 2 - 2 = 0, until their pods are Ready; then 2, then nothing more: 4 Jobs.
    let redis = RedisServer::shared().await;
    let fake = FakeApiServer::start().await;
    let dir = Dir::new("scalerd_jobs");
    let (plain, ready) = (k8s_name("plain"), k8s_name("ready"));
    let mut text = String::new();
    for (name, extra) in [(&plain, ""), (&ready, ", pendingPodConditions: [Ready]")] {
        let key = unique_name(name);
        set_list(&redis.client(), &key, 2);
        for i in 0..2 {
            let job = format!("{name}-old{i}");
            put_job(&fake, name, &job);
            fake.set_job_state(NS, &job, JobState::Running);
            fake.put_job_pod(NS, &job, &format!("{job}-p"), "Running", &["PodScheduled"]);
        }
        let spec = format!(
            "    maxReplicaCount: 10\n    rollout: {{strategy: gradual}}\n    \
             scalingStrategy: {{strategy: accurate{extra}}}\n"
        );
        text.push_str(&scaled_job(name, redis.address(), &key, 1, &spec));
    }
    let d = start(&dir, &fake, &text).await;
    let (plain_key, ready_key) = (format!("{NS}/{plain}"), format!("{NS}/{ready}"));

    until(&d, &plain_key, "2 Jobs created", |s| s.created_total == 2).await;
    let s = polls(&d, &ready_key, 3).await;
    assert_eq!((s.created_total, s.running, s.pending), (0, 2, 2), "{s:?}");
    let decision = s.decision.unwrap();
    assert_eq!(decision.reason_code, "no-room", "{}", decision.explanation);
    let s = polls(&d, &plain_key, 3).await;
    assert_eq!((s.created_total, s.running, s.pending), (2, 4, 2), "{s:?}");
    assert_eq!(jobs(&fake, &plain).len(), 4);
    assert_eq!(jobs(&fake, &ready).len(), 2);

    // The pods become Ready: the two Jobs no longer count as pending.
    for i in 0..2 {
        let job = format!("{ready}-old{i}");
        fake.put_job_pod(
            NS,
            &job,
            &format!("{job}-p"),
            "Running",
            &["PodScheduled", "Ready"],
        );
    }
    until(&d, &ready_key, "2 Jobs created", |s| s.created_total == 2).await;
    let s = polls(&d, &ready_key, 3).await;
    assert_eq!((s.created_total, s.running, s.pending), (2, 4, 2), "{s:?}");
    assert_eq!(jobs(&fake, &ready).len(), 4);

    // The pods came from one watch of the labelled pods, listed once: no read per poll.
    let pod_reads = pod_reads(&fake);
    let (watches, lists): (Vec<_>, Vec<_>) = pod_reads.iter().partition(|e| e.is_watch());
    assert_eq!(watches.len(), 1, "{pod_reads:?}");
    assert_eq!(lists.len(), 1, "{pod_reads:?}");
    for e in &pod_reads {
        assert_eq!(e.path, "/api/v1/pods", "{e:?}");
        assert!(
            e.query
                .as_deref()
                .unwrap_or_default()
                .contains("labelSelector=scaledjob.keda.sh%2Fname"),
            "{e:?}"
        );
    }
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_that_cannot_be_read_create_no_job_and_say_why() {
    // Without RBAC on pods, `eager` cannot tell its pending Jobs: no Job, and the 403 is shown.
    let redis = RedisServer::shared().await;
    let (name, key) = (k8s_name("nopods"), unique_name("nopods"));
    set_list(&redis.client(), &key, 2);
    let fake = FakeApiServer::start().await;
    fake.inject(Fault::status(403).on("GET", "/api/v1/pods"));
    let dir = Dir::new("scalerd_jobs");
    // maxReplicaCount 2: eager creates min(2 - running - pending, 2), so 2 Jobs and no more
    // (with the default 100 it goes on creating while the items wait and no pod has run,
    // KEDA's rule, up to 50 running and 50 pending).
    let spec = "    maxReplicaCount: 2\n    scalingStrategy: {strategy: eager}\n";
    let d = start(
        &dir,
        &fake,
        &scaled_job(&name, redis.address(), &key, 1, spec),
    )
    .await;
    let sj = format!("{NS}/{name}");
    let s = until(&d, &sj, "an error", |s| s.last_error.is_some()).await;
    let error = s.last_error.unwrap();
    assert!(
        error.starts_with(
            "forbidden: cannot watch pods in namespace \"media\" (check the ClusterRole)"
        ),
        "{error}"
    );
    polls(&d, &sj, 2).await;
    assert!(jobs(&fake, &name).is_empty());
    // Granted again: the watch lists the pods (none) and the 2 items get their Jobs.
    fake.clear_faults();
    eventually(Duration::from_secs(60), || async {
        match jobs(&fake, &name).len() {
            2 => Ok(()),
            n => Err(format!("{n} Jobs")),
        }
    })
    .await;
    let s = polls(&d, &sj, 2).await;
    assert_eq!(jobs(&fake, &name).len(), 2);
    assert_eq!((s.created_total, s.running, s.pending), (2, 2, 2), "{s:?}");
    assert_eq!(s.last_error, None);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_kubernetes_secret_is_picked_up_by_a_scaled_job() {
    // As for scaled objects (tests/safety.rs): the password of the trigger's ACL user comes
    // from a Secret; it changes on the server, the trigger fails as `unauthorized`, then the
    // Secret changes and the trigger is rebuilt with it within two polling intervals.
    let redis = RedisServer::shared().await;
    let user = unique_name("sj-rot");
    redis.client().create_user(&user, "old-pw-5");
    let (name, key) = (k8s_name("rotated"), unique_name("rotated"));
    set_list(&redis.client(), &key, 1);
    let fake = FakeApiServer::start().await;
    fake.put_secret(NS, "redis-creds", &[("password", b"old-pw-5".as_slice())]);
    let dir = Dir::new("scalerd_jobs");
    let config = dir.write(
        "c.yaml",
        &format!(
            "authentications:\n  - name: redis-auth\n    namespace: {NS}\n    \
             secretTargetRef: [{{parameter: password, name: redis-creds, key: password}}]\n\
             scaledJobs:\n{}",
            scaled_job(&name, redis.address(), &key, 1, "")
                .replace(
                    "metadata: {address",
                    &format!("authenticationRef: {{name: redis-auth}}\n        metadata: {{username: '{user}', address")
                )
        ),
    );
    let d = Daemon::start(options(&config, &fake)).await;
    let sj = format!("{NS}/{name}");
    until(&d, &sj, "1 Job created", |s| s.created_total == 1).await;

    redis.client().create_user(&user, "new-pw-6");
    redis.cmd(&["CLIENT", "KILL", "USER", &user]);
    set_list(&redis.client(), &key, 2);
    let s = until(&d, &sj, "unauthorized", |s| {
        s.triggers
            .first()
            .is_some_and(|t| t.error_kind.as_deref() == Some("unauthorized"))
    })
    .await;
    assert_eq!(s.created_total, 1, "a failing trigger creates nothing");
    fake.put_secret(NS, "redis-creds", &[("password", b"new-pw-6".as_slice())]);
    let fixed = std::time::Instant::now();
    until(&d, &sj, "answering again", |s| {
        s.triggers.first().is_some_and(|t| t.value == Some(2.0))
    })
    .await;
    let took = fixed.elapsed();
    assert!(
        took <= Duration::from_millis(2500),
        "answered {took:?} after the new password was in place: more than two polling intervals"
    );
    // 2 items, 1 Job running: one more.
    until(&d, &sj, "2 Jobs created", |s| s.created_total == 2).await;
    let text = d.metrics().await;
    assert_eq!(
        support::metric(&text, "scalers_trigger_rebuilds_total"),
        Some(1.0)
    );
    assert_eq!(jobs(&fake, &name).len(), 2);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_secret_of_a_trigger_authentication_is_picked_up_in_cluster_mode() {
    // The same for a ScaledJob resource whose TriggerAuthentication reads the Secret.
    let redis = RedisServer::shared().await;
    let user = unique_name("sj-rot-c");
    redis.client().create_user(&user, "old-pw-8");
    let (name, key) = (k8s_name("rotatedc"), unique_name("rotatedc"));
    set_list(&redis.client(), &key, 1);
    let fake = FakeApiServer::start().await;
    fake.put_secret(NS, "redis-creds", &[("password", b"old-pw-8".as_slice())]);
    fake.put_object(
        &FakeResource::TRIGGER_AUTHENTICATION,
        NS,
        json!({"metadata": {"name": "redis-auth"}, "spec": {"secretTargetRef": [
            {"parameter": "password", "name": "redis-creds", "key": "password"},
        ]}}),
    );
    fake.put_object(
        &FakeResource::SCALED_JOB,
        NS,
        json!({
            "metadata": {"name": name},
            "spec": {
                "pollingInterval": 1,
                "jobTargetRef": {"template": {"spec": {"containers": [{"name": "w", "image": "busybox"}]}}},
                "triggers": [{
                    "type": "redis",
                    "authenticationRef": {"name": "redis-auth"},
                    "metadata": {"address": redis.address(), "username": user, "listName": key, "listLength": "1"},
                }],
            },
        }),
    );
    let mut opts = scalerd::daemon::RunOptions::cluster();
    opts.admin_addr = "127.0.0.1:0".parse().unwrap();
    opts.kube_client = Some(support::kube_client(&fake));
    opts.leader_elect = Some(false);
    opts.namespace = "scalers".into();
    let d = Daemon::start(opts).await;
    let sj = format!("{NS}/{name}");
    until(&d, &sj, "1 Job created", |s| s.created_total == 1).await;

    redis.client().create_user(&user, "new-pw-9");
    redis.cmd(&["CLIENT", "KILL", "USER", &user]);
    set_list(&redis.client(), &key, 2);
    until(&d, &sj, "unauthorized", |s| {
        s.triggers
            .first()
            .is_some_and(|t| t.error_kind.as_deref() == Some("unauthorized"))
    })
    .await;
    fake.put_secret(NS, "redis-creds", &[("password", b"new-pw-9".as_slice())]);
    until(&d, &sj, "2 Jobs created", |s| s.created_total == 2).await;
    let text = d.metrics().await;
    assert_eq!(
        support::metric(&text, "scalers_trigger_rebuilds_total"),
        Some(1.0)
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_template_rolls_out_by_strategy() {
    let redis = RedisServer::shared().await;
    let fake = FakeApiServer::start().await;
    let dir = Dir::new("scalerd_jobs");
    let (now, later) = (k8s_name("now"), k8s_name("later"));
    let (key_now, key_later) = (unique_name("now"), unique_name("later"));
    set_list(&redis.client(), &key_now, 2);
    set_list(&redis.client(), &key_later, 2);
    let write = |image: &str| {
        let now_job = scaled_job(
            &now,
            redis.address(),
            &key_now,
            1,
            "    rollout: {propagationPolicy: foreground}\n",
        )
        .replace("busybox", image);
        let later_job = scaled_job(
            &later,
            redis.address(),
            &key_later,
            1,
            "    rollout: {strategy: gradual}\n",
        )
        .replace("busybox", image);
        dir.write("c.yaml", &format!("scaledJobs:\n{now_job}{later_job}"))
    };
    let config = write("busybox");
    let mut opts = options(&config, &fake);
    opts.watch_interval = Duration::from_millis(200);
    let d = Daemon::start(opts).await;
    until(&d, &format!("{NS}/{now}"), "2 Jobs", |s| {
        s.created_total == 2
    })
    .await;
    until(&d, &format!("{NS}/{later}"), "2 Jobs", |s| {
        s.created_total == 2
    })
    .await;
    let old_now: Vec<String> = jobs(&fake, &now).iter().map(job_name).collect();
    let old_later: Vec<String> = jobs(&fake, &later).iter().map(job_name).collect();
    for j in old_now.iter().chain(&old_later) {
        fake.set_job_state(NS, j, JobState::Running);
    }

    write("busybox:2");
    // default: the old Jobs are deleted (foreground), and the 2 waiting items get new Jobs.
    until(&d, &format!("{NS}/{now}"), "2 new Jobs", |s| {
        s.created_total == 4
    })
    .await;
    let left: Vec<String> = jobs(&fake, &now).iter().map(job_name).collect();
    assert!(
        left.iter().all(|j| !old_now.contains(j)),
        "{left:?} {old_now:?}"
    );
    for j in jobs(&fake, &now) {
        assert_eq!(
            j["spec"]["template"]["spec"]["containers"][0]["image"],
            "busybox:2"
        );
    }
    let deletes = fake.requests("DELETE", &format!("/apis/batch/v1/namespaces/{NS}/jobs/*"));
    let mut deleted: Vec<String> = deletes
        .iter()
        .map(|e| e.path.rsplit('/').next().unwrap().to_owned())
        .collect();
    deleted.sort();
    assert_eq!(deleted, old_now);
    assert!(
        deletes
            .iter()
            .all(|e| e.json().unwrap()["propagationPolicy"] == "Foreground")
    );
    // gradual: the old Jobs run on; nothing new while they hold the 2 items.
    let s = polls(&d, &format!("{NS}/{later}"), 3).await;
    assert_eq!(s.created_total, 2);
    let left: Vec<String> = jobs(&fake, &later).iter().map(job_name).collect();
    assert_eq!(left, old_later);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_trigger_creates_nothing_and_a_refused_create_is_reported() {
    let redis = RedisServer::shared().await;
    let fake = FakeApiServer::start().await;
    let dir = Dir::new("scalerd_jobs");
    let (broken, refused) = (k8s_name("broken"), k8s_name("refused"));
    let key = unique_name("refused");
    set_list(&redis.client(), &key, 2);
    // A running Job of the broken one: a failing trigger must not delete it either.
    fake.put_object(
        &FakeResource::JOB,
        NS,
        json!({"metadata": {"name": format!("{broken}-a"), "labels": {LABEL: broken}},
               "spec": {"template": {"spec": {"containers": [{"name": "w"}]}}}}),
    );
    fake.inject(Fault::status(403).on("POST", &format!("/apis/batch/v1/namespaces/{NS}/jobs")));
    let text = format!(
        "{}{}",
        scaled_job(
            &broken,
            "127.0.0.1:1",
            "nothing",
            1,
            "    rollout: {strategy: gradual}\n"
        ),
        scaled_job(&refused, redis.address(), &key, 1, "")
    );
    let d = start(&dir, &fake, &text).await;

    let s = polls(&d, &format!("{NS}/{broken}"), 3).await;
    let decision = s.decision.unwrap();
    assert_eq!(
        (decision.reason_code.as_str(), decision.create),
        ("trigger-error", 0)
    );
    assert!(
        s.last_error.unwrap().starts_with("trigger items: "),
        "{:?}",
        s.triggers
    );
    assert_eq!(s.triggers[0].error_kind.as_deref(), Some("unavailable"));
    assert_eq!(jobs(&fake, &broken).len(), 1);
    assert!(fake.requests("DELETE", "/apis/batch/v1/**").is_empty());

    let s = until(&d, &format!("{NS}/{refused}"), "a refused create", |s| {
        s.last_error.is_some()
    })
    .await;
    let error = s.last_error.unwrap();
    assert!(
        error.starts_with("forbidden: cannot create jobs.batch in namespace \"media\""),
        "{error}"
    );
    let decision = s.decision.unwrap();
    assert_eq!((decision.create, decision.created), (2, 0));
    assert_eq!(s.created_total, 0);
    eventually(Duration::from_secs(10), || async {
        let events = fake.events(NS);
        let failed: Vec<_> = events
            .iter()
            .filter(|e| e.reason.as_deref() == Some("KEDAJobCreateFailed"))
            .collect();
        match failed.first() {
            Some(e)
                if e.type_.as_deref() == Some("Warning")
                    && e.regarding.as_ref().and_then(|r| r.kind.as_deref())
                        == Some("ScaledJob") =>
            {
                Ok(())
            }
            _ => Err(format!("{events:?}")),
        }
    })
    .await;
    let failures = format!(
        "scalers_scaled_job_create_failures_total{{namespace=\"{NS}\",scaled_job=\"{refused}\"}}"
    );
    assert!(support::metric(&d.metrics().await, &failures).is_some_and(|n| n >= 1.0));
    // The API accepts creates again: the Jobs come.
    fake.clear_faults();
    until(&d, &format!("{NS}/{refused}"), "2 Jobs", |s| {
        s.created_total == 2
    })
    .await;
    let created = format!(
        "scalers_scaled_job_jobs_created_total{{namespace=\"{NS}\",scaled_job=\"{refused}\"}}"
    );
    assert_eq!(support::metric(&d.metrics().await, &created), Some(2.0));
    d.stop().await;
}

/// The condition `kind` of ScaledJob `media/<name>` on the fake API server.
fn sj_condition(fake: &FakeApiServer, name: &str, kind: &str) -> Value {
    fake.object(&FakeResource::SCALED_JOB, NS, name)
        .and_then(|o| {
            o["status"]["conditions"]
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["type"] == kind).cloned())
        })
        .unwrap_or(Value::Null)
}

async fn sj_condition_becomes(
    fake: &FakeApiServer,
    name: &str,
    kind: &str,
    status: &str,
    reason: &str,
) {
    eventually(Duration::from_secs(20), || async {
        let c = sj_condition(fake, name, kind);
        if c["status"] == status && c["reason"] == reason {
            Ok(())
        } else {
            Err(format!("{name}: {kind}: {c}"))
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_mode_watches_scaled_jobs_owns_their_jobs_and_writes_conditions() {
    let redis = RedisServer::shared().await;
    let fake = FakeApiServer::start().await;
    let (name, key) = (k8s_name("clips"), unique_name("clips"));
    set_list(&redis.client(), &key, 2);
    let sj = |annotations: Value| {
        json!({
            "metadata": {"name": name, "annotations": annotations},
            "spec": {
                "pollingInterval": 1,
                "jobTargetRef": {"template": {"spec": {"containers": [{"name": "w", "image": "busybox"}]}}},
                "triggers": [{"type": "redis", "metadata": {"address": redis.address(), "listName": key, "listLength": "1"}}],
            },
        })
    };
    let stored = fake.put_object(&FakeResource::SCALED_JOB, NS, sj(json!({})));
    let uid = stored["metadata"]["uid"].as_str().unwrap().to_owned();
    // An invalid one next to it: reported on itself, no Job.
    let bad = k8s_name("bad");
    fake.put_object(
        &FakeResource::SCALED_JOB,
        NS,
        json!({"metadata": {"name": bad}, "spec": {"jobTargetRef": {"template": {"spec": {"containers": []}}}, "triggers": [{"type": "redis", "metadata": {"listName": "x"}}]}}),
    );
    let mut opts = scalerd::daemon::RunOptions::cluster();
    opts.admin_addr = "127.0.0.1:0".parse().unwrap();
    opts.kube_client = Some(support::kube_client(&fake));
    opts.leader_elect = Some(false);
    opts.namespace = "scalers".into();
    let d = Daemon::start(opts).await;

    until(&d, &format!("{NS}/{name}"), "2 Jobs", |s| {
        s.created_total == 2
    })
    .await;
    for j in jobs(&fake, &name) {
        let owners = &j["metadata"]["ownerReferences"];
        assert_eq!(owners[0]["kind"], "ScaledJob", "{j}");
        assert_eq!(owners[0]["uid"], uid.as_str());
        assert_eq!(owners[0]["controller"], true);
    }
    sj_condition_becomes(&fake, &name, "Ready", "True", "ScaledJobReady").await;
    sj_condition_becomes(&fake, &name, "Active", "True", "ScalerActive").await;
    sj_condition_becomes(&fake, &name, "Paused", "False", "ScaledJobUnpaused").await;
    sj_condition_becomes(&fake, &bad, "Ready", "False", "ScaledJobCheckFailed").await;
    let message = sj_condition(&fake, &bad, "Ready")["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains(
            "spec.jobTargetRef.template.spec.containers: at least one container is required"
        ),
        "{message}"
    );
    assert!(jobs(&fake, &bad).is_empty());
    // Conditions are written when they change, not every poll.
    let path = format!("/apis/keda.sh/v1alpha1/namespaces/{NS}/scaledjobs/{name}/status");
    let writes = fake.requests("PATCH", &path).len();
    polls(&d, &format!("{NS}/{name}"), 3).await;
    assert_eq!(fake.requests("PATCH", &path).len(), writes);

    // Items taken: inactive. Then paused by KEDA's annotation: Paused, and no Job for new items.
    set_list(&redis.client(), &key, 0);
    sj_condition_becomes(&fake, &name, "Active", "False", "ScalerNotActive").await;
    fake.put_object(
        &FakeResource::SCALED_JOB,
        NS,
        sj(json!({"autoscaling.keda.sh/paused": "true"})),
    );
    sj_condition_becomes(&fake, &name, "Paused", "True", "ScaledJobPaused").await;
    set_list(&redis.client(), &key, 4);
    // An absence is only seen over time: three polling periods, no new Job.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(jobs(&fake, &name).len(), 2, "paused: no new Job");
    // Deleted: its loop stops (its Jobs go with it through their owner reference).
    fake.delete_object(&FakeResource::SCALED_JOB, NS, &name);
    eventually(Duration::from_secs(10), || async {
        match job_status(&d, &format!("{NS}/{name}")).await {
            None => Ok(()),
            Some(s) => Err(format!("{s:?}")),
        }
    })
    .await;
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_mode_from_env_parameters_read_the_job_templates_container() {
    // As KEDA: `addressFromEnv` and `passwordFromEnv` read the environment of the Job
    // template's container named by envSourceContainerName (a literal with $(VAR), and a
    // secretKeyRef); the first container's different REDIS_ADDR is not read. scalerd's own
    // environment has neither variable.
    let redis = RedisServer::shared().await;
    let user = unique_name("sj-env");
    redis.client().create_user(&user, "env-pw-7");
    let fake = FakeApiServer::start().await;
    fake.put_secret(
        NS,
        "worker-secrets",
        &[("redis-pw", b"env-pw-7".as_slice())],
    );
    let (host, port) = redis.address().rsplit_once(':').unwrap();
    let (name, missing) = (k8s_name("fromenv"), k8s_name("nocontainer"));
    let key = unique_name("fromenv");
    set_list(&redis.client(), &key, 2);
    let sj = |name: &str, container: &str| {
        json!({
            "metadata": {"name": name},
            "spec": {
                "pollingInterval": 1,
                "envSourceContainerName": container,
                "jobTargetRef": {"template": {"spec": {"containers": [
                    {"name": "sidecar", "image": "busybox", "env": [{"name": "REDIS_ADDR", "value": "127.0.0.1:1"}]},
                    {"name": "worker", "image": "busybox", "env": [
                        {"name": "HOST", "value": host},
                        {"name": "REDIS_ADDR", "value": format!("$(HOST):{port}")},
                        {"name": "REDIS_PW", "valueFrom": {"secretKeyRef": {"name": "worker-secrets", "key": "redis-pw"}}},
                    ]},
                ]}}},
                "triggers": [{"type": "redis", "metadata": {
                    "addressFromEnv": "REDIS_ADDR", "passwordFromEnv": "REDIS_PW",
                    "username": user, "listName": key, "listLength": "1",
                }}],
            },
        })
    };
    fake.put_object(&FakeResource::SCALED_JOB, NS, sj(&name, "worker"));
    fake.put_object(&FakeResource::SCALED_JOB, NS, sj(&missing, "web"));
    let mut opts = scalerd::daemon::RunOptions::cluster();
    opts.admin_addr = "127.0.0.1:0".parse().unwrap();
    opts.kube_client = Some(support::kube_client(&fake));
    opts.leader_elect = Some(false);
    opts.namespace = "scalers".into();
    let d = Daemon::start(opts).await;

    let s = until(&d, &format!("{NS}/{name}"), "2 Jobs", |s| {
        s.created_total == 2
    })
    .await;
    assert_eq!(s.triggers[0].value, Some(2.0), "{s:?}");
    assert_eq!(jobs(&fake, &name).len(), 2);
    sj_condition_becomes(&fake, &name, "Ready", "True", "ScaledJobReady").await;
    // The template comes with the ScaledJob: no workload is read for it.
    assert!(
        fake.requests("GET", "/apis/batch/v1/namespaces/*/jobs/*")
            .is_empty()
    );

    sj_condition_becomes(&fake, &missing, "Ready", "False", "ScaledJobCheckFailed").await;
    let message = sj_condition(&fake, &missing, "Ready")["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        message,
        format!(
            "ScaledJob {NS}/{missing}: spec.envSourceContainerName: spec.jobTargetRef.template \
             has no container \"web\""
        )
    );
    assert!(jobs(&fake, &missing).is_empty());
    assert!(job_status(&d, &format!("{NS}/{missing}")).await.is_none());
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_decides_but_creates_and_deletes_nothing() {
    let redis = RedisServer::shared().await;
    let (name, key) = (k8s_name("dry"), unique_name("dry"));
    set_list(&redis.client(), &key, 3);
    let fake = FakeApiServer::start().await;
    let dir = Dir::new("scalerd_jobs");
    let config = dir.write(
        "c.yaml",
        &format!(
            "scaledJobs:\n{}",
            scaled_job(&name, redis.address(), &key, 1, "")
        ),
    );
    let mut opts = options(&config, &fake);
    opts.dry_run = true;
    let d = Daemon::start(opts).await;
    let s = polls(&d, &format!("{NS}/{name}"), 2).await;
    let decision = s.decision.unwrap();
    assert_eq!(
        (decision.create, decision.created),
        (3, 0),
        "{}",
        decision.explanation
    );
    assert_eq!(s.created_total, 0);
    assert!(jobs(&fake, &name).is_empty());
    assert!(
        fake.journal().iter().all(|e| !e.is_write()),
        "{:?}",
        fake.journal()
    );
    d.stop().await;
}
