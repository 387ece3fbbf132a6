//! The signed-in pages: the role picker, the console (the credentials in every form a tool
//! takes), the `credential_process` JSON, switching role and signing out.

use serde::Serialize;

use super::flow::{self, Choice, PickerAccount};
use super::session::{Current, PortalSession};
use super::{Page, Portal, Visit, csrf};
use crate::audit::{AuditDraft, AuditIdentity, EventName};
use crate::clock::{from_unix_seconds, iso8601};
use crate::creds::token::SessionClaims;
use crate::error::ApiError;
use crate::federation::{AssumeRoleAsk, CHAINED_MAX_SECONDS, Domain, Request, assume_role};
use crate::identity::SessionTags;
use crate::principal::{Caller, Signer};
use crate::store::Revocation;

/// Where the picker and switch-role forms post: the role the person chooses, by its ARN, in
/// `roleIndex` (as AWS's sign-in page names it).
pub const ROLE_FIELD: &str = "roleIndex";

/// What the picker shows and where its form goes.
pub(super) struct PickerForm<'a> {
    pub action: &'a str,
    /// A SAML sign-in: the Response and RelayState posted again with the choice.
    pub saml_response: Option<&'a str>,
    pub relay_state: Option<&'a str>,
}

#[derive(Serialize)]
struct DurationChoice {
    seconds: u32,
    label: String,
    selected: bool,
}

impl Portal {
    /// The form token of `binding` (a portal session's id, or a SAML sign-in's assertion).
    pub(super) fn form_token(&self, visit: &Visit<'_>, binding: &str) -> Result<String, ApiError> {
        csrf::token(
            &visit.keyring(),
            binding,
            visit.now,
            &aws_lc_rs::rand::SystemRandom::new(),
        )
        .map_err(|e| ApiError::Internal(e.to_string()))
    }

    /// The role picker for `identity_name` with `accounts`, posting to `form`; with no account,
    /// a page that says so, naming the identity.
    pub(super) fn picker(
        &self,
        visit: &Visit<'_>,
        identity_name: &str,
        idp: &str,
        accounts: &[PickerAccount],
        form: &PickerForm<'_>,
        binding: &str,
    ) -> Result<Page, ApiError> {
        let longest = accounts
            .iter()
            .flat_map(|a| &a.roles)
            .map(|r| r.max_session_duration)
            .max()
            .unwrap_or(3600);
        let durations: Vec<DurationChoice> = flow::duration_choices(longest)
            .into_iter()
            .map(|(seconds, label)| DurationChoice {
                seconds,
                label,
                selected: seconds == 3600,
            })
            .collect();
        #[derive(Serialize)]
        struct Context<'a> {
            #[serde(flatten)]
            layout: super::Layout<'a>,
            identity: &'a str,
            idp: &'a str,
            accounts: &'a [PickerAccount],
            action: &'a str,
            saml_response: Option<&'a str>,
            relay_state: Option<&'a str>,
            csrf_token: String,
            durations: Vec<DurationChoice>,
            signout_token: Option<String>,
        }
        let token = self.form_token(visit, binding)?;
        let status = if accounts.is_empty() {
            http::StatusCode::FORBIDDEN
        } else {
            http::StatusCode::OK
        };
        let page = self.html_status(
            "roles.html",
            Context {
                layout: self.layout(),
                identity: identity_name,
                idp,
                accounts,
                action: form.action,
                saml_response: form.saml_response,
                relay_state: form.relay_state,
                signout_token: form.saml_response.is_none().then(|| token.clone()),
                csrf_token: token,
                durations,
            },
            status,
            &visit.origin.request_id,
        );
        Ok(page)
    }

    /// `GET /signin/roles`: the picker of the signed-in person.
    pub async fn roles_page(&self, visit: &Visit<'_>) -> Result<Page, ApiError> {
        let session = self.session(visit)?;
        let roles = flow::assumable(visit, &session);
        let accounts = flow::accounts(&visit.state.federation(), &roles);
        self.picker(
            visit,
            &session.display_identity(),
            &idp_display_name(visit, &session.idp),
            &accounts,
            &PickerForm {
                action: flow::ROLES_PATH,
                saml_response: None,
                relay_state: None,
            },
            &session.id,
        )
    }

    /// `GET /signin/roles.json`: the picker's list as JSON.
    pub async fn roles_json(&self, visit: &Visit<'_>) -> Result<Page, ApiError> {
        let session = self.session(visit)?;
        let roles = flow::assumable(visit, &session);
        let accounts = flow::accounts(&visit.state.federation(), &roles);
        Ok(Page::json(&serde_json::json!({ "accounts": accounts })))
    }

    /// `POST /signin/roles` (`roleIndex`, `duration`, `csrf_token`): sign in to the chosen role.
    pub async fn choose_role(
        &self,
        visit: &Visit<'_>,
        form: &[(String, String)],
    ) -> Result<Page, ApiError> {
        let mut session = self.session(visit)?;
        self.check_form(visit, &session.id, form)?;
        let role_arn = field(form, ROLE_FIELD).ok_or(ApiError::ValidationMessage(
            "Choose a role to sign in with.",
        ))?;
        let duration = flow::parse_duration(field(form, "duration"))?;
        flow::issue(
            visit,
            &mut session,
            &Choice {
                role_arn,
                duration,
                sign_in: false,
                event: EventName::ConsoleLogin,
            },
        )
        .await?;
        self.to_console(visit, &session)
    }

    /// A redirect to the console, keeping `session` in the browser.
    pub(super) fn to_console(
        &self,
        visit: &Visit<'_>,
        session: &PortalSession,
    ) -> Result<Page, ApiError> {
        let cookies = session.seal(self.cookies, &visit.keyring(), visit.now)?;
        Ok(Page::see_other(flow::CONSOLE_PATH).with_cookies(&cookies))
    }

    /// After a sign-in: one role, signed in to it; several, the picker; none, the page that
    /// says so.
    pub(super) async fn after_sign_in(
        &self,
        visit: &Visit<'_>,
        mut session: PortalSession,
    ) -> Result<Page, ApiError> {
        let roles = flow::assumable(visit, &session);
        let cookies = session.seal(self.cookies, &visit.keyring(), visit.now)?;
        match roles.as_slice() {
            [only] => {
                let role_arn = only.role.arn.clone();
                flow::issue(
                    visit,
                    &mut session,
                    &Choice {
                        role_arn: &role_arn,
                        duration: None,
                        sign_in: true,
                        event: EventName::ConsoleLogin,
                    },
                )
                .await?;
                self.to_console(visit, &session)
            }
            _ => Ok(Page::see_other(flow::ROLES_PATH).with_cookies(&cookies)),
        }
    }

    /// `GET /console`: the credentials in use, or the picker when none is chosen yet.
    pub async fn console(&self, visit: &Visit<'_>) -> Result<Page, ApiError> {
        let session = self.session(visit)?;
        let keyring = visit.keyring();
        let Some(claims) = session.credentials(&keyring) else {
            return Ok(Page::see_other(flow::ROLES_PATH));
        };
        let revoked = self.revoked(visit, &claims);
        let expired = flow::expired(claims.expires_at, visit.now);
        let roles = flow::assumable(visit, &session);
        let federation = visit.state.federation();
        let role = federation.roles.get(&claims.session.identity_arn);
        let max = role.map_or(3600, |r| r.max_session_duration);
        let chained = session
            .current
            .as_ref()
            .is_some_and(|c| c.chained_from.is_some());
        let account_id = &claims.session.account_id;
        let account = match federation.accounts.get(account_id) {
            Some(name) => format!("{name} ({account_id})"),
            None => account_id.clone(),
        };
        let expiration = iso8601(from_unix_seconds(claims.expires_at));
        let profile = role.map_or("stsbridge", |r| r.name.as_str());
        let session_token = session
            .current
            .as_ref()
            .map_or("", |c| c.session_token.as_str());
        let formats = Formats::of(&claims, session_token, &expiration, profile);
        let token = self.form_token(visit, &session.id)?;
        let durations: Vec<DurationChoice> =
            flow::duration_choices(if chained { 3600 } else { max })
                .into_iter()
                .map(|(seconds, label)| DurationChoice {
                    selected: seconds == 3600,
                    seconds,
                    label,
                })
                .collect();
        let switchable: Vec<SwitchRole> = roles
            .iter()
            .filter(|r| r.role.arn != claims.session.identity_arn)
            .map(|r| SwitchRole {
                arn: r.role.arn.clone(),
                label: format!("{} ({})", r.role.name, r.role.account_id),
            })
            .collect();
        #[derive(Serialize)]
        struct SwitchRole {
            arn: String,
            label: String,
        }
        #[derive(Serialize)]
        struct Context<'a> {
            #[serde(flatten)]
            layout: super::Layout<'a>,
            identity: String,
            idp: &'a str,
            role_arn: &'a str,
            role_name: &'a str,
            account: String,
            session_arn: &'a str,
            expiration: &'a str,
            expires_unix: i64,
            portal_ends: String,
            expired: bool,
            revoked: bool,
            chained: bool,
            access_key_id: &'a str,
            secret_access_key: &'a str,
            session_token: &'a str,
            formats: Formats,
            csrf_token: String,
            durations: Vec<DurationChoice>,
            switchable: Vec<SwitchRole>,
            script: &'static str,
        }
        Ok(self.html_status(
            "console.html",
            Context {
                layout: self.layout(),
                identity: session.display_identity(),
                idp: &idp_display_name(visit, &session.idp),
                role_arn: &claims.session.identity_arn,
                role_name: role.map_or(claims.session.identity_arn.as_str(), |r| &r.name),
                account,
                session_arn: &claims.session.caller_arn,
                expiration: &expiration,
                expires_unix: claims.expires_at,
                portal_ends: iso8601(session.ends()),
                expired,
                revoked,
                chained,
                access_key_id: &claims.access_key_id,
                secret_access_key: claims.secret_access_key.expose(),
                session_token,
                formats,
                csrf_token: token,
                durations,
                switchable,
                script: super::SCRIPT_PATH,
            },
            http::StatusCode::OK,
            &visit.origin.request_id,
        ))
    }

    /// `GET /console/credentials`: the `credential_process` JSON of the credentials in use.
    pub async fn console_credentials(&self, visit: &Visit<'_>) -> Result<Page, ApiError> {
        let session = self.session(visit)?;
        let claims = session
            .credentials(&visit.keyring())
            .ok_or(ApiError::Portal(crate::error::PortalFault::SessionRequired))?;
        if self.revoked(visit, &claims) || flow::expired(claims.expires_at, visit.now) {
            return Err(ApiError::ExpiredToken);
        }
        let session_token = session
            .current
            .as_ref()
            .map_or("", |c| c.session_token.as_str());
        Ok(Page::json(&credential_process(
            &claims,
            session_token,
            &iso8601(from_unix_seconds(claims.expires_at)),
        )))
    }

    /// `POST /console/switch-role` (`roleIndex`, `duration`, `csrf_token`): credentials of
    /// another role (or new ones of the same, for another duration). A role the signed-in
    /// identity may assume is issued from that identity with its full duration; any other is
    /// reached from the credentials in use by `AssumeRole` chaining (one hour at most).
    pub async fn switch_role(
        &self,
        visit: &Visit<'_>,
        form: &[(String, String)],
    ) -> Result<Page, ApiError> {
        let mut session = self.session(visit)?;
        self.check_form(visit, &session.id, form)?;
        let role_arn = field(form, ROLE_FIELD)
            .or_else(|| field(form, "roleArn"))
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .ok_or(ApiError::ValidationMessage("Choose a role to switch to."))?;
        let duration = flow::parse_duration(field(form, "duration"))?;
        let direct = flow::assumable(visit, &session)
            .iter()
            .any(|r| r.role.arn == role_arn);
        if direct {
            flow::issue(
                visit,
                &mut session,
                &Choice {
                    role_arn,
                    duration,
                    sign_in: false,
                    event: EventName::SwitchRole,
                },
            )
            .await?;
        } else {
            self.chain(visit, &mut session, role_arn, duration).await?;
        }
        self.to_console(visit, &session)
    }

    /// Reach `role_arn` from the credentials in use by role chaining.
    async fn chain(
        &self,
        visit: &Visit<'_>,
        session: &mut PortalSession,
        role_arn: &str,
        duration: Option<u32>,
    ) -> Result<(), ApiError> {
        let keyring = visit.keyring();
        let denied = || ApiError::AccessDenied {
            action: "sts:AssumeRole",
            detail: "no credentials in use to switch from".into(),
        };
        let claims = session.credentials(&keyring).ok_or_else(denied)?;
        if self.revoked(visit, &claims) || flow::expired(claims.expires_at, visit.now) {
            return Err(ApiError::ExpiredToken);
        }
        let from_role = claims.session.identity_arn.clone();
        let caller = Caller {
            access_key_id: claims.access_key_id.clone(),
            signer: Signer::Session(Box::new(claims)),
        };
        let mut audit = AuditDraft::new(
            EventName::SwitchRole,
            visit.origin,
            serde_json::json!({
                "roleArn": crate::audit::cut(role_arn, 256),
                "durationSeconds": duration,
                "idp": session.idp,
                "via": "portal",
                "chainedFrom": from_role,
            }),
            visit.now,
        );
        let identity: AuditIdentity = caller.audit_identity();
        audit.identify(identity);
        let federation = visit.state.federation();
        let ask = AssumeRoleAsk {
            role_arn,
            session_name: &session.session_name,
            duration: duration.map(|d| i64::from(d).min(CHAINED_MAX_SECONDS)),
            policy: None,
            policy_arns: Vec::new(),
            external_id: None,
            source_identity: None,
            mfa: None,
            tags: SessionTags::default(),
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
        match assume_role(&domain, &caller, &ask, &request).await {
            Ok(issued) => {
                session.current = Some(Current {
                    session_token: issued.credentials.session_token.expose().to_owned(),
                    chained_from: Some(from_role),
                });
                Ok(())
            }
            Err(err) => {
                flow::record_failure(visit, audit, &err).await;
                Err(err)
            }
        }
    }

    /// `POST /signout` (`csrf_token`, optional `revoke=1`): end the portal session; with
    /// `revoke`, its credentials stop working everywhere too.
    pub async fn signout(
        &self,
        visit: &Visit<'_>,
        form: &[(String, String)],
    ) -> Result<Page, ApiError> {
        let session = match self.session(visit) {
            Ok(session) => session,
            // Already signed out: nothing to end.
            Err(_) => {
                return Ok(Page::see_other("/signin?choose=1&signed_out=1")
                    .with_cookies(&self.cookies.clear(super::cookies::CookieKind::Session)));
            }
        };
        self.check_form(visit, &session.id, form)?;
        if field(form, "revoke") == Some("1")
            && let Some(claims) = session.credentials(&visit.keyring())
        {
            let revocation = Revocation::Session {
                access_key_id: claims.access_key_id.clone(),
                expires_at: claims.expires_at,
            };
            let mut audit = AuditDraft::new(
                EventName::RevokeSession,
                visit.origin,
                serde_json::json!({ "accessKeyId": claims.access_key_id, "via": "portal" }),
                visit.now,
            );
            audit.identify(
                Caller {
                    access_key_id: claims.access_key_id.clone(),
                    signer: Signer::Session(Box::new(claims)),
                }
                .audit_identity(),
            );
            visit
                .state
                .store()
                .revocations
                .revoke(&revocation, &audit.done())
                .await
                .map_err(ApiError::from)?;
        }
        tracing::info!(session = %session.id, "signed out");
        Ok(Page::see_other("/signin?choose=1&signed_out=1")
            .with_cookies(&self.cookies.clear(super::cookies::CookieKind::Session)))
    }

    /// The browser's portal session.
    pub(super) fn session(&self, visit: &Visit<'_>) -> Result<PortalSession, ApiError> {
        PortalSession::open(self.cookies, &visit.keyring(), visit.cookies(), visit.now)
    }

    /// The CSRF check of a form posted in portal session `binding`.
    fn check_form(
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

    /// Whether the credentials `claims` were revoked (or cannot be checked: the revocation
    /// list stale beyond its bound).
    fn revoked(&self, visit: &Visit<'_>, claims: &SessionClaims) -> bool {
        visit.state.store().session_refused(
            &claims.access_key_id,
            &claims.session.identity_arn,
            claims.issued_at,
            visit.now,
        )
    }
}

/// How the pages name the IdP `name`: its `[signin]` display name, else the name.
pub(super) fn idp_display_name(visit: &Visit<'_>, name: &str) -> String {
    visit
        .state
        .federation()
        .signin
        .iter()
        .find(|idp| idp.name == name)
        .map_or_else(|| name.to_owned(), |idp| idp.display_name.clone())
}

/// The first value of `name` in a form.
pub(super) fn field<'f>(form: &'f [(String, String)], name: &str) -> Option<&'f str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The `credential_process` JSON (AWS CLI "Sourcing credentials with an external process").
fn credential_process(
    claims: &SessionClaims,
    session_token: &str,
    expiration: &str,
) -> serde_json::Value {
    serde_json::json!({
        "Version": 1,
        "AccessKeyId": claims.access_key_id,
        "SecretAccessKey": claims.secret_access_key.expose(),
        "SessionToken": session_token,
        "Expiration": expiration,
    })
}

/// The credentials in the forms tools take.
#[derive(Serialize)]
struct Formats {
    bash: String,
    fish: String,
    powershell: String,
    profile: String,
    credential_process: String,
}

impl Formats {
    fn of(claims: &SessionClaims, token: &str, expiration: &str, profile: &str) -> Self {
        let (key, secret) = (&claims.access_key_id, claims.secret_access_key.expose());
        // The session token is base64: no character needs quoting in any of these shells.
        let vars = [
            ("AWS_ACCESS_KEY_ID", key.as_str()),
            ("AWS_SECRET_ACCESS_KEY", secret),
            ("AWS_SESSION_TOKEN", token),
        ];
        let lines = |f: &dyn Fn(&str, &str) -> String| {
            vars.iter()
                .map(|(k, v)| f(k, v))
                .collect::<Vec<_>>()
                .join("\n")
        };
        Self {
            bash: lines(&|k, v| format!("export {k}=\"{v}\"")),
            fish: lines(&|k, v| format!("set -gx {k} \"{v}\"")),
            powershell: lines(&|k, v| format!("$Env:{k}=\"{v}\"")),
            profile: format!(
                "[{profile}]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n\
                 aws_session_token = {token}"
            ),
            credential_process: serde_json::to_string_pretty(&credential_process(
                claims, token, expiration,
            ))
            .unwrap_or_default(),
        }
    }
}
