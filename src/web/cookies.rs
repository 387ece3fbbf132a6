//! The portal's cookies: values sealed with the keyring, each kind under its own purpose, with
//! an expiry inside the seal; the attributes set in one place ([`Cookies::set`]).
//!
//! Sealing purposes (the associated data of `creds::sealed`, whose version byte already keeps
//! every sealed value apart from session tokens, both ways): `portal-cookie:session`,
//! `portal-cookie:login` and `portal-cookie:saml-login`, and `portal-csrf:<binding>` for form tokens (`csrf`). No other
//! sealed value uses the `portal-` prefix, so a cookie opens only as its own kind: never as a
//! session token, a user's secret key, an MFA seed, an authorization message or another cookie.
//!
//! Cookie attributes: `HttpOnly`, `SameSite=Lax`, `Path=/`; the SAML login cookie is
//! `SameSite=None` in a secure context (it must come with the IdP's cross-site POST to the
//! assertion consumer, for the InResponseTo match; it holds no authority, only which
//! AuthnRequest this browser sent). When browsers treat the public URL
//! as a secure context (https, or a loopback host such as `http://127.0.0.1:8080`, where they
//! keep `Secure` cookies but drop `__Host-` ones that lack `Secure`) the name carries the
//! `__Host-` prefix and the cookie is `Secure`, bound to this exact origin. Names start with
//! `stsbridge-`, apart from common IdP cookie names, since cookies are shared by every port of
//! a host.

use std::time::{Duration, SystemTime};

use aws_lc_rs::rand::SecureRandom;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::clock::unix_seconds;
use crate::creds::{Keyring, MintError, sealed};

/// What a cookie holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieKind {
    /// The portal session of a signed-in person.
    Session,
    /// A login in progress: PKCE verifier, nonce, state, IdP, return path.
    Login,
    /// A SAML login started here: the AuthnRequest ID, IdP, return path.
    SamlLogin,
}

impl CookieKind {
    fn base_name(self) -> &'static str {
        match self {
            Self::Session => "stsbridge-session",
            Self::Login => "stsbridge-login",
            Self::SamlLogin => "stsbridge-saml-login",
        }
    }

    /// The sealing purpose of this kind.
    fn purpose(self) -> &'static str {
        match self {
            Self::Session => "portal-cookie:session",
            Self::Login => "portal-cookie:login",
            Self::SamlLogin => "portal-cookie:saml-login",
        }
    }

    /// `SameSite` of this kind, in a `secure` context or not (`None` requires `Secure`).
    fn same_site(self, secure: bool) -> &'static str {
        match self {
            Self::SamlLogin if secure => "None",
            _ => "Lax",
        }
    }
}

/// Why a cookie was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CookieError {
    #[error("no such cookie")]
    Missing,
    /// Tampered, sealed by a key the keyring does not hold, of another kind, or not ours.
    #[error("the cookie does not open")]
    Refused,
    #[error("the cookie has expired")]
    Expired,
}

/// The sealed plaintext: the value and when it stops being accepted.
#[derive(Serialize, serde::Deserialize)]
struct Envelope<T> {
    /// Unix seconds; the value is refused from this instant on.
    expires: i64,
    value: T,
}

/// The cookie names and attributes of one public URL.
#[derive(Debug, Clone, Copy)]
pub struct Cookies {
    /// `Secure` and `__Host-` (the public URL is a secure context).
    secure: bool,
}

impl Cookies {
    /// Cookies for a public URL that is (`secure_context`) a secure context or not.
    pub fn new(secure_context: bool) -> Self {
        Self {
            secure: secure_context,
        }
    }

    /// The cookie's name.
    pub fn name(&self, kind: CookieKind) -> String {
        if self.secure {
            format!("__Host-{}", kind.base_name())
        } else {
            kind.base_name().to_owned()
        }
    }

    /// The `Set-Cookie` values holding `value` sealed for `kind`, accepted until `now + ttl`:
    /// one cookie, or [`MAX_CHUNKS`] at most when the sealed value is longer than a browser
    /// keeps in one (a SAML identity with many attributes).
    pub fn set<T: Serialize>(
        &self,
        keyring: &Keyring,
        kind: CookieKind,
        value: &T,
        now: SystemTime,
        ttl: Duration,
        rng: &dyn SecureRandom,
    ) -> Result<SetCookies, MintError> {
        let envelope = Envelope {
            expires: unix_seconds(now + ttl),
            value,
        };
        let plain = postcard::to_stdvec(&envelope).map_err(|_| MintError::Seal)?;
        let packed = zstd::bulk::compress(&plain, 3).map_err(|_| MintError::Seal)?;
        let sealed = sealed::seal(keyring, kind.purpose(), &packed, rng)?;
        let chunks: Vec<&str> = split(&sealed, CHUNK_LEN);
        if chunks.len() > MAX_CHUNKS {
            return Err(MintError::TooLarge {
                max: CHUNK_LEN * MAX_CHUNKS,
            });
        }
        let mut lines = Vec::with_capacity(chunks.len());
        for (i, chunk) in chunks.iter().enumerate() {
            let value = match (i, chunks.len()) {
                (_, 1) => (*chunk).to_owned(),
                (0, n) => format!("{n}.{chunk}"),
                _ => (*chunk).to_owned(),
            };
            lines.push(self.attributes(kind, &self.chunk_name(kind, i), &value, ttl.as_secs()));
        }
        Ok(SetCookies(lines))
    }

    /// The `Set-Cookie` values that delete the cookie of `kind` (every chunk it may have).
    pub fn clear(&self, kind: CookieKind) -> SetCookies {
        SetCookies(
            (0..MAX_CHUNKS)
                .map(|i| self.attributes(kind, &self.chunk_name(kind, i), "", 0))
                .collect(),
        )
    }

    /// The name of chunk `index` of a cookie of `kind` (the first is the cookie's own name).
    fn chunk_name(&self, kind: CookieKind, index: usize) -> String {
        match index {
            0 => self.name(kind),
            i => format!("{}-{}", self.name(kind), i + 1),
        }
    }

    fn attributes(&self, kind: CookieKind, name: &str, value: &str, max_age: u64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        let same_site = kind.same_site(self.secure);
        format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite={same_site}{secure}")
    }

    /// The value of the cookie of `kind` among the `Cookie` headers `headers`, opened: the
    /// first of that name that opens and has not expired at `now` (another port of the host
    /// may have set one of the same name when the cookies are not `__Host-`).
    pub fn open<'h, T: DeserializeOwned>(
        &self,
        keyring: &Keyring,
        kind: CookieKind,
        headers: impl IntoIterator<Item = &'h str>,
        now: SystemTime,
    ) -> Result<T, CookieError> {
        let pairs: Vec<(&str, &str)> = headers
            .into_iter()
            .flat_map(|h| h.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .map(|(n, v)| (n, v.trim_matches('"')))
            .collect();
        let name = self.name(kind);
        let mut refusal = CookieError::Missing;
        for (_, first) in pairs.iter().filter(|(n, _)| *n == name) {
            let opened = self
                .whole(kind, first, &pairs)
                .and_then(|value| open_one(keyring, kind, &value, now));
            match opened {
                Ok(v) => return Ok(v),
                // Say "expired" over "refused": it tells the person what to do.
                Err(e) if refusal != CookieError::Expired => refusal = e,
                Err(_) => {}
            }
        }
        Err(refusal)
    }

    /// The sealed value whose first chunk is `first`, with the chunks that follow it (the
    /// first of each name among `pairs`).
    fn whole(
        &self,
        kind: CookieKind,
        first: &str,
        pairs: &[(&str, &str)],
    ) -> Result<String, CookieError> {
        let Some((count, chunk)) = first.split_once('.') else {
            return Ok(first.to_owned());
        };
        let count = count
            .parse::<usize>()
            .ok()
            .filter(|n| (2..=MAX_CHUNKS).contains(n))
            .ok_or(CookieError::Refused)?;
        let mut value = chunk.to_owned();
        for i in 1..count {
            let name = self.chunk_name(kind, i);
            let (_, next) = pairs
                .iter()
                .find(|(n, _)| *n == name)
                .ok_or(CookieError::Refused)?;
            value.push_str(next);
        }
        Ok(value)
    }
}

/// `Set-Cookie` header values, sent together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetCookies(pub Vec<String>);

/// `text` in pieces of at most `len` bytes (the text is base64: ASCII).
fn split(text: &str, len: usize) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while rest.len() > len {
        let (piece, tail) = rest.split_at(len);
        pieces.push(piece);
        rest = tail;
    }
    pieces.push(rest);
    pieces
}

/// The largest value of one cookie: browsers keep 4096 bytes of name, value and attributes.
const CHUNK_LEN: usize = 3800;

/// Chunks a cookie may span.
pub const MAX_CHUNKS: usize = 4;

/// The largest decompressed value a cookie may hold.
const MAX_PLAIN_LEN: usize = 256 * 1024;

fn open_one<T: DeserializeOwned>(
    keyring: &Keyring,
    kind: CookieKind,
    value: &str,
    now: SystemTime,
) -> Result<T, CookieError> {
    let packed = sealed::open(keyring, kind.purpose(), value).map_err(|_| CookieError::Refused)?;
    let plain = zstd::bulk::decompress(&packed, MAX_PLAIN_LEN).map_err(|_| CookieError::Refused)?;
    let envelope: Envelope<T> = postcard::from_bytes(&plain).map_err(|_| CookieError::Refused)?;
    if unix_seconds(now) >= envelope.expires {
        return Err(CookieError::Expired);
    }
    Ok(envelope.value)
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::rand::SystemRandom;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as BASE64;

    use super::*;
    use crate::clock::from_unix_seconds;

    const T0: i64 = 1_795_000_000;

    #[derive(Debug, PartialEq, Serialize, serde::Deserialize)]
    struct Flow {
        idp: String,
        nonce: String,
    }

    fn flow() -> Flow {
        Flow {
            idp: "corp".into(),
            nonce: "n-0S6_WzA2Mj".into(),
        }
    }

    fn keyring() -> Keyring {
        Keyring::generate(from_unix_seconds(T0)).unwrap()
    }

    /// The value of a `Set-Cookie` line, as a browser sends it back.
    fn sent_back(set_cookie: &str) -> String {
        set_cookie.split(';').next().unwrap().to_owned()
    }

    fn set(cookies: Cookies, keyring: &Keyring, kind: CookieKind) -> String {
        cookies
            .set(
                keyring,
                kind,
                &flow(),
                from_unix_seconds(T0),
                Duration::from_secs(600),
                &SystemRandom::new(),
            )
            .unwrap()
            .0
            .remove(0)
    }

    #[test]
    fn attributes_follow_the_public_url() {
        let keyring = keyring();
        let secure = set(Cookies::new(true), &keyring, CookieKind::Login);
        assert!(secure.starts_with("__Host-stsbridge-login="), "{secure}");
        assert!(
            secure.ends_with("; Path=/; Max-Age=600; HttpOnly; SameSite=Lax; Secure"),
            "{secure}"
        );
        assert!(!secure.contains("Domain="), "__Host- cookies have none");
        let plain = set(Cookies::new(false), &keyring, CookieKind::Session);
        assert!(plain.starts_with("stsbridge-session="), "{plain}");
        assert!(plain.ends_with("; HttpOnly; SameSite=Lax"), "{plain}");
        let cleared = Cookies::new(true).clear(CookieKind::Session).0;
        assert_eq!(
            cleared[0],
            "__Host-stsbridge-session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure"
        );
        assert_eq!(cleared.len(), MAX_CHUNKS, "every chunk it may have");
        assert!(cleared[1].starts_with("__Host-stsbridge-session-2=;"));
    }

    #[test]
    fn the_saml_login_cookie_comes_with_cross_site_posts_only_when_secure() {
        let keyring = keyring();
        let secure = set(Cookies::new(true), &keyring, CookieKind::SamlLogin);
        assert!(
            secure.starts_with("__Host-stsbridge-saml-login="),
            "{secure}"
        );
        assert!(
            secure.ends_with("; HttpOnly; SameSite=None; Secure"),
            "{secure}"
        );
        // Browsers drop SameSite=None without Secure: Lax then (same-site IdPs only).
        let plain = set(Cookies::new(false), &keyring, CookieKind::SamlLogin);
        assert!(plain.ends_with("; HttpOnly; SameSite=Lax"), "{plain}");
        // Sealed under its own purpose: not a login cookie of the OIDC flow.
        let value = sent_back(&secure).split_once('=').unwrap().1.to_owned();
        let moved = format!("__Host-stsbridge-login={value}");
        assert_eq!(
            Cookies::new(true).open::<Flow>(
                &keyring,
                CookieKind::Login,
                [moved.as_str()],
                from_unix_seconds(T0)
            ),
            Err(CookieError::Refused)
        );
    }

    #[test]
    fn a_cookie_opens_until_it_expires() {
        let keyring = keyring();
        let cookies = Cookies::new(true);
        let header = format!(
            "other=1; {}; KEYCLOAK_SESSION=x",
            sent_back(&set(cookies, &keyring, CookieKind::Login))
        );
        let open = |at: i64| {
            cookies.open::<Flow>(
                &keyring,
                CookieKind::Login,
                [header.as_str()],
                from_unix_seconds(at),
            )
        };
        assert_eq!(open(T0 + 599), Ok(flow()));
        assert_eq!(open(T0 + 600), Err(CookieError::Expired));
        assert_eq!(
            cookies.open::<Flow>(
                &keyring,
                CookieKind::Session,
                [header.as_str()],
                from_unix_seconds(T0)
            ),
            Err(CookieError::Missing)
        );
    }

    #[test]
    fn tampered_foreign_and_other_kind_cookies_are_refused() {
        let keyring = keyring();
        let cookies = Cookies::new(false);
        let now = from_unix_seconds(T0);
        let login = sent_back(&set(cookies, &keyring, CookieKind::Login));
        let value = login.split_once('=').unwrap().1.to_owned();

        // One bit flipped.
        let mut bytes = BASE64.decode(&value).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let tampered = format!("stsbridge-login={}", BASE64.encode(&bytes));
        assert_eq!(
            cookies.open::<Flow>(&keyring, CookieKind::Login, [tampered.as_str()], now),
            Err(CookieError::Refused)
        );
        // Sealed by another daemon's keyring.
        assert_eq!(
            cookies.open::<Flow>(&self::keyring(), CookieKind::Login, [login.as_str()], now),
            Err(CookieError::Refused)
        );
        // A login cookie's value under the session cookie's name.
        let moved = format!("stsbridge-session={value}");
        assert_eq!(
            cookies.open::<Flow>(&keyring, CookieKind::Session, [moved.as_str()], now),
            Err(CookieError::Refused)
        );
        // Other sealed values of the keyring: a user's secret key.
        let user_key =
            sealed::seal(&keyring, "user-key:AKIA1", b"x", &SystemRandom::new()).unwrap();
        let foreign = format!("stsbridge-login={user_key}");
        assert_eq!(
            cookies.open::<Flow>(&keyring, CookieKind::Login, [foreign.as_str()], now),
            Err(CookieError::Refused)
        );
        // Garbage.
        assert_eq!(
            cookies.open::<Flow>(&keyring, CookieKind::Login, ["stsbridge-login=%%%"], now),
            Err(CookieError::Refused)
        );
        // A second cookie of the name that does not open does not hide the one that does.
        let both = format!("{tampered}; {login}");
        assert_eq!(
            cookies.open::<Flow>(&keyring, CookieKind::Login, [both.as_str()], now),
            Ok(flow())
        );
    }

    #[test]
    fn a_cookie_is_never_a_session_token_nor_the_other_way_round() {
        use crate::creds::token;
        let keyring = keyring();
        let cookies = Cookies::new(true);
        let now = from_unix_seconds(T0);
        let login = sent_back(&set(cookies, &keyring, CookieKind::Session));
        let value = login.split_once('=').unwrap().1;
        assert!(token::unseal(&keyring, value).is_err());

        let claims = token::SessionClaims {
            version: 1,
            access_key_id: "ASIAEXAMPLEEXAMPLE22".into(),
            secret_access_key: crate::creds::Secret::new("x".repeat(40)),
            session: crate::creds::Session {
                identity_arn: "arn:aws:iam::123456789012:role/ci".into(),
                identity_id: "AROAEXAMPLE".into(),
                caller_arn: "arn:aws:sts::123456789012:assumed-role/ci/build".into(),
                account_id: "123456789012".into(),
                session_name: "build".into(),
                source_identity: None,
                provider: "idp.example".into(),
                subject: "alice".into(),
                session_tags: Default::default(),
                transitive_tag_keys: Vec::new(),
                session_policy: None,
                policy_arns: Vec::new(),
                kind: crate::creds::SessionKind::AssumedRole,
                mfa_authenticated_at: None,
            },
            issued_at: T0,
            expires_at: T0 + 3600,
        };
        let session_token = token::seal(&keyring, &claims, &SystemRandom::new()).unwrap();
        let header = format!("__Host-stsbridge-session={session_token}");
        assert_eq!(
            cookies.open::<Flow>(&keyring, CookieKind::Session, [header.as_str()], now),
            Err(CookieError::Refused)
        );
    }

    /// A value longer than one cookie holds spans chunks that open together, and only
    /// together: a missing, swapped or foreign chunk is refused, as is a count out of range.
    #[test]
    fn a_large_value_spans_chunks_that_open_only_together() {
        let keyring = keyring();
        let cookies = Cookies::new(false);
        let now = from_unix_seconds(T0);
        // Random text does not compress: four KiB of it is over one chunk.
        let mut noise = [0u8; 6000];
        SystemRandom::new().fill(&mut noise).unwrap();
        let big = Flow {
            idp: BASE64.encode(noise),
            nonce: "n".into(),
        };
        let lines = cookies
            .set(
                &keyring,
                CookieKind::Session,
                &big,
                now,
                Duration::from_secs(60),
                &SystemRandom::new(),
            )
            .unwrap()
            .0;
        assert_eq!(lines.len(), 3, "{}", lines.len());
        assert!(lines.iter().all(|l| l.len() < 4000));
        let sent: Vec<String> = lines.iter().map(|l| sent_back(l)).collect();
        let open = |parts: &[&str]| {
            cookies.open::<Flow>(
                &keyring,
                CookieKind::Session,
                [parts.join("; ").as_str()],
                now,
            )
        };
        let (a, b, c) = (sent[0].as_str(), sent[1].as_str(), sent[2].as_str());
        assert_eq!(open(&[c, a, "x=1", b]).unwrap(), big);
        assert_eq!(open(&[a, b]).unwrap_err(), CookieError::Refused);
        let swapped_b = b.replace("stsbridge-session-2=", "stsbridge-session-3=");
        let swapped_c = c.replace("stsbridge-session-3=", "stsbridge-session-2=");
        assert_eq!(
            open(&[a, &swapped_b, &swapped_c]).unwrap_err(),
            CookieError::Refused
        );
        for count in ["1.", "9.", "x."] {
            let forged = a.replacen("3.", count, 1);
            assert_eq!(open(&[&forged, b, c]).unwrap_err(), CookieError::Refused);
        }
        // A chunk of another large value of the same name.
        let other = cookies
            .set(
                &keyring,
                CookieKind::Session,
                &big,
                now,
                Duration::from_secs(60),
                &SystemRandom::new(),
            )
            .unwrap()
            .0;
        let foreign_b = sent_back(&other[1]);
        assert_eq!(open(&[a, &foreign_b, c]).unwrap_err(), CookieError::Refused);
    }
}
