//! The portal as a SAML service provider: SP-initiated logins (`GET /signin/NAME` for a SAML
//! IdP: an AuthnRequest over the HTTP-Redirect binding), the SP metadata (`GET /saml/metadata`),
//! and the verification of a Response POSTed to the assertion consumer (`POST /saml`).
//!
//! The SP's entity ID is `<public_url>/saml/metadata` (the Issuer of its AuthnRequests, the
//! `entityID` of its metadata); its assertion consumer is `<public_url>/saml`.
//!
//! **InResponseTo.** A login started here leaves its AuthnRequest ID, IdP and return path sealed
//! in the SAML login cookie (`SameSite=None` in a secure context, so it comes with the IdP's
//! cross-site POST; `Lax` otherwise, when it comes only from a same-site IdP). At the assertion
//! consumer:
//! - with that cookie (a SAML login of this browser pending): the Response must come from that
//!   IdP and answer that AuthnRequest (its bearer confirmation's `InResponseTo`, and the
//!   Response's when it names one); an unsolicited Response is refused while a login started
//!   here is pending (it is not the answer this browser waits for);
//! - without it: only an unsolicited (IdP-initiated) Response is accepted, as AWS accepts them,
//!   from the one SAML provider whose entityID is its Issuer. A Response that answers an
//!   AuthnRequest this browser cannot show it sent is refused: it was issued to another
//!   browser (a stolen response), or the cookie was lost (the person starts again).
//!
//! Verification is the `AssumeRoleWithSAML` verifier's (`federation.idps`), so every check and
//! every error is the STS API's; the assertion is not used up here (the issuer remembers its ID
//! when credentials are issued), so a role picker can show its roles first.

use std::time::SystemTime;

use http::StatusCode;
use http::header::{self, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};

use super::Page;
use super::cookies::{CookieKind, Cookies};
use super::login::{DEFAULT_RETURN, LOGIN_TTL, Start};
use crate::config::signin::{ACS_PATH, SamlSignin, SigninIdp, SigninKind};
use crate::config::{Federation, PublicUrl};
use crate::creds::Keyring;
use crate::error::ApiError;
use crate::identity::FederatedIdentity;
use crate::idp::saml::SamlFault;
use crate::idp::saml::authn_request::{self, AuthnRequest};
use crate::idp::saml::sp_key::SpKey;
use crate::idp::saml::sp_metadata::{self, SpMetadata};
use crate::idp::{Expectations, IdpVerifier, TokenFault};

/// Where the SP metadata is served; the SP's entity ID is this URL under the public URL.
pub const METADATA_PATH: &str = crate::config::signin::SP_METADATA_PATH;

/// The SP's entity ID: `<public_url>/saml/metadata`.
pub fn entity_id(public_url: &PublicUrl) -> String {
    public_url.join(METADATA_PATH)
}

/// A SAML login started here, sealed in the SAML login cookie.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamlLoginFlow {
    /// The IdP's name (`/signin/NAME`, the SAML provider's name).
    pub idp: String,
    /// The AuthnRequest's ID: the Response must answer it.
    pub authn_request_id: String,
    /// A path on this server to go to once signed in (also sent as the `RelayState`).
    pub return_to: String,
}

impl std::fmt::Debug for SamlLoginFlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SamlLoginFlow")
            .field("idp", &self.idp)
            .field("return_to", &self.return_to)
            .finish_non_exhaustive()
    }
}

/// A Response verified at the assertion consumer.
#[derive(Debug, Clone)]
pub struct SamlSignIn {
    /// The SAML provider that verified it (`arn:aws:iam::ACCOUNT:saml-provider/NAME`).
    pub provider: String,
    pub identity: FederatedIdentity,
}

/// `GET /signin/NAME` for a SAML IdP: a fresh AuthnRequest to the IdP's SingleSignOnService
/// (`sso_url`, else the HTTP-Redirect one of the metadata `verifier` uses now), signed with the
/// SP key when `sign_requests`; its ID, the IdP and the return path sealed in the SAML login
/// cookie.
pub(super) async fn start_saml(
    start: Start<'_>,
    idp: &SigninIdp,
    saml: &SamlSignin,
    sp_key: &SpKey,
    verifier: Option<&dyn IdpVerifier>,
) -> Result<Page, ApiError> {
    let metadata_sso = verifier.and_then(IdpVerifier::sso_redirect_url);
    let destination = saml.sso_url.clone().or(metadata_sso).ok_or_else(|| {
        ApiError::IdpCommunication(format!(
            "SAML IdP {:?}: no sso_url, and no metadata naming an HTTP-Redirect \
             SingleSignOnService",
            idp.name
        ))
    })?;
    let key = if saml.sign_requests {
        Some(
            authn_request::signing_key(&sp_key.key_pem)
                .map_err(|e| ApiError::Internal(e.to_string()))?,
        )
    } else {
        None
    };
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let flow = SamlLoginFlow {
        idp: idp.name.clone(),
        authn_request_id: authn_request::new_request_id(&rng)
            .map_err(|e| ApiError::Internal(e.to_string()))?,
        return_to: start.return_to.unwrap_or(DEFAULT_RETURN).to_owned(),
    };
    let acs_url = start.public_url.join(ACS_PATH);
    let issuer = entity_id(start.public_url);
    let request = AuthnRequest {
        id: &flow.authn_request_id,
        issue_instant: start.now,
        destination: &destination,
        acs_url: &acs_url,
        issuer: &issuer,
    };
    // An SSO page's address (its query holds a client id of hundreds of characters) would
    // overrun SAML's 80-byte RelayState: the page's path goes instead, and the assertion
    // consumer takes the whole address from this sealed flow.
    let relay_state = match flow.return_to.split_once('?') {
        Some((page, _)) if super::is_return_path(&flow.return_to) => page,
        _ => flow.return_to.as_str(),
    };
    let url = request
        .redirect_url(Some(relay_state), key.as_ref(), &rng)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let cookie = start
        .cookies
        .set(
            start.keyring,
            CookieKind::SamlLogin,
            &flow,
            start.now,
            LOGIN_TTL,
            &rng,
        )
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    tracing::info!(idp = %idp.name, signed = saml.sign_requests, "SAML login started");
    Ok(Page::redirect(&url).with_cookies(&cookie))
}

/// The SAML login of this browser pending, from its `Cookie` headers: `None` when there is
/// none, or one that expired or does not open (it proves nothing then).
pub fn pending_flow<'h>(
    cookies: Cookies,
    keyring: &Keyring,
    cookie_headers: impl IntoIterator<Item = &'h str>,
    now: SystemTime,
) -> Option<SamlLoginFlow> {
    cookies
        .open(keyring, CookieKind::SamlLogin, cookie_headers, now)
        .ok()
}

/// `GET /saml/metadata`: the SP metadata (entity ID, the HTTP-POST assertion consumer, and the
/// signing certificate when an IdP in `offered` is sent signed AuthnRequests).
pub(super) fn metadata(
    public_url: &PublicUrl,
    offered: &[SigninIdp],
    sp_key: &SpKey,
) -> Result<Page, ApiError> {
    let signed = offered
        .iter()
        .any(|idp| matches!(&idp.kind, SigninKind::Saml(s) if s.sign_requests));
    let entity_id = entity_id(public_url);
    let acs_url = public_url.join(ACS_PATH);
    let xml = SpMetadata {
        entity_id: &entity_id,
        acs_url: &acs_url,
        authn_requests_signed: signed,
        signing_cert_pem: &sp_key.cert_pem,
    }
    .to_xml()
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    let headers: Vec<(HeaderName, HeaderValue)> = vec![
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static(sp_metadata::CONTENT_TYPE),
        ),
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
    ];
    Ok(Page {
        status: StatusCode::OK,
        headers,
        body: xml,
    })
}

/// Verify the `SAMLResponse` (base64) POSTed to the assertion consumer, with `flow` the SAML
/// login of this browser pending ([`pending_flow`]), by the rule of the module documentation:
/// 1. the provider: the flow's IdP, else the one whose entityID is the Response's Issuer
///    (none, or several: `InvalidIdentityToken`, as an unknown `PrincipalArn`);
/// 2. every check of `AssumeRoleWithSAML` (signature, conditions, Recipient/Destination one
///    of the IdP's `acs_urls`, which hold `<public_url>/saml`; a replayed assertion), plus,
///    with a flow, its AuthnRequest answered;
/// 3. without a flow, a Response that answers an AuthnRequest is refused.
///
/// Errors are the STS API's for the same fault (`ApiError::from(VerifyError)`). The assertion
/// is NOT used up: the issuer remembers it when credentials are issued.
pub async fn verify_response(
    saml_response: &str,
    flow: Option<&SamlLoginFlow>,
    federation: &Federation,
    now: SystemTime,
) -> Result<SamlSignIn, ApiError> {
    let expect = Expectations {
        in_response_to: flow.map(|f| f.authn_request_id.as_str()),
        ..Expectations::NONE
    };
    let identity = federation
        .idps
        .verify_posted_saml(
            flow.map(|f| f.idp.as_str()),
            saml_response.trim(),
            &expect,
            now,
        )
        .await?;
    let answers_a_request = identity
        .saml
        .as_ref()
        .is_some_and(|facts| facts.in_response_to.is_some());
    if flow.is_none() && answers_a_request {
        return Err(ApiError::InvalidIdentityToken {
            fault: TokenFault::Saml(SamlFault::InResponseTo),
            detail: "the response answers an AuthnRequest, and no SAML login started in this \
                     browser is pending"
                .to_owned(),
        });
    }
    Ok(SamlSignIn {
        provider: identity.provider.clone(),
        identity,
    })
}

#[cfg(test)]
mod tests;
