//! Starting a login at an IdP: `GET /signin/NAME`. The flow's secrets (state, nonce, PKCE
//! verifier) go to the IdP as the protocol wants and stay with the browser sealed in the login
//! cookie, so any daemon holding the keyring can finish the login.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use aws_lc_rs::rand::SecureRandom;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::Page;
use super::cookies::{CookieKind, Cookies};
use crate::config::PublicUrl;
use crate::config::signin::{OidcSignin, SigninIdp};
use crate::creds::Keyring;
use crate::error::ApiError;
use crate::idp::oidc::relying_party::{AuthorizationRequest, RelyingParty, RelyingPartyError};

/// Where the IdPs send the person back to, under the public URL.
pub const OIDC_CALLBACK_PATH: &str = "/signin/oidc/callback";

/// How long a login may stay at the IdP.
pub const LOGIN_TTL: Duration = Duration::from_secs(600);

/// Where a signed-in person goes when the login did not say.
pub(super) const DEFAULT_RETURN: &str = "/console";

/// A login in progress, sealed in the login cookie.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginFlow {
    /// The IdP's name (`/signin/NAME`).
    pub idp: String,
    /// The OAuth `state` sent to the IdP; the callback must bring it back.
    pub state: String,
    /// The OIDC `nonce` the ID token must carry.
    pub nonce: String,
    /// The PKCE code verifier (its S256 challenge went to the IdP).
    pub pkce_verifier: String,
    /// A path on this server to go to once signed in.
    pub return_to: String,
}

impl std::fmt::Debug for LoginFlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginFlow")
            .field("idp", &self.idp)
            .field("return_to", &self.return_to)
            .finish_non_exhaustive()
    }
}

/// The relying parties of the OIDC IdPs logins were started at, by issuer (their discovered
/// endpoints are cached).
#[derive(Debug, Default)]
pub(super) struct RelyingParties(Mutex<HashMap<(String, bool), Arc<RelyingParty>>>);

impl RelyingParties {
    pub(super) fn of(
        &self,
        issuer: &str,
        insecure_http: bool,
    ) -> Result<Arc<RelyingParty>, ApiError> {
        let mut parties = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (issuer.to_owned(), insecure_http);
        if let Some(party) = parties.get(&key) {
            return Ok(Arc::clone(party));
        }
        let party = Arc::new(
            RelyingParty::new(issuer, insecure_http)
                .map_err(|e| ApiError::Internal(e.to_string()))?,
        );
        parties.insert(key, Arc::clone(&party));
        Ok(party)
    }
}

/// 256 random bits, base64url without padding (43 characters: a PKCE verifier's minimum).
fn random_token(rng: &dyn SecureRandom) -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    rng.fill(&mut bytes)
        .map_err(|_| ApiError::Internal("no randomness".into()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The inputs of a login start.
pub(super) struct Start<'a> {
    pub public_url: &'a PublicUrl,
    /// Where to go once signed in (checked by [`super::is_return_path`]).
    pub return_to: Option<&'a str>,
    pub cookies: Cookies,
    pub keyring: &'a Keyring,
    pub now: SystemTime,
}

/// `GET /signin/NAME` for an OIDC IdP: discover its endpoints, seal a fresh flow in the login
/// cookie, and send the person to the authorization endpoint (code flow, PKCE S256, `state`,
/// `nonce`).
pub(super) async fn start_oidc(
    parties: &RelyingParties,
    start: Start<'_>,
    idp: &SigninIdp,
    oidc: &OidcSignin,
    insecure_http: bool,
) -> Result<Page, ApiError> {
    let party = parties.of(&oidc.issuer, insecure_http)?;
    let endpoints = party.endpoints(start.now).await.map_err(|e| match e {
        RelyingPartyError::Fetch(why) => ApiError::IdpCommunication(why),
        other => ApiError::IdpCommunication(other.to_string()),
    })?;
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let flow = LoginFlow {
        idp: idp.name.clone(),
        state: random_token(&rng)?,
        nonce: random_token(&rng)?,
        pkce_verifier: random_token(&rng)?,
        return_to: start.return_to.unwrap_or(DEFAULT_RETURN).to_owned(),
    };
    let redirect_uri = start.public_url.join(OIDC_CALLBACK_PATH);
    let url = party
        .authorization_url(
            &endpoints,
            &AuthorizationRequest {
                client_id: &oidc.client_id,
                redirect_uri: &redirect_uri,
                scopes: &oidc.scopes,
                state: &flow.state,
                nonce: &flow.nonce,
                pkce_verifier: &flow.pkce_verifier,
            },
        )
        .map_err(|e| ApiError::IdpCommunication(e.to_string()))?;
    let cookie = start
        .cookies
        .set(
            start.keyring,
            CookieKind::Login,
            &flow,
            start.now,
            LOGIN_TTL,
            &rng,
        )
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    tracing::info!(idp = %idp.name, "login started");
    Ok(Page::redirect(&url).with_cookies(&cookie))
}
