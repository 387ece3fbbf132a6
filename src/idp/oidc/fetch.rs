//! Bounded HTTP GET for discovery documents, JWK Sets and SAML metadata: https only (unless
//! the IdP is configured `insecure_http`), connect and total timeouts, no redirects,
//! size-capped bodies.

use std::time::Duration;

use reqwest::header::{ACCEPT, CACHE_CONTROL, HeaderMap};
use reqwest::{StatusCode, Url};

use crate::idp::BuildError;
use crate::metrics::FetchOutcomes;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const TOTAL_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a document could not be fetched.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    #[error("{0:?} is not a URL: {1}")]
    NotUrl(String, String),
    #[error("{0} is not an https:// URL (insecure_http is off)")]
    NotHttps(Url),
    #[error("GET {0}: {1}")]
    Request(Url, reqwest::Error),
    #[error("GET {0}: status {1} (redirects are not followed)")]
    Status(Url, StatusCode),
    #[error("GET {0}: body exceeds {1} bytes")]
    TooLarge(Url, usize),
}

/// A fetched body and how long the server lets it be cached.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub(crate) body: Vec<u8>,
    /// `Cache-Control: max-age` (zero for `no-store` / `no-cache`), when the server says.
    pub(crate) max_age: Option<Duration>,
}

/// An HTTP client for one IdP.
#[derive(Debug)]
pub(crate) struct Fetcher {
    client: reqwest::Client,
    allow_http: bool,
    /// Where the owner of this fetcher counts its refreshes.
    outcomes: FetchOutcomes,
}

impl Fetcher {
    pub(crate) fn new(allow_http: bool) -> Result<Self, BuildError> {
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(TOTAL_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .https_only(!allow_http)
            .user_agent(concat!("stsbridge/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| BuildError::Invalid(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            client,
            allow_http,
            outcomes: FetchOutcomes::default(),
        })
    }

    /// This fetcher, its owner counting refreshes into `outcomes`.
    pub(crate) fn counting(self, outcomes: FetchOutcomes) -> Self {
        Self { outcomes, ..self }
    }

    /// Where a refresh through this fetcher is counted (one per refresh, whatever it fetched).
    pub(crate) fn outcomes(&self) -> &FetchOutcomes {
        &self.outcomes
    }

    /// The HTTP client itself (no redirects, 5 s timeouts), for requests other than GETs of
    /// JSON documents (the code exchange).
    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.client
    }

    pub(crate) fn allows_http(&self) -> bool {
        self.allow_http
    }

    /// GET `url` as JSON (see [`Fetcher::get_accepting`]).
    pub(crate) async fn get(&self, url: &str, limit: usize) -> Result<Fetched, FetchError> {
        self.get_accepting(url, limit, "application/json").await
    }

    /// GET `url`, which must pass [`check_url`], asking for the `accept` media types, expecting
    /// `200 OK` and at most `limit` bytes. The body is read chunk by chunk and abandoned as soon
    /// as it exceeds `limit`.
    pub(crate) async fn get_accepting(
        &self,
        url: &str,
        limit: usize,
        accept: &str,
    ) -> Result<Fetched, FetchError> {
        let url = check_url(url, self.allow_http)?;
        let mut response = self
            .client
            .get(url.clone())
            .header(ACCEPT, accept)
            .send()
            .await
            .map_err(|e| FetchError::Request(url.clone(), e))?;
        if response.status() != StatusCode::OK {
            return Err(FetchError::Status(url, response.status()));
        }
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(FetchError::TooLarge(url, limit));
        }
        let max_age = max_age(response.headers());
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| FetchError::Request(url.clone(), e))?
        {
            if body.len() + chunk.len() > limit {
                return Err(FetchError::TooLarge(url, limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched { body, max_age })
    }
}

/// `url` parsed, if it is `https://` (or `http://` when `allow_http`).
pub(crate) fn check_url(url: &str, allow_http: bool) -> Result<Url, FetchError> {
    let parsed = Url::parse(url).map_err(|e| FetchError::NotUrl(url.to_owned(), e.to_string()))?;
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if allow_http => Ok(parsed),
        _ => Err(FetchError::NotHttps(parsed)),
    }
}

/// The freshness lifetime `Cache-Control` grants (RFC 9111 §5.2.2.1): `max-age=N`, or zero
/// for `no-store` / `no-cache`.
fn max_age(headers: &HeaderMap) -> Option<Duration> {
    let values = headers
        .get_all(CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok());
    parse_max_age(values)
}

fn parse_max_age<'a>(values: impl Iterator<Item = &'a str>) -> Option<Duration> {
    let mut max_age = None;
    for directive in values.flat_map(|v| v.split(',')) {
        let (name, argument) = match directive.split_once('=') {
            Some((name, argument)) => (name.trim(), Some(argument.trim().trim_matches('"'))),
            None => (directive.trim(), None),
        };
        if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
            return Some(Duration::ZERO);
        }
        if name.eq_ignore_ascii_case("max-age")
            && let Some(seconds) = argument.and_then(|a| a.parse::<u64>().ok())
        {
            max_age = Some(Duration::from_secs(seconds));
        }
    }
    max_age
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_unless_allowed() {
        assert!(check_url("https://idp.example/jwks", false).is_ok());
        assert!(matches!(
            check_url("http://idp.example/jwks", false),
            Err(FetchError::NotHttps(_))
        ));
        assert!(check_url("http://idp.example/jwks", true).is_ok());
        assert!(check_url("file:///etc/passwd", true).is_err());
        assert!(matches!(
            check_url("not a url", true),
            Err(FetchError::NotUrl(..))
        ));
    }

    #[tokio::test]
    async fn refuses_http_before_connecting() {
        let fetcher = Fetcher::new(false).expect("client");
        // Nothing listens on port 9; the scheme check must fail first.
        let err = fetcher
            .get("http://127.0.0.1:9/jwks", 1024)
            .await
            .expect_err("refused");
        assert!(matches!(err, FetchError::NotHttps(_)), "{err}");
    }

    #[test]
    fn cache_control_max_age() {
        let secs = |v: &[&str]| parse_max_age(v.iter().copied()).map(|d| d.as_secs());
        assert_eq!(
            secs(&["public, max-age=19845, must-revalidate"]),
            Some(19845)
        );
        assert_eq!(secs(&["Max-Age=\"60\""]), Some(60));
        assert_eq!(secs(&["public", "max-age=30"]), Some(30));
        assert_eq!(secs(&["max-age=30, no-cache"]), Some(0));
        assert_eq!(secs(&["no-store"]), Some(0));
        assert_eq!(secs(&["max-age=-1"]), None);
        assert_eq!(secs(&["private"]), None);
        assert_eq!(secs(&[]), None);
    }
}
