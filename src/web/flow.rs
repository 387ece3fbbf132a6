//! From an IdP's answer to a role: the OIDC callback, the role picker (and its JSON twin),
//! and issuing a role's credentials for a portal session through `federation` (trust decided
//! again at every issue, durable record, audit, revocation).

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::Serialize;

use super::Visit;
use super::cookies::CookieKind;
use super::login::LoginFlow;
use super::session::{Current, PortalSession};
use crate::audit::{AuditDraft, EventName};
use crate::config::signin::SigninKind;
use crate::config::{Federation, Role};
use crate::error::{ApiError, PortalFault};
use crate::federation::{
    AssumableRole, Domain, Issued, Request, SessionAsk, assumable_roles, assume_role_signed_in,
    assume_role_with_identity, audit_identity, record_refusal, saml_provider_of,
};
use crate::identity::FederatedIdentity;
use crate::idp::oidc::relying_party::{CodeExchange, RelyingPartyError};
use crate::idp::{Expectations, SubjectCredential};

/// Where the person goes once a role is chosen.
pub const CONSOLE_PATH: &str = "/console";
/// The role picker of a signed-in person.
pub const ROLES_PATH: &str = "/signin/roles";

/// The longest session the picker offers (the STS maximum); each role caps it at its own.
const MAX_CHOICE_SECONDS: u32 = 43_200;

/// The answer of the OIDC callback's checks: who signed in, at which IdP.
pub(super) struct SignedIn {
    pub idp: String,
    pub identity: FederatedIdentity,
    /// Where the login was started for.
    pub return_to: String,
}

/// `GET /signin/oidc/callback?state&code` (or `?state&error`): the flow of this browser's login
/// cookie must match `state`; the code is exchanged at the IdP's token endpoint (with the
/// PKCE verifier, and the client secret when there is one); the ID token is verified by the
/// IdP's verifier, the same as `AssumeRoleWithWebIdentity`'s, with the flow's nonce and the
/// access token's `at_hash`; it must be issued to the portal's client.
pub(super) async fn finish_oidc(
    portal: &super::Portal,
    visit: &Visit<'_>,
    params: &[(String, String)],
) -> Result<SignedIn, ApiError> {
    let keyring = visit.keyring();
    let flow: LoginFlow = portal
        .cookies
        .open(&keyring, CookieKind::Login, visit.cookies(), visit.now)
        .map_err(|e| {
            tracing::info!(reason = %e, "no login in progress");
            ApiError::Portal(PortalFault::LoginExpired)
        })?;
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let state_matches = param("state").is_some_and(|s| {
        aws_lc_rs::constant_time::verify_slices_are_equal(s.as_bytes(), flow.state.as_bytes())
            .is_ok()
    });
    if !state_matches {
        return Err(ApiError::Portal(PortalFault::LoginMismatch));
    }
    if let Some(error) = param("error") {
        tracing::info!(idp = %flow.idp, error = %crate::idp::truncated(error), "the IdP refused the login");
        return Err(ApiError::Portal(PortalFault::LoginDenied));
    }
    let code = param("code")
        .filter(|c| !c.is_empty())
        .ok_or(ApiError::Portal(PortalFault::LoginMismatch))?;
    let federation = visit.state.federation();
    // The IdP may have been removed by a reload while the person was away.
    let oidc = federation
        .signin
        .iter()
        .find(|idp| idp.name == flow.idp)
        .and_then(|idp| match &idp.kind {
            SigninKind::Oidc(oidc) => Some(oidc.clone()),
            SigninKind::Saml(_) => None,
        })
        .ok_or(ApiError::Portal(PortalFault::LoginExpired))?;
    let (settings, verifier) = federation
        .idps
        .built(&flow.idp)
        .ok_or(ApiError::Portal(PortalFault::LoginExpired))?;
    let insecure_http = match settings {
        crate::idp::IdpSettings::Oidc(o) => o.insecure_http,
        _ => false,
    };
    let party = portal.relying_parties.of(&oidc.issuer, insecure_http)?;
    let endpoints = party
        .endpoints(visit.now)
        .await
        .map_err(|e| ApiError::IdpCommunication(e.to_string()))?;
    let redirect_uri = portal.public_url.join(super::login::OIDC_CALLBACK_PATH);
    let tokens = party
        .exchange_code(
            &endpoints,
            &CodeExchange {
                client_id: &oidc.client_id,
                client_secret: oidc.client_secret.as_ref(),
                redirect_uri: &redirect_uri,
                code,
                pkce_verifier: &flow.pkce_verifier,
            },
        )
        .await
        .map_err(|e| match e {
            // A code used before, expired, or not this client's: the login must start again.
            RelyingPartyError::TokenRefused(why) => {
                tracing::info!(idp = %flow.idp, reason = %why, "the token endpoint refused the code");
                ApiError::Portal(PortalFault::LoginExpired)
            }
            other => ApiError::IdpCommunication(other.to_string()),
        })?;
    let identity = verifier
        .verify(
            &SubjectCredential::WebIdentityToken(&tokens.id_token),
            &Expectations {
                nonce: Some(&flow.nonce),
                access_token: Some(tokens.access_token.expose()),
                in_response_to: None,
            },
            visit.now,
        )
        .await
        .map_err(ApiError::from)?;
    if !issued_to(&identity, &oidc.client_id) {
        return Err(ApiError::Portal(PortalFault::WrongClient));
    }
    tracing::info!(idp = %flow.idp, subject = %identity.subject, "signed in");
    Ok(SignedIn {
        idp: flow.idp,
        identity,
        return_to: flow.return_to,
    })
}

/// Whether the ID token was issued to `client_id` (OIDC Core §3.1.3.7: `aud` contains it; with
/// an `azp`, that is it).
fn issued_to(identity: &FederatedIdentity, client_id: &str) -> bool {
    let audiences = identity
        .claims
        .get("oaud")
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let azp_ok = identity
        .claims
        .get("azp")
        .and_then(|v| v.first())
        .is_none_or(|azp| azp == client_id);
    audiences.iter().any(|a| a == client_id) && azp_ok
}

/// One account of the picker.
#[derive(Debug, Serialize)]
pub struct PickerAccount {
    #[serde(rename = "accountId")]
    pub id: String,
    #[serde(rename = "accountName")]
    pub name: Option<String>,
    pub roles: Vec<PickerRole>,
}

/// One role of the picker.
#[derive(Debug, Serialize)]
pub struct PickerRole {
    #[serde(rename = "roleArn")]
    pub arn: String,
    #[serde(rename = "roleName")]
    pub name: String,
    #[serde(rename = "maxSessionDuration")]
    pub max_session_duration: u32,
}

/// The roles `identity` may assume, by account (in account id order, roles by ARN), with the
/// accounts' names.
pub fn accounts(federation: &Federation, roles: &[AssumableRole]) -> Vec<PickerAccount> {
    let mut by_account: BTreeMap<&str, Vec<PickerRole>> = BTreeMap::new();
    for r in roles {
        by_account
            .entry(&r.role.account_id)
            .or_default()
            .push(PickerRole {
                arn: r.role.arn.clone(),
                name: r.role.name.clone(),
                max_session_duration: r.role.max_session_duration,
            });
    }
    by_account
        .into_iter()
        .map(|(id, roles)| PickerAccount {
            id: id.to_owned(),
            name: federation.accounts.get(id).cloned(),
            roles,
        })
        .collect()
}

/// The roles a portal session's identity may assume now (none for a session signed in with
/// credentials: it has no identity of an IdP to trust).
pub(super) fn assumable(visit: &Visit<'_>, session: &PortalSession) -> Vec<AssumableRole> {
    match &session.identity {
        Some(identity) => assumable_roles(
            &visit.state.federation(),
            identity,
            &session.session_name,
            visit.origin,
            visit.now,
        ),
        None => Vec::new(),
    }
}

/// The durations the picker offers, in seconds, up to the longest role's maximum.
pub fn duration_choices(longest: u32) -> Vec<(u32, String)> {
    let mut choices = vec![(900, "15 minutes".to_owned())];
    for hours in 1..=12u32 {
        let seconds = hours * 3600;
        if seconds > longest.min(MAX_CHOICE_SECONDS) {
            break;
        }
        let unit = if hours == 1 { "hour" } else { "hours" };
        choices.push((seconds, format!("{hours} {unit}")));
    }
    choices
}

/// What issuing for a portal session is asked.
pub(super) struct Choice<'a> {
    pub role_arn: &'a str,
    /// Seconds the person chose, capped by the role's maximum; `None`: the default.
    pub duration: Option<u32>,
    /// The first issue for a SAML sign-in uses the assertion up.
    pub sign_in: bool,
    /// The audit event's name.
    pub event: EventName,
}

/// Issue credentials of `choice.role_arn` for `session`'s identity through `federation`,
/// record the audit event (with the portal as its source), and keep them as the session's
/// current credentials.
pub(super) async fn issue(
    visit: &Visit<'_>,
    session: &mut PortalSession,
    choice: &Choice<'_>,
) -> Result<Issued, ApiError> {
    let federation = visit.state.federation();
    let Some(identity) = session.identity.clone() else {
        return Err(ApiError::AccessDenied {
            action: "sts:AssumeRole",
            detail: "a session signed in with credentials reaches roles by chaining only".into(),
        });
    };
    let roles = assumable(visit, session);
    let offered = roles.iter().find(|r| r.role.arn == choice.role_arn);
    let duration = duration_for(choice.duration, offered.map(|r| r.role.as_ref()));
    let mut audit = AuditDraft::new(
        choice.event,
        visit.origin,
        serde_json::json!({
            "roleArn": crate::audit::cut(choice.role_arn, 256),
            "durationSeconds": duration,
            "idp": session.idp,
            "via": "portal",
        }),
        visit.now,
    );
    audit.identify(audit_identity(&identity, offered));
    // A SAML session names the provider the assertion grants the role with; a role it does
    // not grant is then refused by `federation` as the API refuses it (IDPRejectedClaim).
    let provider_arn = offered
        .and_then(|r| r.provider_arn.clone())
        .or_else(|| saml_provider_of(&identity, choice.role_arn));
    let ask = SessionAsk {
        role_arn: choice.role_arn,
        provider_arn: provider_arn.as_deref(),
        session_name: Some(&session.session_name),
        duration,
        policy: None,
        policy_arns: &[],
    };
    let domain = Domain {
        federation: &federation,
        issuer: visit.state.issuer(),
        principals: visit.state.principals(),
    };
    let request = Request {
        origin: visit.origin,
        audit: &audit,
        now: visit.now,
    };
    let issued = if choice.sign_in {
        assume_role_with_identity(&domain, &identity, &ask, &request).await
    } else {
        assume_role_signed_in(&domain, &identity, &ask, &request).await
    };
    match issued {
        Ok(issued) => {
            session.current = Some(Current {
                session_token: issued.credentials.session_token.expose().to_owned(),
                chained_from: None,
            });
            Ok(issued)
        }
        Err(err) => {
            record_failure(visit, audit, &err).await;
            Err(err)
        }
    }
}

/// Record a refused issue in the audit trail (never fails the answer: the refusal stands).
pub(super) async fn record_failure(visit: &Visit<'_>, audit: AuditDraft, err: &ApiError) {
    record_refusal(visit.state.store(), audit, err).await;
}

/// The duration to ask for: the person's choice within the role's maximum (the picker offers
/// one list for every role), or the default.
fn duration_for(chosen: Option<u32>, role: Option<&Role>) -> Option<i64> {
    let chosen = chosen?;
    let cap = role.map_or(MAX_CHOICE_SECONDS, |r| r.max_session_duration);
    Some(i64::from(chosen.clamp(900, cap.max(900))))
}

/// The chosen duration of a form's `duration` field: whole seconds, or nothing.
pub(super) fn parse_duration(value: Option<&str>) -> Result<Option<u32>, ApiError> {
    match value.filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|s| (900..=MAX_CHOICE_SECONDS).contains(s))
            .map(Some)
            .ok_or(ApiError::ValidationMessage(
                "The session duration must be between 900 and 43200 seconds.",
            )),
    }
}

/// Whether `now` is past the credentials' expiry.
pub fn expired(expires_at: i64, now: SystemTime) -> bool {
    crate::clock::unix_seconds(now) >= expires_at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_stop_at_the_longest_role() {
        let choices = duration_choices(3600);
        assert_eq!(
            choices.iter().map(|c| c.0).collect::<Vec<_>>(),
            vec![900, 3600]
        );
        assert_eq!(duration_choices(43_200).len(), 13);
        assert_eq!(duration_for(Some(43_200), None), Some(43_200));
        assert_eq!(duration_for(None, None), None);
        assert!(parse_duration(Some("899")).is_err());
        assert!(parse_duration(Some("x")).is_err());
        assert_eq!(parse_duration(Some("")).unwrap(), None);
        assert_eq!(parse_duration(Some("3600")).unwrap(), Some(3600));
    }
}
