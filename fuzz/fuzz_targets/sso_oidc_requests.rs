//! What an SDK or a browser sends the SSO OIDC API and the SSO portal API, with a fixed keyring
//! and public URL.
//!
//! The first byte picks the input (by its value modulo 5):
//! - 0: a RegisterClient body: never panics; a registration that succeeds authenticates
//!   with its own client id and secret and with nothing else;
//! - 1: a StartDeviceAuthorization body: refused (the fuzzer cannot seal a client secret);
//! - 2: the query string of the browser's `GET /sso-oidc/authorize`: refused (no client id
//!   the fuzzer makes opens);
//! - 3: a bearer token (`x-amz-sso_bearer_token`): never opens as an access token;
//! - 4: a user code typed at `/device`: read as `XXXX-XXXX` of the code alphabet or not at all.
//!
//! Never panics.
#![no_main]

use std::sync::LazyLock;

use aws_lc_rs::rand::SystemRandom;
use libfuzzer_sys::fuzz_target;
use stsbridge::config::PublicUrl;
use stsbridge::creds::Keyring;
use stsbridge::sso::{self, authorize, device, devices, login, register};
use stsbridge_fuzz as fx;

static KEYRING: LazyLock<Keyring> = LazyLock::new(fx::fixed_keyring);
static PUBLIC: LazyLock<Option<PublicUrl>> =
    LazyLock::new(|| PublicUrl::parse("https://sts.example.com").ok());

fuzz_target!(|data: &[u8]| {
    let (Some((&mode, body)), Some(public)) = (data.split_first(), PUBLIC.as_ref()) else {
        return;
    };
    let now = fx::now();
    let rng = SystemRandom::new();
    match mode % 5 {
        0 => register(body, public, now, &rng),
        1 => {
            if let Ok(request) = sso::parse_body(body) {
                assert!(
                    device::start_device_authorization(&KEYRING, public, request, now, &rng)
                        .is_err(),
                    "a forged client secret started a device authorization"
                );
            }
        }
        2 => {
            let Ok(query) = std::str::from_utf8(body) else {
                return;
            };
            if let Ok(params) = serde_urlencoded::from_str::<Vec<(String, String)>>(query) {
                assert!(
                    authorize::check(&KEYRING, &params, now).is_err(),
                    "a forged client id was authorized"
                );
            }
        }
        3 => {
            let token = String::from_utf8_lossy(body);
            assert!(login::open_access_token(&KEYRING, &token, now).is_err());
        }
        _ => {
            let typed = String::from_utf8_lossy(body);
            if let Some(code) = devices::normalize_user_code(&typed) {
                let (a, b) = code.split_once('-').expect("XXXX-XXXX");
                assert!(a.len() == 4 && b.len() == 4);
                assert!(code.bytes().all(|c| c == b'-' || c.is_ascii_uppercase()));
            }
        }
    }
});

fn register(body: &[u8], public: &PublicUrl, now: std::time::SystemTime, rng: &SystemRandom) {
    let Ok(request) = sso::parse_body(body) else {
        return;
    };
    if let Ok(registered) = register::register_client(&KEYRING, public, request, now, rng) {
        let id = &registered.client_id;
        let secret = &registered.client_secret;
        assert!(register::authenticate(&KEYRING, id, secret, now).is_ok());
        assert!(register::authenticate(&KEYRING, "other", secret, now).is_err());
        assert!(register::open_client_id(&KEYRING, id, now).is_ok());
    }
}
