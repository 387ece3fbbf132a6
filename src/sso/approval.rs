//! A device authorization's life after StartDeviceAuthorization (RFC 8628 section 3.3-3.5):
//! the person approves or denies it at the verification page, the client polls CreateToken.
//! Pure transitions over one record, so the record can live in any store that updates it by
//! compare-and-swap (a function of the old value); nothing here reads a clock or stores.
//!
//! The record is found by its user code: the verification page has only that, and the
//! polling client's sealed device code carries it ([`super::device::DeviceGrant`]), so the
//! device code itself is never stored. The poller's client id must be the record's.

use serde::{Deserialize, Serialize};

use super::device::{DeviceGrant, POLL_INTERVAL_SECONDS};
use crate::error::SsoOidcFault;

/// What RFC 8628 section 3.5 adds to the interval on each `slow_down`.
const SLOW_DOWN_STEP_SECONDS: u32 = 5;

/// The interval stops growing here: past it, a poll too soon is answered `slow_down` without
/// changing the record, so a client polling in a loop costs no store write per poll.
const MAX_INTERVAL_SECONDS: u32 = 60;

/// One device authorization, from its start to its redemption.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceAuthorization {
    pub client_id: String,
    pub client_name: String,
    pub user_code: String,
    /// Where StartDeviceAuthorization came from (the client address as the daemon saw it),
    /// shown on the confirm page: device-code phishing sends someone else's code.
    pub requested_from: String,
    /// Unix seconds.
    pub started_at: i64,
    /// Unix seconds; refused from this instant on.
    pub expires_at: i64,
    /// Unix seconds of the last poll, if any.
    pub last_poll: Option<i64>,
    /// The least seconds between two polls now (grows with each `slow_down`).
    pub interval: u32,
    pub decision: Decision,
}

/// What the person decided, and whether the client took it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Decision {
    Pending,
    /// Approved: `identity` is the person's verified identity, sealed by the portal (opaque
    /// here; never stored in clear).
    Approved {
        identity: String,
    },
    Denied,
    /// The approval was turned into tokens once; any later poll is refused.
    Redeemed,
}

impl std::fmt::Debug for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Pending => f.write_str("Pending"),
            Self::Approved { .. } => f.write_str("Approved(<sealed identity>)"),
            Self::Denied => f.write_str("Denied"),
            Self::Redeemed => f.write_str("Redeemed"),
        }
    }
}

/// Why the person's decision was not recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecideError {
    #[error("the device authorization has expired")]
    Expired,
    #[error("the device authorization was already decided")]
    AlreadyDecided,
}

impl DeviceAuthorization {
    /// A pending authorization for `grant` (its expiry `expires_at`), requested from
    /// `requested_from`.
    pub fn new(grant: &DeviceGrant, requested_from: String, expires_at: i64) -> Self {
        Self {
            client_id: grant.client_id.clone(),
            client_name: grant.client_name.clone(),
            user_code: grant.user_code.clone(),
            requested_from,
            started_at: grant.issued_at,
            expires_at,
            last_poll: None,
            interval: POLL_INTERVAL_SECONDS,
            decision: Decision::Pending,
        }
    }

    pub fn expired(&self, now_unix: i64) -> bool {
        now_unix >= self.expires_at
    }

    /// The record once the person approved (`Some(sealed identity)`) or denied (`None`) at
    /// `now_unix`: only a pending, unexpired authorization is decided, once.
    pub fn decide(&self, identity: Option<String>, now_unix: i64) -> Result<Self, DecideError> {
        if self.expired(now_unix) {
            return Err(DecideError::Expired);
        }
        if self.decision != Decision::Pending {
            return Err(DecideError::AlreadyDecided);
        }
        let decision = match identity {
            Some(identity) => Decision::Approved { identity },
            None => Decision::Denied,
        };
        Ok(Self {
            decision,
            ..self.clone()
        })
    }

    /// A CreateToken poll by `client_id` at `now_unix`: the record to write back, and the
    /// answer (the sealed identity once, when approved). Checks, in order: the client is the
    /// one the code was issued to (`InvalidGrant`), not expired (`ExpiredToken`), not polled
    /// sooner than the interval (`SlowDown`, and the interval grows by 5 s), then the decision.
    pub fn poll(&self, client_id: &str, now_unix: i64) -> (Self, Result<String, SsoOidcFault>) {
        if client_id != self.client_id {
            return (self.clone(), Err(SsoOidcFault::InvalidGrant));
        }
        if self.expired(now_unix) {
            return (self.clone(), Err(SsoOidcFault::ExpiredToken));
        }
        let too_soon = self
            .last_poll
            .is_some_and(|last| now_unix < last.saturating_add(i64::from(self.interval)));
        if too_soon && self.interval >= MAX_INTERVAL_SECONDS {
            return (self.clone(), Err(SsoOidcFault::SlowDown));
        }
        let mut next = Self {
            last_poll: Some(now_unix),
            ..self.clone()
        };
        if too_soon {
            next.interval = self.interval.saturating_add(SLOW_DOWN_STEP_SECONDS);
            return (next, Err(SsoOidcFault::SlowDown));
        }
        let answer = match &self.decision {
            Decision::Pending => Err(SsoOidcFault::AuthorizationPending),
            Decision::Denied => Err(SsoOidcFault::AccessDenied),
            Decision::Redeemed => Err(SsoOidcFault::InvalidGrant),
            Decision::Approved { identity } => {
                next.decision = Decision::Redeemed;
                Ok(identity.clone())
            }
        };
        (next, answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_800_000_000;

    fn pending() -> DeviceAuthorization {
        let grant = DeviceGrant {
            client_id: "client".into(),
            client_name: "aws-cli".into(),
            user_code: "BCDF-GHJK".into(),
            issued_at: T0,
        };
        DeviceAuthorization::new(&grant, "192.0.2.7".into(), T0 + 600)
    }

    #[test]
    fn polls_are_pending_until_approved_then_redeemed_once() {
        let a = pending();
        let (a, r) = a.poll("client", T0 + 5);
        assert_eq!(r, Err(SsoOidcFault::AuthorizationPending));
        let a = a.decide(Some("sealed".into()), T0 + 7).unwrap();
        let (a, r) = a.poll("client", T0 + 10);
        assert_eq!(r, Ok("sealed".to_owned()));
        assert_eq!(a.decision, Decision::Redeemed);
        let (_, r) = a.poll("client", T0 + 20);
        assert_eq!(
            r,
            Err(SsoOidcFault::InvalidGrant),
            "one approval, one token"
        );
    }

    #[test]
    fn polling_faster_than_the_interval_slows_down_and_widens_it() {
        let (a, _) = pending().poll("client", T0 + 5);
        let (a, r) = a.poll("client", T0 + 6);
        assert_eq!(r, Err(SsoOidcFault::SlowDown));
        assert_eq!(a.interval, 10);
        let (a, r) = a.poll("client", T0 + 15);
        assert_eq!(
            r,
            Err(SsoOidcFault::SlowDown),
            "10 s now, from the last poll"
        );
        let (_, r) = a.poll("client", T0 + 30);
        assert_eq!(r, Err(SsoOidcFault::AuthorizationPending));
    }

    #[test]
    fn a_polling_loop_stops_changing_the_record_once_the_interval_is_a_minute() {
        let (mut a, _) = pending().poll("client", T0);
        let mut t = T0;
        let mut changes = 0;
        for _ in 0..50 {
            t += 1;
            let (next, r) = a.poll("client", t);
            assert_eq!(r, Err(SsoOidcFault::SlowDown));
            if next != a {
                changes += 1;
            }
            a = next;
        }
        assert_eq!(a.interval, MAX_INTERVAL_SECONDS);
        assert_eq!(changes, 11, "5 s to 60 s in 5 s steps, then no more writes");
        // A poll a minute after the last recorded one is answered again.
        let last = a.last_poll.unwrap();
        let (_, r) = a.poll("client", last + 60);
        assert_eq!(r, Err(SsoOidcFault::AuthorizationPending));
    }

    #[test]
    fn denied_expired_and_foreign_polls_are_refused() {
        let denied = pending().decide(None, T0 + 1).unwrap();
        assert_eq!(
            denied.poll("client", T0 + 5).1,
            Err(SsoOidcFault::AccessDenied)
        );
        assert_eq!(
            denied.decide(Some("x".into()), T0 + 2),
            Err(DecideError::AlreadyDecided)
        );
        let approved = pending().decide(Some("sealed".into()), T0 + 1).unwrap();
        assert_eq!(
            approved.poll("other-client", T0 + 5).1,
            Err(SsoOidcFault::InvalidGrant)
        );
        assert_eq!(
            approved.poll("client", T0 + 600).1,
            Err(SsoOidcFault::ExpiredToken)
        );
        assert_eq!(
            pending().decide(Some("x".into()), T0 + 600),
            Err(DecideError::Expired)
        );
    }
}
