//! The sign-in portal: an adapter like `sts`, over the shared `state`, rendering HTML pages
//! from the templates. It parses, asks `federation`/`principal`, and renders; the server routes
//! HTTP to it and sends the [`Page`]s it makes.
//!
//! - `templates`: the pages (minijinja, auto-escaped), overridable file by file;
//! - `cookies`: sealed, expiring cookies, each kind under its own sealing purpose;
//! - `csrf`: form tokens and the `Origin` check of state-changing requests;
//! - `login`: starting a login at an IdP (the flow sealed in the login cookie);
//! - `saml`: the SAML service provider (AuthnRequests, SP metadata, the ACS's verification);
//! - `page`: a page and the security headers every page carries.

mod acs;
mod console;
pub mod cookies;
pub mod csrf;
mod federation;
pub mod flow;
pub mod login;
mod page;
pub mod saml;
pub mod session;
pub mod sso;
pub mod templates;

use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;

pub use page::Page;
pub use templates::{TemplateError, Templates};

use crate::config::{PublicUrl, SigninIdp, SigninSettings};
use crate::creds::Keyring;
use crate::error::ApiError;
use crate::idp::saml::sp_key::SpKey;
use crate::origin::Origin;
use crate::state::State;
use cookies::{CookieKind, Cookies};
pub use session::PortalSession;

/// Where the stylesheet is served.
pub const STYLESHEET_PATH: &str = "/static/style.css";
/// Where the console's script is served.
pub const SCRIPT_PATH: &str = "/static/console.js";

/// A request to the portal: the daemon's state, where it came from, its cookies and `Origin`
/// headers, and its time.
pub struct Visit<'a> {
    pub state: &'a State,
    pub origin: &'a Origin,
    /// The `Cookie` header values.
    pub cookie_headers: Vec<String>,
    /// The `Origin` header values.
    pub origin_headers: Vec<String>,
    pub now: SystemTime,
}

impl Visit<'_> {
    fn keyring(&self) -> Arc<Keyring> {
        self.state.principals().keyring().snapshot()
    }

    fn cookies(&self) -> impl Iterator<Item = &str> {
        self.cookie_headers.iter().map(String::as_str)
    }

    fn origins(&self) -> impl Iterator<Item = &str> {
        self.origin_headers.iter().map(String::as_str)
    }
}

/// The portal: its templates and settings (built once, at start).
#[derive(Debug)]
pub struct Portal {
    templates: Templates,
    public_url: PublicUrl,
    cookies: Cookies,
    title: String,
    logo_url: Option<String>,
    /// The pages' Content-Security-Policy.
    csp: String,
    /// The OIDC IdPs' endpoints, discovered when a login first starts there.
    relying_parties: login::RelyingParties,
    /// The SAML service provider's signing key and certificate.
    sp_key: SpKey,
    /// How long a portal session lasts.
    session_length: std::time::Duration,
    /// Login attempts per source address.
    logins: LoginLimiter,
}

/// Login attempts per source address: a token bucket each (governor's GCRA), the quota per
/// minute with a burst of the same size.
struct LoginLimiter(
    governor::RateLimiter<
        std::net::IpAddr,
        governor::state::keyed::HashMapStateStore<std::net::IpAddr>,
        governor::clock::DefaultClock,
    >,
);

impl std::fmt::Debug for LoginLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LoginLimiter")
    }
}

/// Addresses remembered before the limiter forgets those whose bucket is full again.
const LIMITER_KEYS: usize = 10_000;

impl LoginLimiter {
    fn new(per_minute: u32) -> Self {
        let per_minute = std::num::NonZeroU32::new(per_minute).unwrap_or(std::num::NonZeroU32::MIN);
        Self(governor::RateLimiter::hashmap(governor::Quota::per_minute(
            per_minute,
        )))
    }

    /// Whether `ip` may make one more login attempt now.
    fn admit(&self, ip: Option<std::net::IpAddr>) -> bool {
        let Some(ip) = ip else { return true };
        if self.0.len() > LIMITER_KEYS {
            self.0.retain_recent();
        }
        self.0.check_key(&limited_as(ip)).is_ok()
    }
}

/// The address a source's attempts are counted under: an IPv6 address by its /64 (one host
/// usually holds the whole prefix, and would otherwise get a bucket per address), an
/// IPv4-mapped one as the IPv4 address.
fn limited_as(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip.to_canonical() {
        std::net::IpAddr::V6(v6) => {
            std::net::Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX)).into()
        }
        v4 => v4,
    }
}

/// What every page's layout shows.
#[derive(Serialize)]
struct Layout<'a> {
    title: &'a str,
    logo_url: Option<&'a str>,
    stylesheet: &'static str,
}

#[derive(Serialize)]
struct IdpLink<'a> {
    name: &'a str,
    display_name: &'a str,
    href: String,
}

impl Portal {
    /// The portal at `public_url`, with the pages `settings` describe, signing SAML requests
    /// with `sp_key`. Fails when an operator's template does not compile.
    pub fn new(
        public_url: PublicUrl,
        settings: &SigninSettings,
        sp_key: SpKey,
    ) -> Result<Self, TemplateError> {
        let templates = Templates::load(settings.templates_dir.as_deref())?;
        Ok(Self {
            templates,
            cookies: Cookies::new(public_url.secure_context()),
            csp: page::content_security_policy(settings.logo_url.as_deref()),
            public_url,
            title: settings.title.clone(),
            logo_url: settings.logo_url.clone(),
            relying_parties: login::RelyingParties::default(),
            sp_key,
            session_length: settings.session,
            logins: LoginLimiter::new(settings.logins_per_minute),
        })
    }

    pub fn public_url(&self) -> &PublicUrl {
        &self.public_url
    }

    pub fn cookies(&self) -> Cookies {
        self.cookies
    }

    /// The SAML service provider's certificate (PEM), for its metadata.
    pub fn sp_certificate_pem(&self) -> &str {
        &self.sp_key.cert_pem
    }

    fn layout(&self) -> Layout<'_> {
        Layout {
            title: &self.title,
            logo_url: self.logo_url.as_deref(),
            stylesheet: STYLESHEET_PATH,
        }
    }

    /// `GET /signin`: a link per IdP offered; with exactly one, straight to it unless the
    /// person asked to `choose`.
    /// `signed_out`: the person just signed out (the page says so, and does not go straight to
    /// the only IdP).
    pub fn signin(
        &self,
        offered: &[SigninIdp],
        choose: bool,
        signed_out: bool,
        return_to: Option<&str>,
        request_id: &str,
    ) -> Page {
        let query = return_to
            .filter(|path| is_return_path(path))
            .map(|path| {
                let pairs = [("return_to", path)];
                format!(
                    "?{}",
                    serde_urlencoded::to_string(pairs).unwrap_or_default()
                )
            })
            .unwrap_or_default();
        let links: Vec<IdpLink<'_>> = offered
            .iter()
            .map(|idp| IdpLink {
                name: &idp.name,
                display_name: &idp.display_name,
                // Names are [A-Za-z0-9._-] (configuration): a path segment as they are.
                href: format!("/signin/{}{query}", idp.name),
            })
            .collect();
        if let [only] = links.as_slice()
            && !choose
        {
            return Page::redirect(&only.href);
        }
        #[derive(Serialize)]
        struct Context<'a> {
            #[serde(flatten)]
            layout: Layout<'a>,
            idps: Vec<IdpLink<'a>>,
            signed_out: bool,
        }
        self.html(
            "signin.html",
            Context {
                layout: self.layout(),
                idps: links,
                signed_out,
            },
            request_id,
        )
    }

    /// The page of `err`, from its row of the error table: what happened (the row's message),
    /// what to do, and the code and request id to quote. Never inner error text.
    pub fn error(&self, err: &ApiError, request_id: &str) -> Page {
        let row = err.row();
        #[derive(Serialize)]
        struct Context<'a> {
            #[serde(flatten)]
            layout: Layout<'a>,
            heading: &'static str,
            message: &'a str,
            advice: &'static str,
            code: &'static str,
            request_id: &'a str,
            signin_href: &'static str,
        }
        let context = Context {
            layout: self.layout(),
            heading: heading(row.status),
            message: &row.message,
            advice: advice(row.code),
            code: row.code,
            request_id,
            signin_href: "/signin?choose=1",
        };
        match self.templates.render("error.html", context) {
            Ok(body) => Page::html(row.status, body, &self.csp),
            Err(e) => {
                tracing::error!(error = %e, "the error page does not render");
                Page::fallback(row.status, row.code, request_id, &self.csp)
            }
        }
    }

    /// `GET /saml/metadata`: the SAML service provider's metadata.
    pub fn sp_metadata(&self, offered: &[SigninIdp]) -> Result<Page, ApiError> {
        saml::metadata(&self.public_url, offered, &self.sp_key)
    }

    /// `GET /signin/NAME`: send the person to the IdP `name` offers, or say there is none.
    /// `built`: the IdP's settings and verifier, as the federation holds them (an OIDC IdP's
    /// `insecure_http`, test IdPs only; a SAML IdP's current metadata).
    pub async fn start(
        &self,
        offered: &[SigninIdp],
        name: &str,
        built: Option<&(crate::idp::IdpSettings, Arc<dyn crate::idp::IdpVerifier>)>,
        keyring: &crate::creds::Keyring,
        return_to: Option<&str>,
        now: std::time::SystemTime,
    ) -> Result<Page, ApiError> {
        use crate::config::signin::SigninKind;
        let return_to = match return_to {
            Some(path) if is_return_path(path) => Some(path),
            Some(_) => {
                return Err(ApiError::ValidationMessage(
                    "return_to must be a sign-in page of this portal.",
                ));
            }
            None => None,
        };
        let idp = offered
            .iter()
            .find(|idp| idp.name == name)
            .ok_or(ApiError::NotFound)?;
        let start = login::Start {
            public_url: &self.public_url,
            return_to,
            cookies: self.cookies,
            keyring,
            now,
        };
        match &idp.kind {
            SigninKind::Oidc(oidc) => {
                let insecure_http = matches!(
                    built,
                    Some((crate::idp::IdpSettings::Oidc(o), _)) if o.insecure_http
                );
                login::start_oidc(&self.relying_parties, start, idp, oidc, insecure_http).await
            }
            SigninKind::Saml(saml) => {
                let verifier = built.map(|(_, verifier)| verifier.as_ref());
                saml::start_saml(start, idp, saml, &self.sp_key, verifier).await
            }
        }
    }

    /// `GET /static/style.css`.
    pub fn stylesheet(&self) -> Page {
        Page::stylesheet(self.templates.stylesheet().to_owned())
    }

    /// A login attempt of `visit`'s source address: refused (`Throttling`, 429) beyond
    /// `[signin] logins_per_minute`.
    pub fn admit_login(&self, visit: &Visit<'_>) -> Result<(), ApiError> {
        self.admit_attempt(visit.origin.source_ip)
    }

    /// A login attempt from `source` (also a device authorization started, or a user code
    /// looked up at `/device`: each is a step of a login): refused (`Throttling`, 429) beyond
    /// `[signin] logins_per_minute`.
    pub fn admit_attempt(&self, source: Option<std::net::IpAddr>) -> Result<(), ApiError> {
        if self.logins.admit(source) {
            Ok(())
        } else {
            tracing::warn!(?source, "login attempts throttled");
            Err(ApiError::Throttling)
        }
    }

    /// `GET /static/console.js`.
    pub fn script(&self) -> Page {
        Page::script(self.templates.script().to_owned())
    }

    /// `GET /signin/oidc/callback`: finish the login this browser started, open a portal
    /// session for the identity, and go on to its role (or the picker).
    pub async fn oidc_callback(
        &self,
        visit: &Visit<'_>,
        params: &[(String, String)],
    ) -> Result<Page, ApiError> {
        let signed_in = flow::finish_oidc(self, visit, params).await?;
        let return_to = signed_in.return_to;
        let session = PortalSession::new(
            &signed_in.idp,
            signed_in.identity,
            visit.now,
            self.session_length,
            &aws_lc_rs::rand::SystemRandom::new(),
        )?;
        let page = if is_return_path(&return_to) {
            // Signed in for an SSO page (device approval, authorize): back there, no role yet.
            let cookies = session.seal(self.cookies, &visit.keyring(), visit.now)?;
            Page::see_other(&return_to).with_cookies(&cookies)
        } else {
            self.after_sign_in(visit, session).await?
        };
        Ok(page.with_cookies(&self.cookies.clear(CookieKind::Login)))
    }

    /// Render `template`, or the error page when it does not render (an operator's template
    /// that refers to what is not there).
    fn html(&self, template: &str, context: impl Serialize, request_id: &str) -> Page {
        self.html_status(template, context, http::StatusCode::OK, request_id)
    }

    /// [`Portal::html`] with `status`.
    fn html_status(
        &self,
        template: &str,
        context: impl Serialize,
        status: http::StatusCode,
        request_id: &str,
    ) -> Page {
        match self.templates.render(template, context) {
            Ok(body) => Page::html(status, body, &self.csp),
            Err(e) => {
                let err = ApiError::Internal(e.to_string());
                tracing::error!(code = err.code(), error = %err, "request failed");
                self.error(&err, request_id)
            }
        }
    }
}

/// Whether `path` is a page a login may return to instead of the console: the SSO pages that
/// send a person to sign in first (the device verification page, the authorize consent).
pub fn is_return_path(path: &str) -> bool {
    let page = path.split_once('?').map_or(path, |(page, _)| page);
    is_local_path(path)
        && matches!(
            page,
            sso::DEVICE_PATH | crate::sso::authorize::AUTHORIZE_PATH
        )
}

/// Whether `path` is a path on this server a person may be sent to: it starts with one `/`
/// (`//host` and `/\\host` are other sites to browsers) and holds no control character or
/// backslash.
pub fn is_local_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && !path.chars().any(|c| c.is_control() || c == '\\')
}

fn heading(status: http::StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "Please sign in",
        403 => "Not allowed",
        404 => "Page not found",
        500..=599 => "Something went wrong on our side",
        _ => "Sign-in failed",
    }
}

/// What the person can do about an error, by its code.
fn advice(code: &str) -> &'static str {
    match code {
        "ExpiredTokenException" | "LoginExpired" => {
            "Start again from the sign-in page: your identity provider will sign you in anew."
        }
        "InvalidIdentityToken" => {
            "Start again from the sign-in page. If it happens again, your administrator can \
             find the reason in the daemon's log under the request id below."
        }
        "IDPCommunicationError" => {
            "Your identity provider could not be reached. Try again in a few minutes."
        }
        "AccessDenied" | "IDPRejectedClaim" => {
            "Your identity is not allowed this role. Ask your administrator for access, or \
             choose another role."
        }
        "SessionRequired" => "Sign in again to go on.",
        "CrossSiteRequest" | "InvalidFormToken" => {
            "Reload the page you came from and send the form again."
        }
        "NotFound" => "Check the address, or start from the sign-in page.",
        "Throttling" => {
            "Too many sign-in attempts came from your address. Wait a minute, then try again."
        }
        "LoginMismatch" | "LoginDenied" => {
            "Start again from the sign-in page. If your identity provider refused you, ask your \
             administrator for access."
        }
        "InvalidSigninToken" | "InvalidCredentialsParameter" => {
            "Ask the application that sent you here for a new sign-in link."
        }
        "ServiceUnavailable" | "InternalFailure" | "RequestTimeout" => {
            "Try again in a few minutes. If it persists, tell your administrator."
        }
        _ => "Go back to the sign-in page and try again.",
    }
}

#[cfg(test)]
mod tests;
