//! The testkit's fake Kubernetes API server as a process, for benchmarks: `scalerd run`
//! against N Deployments without a cluster.
//!
//! ```text
//! fake-apiserver [--deployments N] [--namespace NS] [--prefix P] [--replicas R]
//!                [--kubeconfig PATH] [--journal]
//! ```
//!
//! Seeds N Deployments `<P>0` … `<P>N-1` in NS (default `bench`, prefix `o`, 0 replicas, the
//! status following the spec as a Deployment controller's would), writes a kubeconfig for it
//! to PATH if given, and prints one line `api=<url> admin=<url>`. It serves until killed.
//!
//! The admin side (plain HTTP, not Kubernetes):
//! - `GET /tally`: requests received so far by `"<verb> <resource>"` (JSON object), as the
//!   API server's audit log names them;
//! - `GET /replicas?namespace=NS`: how many Deployments have each `spec.replicas` (JSON object
//!   from count to number of Deployments).
//!
//! The journal of every request is off unless `--journal` is given: at thousands of requests
//! per second it would grow without bound; the tally counts them either way.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use scalers_testkit::{FakeApiServer, FakeResource};

struct Args {
    deployments: usize,
    namespace: String,
    prefix: String,
    replicas: u32,
    kubeconfig: Option<String>,
    journal: bool,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut parsed = Args {
        deployments: 0,
        namespace: "bench".to_owned(),
        prefix: "o".to_owned(),
        replicas: 0,
        kubeconfig: None,
        journal: false,
    };
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{flag}: expected a value"))
        };
        match flag.as_str() {
            "--deployments" => {
                let v = value()?;
                parsed.deployments = v
                    .parse()
                    .map_err(|_| format!("--deployments: expected a count, got {v:?}"))?;
            }
            "--replicas" => {
                let v = value()?;
                parsed.replicas = v
                    .parse()
                    .map_err(|_| format!("--replicas: expected a count, got {v:?}"))?;
            }
            "--namespace" => parsed.namespace = value()?,
            "--prefix" => parsed.prefix = value()?,
            "--kubeconfig" => parsed.kubeconfig = Some(value()?),
            "--journal" => parsed.journal = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(parsed)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("fake-apiserver: {e}");
            return ExitCode::from(2);
        }
    };
    let fake = Arc::new(FakeApiServer::start().await);
    fake.set_journaling(args.journal);
    for i in 0..args.deployments {
        let name = format!("{}{i}", args.prefix);
        fake.put_workload(
            &FakeResource::DEPLOYMENT,
            &args.namespace,
            &name,
            args.replicas,
        );
    }
    if let Some(path) = &args.kubeconfig
        && let Err(e) = std::fs::write(path, fake.kubeconfig_yaml())
    {
        eprintln!("fake-apiserver: cannot write {path}: {e}");
        return ExitCode::from(1);
    }
    let admin = Router::new()
        .route("/tally", get(tally))
        .route("/replicas", get(replicas))
        .with_state(fake.clone());
    let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("fake-apiserver: cannot bind the admin port: {e}");
            return ExitCode::from(1);
        }
    };
    let admin_url = match listener.local_addr() {
        Ok(a) => format!("http://{a}"),
        Err(e) => {
            eprintln!("fake-apiserver: {e}");
            return ExitCode::from(1);
        }
    };
    println!("api={} admin={admin_url}", fake.url());
    match axum::serve(listener, admin).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fake-apiserver: admin server failed: {e}");
            ExitCode::from(1)
        }
    }
}

async fn tally(State(fake): State<Arc<FakeApiServer>>) -> Json<BTreeMap<String, u64>> {
    Json(fake.tally())
}

async fn replicas(
    State(fake): State<Arc<FakeApiServer>>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Json<BTreeMap<u64, usize>> {
    let namespace = q.get("namespace").map_or("bench", String::as_str);
    Json(fake.replica_histogram(&FakeResource::DEPLOYMENT, namespace))
}
