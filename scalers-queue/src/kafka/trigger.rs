//! The trigger: one broker round per sample, then KEDA's lag rules.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use scalers_core::trigger::{MetricTarget, Sample, Trigger, TriggerError};

use super::client::{ClientPool, Query, SharedClient};
use super::config::KafkaConfig;
use super::error::{Error, Result};
use super::lag::{Lag, LagState, OffsetResetPolicy, PartitionOffsets};

/// The `kafka` trigger: the consumer lag of a group on a topic (or on every topic it committed
/// on).
///
/// Each sample reads the topic's partitions, the group's committed offsets and the partitions'
/// log-end offsets through a client shared with every trigger of the same [`ClientPool`] that
/// has the same brokers and credentials, then applies KEDA's rules (see [`LagState`]).
/// The librdkafka calls block; they run on tokio's blocking pool, so [`Trigger::sample`] must
/// be called within a tokio runtime.
pub struct KafkaTrigger {
    config: KafkaConfig,
    client: Arc<SharedClient>,
    /// The committed offsets of the previous sample, for `excludePersistentLag`.
    state: Mutex<LagState>,
}

impl fmt::Debug for KafkaTrigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaTrigger")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl KafkaTrigger {
    /// A trigger for `config`, taking its client from `pool`.
    ///
    /// No I/O: the client is created and connects on the first sample.
    pub fn new(config: KafkaConfig, pool: &ClientPool) -> Self {
        let client = pool.client_for(&config);
        KafkaTrigger {
            config,
            client,
            state: Mutex::new(LagState::new()),
        }
    }

    /// The parsed parameters.
    pub fn config(&self) -> &KafkaConfig {
        &self.config
    }

    /// Whether both triggers talk to the brokers through the same client.
    pub fn shares_client_with(&self, other: &KafkaTrigger) -> bool {
        Arc::ptr_eq(&self.client, &other.client)
    }

    /// One broker round: the measured partitions with their offsets, sorted by topic and
    /// partition. Does not touch the `excludePersistentLag` state.
    ///
    /// # Errors
    /// [`Error`]: no broker reachable, no answer within the timeout, credentials refused, the
    /// topic missing, `partitionLimitation` selecting no partition, or a broker error.
    pub async fn offsets(&self) -> Result<Vec<PartitionOffsets>> {
        let rules = &self.config.rules;
        let query = Query {
            group: self.config.consumer_group.clone(),
            topic: self.config.topic.clone(),
            limitation: self.config.partition_limitation.clone(),
            log_start: rules.offset_reset_policy == OffsetResetPolicy::Earliest
                && !rules.scale_to_zero_on_invalid_offset,
            timeout: self.config.timeout,
        };
        let client = self.client.clone();
        tokio::task::spawn_blocking(move || client.fetch(&query))
            .await
            .map_err(|source| Error::Task {
                servers: self.client.servers().to_owned(),
                source,
            })?
    }

    /// One sample's lag: [`KafkaTrigger::offsets`], then the rules, remembering the committed
    /// offsets for the next sample's `excludePersistentLag`.
    ///
    /// # Errors
    /// As [`KafkaTrigger::offsets`]; a failure leaves the remembered offsets as they were.
    pub async fn lag(&self) -> Result<Lag> {
        let partitions = self.offsets().await?;
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(state.observe(&self.config.rules, &partitions))
    }
}

#[async_trait]
impl Trigger for KafkaTrigger {
    fn target(&self) -> MetricTarget {
        MetricTarget {
            value: self.config.rules.lag_threshold as f64,
            metric_type: self.config.metric_type,
            activation_threshold: self.config.activation_lag_threshold as f64,
        }
    }

    /// The capped total lag as the value; active iff the total lag with persistent lag is
    /// greater than `activationLagThreshold`.
    async fn sample(&self) -> Result<Sample, TriggerError> {
        let lag = self.lag().await?;
        Ok(Sample {
            value: lag.value as f64,
            active: lag.with_persistent > self.config.activation_lag_threshold,
            no_data: false,
        })
    }
}
