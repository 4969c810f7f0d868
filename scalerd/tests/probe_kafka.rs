//! `scalerd probe` on `kafka` triggers, end to end: the binary against a real Kafka-protocol
//! broker (tansu, from `.ci/run` or started by the testkit), with exact JSON lines and exit
//! codes. Each test owns its topics and groups.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use scalers_testkit::{KafkaBroker, unique_name};
use serde_json::{Value, json};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn scalerd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scalerd"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("scalerd runs")
}

/// The JSON lines of stdout, in order.
fn lines(o: &Output) -> Vec<Value> {
    String::from_utf8(o.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// A config file of a test's own, removed on drop.
struct TempConfig(PathBuf);

impl TempConfig {
    fn new(text: &str) -> Self {
        let path = std::env::temp_dir().join(format!("{}.yaml", unique_name("probe-kafka")));
        std::fs::write(&path, text).unwrap();
        TempConfig(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempConfig {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// One scaled object `orders` with these triggers (`name`, metadata lines).
fn config(triggers: &[(&str, Vec<(&str, String)>)]) -> String {
    let mut text = String::from(
        "scaledObjects:\n  - name: orders\n    namespace: shop\n    scaleTargetRef: {name: orders}\n    triggers:\n",
    );
    for (name, metadata) in triggers {
        text.push_str(&format!(
            "      - type: kafka\n        name: {name}\n        metadata:\n"
        ));
        for (k, v) in metadata {
            text.push_str(&format!("          {k}: {v:?}\n"));
        }
    }
    text
}

#[tokio::test]
async fn probe_prints_the_lag_of_each_trigger() {
    let broker = KafkaBroker::shared().await;
    let topic = unique_name("orders");
    let group = unique_name("workers");
    // Partition 0: 7 records, committed 2 (lag 5); partition 1: 3 records, never committed
    // (latest: 1, earliest: 3). One record per batch, for tansu's log-end offsets.
    broker.create_topic(&topic, 2).await;
    broker.produce(&topic, 0, 7).await;
    broker.produce(&topic, 1, 3).await;
    broker.commit(&group, &topic, &[(0, 2)]).await;

    let base = |extra: &[(&'static str, &str)]| {
        let mut m = vec![
            ("bootstrapServers", broker.bootstrap().to_owned()),
            ("consumerGroup", group.clone()),
            ("topic", topic.clone()),
        ];
        m.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        m
    };
    let file = TempConfig::new(&config(&[
        ("latest", base(&[])),
        ("earliest", base(&[("offsetResetPolicy", "earliest")])),
        // 8 would need 4 replicas of 2 per replica: capped at 2 partitions.
        (
            "capped",
            base(&[("offsetResetPolicy", "earliest"), ("lagThreshold", "2")]),
        ),
        ("quiet", base(&[("activationLagThreshold", "6")])),
        // Every topic the group committed on: this one.
        (
            "topicless",
            vec![
                ("bootstrapServers", broker.bootstrap().to_owned()),
                ("consumerGroup", group.clone()),
            ],
        ),
    ]));
    let out = scalerd(&["probe", "--config", file.path()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let object = |trigger: &str, value: u64, active: bool, target: u64| {
        json!({
            "scaledObject": "shop/orders",
            "trigger": trigger,
            "type": "kafka",
            "value": value,
            "active": active,
            "target": target,
            "metricType": "AverageValue",
        })
    };
    assert_eq!(
        lines(&out),
        [
            object("latest", 6, true, 10),
            object("earliest", 8, true, 10),
            object("capped", 4, true, 2),
            object("quiet", 6, false, 10),
            object("topicless", 6, true, 10),
        ]
    );
}

#[tokio::test]
async fn probe_reports_failures_with_their_kind_and_exits_1() {
    let broker = KafkaBroker::shared().await;
    let missing = unique_name("missing");
    // Port 1: below the ephemeral range, so no test can bind it meanwhile (a port freed by a
    // listener can be taken by another test's server, which then never answers as Kafka).
    let refused = "127.0.0.1:1".to_owned();
    let file = TempConfig::new(&config(&[
        (
            "missing-topic",
            vec![
                ("bootstrapServers", broker.bootstrap().to_owned()),
                ("consumerGroup", "workers".to_owned()),
                ("topic", missing.clone()),
            ],
        ),
        (
            "no-broker",
            vec![
                ("bootstrapServers", refused.clone()),
                ("consumerGroup", "workers".to_owned()),
                ("topic", "orders".to_owned()),
            ],
        ),
    ]));
    let out = scalerd(&["probe", "--config", file.path()]);
    assert_eq!(out.status.code(), Some(1));
    let lines = lines(&out);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(
        lines[0],
        json!({
            "scaledObject": "shop/orders",
            "trigger": "missing-topic",
            "type": "kafka",
            "error": format!("{}: topic {missing:?} does not exist", broker.bootstrap()),
            "errorKind": "bad_response",
            "target": 10,
            "metricType": "AverageValue",
        })
    );
    // Which of librdkafka's two "no connection" events comes last depends on timing.
    let mut no_broker = lines[1].clone();
    let error = no_broker["error"].take();
    let prefix = format!("{refused}: fetch metadata of topic \"orders\": ");
    assert!(
        [
            "BrokerTransportFailure (Local: Broker transport failure)",
            "AllBrokersDown (Local: All broker connections are down)",
        ]
        .iter()
        .any(|why| error == json!(format!("{prefix}{why}"))),
        "{error}"
    );
    assert_eq!(
        no_broker,
        json!({
            "scaledObject": "shop/orders",
            "trigger": "no-broker",
            "type": "kafka",
            "error": null,
            "errorKind": "unavailable",
            "target": 10,
            "metricType": "AverageValue",
        })
    );
}

#[test]
fn the_kafka_example_passes_check() {
    let out = scalerd(&["check", "--config", "examples/configs/kafka-orders.yaml"]);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "examples/configs/kafka-orders.yaml: ok: 1 scaled object, 1 trigger (kafka 1)\n"
    );
    assert_eq!(out.status.code(), Some(0));
}
