//! `POST /saml`: the assertion consumer, AWS-compatible. The IdP (or a tool such as saml2aws)
//! posts `SAMLResponse` and an optional `RelayState`; the picker posts them again with the
//! chosen `roleIndex` (and its form token).
//!
//! - Without `roleIndex`: several roles, the picker (the assertion is not used up, so tools
//!   that read the page and then call `AssumeRoleWithSAML` keep working); one role, signed in
//!   to it (as AWS); none, the page that says so.
//! - With `roleIndex`: the form token of the picker (bound to the assertion) and a same-origin
//!   `Origin` are required, so another site cannot post a person into someone else's session;
//!   the assertion is used up and the person signed in.
//!
//! The first POST is cross-site by nature: it relies on no cookie but the optional SAML login
//! cookie, whose AuthnRequest ID the Response must then answer (`saml::verify_response`).

use std::time::Duration;

use super::console::{PickerForm, ROLE_FIELD, field};
use super::cookies::CookieKind;
use super::flow::{self, Choice};
use super::session::PortalSession;
use super::{Page, Portal, Visit, csrf, saml};
use crate::audit::EventName;
use crate::clock::unix_seconds;
use crate::error::ApiError;

impl Portal {
    /// `POST /saml` (see the module documentation).
    pub async fn saml_acs(
        &self,
        visit: &Visit<'_>,
        form: &[(String, String)],
    ) -> Result<Page, ApiError> {
        let response = field(form, "SAMLResponse")
            .filter(|r| !r.is_empty())
            .ok_or(ApiError::ValidationMessage(
                "The form carries no SAMLResponse.",
            ))?;
        let relay_state = field(form, "RelayState").filter(|r| !r.is_empty());
        let keyring = visit.keyring();
        let pending = saml::pending_flow(self.cookies, &keyring, visit.cookies(), visit.now);
        // An SSO page (device approval, authorize) is returned to only from this browser's own
        // pending login for it (its sealed flow says where): a Response another site posts with
        // such a RelayState must not sign the browser in there as someone else.
        let sso_return = pending
            .as_ref()
            .map(|flow| flow.return_to.clone())
            .filter(|path| super::is_return_path(path));
        // A deep link of another site (AWS's console, say) is not followed: the console here.
        let return_to = sso_return.clone().unwrap_or_else(|| {
            relay_state
                .filter(|r| super::is_local_path(r) && !super::is_return_path(r))
                .unwrap_or(flow::CONSOLE_PATH)
                .to_owned()
        });
        let federation = visit.state.federation();
        let signed_in =
            saml::verify_response(response, pending.as_ref(), &federation, visit.now).await?;
        let binding = form_binding(&signed_in.identity);
        let mut length = self.session_length;
        if let Some(ends) = signed_in
            .identity
            .saml
            .as_ref()
            .and_then(|facts| facts.session_not_on_or_after)
        {
            // The IdP's SessionNotOnOrAfter ends the portal session too.
            let left = ends.duration_since(visit.now).unwrap_or(Duration::ZERO);
            length = length.min(left);
        }
        let mut session = PortalSession::new(
            &signed_in.provider,
            signed_in.identity,
            visit.now,
            length,
            &aws_lc_rs::rand::SystemRandom::new(),
        )?;
        if unix_seconds(visit.now) >= session.expires_at {
            return Err(ApiError::ExpiredToken);
        }
        session.unsolicited = pending.is_none();
        if sso_return.is_some() {
            // Signed in for an SSO page (device approval, authorize): no role is issued now, so
            // the assertion is used up here; roles are issued later from the session's identity.
            use_up(visit, &session).await?;
            tracing::info!(idp = %session.idp, "signed in with a SAML assertion for an SSO page");
            let cookies = session.seal(self.cookies, &keyring, visit.now)?;
            return Ok(Page::see_other(&return_to)
                .with_cookies(&cookies)
                .with_cookies(&self.cookies.clear(CookieKind::SamlLogin)));
        }
        let roles = flow::assumable(visit, &session);
        let chosen = match field(form, ROLE_FIELD) {
            Some(role_arn) => {
                csrf::check(
                    &keyring,
                    &self.public_url,
                    visit.origins(),
                    &binding,
                    field(form, csrf::FIELD),
                    visit.now,
                )?;
                Some(role_arn.to_owned())
            }
            None => match roles.as_slice() {
                [only] => Some(only.role.arn.clone()),
                _ => None,
            },
        };
        let Some(role_arn) = chosen else {
            let accounts = flow::accounts(&federation, &roles);
            return self.picker(
                visit,
                &session.display_identity(),
                &super::console::idp_display_name(visit, &session.idp),
                &accounts,
                &PickerForm {
                    action: crate::config::signin::ACS_PATH,
                    saml_response: Some(response),
                    relay_state: Some(&return_to),
                },
                &binding,
            );
        };
        let duration = flow::parse_duration(field(form, "duration"))?;
        flow::issue(
            visit,
            &mut session,
            &Choice {
                role_arn: &role_arn,
                duration,
                sign_in: true,
                event: EventName::ConsoleLogin,
            },
        )
        .await?;
        tracing::info!(idp = %session.idp, "signed in with a SAML assertion");
        let cookies = session.seal(self.cookies, &keyring, visit.now)?;
        Ok(Page::see_other(&return_to)
            .with_cookies(&cookies)
            .with_cookies(&self.cookies.clear(CookieKind::SamlLogin)))
    }
}

/// Use up the assertion `session` was signed in with (the replay cache remembers its ID until
/// it could no longer be used anyway): a second use is refused as the API refuses it.
async fn use_up(visit: &Visit<'_>, session: &PortalSession) -> Result<(), ApiError> {
    let Some((provider, facts)) = session
        .identity
        .as_ref()
        .and_then(|i| i.saml.as_ref().map(|facts| (&i.provider, facts)))
    else {
        return Ok(());
    };
    let key = crate::store::ReplayKey::saml_assertion(provider, &facts.assertion_id);
    let first = visit
        .state
        .store()
        .replay
        .remember_once(
            &key,
            unix_seconds(facts.not_on_or_after),
            unix_seconds(visit.now),
        )
        .await?;
    if first {
        Ok(())
    } else {
        Err(ApiError::InvalidIdentityToken {
            fault: crate::idp::TokenFault::Replay,
            detail: "a one-time credential was used before".into(),
        })
    }
}

/// What the picker's form token of a SAML sign-in is bound to: the assertion (its provider
/// and ID), so a token is good for the re-POST of that assertion only.
fn form_binding(identity: &crate::identity::FederatedIdentity) -> String {
    let id = identity
        .saml
        .as_ref()
        .map_or("", |facts| facts.assertion_id.as_str());
    format!("saml:{}:{id}", identity.provider)
}
