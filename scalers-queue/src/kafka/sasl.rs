//! The client side of the SASL mechanisms the `kafka` trigger offers, for the connections this
//! crate makes itself (see [`super::coordinator`]): PLAIN (RFC 4616), SCRAM-SHA-256 and
//! SCRAM-SHA-512 (RFC 5802, RFC 7677) and OAUTHBEARER with a static token (RFC 7628).

use aws_lc_rs::{digest, hmac, pbkdf2, rand};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::config::Sasl;

/// Why an exchange stopped on the client side: the server's message is not what the mechanism
/// expects, or the server failed to prove it knows the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refused(pub(crate) String);

/// One SASL exchange: the client's first message, then an answer to each server message until
/// the mechanism is done.
pub(crate) enum Exchange {
    /// PLAIN and OAUTHBEARER: one message, nothing to check after it.
    Once(Option<Vec<u8>>),
    /// SCRAM: client-first, client-final, then the server's signature is checked.
    Scram(Scram),
}

impl Exchange {
    /// The exchange for `sasl`, with a fresh nonce for SCRAM.
    ///
    /// # Errors
    /// [`Refused`] when the system has no random source for the nonce.
    pub(crate) fn new(sasl: &Sasl) -> Result<Self, Refused> {
        Ok(match sasl {
            Sasl::Plain(up) => {
                let mut m = vec![0];
                m.extend_from_slice(up.username.expose().as_bytes());
                m.push(0);
                m.extend_from_slice(up.password.expose().as_bytes());
                Exchange::Once(Some(m))
            }
            Sasl::OAuthBearer { token } => Exchange::Once(Some(
                format!("n,,\x01auth=Bearer {}\x01\x01", token.expose()).into_bytes(),
            )),
            Sasl::ScramSha256(up) => Exchange::Scram(Scram::new(
                Hash::Sha256,
                up.username.expose(),
                up.password.expose(),
                &nonce()?,
            )),
            Sasl::ScramSha512(up) => Exchange::Scram(Scram::new(
                Hash::Sha512,
                up.username.expose(),
                up.password.expose(),
                &nonce()?,
            )),
        })
    }

    /// The client's first message.
    pub(crate) fn first(&mut self) -> Vec<u8> {
        match self {
            Exchange::Once(m) => m.take().unwrap_or_default(),
            Exchange::Scram(s) => s.client_first(),
        }
    }

    /// The answer to the server's message `server`, or `None` when the exchange is complete.
    ///
    /// # Errors
    /// [`Refused`] when the message is not what the mechanism expects, or (SCRAM) when the
    /// server's signature is wrong.
    pub(crate) fn answer(&mut self, server: &[u8]) -> Result<Option<Vec<u8>>, Refused> {
        match self {
            Exchange::Once(_) => Ok(None),
            Exchange::Scram(s) => s.answer(server),
        }
    }
}

/// 24 random bytes, base64: a SCRAM client nonce.
fn nonce() -> Result<String, Refused> {
    let mut bytes = [0u8; 24];
    rand::SecureRandom::fill(&rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| Refused("no random source for the SCRAM nonce".to_owned()))?;
    Ok(STANDARD.encode(bytes))
}

/// SCRAM's hash function.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Hash {
    Sha256,
    Sha512,
}

impl Hash {
    fn hmac(self) -> hmac::Algorithm {
        match self {
            Hash::Sha256 => hmac::HMAC_SHA256,
            Hash::Sha512 => hmac::HMAC_SHA512,
        }
    }

    fn digest(self) -> &'static digest::Algorithm {
        match self {
            Hash::Sha256 => &digest::SHA256,
            Hash::Sha512 => &digest::SHA512,
        }
    }

    fn pbkdf2(self) -> pbkdf2::Algorithm {
        match self {
            Hash::Sha256 => pbkdf2::PBKDF2_HMAC_SHA256,
            Hash::Sha512 => pbkdf2::PBKDF2_HMAC_SHA512,
        }
    }
}

/// Where a SCRAM exchange is.
enum Step {
    /// client-first not sent yet.
    Start,
    /// client-first sent; waiting for server-first.
    SentFirst,
    /// client-final sent; waiting for server-final, whose signature must be this.
    SentFinal { server_signature: Vec<u8> },
    /// Complete.
    Done,
}

/// A SCRAM exchange (RFC 5802), without channel binding (`n,,`), as Kafka speaks it.
pub(crate) struct Scram {
    hash: Hash,
    password: String,
    nonce: String,
    /// `n=<user>,r=<nonce>`.
    first_bare: String,
    step: Step,
}

impl Scram {
    pub(crate) fn new(hash: Hash, username: &str, password: &str, nonce: &str) -> Self {
        // saslname: '=' and ',' are escaped.
        let user = username.replace('=', "=3D").replace(',', "=2C");
        Scram {
            hash,
            password: password.to_owned(),
            nonce: nonce.to_owned(),
            first_bare: format!("n={user},r={nonce}"),
            step: Step::Start,
        }
    }

    fn client_first(&mut self) -> Vec<u8> {
        self.step = Step::SentFirst;
        format!("n,,{}", self.first_bare).into_bytes()
    }

    fn answer(&mut self, server: &[u8]) -> Result<Option<Vec<u8>>, Refused> {
        let server = std::str::from_utf8(server)
            .map_err(|_| Refused("the SCRAM server message is not UTF-8".to_owned()))?;
        match std::mem::replace(&mut self.step, Step::Done) {
            Step::SentFirst => {
                let (message, signature) = self.client_final(server)?;
                self.step = Step::SentFinal {
                    server_signature: signature,
                };
                Ok(Some(message.into_bytes()))
            }
            Step::SentFinal { server_signature } => {
                if let Some(e) = attribute(server, 'e') {
                    return Err(Refused(format!("the server refused: {e}")));
                }
                let given = attribute(server, 'v')
                    .and_then(|v| STANDARD.decode(v).ok())
                    .ok_or_else(|| Refused("no server signature in SCRAM's last message".into()))?;
                if given != server_signature {
                    return Err(Refused(
                        "the server's SCRAM signature is wrong: it does not know the password"
                            .to_owned(),
                    ));
                }
                Ok(None)
            }
            Step::Start | Step::Done => Ok(None),
        }
    }

    /// client-final for server-first, and the server signature server-final must carry.
    fn client_final(&self, server_first: &str) -> Result<(String, Vec<u8>), Refused> {
        if let Some(e) = attribute(server_first, 'e') {
            return Err(Refused(format!("the server refused: {e}")));
        }
        let bad = |what: &str| Refused(format!("SCRAM's first server message has {what}"));
        let nonce = attribute(server_first, 'r').ok_or_else(|| bad("no nonce"))?;
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err(bad("a nonce that does not extend ours"));
        }
        let salt = attribute(server_first, 's')
            .and_then(|s| STANDARD.decode(s).ok())
            .ok_or_else(|| bad("no salt"))?;
        let iterations = attribute(server_first, 'i')
            .and_then(|i| i.parse::<u32>().ok())
            .and_then(std::num::NonZeroU32::new)
            .ok_or_else(|| bad("no iteration count"))?;

        let len = self.hash.digest().output_len();
        let mut salted = vec![0u8; len];
        pbkdf2::derive(
            self.hash.pbkdf2(),
            iterations,
            &salt,
            self.password.as_bytes(),
            &mut salted,
        );
        let salted = hmac::Key::new(self.hash.hmac(), &salted);
        let client_key = hmac::sign(&salted, b"Client Key");
        let stored_key = digest::digest(self.hash.digest(), client_key.as_ref());
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.first_bare);
        let client_signature = hmac::sign(
            &hmac::Key::new(self.hash.hmac(), stored_key.as_ref()),
            auth_message.as_bytes(),
        );
        let proof: Vec<u8> = client_key
            .as_ref()
            .iter()
            .zip(client_signature.as_ref())
            .map(|(k, s)| k ^ s)
            .collect();
        let server_key = hmac::sign(&salted, b"Server Key");
        let server_signature = hmac::sign(
            &hmac::Key::new(self.hash.hmac(), server_key.as_ref()),
            auth_message.as_bytes(),
        );
        Ok((
            format!("{without_proof},p={}", STANDARD.encode(proof)),
            server_signature.as_ref().to_vec(),
        ))
    }
}

/// The value of attribute `name` (`name=value`) in a SCRAM message.
fn attribute(message: &str, name: char) -> Option<&str> {
    message.split(',').find_map(|part| {
        let mut chars = part.chars();
        (chars.next() == Some(name) && chars.next() == Some('=')).then(|| &part[2..])
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::config::UserPassword;
    use scalers_core::secret::Secret;

    /// RFC 7677's example exchange (section 3), nonce and all.
    #[test]
    fn scram_sha256_matches_rfc_7677() {
        let mut s = Scram::new(Hash::Sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO");
        assert_eq!(s.client_first(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let server_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                            s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let client_final = s.answer(server_first.as_bytes()).unwrap().unwrap();
        assert_eq!(
            String::from_utf8(client_final).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
             p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        assert_eq!(
            s.answer(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
                .unwrap(),
            None
        );
    }

    #[test]
    fn a_wrong_server_signature_or_nonce_is_refused() {
        let server_first = "r=abcdefXYZ,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let mut s = Scram::new(Hash::Sha512, "user", "pencil", "abcdef");
        s.client_first();
        s.answer(server_first.as_bytes()).unwrap().unwrap();
        let e = s.answer(b"v=AAAA").unwrap_err();
        assert!(e.0.contains("does not know the password"), "{e:?}");

        let mut s = Scram::new(Hash::Sha256, "user", "pencil", "abcdef");
        s.client_first();
        assert!(s.answer(b"r=other,s=AA==,i=4096").is_err());
        let mut s = Scram::new(Hash::Sha256, "user", "pencil", "abcdef");
        s.client_first();
        assert_eq!(
            s.answer(b"e=unknown-user").unwrap_err(),
            Refused("the server refused: unknown-user".to_owned())
        );
    }

    #[test]
    fn scram_escapes_the_user_name() {
        let mut s = Scram::new(Hash::Sha256, "a=b,c", "p", "n0nce");
        assert_eq!(s.client_first(), b"n,,n=a=3Db=2Cc,r=n0nce");
    }

    #[test]
    fn plain_and_oauthbearer_messages() {
        let up = UserPassword {
            username: Secret::new("alice"),
            password: Secret::new("s3cret"),
        };
        let mut e = Exchange::new(&Sasl::Plain(up)).unwrap();
        assert_eq!(e.first(), b"\0alice\0s3cret");
        assert_eq!(e.answer(b""), Ok(None));
        let mut e = Exchange::new(&Sasl::OAuthBearer {
            token: Secret::new("tok"),
        })
        .unwrap();
        assert_eq!(e.first(), b"n,,\x01auth=Bearer tok\x01\x01");
    }
}
