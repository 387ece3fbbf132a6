//! MFA codes passed to `GetSessionToken` and `AssumeRole` (`SerialNumber` + `TokenCode`):
//! checked against the caller's own virtual MFA device, each code usable once.

use std::time::SystemTime;

use super::StsState;
use super::auth::{Caller, caller_user};
use super::error::StsError;
use super::params::MfaCode;
use crate::clock::unix_seconds;
use crate::creds::totp;

/// AWS's sentence for a code that does not verify.
const INVALID_CODE: &str = "MultiFactorAuthentication failed with invalid MFA one time pass code.";
/// A code already used within its window (AWS refuses reuse as well).
const REUSED_CODE: &str =
    "MultiFactorAuthentication failed, the MFA one time pass code has already been used.";

/// Check `code` for `caller` and return the MFA authentication time (now). The device must be
/// the caller's user's (a role session or federated user has none), the code one of the steps
/// around `now`, and not used before: the (device, step) pair is remembered in the store until
/// the code could no longer be accepted.
pub(crate) async fn verify_mfa(
    state: &StsState,
    caller: &Caller,
    code: &MfaCode<'_>,
    now: SystemTime,
) -> Result<i64, StsError> {
    let denied = || StsError::AccessDeniedMessage(INVALID_CODE);
    let user = caller_user(state, caller)?.ok_or_else(denied)?;
    let keyring = state.keyring.snapshot();
    let seed = user
        .mfa_seed(code.serial_number, &keyring)
        .ok_or_else(denied)?;
    let step = totp::matching_step(&seed, code.token_code, now).ok_or_else(denied)?;
    // Past this instant the step is outside the drift window of every later `now`.
    let until = (step + totp::DRIFT_STEPS + 1) * totp::STEP_SECONDS;
    let first_use = state
        .store
        .remember_once(
            &format!("mfa/{}/{step}", code.serial_number),
            until,
            unix_seconds(now),
        )
        .map_err(|e| StsError::Internal(e.to_string()))?;
    if !first_use {
        tracing::info!(serial_number = %code.serial_number, "an MFA code was used twice");
        return Err(StsError::AccessDeniedMessage(REUSED_CODE));
    }
    Ok(unix_seconds(now))
}
