//! A person's SSO sign-in (a "login") and the tokens that carry it: the access token the SSO
//! portal API takes, the refresh token CreateToken renews it with, and the sealed login a device
//! approval or an authorization code hands to CreateToken.
//!
//! Every token is opaque to clients: the login sealed by the keyring, with its own purpose and
//! expiry, so any daemon holding the keyring serves it and nothing of it is stored. A login
//! lives no longer than the portal session it came from (`[signin] session_hours`) and, for
//! SAML, the assertion's `SessionNotOnOrAfter`; the refresh token ends with it, the access token
//! sooner ([`ACCESS_TOKEN_TTL`]). A login is revoked by its id (`Revocation::Login`): `Logout`,
//! or the operator's `stsbridge sessions revoke --login`.

use std::time::{Duration, SystemTime};

use aws_lc_rs::rand::SecureRandom;
use serde::{Deserialize, Serialize};

use super::{Purpose, Unsealed, open, seal};
use crate::clock::{from_unix_seconds, unix_seconds};
use crate::creds::Keyring;
use crate::error::ApiError;
use crate::identity::FederatedIdentity;

/// How long an access token is accepted (AWS's are an hour when a refresh token comes with
/// them); never beyond the login.
pub const ACCESS_TOKEN_TTL: Duration = Duration::from_secs(3600);

/// A verified person, signed in for the SSO APIs.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Login {
    /// `L` and 128 random bits in hex: names the login in audit events and revocations.
    pub id: String,
    /// The IdP the person signed in at.
    pub idp: String,
    /// The identity as the IdP vouched for it: roles are offered and issued from it by the
    /// same trust decisions as at sign-in, taken again at each issue.
    pub identity: FederatedIdentity,
    /// The name sessions issued for the login get.
    pub session_name: String,
    /// Who signed in, as pages and audit events name them.
    pub display_name: String,
    /// The client the person approved (its registration's id) and its name.
    pub client_id: String,
    pub client_name: String,
    /// Unix seconds.
    pub started_at: i64,
    /// Unix seconds: the login ends (the portal session's end, capped by a SAML assertion's
    /// `SessionNotOnOrAfter`).
    pub expires_at: i64,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("id", &self.id)
            .field("idp", &self.idp)
            .field("display_name", &self.display_name)
            .field("client_id", &self.client_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// What a signed-in person brings to a login.
pub struct Person<'a> {
    pub idp: &'a str,
    pub identity: &'a FederatedIdentity,
    pub session_name: &'a str,
    pub display_name: &'a str,
    /// Unix seconds: the portal session's end.
    pub session_ends: i64,
}

impl Login {
    /// A new login of `person` for the client `client_id` named `client_name`, from `now`.
    pub fn new(
        person: &Person<'_>,
        (client_id, client_name): (&str, &str),
        now: SystemTime,
        rng: &dyn SecureRandom,
    ) -> Result<Self, ApiError> {
        let mut id = [0u8; 16];
        rng.fill(&mut id)
            .map_err(|_| ApiError::Internal("no randomness for a login id".into()))?;
        let saml_end = person
            .identity
            .saml
            .as_ref()
            .and_then(|facts| facts.session_not_on_or_after)
            .map(unix_seconds);
        let expires_at = saml_end.map_or(person.session_ends, |end| end.min(person.session_ends));
        Ok(Self {
            id: format!(
                "L{}",
                id.iter().map(|b| format!("{b:02x}")).collect::<String>()
            ),
            idp: person.idp.to_owned(),
            identity: person.identity.clone(),
            session_name: person.session_name.to_owned(),
            display_name: person.display_name.to_owned(),
            client_id: client_id.to_owned(),
            client_name: client_name.to_owned(),
            started_at: unix_seconds(now),
            expires_at,
        })
    }

    pub fn ends(&self) -> SystemTime {
        from_unix_seconds(self.expires_at)
    }

    /// Whether the login is over at `now`.
    pub fn ended(&self, now: SystemTime) -> bool {
        unix_seconds(now) >= self.expires_at
    }
}

/// The tokens CreateToken answers with.
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
    /// Seconds the access token is accepted.
    pub expires_in: u64,
}

/// Seal `login` for the tokens endpoint to take it back (a device approval's decision, an
/// authorization code's content): accepted until `expires`, at most the login's end.
pub fn seal_login(
    keyring: &Keyring,
    login: &Login,
    expires: SystemTime,
    rng: &dyn SecureRandom,
) -> Result<String, ApiError> {
    seal(
        keyring,
        Purpose::Login,
        login,
        expires.min(login.ends()),
        rng,
    )
}

/// The login sealed by [`seal_login`], or why not.
pub(super) fn open_login(
    keyring: &Keyring,
    sealed: &str,
    now: SystemTime,
) -> Result<Login, Unsealed> {
    open(keyring, Purpose::Login, sealed, now)
}

/// A fresh access token and refresh token for `login`, at `now`: the access token for
/// [`ACCESS_TOKEN_TTL`] or until the login ends, the refresh token until the login ends.
pub fn issue_tokens(
    keyring: &Keyring,
    login: &Login,
    now: SystemTime,
    rng: &dyn SecureRandom,
) -> Result<Tokens, ApiError> {
    let access_ends = (now + ACCESS_TOKEN_TTL).min(login.ends());
    let access_token = seal(keyring, Purpose::AccessToken, login, access_ends, rng)?;
    let refresh_token = seal(keyring, Purpose::RefreshToken, login, login.ends(), rng)?;
    let expires_in = access_ends
        .duration_since(now)
        .map_or(0, |left| left.as_secs());
    Ok(Tokens {
        access_token,
        refresh_token,
        expires_in,
    })
}

/// The login an access token carries, or why not.
pub fn open_access_token(
    keyring: &Keyring,
    token: &str,
    now: SystemTime,
) -> Result<Login, Unsealed> {
    open(keyring, Purpose::AccessToken, token, now)
}

/// The login an access token carries, authentic but possibly past its hour: what `Logout`
/// ends (the SDKs log out with the cached token, often expired; its refresh token would
/// otherwise live on). Whether the login itself has ended is the caller's to check.
pub fn open_access_token_to_end(keyring: &Keyring, token: &str) -> Result<Login, Unsealed> {
    super::open_envelope(keyring, Purpose::AccessToken, token).map(|envelope| envelope.value)
}

/// The login a refresh token carries, or why not.
pub(super) fn open_refresh_token(
    keyring: &Keyring,
    token: &str,
    now: SystemTime,
) -> Result<Login, Unsealed> {
    open(keyring, Purpose::RefreshToken, token, now)
}

/// Whether `login` is to be refused at `now`: revoked (`Logout`, `stsbridge sessions revoke
/// --login`), or not checkable (the revocation list stale beyond its bound: fail closed).
pub fn refused(store: &crate::store::Store, login: &Login, now: SystemTime) -> bool {
    store.login_refused(&login.id, now)
}

/// End `login` at its client's request (the portal API's `Logout`): the `Revocation::Login` of
/// `login.id`, until the login would have ended anyway, makes [`refused`] refuse its access and
/// refresh tokens on every node; it and its audit event `Logout` (the login's id and client,
/// `"via": "sso"`; never a token) are durable before the answer.
pub async fn revoke(
    store: &crate::store::Store,
    login: &Login,
    origin: &crate::origin::Origin,
    now: SystemTime,
) -> Result<(), ApiError> {
    use crate::audit::{AuditDraft, EventName, MAX_VALUE_CHARS, cut};

    let mut audit = AuditDraft::new(
        EventName::Logout,
        origin,
        serde_json::json!({
            "loginId": login.id,
            "clientId": cut(&login.client_id, MAX_VALUE_CHARS),
            "idp": login.idp,
            "via": "sso",
        }),
        now,
    );
    audit.identify(crate::federation::audit_identity(&login.identity, None));
    let revocation = crate::store::Revocation::Login {
        login_id: login.id.clone(),
        expires_at: login.expires_at,
    };
    store.revocations.revoke(&revocation, &audit.done()).await?;
    tracing::info!(login = %login.id, "logged out");
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use aws_lc_rs::rand::SystemRandom;

    use super::*;
    use crate::identity::{ProviderKind, SessionTags};

    const T0: i64 = 1_800_000_000;

    pub(crate) fn identity() -> FederatedIdentity {
        FederatedIdentity {
            kind: ProviderKind::Oidc,
            provider: "idp.example.com".into(),
            issuer: "https://idp.example.com".into(),
            subject: "alice".into(),
            audience: "portal".into(),
            claims: BTreeMap::new(),
            session_tags: SessionTags::default(),
            source_identity: None,
            saml: None,
        }
    }

    pub(crate) fn login(expires_at: i64) -> Login {
        let identity = identity();
        let person = Person {
            idp: "corp",
            identity: &identity,
            session_name: "alice",
            display_name: "alice",
            session_ends: expires_at,
        };
        Login::new(
            &person,
            ("client-1", "aws-cli"),
            from_unix_seconds(T0),
            &SystemRandom::new(),
        )
        .unwrap()
    }

    #[test]
    fn tokens_open_only_as_their_own_kind_until_they_end() {
        let keyring = Keyring::generate(from_unix_seconds(T0)).unwrap();
        let rng = SystemRandom::new();
        let now = from_unix_seconds(T0);
        let login = login(T0 + 8 * 3600);
        assert!(login.id.starts_with('L') && login.id.len() == 33);
        let tokens = issue_tokens(&keyring, &login, now, &rng).unwrap();
        assert_eq!(tokens.expires_in, 3600);
        assert_eq!(
            open_access_token(&keyring, &tokens.access_token, now).unwrap(),
            login
        );
        assert_eq!(
            open_refresh_token(&keyring, &tokens.refresh_token, now).unwrap(),
            login
        );
        assert_eq!(
            open_access_token(&keyring, &tokens.refresh_token, now),
            Err(Unsealed::Refused),
            "a refresh token is no access token"
        );
        assert_eq!(
            open_refresh_token(&keyring, &tokens.access_token, now),
            Err(Unsealed::Refused),
            "an access token is no refresh token"
        );
        assert_eq!(
            open_login(&keyring, &tokens.access_token, now),
            Err(Unsealed::Refused)
        );
        let hour = from_unix_seconds(T0 + 3600);
        assert_eq!(
            open_access_token(&keyring, &tokens.access_token, hour),
            Err(Unsealed::Expired)
        );
        assert!(open_refresh_token(&keyring, &tokens.refresh_token, hour).is_ok());
        let end = from_unix_seconds(T0 + 8 * 3600);
        assert_eq!(
            open_refresh_token(&keyring, &tokens.refresh_token, end),
            Err(Unsealed::Expired),
            "the refresh token ends with the login"
        );
        let other = Keyring::generate(from_unix_seconds(T0)).unwrap();
        assert_eq!(
            open_access_token(&other, &tokens.access_token, now),
            Err(Unsealed::Refused)
        );
    }

    #[test]
    fn a_login_with_two_hundred_groups_fits_and_a_huge_identity_is_refused_clearly() {
        let keyring = Keyring::generate(from_unix_seconds(T0)).unwrap();
        let rng = SystemRandom::new();
        let mut login = login(T0 + 3600);
        // Azure AD's groups claim: GUIDs.
        let groups: Vec<String> = (0..200u32)
            .map(|i| {
                let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &i.to_be_bytes());
                let h: String = d.as_ref()[..16]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                format!(
                    "{}-{}-{}-{}-{}",
                    &h[..8],
                    &h[8..12],
                    &h[12..16],
                    &h[16..20],
                    &h[20..]
                )
            })
            .collect();
        login.identity.claims.insert("groups".into(), groups);
        let tokens = issue_tokens(&keyring, &login, from_unix_seconds(T0), &rng).unwrap();
        assert!(tokens.access_token.len() < crate::creds::sealed::MAX_SEALED_LEN);
        let opened = open_access_token(&keyring, &tokens.access_token, from_unix_seconds(T0));
        assert_eq!(opened.unwrap(), login);

        // Incompressible and far too large: a clear refusal, not an inner error.
        let noise: Vec<String> = (0..2000u32)
            .map(|i| {
                let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &i.to_le_bytes());
                d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
            })
            .collect();
        login.identity.claims.insert("noise".into(), noise);
        let err = issue_tokens(&keyring, &login, from_unix_seconds(T0), &rng)
            .err()
            .unwrap();
        assert_eq!(err.code(), "IdentityTooLarge");
    }

    #[test]
    fn the_access_token_never_outlives_the_login() {
        let keyring = Keyring::generate(from_unix_seconds(T0)).unwrap();
        let login = login(T0 + 600);
        let tokens = issue_tokens(
            &keyring,
            &login,
            from_unix_seconds(T0),
            &SystemRandom::new(),
        )
        .unwrap();
        assert_eq!(tokens.expires_in, 600);
    }

    #[test]
    fn a_saml_session_end_caps_the_login() {
        let mut identity = identity();
        identity.kind = ProviderKind::Saml;
        identity.saml = Some(crate::identity::SamlFacts {
            assertion_id: "a".into(),
            not_on_or_after: from_unix_seconds(T0 + 300),
            session_not_on_or_after: Some(from_unix_seconds(T0 + 1800)),
            name_id_format: None,
            attributes: BTreeMap::new(),
            grant: Default::default(),
            in_response_to: None,
        });
        let person = Person {
            idp: "corp",
            identity: &identity,
            session_name: "alice",
            display_name: "alice",
            session_ends: T0 + 8 * 3600,
        };
        let login = Login::new(
            &person,
            ("c", "n"),
            from_unix_seconds(T0),
            &SystemRandom::new(),
        )
        .unwrap();
        assert_eq!(login.expires_at, T0 + 1800);
    }
}
