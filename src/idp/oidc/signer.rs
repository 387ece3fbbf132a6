//! Minting compact JWS ID tokens (RFC 7515 §3.1, §5.1): the development issuer, the load
//! generator and the tests all sign with a [`TokenSigner`].

use std::fmt;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    self as sig, EcdsaKeyPair, EcdsaSigningAlgorithm, KeyPair as _, RsaEncoding, RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, EllipticCurveKeyParameters,
    EllipticCurveKeyType, Jwk, PublicKeyUse, RSAKeyParameters, RSAKeyType,
};
use serde_json::{Value, json};

/// Why a signer could not be built or could not sign.
#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    #[error("key generation failed")]
    Generate,
    #[error("the PKCS#8 document is not a {0:?} private key: {1}")]
    Rejected(Algorithm, String),
    #[error("signing with {0:?} is not supported")]
    UnsupportedAlgorithm(Algorithm),
    #[error("the private key cannot be exported")]
    Export,
    #[error("the JOSE header or claims cannot be serialised: {0}")]
    Serialize(#[from] serde_json::Error),
    #[error("signing failed")]
    Sign,
}

/// The private half of a signing key, with the parameters its algorithm fixes.
enum PrivateKey {
    Rsa {
        pair: RsaKeyPair,
        encoding: &'static dyn RsaEncoding,
    },
    Ec(EcdsaKeyPair),
}

/// A private signing key with its key id: signs claims into compact JWS tokens and publishes
/// its public half as a JWK (`kid`, `alg`, `use = "sig"`).
pub struct TokenSigner {
    kid: String,
    algorithm: Algorithm,
    key: PrivateKey,
    jwk: Jwk,
}

impl fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSigner")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl TokenSigner {
    /// A fresh 2048-bit RSA key signing with RS256.
    pub fn generate_rsa(kid: impl Into<String>) -> Result<Self, SignerError> {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| SignerError::Generate)?;
        Self::from_rsa(kid.into(), Algorithm::RS256, pair)
    }

    /// A fresh P-256 key signing with ES256.
    pub fn generate_ec(kid: impl Into<String>) -> Result<Self, SignerError> {
        let pair = EcdsaKeyPair::generate(&sig::ECDSA_P256_SHA256_FIXED_SIGNING)
            .map_err(|_| SignerError::Generate)?;
        Self::from_ec(kid.into(), Algorithm::ES256, pair)
    }

    /// A key persisted with [`TokenSigner::to_pkcs8`], to sign with `algorithm`
    /// (RS256/384/512, PS256/384/512, ES256, ES384).
    pub fn from_pkcs8(
        kid: impl Into<String>,
        algorithm: Algorithm,
        der: &[u8],
    ) -> Result<Self, SignerError> {
        let kid = kid.into();
        if let Some(curve) = ec_signing_algorithm(algorithm) {
            let pair = EcdsaKeyPair::from_pkcs8(curve, der)
                .map_err(|e| SignerError::Rejected(algorithm, e.to_string()))?;
            return Self::from_ec(kid, algorithm, pair);
        }
        let pair = RsaKeyPair::from_pkcs8(der)
            .map_err(|e| SignerError::Rejected(algorithm, e.to_string()))?;
        Self::from_rsa(kid, algorithm, pair)
    }

    fn from_rsa(kid: String, algorithm: Algorithm, pair: RsaKeyPair) -> Result<Self, SignerError> {
        let encoding =
            rsa_encoding(algorithm).ok_or(SignerError::UnsupportedAlgorithm(algorithm))?;
        let public = pair.public_key();
        let parameters = AlgorithmParameters::RSA(RSAKeyParameters {
            key_type: RSAKeyType::RSA,
            n: URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
            e: URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
        });
        let jwk = public_jwk(&kid, algorithm, parameters);
        Ok(Self {
            kid,
            algorithm,
            key: PrivateKey::Rsa { pair, encoding },
            jwk,
        })
    }

    fn from_ec(kid: String, algorithm: Algorithm, pair: EcdsaKeyPair) -> Result<Self, SignerError> {
        let (curve, size) = match algorithm {
            Algorithm::ES256 => (EllipticCurve::P256, 32),
            Algorithm::ES384 => (EllipticCurve::P384, 48),
            other => return Err(SignerError::UnsupportedAlgorithm(other)),
        };
        // SEC 1 uncompressed point: 0x04 || x || y.
        let point = pair.public_key().as_ref();
        let (x, y) = match point.split_first() {
            Some((4, xy)) if xy.len() == 2 * size => xy.split_at(size),
            _ => {
                return Err(SignerError::Rejected(
                    algorithm,
                    "unexpected public point".into(),
                ));
            }
        };
        let parameters = AlgorithmParameters::EllipticCurve(EllipticCurveKeyParameters {
            key_type: EllipticCurveKeyType::EC,
            curve,
            x: URL_SAFE_NO_PAD.encode(x),
            y: URL_SAFE_NO_PAD.encode(y),
        });
        let jwk = public_jwk(&kid, algorithm, parameters);
        Ok(Self {
            kid,
            algorithm,
            key: PrivateKey::Ec(pair),
            jwk,
        })
    }

    /// The private key as an unencrypted PKCS#8 v1 document, to persist (keep it 0600).
    pub fn to_pkcs8(&self) -> Result<Vec<u8>, SignerError> {
        match &self.key {
            PrivateKey::Rsa { pair, .. } => {
                let der: Pkcs8V1Der<'static> = pair.as_der().map_err(|_| SignerError::Export)?;
                Ok(der.as_ref().to_vec())
            }
            PrivateKey::Ec(pair) => pair
                .to_pkcs8v1()
                .map(|doc| doc.as_ref().to_vec())
                .map_err(|_| SignerError::Export),
        }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The public key as a JWK with `kid`, `alg` and `use = "sig"` (RFC 7517 §4, RFC 7518 §6).
    pub fn jwk(&self) -> Jwk {
        self.jwk.clone()
    }

    /// Sign `claims` under the header `{"alg", "kid", "typ": "JWT"}`.
    pub fn sign(&self, claims: &Value) -> Result<String, SignerError> {
        let header = json!({
            "alg": self.algorithm,
            "kid": self.kid,
            "typ": "JWT",
        });
        self.sign_with_header(&header, claims)
    }

    /// Sign `claims` under an arbitrary JOSE `header` with this key and its algorithm, whatever
    /// the header says (tests use it to forge `alg`, drop `kid`, add `crit`, ...).
    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> Result<String, SignerError> {
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(header)?),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?),
        );
        let signature = self.sign_bytes(signing_input.as_bytes())?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }

    /// The raw JWS signature over `message` (RFC 7518 §3.3-§3.5: PKCS#1 v1.5, PSS, or
    /// fixed-width `R || S` for ECDSA).
    fn sign_bytes(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        let rng = SystemRandom::new();
        match &self.key {
            PrivateKey::Rsa { pair, encoding } => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(*encoding, &rng, message, &mut signature)
                    .map_err(|_| SignerError::Sign)?;
                Ok(signature)
            }
            PrivateKey::Ec(pair) => pair
                .sign(&rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| SignerError::Sign),
        }
    }
}

fn public_jwk(kid: &str, algorithm: Algorithm, parameters: AlgorithmParameters) -> Jwk {
    Jwk {
        common: CommonParameters {
            public_key_use: Some(PublicKeyUse::Signature),
            key_algorithm: Some(algorithm.into()),
            key_id: Some(kid.to_owned()),
            ..CommonParameters::default()
        },
        algorithm: parameters,
    }
}

fn rsa_encoding(algorithm: Algorithm) -> Option<&'static dyn RsaEncoding> {
    Some(match algorithm {
        Algorithm::RS256 => &sig::RSA_PKCS1_SHA256,
        Algorithm::RS384 => &sig::RSA_PKCS1_SHA384,
        Algorithm::RS512 => &sig::RSA_PKCS1_SHA512,
        Algorithm::PS256 => &sig::RSA_PSS_SHA256,
        Algorithm::PS384 => &sig::RSA_PSS_SHA384,
        Algorithm::PS512 => &sig::RSA_PSS_SHA512,
        _ => return None,
    })
}

fn ec_signing_algorithm(algorithm: Algorithm) -> Option<&'static EcdsaSigningAlgorithm> {
    match algorithm {
        Algorithm::ES256 => Some(&sig::ECDSA_P256_SHA256_FIXED_SIGNING),
        Algorithm::ES384 => Some(&sig::ECDSA_P384_SHA384_FIXED_SIGNING),
        _ => None,
    }
}
