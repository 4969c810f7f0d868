//! Private keys for rustls, which reads only unencrypted ones.

use scalers_core::secret::Secret;

/// `key` decrypted with `password` (KEDA's `keyPassword`), as an unencrypted PKCS#8 PEM: an
/// encrypted PKCS#8 key (`ENCRYPTED PRIVATE KEY`) or a traditional OpenSSL one (`Proc-Type:
/// 4,ENCRYPTED`); an unencrypted key is taken as it is, as KEDA does. `None` when it does not
/// decrypt; callers say so without quoting the key.
pub(crate) fn decrypt_private_key(key: &Secret, password: &Secret) -> Option<Secret> {
    openssl::pkey::PKey::private_key_from_pem_passphrase(
        key.expose().as_bytes(),
        password.expose().as_bytes(),
    )
    .and_then(|k| k.private_key_to_pem_pkcs8())
    .ok()
    .and_then(|pem| String::from_utf8(pem).ok())
    .map(Secret::new)
}
