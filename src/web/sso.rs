//! The portal's pages of the SSO sign-in flows: the device flow's verification page
//! (`/device`: the person enters or confirms the user code a terminal shows, then approves or
//! denies) and the authorization code flow's consent (`/sso-oidc/authorize`, opened by
//! `aws sso login` or `stsbridge login`). Both need a portal session whose identity an IdP
//! vouched for: without one the person signs in first and comes back here.
//!
//! Device-code phishing sends someone a code or link to approve: the confirm page names the
//! application, the code, where the request came from and when, and says to approve only a code
//! one asked for oneself. Nothing is approved by a GET: the decision is a form with the
//! session-bound token, checked against the `Origin` header.

use serde::Serialize;

use super::console::{field, idp_display_name};
use super::session::PortalSession;
use super::{Layout, Page, Portal, Visit, csrf};
use crate::audit::{AuditDraft, EventName};
use crate::clock::{from_unix_seconds, iso8601};
use crate::config::signin::SigninIdp;
use crate::error::{ApiError, PortalFault};
use crate::sso::authorize::{self, AUTHORIZE_PATH, AuthorizeAsk, AuthorizeRefusal};
use crate::sso::devices;
use crate::sso::login::{Login, Person, seal_login};

/// The device flow's verification page.
pub const DEVICE_PATH: &str = crate::sso::device::VERIFICATION_PATH;

#[derive(Serialize)]
struct Hidden<'a> {
    name: &'static str,
    value: &'a str,
}

/// What the consent page shows.
struct Consent<'a> {
    client_name: &'a str,
    user_code: Option<&'a str>,
    requested_from: String,
    /// The person's own address, when the request came from another one: a device code sent
    /// by someone else is the phishing this page guards against.
    elsewhere: Option<String>,
    requested_at: String,
    action: &'static str,
    fields: Vec<Hidden<'a>>,
}

impl Portal {
    /// The portal session of `visit` with an identity an IdP vouched for at this browser's own
    /// request, if any (not one signed in with credentials, nor by an unsolicited assertion:
    /// another site can post those, and the person would approve as someone else).
    fn person_session(&self, visit: &Visit<'_>) -> Option<PortalSession> {
        self.session(visit)
            .ok()
            .filter(|s| s.identity.is_some() && !s.unsolicited)
    }

    /// The sign-in page that comes back to `return_to`.
    fn sign_in_first(&self, offered: &[SigninIdp], return_to: &str, request_id: &str) -> Page {
        self.signin(offered, false, false, Some(return_to), request_id)
    }

    /// `GET /sso-oidc/authorize?...`: refuse a request whose client or redirect URI is not
    /// known good (a page), send any other refusal back to the client, sign the person in
    /// first, then ask them to allow the client.
    pub async fn sso_authorize(
        &self,
        visit: &Visit<'_>,
        query: &str,
        request_id: &str,
    ) -> Result<Page, ApiError> {
        let ask = match self.authorize_ask(visit, query)? {
            Ok(ask) => ask,
            Err(location) => return Ok(Page::see_other(&location)),
        };
        let Some(session) = self.person_session(visit) else {
            let return_to = format!("{AUTHORIZE_PATH}?{query}");
            return Ok(self.sign_in_first(
                &visit.state.federation().signin,
                &return_to,
                request_id,
            ));
        };
        let redirect = reqwest::Url::parse(&ask.redirect_uri).ok();
        let port = redirect
            .as_ref()
            .and_then(reqwest::Url::port_or_known_default)
            .unwrap_or(80);
        // The answer redirects to the client's listener: the form may go there.
        let answer_origin = redirect
            .map(|u| u.origin().ascii_serialization())
            .filter(|origin| origin != "null");
        let page = self.consent(
            visit,
            &session,
            &Consent {
                client_name: &ask.client.client_name,
                user_code: None,
                requested_from: format!("a program on this computer (listening on port {port})"),
                elsewhere: None,
                requested_at: iso8601(visit.now),
                action: AUTHORIZE_PATH,
                fields: vec![Hidden {
                    name: "request",
                    value: query,
                }],
            },
            request_id,
        )?;
        Ok(match answer_origin {
            Some(origin) => page.with_form_target(&origin),
            None => page,
        })
    }

    /// `POST /sso-oidc/authorize`: the person's decision on the request the form carries
    /// (checked again): to the client's loopback listener with a code, or with `access_denied`.
    pub async fn sso_authorize_decide(
        &self,
        visit: &Visit<'_>,
        form: &[(String, String)],
    ) -> Result<Page, ApiError> {
        let session = self
            .person_session(visit)
            .ok_or(ApiError::Portal(PortalFault::SessionRequired))?;
        self.check_consent_form(visit, &binding(&session, None), form)?;
        let query = field(form, "request").unwrap_or_default();
        let ask = match self.authorize_ask(visit, query)? {
            Ok(ask) => ask,
            Err(location) => return Ok(Page::see_other(&location)),
        };
        let allowed = decision(form)?;
        let mut audit = self.consent_audit(visit, &session, &ask.client.client_name, allowed);
        if !allowed {
            record(visit, audit.done()).await;
            return Ok(Page::see_other(&authorize::deny(&ask)));
        }
        let login = new_login(visit, &session, &ask.client_id, &ask.client.client_name)?;
        let location = authorize::allow(
            &visit.keyring(),
            &ask,
            &login,
            visit.now,
            &aws_lc_rs::rand::SystemRandom::new(),
        )?;
        audit.identify(crate::federation::audit_identity(&login.identity, None));
        record(
            visit,
            audit.succeeded(serde_json::json!({"loginId": login.id})),
        )
        .await;
        tracing::info!(login = %login.id, "authorization code flow allowed");
        Ok(Page::see_other(&location))
    }

    /// The checked authorization request of `query`: `Err(location)` for a refusal that goes
    /// back to the client.
    fn authorize_ask(
        &self,
        visit: &Visit<'_>,
        query: &str,
    ) -> Result<Result<AuthorizeAsk, String>, ApiError> {
        let params: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|_| ApiError::ValidationMessage("The query string is not well-formed."))?;
        match authorize::check(&visit.keyring(), &params, visit.now) {
            Ok(ask) => Ok(Ok(ask)),
            Err(AuthorizeRefusal::Page(err)) => Err(err),
            Err(AuthorizeRefusal::Redirect { location }) => Ok(Err(location)),
        }
    }

    /// `GET /device[?user_code=...]`: sign the person in first; then the code entry form, or
    /// the confirm page of the pending authorization the code names.
    pub async fn device(
        &self,
        visit: &Visit<'_>,
        query: &str,
        request_id: &str,
    ) -> Result<Page, ApiError> {
        let params: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|_| ApiError::ValidationMessage("The query string is not well-formed."))?;
        let entered = field(&params, "user_code").filter(|c| !c.trim().is_empty());
        let user_code = match entered {
            Some(code) => Some(
                devices::normalize_user_code(code)
                    .ok_or(ApiError::Portal(PortalFault::InvalidUserCode))?,
            ),
            None => None,
        };
        let Some(session) = self.person_session(visit) else {
            let return_to = match &user_code {
                Some(code) => format!("{DEVICE_PATH}?user_code={code}"),
                None => DEVICE_PATH.to_owned(),
            };
            return Ok(self.sign_in_first(
                &visit.state.federation().signin,
                &return_to,
                request_id,
            ));
        };
        let Some(user_code) = user_code else {
            #[derive(Serialize)]
            struct Context<'a> {
                #[serde(flatten)]
                layout: Layout<'a>,
                identity: String,
                idp: String,
                action: &'static str,
            }
            return Ok(self.html(
                "device.html",
                Context {
                    layout: self.layout(),
                    identity: session.display_identity(),
                    idp: idp_display_name(visit, &session.idp),
                    action: DEVICE_PATH,
                },
                request_id,
            ));
        };
        // Each code tried counts as a login attempt: 20^8 codes live ten minutes, guessing one
        // (to approve someone's terminal as oneself) is throttled per source address.
        self.admit_login(visit)?;
        let pending = devices::pending(visit.state.store(), &user_code, visit.now)
            .await?
            .ok_or(ApiError::Portal(PortalFault::InvalidUserCode))?;
        self.consent(
            visit,
            &session,
            &Consent {
                client_name: &pending.client_name,
                user_code: Some(&user_code),
                requested_from: pending.requested_from.clone(),
                elsewhere: visit
                    .origin
                    .source_ip
                    .map(|ip| ip.to_string())
                    .filter(|mine| *mine != pending.requested_from),
                requested_at: iso8601(from_unix_seconds(pending.started_at)),
                action: DEVICE_PATH,
                fields: vec![Hidden {
                    name: "user_code",
                    value: &user_code,
                }],
            },
            request_id,
        )
    }

    /// `POST /device`: the person approves or denies the authorization of the form's code.
    pub async fn device_decide(
        &self,
        visit: &Visit<'_>,
        form: &[(String, String)],
        request_id: &str,
    ) -> Result<Page, ApiError> {
        let session = self
            .person_session(visit)
            .ok_or(ApiError::Portal(PortalFault::SessionRequired))?;
        let user_code = field(form, "user_code")
            .and_then(devices::normalize_user_code)
            .ok_or(ApiError::Portal(PortalFault::InvalidUserCode))?;
        // The form's token is bound to the code its confirm page showed (that page, a lookup,
        // is throttled): a code cannot be guessed by posting here.
        self.check_consent_form(visit, &binding(&session, Some(&user_code)), form)?;
        self.admit_login(visit)?;
        let allowed = decision(form)?;
        let store = visit.state.store();
        let pending = devices::pending(store, &user_code, visit.now)
            .await?
            .ok_or(ApiError::Portal(PortalFault::InvalidUserCode))?;
        let mut audit = self.consent_audit(visit, &session, &pending.client_name, allowed);
        let sealed = if allowed {
            let login = new_login(visit, &session, &pending.client_id, &pending.client_name)?;
            audit.identify(crate::federation::audit_identity(&login.identity, None));
            let until = from_unix_seconds(pending.expires_at);
            Some((
                login.id.clone(),
                seal_login(
                    &visit.keyring(),
                    &login,
                    until,
                    &aws_lc_rs::rand::SystemRandom::new(),
                )?,
            ))
        } else {
            None
        };
        let identity = sealed.as_ref().map(|(_, s)| s.clone());
        devices::decide(store, &user_code, identity, visit.now).await?;
        let response = match &sealed {
            Some((login_id, _)) => serde_json::json!({"loginId": login_id, "userCode": user_code}),
            None => serde_json::json!({"userCode": user_code}),
        };
        record(visit, audit.succeeded(response)).await;
        #[derive(Serialize)]
        struct Context<'a> {
            #[serde(flatten)]
            layout: Layout<'a>,
            outcome: &'static str,
            heading: &'static str,
            message: &'static str,
        }
        let (outcome, heading, message) = if allowed {
            (
                "approved",
                "Approved",
                "Your terminal or application now signs in. You can close this window.",
            )
        } else {
            (
                "denied",
                "Denied",
                "The request was refused; the application gets nothing. If you did not start it, tell your administrator.",
            )
        };
        Ok(self.html(
            "sso_done.html",
            Context {
                layout: self.layout(),
                outcome,
                heading,
                message,
            },
            request_id,
        ))
    }

    /// The consent page of `consent` for `session`.
    fn consent(
        &self,
        visit: &Visit<'_>,
        session: &PortalSession,
        consent: &Consent<'_>,
        request_id: &str,
    ) -> Result<Page, ApiError> {
        #[derive(Serialize)]
        struct Context<'a> {
            #[serde(flatten)]
            layout: Layout<'a>,
            identity: String,
            idp: String,
            client_name: &'a str,
            user_code: Option<&'a str>,
            requested_from: &'a str,
            elsewhere: Option<&'a str>,
            requested_at: &'a str,
            access_until: String,
            action: &'static str,
            fields: &'a [Hidden<'a>],
            csrf_token: String,
        }
        let context = Context {
            layout: self.layout(),
            identity: session.display_identity(),
            idp: idp_display_name(visit, &session.idp),
            client_name: consent.client_name,
            user_code: consent.user_code,
            requested_from: &consent.requested_from,
            elsewhere: consent.elsewhere.as_deref(),
            requested_at: &consent.requested_at,
            access_until: iso8601(login_end(session)),
            action: consent.action,
            fields: &consent.fields,
            csrf_token: self.form_token(visit, &binding(session, consent.user_code))?,
        };
        Ok(self.html("sso_consent.html", context, request_id))
    }

    /// The form token and `Origin` check of a consent form.
    fn check_consent_form(
        &self,
        visit: &Visit<'_>,
        binding: &str,
        form: &[(String, String)],
    ) -> Result<(), ApiError> {
        csrf::check(
            &visit.keyring(),
            &self.public_url,
            visit.origins(),
            binding,
            field(form, csrf::FIELD),
            visit.now,
        )
    }

    fn consent_audit(
        &self,
        visit: &Visit<'_>,
        session: &PortalSession,
        client_name: &str,
        allowed: bool,
    ) -> AuditDraft {
        AuditDraft::new(
            EventName::AuthorizeDevice,
            visit.origin,
            serde_json::json!({
                "clientName": crate::audit::cut(client_name, 128),
                "decision": if allowed { "allow" } else { "deny" },
                "idp": session.idp,
                "portalSession": session.id,
            }),
            visit.now,
        )
    }
}

/// What a consent form's token is bound to: the portal session, and for a device the user code
/// its confirm page showed.
fn binding(session: &PortalSession, user_code: Option<&str>) -> String {
    match user_code {
        Some(code) => format!("{}:device:{code}", session.id),
        None => format!("{}:authorize", session.id),
    }
}

/// The form's `decision`: `allow` or `deny`.
fn decision(form: &[(String, String)]) -> Result<bool, ApiError> {
    match field(form, "decision") {
        Some("allow") => Ok(true),
        Some("deny") => Ok(false),
        _ => Err(ApiError::ValidationMessage(
            "The form's decision must be allow or deny.",
        )),
    }
}

/// When a login made from `session` would end.
fn login_end(session: &PortalSession) -> std::time::SystemTime {
    let saml_end = session
        .identity
        .as_ref()
        .and_then(|i| i.saml.as_ref())
        .and_then(|facts| facts.session_not_on_or_after);
    match saml_end {
        Some(end) => end.min(session.ends()),
        None => session.ends(),
    }
}

/// A new login of `session`'s person for the client `client_id`.
fn new_login(
    visit: &Visit<'_>,
    session: &PortalSession,
    client_id: &str,
    client_name: &str,
) -> Result<Login, ApiError> {
    let identity = session
        .identity
        .as_ref()
        .ok_or(ApiError::Portal(PortalFault::SessionRequired))?;
    let person = Person {
        idp: &session.idp,
        identity,
        session_name: &session.session_name,
        display_name: &session.display_name,
        session_ends: session.expires_at,
    };
    Login::new(
        &person,
        (client_id, client_name),
        visit.now,
        &aws_lc_rs::rand::SystemRandom::new(),
    )
}

/// Record `event` (never fails the answer: the decision stands).
async fn record(visit: &Visit<'_>, event: crate::audit::AuditEvent) {
    if let Err(e) = visit.state.store().audit.append(&event).await {
        tracing::error!(error = %e, "could not record the SSO consent in the audit trail");
    }
}
