//! The `Principal` element: who a trust-policy statement is about.

use super::PrincipalId;
use crate::arn::is_account_id;

/// The principal types a `Principal` map may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PrincipalType {
    Aws,
    Federated,
    Service,
    CanonicalUser,
}

impl PrincipalType {
    /// Maps a key of the `Principal` object (case-sensitive, as in AWS).
    pub(super) fn from_element(name: &str) -> Option<Self> {
        match name {
            "AWS" => Some(Self::Aws),
            "Federated" => Some(Self::Federated),
            "Service" => Some(Self::Service),
            "CanonicalUser" => Some(Self::CanonicalUser),
            _ => None,
        }
    }

    /// The key of the `Principal` object that names this type.
    pub(super) const fn element_name(self) -> &'static str {
        match self {
            Self::Aws => "AWS",
            Self::Federated => "Federated",
            Self::Service => "Service",
            Self::CanonicalUser => "CanonicalUser",
        }
    }
}

/// One principal a statement names.
#[derive(Debug, Clone)]
pub(super) enum PrincipalEntry {
    /// `"Principal": "*"`: anyone at all.
    Anyone,
    /// `{"Federated": "accounts.google.com"}`; a value of `"*"` means anyone of that type.
    Typed { kind: PrincipalType, id: String },
}

impl PrincipalEntry {
    /// An entry from the policy text. An `AWS` account id is stored as its root ARN, the form AWS
    /// itself rewrites it to, so the two spellings match the same requests.
    pub(super) fn typed(kind: PrincipalType, id: &str) -> Self {
        let id = if kind == PrincipalType::Aws && is_account_id(id) {
            format!("arn:aws:iam::{id}:root")
        } else {
            id.to_owned()
        };
        Self::Typed { kind, id }
    }

    /// Whether any identity of the caller is this principal.
    pub(super) fn matches_any(&self, callers: &[PrincipalId]) -> bool {
        callers.iter().any(|caller| self.matches(caller))
    }

    fn matches(&self, caller: &PrincipalId) -> bool {
        let Self::Typed { kind, id } = self else {
            return true;
        };
        let (caller_kind, caller_id) = split(caller);
        *kind == caller_kind
            && (id == "*"
                || id == caller_id
                || (caller_kind == PrincipalType::Aws && root_account(id) == Some(caller_id)))
    }
}

fn split(caller: &PrincipalId) -> (PrincipalType, &str) {
    match caller {
        PrincipalId::Aws(id) => (PrincipalType::Aws, id),
        PrincipalId::Federated(id) => (PrincipalType::Federated, id),
        PrincipalId::Service(id) => (PrincipalType::Service, id),
        PrincipalId::CanonicalUser(id) => (PrincipalType::CanonicalUser, id),
    }
}

/// The account of an account-root ARN (`arn:PARTITION:iam::ACCOUNT:root`), in any partition.
fn root_account(arn: &str) -> Option<&str> {
    let (_partition, rest) = arn.strip_prefix("arn:")?.split_once(':')?;
    let account = rest.strip_prefix("iam::")?.strip_suffix(":root")?;
    is_account_id(account).then_some(account)
}
