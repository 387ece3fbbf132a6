//! The portal session: who signed in at which IdP, until when, and the credentials in use,
//! sealed in the session cookie (in chunks when large), so any daemon holding the keyring
//! serves it and nothing of it is stored server-side.
//!
//! The identity is kept as it was verified: roles are offered and issued from it by the same
//! trust decisions as at sign-in, evaluated again at each issue. The credentials in use are
//! kept as their session token, which holds the key id, the secret and the expiry sealed by the
//! keyring: reloading the console shows the same credentials without issuing new ones.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::cookies::{CookieError, CookieKind, Cookies, SetCookies};
use crate::clock::{from_unix_seconds, unix_seconds};
use crate::creds::token::{self, SessionClaims};
use crate::creds::{Keyring, MintError};
use crate::error::{ApiError, PortalFault};
use crate::identity::{FederatedIdentity, ProviderKind};

/// A signed-in person's portal session.
#[derive(Clone, Serialize, Deserialize)]
pub struct PortalSession {
    /// 128 random bits: binds the session's form tokens, names it in logs.
    pub id: String,
    /// The IdP the person signed in at (`federation` for a sign-in token).
    pub idp: String,
    /// The identity as the IdP vouched for it at sign-in; `None` for a session signed in with
    /// credentials (the federation endpoint), which reaches other roles by chaining only.
    pub identity: Option<FederatedIdentity>,
    /// Who signed in, as the pages name them.
    pub display_name: String,
    /// The name sessions issued here get.
    pub session_name: String,
    /// Unix seconds: the portal session ends.
    pub expires_at: i64,
    /// The credentials in use, if a role was chosen.
    pub current: Option<Current>,
    /// Signed in by an assertion this browser did not ask for (IdP-initiated SAML): another
    /// site can post one, so the SSO pages do not take such a session as the person's; they
    /// ask for a sign-in of this browser's own.
    #[serde(default)]
    pub unsolicited: bool,
}

/// The credentials a portal session uses.
#[derive(Clone, Serialize, Deserialize)]
pub struct Current {
    /// The session token: the key id, secret and expiry, sealed by the keyring.
    pub session_token: String,
    /// Set when the role was reached by chaining from this role (AssumeRole, one hour at most).
    pub chained_from: Option<String>,
}

impl std::fmt::Debug for PortalSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortalSession")
            .field("id", &self.id)
            .field("idp", &self.idp)
            .field("display_name", &self.display_name)
            .field("expires_at", &self.expires_at)
            .field("current", &self.current.as_ref().map(|_| "<credentials>"))
            .finish()
    }
}

impl PortalSession {
    /// A session for `identity`, verified at `idp`, from `now` for `length`.
    pub fn new(
        idp: &str,
        identity: FederatedIdentity,
        now: SystemTime,
        length: Duration,
        rng: &dyn aws_lc_rs::rand::SecureRandom,
    ) -> Result<Self, ApiError> {
        let session_name = session_name(&identity);
        Ok(Self {
            id: random_id(rng)?,
            idp: idp.to_owned(),
            session_name,
            display_name: display_name(&identity),
            identity: Some(identity),
            expires_at: unix_seconds(now + length),
            current: None,
            unsolicited: false,
        })
    }

    /// A session signed in with credentials (a sign-in token of the federation endpoint):
    /// `session_token` in use, shown as `caller_arn`, until `expires_at`.
    pub fn with_credentials(
        session_token: String,
        caller_arn: &str,
        session_name: &str,
        expires_at: i64,
        rng: &dyn aws_lc_rs::rand::SecureRandom,
    ) -> Result<Self, ApiError> {
        Ok(Self {
            id: random_id(rng)?,
            idp: "federation".to_owned(),
            identity: None,
            display_name: caller_arn.to_owned(),
            session_name: session_name.to_owned(),
            expires_at,
            current: Some(Current {
                session_token,
                chained_from: None,
            }),
            unsolicited: false,
        })
    }

    /// The session of the browser that sent `cookie_headers`, or `SessionRequired`.
    pub fn open<'h>(
        cookies: Cookies,
        keyring: &Keyring,
        cookie_headers: impl IntoIterator<Item = &'h str>,
        now: SystemTime,
    ) -> Result<Self, ApiError> {
        let session: Self = cookies
            .open(keyring, CookieKind::Session, cookie_headers, now)
            .map_err(|e: CookieError| {
                tracing::info!(reason = %e, "no portal session");
                ApiError::Portal(PortalFault::SessionRequired)
            })?;
        if unix_seconds(now) >= session.expires_at {
            return Err(ApiError::Portal(PortalFault::SessionRequired));
        }
        Ok(session)
    }

    /// The `Set-Cookie` lines that keep this session in the browser until it ends.
    pub fn seal(
        &self,
        cookies: Cookies,
        keyring: &Keyring,
        now: SystemTime,
    ) -> Result<SetCookies, ApiError> {
        let left = u64::try_from(self.expires_at - unix_seconds(now)).unwrap_or(0);
        cookies
            .set(
                keyring,
                CookieKind::Session,
                self,
                now,
                Duration::from_secs(left),
                &aws_lc_rs::rand::SystemRandom::new(),
            )
            .map_err(|e| match e {
                MintError::TooLarge { .. } => ApiError::Internal(
                    "the identity is too large for a portal session cookie".into(),
                ),
                other => ApiError::Internal(other.to_string()),
            })
    }

    /// When the portal session ends.
    pub fn ends(&self) -> SystemTime {
        from_unix_seconds(self.expires_at)
    }

    /// The credentials in use, opened (`None`: none chosen, or they no longer open: sealed
    /// by a key the keyring dropped).
    pub fn credentials(&self, keyring: &Keyring) -> Option<SessionClaims> {
        let current = self.current.as_ref()?;
        token::unseal(keyring, &current.session_token).ok()
    }

    /// Who signed in, as the pages name them.
    pub fn display_identity(&self) -> String {
        self.display_name.clone()
    }
}

/// 128 random bits, in hex.
fn random_id(rng: &dyn aws_lc_rs::rand::SecureRandom) -> Result<String, ApiError> {
    let mut id = [0u8; 16];
    rng.fill(&mut id)
        .map_err(|_| ApiError::Internal("no randomness".into()))?;
    Ok(id.iter().map(|b| format!("{b:02x}")).collect())
}

/// How the pages name `identity`: the email when an OIDC IdP gave one, else the subject.
fn display_name(identity: &FederatedIdentity) -> String {
    let email = identity
        .claims
        .get("email")
        .and_then(|v| v.first())
        .filter(|_| identity.kind == ProviderKind::Oidc);
    match email {
        Some(email) => email.clone(),
        None => identity.subject.clone(),
    }
}

/// The session name of sessions issued to `identity`: SAML's `RoleSessionName`; for OIDC the
/// email when it is a valid name, else the subject's allowed characters (2-64 characters of
/// `[\w+=,.@-]`).
pub fn session_name(identity: &FederatedIdentity) -> String {
    if let Some(name) = identity
        .saml
        .as_ref()
        .and_then(|facts| facts.grant.session_name.clone())
    {
        return name;
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c);
    let email = identity.claims.get("email").and_then(|v| v.first());
    if let Some(email) = email
        && (2..=64).contains(&email.len())
        && email.chars().all(allowed)
    {
        return email.clone();
    }
    let name: String = identity
        .subject
        .chars()
        .filter(|c| allowed(*c))
        .take(64)
        .collect();
    if name.len() >= 2 {
        name
    } else {
        format!("portal-{name}")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use aws_lc_rs::rand::SystemRandom;

    use super::*;
    use crate::identity::SessionTags;

    const T0: i64 = 1_795_000_000;

    fn identity(subject: &str, email: Option<&str>) -> FederatedIdentity {
        let mut claims = BTreeMap::new();
        if let Some(email) = email {
            claims.insert("email".to_owned(), vec![email.to_owned()]);
        }
        FederatedIdentity {
            kind: ProviderKind::Oidc,
            provider: "idp.example".into(),
            issuer: "https://idp.example".into(),
            subject: subject.into(),
            audience: "portal".into(),
            claims,
            session_tags: SessionTags::default(),
            source_identity: None,
            saml: None,
        }
    }

    #[test]
    fn session_names_are_valid_role_session_names() {
        assert_eq!(
            session_name(&identity("u1", Some("ada@example.com"))),
            "ada@example.com"
        );
        assert_eq!(
            session_name(&identity("u1", Some("a b@example.com"))),
            "u1",
            "an email with a space is not a session name"
        );
        assert_eq!(session_name(&identity("x", None)), "portal-x");
        assert_eq!(session_name(&identity("a/b|c<d>", None)), "abcd");
        assert_eq!(session_name(&identity(&"s".repeat(100), None)).len(), 64);
    }

    #[test]
    fn a_session_opens_in_its_browser_until_it_ends() {
        let keyring = Keyring::generate(from_unix_seconds(T0)).unwrap();
        let cookies = Cookies::new(true);
        let now = from_unix_seconds(T0);
        let session = PortalSession::new(
            "corp",
            identity("u1", Some("ada@example.com")),
            now,
            Duration::from_secs(3600),
            &SystemRandom::new(),
        )
        .unwrap();
        let lines = session.seal(cookies, &keyring, now).unwrap().0;
        let sent: Vec<&str> = lines.iter().map(|l| l.split(';').next().unwrap()).collect();
        let header = sent.join("; ");
        let opened = PortalSession::open(cookies, &keyring, [header.as_str()], now).unwrap();
        assert_eq!(opened.id, session.id);
        assert_eq!(opened.identity, session.identity);
        assert_eq!(opened.display_identity(), "ada@example.com");
        let later = from_unix_seconds(T0 + 3600);
        assert!(matches!(
            PortalSession::open(cookies, &keyring, [header.as_str()], later),
            Err(ApiError::Portal(PortalFault::SessionRequired))
        ));
        let other = Keyring::generate(now).unwrap();
        assert!(matches!(
            PortalSession::open(cookies, &other, [header.as_str()], now),
            Err(ApiError::Portal(PortalFault::SessionRequired))
        ));
        assert!(format!("{session:?}").contains("ada@example.com"));
    }
}
