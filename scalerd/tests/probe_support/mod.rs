//! What the `probe_*` tests share: temp configs, running `scalerd probe`, and the expected
//! JSON lines.

#![allow(dead_code)] // each probe test uses its own part of this

use std::path::PathBuf;
use std::process::{Command, Output};

use scalers_testkit::unique_name;
use serde_json::{Value, json};

/// A temp config file, removed on drop.
pub(crate) struct TempConfig(pub(crate) PathBuf);

impl TempConfig {
    /// Writes `text` to a new file.
    pub(crate) fn new(text: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("scalerd-probe-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{}.yaml", unique_name("config")));
        std::fs::write(&path, text).unwrap();
        TempConfig(path)
    }

    /// The path, as a string.
    pub(crate) fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempConfig {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs `scalerd <command> --config <config>`.
pub(crate) fn scalerd(command: &str, config: &str) -> (TempConfig, Output) {
    let file = TempConfig::new(config);
    let out = Command::new(env!("CARGO_BIN_EXE_scalerd"))
        .args([command, "--config", file.path()])
        .output()
        .expect("scalerd runs");
    (file, out)
}

/// Runs `scalerd probe` on `config`; returns the exit code and one JSON value per line.
pub(crate) fn probe(config: &str) -> (i32, Vec<Value>) {
    let (_file, out) = scalerd("probe", config);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}\n{stderr}")))
        .collect();
    (out.status.code().unwrap_or(-1), lines)
}

/// A trigger for [`config`]: name, type and metadata.
pub(crate) type TriggerDef<'a> = (&'a str, &'a str, Vec<(&'a str, String)>);

/// One scaled object `app` in namespace `test` with these triggers.
pub(crate) fn config(triggers: &[TriggerDef<'_>]) -> String {
    let mut text = String::from(
        "scaledObjects:\n  - name: app\n    namespace: test\n    scaleTargetRef: {name: app}\n    triggers:\n",
    );
    for (name, kind, metadata) in triggers {
        text.push_str(&format!(
            "      - type: {kind}\n        name: {name}\n        metadata:\n"
        ));
        for (k, v) in metadata {
            text.push_str(&format!("          {k}: {}\n", json!(v)));
        }
    }
    text
}

/// The probe line of a sample.
pub(crate) fn ok(trigger: &str, kind: &str, value: u64, active: bool, target: u64) -> Value {
    json!({
        "scaledObject": "test/app", "trigger": trigger, "type": kind, "value": value,
        "active": active, "target": target, "metricType": "AverageValue"
    })
}

/// The probe line of a failed sample.
pub(crate) fn failed(
    trigger: &str,
    kind: &str,
    error: &str,
    error_kind: &str,
    target: u64,
) -> Value {
    json!({
        "scaledObject": "test/app", "trigger": trigger, "type": kind, "error": error,
        "errorKind": error_kind, "target": target, "metricType": "AverageValue"
    })
}
