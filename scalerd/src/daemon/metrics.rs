//! The daemon's Prometheus metrics (`/metrics`), prefixed `scalers_`.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// A label value shared by every series of an object (its namespace, name, trigger names and
/// types): made once per loop, so that a tick's series lookups clone reference counts instead
/// of allocating strings, and 10,000 objects' series do not each own copies of them.
///
/// A thin pointer (8 bytes, where `Arc<str>` takes 16): each family's hash table holds one
/// entry of labels per series, and at 30,000 objects the per-object families' tables (65,536
/// entries each) took 9 MiB more with fat pointers. Namespaces and trigger types, which many
/// objects share, are interned ([`Metrics::label`]).
pub type Label = Arc<String>;

/// A label value of its own, not interned.
pub fn label(value: &str) -> Label {
    Arc::new(value.to_owned())
}

/// Labels of per-trigger series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TriggerLabels {
    /// Namespace of the scaled object.
    pub namespace: Label,
    /// Name of the scaled object.
    pub scaled_object: Label,
    /// Trigger name.
    pub trigger: Label,
    /// Trigger type.
    pub r#type: Label,
}

/// Labels of series kept per trigger type (not per trigger, so that their number does not grow
/// with the number of objects).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TriggerTypeLabels {
    /// Trigger type.
    pub r#type: Label,
}

/// Labels of per-trigger error counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TriggerErrorLabels {
    /// Namespace of the scaled object.
    pub namespace: Label,
    /// Name of the scaled object.
    pub scaled_object: Label,
    /// Trigger name.
    pub trigger: Label,
    /// Failure kind (`unavailable`, `timeout`, …).
    pub kind: &'static str,
}

/// Labels of per-object series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ObjectLabels {
    /// Namespace of the scaled object.
    pub namespace: Label,
    /// Name of the scaled object.
    pub scaled_object: Label,
}

/// Labels of the owner of a scaled object (sharding).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OwnerLabels {
    /// The object's namespace.
    pub namespace: Label,
    /// The object's name.
    pub scaled_object: Label,
    /// The identity of the replica that owns it (this one).
    pub owner: Label,
}

/// Labels of per-scaled-job series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    /// Namespace of the scaled job.
    pub namespace: Label,
    /// Name of the scaled job.
    pub scaled_job: Label,
}

/// Labels of the last-decision series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    /// Namespace of the scaled object.
    pub namespace: Label,
    /// Name of the scaled object.
    pub scaled_object: Label,
    /// The decision's reason code.
    pub reason: &'static str,
}

/// Labels of target error counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TargetErrorLabels {
    /// Namespace of the scaled object.
    pub namespace: Label,
    /// Name of the scaled object.
    pub scaled_object: Label,
    /// Failure kind (`not_found`, `forbidden`, …).
    pub kind: &'static str,
}

/// Labels of the rate limit's series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PriorityLabels {
    /// The call's priority: `lease`, `scale`, `watch`, `read` or `report`.
    pub priority: &'static str,
}

type FloatGauge = Gauge<f64, AtomicU64>;
/// A family of histograms with the daemon's latency buckets (1 ms … ~33 s).
pub type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 1 ms … ~33 s
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// Every metric the daemon exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Last value of each trigger.
    pub trigger_value: Family<TriggerLabels, FloatGauge>,
    /// Whether each trigger was active (0/1).
    pub trigger_active: Family<TriggerLabels, Gauge>,
    /// Samples whose source had no data.
    pub trigger_no_data: Family<TriggerLabels, Counter>,
    /// Latency of each trigger's last sample, in seconds.
    pub trigger_latency: Family<TriggerLabels, FloatGauge>,
    /// Distribution of sample latencies, per trigger type (a histogram per trigger would be
    /// 17 series per trigger: 170,000 lines per scrape at 10,000 objects).
    pub sample_duration: HistogramFamily<TriggerTypeLabels>,
    /// Failed samples.
    pub trigger_errors: Family<TriggerErrorLabels, Counter>,
    /// Replicas decided.
    pub desired_replicas: Family<ObjectLabels, Gauge>,
    /// Replicas found.
    pub current_replicas: Family<ObjectLabels, Gauge>,
    /// 1 for the reason of the last decision of each object.
    pub last_decision: Family<DecisionLabels, Gauge>,
    /// Failed reads and writes of targets.
    pub target_errors: Family<TargetErrorLabels, Counter>,
    /// How late ticks ran against their schedule, in seconds, over every object (the
    /// daemon's saturation signal; one series, whatever the number of objects).
    pub loop_lateness: Histogram,
    /// Config reloads rejected.
    pub reload_failures: Counter,
    /// 1 while this instance leads.
    pub leader: Gauge,
    /// Events waiting in the queue to be published.
    pub events_queued: Gauge,
    /// Events dropped because the queue was full.
    pub events_dropped: Counter,
    /// Repeats of an Event counted on the existing Event (its `series`) instead of a new one.
    pub events_aggregated: Counter,
    /// Ticks abandoned because this instance stopped leading while they ran.
    pub ticks_abandoned: Counter,
    /// Triggers rebuilt with re-read credentials.
    pub trigger_rebuilds: Counter,
    /// Jobs created for each scaled job.
    pub jobs_created: Family<JobLabels, Counter>,
    /// Creates of a scaled job's Job that the API refused.
    pub job_create_failures: Family<JobLabels, Counter>,
    /// Calls to the Kubernetes API waiting for the rate limit, per priority.
    pub kube_api_waiting: Family<PriorityLabels, Gauge>,
    /// How long calls waited for the rate limit, per priority.
    pub kube_api_wait: HistogramFamily<PriorityLabels>,
    /// With `--sharding`: 1 for each object this replica owns, labelled with its identity.
    pub object_owner: Family<OwnerLabels, Gauge>,
    /// With `--sharding`: the shards this replica holds.
    pub shards_held: Gauge,
    /// With `--sharding`: the live replicas this one counts, itself included.
    pub shard_members: Gauge,
    /// The length of the last encoding, to size the next one's buffer at once (at 10,000
    /// objects a scrape is several MiB, and growing a `String` by doubling copies it each time).
    last_len: std::sync::atomic::AtomicUsize,
    /// Interned label values (namespaces, trigger types): few distinct ones, shared by many
    /// series, kept for the process's life.
    interned: std::sync::Mutex<std::collections::HashMap<String, Label>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// The interned label of `value`: one allocation for every series that names it. For
    /// values many objects share (namespaces, trigger types); the set is never pruned.
    pub fn label(&self, value: &str) -> Label {
        let mut interned = self
            .interned
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(l) = interned.get(value) {
            return l.clone();
        }
        let l = label(value);
        interned.insert(value.to_owned(), l.clone());
        l
    }

    /// All metrics, registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("scalers");
        let m = Metrics {
            trigger_value: Family::default(),
            trigger_active: Family::default(),
            trigger_no_data: Family::default(),
            trigger_latency: Family::default(),
            sample_duration: Family::new_with_constructor(latency_histogram),
            trigger_errors: Family::default(),
            desired_replicas: Family::default(),
            current_replicas: Family::default(),
            last_decision: Family::default(),
            target_errors: Family::default(),
            loop_lateness: latency_histogram(),
            reload_failures: Counter::default(),
            leader: Gauge::default(),
            events_queued: Gauge::default(),
            events_dropped: Counter::default(),
            events_aggregated: Counter::default(),
            ticks_abandoned: Counter::default(),
            trigger_rebuilds: Counter::default(),
            jobs_created: Family::default(),
            job_create_failures: Family::default(),
            kube_api_waiting: Family::default(),
            kube_api_wait: Family::new_with_constructor(latency_histogram),
            object_owner: Family::default(),
            shards_held: Gauge::default(),
            shard_members: Gauge::default(),
            last_len: std::sync::atomic::AtomicUsize::new(0),
            interned: std::sync::Mutex::default(),
            registry: Registry::default(),
        };
        registry.register(
            "trigger_value",
            "Last value of a trigger",
            m.trigger_value.clone(),
        );
        registry.register(
            "trigger_active",
            "Whether a trigger was above its activation threshold",
            m.trigger_active.clone(),
        );
        registry.register(
            "trigger_no_data",
            "Samples whose source answered with no data",
            m.trigger_no_data.clone(),
        );
        registry.register(
            "trigger_sample_latency_seconds",
            "Time taken by a trigger's last sample",
            m.trigger_latency.clone(),
        );
        registry.register(
            "trigger_sample_duration_seconds",
            "Time taken by trigger samples, per trigger type",
            m.sample_duration.clone(),
        );
        registry.register(
            "trigger_errors",
            "Failed trigger samples",
            m.trigger_errors.clone(),
        );
        registry.register(
            "scaled_object_desired_replicas",
            "Replicas decided at the last tick",
            m.desired_replicas.clone(),
        );
        registry.register(
            "scaled_object_current_replicas",
            "Replicas found at the last tick",
            m.current_replicas.clone(),
        );
        registry.register(
            "scaled_object_last_decision",
            "1 for the reason code of the last decision",
            m.last_decision.clone(),
        );
        registry.register(
            "target_errors",
            "Failed reads or writes of a scale target",
            m.target_errors.clone(),
        );
        registry.register(
            "loop_lateness_seconds",
            "How late scaled objects' ticks ran against their schedule",
            m.loop_lateness.clone(),
        );
        registry.register(
            "scaled_job_jobs_created",
            "Jobs created for a scaled job",
            m.jobs_created.clone(),
        );
        registry.register(
            "scaled_job_create_failures",
            "Creates of a scaled job's Job that the API refused",
            m.job_create_failures.clone(),
        );
        registry.register(
            "config_reload_failures",
            "Config reloads rejected as invalid",
            m.reload_failures.clone(),
        );
        registry.register(
            "leader",
            "1 while this instance holds the leader lease",
            m.leader.clone(),
        );
        registry.register(
            "events_queued",
            "Events waiting to be published",
            m.events_queued.clone(),
        );
        registry.register(
            "events_dropped",
            "Events dropped because the event queue was full",
            m.events_dropped.clone(),
        );
        registry.register(
            "events_aggregated",
            "Repeated Events counted on an existing Event instead of a new one",
            m.events_aggregated.clone(),
        );
        registry.register(
            "ticks_abandoned",
            "Ticks abandoned because this instance stopped leading while they ran",
            m.ticks_abandoned.clone(),
        );
        registry.register(
            "trigger_rebuilds",
            "Triggers rebuilt after their credentials were read again",
            m.trigger_rebuilds.clone(),
        );
        registry.register(
            "kube_api_waiting",
            "Calls to the Kubernetes API waiting for the client-side rate limit",
            m.kube_api_waiting.clone(),
        );
        registry.register(
            "kube_api_wait_seconds",
            "Time calls to the Kubernetes API waited for the client-side rate limit",
            m.kube_api_wait.clone(),
        );
        registry.register(
            "scaled_object_owner",
            "1 for each scaled object this replica owns (sharding), labelled with its identity",
            m.object_owner.clone(),
        );
        registry.register(
            "shards_held",
            "Shard Leases this replica holds (sharding)",
            m.shards_held.clone(),
        );
        registry.register(
            "shard_members",
            "Live replicas this replica counts in the shard set, itself included (sharding)",
            m.shard_members.clone(),
        );
        Metrics { registry, ..m }
    }

    /// The series the Kubernetes client's rate limit writes to.
    pub fn rate_limit(&self) -> crate::kube::RateLimitMetrics {
        crate::kube::RateLimitMetrics {
            waiting: self.kube_api_waiting.clone(),
            wait: self.kube_api_wait.clone(),
        }
    }

    /// The metrics in the Prometheus text format.
    pub fn encode(&self) -> String {
        use std::sync::atomic::Ordering::Relaxed;
        let last = self.last_len.load(Relaxed);
        let mut out = String::with_capacity(last + last / 16);
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        self.last_len.store(out.len(), Relaxed);
        out
    }
}

/// The labels of one object's series, made once per loop and per reload.
#[derive(Clone, Debug)]
pub struct ObjectSeries {
    /// The object's labels.
    pub object: ObjectLabels,
    /// Each trigger's labels, in the object's order.
    pub triggers: Vec<TriggerLabels>,
    /// Each trigger's type label, in the object's order.
    pub types: Vec<TriggerTypeLabels>,
    /// The series this loop has written, resolved once: a tick updates them without hashing
    /// labels into the families (the lookups were a tenth of a sample's instructions).
    handles: Handles,
}

/// Handles on one loop's series, each resolved on its first use, so that a series appears in
/// `/metrics` exactly when it would with a lookup per tick. A handle shares its value with the
/// family's entry; [`ObjectSeries::forget`] removes the entries, and the loop then drops the
/// handles with the series.
#[derive(Clone, Debug, Default)]
struct Handles {
    triggers: Vec<TriggerHandles>,
    current: Option<Gauge>,
    desired: Option<Gauge>,
    decision: Option<(&'static str, Gauge)>,
}

#[derive(Clone, Debug, Default)]
struct TriggerHandles {
    latency: Option<FloatGauge>,
    duration: Option<Histogram>,
    value: Option<FloatGauge>,
    active: Option<Gauge>,
    no_data: Option<Counter>,
}

/// The handle in `slot`, resolved from `family` on first use.
fn resolve<'a, L, M, C>(slot: &'a mut Option<M>, family: &Family<L, M, C>, labels: &L) -> &'a M
where
    L: Clone + std::hash::Hash + Eq,
    M: Clone,
    C: prometheus_client::metrics::family::MetricConstructor<M>,
{
    slot.get_or_insert_with(|| family.get_or_create(labels).clone())
}

impl ObjectSeries {
    /// The labels of the object `namespace/name` with `triggers` (name and type each); the
    /// namespace and the types are interned in `metrics`.
    pub fn new<'a>(
        metrics: &Metrics,
        namespace: &str,
        name: &str,
        triggers: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Self {
        let object = ObjectLabels {
            namespace: metrics.label(namespace),
            scaled_object: label(name),
        };
        // Pushed into exact capacities: `unzip` reserves at least 4 of each, which for the
        // usual one trigger left 240 bytes unused in every loop.
        let triggers: Vec<(&str, &str)> = triggers.into_iter().collect();
        let mut labels = Vec::with_capacity(triggers.len());
        let mut types = Vec::with_capacity(triggers.len());
        for (trigger, kind) in triggers {
            let r#type = metrics.label(kind);
            labels.push(TriggerLabels {
                namespace: object.namespace.clone(),
                scaled_object: object.scaled_object.clone(),
                trigger: label(trigger),
                r#type: r#type.clone(),
            });
            types.push(TriggerTypeLabels { r#type });
        }
        let triggers = labels;
        let handles = Handles {
            triggers: vec![TriggerHandles::default(); triggers.len()],
            ..Handles::default()
        };
        ObjectSeries {
            object,
            triggers,
            types,
            handles,
        }
    }

    /// Records trigger `i`'s sample latency, in seconds (its latency gauge and the duration
    /// histogram of its type).
    pub fn sampled(&mut self, m: &Metrics, i: usize, seconds: f64) {
        let (Some(h), Some(labels), Some(types)) = (
            self.handles.triggers.get_mut(i),
            self.triggers.get(i),
            self.types.get(i),
        ) else {
            return;
        };
        resolve(&mut h.latency, &m.trigger_latency, labels).set(seconds);
        resolve(&mut h.duration, &m.sample_duration, types).observe(seconds);
    }

    /// Records trigger `i`'s value and activity, and counts a sample without data.
    pub fn valued(&mut self, m: &Metrics, i: usize, value: f64, active: bool, no_data: bool) {
        let (Some(h), Some(labels)) = (self.handles.triggers.get_mut(i), self.triggers.get(i))
        else {
            return;
        };
        resolve(&mut h.value, &m.trigger_value, labels).set(value);
        resolve(&mut h.active, &m.trigger_active, labels).set(i64::from(active));
        if no_data {
            resolve(&mut h.no_data, &m.trigger_no_data, labels).inc();
        }
    }

    /// Records the current and desired replicas of a decision.
    pub fn decided(&mut self, m: &Metrics, current: u32, desired: u32) {
        let h = &mut self.handles;
        resolve(&mut h.current, &m.current_replicas, &self.object).set(i64::from(current));
        resolve(&mut h.desired, &m.desired_replicas, &self.object).set(i64::from(desired));
    }

    /// Sets the object's last-decision series to reason `code` (1), having removed the
    /// series of the previous reason (`previous`, the last one recorded, perhaps through
    /// series made before a reload), if another: one such series per object.
    pub fn last_decision(
        &mut self,
        m: &Metrics,
        previous: Option<&'static str>,
        code: &'static str,
    ) {
        if let Some((c, gauge)) = &self.handles.decision
            && *c == code
        {
            gauge.set(1);
            return;
        }
        if let Some(previous) = previous.filter(|p| *p != code) {
            m.last_decision.remove(&self.decision(previous));
        }
        let gauge = m.last_decision.get_or_create(&self.decision(code)).clone();
        gauge.set(1);
        self.handles.decision = Some((code, gauge));
    }

    /// The last-decision labels for `reason`.
    pub fn decision(&self, reason: &'static str) -> DecisionLabels {
        DecisionLabels {
            namespace: self.object.namespace.clone(),
            scaled_object: self.object.scaled_object.clone(),
            reason,
        }
    }

    /// Drops the object's gauges from `m` (its loop stopped, or its triggers changed), with the
    /// last-decision series of `last_reason`. Counters stay: a counter that disappears and
    /// comes back would read as a reset.
    pub fn forget(&self, m: &Metrics, last_reason: Option<&'static str>) {
        m.desired_replicas.remove(&self.object);
        m.current_replicas.remove(&self.object);
        if let Some(reason) = last_reason {
            m.last_decision.remove(&self.decision(reason));
        }
        self.forget_triggers(m);
    }

    /// Drops the triggers' gauges from `m`.
    pub fn forget_triggers(&self, m: &Metrics) {
        for t in &self.triggers {
            m.trigger_value.remove(t);
            m.trigger_active.remove(t);
            m.trigger_latency.remove(t);
        }
    }
}
