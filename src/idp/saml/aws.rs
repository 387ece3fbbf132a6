//! The AWS SAML attributes (IAM user guide, "Configuring SAML assertions for the authentication
//! response"), read in one place from a verified assertion: `Role`, `RoleSessionName`,
//! `SessionDuration`, `SourceIdentity`, `PrincipalTag:{Key}`, `TransitiveTagKeys`.
//! Names are case-sensitive, as AWS reads them.

use std::collections::BTreeMap;

use crate::arn::{RoleArn, SamlProviderArn, is_iam_name_char};
use crate::identity::{SamlGrant, SamlRole, SessionTags};

/// The AWS SAML attribute namespace.
const AWS_ATTRIBUTE: &str = "https://aws.amazon.com/SAML/Attributes/";

/// What the AWS attributes say: the grant, the session tags, the source identity.
pub(super) fn read(
    attributes: &BTreeMap<String, Vec<String>>,
) -> (SamlGrant, SessionTags, Option<String>) {
    let grant = SamlGrant {
        roles: roles(attributes),
        session_name: first(attributes, "RoleSessionName")
            .filter(|name| valid_session_name(name))
            .map(str::to_owned),
        session_duration: first(attributes, "SessionDuration").map(session_duration),
    };
    let source_identity = first(attributes, "SourceIdentity").map(str::to_owned);
    (grant, session_tags(attributes), source_identity)
}

/// The first value of the AWS attribute `name`.
fn first<'a>(attributes: &'a BTreeMap<String, Vec<String>>, name: &str) -> Option<&'a str> {
    attributes
        .get(&format!("{AWS_ATTRIBUTE}{name}"))
        .and_then(|v| v.first())
        .map(String::as_str)
}

/// Every `Role` value that pairs a role ARN with a SAML provider ARN, in either order (as AWS
/// accepts; whitespace around the ARNs ignored). Other values grant nothing.
fn roles(attributes: &BTreeMap<String, Vec<String>>) -> Vec<SamlRole> {
    attributes
        .get(&format!("{AWS_ATTRIBUTE}Role"))
        .into_iter()
        .flatten()
        .filter_map(|pair| pair.split_once(','))
        .map(|(a, b)| (a.trim(), b.trim()))
        .filter_map(|(a, b)| {
            let is_pair = |role: &str, provider: &str| {
                RoleArn::parse(role).is_some() && SamlProviderArn::parse(provider).is_some()
            };
            let (role, provider) = if is_pair(a, b) {
                (a, b)
            } else if is_pair(b, a) {
                (b, a)
            } else {
                return None;
            };
            Some(SamlRole {
                role_arn: role.to_owned(),
                provider_arn: provider.to_owned(),
            })
        })
        .collect()
}

fn valid_session_name(name: &str) -> bool {
    (2..=64).contains(&name.chars().count()) && name.chars().all(is_iam_name_char)
}

/// `SessionDuration`: 900-43200 seconds, or the value as given.
fn session_duration(value: &str) -> Result<u32, String> {
    match value.trim().parse::<u32>() {
        Ok(seconds) if (900..=43_200).contains(&seconds) => Ok(seconds),
        _ => Err(value.to_owned()),
    }
}

/// Session tags from the `PrincipalTag:{Key}` attributes and `TransitiveTagKeys`.
fn session_tags(attributes: &BTreeMap<String, Vec<String>>) -> SessionTags {
    let mut tags = SessionTags::default();
    let prefix = format!("{AWS_ATTRIBUTE}PrincipalTag:");
    for (name, values) in attributes {
        if let (Some(key), Some(value)) = (name.strip_prefix(&prefix), values.first()) {
            tags.principal_tags.insert(key.to_owned(), value.clone());
        }
    }
    if let Some(keys) = attributes.get(&format!("{AWS_ATTRIBUTE}TransitiveTagKeys")) {
        tags.transitive_tag_keys = keys.clone();
    }
    tags
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attributes(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        pairs
            .iter()
            .map(|(name, values)| {
                (
                    format!("{AWS_ATTRIBUTE}{name}"),
                    values.iter().map(|v| (*v).to_owned()).collect(),
                )
            })
            .collect()
    }

    const ROLE: &str = "arn:aws:iam::123456789012:role/admin";
    const PROVIDER: &str = "arn:aws:iam::123456789012:saml-provider/corp";

    #[test]
    fn role_pairs_are_read_in_either_order_and_junk_grants_nothing() {
        let reversed = format!("{PROVIDER} , {ROLE}");
        let (grant, _, _) = read(&attributes(&[(
            "Role",
            &[
                &format!("{ROLE},{PROVIDER}"),
                &reversed,
                "no comma",
                "a,b",
                &format!("{ROLE},{ROLE}"),
            ],
        )]));
        assert_eq!(grant.roles.len(), 2);
        assert!(grant.grants(ROLE, PROVIDER));
        assert!(!grant.grants(PROVIDER, ROLE));
        assert!(!grant.grants("a", "b"));
    }

    #[test]
    fn session_name_and_duration_are_checked() {
        let (grant, _, si) = read(&attributes(&[
            ("RoleSessionName", &["alice@example.com"]),
            ("SessionDuration", &[" 7200 "]),
            ("SourceIdentity", &["alice"]),
        ]));
        assert_eq!(grant.session_name.as_deref(), Some("alice@example.com"));
        assert_eq!(grant.session_duration, Some(Ok(7200)));
        assert_eq!(si.as_deref(), Some("alice"));
        for bad in ["899", "43201", "-1", "1h", ""] {
            let (grant, _, _) = read(&attributes(&[
                ("RoleSessionName", &["a b"]),
                ("SessionDuration", &[bad]),
            ]));
            assert_eq!(grant.session_name, None);
            assert_eq!(grant.session_duration, Some(Err(bad.to_owned())));
        }
        let (grant, tags, si) = read(&BTreeMap::new());
        assert_eq!(grant, SamlGrant::default());
        assert!(tags.is_empty() && si.is_none());
    }

    #[test]
    fn tags_come_from_principal_tag_attributes() {
        let (_, tags, _) = read(&attributes(&[
            ("PrincipalTag:team", &["platform"]),
            ("TransitiveTagKeys", &["team"]),
        ]));
        assert_eq!(tags.principal_tags["team"], "platform");
        assert_eq!(tags.transitive_tag_keys, ["team"]);
    }
}
