//! The federation endpoint of identity brokers, as AWS's `signin.aws.amazon.com/federation`:
//! `Action=getSigninToken` turns temporary credentials into a sign-in token (15 minutes,
//! single use), `Action=login` signs the browser in to the console with it.
//!
//! The sign-in token is the credentials' session token sealed with the keyring under its own
//! purpose, with a random id the replay cache uses up at login: it opens on any daemon holding
//! the keyring, once in the whole cluster when the store is shared.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::console::field;
use super::session::PortalSession;
use super::{Page, Portal, Visit, flow};
use crate::clock::unix_seconds;
use crate::creds::sealed;
use crate::creds::token::{self, SessionClaims};
use crate::creds::{Keyring, SessionKind};
use crate::error::{ApiError, PortalFault};
use crate::store::ReplayKey;

/// How long a sign-in token is accepted.
pub const SIGNIN_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);

const PURPOSE: &str = "portal-signin-token";

/// What a sign-in token holds.
#[derive(Serialize, Deserialize)]
struct SigninToken {
    /// 128 random bits: the replay cache's key.
    id: String,
    /// The credentials' session token.
    session_token: String,
    /// The console session asked for (`SessionDuration`), in seconds.
    console_seconds: Option<u32>,
    /// Unix seconds: refused from then on.
    expires: i64,
}

/// The `Session` parameter of `getSigninToken`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SessionParameter {
    session_id: String,
    session_key: String,
    session_token: String,
}

fn invalid_credentials() -> ApiError {
    ApiError::Portal(PortalFault::InvalidCredentialsParameter)
}

impl Portal {
    /// `GET /federation?Action=...`.
    pub async fn federation(
        &self,
        visit: &Visit<'_>,
        params: &[(String, String)],
    ) -> Result<Page, ApiError> {
        match field(params, "Action") {
            Some("getSigninToken") => self.get_signin_token(visit, params),
            Some("login") => self.federation_login(visit, params).await,
            _ => Err(ApiError::ValidationMessage(
                "Action must be getSigninToken or login.",
            )),
        }
    }

    /// `Action=getSigninToken&Session=JSON[&SessionDuration=900..43200]`: the credentials must
    /// be temporary credentials issued here, valid now (not expired, not revoked);
    /// `SessionDuration` only for role sessions (as AWS: absent for `GetFederationToken`
    /// credentials). The console session never outlives the credentials.
    fn get_signin_token(
        &self,
        visit: &Visit<'_>,
        params: &[(String, String)],
    ) -> Result<Page, ApiError> {
        let keyring = visit.keyring();
        let session: SessionParameter = field(params, "Session")
            .and_then(|s| serde_json::from_str(s).ok())
            .ok_or_else(invalid_credentials)?;
        let claims = valid_credentials(visit, &keyring, &session)?;
        let console_seconds = match field(params, "SessionDuration") {
            None | Some("") => None,
            Some(text) => {
                let seconds = text
                    .parse::<u32>()
                    .ok()
                    .filter(|s| (900..=43_200).contains(s))
                    .ok_or(ApiError::ValidationMessage(
                        "SessionDuration must be between 900 and 43200 seconds.",
                    ))?;
                if claims.session.kind != SessionKind::AssumedRole {
                    return Err(ApiError::ValidationMessage(
                        "SessionDuration is only for role credentials; omit it for these credentials.",
                    ));
                }
                Some(seconds)
            }
        };
        let mut id = [0u8; 16];
        let rng = aws_lc_rs::rand::SystemRandom::new();
        aws_lc_rs::rand::SecureRandom::fill(&rng, &mut id)
            .map_err(|_| ApiError::Internal("no randomness".into()))?;
        let token = SigninToken {
            id: id.iter().map(|b| format!("{b:02x}")).collect(),
            session_token: session.session_token,
            console_seconds,
            expires: unix_seconds(visit.now + SIGNIN_TOKEN_TTL),
        };
        let plain = postcard::to_stdvec(&token).map_err(|e| ApiError::Internal(e.to_string()))?;
        let sealed = sealed::seal(&keyring, PURPOSE, &plain, &rng)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        tracing::info!(access_key_id = %claims.access_key_id, "sign-in token issued");
        Ok(Page::json(&serde_json::json!({ "SigninToken": sealed })))
    }

    /// `Action=login&SigninToken=...&Destination=...[&Issuer=...]`: the token opens, has not
    /// expired and was not used; the credentials are still valid; the destination is a path on
    /// this server (never another site).
    async fn federation_login(
        &self,
        visit: &Visit<'_>,
        params: &[(String, String)],
    ) -> Result<Page, ApiError> {
        let keyring = visit.keyring();
        let destination = self.same_origin_path(field(params, "Destination"))?;
        let refused = || ApiError::Portal(PortalFault::InvalidSigninToken);
        let token: SigninToken = field(params, "SigninToken")
            .and_then(|t| sealed::open(&keyring, PURPOSE, t).ok())
            .and_then(|plain| postcard::from_bytes(&plain).ok())
            .ok_or_else(refused)?;
        let now = unix_seconds(visit.now);
        if now >= token.expires {
            return Err(refused());
        }
        let claims = token::unseal(&keyring, &token.session_token).map_err(|_| refused())?;
        if flow::expired(claims.expires_at, visit.now) || self.revoked_claims(visit, &claims) {
            return Err(ApiError::ExpiredToken);
        }
        let first_use = visit
            .state
            .store()
            .replay
            .remember_once(&ReplayKey::SigninToken { id: token.id }, token.expires, now)
            .await
            .map_err(ApiError::from)?;
        if !first_use {
            return Err(refused());
        }
        // The console session: as asked, within the credentials' life and the portal's own cap.
        let cap = now + i64::try_from(self.session_length.as_secs()).unwrap_or(i64::MAX);
        let asked = token
            .console_seconds
            .map_or(claims.expires_at, |s| now + i64::from(s));
        let ends = asked.min(cap);
        let session = PortalSession::with_credentials(
            token.session_token,
            &claims.session.caller_arn,
            &claims.session.session_name,
            ends,
            &aws_lc_rs::rand::SystemRandom::new(),
        )?;
        tracing::info!(access_key_id = %claims.access_key_id, "signed in with a sign-in token");
        let cookies = session.seal(self.cookies, &keyring, visit.now)?;
        Ok(Page::see_other(&destination).with_cookies(&cookies))
    }

    /// `destination` when it is this server's (a path, or an absolute URL of the public
    /// URL's origin), as a path; the console when absent.
    fn same_origin_path(&self, destination: Option<&str>) -> Result<String, ApiError> {
        let refused =
            ApiError::ValidationMessage("The Destination must be an address on this server.");
        let Some(destination) = destination.filter(|d| !d.is_empty()) else {
            return Ok(flow::CONSOLE_PATH.to_owned());
        };
        let path = match destination.strip_prefix(self.public_url.origin()) {
            Some(rest) if rest.starts_with('/') => rest,
            Some(_) => return Err(refused),
            None => destination,
        };
        if super::is_local_path(path) {
            Ok(path.to_owned())
        } else {
            Err(refused)
        }
    }

    fn revoked_claims(&self, visit: &Visit<'_>, claims: &SessionClaims) -> bool {
        visit.state.store().session_refused(
            &claims.access_key_id,
            &claims.session.identity_arn,
            claims.issued_at,
            visit.now,
        )
    }
}

/// The credentials of `session` when they are temporary credentials of this service, valid
/// now: the key id and secret those sealed in the session token.
fn valid_credentials(
    visit: &Visit<'_>,
    keyring: &Keyring,
    session: &SessionParameter,
) -> Result<SessionClaims, ApiError> {
    let claims =
        token::unseal(keyring, &session.session_token).map_err(|_| invalid_credentials())?;
    let key_matches = claims.access_key_id == session.session_id;
    let secret_matches = aws_lc_rs::constant_time::verify_slices_are_equal(
        claims.secret_access_key.expose().as_bytes(),
        session.session_key.as_bytes(),
    )
    .is_ok();
    if !(key_matches && secret_matches) {
        return Err(invalid_credentials());
    }
    if flow::expired(claims.expires_at, visit.now) {
        return Err(ApiError::ExpiredToken);
    }
    let revoked = visit.state.store().session_refused(
        &claims.access_key_id,
        &claims.session.identity_arn,
        claims.issued_at,
        visit.now,
    );
    if revoked {
        return Err(ApiError::ExpiredToken);
    }
    Ok(claims)
}
