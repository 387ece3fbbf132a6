//! MFA codes a caller passes (`SerialNumber` + `TokenCode` of `GetSessionToken` and
//! `AssumeRole`): checked against the caller's own virtual MFA device, each code usable once.

use std::time::SystemTime;

use super::{Authenticator, Caller, caller_user};
use crate::clock::unix_seconds;
use crate::creds::totp;
use crate::error::ApiError;
use crate::store::ReplayKey;

/// AWS's sentence for a code that does not verify.
const INVALID_CODE: &str = "MultiFactorAuthentication failed with invalid MFA one time pass code.";

/// An MFA device's serial number and a code from it.
#[derive(Debug, Clone, Copy)]
pub struct MfaCode<'p> {
    pub serial_number: &'p str,
    pub token_code: &'p str,
}

impl Authenticator {
    /// Check `code` for `caller` and return the MFA authentication time (now, unix seconds).
    /// The device must be the caller's user's (a role session or federated user has none), the
    /// code one of the steps around `now`, and not used before: the (device, step) pair is
    /// remembered in the replay cache until the code could no longer be accepted.
    pub async fn verify_mfa(
        &self,
        caller: &Caller,
        code: &MfaCode<'_>,
        now: SystemTime,
    ) -> Result<i64, ApiError> {
        let denied = || ApiError::AccessDeniedMessage(INVALID_CODE);
        let user = caller_user(self.users(), caller)
            .await?
            .ok_or_else(denied)?;
        let keyring = self.keyring.snapshot();
        let seed = user
            .mfa_seed(code.serial_number, &keyring)
            .ok_or_else(denied)?;
        let step = totp::matching_step(&seed, code.token_code, now).ok_or_else(denied)?;
        // Past this instant the step is outside the drift window of every later `now`.
        let until = (step + totp::DRIFT_STEPS + 1) * totp::STEP_SECONDS;
        let key = ReplayKey::MfaCode {
            serial_number: code.serial_number.to_owned(),
            step,
        };
        let first_use = self
            .replay
            .remember_once(&key, until, unix_seconds(now))
            .await
            .map_err(ApiError::from)?;
        if !first_use {
            tracing::info!(serial_number = %code.serial_number, "an MFA code was used twice");
            return Err(ApiError::AccessDeniedMessage(crate::error::MFA_CODE_REUSED));
        }
        Ok(unix_seconds(now))
    }
}
