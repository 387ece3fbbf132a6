//! The one error table: every answer other than success, one row per variant with its AWS code,
//! HTTP status and client message. The STS XML renderer, the JSON renderer of the authorization
//! API and the portal's pages all read [`ApiError::row`]; nothing else maps errors to codes.
//!
//! Clients see only the row's message: fixed words, or words built from our own validation of
//! their input. Inner details (`detail`, `Internal`) go to the log with the request id, where the
//! response is made.

use std::borrow::Cow;

use http::StatusCode;

use crate::creds::sigv4::SigV4Error;
use crate::idp::saml::SamlFault;
use crate::idp::{TokenFault, VerifyError};
use crate::metrics::Replayed;
use crate::store::StoreError;

/// One failed constraint, worded as AWS words it (`Value 'x' at 'roleSessionName' failed to
/// satisfy constraint: Member must ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The member name as AWS prints it (lowerCamelCase).
    pub member: &'static str,
    /// The offending value, or `None` for a missing value or one never echoed (tokens, policies).
    pub value: Option<String>,
    pub constraint: String,
    /// Missing entirely: AWS prints `Value null`.
    pub missing: bool,
}

impl Violation {
    fn describe(&self) -> String {
        if self.missing {
            return format!(
                "Value null at '{}' failed to satisfy constraint: {}",
                self.member, self.constraint
            );
        }
        match &self.value {
            Some(v) => format!(
                "Value '{}' at '{}' failed to satisfy constraint: {}",
                v, self.member, self.constraint
            ),
            None => format!(
                "Value at '{}' failed to satisfy constraint: {}",
                self.member, self.constraint
            ),
        }
    }
}

/// Everything a request can be answered with other than success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no Action parameter")]
    MissingAction,
    #[error("unknown action or version")]
    InvalidAction { action: String, version: String },
    #[error("request body too large")]
    BodyTooLarge,
    /// The body is not a well-formed HTTP message body (a broken chunked encoding, a
    /// connection closed mid-body).
    #[error("malformed request body")]
    MalformedBody,
    /// Parameters that may not come together.
    #[error("invalid parameter combination: {0}")]
    InvalidParameterCombination(&'static str),
    #[error("validation: {0:?}")]
    Validation(Vec<Violation>),
    /// A validation failure AWS words as one sentence rather than a constraint list.
    #[error("validation: {0}")]
    ValidationMessage(&'static str),
    #[error("invalid parameter value: {0}")]
    InvalidParameterValue(&'static str),
    #[error("invalid identity token: {fault:?}: {detail}")]
    InvalidIdentityToken { fault: TokenFault, detail: String },
    #[error("token expired")]
    ExpiredToken,
    #[error("identity provider unreachable: {0}")]
    IdpCommunication(String),
    #[error("IdP rejected claim: {0}")]
    IdpRejectedClaim(&'static str),
    #[error("access denied for {action}: {detail}")]
    AccessDenied {
        action: &'static str,
        detail: String,
    },
    /// `AccessDenied` with AWS's own sentence (MFA failures, actions session credentials may
    /// not call).
    #[error("access denied: {0}")]
    AccessDeniedMessage(&'static str),
    #[error("invalid authorization message")]
    InvalidAuthorizationMessage,
    #[error("malformed policy document: {0}")]
    MalformedPolicy(String),
    #[error("packed policy too large: {0}%")]
    PackedPolicyTooLarge(u32),
    /// The request's signature or credentials were refused.
    #[error("authentication: {0:?}")]
    Auth(SigV4Error),
    /// An authorization API request the daemon cannot use; the text is our own words about it
    /// (never an input value).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// No valid bearer secret of a configured resource service (authorization API).
    #[error("no valid service bearer secret")]
    Unauthorized,
    /// The request (its body, or its answer) took longer than the server allows.
    #[error("request timed out")]
    RequestTimeout,
    /// The service cannot take the request now (the store's filesystem is below its free-space
    /// floor, its database does not answer); the client may retry.
    #[error("unavailable: {0}")]
    ServiceUnavailable(String),
    #[error("internal: {0}")]
    Internal(String),
    /// A sign-in portal page that does not exist (an IdP not offered, say).
    #[error("no such page")]
    NotFound,
    /// Too many requests of one kind from one source (the portal's login attempts).
    #[error("throttled")]
    Throttling,
    /// A sign-in portal request refused for its origin, form token or cookies.
    #[error("portal: {0:?}")]
    Portal(PortalFault),
    /// An SSO OIDC API request refused (rendered as OAuth-shaped JSON).
    #[error("sso-oidc: {0:?}")]
    SsoOidc(SsoOidcFault),
    /// An SSO portal API request refused (rendered as `{"message"}` JSON).
    #[error("sso: {0:?}")]
    SsoPortal(SsoPortalFault),
}

/// Why the SSO portal API refused a request: the exceptions of botocore's `sso` 2019-06-10
/// model, with its statuses. The model has no `ForbiddenException`: a role or account the
/// person may not reach is `ResourceNotFoundException` (404), the same whether it exists or
/// not, and never `UnauthorizedException`, which every SDK takes for "sign in again".
/// (`TooManyRequestsException`, 429, has no variant: nothing throttles this API.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SsoPortalFault {
    /// A parameter missing or out of range, or a page token not of this list; the text is
    /// our own words (never an input value).
    InvalidRequest(&'static str),
    /// No access token, or one that does not open (tampered, another keyring's, not an access
    /// token), has expired, or whose login was revoked.
    Unauthorized,
    /// An account or role the person may not reach; the text says which.
    ResourceNotFound(&'static str),
}

/// Why the SSO OIDC API refused a request: one per exception of botocore's `sso-oidc`
/// 2019-06-10 model, with the model's HTTP status (all 400 but `InvalidClientException`, 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SsoOidcFault {
    /// The person has not yet approved the device authorization (RFC 8628 section 3.5).
    AuthorizationPending,
    /// Polled faster than the interval; the client adds 5 s to it (RFC 8628 section 3.5).
    SlowDown,
    /// The device code, or a token, has expired.
    ExpiredToken,
    /// A device code, code or refresh token that does not open, was not issued to this
    /// client, or was used.
    InvalidGrant,
    /// Unknown client, wrong or expired client secret (RFC 6749 section 5.2: 401).
    InvalidClient,
    /// A request that is not well-formed or asks what this service does not do; the text is
    /// our own words (never an input value).
    InvalidRequest(&'static str),
    UnsupportedGrantType,
    /// The person denied the device authorization.
    AccessDenied,
    InvalidScope,
    /// A redirect URI other than a loopback `http://127.0.0.1/...` or `http://[::1]/...`.
    InvalidRedirectUri,
    /// Client metadata this service does not accept (the client type, the issuer URL).
    InvalidClientMetadata(&'static str),
    /// The client asked for a grant type it did not register.
    UnauthorizedClient,
}

impl SsoOidcFault {
    /// The `error` member of the JSON body: the OAuth 2.0 error code (RFC 6749 section 5.2,
    /// RFC 8628 section 3.5) AWS puts there.
    pub fn oauth_error(self) -> &'static str {
        match self {
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::ExpiredToken => "expired_token",
            Self::InvalidGrant => "invalid_grant",
            Self::InvalidClient => "invalid_client",
            Self::InvalidRequest(_) => "invalid_request",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::AccessDenied => "access_denied",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::InvalidClientMetadata(_) => "invalid_client_metadata",
            Self::UnauthorizedClient => "unauthorized_client",
        }
    }
}

/// Why the sign-in portal refused a request before looking at what it asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortalFault {
    /// A state-changing request whose `Origin` is another site's (or `null`).
    ForeignOrigin,
    /// A state-changing form without a valid token of this browser's (missing, tampered,
    /// expired, or another browser's).
    CsrfToken,
    /// No portal session, or one that expired or does not open.
    SessionRequired,
    /// A login's flow state is missing, expired or does not open (the login took too long,
    /// or was started in another browser).
    LoginExpired,
    /// The IdP's answer does not belong to the login this browser started (its `state`), or
    /// lacks what the flow needs (the code).
    LoginMismatch,
    /// The IdP answered the login with an error (the person cancelled, was refused).
    LoginDenied,
    /// The ID token was issued to another client than the portal's (`aud`/`azp`).
    WrongClient,
    /// `getSigninToken`'s `Session` is not temporary credentials of this service.
    InvalidCredentialsParameter,
    /// A sign-in token that does not open, has expired or was used.
    InvalidSigninToken,
    /// A device flow's user code that names no pending authorization (mistyped, expired,
    /// already decided).
    InvalidUserCode,
    /// The person's identity (its claims or attributes) is too large to be sealed into an SSO
    /// token.
    IdentityTooLarge,
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Full { .. } | StoreError::Unavailable(_) => {
                Self::ServiceUnavailable(e.to_string())
            }
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<VerifyError> for ApiError {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::Expired => Self::ExpiredToken,
            VerifyError::Invalid { fault, detail } => Self::InvalidIdentityToken { fault, detail },
            VerifyError::Communication(d) => Self::IdpCommunication(d),
            VerifyError::Internal(d) => Self::Internal(d),
        }
    }
}

/// What a client is told: the AWS code, the HTTP status, the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorRow<'a> {
    pub code: &'static str,
    pub status: StatusCode,
    pub message: Cow<'a, str>,
}

const INTERNAL_MESSAGE: &str = "We encountered an internal error. Please try again.";

/// AWS's sentence for an MFA code already used within its window (AWS refuses reuse as well).
pub const MFA_CODE_REUSED: &str =
    "MultiFactorAuthentication failed, the MFA one time pass code has already been used.";

impl ApiError {
    /// The row of this error: one arm per variant.
    pub fn row(&self) -> ErrorRow<'_> {
        use StatusCode as S;
        let (code, status, message): (&'static str, StatusCode, Cow<'_, str>) = match self {
            Self::MissingAction => ("MissingAction", S::BAD_REQUEST, "Missing Action".into()),
            Self::InvalidAction { action, version } => (
                "InvalidAction",
                S::BAD_REQUEST,
                format!("Could not find operation {action} for version {version}").into(),
            ),
            Self::BodyTooLarge => (
                "RequestEntityTooLarge",
                S::PAYLOAD_TOO_LARGE,
                "Request body exceeds the 262144-byte limit".into(),
            ),
            Self::MalformedBody => (
                "MalformedQueryString",
                S::BAD_REQUEST,
                "The request body is not a well-formed HTTP message body.".into(),
            ),
            Self::InvalidParameterCombination(m) => {
                ("InvalidParameterCombination", S::BAD_REQUEST, (*m).into())
            }
            Self::Validation(v) => (
                "ValidationError",
                S::BAD_REQUEST,
                validation_message(v).into(),
            ),
            Self::ValidationMessage(m) => ("ValidationError", S::BAD_REQUEST, (*m).into()),
            Self::InvalidParameterValue(m) => {
                ("InvalidParameterValue", S::BAD_REQUEST, (*m).into())
            }
            Self::InvalidIdentityToken { fault, .. } => (
                "InvalidIdentityToken",
                S::BAD_REQUEST,
                token_fault_message(*fault).into(),
            ),
            Self::ExpiredToken => (
                "ExpiredTokenException",
                S::BAD_REQUEST,
                "Token expired: current date/time is past the token's exp".into(),
            ),
            Self::IdpCommunication(_) => (
                "IDPCommunicationError",
                S::BAD_REQUEST,
                "Couldn't retrieve verification key from your identity provider, please reference AssumeRoleWithWebIdentity documentation for requirements".into(),
            ),
            Self::IdpRejectedClaim(m) => ("IDPRejectedClaim", S::FORBIDDEN, (*m).into()),
            Self::AccessDenied { action, .. } => (
                "AccessDenied",
                S::FORBIDDEN,
                format!("Not authorized to perform {action}").into(),
            ),
            Self::AccessDeniedMessage(m) => ("AccessDenied", S::FORBIDDEN, (*m).into()),
            Self::InvalidAuthorizationMessage => (
                "InvalidAuthorizationMessageException",
                S::BAD_REQUEST,
                "The encoded authorization message is invalid or was not produced by this service."
                    .into(),
            ),
            Self::MalformedPolicy(problems) => (
                "MalformedPolicyDocument",
                S::BAD_REQUEST,
                problems.as_str().into(),
            ),
            Self::PackedPolicyTooLarge(pct) => (
                "PackedPolicyTooLarge",
                S::BAD_REQUEST,
                format!(
                    "Packed size of the session policies and session tags is {pct}% of the allowed maximum"
                )
                .into(),
            ),
            Self::Auth(e) => (e.code(), auth_status(*e), auth_message(*e).into()),
            Self::InvalidRequest(m) => ("InvalidRequest", S::BAD_REQUEST, m.as_str().into()),
            Self::Unauthorized => (
                "Unauthorized",
                S::UNAUTHORIZED,
                "A valid service bearer secret is required.".into(),
            ),
            Self::RequestTimeout => (
                "RequestTimeout",
                S::REQUEST_TIMEOUT,
                "The request was not completed in time; try again.".into(),
            ),
            Self::ServiceUnavailable(_) => (
                "ServiceUnavailable",
                S::SERVICE_UNAVAILABLE,
                "The service is unavailable. Please try again later.".into(),
            ),
            Self::Internal(_) => (
                "InternalFailure",
                S::INTERNAL_SERVER_ERROR,
                INTERNAL_MESSAGE.into(),
            ),
            Self::NotFound => ("NotFound", S::NOT_FOUND, "There is no such page.".into()),
            Self::Throttling => ("Throttling", S::TOO_MANY_REQUESTS, "Rate exceeded".into()),
            Self::Portal(fault) => {
                let (code, status, message) = portal_row(*fault);
                (code, status, message.into())
            }
            Self::SsoOidc(fault) => {
                let (code, status, message) = sso_oidc_row(*fault);
                (code, status, message.into())
            }
            Self::SsoPortal(fault) => {
                let (code, status, message) = sso_portal_row(*fault);
                (code, status, message.into())
            }
        };
        ErrorRow {
            code,
            status,
            message,
        }
    }

    /// The AWS error code.
    pub fn code(&self) -> &'static str {
        self.row().code
    }

    pub fn status(&self) -> StatusCode {
        self.row().status
    }

    /// The message the client sees.
    pub fn message(&self) -> String {
        self.row().message.into_owned()
    }

    /// What was replayed, when this refuses a one-time credential used before.
    pub fn replayed(&self) -> Option<Replayed> {
        match self {
            Self::InvalidIdentityToken {
                fault: TokenFault::Replay,
                ..
            } => Some(Replayed::SamlAssertion),
            Self::AccessDeniedMessage(m) if *m == MFA_CODE_REUSED => Some(Replayed::MfaCode),
            _ => None,
        }
    }

    /// `Sender` for the caller's faults, `Receiver` for ours (the AWS `<Type>`).
    pub fn fault_type(&self) -> &'static str {
        if self.status().is_server_error() {
            "Receiver"
        } else {
            "Sender"
        }
    }
}

fn portal_row(fault: PortalFault) -> (&'static str, StatusCode, &'static str) {
    use StatusCode as S;
    match fault {
        PortalFault::ForeignOrigin => (
            "CrossSiteRequest",
            S::FORBIDDEN,
            "The request came from another site and was refused.",
        ),
        PortalFault::CsrfToken => (
            "InvalidFormToken",
            S::FORBIDDEN,
            "The form was not sent by this browser's sign-in page, or is too old.",
        ),
        PortalFault::SessionRequired => (
            "SessionRequired",
            S::UNAUTHORIZED,
            "You are not signed in, or your session has ended.",
        ),
        PortalFault::LoginExpired => (
            "LoginExpired",
            S::BAD_REQUEST,
            "The sign-in took too long or was started in another browser.",
        ),
        PortalFault::LoginMismatch => (
            "LoginMismatch",
            S::BAD_REQUEST,
            "The answer of the identity provider does not belong to the sign-in this browser started.",
        ),
        PortalFault::LoginDenied => (
            "LoginDenied",
            S::FORBIDDEN,
            "Your identity provider did not sign you in.",
        ),
        PortalFault::WrongClient => (
            "InvalidIdentityToken",
            S::BAD_REQUEST,
            "The identity token was not issued to this sign-in portal.",
        ),
        PortalFault::InvalidCredentialsParameter => (
            "InvalidCredentialsParameter",
            S::BAD_REQUEST,
            "Invalid credentials parameter. The request sent by the client was syntactically incorrect.",
        ),
        PortalFault::InvalidSigninToken => (
            "InvalidSigninToken",
            S::BAD_REQUEST,
            "The sign-in token is not valid: it has expired, was used already, or was not issued here.",
        ),
        PortalFault::IdentityTooLarge => (
            "IdentityTooLarge",
            S::BAD_REQUEST,
            "Your identity carries too many claims or attributes (groups, roles) to sign in a terminal here: ask your administrator to have the identity provider send fewer.",
        ),
        PortalFault::InvalidUserCode => (
            "InvalidUserCode",
            S::BAD_REQUEST,
            "No sign-in request waits for this code: check the code your terminal shows, or start again there (codes last ten minutes and are used once).",
        ),
    }
}

fn sso_oidc_row(fault: SsoOidcFault) -> (&'static str, StatusCode, &'static str) {
    use StatusCode as S;
    match fault {
        SsoOidcFault::AuthorizationPending => (
            "AuthorizationPendingException",
            S::BAD_REQUEST,
            "The authorization has not been approved yet.",
        ),
        SsoOidcFault::SlowDown => (
            "SlowDownException",
            S::BAD_REQUEST,
            "Polled too often: wait longer between requests.",
        ),
        SsoOidcFault::ExpiredToken => (
            "ExpiredTokenException",
            S::BAD_REQUEST,
            "The device code or token has expired.",
        ),
        SsoOidcFault::InvalidGrant => (
            "InvalidGrantException",
            S::BAD_REQUEST,
            "The grant is not valid: it was not issued to this client, was used, or was not issued here.",
        ),
        SsoOidcFault::InvalidClient => (
            "InvalidClientException",
            S::UNAUTHORIZED,
            "The client is not registered here, or its secret is wrong or has expired.",
        ),
        SsoOidcFault::InvalidRequest(m) => ("InvalidRequestException", S::BAD_REQUEST, m),
        SsoOidcFault::UnsupportedGrantType => (
            "UnsupportedGrantTypeException",
            S::BAD_REQUEST,
            "The grant type is not supported.",
        ),
        SsoOidcFault::AccessDenied => (
            "AccessDeniedException",
            S::BAD_REQUEST,
            "The authorization was denied.",
        ),
        SsoOidcFault::InvalidScope => (
            "InvalidScopeException",
            S::BAD_REQUEST,
            "A requested scope is not supported.",
        ),
        SsoOidcFault::InvalidRedirectUri => (
            "InvalidRedirectUriException",
            S::BAD_REQUEST,
            "Redirect URIs must be loopback http URLs (http://127.0.0.1/... or http://[::1]/...).",
        ),
        SsoOidcFault::InvalidClientMetadata(m) => {
            ("InvalidClientMetadataException", S::BAD_REQUEST, m)
        }
        SsoOidcFault::UnauthorizedClient => (
            "UnauthorizedClientException",
            S::BAD_REQUEST,
            "The client did not register this grant type.",
        ),
    }
}

fn sso_portal_row(fault: SsoPortalFault) -> (&'static str, StatusCode, &'static str) {
    use StatusCode as S;
    match fault {
        SsoPortalFault::InvalidRequest(m) => ("InvalidRequestException", S::BAD_REQUEST, m),
        SsoPortalFault::Unauthorized => (
            "UnauthorizedException",
            S::UNAUTHORIZED,
            "Session token not found or invalid: sign in again.",
        ),
        SsoPortalFault::ResourceNotFound(m) => ("ResourceNotFoundException", S::NOT_FOUND, m),
    }
}

fn validation_message(violations: &[Violation]) -> String {
    let n = violations.len();
    let noun = if n == 1 { "error" } else { "errors" };
    let parts: Vec<String> = violations.iter().map(Violation::describe).collect();
    format!("{n} validation {noun} detected: {}", parts.join("; "))
}

/// AWS answers a refused signature or key with 403, a malformed one with 400; a key that
/// cannot be looked up now gets 503.
fn auth_status(e: SigV4Error) -> StatusCode {
    match e {
        SigV4Error::MissingAuthenticationToken
        | SigV4Error::InvalidClientTokenId
        | SigV4Error::SignatureDoesNotMatch
        | SigV4Error::WrongService
        | SigV4Error::ExpiredToken => StatusCode::FORBIDDEN,
        SigV4Error::IncompleteSignature(_) | SigV4Error::RequestExpired => StatusCode::BAD_REQUEST,
        SigV4Error::LookupUnavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// AWS's words for each authentication failure.
fn auth_message(e: SigV4Error) -> &'static str {
    match e {
        SigV4Error::MissingAuthenticationToken => "Request is missing Authentication Token",
        SigV4Error::IncompleteSignature(why) => why,
        SigV4Error::InvalidClientTokenId => {
            "The security token included in the request is invalid."
        }
        SigV4Error::SignatureDoesNotMatch => {
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method."
        }
        SigV4Error::WrongService => {
            "Credential should be scoped to correct service: the one that receives the request."
        }
        SigV4Error::RequestExpired => "Request has expired.",
        SigV4Error::ExpiredToken => "The security token included in the request is expired",
        SigV4Error::LookupUnavailable => {
            "The service cannot check the access key now. Please try again later."
        }
    }
}

/// The fixed words for each check a federation token or assertion failed (never derived from
/// input).
fn token_fault_message(fault: TokenFault) -> &'static str {
    match fault {
        TokenFault::Malformed => "The ID token provided is not a valid JWT.",
        TokenFault::UnknownIssuer => {
            "No OpenIDConnect provider found in your account for the token's issuer."
        }
        TokenFault::Issuer => "Incorrect token issuer.",
        TokenFault::Audience => "Incorrect token audience.",
        TokenFault::Algorithm => "The token's signing algorithm is not allowed for this provider.",
        TokenFault::UnknownKey => "The token's signing key is not known to the provider.",
        TokenFault::Signature => "The token signature could not be verified.",
        TokenFault::NotYetValid => "The token is not yet valid.",
        TokenFault::Claims => "The token is missing a required claim or has a malformed claim.",
        TokenFault::Nonce => "The token's nonce does not match the sign-in request.",
        TokenFault::AccessTokenHash => {
            "The token's at_hash does not match the access token it came with."
        }
        TokenFault::UnknownProvider => {
            "The PrincipalArn does not name a SAML provider of this service."
        }
        TokenFault::Saml(fault) => saml_fault_message(fault),
        TokenFault::Replay => "The SAML assertion has already been used.",
        TokenFault::Attribute => {
            "The SAML assertion lacks a required AWS attribute or one is invalid."
        }
    }
}

fn saml_fault_message(fault: SamlFault) -> &'static str {
    match fault {
        SamlFault::Malformed => "The SAML assertion is not a valid base64-encoded SAML response.",
        SamlFault::Signature => "Response signature invalid.",
        SamlFault::Algorithm => "The SAML response uses a signature algorithm that is not allowed.",
        SamlFault::Structure => "The SAML response does not have the required structure.",
        SamlFault::Encrypted => "Encrypted SAML assertions are not accepted from this provider.",
        SamlFault::Decryption => "The encrypted SAML assertion could not be decrypted.",
        SamlFault::Issuer => "The SAML issuer does not match the identity provider.",
        SamlFault::Status => "The SAML response does not report success.",
        SamlFault::Audience => {
            "The SAML assertion audience restriction does not include this service."
        }
        SamlFault::Recipient => "The SAML assertion recipient is not this service.",
        SamlFault::Destination => "The SAML response destination is not this service.",
        SamlFault::SubjectConfirmation => {
            "The SAML assertion lacks a valid bearer subject confirmation."
        }
        SamlFault::Subject => "The SAML assertion has no NameID.",
        SamlFault::NotYetValid => "The SAML assertion is not yet valid.",
        SamlFault::InResponseTo => "The SAML response does not answer this sign-in request.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replayed_one_time_credentials_are_told_apart() {
        let assertion = ApiError::InvalidIdentityToken {
            fault: TokenFault::Replay,
            detail: String::new(),
        };
        assert_eq!(assertion.replayed(), Some(Replayed::SamlAssertion));
        let code = ApiError::AccessDeniedMessage(MFA_CODE_REUSED);
        assert_eq!(code.replayed(), Some(Replayed::MfaCode));
        assert_eq!(ApiError::ExpiredToken.replayed(), None);
        let other_denial = ApiError::AccessDeniedMessage("MultiFactorAuthentication failed");
        assert_eq!(other_denial.replayed(), None);
    }

    /// The statuses of botocore's `sso-oidc` 2019-06-10 model: every exception 400 but
    /// `InvalidClientException`, 401.
    #[test]
    fn sso_oidc_faults_have_the_models_names_and_statuses() {
        use SsoOidcFault as F;
        let rows = [
            (
                F::AuthorizationPending,
                "AuthorizationPendingException",
                400,
            ),
            (F::SlowDown, "SlowDownException", 400),
            (F::ExpiredToken, "ExpiredTokenException", 400),
            (F::InvalidGrant, "InvalidGrantException", 400),
            (F::InvalidClient, "InvalidClientException", 401),
            (F::InvalidRequest("x"), "InvalidRequestException", 400),
            (
                F::UnsupportedGrantType,
                "UnsupportedGrantTypeException",
                400,
            ),
            (F::AccessDenied, "AccessDeniedException", 400),
            (F::InvalidScope, "InvalidScopeException", 400),
            (F::InvalidRedirectUri, "InvalidRedirectUriException", 400),
            (
                F::InvalidClientMetadata("x"),
                "InvalidClientMetadataException",
                400,
            ),
            (F::UnauthorizedClient, "UnauthorizedClientException", 400),
        ];
        for (fault, code, status) in rows {
            let e = ApiError::SsoOidc(fault);
            assert_eq!((e.code(), e.status().as_u16()), (code, status), "{fault:?}");
            assert!(!e.message().is_empty());
            assert!(
                fault
                    .oauth_error()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_')
            );
        }
    }

    /// The statuses of botocore's `sso` 2019-06-10 model.
    #[test]
    fn sso_portal_faults_have_the_models_names_and_statuses() {
        use SsoPortalFault as F;
        for (fault, code, status) in [
            (F::InvalidRequest("x"), "InvalidRequestException", 400),
            (F::Unauthorized, "UnauthorizedException", 401),
            (F::ResourceNotFound("x"), "ResourceNotFoundException", 404),
        ] {
            let e = ApiError::SsoPortal(fault);
            assert_eq!((e.code(), e.status().as_u16()), (code, status), "{fault:?}");
            assert!(!e.message().is_empty());
        }
    }

    #[test]
    fn validation_message_counts_and_joins_like_aws() {
        let e = ApiError::Validation(vec![
            Violation {
                member: "roleSessionName",
                value: Some("a b".into()),
                constraint: "Member must satisfy regular expression pattern: [\\w+=,.@-]*".into(),
                missing: false,
            },
            Violation {
                member: "roleArn",
                value: None,
                constraint: "Member must not be null".into(),
                missing: true,
            },
        ]);
        assert_eq!(
            e.message(),
            "2 validation errors detected: Value 'a b' at 'roleSessionName' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: [\\w+=,.@-]*; \
             Value null at 'roleArn' failed to satisfy constraint: Member must not be null"
        );
        assert_eq!(e.code(), "ValidationError");
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn status_and_type_follow_the_table() {
        let denied = ApiError::AccessDenied {
            action: "sts:AssumeRoleWithWebIdentity",
            detail: String::new(),
        };
        assert_eq!(denied.status(), StatusCode::FORBIDDEN);
        assert_eq!(denied.fault_type(), "Sender");
        assert_eq!(ApiError::Internal("x".into()).fault_type(), "Receiver");
        assert_eq!(ApiError::ExpiredToken.code(), "ExpiredTokenException");
        assert_eq!(
            ApiError::IdpCommunication("x".into()).code(),
            "IDPCommunicationError"
        );
        assert_eq!(ApiError::Unauthorized.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            ApiError::Auth(SigV4Error::RequestExpired).status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(ApiError::NotFound.status(), StatusCode::NOT_FOUND);
        for (fault, code, status) in [
            (PortalFault::ForeignOrigin, "CrossSiteRequest", 403),
            (PortalFault::CsrfToken, "InvalidFormToken", 403),
            (PortalFault::SessionRequired, "SessionRequired", 401),
            (PortalFault::LoginExpired, "LoginExpired", 400),
            (PortalFault::LoginMismatch, "LoginMismatch", 400),
            (PortalFault::LoginDenied, "LoginDenied", 403),
            (PortalFault::WrongClient, "InvalidIdentityToken", 400),
            (
                PortalFault::InvalidCredentialsParameter,
                "InvalidCredentialsParameter",
                400,
            ),
            (PortalFault::InvalidSigninToken, "InvalidSigninToken", 400),
            (PortalFault::InvalidUserCode, "InvalidUserCode", 400),
            (PortalFault::IdentityTooLarge, "IdentityTooLarge", 400),
        ] {
            let e = ApiError::Portal(fault);
            assert_eq!((e.code(), e.status().as_u16()), (code, status));
            assert_eq!(e.fault_type(), "Sender");
        }
    }

    #[test]
    fn internal_details_never_reach_the_client() {
        let e = ApiError::Internal("sled: disk /secret/path full".into());
        assert!(!e.message().contains("sled"));
        let e = ApiError::InvalidIdentityToken {
            fault: TokenFault::Audience,
            detail: "aud was evil-client".into(),
        };
        assert_eq!(e.message(), "Incorrect token audience.");
    }

    #[test]
    fn saml_client_messages_are_fixed_and_distinct() {
        let faults = [
            SamlFault::Malformed,
            SamlFault::Signature,
            SamlFault::Algorithm,
            SamlFault::Structure,
            SamlFault::Encrypted,
            SamlFault::Decryption,
            SamlFault::Issuer,
            SamlFault::Status,
            SamlFault::Audience,
            SamlFault::Recipient,
            SamlFault::Destination,
            SamlFault::SubjectConfirmation,
            SamlFault::Subject,
            SamlFault::NotYetValid,
            SamlFault::InResponseTo,
        ];
        let messages: std::collections::HashSet<&str> =
            faults.iter().map(|f| saml_fault_message(*f)).collect();
        assert_eq!(messages.len(), faults.len());
        assert!(messages.iter().all(|m| !m.is_empty()));
    }
}
