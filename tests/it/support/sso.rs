//! SSO tokens for the tests of the SSO portal API: a real login of a person the test IdP
//! vouches for, sealed by the daemon's own keyring with `sso::login::issue_tokens`, the very
//! function CreateToken answers with (the token is what an SDK's cache would hold).

use std::time::{Duration, SystemTime};

use aws_lc_rs::rand::SystemRandom;
use stsbridge::creds::Keyring;
use stsbridge::identity::FederatedIdentity;
use stsbridge::idp::{Expectations, IdpVerifier, SubjectCredential};
use stsbridge::sso::login::{Login, Person, Tokens, issue_tokens};

use super::daemon::Daemon;
use super::idp::TestIdp;

/// How long the logins made here last (the default `[signin] session_hours`).
pub const LOGIN_HOURS: u64 = 8;

/// The keyring of `daemon` (its `[keys] path` file, written at start).
pub fn keyring_of(daemon: &Daemon) -> Keyring {
    Keyring::load(&daemon.dir.path().join("data/keyring.json")).expect("the daemon's keyring")
}

/// A login of the person `claims` (`sub` and more) at `idp`, signed in at `now` through the
/// IdP's verifier (the ID token checked as the portal checks it), for the client `client_id`.
pub async fn login(idp: &TestIdp, claims: serde_json::Value, now: SystemTime) -> Login {
    let mut all = idp.claims(now);
    if let (Some(all), serde_json::Value::Object(more)) = (all.as_object_mut(), claims) {
        all.extend(more);
    }
    let token = idp.token(&all);
    let identity = idp
        .verifier()
        .verify(
            &SubjectCredential::WebIdentityToken(&token),
            &Expectations::NONE,
            now,
        )
        .await
        .expect("the test IdP's ID token verifies");
    login_of(&identity, now)
}

/// A login of `identity` (verified by an IdP's verifier) at the IdP `corp`, from `now`, for the
/// client `test-client`.
pub fn login_of(identity: &FederatedIdentity, now: SystemTime) -> Login {
    let session_name = identity.subject.clone();
    let person = Person {
        idp: "corp",
        identity,
        session_name: &session_name,
        display_name: &session_name,
        session_ends: stsbridge::clock::unix_seconds(now + Duration::from_secs(LOGIN_HOURS * 3600)),
    };
    Login::new(
        &person,
        ("test-client", "test-client"),
        now,
        &SystemRandom::new(),
    )
    .expect("login")
}

/// The tokens CreateToken would answer `login` with at `now`, sealed by `keyring`.
pub fn tokens(keyring: &Keyring, login: &Login, now: SystemTime) -> Tokens {
    issue_tokens(keyring, login, now, &SystemRandom::new()).expect("tokens")
}
