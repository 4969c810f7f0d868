//! `unsafeSsl: "true"` is logged as a warning once per trigger, when its loop starts.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use scalers_testkit::{eventually, unique_name};

#[tokio::test]
async fn unsafe_ssl_is_warned_about_once_per_trigger() {
    let dir = std::env::temp_dir().join(unique_name("scalerd_unsafe_ssl"));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("c.yaml");
    std::fs::write(
        &config,
        "scaledObjects:\n  - name: app\n    scaleTargetRef: {name: app}\n    pollingInterval: 1\n    triggers:\n      - {type: prometheus, name: insecure, metadata: {serverAddress: 'https://127.0.0.1:1', query: q, threshold: '1', unsafeSsl: 'true'}}\n      - {type: prometheus, name: checked, metadata: {serverAddress: 'https://127.0.0.1:1', query: q, threshold: '1'}}\n",
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_scalerd"))
        .args([
            "run",
            "--dry-run",
            "--config-watch-interval",
            "0",
            "--admin-addr",
        ])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--config")
        .arg(&config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for three ticks, so that a warning repeated per tick would show.
    eventually(Duration::from_secs(20), || async {
        let r = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
            .await
            .map_err(|e| e.to_string())?;
        let text = r.text().await.map_err(|e| e.to_string())?;
        let ticks = text
            .lines()
            .find(|l| l.starts_with("scalers_loop_lateness_seconds_count"))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
        if ticks >= 3 {
            Ok(())
        } else {
            Err(format!("{ticks} ticks"))
        }
    })
    .await;
    Command::new("kill")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(child.wait().unwrap().success());
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("unsafeSsl")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(warnings[0].contains("trigger=insecure"), "{}", warnings[0]);
    let _ = std::fs::remove_dir_all(&dir);
}
