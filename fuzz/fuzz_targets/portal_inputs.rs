//! What a browser sends the sign-in portal: `Cookie` headers (the portal session, which may span
//! chunks, and the login cookies), form tokens with `Origin` headers, form bodies, and return
//! paths (`RelayState`, `Destination`), with a fixed keyring.
//!
//! The first byte picks what the rest is:
//! - `0 mod 4`: a `Cookie` header: every cookie kind is opened from it, secure or not; none may
//!   open (only a keyring holder seals them);
//! - `1 mod 4`: `ORIGIN \n TOKEN`: the form-token check must refuse (a forged token);
//! - `2 mod 4`: a form body: parsed as the portal parses forms;
//! - `3 mod 4`: a return path: accepted only when it is a path of this server.
//!
//! Never panics.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use stsbridge::config::PublicUrl;
use stsbridge::creds::Keyring;
use stsbridge::web::cookies::{CookieKind, Cookies};
use stsbridge::web::login::LoginFlow;
use stsbridge::web::saml::SamlLoginFlow;
use stsbridge::web::{PortalSession, csrf, is_local_path};
use stsbridge_fuzz as fx;

static KEYRING: LazyLock<Keyring> = LazyLock::new(fx::fixed_keyring);
static PUBLIC: LazyLock<Option<PublicUrl>> =
    LazyLock::new(|| PublicUrl::parse("https://sts.example.com").ok());

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    match mode % 4 {
        0 => cookies(&text),
        1 => form_token(&text),
        2 => {
            let _ = serde_urlencoded::from_bytes::<Vec<(String, String)>>(rest);
        }
        _ => return_path(&text),
    }
});

fn cookies(header: &str) {
    for secure in [true, false] {
        let cookies = Cookies::new(secure);
        let now = fx::now();
        assert!(
            PortalSession::open(cookies, &KEYRING, [header], now).is_err(),
            "a forged portal session opened"
        );
        assert!(
            cookies
                .open::<LoginFlow>(&KEYRING, CookieKind::Login, [header], now)
                .is_err()
        );
        assert!(
            cookies
                .open::<SamlLoginFlow>(&KEYRING, CookieKind::SamlLogin, [header], now)
                .is_err()
        );
    }
}

fn form_token(text: &str) {
    let Some(public) = PUBLIC.as_ref() else {
        return;
    };
    let (origin, token) = text.split_once('\n').unwrap_or(("", text));
    let origins: Vec<&str> = if origin.is_empty() { Vec::new() } else { vec![origin] };
    assert!(
        csrf::check(&KEYRING, public, origins, "session-1", Some(token), fx::now()).is_err(),
        "a forged form token passed"
    );
}

fn return_path(path: &str) {
    if is_local_path(path) {
        assert!(path.starts_with('/') && !path.starts_with("//"));
        assert!(!path.contains('\\') && !path.chars().any(char::is_control));
    }
}
