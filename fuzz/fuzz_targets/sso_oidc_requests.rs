//! What an SDK sends the SSO OIDC API: JSON bodies of RegisterClient and
//! StartDeviceAuthorization, with a fixed keyring and public URL.
//!
//! The first byte picks the operation:
//! - even: a RegisterClient body: never panics; a registration that succeeds authenticates
//!   with its own client id and secret and with nothing else;
//! - odd: a StartDeviceAuthorization body: refused (the fuzzer cannot seal a client secret).
//!
//! Never panics.
#![no_main]

use std::sync::LazyLock;

use aws_lc_rs::rand::SystemRandom;
use libfuzzer_sys::fuzz_target;
use stsbridge::config::PublicUrl;
use stsbridge::creds::Keyring;
use stsbridge::sso::{self, device, register};
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
    if mode % 2 == 0 {
        let Ok(request) = sso::parse_body(body) else {
            return;
        };
        if let Ok(registered) = register::register_client(&KEYRING, public, request, now, &rng) {
            let id = &registered.client_id;
            let secret = &registered.client_secret;
            assert!(register::authenticate(&KEYRING, id, secret, now).is_ok());
            assert!(register::authenticate(&KEYRING, "other", secret, now).is_err());
        }
    } else if let Ok(request) = sso::parse_body(body) {
        assert!(
            device::start_device_authorization(&KEYRING, public, request, now, &rng).is_err(),
            "a forged client secret started a device authorization"
        );
    }
});
