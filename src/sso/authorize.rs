//! The authorization code grant's browser side (`GET <public_url>/sso-oidc/authorize`, RFC 6749
//! section 4.1 with PKCE, RFC 7636), as AWS CLI v2 opens it:
//! `?response_type=code&client_id&redirect_uri=http://127.0.0.1:<port>/oauth/callback&state
//! &code_challenge_method=S256&code_challenge&scopes=<space separated>` (`scopes`, plural, as
//! AWS names it; `scope` is taken too).
//!
//! Checks, in order. Until the redirect URI is known good, a refusal is a page in the browser
//! (never a redirect, RFC 6749 section 4.1.2.1): the client id is one issued here and not
//! expired; the client registered the `authorization_code` grant; the redirect URI is one of
//! its loopback URIs (any port). After that a refusal goes back to the client's loopback
//! listener as `error` and `state`: `response_type` is `code`; `code_challenge_method` is
//! `S256` and the challenge is 43 base64url characters; `state` is present; every scope is
//! granted here.
//!
//! The code is the person's login sealed for five minutes with the client, the redirect URI and
//! the challenge; CreateToken takes it once (the replay cache remembers its id).

use std::time::{Duration, SystemTime};

use aws_lc_rs::rand::SecureRandom;
use serde::{Deserialize, Serialize};

use super::login::Login;
use super::register::{Client, GRANT_AUTHORIZATION_CODE, SCOPE, open_client_id};
use super::{Purpose, Unsealed, fault, open, seal};
use crate::error::{ApiError, SsoOidcFault};

/// Where the browser is sent, under the public URL.
pub const AUTHORIZE_PATH: &str = "/sso-oidc/authorize";

/// How long an authorization code is good for.
pub const CODE_TTL: Duration = Duration::from_secs(300);

/// The longest `state` taken back to the client.
const MAX_STATE: usize = 512;

/// A checked authorization request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizeAsk {
    pub client_id: String,
    pub client: Client,
    pub redirect_uri: String,
    pub state: String,
    pub code_challenge: String,
    pub scopes: Vec<String>,
}

/// Why an authorization request is refused.
#[derive(Debug)]
pub enum AuthorizeRefusal {
    /// Shown in the browser: the client or its redirect URI is not known good.
    Page(ApiError),
    /// Sent back to the client's loopback listener.
    Redirect { location: String },
}

/// The request of `params` (the query), checked at `now` (see the module documentation).
pub fn check(
    keyring: &crate::creds::Keyring,
    params: &[(String, String)],
    now: SystemTime,
) -> Result<AuthorizeAsk, AuthorizeRefusal> {
    let page = |f: SsoOidcFault| AuthorizeRefusal::Page(fault(f));
    let one = |name: &str| -> Result<Option<&str>, AuthorizeRefusal> {
        let mut found = params.iter().filter(|(k, _)| k == name);
        let first = found.next().map(|(_, v)| v.as_str());
        if found.next().is_some() {
            return Err(AuthorizeRefusal::Page(fault(SsoOidcFault::InvalidRequest(
                "A parameter of the authorization request is repeated.",
            ))));
        }
        Ok(first)
    };
    let client_id = one("client_id")?.ok_or(page(SsoOidcFault::InvalidRequest(
        "The authorization request has no client_id.",
    )))?;
    let client = open_client_id(keyring, client_id, now).map_err(AuthorizeRefusal::Page)?;
    if !client.has_grant(GRANT_AUTHORIZATION_CODE) {
        return Err(page(SsoOidcFault::InvalidClient));
    }
    let redirect_uri = one("redirect_uri")?
        .filter(|uri| client.redirects_to(uri))
        .ok_or(page(SsoOidcFault::InvalidRedirectUri))?;
    let state = one("state")?.unwrap_or_default();
    let back = |error: &'static str| AuthorizeRefusal::Redirect {
        location: redirect_with(redirect_uri, &[("error", error), ("state", state)]),
    };
    if state.is_empty() || state.len() > MAX_STATE {
        return Err(back("invalid_request"));
    }
    if one("response_type")? != Some("code") {
        return Err(back("unsupported_response_type"));
    }
    let challenge = one("code_challenge")?.unwrap_or_default();
    if one("code_challenge_method")? != Some("S256") || !is_challenge(challenge) {
        return Err(back("invalid_request"));
    }
    let scopes: Vec<String> = match (one("scopes")?, one("scope")?) {
        (Some(s), None) | (None, Some(s)) => s
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        (None, None) => Vec::new(),
        (Some(_), Some(_)) => return Err(back("invalid_request")),
    };
    if scopes.iter().any(|s| s != SCOPE) {
        return Err(back("invalid_scope"));
    }
    Ok(AuthorizeAsk {
        client_id: client_id.to_owned(),
        client,
        redirect_uri: redirect_uri.to_owned(),
        state: state.to_owned(),
        code_challenge: challenge.to_owned(),
        scopes,
    })
}

/// Whether `challenge` is an S256 challenge: 32 bytes in base64url without padding.
fn is_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `uri` with `params` added to its query.
pub fn redirect_with(uri: &str, params: &[(&str, &str)]) -> String {
    match reqwest::Url::parse(uri) {
        Ok(mut url) => {
            url.query_pairs_mut().extend_pairs(params);
            url.to_string()
        }
        // The URI was checked before; an unparsable one gets nothing.
        Err(_) => uri.to_owned(),
    }
}

/// What an authorization code carries.
#[derive(Serialize, Deserialize)]
struct CodeGrant {
    /// 128 random bits: the replay cache remembers it once redeemed.
    id: String,
    login: Login,
    redirect_uri: String,
    code_challenge: String,
}

/// The location the browser goes to once the person allowed `ask`: the client's redirect URI
/// with a fresh code for `login` and the request's `state`.
pub fn allow(
    keyring: &crate::creds::Keyring,
    ask: &AuthorizeAsk,
    login: &Login,
    now: SystemTime,
    rng: &dyn SecureRandom,
) -> Result<String, ApiError> {
    let mut id = [0u8; 16];
    rng.fill(&mut id)
        .map_err(|_| ApiError::Internal("no randomness for a code".into()))?;
    let grant = CodeGrant {
        id: id.iter().map(|b| format!("{b:02x}")).collect(),
        login: login.clone(),
        redirect_uri: ask.redirect_uri.clone(),
        code_challenge: ask.code_challenge.clone(),
    };
    let expires = (now + CODE_TTL).min(login.ends());
    let code = seal(keyring, Purpose::AuthorizationCode, &grant, expires, rng)?;
    Ok(redirect_with(
        &ask.redirect_uri,
        &[("code", &code), ("state", &ask.state)],
    ))
}

/// The location the browser goes to once the person denied `ask`.
pub fn deny(ask: &AuthorizeAsk) -> String {
    redirect_with(
        &ask.redirect_uri,
        &[("error", "access_denied"), ("state", &ask.state)],
    )
}

/// A redeemable code: the login it carries and the id to remember it by until `until_unix`.
#[derive(Debug)]
pub(super) struct Redeemable {
    pub login: Login,
    pub code_id: String,
    pub until_unix: i64,
}

/// The code `code`, presented by `client_id` with `redirect_uri` and `verifier`, at `now`:
/// `InvalidGrantException` unless it was issued here to that client for that redirect URI and
/// the verifier's S256 is its challenge (RFC 7636 section 4.6); `ExpiredTokenException` once
/// expired. Redemption (once) is the caller's.
pub(super) fn redeem(
    keyring: &crate::creds::Keyring,
    code: &str,
    client_id: &str,
    redirect_uri: Option<&str>,
    verifier: Option<&str>,
    now: SystemTime,
) -> Result<Redeemable, ApiError> {
    let grant: CodeGrant =
        open(keyring, Purpose::AuthorizationCode, code, now).map_err(|e| match e {
            Unsealed::Expired => fault(SsoOidcFault::ExpiredToken),
            Unsealed::Refused => fault(SsoOidcFault::InvalidGrant),
        })?;
    let invalid = || fault(SsoOidcFault::InvalidGrant);
    if grant.login.client_id != client_id {
        tracing::info!("authorization code of another client");
        return Err(invalid());
    }
    if redirect_uri != Some(grant.redirect_uri.as_str()) {
        tracing::info!("authorization code with another redirect URI");
        return Err(invalid());
    }
    let verifier = verifier.filter(|v| is_verifier(v)).ok_or_else(invalid)?;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    let computed = data_encoding::BASE64URL_NOPAD.encode(digest.as_ref());
    if aws_lc_rs::constant_time::verify_slices_are_equal(
        computed.as_bytes(),
        grant.code_challenge.as_bytes(),
    )
    .is_err()
    {
        tracing::info!("PKCE verifier does not match the challenge");
        return Err(invalid());
    }
    let until = (now + CODE_TTL).min(grant.login.ends());
    Ok(Redeemable {
        code_id: grant.id,
        login: grant.login,
        until_unix: crate::clock::unix_seconds(until),
    })
}

/// RFC 7636 section 4.1: 43 to 128 characters of `[A-Za-z0-9-._~]`.
fn is_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::rand::SystemRandom;

    use super::*;
    use crate::clock::from_unix_seconds;
    use crate::config::PublicUrl;
    use crate::creds::Keyring;
    use crate::sso::register::{RegisterClientRequest, register_client};

    const T0: i64 = 1_800_000_000;
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn client(keyring: &Keyring, grants: &[&str]) -> String {
        let url = PublicUrl::parse("https://sso.example.com").unwrap();
        register_client(
            keyring,
            &url,
            RegisterClientRequest {
                client_name: Some("aws-cli".into()),
                client_type: Some("public".into()),
                scopes: vec![],
                redirect_uris: vec!["http://127.0.0.1/oauth/callback".into()],
                grant_types: grants.iter().map(|g| (*g).to_owned()).collect(),
                issuer_url: None,
                entitled_application_arn: None,
            },
            from_unix_seconds(T0),
            &SystemRandom::new(),
        )
        .unwrap()
        .client_id
    }

    fn params(client_id: &str) -> Vec<(String, String)> {
        [
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", "http://127.0.0.1:53124/oauth/callback"),
            ("state", "s-1"),
            ("code_challenge_method", "S256"),
            ("scopes", "sso:account:access"),
            ("code_challenge", CHALLENGE),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    }

    fn with(
        mut p: Vec<(String, String)>,
        name: &str,
        value: Option<&str>,
    ) -> Vec<(String, String)> {
        p.retain(|(k, _)| k != name);
        if let Some(v) = value {
            p.push((name.to_owned(), v.to_owned()));
        }
        p
    }

    #[test]
    fn a_code_is_redeemed_by_its_client_redirect_and_verifier_only() {
        let keyring = Keyring::generate(from_unix_seconds(T0)).unwrap();
        let now = from_unix_seconds(T0);
        let id = client(&keyring, &[GRANT_AUTHORIZATION_CODE]);
        let ask = check(&keyring, &params(&id), now).unwrap();
        let mut login = crate::sso::login::tests::login(T0 + 3600);
        login.client_id = id.clone();
        let location = allow(&keyring, &ask, &login, now, &SystemRandom::new()).unwrap();
        let url = reqwest::Url::parse(&location).unwrap();
        assert_eq!(url.port(), Some(53124));
        let got = |k: &str| {
            url.query_pairs()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.into_owned())
        };
        assert_eq!(got("state").as_deref(), Some("s-1"));
        let code = got("code").unwrap();
        let redirect = Some("http://127.0.0.1:53124/oauth/callback");
        let ok = redeem(&keyring, &code, &id, redirect, Some(VERIFIER), now).unwrap();
        assert_eq!(ok.login, login);
        let refused = |client: &str, redirect: Option<&str>, verifier: Option<&str>| {
            redeem(&keyring, &code, client, redirect, verifier, now)
                .unwrap_err()
                .code()
        };
        assert_eq!(
            refused("other", redirect, Some(VERIFIER)),
            "InvalidGrantException"
        );
        assert_eq!(
            refused(
                &id,
                Some("http://127.0.0.1:1/oauth/callback"),
                Some(VERIFIER)
            ),
            "InvalidGrantException"
        );
        assert_eq!(refused(&id, None, Some(VERIFIER)), "InvalidGrantException");
        let wrong = VERIFIER.replace('d', "e");
        assert_eq!(
            refused(&id, redirect, Some(&wrong)),
            "InvalidGrantException"
        );
        assert_eq!(refused(&id, redirect, None), "InvalidGrantException");
        assert_eq!(
            refused(&id, redirect, Some("short")),
            "InvalidGrantException"
        );
        let later = from_unix_seconds(T0 + 300);
        assert_eq!(
            redeem(&keyring, &code, &id, redirect, Some(VERIFIER), later)
                .unwrap_err()
                .code(),
            "ExpiredTokenException"
        );
        let mut tampered = code.clone().into_bytes();
        let at = tampered.len() / 2;
        tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(
            redeem(&keyring, &tampered, &id, redirect, Some(VERIFIER), now)
                .unwrap_err()
                .code(),
            "InvalidGrantException"
        );
        assert!(deny(&ask).contains("error=access_denied"));
    }

    #[test]
    fn unknown_clients_and_redirects_are_refused_on_a_page_the_rest_goes_back() {
        let keyring = Keyring::generate(from_unix_seconds(T0)).unwrap();
        let now = from_unix_seconds(T0);
        let id = client(&keyring, &[GRANT_AUTHORIZATION_CODE]);
        let is_page = |p: Vec<(String, String)>| {
            matches!(check(&keyring, &p, now), Err(AuthorizeRefusal::Page(_)))
        };
        let back = |p: Vec<(String, String)>| match check(&keyring, &p, now) {
            Err(AuthorizeRefusal::Redirect { location }) => location,
            other => panic!("{other:?}"),
        };
        assert!(is_page(with(params(&id), "client_id", None)));
        assert!(is_page(with(params(&id), "client_id", Some("forged"))));
        let other_keyring = Keyring::generate(from_unix_seconds(T0)).unwrap();
        assert!(is_page(params(&client(
            &other_keyring,
            &[GRANT_AUTHORIZATION_CODE]
        ))));
        assert!(
            is_page(params(&client(&keyring, &[]))),
            "a device-flow client"
        );
        assert!(is_page(with(
            params(&id),
            "redirect_uri",
            Some("http://evil.example/oauth/callback")
        )));
        assert!(is_page(with(
            params(&id),
            "redirect_uri",
            Some("http://127.0.0.1:9/other")
        )));
        assert!(is_page(with(params(&id), "redirect_uri", None)));
        let mut twice = params(&id);
        twice.push(("client_id".into(), id.clone()));
        assert!(is_page(twice));
        assert!(
            back(with(params(&id), "response_type", Some("token")))
                .contains("error=unsupported_response_type")
        );
        assert!(
            back(with(params(&id), "code_challenge_method", Some("plain")))
                .contains("error=invalid_request")
        );
        assert!(
            back(with(params(&id), "code_challenge", Some("short")))
                .contains("error=invalid_request")
        );
        assert!(back(with(params(&id), "state", None)).contains("error=invalid_request"));
        let bad_scope = back(with(
            params(&id),
            "scopes",
            Some("sso:account:access openid"),
        ));
        assert!(bad_scope.contains("error=invalid_scope") && bad_scope.contains("state=s-1"));
        assert!(check(&keyring, &with(params(&id), "scopes", None), now).is_ok());
    }
}
