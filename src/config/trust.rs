//! What can be told about a trust policy without a request: an `Action` that is none of the
//! actions trust policies are asked about, or a `Federated` principal that no configured
//! identity provider's requests carry, never applies. Warnings, not problems: the configuration
//! still loads (IAM accepts such policies too), but the role is likely not assumable the way
//! it was meant to be, or a `Deny` does not deny what it was meant to.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;

use super::{Problems, dev_issuer};
use crate::action::TRUST_ACTIONS;
use crate::arn::{OidcProviderArn, SamlProviderArn, oidc_provider_of_issuer};
use crate::idp::IdpSettings;
use crate::policy::Policy;

/// The identity providers a daemon on this configuration has, by the names requests from them
/// present to trust policies.
pub(super) struct KnownProviders {
    /// OIDC provider names: the issuer without its scheme.
    oidc: BTreeSet<String>,
    /// SAML provider names (`arn:aws:iam::ACCOUNT:saml-provider/NAME`).
    saml: BTreeSet<String>,
}

impl KnownProviders {
    /// The configured IdPs, and the development issuer `serve --dev` adds when listening on
    /// `listen` (no file configures it, and the example roles trust it).
    pub(super) fn new(idps: &[IdpSettings], listen: Option<SocketAddr>) -> Self {
        let mut known = Self {
            oidc: BTreeSet::new(),
            saml: BTreeSet::new(),
        };
        for idp in idps {
            match idp {
                IdpSettings::Oidc(o) => known.oidc.insert(o.provider.clone()),
                IdpSettings::Saml(s) => known.saml.insert(s.name.clone()),
            };
        }
        if let Some(listen) = listen {
            known
                .oidc
                .insert(oidc_provider_of_issuer(&dev_issuer(listen)));
        }
        known
    }

    /// Whether requests from a known IdP can present `principal` to the trust policy of a role
    /// of `account`, as the federation builds them: an OIDC identity as its provider name and
    /// as its provider ARN in the role's account, a SAML one as the provider ARN the request
    /// names. If not, why not.
    fn admit(&self, principal: &str, account: &str) -> Result<(), String> {
        if principal == "*" || self.oidc.contains(principal) {
            return Ok(());
        }
        if let Some(arn) = OidcProviderArn::parse(principal)
            && self.oidc.contains(&arn.name)
        {
            return if arn.account == account {
                Ok(())
            } else {
                Err(format!(
                    "names the provider in account {}, but web identities are matched by the \
                     provider ARN in the role's own account ({account})",
                    arn.account
                ))
            };
        }
        if let Some(arn) = SamlProviderArn::parse(principal)
            && self.saml.contains(&arn.name)
        {
            return Ok(());
        }
        Err(format!(
            "is no configured identity provider, so it never matches{}",
            self.hint(principal, account)
        ))
    }

    /// The likely intended name of an unknown `principal`, as a parenthesised hint.
    fn hint(&self, principal: &str, account: &str) -> String {
        let bare = principal
            .strip_prefix("https://")
            .or_else(|| principal.strip_prefix("http://"));
        if let Some(bare) = bare
            && self.oidc.contains(bare)
        {
            return format!(" (an OIDC provider is named without the scheme: {bare:?})");
        }
        if self.saml.contains(principal) {
            return format!(
                " (a SAML provider is named by its ARN: \
                 \"arn:aws:iam::{account}:saml-provider/{principal}\")"
            );
        }
        let (prefix, name) = match OidcProviderArn::parse(principal) {
            Some(arn) => (
                format!("arn:aws:iam::{}:oidc-provider/", arn.account),
                arn.name,
            ),
            None => (String::new(), principal.to_owned()),
        };
        let other = match name.strip_suffix('/') {
            Some(without) => without.to_owned(),
            None => format!("{name}/"),
        };
        if self.oidc.contains(&other) {
            return format!(
                " (the configured provider is \"{prefix}{other}\": they differ by a trailing slash)"
            );
        }
        String::new()
    }
}

/// Warn of what in `policy`, the trust policy of a role of `account` in the file at `path`,
/// never applies.
pub(super) fn check(
    path: &Path,
    policy: &Policy,
    account: &str,
    known: &KnownProviders,
    problems: &mut Problems,
) {
    let field = Some("AssumeRolePolicyDocument");
    for (index, action) in policy.actions_matching_none(&TRUST_ACTIONS) {
        problems.warn(
            path,
            field,
            format!(
                "Statement[{index}]: Action {action:?} is none of the actions a trust policy is \
                 asked about ({}), so it never applies",
                TRUST_ACTIONS.join(", ")
            ),
        );
    }
    for (index, principal) in policy.federated_principals() {
        if let Err(why) = known.admit(principal, account) {
            problems.warn(
                path,
                field,
                format!("Statement[{index}]: Federated principal {principal:?} {why}"),
            );
        }
    }
}
