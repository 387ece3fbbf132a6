//! CreateToken (`POST /sso-oidc/token`): a registered client turns a grant into an access token
//! and a refresh token ([`super::login`]).
//!
//! Checks, in order: the members the grant needs are there (`InvalidRequestException`); the
//! client id and secret ([`super::register::authenticate`], `InvalidClientException`); the
//! client registered the grant type (`UnauthorizedClientException` as AWS names it, here
//! `InvalidGrantException`... see [`grant_allowed`]); then per grant:
//! - `urn:ietf:params:oauth:grant-type:device_code`: the device code was issued here to this
//!   client and has not expired; the person's decision, polled no faster than the interval
//!   ([`super::approval`]);
//! - `authorization_code`: the code was issued here to this client for this redirect URI, the
//!   PKCE verifier matches, and it was not redeemed before (the replay cache);
//! - `refresh_token`: the refresh token was issued here to this client and has not expired.
//!
//! Whatever the grant, the login must not be revoked, and the issue is audited (durably,
//! before the tokens are answered). Polls still pending are not audited (one every 5 s).

use std::time::SystemTime;

use aws_lc_rs::rand::SecureRandom;
use serde::{Deserialize, Serialize};

use super::login::{self, Login, Tokens};
use super::register::{
    self, GRANT_AUTHORIZATION_CODE, GRANT_DEVICE_CODE, GRANT_REFRESH_TOKEN, Registration,
};
use super::{Unsealed, authorize, devices, fault};
use crate::audit::{AuditDraft, EventName};
use crate::clock::unix_seconds;
use crate::creds::Keyring;
use crate::error::{ApiError, SsoOidcFault};
use crate::origin::Origin;
use crate::state::State;
use crate::store::ReplayKey;

/// CreateToken's input (the model's `CreateTokenRequest`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateTokenRequest {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub grant_type: Option<String>,
    pub device_code: Option<String>,
    pub code: Option<String>,
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub scope: Vec<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
}

/// CreateToken's output (the model's `CreateTokenResponse`; no `idToken`: no OpenID scope is
/// granted).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateTokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub refresh_token: String,
}

impl std::fmt::Debug for CreateTokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateTokenResponse")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// What CreateToken works with.
pub struct TokenContext<'a> {
    pub state: &'a State,
    pub keyring: &'a Keyring,
    pub origin: &'a Origin,
    pub now: SystemTime,
    pub rng: &'a (dyn SecureRandom + Send + Sync),
}

/// Answer CreateToken (see the module documentation).
pub async fn create_token(
    cx: &TokenContext<'_>,
    request: CreateTokenRequest,
) -> Result<CreateTokenResponse, ApiError> {
    let (Some(client_id), Some(client_secret), Some(grant_type)) = (
        request.client_id.as_deref(),
        request.client_secret.as_deref(),
        request.grant_type.as_deref(),
    ) else {
        return Err(fault(SsoOidcFault::InvalidRequest(
            "clientId, clientSecret and grantType are required.",
        )));
    };
    if request.scope.iter().any(|s| s != register::SCOPE) {
        return Err(fault(SsoOidcFault::InvalidScope));
    }
    let mut audit = AuditDraft::new(
        EventName::CreateToken,
        cx.origin,
        serde_json::json!({
            "clientId": crate::audit::cut(client_id, 64),
            "grantType": crate::audit::cut(grant_type, 64),
        }),
        cx.now,
    );
    let outcome = grant(cx, &request, client_id, client_secret, grant_type).await;
    match outcome {
        Ok(login) => {
            audit.identify(crate::federation::audit_identity(&login.identity, None));
            let tokens = login::issue_tokens(cx.keyring, &login, cx.now, cx.rng)?;
            let event = audit.succeeded(serde_json::json!({
                "loginId": login.id,
                "clientName": crate::audit::cut(&login.client_name, 128),
                "expiresIn": tokens.expires_in,
                "loginEndsAt": crate::clock::iso8601(login.ends()),
            }));
            cx.state.store().audit.append(&event).await?;
            tracing::info!(login = %login.id, grant = grant_type, "SSO tokens issued");
            Ok(response(tokens))
        }
        Err(err) => {
            let quiet = matches!(
                err,
                ApiError::SsoOidc(SsoOidcFault::AuthorizationPending | SsoOidcFault::SlowDown)
            );
            if !quiet {
                let event = audit.failed(err.code(), err.message());
                if let Err(e) = cx.state.store().audit.record(&event).await {
                    tracing::error!(error = %e, "could not record the refused CreateToken");
                }
            }
            Err(err)
        }
    }
}

/// The login `grant_type` yields for the client, checked.
async fn grant(
    cx: &TokenContext<'_>,
    request: &CreateTokenRequest,
    client_id: &str,
    client_secret: &str,
    grant_type: &str,
) -> Result<Login, ApiError> {
    let registration = register::authenticate(cx.keyring, client_id, client_secret, cx.now)?;
    let login = match grant_type {
        GRANT_DEVICE_CODE => {
            grant_allowed(&registration, grant_type)?;
            let device_code = required(request.device_code.as_deref(), "deviceCode")?;
            devices::redeem(
                cx.state.store(),
                cx.keyring,
                cx.now,
                &registration,
                device_code,
            )
            .await?
        }
        GRANT_AUTHORIZATION_CODE => {
            grant_allowed(&registration, grant_type)?;
            let code = required(request.code.as_deref(), "code")?;
            let redeemable = authorize::redeem(
                cx.keyring,
                code,
                client_id,
                request.redirect_uri.as_deref(),
                request.code_verifier.as_deref(),
                cx.now,
            )?;
            let key = ReplayKey::AuthorizationCode {
                id: redeemable.code_id,
            };
            let first = cx
                .state
                .store()
                .replay
                .remember_once(&key, redeemable.until_unix, unix_seconds(cx.now))
                .await?;
            if !first {
                tracing::warn!(login = %redeemable.login.id, "authorization code presented again");
                return Err(fault(SsoOidcFault::InvalidGrant));
            }
            redeemable.login
        }
        GRANT_REFRESH_TOKEN => {
            grant_allowed(&registration, grant_type)?;
            let token = required(request.refresh_token.as_deref(), "refreshToken")?;
            let login =
                login::open_refresh_token(cx.keyring, token, cx.now).map_err(|e| match e {
                    Unsealed::Expired => fault(SsoOidcFault::ExpiredToken),
                    Unsealed::Refused => fault(SsoOidcFault::InvalidGrant),
                })?;
            if login.client_id != client_id {
                tracing::info!("refresh token of another client");
                return Err(fault(SsoOidcFault::InvalidGrant));
            }
            login
        }
        _ => return Err(fault(SsoOidcFault::UnsupportedGrantType)),
    };
    if login.ended(cx.now) {
        return Err(fault(SsoOidcFault::ExpiredToken));
    }
    if login::refused(cx.state.store(), &login, cx.now) {
        tracing::info!(login = %login.id, "revoked login refused");
        return Err(fault(SsoOidcFault::InvalidGrant));
    }
    Ok(login)
}

/// `InvalidGrantException` unless the client registered `grant_type`: a grant type a client
/// did not register is not honoured (RFC 7591 section 2).
fn grant_allowed(registration: &Registration, grant_type: &str) -> Result<(), ApiError> {
    let listed = &registration.grant_types;
    let allowed = if listed.is_empty() {
        grant_type == GRANT_DEVICE_CODE || grant_type == GRANT_REFRESH_TOKEN
    } else {
        listed.iter().any(|g| g == grant_type)
    };
    if allowed {
        Ok(())
    } else {
        tracing::info!(grant_type, "grant type the client did not register");
        Err(fault(SsoOidcFault::UnauthorizedClient))
    }
}

fn required<'r>(value: Option<&'r str>, name: &'static str) -> Result<&'r str, ApiError> {
    value.filter(|v| !v.is_empty()).ok_or_else(|| {
        fault(SsoOidcFault::InvalidRequest(match name {
            "deviceCode" => "deviceCode is required for the device code grant.",
            "code" => "code is required for the authorization code grant.",
            _ => "refreshToken is required for the refresh token grant.",
        }))
    })
}

fn response(tokens: Tokens) -> CreateTokenResponse {
    CreateTokenResponse {
        access_token: tokens.access_token,
        token_type: "Bearer",
        expires_in: tokens.expires_in,
        refresh_token: tokens.refresh_token,
    }
}
