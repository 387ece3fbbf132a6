//! The credential minter: a grant in, an `ASIA…` key id, a secret and a sealed session token out.

use std::time::SystemTime;

use aws_lc_rs::rand::SystemRandom;

use super::ids::{AccessKeyPrefix, new_access_key_id, new_secret_access_key};
use super::token::{CLAIMS_VERSION, seal};
use super::{
    CredentialMinter, Credentials, Grant, MAX_SESSION_DURATION_SECONDS, MintError, Secret,
    SessionClaims, SharedKeyring,
};
use crate::clock::{from_unix_seconds, unix_seconds};

/// Mints temporary credentials sealed under a shared keyring; the request verifier opens them
/// with the same keyring (`Minter::keyring`).
#[derive(Debug)]
pub struct Minter {
    keyring: SharedKeyring,
    rng: SystemRandom,
}

impl Minter {
    pub fn new(keyring: SharedKeyring) -> Self {
        Self {
            keyring,
            rng: SystemRandom::new(),
        }
    }

    /// The keyring tokens are sealed with (to open them, or to swap it on reload).
    pub fn keyring(&self) -> &SharedKeyring {
        &self.keyring
    }
}

impl CredentialMinter for Minter {
    /// Expiration is `now` (whole seconds) + the grant's duration, identical in the returned
    /// credentials and in the sealed claims.
    fn mint(
        &self,
        grant: &Grant,
        now: SystemTime,
    ) -> Result<(Credentials, SessionClaims), MintError> {
        let duration = checked_duration(grant.duration_seconds)?;
        let access_key_id = new_access_key_id(AccessKeyPrefix::Temporary, &self.rng)?;
        let secret_access_key = new_secret_access_key(&self.rng)?;
        let issued_at = unix_seconds(now);
        let claims = claims_for(
            grant,
            access_key_id,
            secret_access_key,
            issued_at,
            issued_at.saturating_add(duration),
        );
        let token = seal(&self.keyring.snapshot(), &claims, &self.rng)?;
        let credentials = Credentials {
            access_key_id: claims.access_key_id.clone(),
            secret_access_key: claims.secret_access_key.clone(),
            session_token: Secret::new(token),
            expiration: from_unix_seconds(claims.expires_at),
        };
        Ok((credentials, claims))
    }
}

/// The duration in seconds if the keyring can honour it: a longer session would outlive the
/// retention of its sealing key after a rotation.
fn checked_duration(seconds: u32) -> Result<i64, MintError> {
    if seconds == 0 || seconds > MAX_SESSION_DURATION_SECONDS {
        return Err(MintError::DurationOutOfRange(seconds));
    }
    Ok(i64::from(seconds))
}

fn claims_for(
    grant: &Grant,
    access_key_id: String,
    secret_access_key: Secret,
    issued_at: i64,
    expires_at: i64,
) -> SessionClaims {
    SessionClaims {
        version: CLAIMS_VERSION,
        access_key_id,
        secret_access_key,
        session: grant.session.clone(),
        issued_at,
        expires_at,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;
    use crate::creds::token::unseal;
    use crate::creds::{Keyring, Session, SessionKind};

    const T0: i64 = 1_795_000_000;

    fn grant(duration_seconds: u32) -> Grant {
        Grant {
            session: Session {
                identity_arn: "arn:aws:iam::123456789012:role/web".into(),
                identity_id: "AROAEXAMPLEROLE".into(),
                caller_arn: "arn:aws:sts::123456789012:assumed-role/web/app".into(),
                account_id: "123456789012".into(),
                session_name: "app".into(),
                source_identity: None,
                provider: "accounts.google.com".into(),
                subject: "1234567890".into(),
                session_tags: BTreeMap::from([("env".into(), "prod".into())]),
                transitive_tag_keys: vec![],
                session_policy: None,
                policy_arns: vec![],
                kind: SessionKind::AssumedRole,
                mfa_authenticated_at: None,
            },
            duration_seconds,
        }
    }

    fn minter() -> Minter {
        Minter::new(SharedKeyring::new(
            Keyring::generate(from_unix_seconds(T0)).unwrap(),
        ))
    }

    #[test]
    fn minted_token_opens_to_the_returned_claims() {
        let minter = minter();
        let now = from_unix_seconds(T0) + Duration::from_millis(700);
        let (creds, claims) = minter.mint(&grant(3600), now).unwrap();
        assert!(creds.access_key_id.starts_with("ASIA"));
        assert_eq!(creds.access_key_id.len(), 20);
        assert_eq!(creds.secret_access_key.expose().len(), 40);
        assert_eq!(creds.expiration, from_unix_seconds(T0 + 3600));
        assert_eq!((claims.issued_at, claims.expires_at), (T0, T0 + 3600));
        assert_eq!(claims.session, grant(3600).session);
        let opened = unseal(&minter.keyring().snapshot(), creds.session_token.expose()).unwrap();
        assert_eq!(opened, claims);
        assert_eq!(opened.access_key_id, creds.access_key_id);
        assert_eq!(opened.secret_access_key, creds.secret_access_key);
    }

    #[test]
    fn each_mint_is_a_new_key_pair() {
        let minter = minter();
        let (a, _) = minter.mint(&grant(900), from_unix_seconds(T0)).unwrap();
        let (b, _) = minter.mint(&grant(900), from_unix_seconds(T0)).unwrap();
        assert_ne!(a.access_key_id, b.access_key_id);
        assert_ne!(a.secret_access_key, b.secret_access_key);
    }

    #[test]
    fn durations_the_keyring_cannot_cover_are_refused() {
        let minter = minter();
        for bad in [0, MAX_SESSION_DURATION_SECONDS + 1] {
            let err = minter.mint(&grant(bad), from_unix_seconds(T0)).unwrap_err();
            assert!(
                matches!(err, MintError::DurationOutOfRange(d) if d == bad),
                "{err}"
            );
        }
        assert!(
            minter
                .mint(&grant(MAX_SESSION_DURATION_SECONDS), from_unix_seconds(T0))
                .is_ok()
        );
    }

    #[test]
    fn debug_output_holds_no_secret() {
        let minter = minter();
        let (creds, claims) = minter.mint(&grant(900), from_unix_seconds(T0)).unwrap();
        let shown = format!("{creds:?} {claims:?} {minter:?}");
        assert!(!shown.contains(creds.secret_access_key.expose()), "{shown}");
        assert!(!shown.contains(creds.session_token.expose()), "{shown}");
    }
}
