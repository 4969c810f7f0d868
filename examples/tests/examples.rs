//! The examples work: the embedded engine drains its backlog, and the custom trigger type is
//! usable from YAML through the stock command line, with errors reported like the built-ins'.

use std::path::{Path, PathBuf};
use std::time::Duration;

use scalerd::cli::{Command, Outcome, run};
use scalers_core::trigger::Registry;

fn registry() -> Registry {
    let mut r = scalerd::builtin_registry();
    scalers_examples::directory::register(&mut r);
    r
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// A temp dir removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let p =
            std::env::temp_dir().join(format!("scalers-examples-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run_to_string(command: Command) -> (scalerd::Result<Outcome>, String) {
    let mut out = Vec::new();
    let r = run(command, &registry(), &mut out);
    (r, String::from_utf8(out).unwrap())
}

#[tokio::test]
async fn the_embedded_engine_drains_the_backlog_and_scales_to_zero() {
    let mut lines = Vec::new();
    scalers_examples::embed::run_demo(Duration::from_millis(200), |l| lines.push(l))
        .await
        .unwrap();
    assert!(
        lines[0].contains("workers 0 -> 1: activated by backlog"),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("workers 1 -> 5")),
        "scale-up limited to 4 pods per 15 s by the default behavior: {lines:?}"
    );
    assert!(
        lines.last().unwrap().ends_with("pool scaled to zero"),
        "{lines:?}"
    );
}

#[test]
fn the_shipped_plugin_config_passes_check_with_the_custom_registry() {
    let config = root().join("configs/plugin/directory.yaml");
    let (r, out) = run_to_string(Command::Check {
        config: config.clone(),
    });
    assert_eq!(r.unwrap(), Outcome::Success);
    assert_eq!(
        out,
        format!(
            "{}: ok: 1 scaled object, 1 trigger (directory 1)\n",
            config.display()
        )
    );
    // the stock registry does not know the type
    let mut sink = Vec::new();
    let err = run(
        Command::Check { config },
        &scalerd::builtin_registry(),
        &mut sink,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("unknown trigger type \"directory\""),
        "{err}"
    );
}

#[test]
fn the_custom_type_reports_config_errors_like_the_built_ins() {
    let dir = TempDir::new("errors");
    let config = dir.0.join("bad.yaml");
    std::fs::write(
        &config,
        "scaledObjects:\n  - name: a\n    scaleTargetRef: {name: a}\n    triggers:\n      - {type: directory, metadata: {fileCount: many}}\n",
    )
    .unwrap();
    let (r, _) = run_to_string(Command::Check {
        config: config.clone(),
    });
    let p = config.display();
    assert_eq!(
        r.unwrap_err().to_string(),
        format!(
            "{p}: scaledObjects[0].triggers[0].metadata.path: required parameter is missing\n\
             {p}: scaledObjects[0].triggers[0].metadata.fileCount: expected a number, got \"many\""
        )
    );
}

#[test]
fn probe_and_simulate_work_with_the_custom_type() {
    let dir = TempDir::new("probe");
    let inbox = dir.0.join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    for i in 0..12 {
        std::fs::write(inbox.join(format!("job-{i}")), "x").unwrap();
    }
    std::fs::write(inbox.join(".hidden"), "x").unwrap();
    let config = dir.0.join("dir.yaml");
    std::fs::write(
        &config,
        format!(
            "scaledObjects:\n  - name: thumbs\n    scaleTargetRef: {{name: thumbs}}\n    pollingInterval: 10\n    triggers:\n      - {{type: directory, name: inbox, metadata: {{path: '{}', fileCount: '5'}}}}\n",
            inbox.display()
        ),
    )
    .unwrap();
    let (r, out) = run_to_string(Command::Probe {
        config: config.clone(),
        scaled_object: None,
        timeout: 5.0,
    });
    assert_eq!(r.unwrap(), Outcome::Success);
    assert_eq!(
        out,
        "{\"scaledObject\":\"default/thumbs\",\"trigger\":\"inbox\",\"type\":\"directory\",\"value\":12,\"active\":true,\"target\":5,\"metricType\":\"AverageValue\"}\n"
    );

    let trace = dir.0.join("trace.csv");
    std::fs::write(&trace, "time,inbox\n0,12\n20,0\n").unwrap();
    let (r, out) = run_to_string(Command::Simulate {
        config,
        trace,
        scaled_object: None,
        scaled_job: None,
        initial_replicas: 0,
        plot: None,
    });
    assert_eq!(r.unwrap(), Outcome::Success);
    assert_eq!(
        out,
        "time,replicas,active,reason\n0,1,true,activated by inbox\n10,3,true,inbox proposes 3\n20,3,false,inbox proposes 0; scale-down window holds 3\n"
    );
}
