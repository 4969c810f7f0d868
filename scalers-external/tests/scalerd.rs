//! End to end through the stock daemon (`scalerd::daemon::App`, dry run, in-memory workloads): an
//! `external-push` trigger with a 30 s polling interval activates its object within moments of
//! the scaler pushing `true`.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{FakeScaler, value};
use scalerd::daemon::{App, RunOptions};
use scalers_testkit::{eventually, unique_name};
use tokio::sync::oneshot;
use tokio::time::Instant;

/// A config file in its own temp dir, removed on drop.
struct ConfigFile {
    dir: PathBuf,
    path: PathBuf,
}

impl ConfigFile {
    fn new(text: &str) -> Self {
        let dir = std::env::temp_dir().join(unique_name("scalers_external"));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("scalerd.yaml");
        std::fs::write(&path, text).unwrap();
        ConfigFile { dir, path }
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_true_activates_the_object_well_before_the_next_poll() {
    let scaler = FakeScaler::start().await;
    scaler.set_values(vec![value(0, 0.0)]);
    let name = unique_name("worker").replace('_', "-");
    let key = format!("shop/{name}");
    let file = ConfigFile::new(&format!(
        "scaledObjects:
  - name: {name}
    namespace: shop
    scaleTargetRef: {{name: {name}}}
    pollingInterval: 30
    minReplicaCount: 0
    maxReplicaCount: 10
    triggers:
      - type: external-push
        name: queue
        metadata:
          scalerAddress: {address}
",
        address = scaler.address()
    ));

    let mut opts = RunOptions::new(file.path.clone());
    opts.dry_run = true;
    opts.admin_addr = "127.0.0.1:0".parse().unwrap();
    opts.watch_interval = Duration::ZERO;
    opts.sample_timeout = Duration::from_secs(2);
    let app = App::build(opts, scalerd::builtin_registry()).await.unwrap();
    let status = app.status();
    let (stop, stopped) = oneshot::channel::<()>();
    let daemon = tokio::spawn(app.run(async {
        let _ = stopped.await;
    }));

    // the first tick: inactive, nothing to run; the push stream is open
    let o = eventually(Duration::from_secs(10), || async {
        let o = status.object(&key);
        match &o {
            Some(o) if o.last_tick.is_some() && scaler.open_streams() == 1 => Ok(o.clone()),
            _ => Err(format!("{o:?}, {} streams", scaler.open_streams())),
        }
    })
    .await;
    assert_eq!(o.desired_replicas, Some(0));
    assert_eq!(o.active, Some(false));
    let ticks = scaler
        .methods()
        .iter()
        .filter(|m| **m == "IsActive")
        .count();
    assert_eq!(ticks, 1);

    // work arrives: the scaler says so at once instead of waiting to be polled in 30 s
    scaler.set_values(vec![value(20, 0.0)]);
    scaler.set_active(true);
    let pushed = Instant::now();
    assert_eq!(scaler.push(true), 1);
    let o = eventually(Duration::from_secs(10), || async {
        let o = status.object(&key).unwrap();
        if o.desired_replicas.is_some_and(|d| d >= 1) {
            Ok(o)
        } else {
            Err(format!("{o:?}"))
        }
    })
    .await;
    let took = pushed.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "activated {took:?} after the push"
    );
    assert_eq!(o.active, Some(true));
    // 20 against the scaler's target of 10: 2 replicas' worth
    assert_eq!(o.triggers[0].value, Some(2.0));

    let _ = stop.send(());
    daemon.await.unwrap().unwrap();
}
