//! The signed caller of an STS request, and the STS actions each kind of temporary credentials
//! may call.

use crate::action::Action;
use crate::audit::{AuditDraft, AuditIdentity};
use crate::creds::SessionKind;
use crate::creds::sigv4::SigV4Error;
use crate::error::ApiError;
use crate::principal::Caller;

use super::Context;

/// The service name STS requests are signed for (the credential scope's `…/REGION/sts/…`).
const SIGNING_NAME: &str = "sts";

/// The STS actions each kind of temporary credentials may call, as AWS limits them: none may
/// call `GetSessionToken` or `GetFederationToken`; a federated user only `GetCallerIdentity`;
/// an IAM user's session token only `AssumeRole` and `GetCallerIdentity` (IAM user guide,
/// "Comparing the AWS STS API operations").
fn require_sts_caller(caller: &Caller, action: Action) -> Result<(), ApiError> {
    use Action::{AssumeRole, GetCallerIdentity, GetFederationToken, GetSessionToken};
    let allowed = match (caller.session().map(|c| c.session.kind), action) {
        (Some(_), GetSessionToken | GetFederationToken) => false,
        (None | Some(SessionKind::AssumedRole), _) => true,
        (Some(SessionKind::User), action) => matches!(action, AssumeRole | GetCallerIdentity),
        (Some(SessionKind::FederatedUser), action) => action == GetCallerIdentity,
    };
    if allowed {
        Ok(())
    } else {
        Err(ApiError::AccessDeniedMessage(match action {
            GetSessionToken => "Cannot call GetSessionToken with session credentials",
            GetFederationToken => "Cannot call GetFederationToken with session credentials",
            _ => "These temporary credentials may not call this STS action.",
        }))
    }
}

/// The verified caller of a signed STS request for `action`, named in the audit event, and
/// allowed to call that action with its kind of credentials.
pub(super) async fn authenticate(
    ctx: &Context<'_>,
    action: Action,
    audit: &mut AuditDraft,
) -> Result<Caller, ApiError> {
    let parts = ctx
        .meta
        .signed
        .as_ref()
        .ok_or(ApiError::Auth(SigV4Error::MissingAuthenticationToken))?;
    let federation = ctx.state.federation();
    let caller = ctx
        .state
        .principals()
        .verify(parts, SIGNING_NAME, &federation, ctx.now)
        .await
        .map_err(|refused| {
            if let Some(key) = &refused.access_key_id {
                audit.identify(AuditIdentity::claimed_key(key));
            }
            ApiError::Auth(refused.error)
        })?
        .caller;
    audit.identify(caller.audit_identity());
    require_sts_caller(&caller, action)?;
    Ok(caller)
}
