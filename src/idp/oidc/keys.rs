//! Public keys an IdP publishes (RFC 7517), reduced to the ones that can verify a signature,
//! and the rule deciding which algorithm a key may verify.

use std::sync::Arc;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyOperations, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use serde_json::Value;

use crate::idp::{TokenFault, VerifyError, truncated};

/// At most this many keys are taken from one JWK Set.
const MAX_KEYS: usize = 100;

/// What kind of public key a JWK holds (its `kty`, and `crv` for curves).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Rsa,
    P256,
    P384,
    Ed25519,
}

/// A public key fit to verify signatures.
#[derive(Debug)]
pub(crate) struct VerificationKey {
    kid: Option<String>,
    /// The JWK's `alg`, when it pins one (RFC 7517 §4.4).
    pinned: Option<Algorithm>,
    kind: KeyKind,
    key: DecodingKey,
}

impl VerificationKey {
    /// Accept a JWK as a signature-verification key, or say why not:
    /// - `use`, when present, is `sig` (RFC 7517 §4.2);
    /// - `key_ops`, when present, include `verify` (RFC 7517 §4.3);
    /// - `alg`, when present, is an asymmetric signature algorithm (RFC 7517 §4.4);
    /// - `kty` is `RSA`, `EC` on P-256/P-384 or `OKP` on Ed25519 (RFC 7518 §6.2-§6.3,
    ///   RFC 8037 §2); symmetric (`oct`) keys are never accepted.
    pub(crate) fn from_jwk(jwk: &Jwk) -> Result<Self, String> {
        check_use(jwk)?;
        let pinned = pinned_algorithm(jwk)?;
        let kind = key_kind(&jwk.algorithm)?;
        let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("unusable key material: {e}"))?;
        Ok(Self {
            kid: jwk.common.key_id.clone(),
            pinned,
            kind,
            key,
        })
    }

    pub(crate) fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    pub(crate) fn decoding_key(&self) -> &DecodingKey {
        &self.key
    }

    /// The key for log lines: its `kid` and kind.
    pub(crate) fn describe(&self) -> String {
        format!(
            "{:?} ({:?})",
            self.kid.as_deref().unwrap_or("<no kid>"),
            self.kind
        )
    }

    /// The header never chooses how a key is used: `algorithm` must belong to this key's
    /// family and curve (RFC 7518 §3.1, RFC 8725 §3.1), and equal the JWK's `alg` when it has
    /// one (RFC 7517 §4.4).
    pub(crate) fn check_algorithm(&self, algorithm: Algorithm) -> Result<(), VerifyError> {
        let fits_kind = match self.kind {
            KeyKind::Rsa => algorithm.family() == AlgorithmFamily::Rsa,
            KeyKind::P256 => algorithm == Algorithm::ES256,
            KeyKind::P384 => algorithm == Algorithm::ES384,
            KeyKind::Ed25519 => algorithm == Algorithm::EdDSA,
        };
        if !fits_kind {
            return Err(VerifyError::invalid(
                TokenFault::Algorithm,
                format!("alg {algorithm:?} does not fit key {}", self.describe()),
            ));
        }
        match self.pinned {
            Some(pinned) if pinned != algorithm => Err(VerifyError::invalid(
                TokenFault::Algorithm,
                format!(
                    "alg {algorithm:?} differs from {pinned:?} pinned by key {}",
                    self.describe()
                ),
            )),
            _ => Ok(()),
        }
    }
}

fn check_use(jwk: &Jwk) -> Result<(), String> {
    match &jwk.common.public_key_use {
        None | Some(PublicKeyUse::Signature) => {}
        Some(other) => return Err(format!("use is {other:?}, not sig")),
    }
    match &jwk.common.key_operations {
        Some(ops) if !ops.contains(&KeyOperations::Verify) => {
            Err("key_ops do not include verify".to_owned())
        }
        _ => Ok(()),
    }
}

fn pinned_algorithm(jwk: &Jwk) -> Result<Option<Algorithm>, String> {
    let Some(alg) = jwk.common.key_algorithm else {
        return Ok(None);
    };
    match Algorithm::try_from(alg) {
        Ok(a) if a.family() != AlgorithmFamily::Hmac => Ok(Some(a)),
        _ => Err(format!(
            "alg {alg:?} is not an asymmetric signature algorithm"
        )),
    }
}

fn key_kind(parameters: &AlgorithmParameters) -> Result<KeyKind, String> {
    match parameters {
        AlgorithmParameters::RSA(_) => Ok(KeyKind::Rsa),
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => Ok(KeyKind::P256),
            EllipticCurve::P384 => Ok(KeyKind::P384),
            ref other => Err(format!("curve {other:?} is not supported")),
        },
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            Ok(KeyKind::Ed25519)
        }
        AlgorithmParameters::OctetKeyPair(p) => {
            Err(format!("curve {:?} is not supported", p.curve))
        }
        AlgorithmParameters::OctetKey(_) => Err("symmetric keys are never accepted".to_owned()),
        _ => Err("unsupported key type".to_owned()),
    }
}

/// The usable keys of one JWK Set, in publication order.
#[derive(Debug, Default)]
pub(crate) struct KeySet {
    keys: Vec<Arc<VerificationKey>>,
}

/// Which key a token's `kid` designates.
pub(crate) enum Selection {
    Found(Arc<VerificationKey>),
    /// No key has that `kid` (or the set is empty).
    Missing,
    /// The token has no `kid` and the set has several keys.
    Ambiguous,
}

impl KeySet {
    /// The usable keys of a parsed JWK Set; unusable ones are logged and skipped.
    pub(crate) fn from_jwks(idp: &str, jwks: &jsonwebtoken::jwk::JwkSet) -> Self {
        Self::from_members(idp, jwks.keys.iter().map(|jwk| Ok(jwk.clone())))
    }

    /// The usable keys of a JWK Set document (RFC 7517 §5): a JSON object whose `keys` member
    /// is an array. Members that are not valid JWKs are skipped, not fatal (RFC 7517 §5:
    /// "implementations SHOULD ignore JWKs within a JWK Set that use kty values that are not
    /// understood").
    pub(crate) fn from_document(idp: &str, body: &[u8]) -> Result<Self, String> {
        let document: Value =
            serde_json::from_slice(body).map_err(|e| format!("JWK Set is not JSON: {e}"))?;
        let Some(Value::Array(members)) = document.get("keys") else {
            return Err("JWK Set has no keys array".to_owned());
        };
        Ok(Self::from_members(
            idp,
            members
                .iter()
                .map(|m| serde_json::from_value::<Jwk>(m.clone()).map_err(|e| e.to_string())),
        ))
    }

    fn from_members(idp: &str, members: impl Iterator<Item = Result<Jwk, String>>) -> Self {
        let mut keys: Vec<Arc<VerificationKey>> = Vec::new();
        for (index, member) in members.take(MAX_KEYS).enumerate() {
            let key = member.and_then(|jwk| VerificationKey::from_jwk(&jwk));
            match key {
                Ok(key) if key.kid.is_some() && keys.iter().any(|k| k.kid == key.kid) => {
                    tracing::warn!(idp, index, kid = ?key.kid, "JWK Set repeats a kid; keeping the first");
                }
                Ok(key) => keys.push(Arc::new(key)),
                Err(why) => tracing::debug!(idp, index, why, "skipping JWK"),
            }
        }
        Self { keys }
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key a token designates: the one with its `kid` (RFC 7515 §4.1.4), or without a
    /// `kid` the only key of the set.
    pub(crate) fn select(&self, kid: Option<&str>) -> Selection {
        match kid {
            Some(kid) => self
                .keys
                .iter()
                .find(|k| k.kid() == Some(kid))
                .map_or(Selection::Missing, |k| Selection::Found(Arc::clone(k))),
            None => match self.keys.as_slice() {
                [] => Selection::Missing,
                [only] => Selection::Found(Arc::clone(only)),
                _ => Selection::Ambiguous,
            },
        }
    }
}

/// The detail for a token whose key is not in the set.
pub(crate) fn unknown_key(kid: Option<&str>, set: &KeySet) -> VerifyError {
    let detail = match kid {
        Some(kid) => format!(
            "no key with kid {:?} among {} keys",
            truncated(kid),
            set.len()
        ),
        None => format!("token has no kid and the provider has {} keys", set.len()),
    };
    VerifyError::invalid(TokenFault::UnknownKey, detail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idp::oidc::signer::TokenSigner;
    use serde_json::json;

    fn jwk(value: Value) -> Jwk {
        serde_json::from_value(value).expect("a JWK")
    }

    fn rsa_jwk() -> Value {
        let signer = TokenSigner::generate_rsa("r1").expect("rsa key");
        serde_json::to_value(signer.jwk()).expect("json")
    }

    #[test]
    fn refuses_symmetric_encryption_and_foreign_keys() {
        let oct = jwk(json!({"kty": "oct", "k": "c2VjcmV0", "kid": "h"}));
        assert!(VerificationKey::from_jwk(&oct).is_err());

        let mut enc = rsa_jwk();
        enc["use"] = json!("enc");
        assert!(VerificationKey::from_jwk(&jwk(enc)).is_err());

        let mut ops = rsa_jwk();
        ops["key_ops"] = json!(["encrypt"]);
        assert!(VerificationKey::from_jwk(&jwk(ops)).is_err());

        let mut hs = rsa_jwk();
        hs["alg"] = json!("HS256");
        assert!(VerificationKey::from_jwk(&jwk(hs)).is_err());
    }

    #[test]
    fn key_type_and_pinned_alg_decide_the_algorithm() {
        let rsa = VerificationKey::from_jwk(&jwk(rsa_jwk())).expect("usable");
        assert!(rsa.check_algorithm(Algorithm::RS256).is_ok());
        assert!(rsa.check_algorithm(Algorithm::ES256).is_err());
        // The JWK pins RS256: another RSA algorithm is refused too.
        assert!(rsa.check_algorithm(Algorithm::PS256).is_err());

        let mut unpinned = rsa_jwk();
        unpinned.as_object_mut().expect("object").remove("alg");
        let unpinned = VerificationKey::from_jwk(&jwk(unpinned)).expect("usable");
        assert!(unpinned.check_algorithm(Algorithm::PS256).is_ok());

        let ec = TokenSigner::generate_ec("e1").expect("ec key");
        let ec = VerificationKey::from_jwk(&ec.jwk()).expect("usable");
        assert!(ec.check_algorithm(Algorithm::ES256).is_ok());
        assert!(ec.check_algorithm(Algorithm::ES384).is_err());
        assert!(ec.check_algorithm(Algorithm::RS256).is_err());
    }

    #[test]
    fn document_skips_unusable_members_and_selects_by_kid() {
        let body = json!({"keys": [
            {"kty": "oct", "k": "c2VjcmV0", "kid": "h"},
            {"kty": "weird"},
            rsa_jwk(),
        ]});
        let set = KeySet::from_document("t", body.to_string().as_bytes()).expect("a JWK Set");
        assert_eq!(set.len(), 1);
        assert!(matches!(set.select(Some("r1")), Selection::Found(_)));
        assert!(matches!(set.select(Some("h")), Selection::Missing));
        assert!(matches!(set.select(None), Selection::Found(_)));
        assert!(KeySet::from_document("t", b"{\"keys\": 5}").is_err());
        assert!(KeySet::from_document("t", b"<html>").is_err());
    }

    #[test]
    fn no_kid_with_several_keys_is_ambiguous() {
        let ec =
            serde_json::to_value(TokenSigner::generate_ec("e1").expect("ec").jwk()).expect("json");
        let body = json!({"keys": [rsa_jwk(), ec]});
        let set = KeySet::from_document("t", body.to_string().as_bytes()).expect("a JWK Set");
        assert!(matches!(set.select(None), Selection::Ambiguous));
    }
}
