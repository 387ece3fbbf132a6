//! AWS Signature Version 4 verification, header and presigned-query forms.
//!
//! Steps, as in the AWS General Reference ("Signature Version 4 signing process", "Authenticating
//! requests: using query parameters"):
//! 1. Find the signature: the `Authorization` header or the `X-Amz-Algorithm` query parameter,
//!    never both ([`parse`]).
//! 2. Read the credential scope `AKID/YYYYMMDD/REGION/SERVICE/aws4_request`, the signed headers
//!    (lower-case, sorted, unique, including `host`), the signature and the request time
//!    (`X-Amz-Date`, or `Date` in the header form). The scope date must be the request's UTC day.
//! 3. Check the time: within [`MAX_CLOCK_SKEW`] of `now` either way; a presigned request is good
//!    from `MAX_CLOCK_SKEW` before its time until `X-Amz-Expires` after it.
//! 4. Look up the key's secret (it also checks the session token): a [`SecretLookup`] in
//!    [`Verifier::verify`], or the caller's own (asynchronous) lookup between
//!    [`Verifier::parse`] and [`Verifier::check`].
//! 5. Build the canonical request and string to sign ([`canonical`]), derive the signing key
//!    (cached, [`signing_key`]), and compare signatures in constant time.

mod canonical;
mod parse;
mod signing_key;
#[cfg(test)]
mod tests;

use std::time::{Duration, SystemTime};

use aws_lc_rs::hmac;
use subtle::ConstantTimeEq;

use super::Secret;
use signing_key::SigningKeyCache;

/// The only algorithm accepted.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// How far a request's time may be from ours, either way.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);
/// The longest `X-Amz-Expires` a presigned request may carry (7 days).
pub const MAX_PRESIGNED_EXPIRES_SECONDS: u64 = 604_800;
/// Signing keys cached by [`Verifier::default`].
pub const DEFAULT_KEY_CACHE_CAPACITY: usize = 4096;

/// The service's view of a request, as received. No `Debug`: it carries the signature and the
/// session token.
#[derive(Clone, Copy)]
pub struct SignedRequest<'a> {
    pub method: &'a str,
    /// Raw path as received (still percent-encoded), e.g. `/`.
    pub path: &'a str,
    /// Raw query string without `?`.
    pub query: &'a str,
    /// Header names as received (any case), values raw.
    pub headers: &'a [(String, String)],
    /// Hex SHA-256 of the body; `None` means the request is checked as `UNSIGNED-PAYLOAD`.
    /// A presigned request may be signed as `UNSIGNED-PAYLOAD` or with this hash.
    pub payload_sha256_hex: Option<&'a str>,
}

/// Where the signature was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureLocation {
    /// `Authorization` header; the body is covered when `payload_sha256_hex` was given.
    Header,
    /// Presigned query parameters; the body is covered only when the signer hashed it (the
    /// AWS SDKs' presigned STS requests sign the hash of their empty body).
    Query,
}

/// What the lookup found for an access key id.
pub struct ResolvedKey<P> {
    pub secret: Secret,
    pub principal: P,
}

/// Finds the secret for an access key id. For temporary keys the lookup unseals the session token
/// and checks it names this key id; it fails with [`SigV4Error::InvalidClientTokenId`] for an
/// unknown key and [`SigV4Error::ExpiredToken`] for an expired session.
pub trait SecretLookup {
    /// Whatever the caller wants back with a verified request (session claims, a user record).
    type Principal;
    fn secret_for(
        &self,
        access_key_id: &str,
        session_token: Option<&str>,
    ) -> Result<ResolvedKey<Self::Principal>, SigV4Error>;
}

/// A request whose signature checked out. Only values covered by the signature are here (a
/// header-form session token must be among the signed headers; a query-form one always is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified<P> {
    pub access_key_id: String,
    pub region: String,
    pub service: String,
    pub signed_at: SystemTime,
    pub session_token: Option<Secret>,
    pub location: SignatureLocation,
    pub principal: P,
}

/// Why a request was refused; variants are named after the AWS error codes they map to.
/// Messages never carry request values or secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    /// Neither an `Authorization` header nor presigned query parameters.
    #[error("request carries no signature")]
    MissingAuthenticationToken,
    /// The signature is there but malformed or incomplete; the text says which part.
    #[error("incomplete signature: {0}")]
    IncompleteSignature(&'static str),
    /// Unknown access key id (or a session token that does not belong to it).
    #[error("unknown access key id")]
    InvalidClientTokenId,
    /// Wrong signature, wrong secret, tampered request, or a scope date that is not the request's.
    #[error("signature does not match")]
    SignatureDoesNotMatch,
    /// The credential scope names another service than the one receiving the request (AWS
    /// answers `SignatureDoesNotMatch`, saying which service it expected).
    #[error("credential scoped to another service")]
    WrongService,
    /// Request time outside the clock-skew window, or a presigned request past `X-Amz-Expires`.
    #[error("request time outside the allowed window")]
    RequestExpired,
    /// The session token has expired.
    #[error("security token expired")]
    ExpiredToken,
    /// The access key could not be looked up now (the store's database does not answer): the
    /// request is refused, as `ServiceUnavailable` so the caller retries rather than taking its
    /// key for invalid.
    #[error("the access key cannot be looked up now")]
    LookupUnavailable,
}

impl SigV4Error {
    /// The AWS error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingAuthenticationToken => "MissingAuthenticationToken",
            Self::IncompleteSignature(_) => "IncompleteSignature",
            Self::InvalidClientTokenId => "InvalidClientTokenId",
            Self::SignatureDoesNotMatch | Self::WrongService => "SignatureDoesNotMatch",
            Self::RequestExpired => "RequestExpired",
            Self::ExpiredToken => "ExpiredToken",
            Self::LookupUnavailable => "ServiceUnavailable",
        }
    }
}

/// Verifies SigV4 requests; holds the signing-key cache, so share one per process.
pub struct Verifier {
    keys: SigningKeyCache,
}

impl Default for Verifier {
    fn default() -> Self {
        Self::new(DEFAULT_KEY_CACHE_CAPACITY)
    }
}

impl Verifier {
    /// `key_cache_capacity` bounds the cached signing keys (one per secret, day, region, service).
    pub fn new(key_cache_capacity: usize) -> Self {
        Self {
            keys: SigningKeyCache::new(key_cache_capacity),
        }
    }

    /// Verifies `request` at time `now` with a synchronous key lookup: [`parse`](Self::parse),
    /// the lookup, [`check`](Self::check).
    pub fn verify<L: SecretLookup + ?Sized>(
        &self,
        request: &SignedRequest<'_>,
        lookup: &L,
        now: SystemTime,
    ) -> Result<Verified<L::Principal>, SigV4Error> {
        let parsed = self.parse(request, now)?;
        let resolved = lookup.secret_for(parsed.access_key_id(), parsed.session_token())?;
        self.check(request, parsed, resolved)
    }

    /// Steps 1-3: the signature found and parsed, the request time within its window. What it
    /// returns names the key to look up (step 4, which may wait for a store).
    pub fn parse<'r>(
        &self,
        request: &SignedRequest<'r>,
        now: SystemTime,
    ) -> Result<ParsedSignature<'r>, SigV4Error> {
        let query = canonical::decode_query(request.query);
        let auth = parse::authentication(request, &query)?;
        check_time(auth.signed_at, auth.valid_for, now)?;
        Ok(ParsedSignature { auth, query })
    }

    /// Step 5: the signature computed with the secret the lookup found, compared in constant
    /// time. `request` must be the one `parsed` came from.
    pub fn check<P>(
        &self,
        request: &SignedRequest<'_>,
        parsed: ParsedSignature<'_>,
        resolved: ResolvedKey<P>,
    ) -> Result<Verified<P>, SigV4Error> {
        let ParsedSignature { auth, query } = parsed;
        let key = self.keys.signing_key(
            resolved.secret.expose(),
            &auth.scope_date,
            &auth.region,
            &auth.service,
        );
        let matches = |payload_hash: &str| -> Result<bool, SigV4Error> {
            let canonical_request = canonical::canonical_request(
                request,
                &query,
                auth.location,
                &auth.signed_headers,
                payload_hash,
            )?;
            let string_to_sign = canonical::string_to_sign(
                &auth.amz_date,
                &auth.scope_date,
                &auth.region,
                &auth.service,
                &canonical_request,
            );
            let expected = hmac::sign(&key, string_to_sign.as_bytes());
            Ok(bool::from(
                expected.as_ref().ct_eq(auth.signature.as_slice()),
            ))
        };
        let body_hash = request.payload_sha256_hex;
        let verified = match auth.location {
            SignatureLocation::Header => matches(body_hash.unwrap_or(canonical::UNSIGNED_PAYLOAD))?,
            // S3-style presigners sign `UNSIGNED-PAYLOAD`; botocore, the JS SDK and aws-sdk-go v1
            // sign non-S3 presigned requests with the hash of the (empty) body. Either is
            // accepted; the second covers the body the request really has.
            SignatureLocation::Query => {
                matches(canonical::UNSIGNED_PAYLOAD)?
                    || body_hash.is_some_and(|hash| {
                        hash != canonical::UNSIGNED_PAYLOAD && matches(hash).unwrap_or(false)
                    })
            }
        };
        if !verified {
            return Err(SigV4Error::SignatureDoesNotMatch);
        }

        Ok(Verified {
            access_key_id: auth.access_key_id,
            region: auth.region,
            service: auth.service,
            signed_at: auth.signed_at,
            session_token: auth.session_token.map(Secret::new),
            location: auth.location,
            principal: resolved.principal,
        })
    }
}

/// A request's signature after steps 1-3: well-formed and within its time window, not yet
/// checked. Nothing it says is trusted until [`Verifier::check`] passes.
pub struct ParsedSignature<'r> {
    auth: parse::Authentication,
    query: Vec<canonical::QueryParam<'r>>,
}

impl ParsedSignature<'_> {
    /// The access key id the request claims to be signed with.
    pub fn access_key_id(&self) -> &str {
        &self.auth.access_key_id
    }

    /// The service the credential scope names (`…/REGION/SERVICE/aws4_request`).
    pub fn service(&self) -> &str {
        &self.auth.service
    }

    /// The session token the request carries, if any.
    pub fn session_token(&self) -> Option<&str> {
        self.auth.session_token.as_deref()
    }
}

/// Good from `MAX_CLOCK_SKEW` before `signed_at` until `valid_for` after it.
fn check_time(
    signed_at: SystemTime,
    valid_for: Duration,
    now: SystemTime,
) -> Result<(), SigV4Error> {
    let in_window = match now.duration_since(signed_at) {
        Ok(age) => age <= valid_for,
        Err(ahead) => ahead.duration() <= MAX_CLOCK_SKEW,
    };
    if in_window {
        Ok(())
    } else {
        Err(SigV4Error::RequestExpired)
    }
}
