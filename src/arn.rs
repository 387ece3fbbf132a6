//! Typed ARNs: every ARN the daemon formats or reads, with one `parse` and one `Display` each.
//!
//! Shapes (IAM user guide, "IAM identifiers"; STS API reference):
//! - role `arn:aws:iam::ACCOUNT:role/PATH/NAME` (path `/` or `/a/b/`),
//! - user `arn:aws:iam::ACCOUNT:user/NAME`,
//! - virtual MFA device `arn:aws:iam::ACCOUNT:mfa/NAME`,
//! - managed policy `arn:aws:iam::ACCOUNT:policy/NAME`,
//! - SAML provider `arn:aws:iam::ACCOUNT:saml-provider/NAME`,
//! - OIDC provider `arn:aws:iam::ACCOUNT:oidc-provider/HOST[/PATH]` (the issuer without its scheme),
//! - assumed role `arn:aws:sts::ACCOUNT:assumed-role/ROLE-NAME/SESSION-NAME` (no role path),
//! - federated user `arn:aws:sts::ACCOUNT:federated-user/NAME`.
//!
//! Parsing is strict about the prefix, the 12-digit account and a non-empty name; it never
//! allocates more than the parts it returns. Names are not checked against IAM's character sets
//! here: the configuration and the STS parameter checks do that where the names come from.

use std::fmt;

/// A 12-digit AWS account id.
pub fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// `[\w+=,.@-]`, the character set of IAM names (role, user, session, policy names).
pub fn is_iam_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)
}

/// The account and the resource part of `arn:aws:SERVICE::ACCOUNT:RESOURCE` with the resource
/// starting `kind`.
fn split<'a>(arn: &'a str, service: &str, kind: &str) -> Option<(&'a str, &'a str)> {
    let rest = arn.strip_prefix("arn:aws:")?.strip_prefix(service)?;
    let rest = rest.strip_prefix("::")?;
    let (account, resource) = rest.split_once(':')?;
    let resource = resource.strip_prefix(kind)?;
    (is_account_id(account) && !resource.is_empty()).then_some((account, resource))
}

/// `arn:aws:iam::ACCOUNT:role/PATH/NAME`
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RoleArn {
    pub account: String,
    /// `/`, or `/a/b/`.
    pub path: String,
    pub name: String,
}

impl RoleArn {
    pub fn parse(arn: &str) -> Option<Self> {
        let (account, rest) = split(arn, "iam", "role/")?;
        let (path, name) = match rest.rsplit_once('/') {
            Some((dirs, name)) => (format!("/{dirs}/"), name),
            None => ("/".to_owned(), rest),
        };
        (!name.is_empty() && !path.contains("//")).then(|| Self {
            account: account.to_owned(),
            path,
            name: name.to_owned(),
        })
    }

    /// The ARN of a session of this role (the role's path is not part of it).
    pub fn assumed_role(&self, session_name: &str) -> AssumedRoleArn {
        AssumedRoleArn {
            account: self.account.clone(),
            role_name: self.name.clone(),
            session_name: session_name.to_owned(),
        }
    }
}

impl fmt::Display for RoleArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:aws:iam::{}:role{}{}",
            self.account, self.path, self.name
        )
    }
}

/// Defines an ARN of the form `arn:aws:SERVICE::ACCOUNT:KIND/NAME`.
macro_rules! named_arn {
    ($(#[$doc:meta])* $name:ident, $service:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name {
            pub account: String,
            pub name: String,
        }

        impl $name {
            pub fn new(account: &str, name: &str) -> Self {
                Self {
                    account: account.to_owned(),
                    name: name.to_owned(),
                }
            }

            pub fn parse(arn: &str) -> Option<Self> {
                let (account, name) = split(arn, $service, concat!($kind, "/"))?;
                Some(Self::new(account, name))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(
                    f,
                    concat!("arn:aws:", $service, "::{}:", $kind, "/{}"),
                    self.account, self.name
                )
            }
        }
    };
}

named_arn!(
    /// `arn:aws:iam::ACCOUNT:user/NAME`
    UserArn,
    "iam",
    "user"
);
named_arn!(
    /// `arn:aws:iam::ACCOUNT:mfa/NAME`, a virtual MFA device (its `SerialNumber`).
    MfaArn,
    "iam",
    "mfa"
);
named_arn!(
    /// `arn:aws:iam::ACCOUNT:policy/NAME`, a managed policy.
    PolicyArn,
    "iam",
    "policy"
);
named_arn!(
    /// `arn:aws:iam::ACCOUNT:saml-provider/NAME`
    SamlProviderArn,
    "iam",
    "saml-provider"
);
named_arn!(
    /// `arn:aws:iam::ACCOUNT:oidc-provider/HOST[/PATH]`: `name` is the issuer without its scheme.
    OidcProviderArn,
    "iam",
    "oidc-provider"
);
named_arn!(
    /// `arn:aws:sts::ACCOUNT:federated-user/NAME` (`GetFederationToken`).
    FederatedUserArn,
    "sts",
    "federated-user"
);

/// `arn:aws:sts::ACCOUNT:assumed-role/ROLE-NAME/SESSION-NAME`
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AssumedRoleArn {
    pub account: String,
    pub role_name: String,
    pub session_name: String,
}

impl AssumedRoleArn {
    pub fn parse(arn: &str) -> Option<Self> {
        let (account, rest) = split(arn, "sts", "assumed-role/")?;
        let (role_name, session_name) = rest.split_once('/')?;
        (!role_name.is_empty() && !session_name.is_empty() && !session_name.contains('/')).then(
            || Self {
                account: account.to_owned(),
                role_name: role_name.to_owned(),
                session_name: session_name.to_owned(),
            },
        )
    }
}

impl fmt::Display for AssumedRoleArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:aws:sts::{}:assumed-role/{}/{}",
            self.account, self.role_name, self.session_name
        )
    }
}

/// The provider name of an OIDC issuer URL: the URL without its scheme, as trust policies
/// (`{"Federated": "accounts.google.com"}`) and condition keys (`accounts.google.com:aud`) name
/// it. A trailing slash stays, as IAM keeps it: an Auth0 tenant, whose issuer is
/// `https://x.auth0.com/`, is `oidc-provider/x.auth0.com/` with keys `x.auth0.com/:aud`; the
/// issuer is compared byte for byte with `iss`, so the two spellings are two providers.
pub fn oidc_provider_of_issuer(issuer: &str) -> String {
    issuer
        .strip_prefix("https://")
        .or_else(|| issuer.strip_prefix("http://"))
        .unwrap_or(issuer)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_with_and_without_a_path() {
        for text in [
            "arn:aws:iam::123456789012:role/app",
            "arn:aws:iam::123456789012:role/fuzz/web",
            "arn:aws:iam::123456789012:role/a/b/c",
        ] {
            let arn = RoleArn::parse(text).unwrap();
            assert_eq!(arn.to_string(), text);
        }
        let arn = RoleArn::parse("arn:aws:iam::123456789012:role/a/b/web").unwrap();
        assert_eq!((arn.path.as_str(), arn.name.as_str()), ("/a/b/", "web"));
        assert_eq!(
            arn.assumed_role("s1").to_string(),
            "arn:aws:sts::123456789012:assumed-role/web/s1"
        );
    }

    #[test]
    fn malformed_arns_are_refused() {
        for bad in [
            "",
            "arn:aws:iam::12345678901:role/app",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:iam::123456789012:role/a//b",
            "arn:aws:iam::123456789012:role/a/",
            "arn:aws:sts::123456789012:role/app",
            "arn:aws-cn:iam::123456789012:role/app",
            "arn:aws:iam:us-east-1:123456789012:role/app",
            "arn:aws:iam::123456789012:user/app",
        ] {
            assert_eq!(RoleArn::parse(bad), None, "{bad}");
        }
        assert_eq!(
            SamlProviderArn::parse("arn:aws:iam::123456789012:saml-provider/"),
            None
        );
        assert_eq!(
            AssumedRoleArn::parse("arn:aws:sts::123456789012:assumed-role/r"),
            None
        );
    }

    #[test]
    fn named_arns_round_trip() {
        let saml = SamlProviderArn::parse("arn:aws:iam::123456789012:saml-provider/corp").unwrap();
        assert_eq!(saml, SamlProviderArn::new("123456789012", "corp"));
        assert_eq!(
            saml.to_string(),
            "arn:aws:iam::123456789012:saml-provider/corp"
        );
        assert_eq!(
            OidcProviderArn::new("123456789012", "127.0.0.1:9400/realms/x").to_string(),
            "arn:aws:iam::123456789012:oidc-provider/127.0.0.1:9400/realms/x"
        );
        assert_eq!(
            UserArn::new("123456789012", "alice").to_string(),
            "arn:aws:iam::123456789012:user/alice"
        );
        assert_eq!(
            FederatedUserArn::new("123456789012", "bob").to_string(),
            "arn:aws:sts::123456789012:federated-user/bob"
        );
        assert_eq!(
            UserArn::parse("arn:aws:iam::123456789012:user/alice").map(|u| u.name),
            Some("alice".to_owned())
        );
    }

    #[test]
    fn issuer_urls_name_their_provider() {
        assert_eq!(
            oidc_provider_of_issuer("https://accounts.google.com"),
            "accounts.google.com"
        );
        assert_eq!(
            oidc_provider_of_issuer("https://tenant.auth0.com/"),
            "tenant.auth0.com/"
        );
        assert_eq!(
            oidc_provider_of_issuer("http://127.0.0.1:9400/dev"),
            "127.0.0.1:9400/dev"
        );
    }
}
