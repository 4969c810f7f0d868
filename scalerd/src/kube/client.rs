//! Connecting to the cluster.

use std::path::Path;

use http::HeaderValue;
use http::header::USER_AGENT;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use super::KubeError;

/// A client for the cluster that the kubeconfig or the environment names:
/// [`load_config`] then [`client_from_config`].
///
/// # Errors
/// Those of [`load_config`] and [`client_from_config`].
///
/// # Examples
/// ```no_run
/// # async fn f() -> Result<(), scalerd::kube::KubeError> {
/// let client = scalerd::kube::connect(None, Some("staging")).await?;
/// # let _ = client; Ok(()) }
/// ```
pub async fn connect(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
) -> Result<Client, KubeError> {
    client_from_config(load_config(kubeconfig, context).await?)
}

/// The client config that the kubeconfig or the environment names, as kube-rs resolves them.
///
/// With neither argument, [`Config::infer`] decides: `KUBECONFIG` or `~/.kube/config`, else
/// the in-cluster service account. `kubeconfig` reads that file instead; `context` picks a
/// context other than the file's current one. Use it to adjust the config (e.g. add headers)
/// before [`client_from_config`].
///
/// # Errors
/// [`KubeError::Kubeconfig`] when the file cannot be read or has no such context,
/// [`KubeError::NoConfig`] when nothing was found.
pub async fn load_config(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
) -> Result<Config, KubeError> {
    let options = KubeConfigOptions {
        context: context.map(str::to_owned),
        ..KubeConfigOptions::default()
    };
    let config_error = |source| KubeError::Kubeconfig {
        path: kubeconfig.map(Path::to_path_buf),
        context: context.map(str::to_owned),
        source: Box::new(source),
    };
    match (kubeconfig, context) {
        (None, None) => Config::infer()
            .await
            .map_err(|e| KubeError::NoConfig(Box::new(e))),
        (None, Some(_)) => Config::from_kubeconfig(&options)
            .await
            .map_err(config_error),
        (Some(path), _) => {
            let file = Kubeconfig::read_from(path).map_err(config_error)?;
            Config::from_custom_kubeconfig(file, &options)
                .await
                .map_err(config_error)
        }
    }
}

/// A client from `config`, with scalerd's settings.
///
/// - kube's built-in retry of 429/503/504 responses is turned off: it backs off for up to
///   minutes inside one call, while scalerd's loops retry on their next tick and report the
///   failure (`unavailable`) in the meantime.
/// - Requests carry `User-Agent: scalerd/<version>` (shown in the API server's audit log),
///   unless `config.headers` already sets one (e.g. with the leader-election identity, to
///   tell replicas apart).
///
/// Must be called inside a tokio runtime.
///
/// # Errors
/// [`KubeError::Client`] when kube cannot build the client (e.g. bad certificates).
pub fn client_from_config(config: Config) -> Result<Client, KubeError> {
    Client::try_from(scalerd_config(config)).map_err(|e| KubeError::Client(Box::new(e)))
}

/// `config` with scalerd's client settings (see [`client_from_config`]).
pub(crate) fn scalerd_config(mut config: Config) -> Config {
    config.default_retry = false;
    if !config.headers.iter().any(|(name, _)| name == USER_AGENT) {
        let agent = concat!("scalerd/", env!("CARGO_PKG_VERSION"));
        config
            .headers
            .push((USER_AGENT, HeaderValue::from_static(agent)));
    }
    config
}

/// Whether this process runs in a Kubernetes pod (`KUBERNETES_SERVICE_HOST` is set), e.g. to
/// turn leader election on by default.
pub fn in_cluster() -> bool {
    std::env::var_os("KUBERNETES_SERVICE_HOST").is_some_and(|v| !v.is_empty())
}
