//! Cross-site request forgery: every state-changing form carries a token sealed for this
//! browser (its binding: a random value of its portal session or login cookie), and the
//! request's `Origin` must be the public URL's when a browser sends one. A foreign `Origin`
//! (`null` included) is refused whatever the token; without an `Origin` the token decides.

use std::time::{Duration, SystemTime};

use aws_lc_rs::rand::SecureRandom;

use crate::clock::unix_seconds;
use crate::config::PublicUrl;
use crate::creds::{Keyring, MintError, sealed};
use crate::error::{ApiError, PortalFault};

/// The form field holding the token.
pub const FIELD: &str = "csrf_token";

/// How long a form's token is accepted: as long as the longest portal session.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(12 * 3600);

fn purpose(binding: &str) -> String {
    format!("portal-csrf:{binding}")
}

/// A token for forms of the browser whose cookie holds `binding`.
pub fn token(
    keyring: &Keyring,
    binding: &str,
    now: SystemTime,
    rng: &dyn SecureRandom,
) -> Result<String, MintError> {
    let expires = unix_seconds(now + TOKEN_LIFETIME).to_be_bytes();
    sealed::seal(keyring, &purpose(binding), &expires, rng)
}

/// What the `Origin` header says of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginVerdict {
    /// The public URL's origin.
    Same,
    /// No `Origin` header (older browsers on same-origin POSTs, non-browser clients).
    Absent,
    /// Another origin, or `null` (a sandboxed or privacy-stripped context).
    Foreign,
}

/// Judge the `Origin` headers of a request against the public URL.
pub fn origin<'h>(headers: impl IntoIterator<Item = &'h str>, public: &PublicUrl) -> OriginVerdict {
    let mut verdict = OriginVerdict::Absent;
    for value in headers {
        if value.trim().eq_ignore_ascii_case(public.origin()) {
            verdict = OriginVerdict::Same;
        } else {
            return OriginVerdict::Foreign;
        }
    }
    verdict
}

/// Check a state-changing request: its `Origin` headers, then the form's token for `binding`.
pub fn check<'h>(
    keyring: &Keyring,
    public: &PublicUrl,
    origin_headers: impl IntoIterator<Item = &'h str>,
    binding: &str,
    token: Option<&str>,
    now: SystemTime,
) -> Result<(), ApiError> {
    if origin(origin_headers, public) == OriginVerdict::Foreign {
        return Err(ApiError::Portal(PortalFault::ForeignOrigin));
    }
    let refused = ApiError::Portal(PortalFault::CsrfToken);
    let plain = token
        .and_then(|t| sealed::open(keyring, &purpose(binding), t).ok())
        .ok_or(refused)?;
    let expires = <[u8; 8]>::try_from(plain.as_slice())
        .map(i64::from_be_bytes)
        .map_err(|_| ApiError::Portal(PortalFault::CsrfToken))?;
    if unix_seconds(now) >= expires {
        return Err(ApiError::Portal(PortalFault::CsrfToken));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::rand::SystemRandom;

    use super::*;
    use crate::clock::from_unix_seconds;

    const T0: i64 = 1_795_000_000;

    fn fault(result: Result<(), ApiError>) -> Option<PortalFault> {
        match result {
            Ok(()) => None,
            Err(ApiError::Portal(f)) => Some(f),
            Err(other) => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_origin_is_refused_when_foreign_and_the_token_decides_otherwise() {
        let keyring = Keyring::generate(from_unix_seconds(T0)).unwrap();
        let public = PublicUrl::parse("https://sts.example.com").unwrap();
        let now = from_unix_seconds(T0);
        let good = token(&keyring, "browser-1", now, &SystemRandom::new()).unwrap();
        let check = |origin: &[&str], binding: &str, token: Option<&str>, at: i64| {
            fault(check(
                &keyring,
                &public,
                origin.iter().copied(),
                binding,
                token,
                from_unix_seconds(at),
            ))
        };
        assert_eq!(
            check(&["https://sts.example.com"], "browser-1", Some(&good), T0),
            None
        );
        assert_eq!(
            check(&[], "browser-1", Some(&good), T0),
            None,
            "no Origin: the token"
        );
        for foreign in [
            &["https://evil.example"][..],
            &["null"],
            &["http://sts.example.com"],
            &["https://sts.example.com:8443"],
            &["https://sts.example.com", "https://evil.example"],
        ] {
            assert_eq!(
                check(foreign, "browser-1", Some(&good), T0),
                Some(PortalFault::ForeignOrigin),
                "{foreign:?}"
            );
        }
        assert_eq!(
            check(&[], "browser-1", None, T0),
            Some(PortalFault::CsrfToken),
            "missing"
        );
        assert_eq!(
            check(&["https://sts.example.com"], "browser-2", Some(&good), T0),
            Some(PortalFault::CsrfToken),
            "another browser's"
        );
        assert_eq!(
            check(&[], "browser-1", Some("AAAA"), T0),
            Some(PortalFault::CsrfToken),
            "garbage"
        );
        assert_eq!(
            check(&[], "browser-1", Some(&good), T0 + 12 * 3600),
            Some(PortalFault::CsrfToken),
            "expired"
        );
    }
}
