//! A page the portal answers with, and the headers every page carries: a strict
//! Content-Security-Policy (no script but the portal's own files, no framing), no referrer
//! beyond this origin (with `no-referrer` Chromium sends `Origin: null` on the portal's own
//! POSTs, which the CSRF check refuses), no caching, no content sniffing.

use http::StatusCode;
use http::header::{self, HeaderName, HeaderValue};

/// A response of the portal.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: String,
}

/// The Content-Security-Policy of the pages: only this origin's stylesheet and images (and the
/// logo's origin), forms posted here only, never framed.
pub(super) fn content_security_policy(logo_url: Option<&str>) -> String {
    let logo_origin = logo_url
        .and_then(|u| reqwest::Url::parse(u).ok())
        .map(|u| u.origin().ascii_serialization())
        .filter(|o| o != "null")
        .map(|o| format!(" {o}"))
        .unwrap_or_default();
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'{logo_origin}; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
}

fn common() -> Vec<(HeaderName, HeaderValue)> {
    vec![
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    ]
}

impl Page {
    /// An HTML page under `csp`, never cached (pages may show credentials).
    pub fn html(status: StatusCode, body: String, csp: &str) -> Self {
        let mut headers = common();
        headers.push((
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        ));
        headers.push((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
        if let Ok(csp) = HeaderValue::from_str(csp) {
            headers.push((header::CONTENT_SECURITY_POLICY, csp));
        }
        Self {
            status,
            headers,
            body,
        }
    }

    /// This page with its Content-Security-Policy's `form-action` widened to `origin` too: for
    /// a form whose answer redirects there. Chromium applies `form-action` to the redirects
    /// that follow a form's POST, so the authorize consent's answer, a redirect to the client's
    /// (validated) loopback listener, is blocked without it.
    pub fn with_form_target(mut self, origin: &str) -> Self {
        for (name, value) in &mut self.headers {
            if *name != header::CONTENT_SECURITY_POLICY {
                continue;
            }
            let widened = value.to_str().ok().map(|csp| {
                csp.replacen(
                    "form-action 'self'",
                    &format!("form-action 'self' {origin}"),
                    1,
                )
            });
            if let Some(Ok(widened)) = widened.map(|csp| HeaderValue::from_str(&csp)) {
                *value = widened;
            }
        }
        self
    }

    /// A redirect (302) to `location` (a path on this server, or an IdP's URL).
    pub fn redirect(location: &str) -> Self {
        let mut headers = common();
        headers.push((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
        if let Ok(location) = HeaderValue::from_str(location) {
            headers.push((header::LOCATION, location));
        }
        Self {
            status: StatusCode::FOUND,
            headers,
            body: String::new(),
        }
    }

    /// A redirect after a form or a login (303: the browser follows it with a GET).
    pub fn see_other(location: &str) -> Self {
        let mut page = Self::redirect(location);
        page.status = StatusCode::SEE_OTHER;
        page
    }

    /// A JSON answer, never cached (it may hold credentials).
    pub fn json(value: &serde_json::Value) -> Self {
        let mut headers = common();
        headers.push((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ));
        headers.push((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
        Self {
            status: StatusCode::OK,
            headers,
            body: value.to_string(),
        }
    }

    /// The console's script.
    pub fn script(js: String) -> Self {
        let mut page = Self::stylesheet(js);
        page.headers
            .retain(|(name, _)| name != header::CONTENT_TYPE);
        page.headers.push((
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/javascript; charset=utf-8"),
        ));
        page
    }

    /// This page, also setting cookies (a `Set-Cookie` header each).
    pub fn with_cookies(mut self, cookies: &super::cookies::SetCookies) -> Self {
        for line in &cookies.0 {
            if let Ok(value) = HeaderValue::from_str(line) {
                self.headers.push((header::SET_COOKIE, value));
            }
        }
        self
    }

    /// The stylesheet.
    pub fn stylesheet(css: String) -> Self {
        let mut headers = common();
        headers.push((
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/css; charset=utf-8"),
        ));
        headers.push((
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        ));
        Self {
            status: StatusCode::OK,
            headers,
            body: css,
        }
    }

    /// A minimal error page when the error template itself does not render: the code and the
    /// request id only (neither needs escaping: a fixed code, a UUID).
    pub fn fallback(status: StatusCode, code: &'static str, request_id: &str, csp: &str) -> Self {
        let request_id: String = request_id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        let body = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Error</title>\
             </head><body><h1>Error {code}</h1><p>Request {request_id}.</p>\
             <p><a href=\"/signin?choose=1\">Back to sign-in</a></p></body></html>"
        );
        Self::html(status, body, csp)
    }
}
