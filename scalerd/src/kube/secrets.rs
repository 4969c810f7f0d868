//! Reading Secret and ConfigMap keys for `authentications`.

use k8s_openapi::api::core::v1::{ConfigMap, Secret as SecretObject};
use kube::{Api, Client};
use scalers_core::secret::Secret;

use super::error::call;
use super::{DEFAULT_REQUEST_TIMEOUT, KubeError, Operation};

/// The value of `key` in Secret `namespace/name` (base64-decoded, as UTF-8 text).
///
/// Needs `get` on `secrets` in the namespace. Errors name the Secret and key, never the value.
///
/// # Errors
/// [`KubeError::NotFound`] when the Secret is missing, [`KubeError::SecretKeyMissing`] when it
/// has no such key (the message lists the keys it has), [`KubeError::SecretNotUtf8`],
/// [`KubeError::Forbidden`] without RBAC, and the other [`KubeError`]s of a failed call.
///
/// # Examples
/// ```no_run
/// # async fn f(client: kube::Client) -> Result<(), scalerd::kube::KubeError> {
/// let password = scalerd::kube::read_secret_key(&client, "shop", "redis", "password").await?;
/// assert_eq!(password.to_string(), "***");
/// # Ok(()) }
/// ```
pub async fn read_secret_key(
    client: &Client,
    namespace: &str,
    name: &str,
    key: &str,
) -> Result<Secret, KubeError> {
    let api: Api<SecretObject> = Api::namespaced(client.clone(), namespace);
    let secret = call(
        || Operation::object("get", "secrets", namespace, name),
        DEFAULT_REQUEST_TIMEOUT,
        api.get(name),
    )
    .await?;
    let mut data = secret.data.unwrap_or_default();
    let Some(value) = data.remove(key) else {
        return Err(KubeError::SecretKeyMissing {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            key: key.to_owned(),
            keys: data.into_keys().collect(),
        });
    };
    match String::from_utf8(value.0) {
        Ok(text) => Ok(Secret::new(text)),
        Err(_) => Err(KubeError::SecretNotUtf8 {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            key: key.to_owned(),
        }),
    }
}

/// The value of `key` in ConfigMap `namespace/name`: from its `data`, else from its
/// `binaryData` (as UTF-8 text), as a `configMapTargetRef` names it.
///
/// Needs `get` on `configmaps` in the namespace. Errors name the ConfigMap and key, never the
/// value.
///
/// # Errors
/// [`KubeError::NotFound`] when the ConfigMap is missing, [`KubeError::ConfigMapKeyMissing`]
/// when it has no such key (the message lists the keys it has),
/// [`KubeError::ConfigMapNotUtf8`], [`KubeError::Forbidden`] without RBAC, and the other
/// [`KubeError`]s of a failed call.
///
/// # Examples
/// ```no_run
/// # async fn f(client: kube::Client) -> Result<(), scalerd::kube::KubeError> {
/// let host = scalerd::kube::read_config_map_key(&client, "shop", "redis-conf", "host").await?;
/// assert_eq!(host.to_string(), "***");
/// # Ok(()) }
/// ```
pub async fn read_config_map_key(
    client: &Client,
    namespace: &str,
    name: &str,
    key: &str,
) -> Result<Secret, KubeError> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let map = call(
        || Operation::object("get", "configmaps", namespace, name),
        DEFAULT_REQUEST_TIMEOUT,
        api.get(name),
    )
    .await?;
    let mut data = map.data.unwrap_or_default();
    if let Some(value) = data.remove(key) {
        return Ok(Secret::new(value));
    }
    let mut binary = map.binary_data.unwrap_or_default();
    let Some(value) = binary.remove(key) else {
        let mut keys: Vec<String> = data.into_keys().chain(binary.into_keys()).collect();
        keys.sort();
        return Err(KubeError::ConfigMapKeyMissing {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            key: key.to_owned(),
            keys,
        });
    };
    match String::from_utf8(value.0) {
        Ok(text) => Ok(Secret::new(text)),
        Err(_) => Err(KubeError::ConfigMapNotUtf8 {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            key: key.to_owned(),
        }),
    }
}
