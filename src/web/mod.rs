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

pub mod cookies;
pub mod csrf;
pub mod login;
mod page;
pub mod saml;
pub mod templates;

use std::sync::Arc;

use serde::Serialize;

pub use page::Page;
pub use templates::{TemplateError, Templates};

use crate::config::{PublicUrl, SigninIdp, SigninSettings};
use crate::error::ApiError;
use crate::idp::saml::sp_key::SpKey;
use cookies::Cookies;

/// Where the stylesheet is served.
pub const STYLESHEET_PATH: &str = "/static/style.css";

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
    pub fn signin(&self, offered: &[SigninIdp], choose: bool, request_id: &str) -> Page {
        let links: Vec<IdpLink<'_>> = offered
            .iter()
            .map(|idp| IdpLink {
                name: &idp.name,
                display_name: &idp.display_name,
                // Names are [A-Za-z0-9._-] (configuration): a path segment as they are.
                href: format!("/signin/{}", idp.name),
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
        }
        self.html(
            "signin.html",
            Context {
                layout: self.layout(),
                idps: links,
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
        now: std::time::SystemTime,
    ) -> Result<Page, ApiError> {
        use crate::config::signin::SigninKind;
        let idp = offered
            .iter()
            .find(|idp| idp.name == name)
            .ok_or(ApiError::NotFound)?;
        let start = login::Start {
            public_url: &self.public_url,
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

    /// Render `template`, or the error page when it does not render (an operator's template
    /// that refers to what is not there).
    fn html(&self, template: &str, context: impl Serialize, request_id: &str) -> Page {
        match self.templates.render(template, context) {
            Ok(body) => Page::html(http::StatusCode::OK, body, &self.csp),
            Err(e) => {
                let err = ApiError::Internal(e.to_string());
                tracing::error!(code = err.code(), error = %err, "request failed");
                self.error(&err, request_id)
            }
        }
    }
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
        "ServiceUnavailable" | "InternalFailure" | "RequestTimeout" => {
            "Try again in a few minutes. If it persists, tell your administrator."
        }
        _ => "Go back to the sign-in page and try again.",
    }
}

#[cfg(test)]
mod tests;
