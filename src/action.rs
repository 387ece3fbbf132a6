//! The STS actions this daemon serves: dispatch, the caller rules, IAM action names in policies
//! and the audit trail all name them through [`Action`].

/// One STS action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    AssumeRole,
    AssumeRoleWithWebIdentity,
    AssumeRoleWithSaml,
    GetCallerIdentity,
    GetSessionToken,
    GetFederationToken,
    GetAccessKeyInfo,
    DecodeAuthorizationMessage,
}

impl Action {
    pub const ALL: [Action; 8] = [
        Action::AssumeRole,
        Action::AssumeRoleWithWebIdentity,
        Action::AssumeRoleWithSaml,
        Action::GetCallerIdentity,
        Action::GetSessionToken,
        Action::GetFederationToken,
        Action::GetAccessKeyInfo,
        Action::DecodeAuthorizationMessage,
    ];

    /// The action by its Query API name (`Action=...`), exactly as AWS spells it.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The Query API name, as in `Action=` and the `…Response`/`…Result` elements.
    pub const fn name(self) -> &'static str {
        match self {
            Self::AssumeRole => "AssumeRole",
            Self::AssumeRoleWithWebIdentity => "AssumeRoleWithWebIdentity",
            Self::AssumeRoleWithSaml => "AssumeRoleWithSAML",
            Self::GetCallerIdentity => "GetCallerIdentity",
            Self::GetSessionToken => "GetSessionToken",
            Self::GetFederationToken => "GetFederationToken",
            Self::GetAccessKeyInfo => "GetAccessKeyInfo",
            Self::DecodeAuthorizationMessage => "DecodeAuthorizationMessage",
        }
    }

    /// Whether the action issues credentials (and so changes what the store holds).
    pub const fn issues_credentials(self) -> bool {
        matches!(
            self,
            Self::AssumeRole
                | Self::AssumeRoleWithWebIdentity
                | Self::AssumeRoleWithSaml
                | Self::GetSessionToken
                | Self::GetFederationToken
        )
    }

    /// The IAM action policies name it by (`sts:AssumeRole`).
    pub const fn iam_action(self) -> &'static str {
        match self {
            Self::AssumeRole => "sts:AssumeRole",
            Self::AssumeRoleWithWebIdentity => "sts:AssumeRoleWithWebIdentity",
            Self::AssumeRoleWithSaml => "sts:AssumeRoleWithSAML",
            Self::GetCallerIdentity => "sts:GetCallerIdentity",
            Self::GetSessionToken => "sts:GetSessionToken",
            Self::GetFederationToken => "sts:GetFederationToken",
            Self::GetAccessKeyInfo => "sts:GetAccessKeyInfo",
            Self::DecodeAuthorizationMessage => "sts:DecodeAuthorizationMessage",
        }
    }
}

/// IAM actions that are not STS API actions but are decided in trust policies.
pub const TAG_SESSION: &str = "sts:TagSession";
pub const SET_SOURCE_IDENTITY: &str = "sts:SetSourceIdentity";

/// Every action a role's trust policy is asked about: assuming the role each way, and what the
/// session may carry. An `Action` of a trust policy that matches none of them never applies.
pub const TRUST_ACTIONS: [&str; 5] = [
    Action::AssumeRole.iam_action(),
    Action::AssumeRoleWithWebIdentity.iam_action(),
    Action::AssumeRoleWithSaml.iam_action(),
    TAG_SESSION,
    SET_SOURCE_IDENTITY,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_case_sensitive() {
        for action in Action::ALL {
            assert_eq!(Action::from_name(action.name()), Some(action));
            assert_eq!(
                action.iam_action().strip_prefix("sts:"),
                Some(action.name())
            );
        }
        assert_eq!(Action::from_name("assumerole"), None);
        assert_eq!(Action::from_name("AssumeRoleWithSaml"), None);
    }
}
