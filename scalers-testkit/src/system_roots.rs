//! Running a test again with other system roots, to test how a trigger's `ca` combines with
//! what the system trusts.
//!
//! A process reads its trusted roots from `SSL_CERT_FILE` / `SSL_CERT_DIR` (OpenSSL,
//! rustls-native-certs, the platform verifier on Linux); setting them inside a test would need
//! `unsafe` and would race with other tests. So the test re-runs itself, alone, in a child
//! process of the same test binary whose environment names a file holding only the roots it
//! chooses, and reads the data it needs from [`child_var`].

use std::fs;
use std::path::PathBuf;
use std::process::Command;

/// The prefix of the variables a parent passes to its child run.
const CHILD_PREFIX: &str = "SCALERS_TEST_CHILD_";

/// In a child run started by [`run_with_system_roots`], the value the parent passed as `key`;
/// `None` in the parent (an ordinary test run).
pub fn child_var(key: &str) -> Option<String> {
    std::env::var(format!("{CHILD_PREFIX}{key}")).ok()
}

/// Runs the test `name` of this test binary again in a child process whose system roots are
/// exactly the PEM certificates `roots`, with `vars` readable there through [`child_var`];
/// returns the child's combined output when it passed.
///
/// # Errors
/// The child's exit status and output when it failed (or could not be started).
pub fn run_with_system_roots(
    name: &str,
    roots: &str,
    vars: &[(&str, &str)],
) -> Result<String, String> {
    let dir = std::env::temp_dir().join(format!(
        "scalers-roots-{}",
        crate::unique_name(&name.replace("::", "_"))
    ));
    fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let file = dir.join("roots.pem");
    fs::write(&file, roots).map_err(|e| format!("write {}: {e}", file.display()))?;
    let empty: PathBuf = dir.join("no-roots");
    fs::create_dir_all(&empty).map_err(|e| format!("create {}: {e}", empty.display()))?;
    let exe = std::env::current_exe().map_err(|e| format!("current test binary: {e}"))?;
    let mut command = Command::new(exe);
    // libtest's own arguments: this one test, by its exact name, in this process.
    command
        .args([name, "--exact", "--nocapture", "--test-threads", "1"])
        .env("SSL_CERT_FILE", &file)
        .env("SSL_CERT_DIR", &empty)
        .env(format!("{CHILD_PREFIX}RUN"), "1");
    for (key, value) in vars {
        command.env(format!("{CHILD_PREFIX}{key}"), value);
    }
    let output = command
        .output()
        .map_err(|e| format!("run the test binary for {name}: {e}"))?;
    let _ = fs::remove_dir_all(&dir);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // libtest exits 0 when its filter matched nothing: insist that the one test ran.
    if output.status.success() && text.contains("1 passed") {
        Ok(text)
    } else {
        Err(format!("child run of {name}: {}\n{text}", output.status))
    }
}
