//! The signature algorithms a SAML IdP may be allowed (RFC 6931 §2.3), and the digests that go
//! with them (§2.1): an IdP's allow-list is a list of these, named in its configuration by the
//! short names below or by their XML-DSig URIs.

use samael::crypto::AllowedSignatureAlgorithm;

/// A signature method of XML-DSig. The digest a signature's references may use is the hash
/// of one of the IdP's allowed signature methods, so narrowing the list narrows both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureAlgorithm {
    RsaSha256,
    RsaSha384,
    RsaSha512,
    EcdsaSha256,
    EcdsaSha384,
    EcdsaSha512,
    /// Only with `allow_sha1`.
    RsaSha1,
    /// Only with `allow_sha1`.
    EcdsaSha1,
}

impl SignatureAlgorithm {
    /// The allow-list of an IdP that configures none: RSA PKCS#1 v1.5 and ECDSA with SHA-2.
    pub const DEFAULT: [Self; 6] = [
        Self::RsaSha256,
        Self::RsaSha384,
        Self::RsaSha512,
        Self::EcdsaSha256,
        Self::EcdsaSha384,
        Self::EcdsaSha512,
    ];
    /// The SHA-1 methods, added to the default with `allow_sha1`.
    pub const SHA1: [Self; 2] = [Self::RsaSha1, Self::EcdsaSha1];
    /// Every method that may be configured.
    pub const ALL: [Self; 8] = [
        Self::RsaSha256,
        Self::RsaSha384,
        Self::RsaSha512,
        Self::EcdsaSha256,
        Self::EcdsaSha384,
        Self::EcdsaSha512,
        Self::RsaSha1,
        Self::EcdsaSha1,
    ];

    /// The short name used in configuration files (`rsa-sha256`, ...): the URI's fragment.
    pub fn name(self) -> &'static str {
        match self.uri().rsplit_once('#') {
            Some((_, name)) => name,
            None => self.uri(),
        }
    }

    /// The `SignatureMethod` URI (RFC 6931 §2.3.2, §2.3.6; XML-DSig §6.4.2).
    pub fn uri(self) -> &'static str {
        match self {
            Self::RsaSha256 => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            Self::RsaSha384 => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
            Self::RsaSha512 => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
            Self::EcdsaSha256 => "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
            Self::EcdsaSha384 => "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
            Self::EcdsaSha512 => "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
            Self::RsaSha1 => "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
            Self::EcdsaSha1 => "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1",
        }
    }

    /// The `DigestMethod` URI of the same hash (RFC 6931 §2.1).
    pub fn digest_uri(self) -> &'static str {
        match self {
            Self::RsaSha256 | Self::EcdsaSha256 => "http://www.w3.org/2001/04/xmlenc#sha256",
            Self::RsaSha384 | Self::EcdsaSha384 => "http://www.w3.org/2001/04/xmldsig-more#sha384",
            Self::RsaSha512 | Self::EcdsaSha512 => "http://www.w3.org/2001/04/xmlenc#sha512",
            Self::RsaSha1 | Self::EcdsaSha1 => "http://www.w3.org/2000/09/xmldsig#sha1",
        }
    }

    pub fn is_sha1(self) -> bool {
        Self::SHA1.contains(&self)
    }

    /// The method a configuration names: a short name (any letter case) or the exact URI.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name) || a.uri() == name)
    }

    /// samael's name for it; samael has none for the SHA-1 methods.
    fn samael(self) -> Option<AllowedSignatureAlgorithm> {
        Some(match self {
            Self::RsaSha256 => AllowedSignatureAlgorithm::RsaSha256,
            Self::RsaSha384 => AllowedSignatureAlgorithm::RsaSha384,
            Self::RsaSha512 => AllowedSignatureAlgorithm::RsaSha512,
            Self::EcdsaSha256 => AllowedSignatureAlgorithm::EcdsaSha256,
            Self::EcdsaSha384 => AllowedSignatureAlgorithm::EcdsaSha384,
            Self::EcdsaSha512 => AllowedSignatureAlgorithm::EcdsaSha512,
            Self::RsaSha1 | Self::EcdsaSha1 => return None,
        })
    }
}

/// An IdP's allow-list, in the two forms the verification steps need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct AllowList {
    algorithms: Vec<SignatureAlgorithm>,
    /// samael's form, `None` when the list holds a SHA-1 method samael cannot name: the
    /// structure checks then enforce the list alone (they always do, on every signature).
    samael: Option<Vec<AllowedSignatureAlgorithm>>,
}

impl AllowList {
    pub(super) fn new(algorithms: &[SignatureAlgorithm]) -> Self {
        let samael = algorithms.iter().map(|a| a.samael()).collect();
        Self {
            algorithms: algorithms.to_vec(),
            samael,
        }
    }

    pub(super) fn allows_signature(&self, uri: &str) -> bool {
        self.algorithms.iter().any(|a| a.uri() == uri)
    }

    pub(super) fn allows_digest(&self, uri: &str) -> bool {
        self.algorithms.iter().any(|a| a.digest_uri() == uri)
    }

    pub(super) fn samael(&self) -> Option<&[AllowedSignatureAlgorithm]> {
        self.samael.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_and_uris_name_the_same_method() {
        for a in SignatureAlgorithm::ALL {
            assert_eq!(SignatureAlgorithm::parse(a.name()), Some(a));
            assert_eq!(SignatureAlgorithm::parse(a.uri()), Some(a));
            assert_eq!(
                SignatureAlgorithm::parse(&a.name().to_ascii_uppercase()),
                Some(a)
            );
        }
        assert_eq!(SignatureAlgorithm::RsaSha256.name(), "rsa-sha256");
        assert_eq!(SignatureAlgorithm::EcdsaSha1.name(), "ecdsa-sha1");
        for unknown in [
            "",
            "RS256",
            "rsa-sha224",
            "hmac-sha256",
            "http://www.w3.org/2000/09/xmldsig#hmac-sha1",
        ] {
            assert_eq!(SignatureAlgorithm::parse(unknown), None, "{unknown}");
        }
    }

    #[test]
    fn samael_gets_the_list_unless_it_holds_sha1() {
        let list = AllowList::new(&[SignatureAlgorithm::RsaSha256]);
        assert_eq!(
            list.samael(),
            Some([AllowedSignatureAlgorithm::RsaSha256].as_slice())
        );
        assert!(list.allows_digest("http://www.w3.org/2001/04/xmlenc#sha256"));
        assert!(!list.allows_digest("http://www.w3.org/2001/04/xmlenc#sha512"));
        let legacy = AllowList::new(&[SignatureAlgorithm::RsaSha256, SignatureAlgorithm::RsaSha1]);
        assert_eq!(legacy.samael(), None);
        assert!(legacy.allows_digest("http://www.w3.org/2000/09/xmldsig#sha1"));
    }
}
