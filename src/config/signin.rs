//! The sign-in portal's configuration: `[server] public_url`, `[signin]` of the main file, and
//! the `[signin]` table of an IdP file that offers the IdP on the sign-in page.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Problems, file};
use crate::creds::Secret;
use crate::idp::IdpSettings;

/// The pages' title when `[signin] title` is not set.
pub const DEFAULT_TITLE: &str = "stsbridge";
/// Login attempts per source address and minute when `[signin] logins_per_minute` is not set.
pub const DEFAULT_LOGINS_PER_MINUTE: u32 = 30;

/// A portal session's length when `[signin] session_hours` is not set.
pub const DEFAULT_SESSION_HOURS: u64 = 8;
/// The longest portal session (`[signin] session_hours`).
pub const MAX_SESSION_HOURS: u64 = 12;
/// The path of the assertion consumer under the public URL (AWS's is `/saml` too).
pub const ACS_PATH: &str = "/saml";
/// The path of the SP metadata under the public URL: also the portal's SP entity ID.
pub const SP_METADATA_PATH: &str = "/saml/metadata";
/// IdP names the sign-in routes use themselves (`/signin/oidc/callback`, `/signin/roles.json`).
const RESERVED_NAMES: &[&str] = &["oidc", "roles", "roles.json"];

/// The external base URL of the daemon (`[server] public_url`): a scheme, a host and maybe a
/// port, nothing else (the portal's cookies are `__Host-` cookies, bound to the path `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    /// `scheme://host[:port]`, as browsers send it in `Origin`.
    origin: String,
    /// A browser treats pages of this origin as a secure context (https, or a loopback host):
    /// cookies may be `Secure` and `__Host-` there.
    secure_context: bool,
}

impl PublicUrl {
    /// `scheme://host[:port]`, the value a browser's `Origin` header carries for pages here.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The host (and port, when not the scheme's default), as in `origin`.
    pub fn host(&self) -> &str {
        self.origin
            .split_once("://")
            .map_or(self.origin.as_str(), |(_, host)| host)
    }

    /// Whether browsers treat this origin as a secure context (https, or a loopback host).
    pub fn secure_context(&self) -> bool {
        self.secure_context
    }

    /// The absolute URL of `path` (which starts with `/`).
    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    /// Parse a public URL: http or https, a host, no credentials, query or fragment, no path
    /// but `/`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let url = reqwest::Url::parse(text).map_err(|e| format!("not a URL: {e}"))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err("must be an https:// (or http://) URL".to_owned());
        }
        let Some(host) = url.host_str() else {
            return Err("must name a host".to_owned());
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not carry credentials".to_owned());
        }
        if url.query().is_some() || url.fragment().is_some() || url.path() != "/" {
            return Err(
                "must be a base URL without a path, query or fragment (the portal is served \
                 at the root: /signin, /saml, ...)"
                    .to_owned(),
            );
        }
        let loopback = host == "localhost"
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip.to_canonical().is_loopback());
        Ok(Self {
            origin: url.origin().ascii_serialization(),
            secure_context: url.scheme() == "https" || loopback,
        })
    }
}

/// `[signin]` of the main file: the pages and the SAML service provider's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigninSettings {
    pub title: String,
    /// An https URL or a path on this server.
    pub logo_url: Option<String>,
    /// The operator's templates, overriding the built-in ones file by file.
    pub templates_dir: Option<PathBuf>,
    /// How long a portal session lasts.
    pub session: Duration,
    /// The SAML service provider's signing key and certificate; `None`: generated at first
    /// start beside the keyring.
    pub sp_key: Option<SpKeyFiles>,
    /// Login attempts a source address may make per minute.
    pub logins_per_minute: u32,
}

impl Default for SigninSettings {
    fn default() -> Self {
        Self {
            title: DEFAULT_TITLE.to_owned(),
            logo_url: None,
            templates_dir: None,
            session: Duration::from_secs(DEFAULT_SESSION_HOURS * 3600),
            sp_key: None,
            logins_per_minute: DEFAULT_LOGINS_PER_MINUTE,
        }
    }
}

/// `[signin] sp_key_file` and `sp_cert_file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpKeyFiles {
    pub key_file: PathBuf,
    pub cert_file: PathBuf,
}

/// An IdP offered on the sign-in page (its file's `[signin]` table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigninIdp {
    /// The IdP's name: the page links to `/signin/NAME`.
    pub name: String,
    /// The link's text.
    pub display_name: String,
    pub kind: SigninKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigninKind {
    Oidc(OidcSignin),
    Saml(SamlSignin),
}

/// The portal as a relying party of an OIDC IdP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcSignin {
    /// The IdP's issuer (its verifier checks the ID tokens the code flow returns).
    pub issuer: String,
    /// One of the IdP's audiences.
    pub client_id: String,
    /// `None`: a public client, relying on PKCE.
    pub client_secret: Option<Secret>,
    /// Always holds `openid`.
    pub scopes: Vec<String>,
}

/// The portal as a SAML service provider of an IdP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamlSignin {
    /// Where AuthnRequests go; `None`: the metadata's HTTP-Redirect SingleSignOnService
    /// (`IdpMetadata::sso_redirect_url`), read when a login starts (the metadata may be
    /// refreshed).
    pub sso_url: Option<String>,
    pub sign_requests: bool,
}

/// `[server] public_url`, reported under that field.
pub(super) fn public_url(
    path: &Path,
    raw: Option<&str>,
    problems: &mut Problems,
) -> Option<PublicUrl> {
    let text = raw?;
    match PublicUrl::parse(text) {
        Ok(url) => {
            if !url.secure_context() {
                problems.warn(
                    path,
                    Some("server.public_url"),
                    "plain http beyond loopback: browsers send the portal's cookies and \
                     credentials unencrypted, and its cookies cannot be Secure nor __Host-",
                );
            }
            Some(url)
        }
        Err(why) => {
            problems.add(path, Some("server.public_url"), why);
            None
        }
    }
}

/// `[signin]` of the main file:
/// 1. `title` 1-100 characters;
/// 2. `logo_url` an https URL or a path starting with `/` (the pages' Content-Security-Policy
///    admits images from this server and that URL's origin only);
/// 3. `templates_dir` (relative to the main file) a directory;
/// 4. `session_hours` 1..=12; `logins_per_minute` 1..=10000;
/// 5. `sp_key_file` and `sp_cert_file` both or neither: an RSA private key (PKCS#8 PEM) and a
///    PEM certificate.
pub(super) fn settings(
    path: &Path,
    raw: &file::RawSignin,
    resolve: &dyn Fn(&str) -> PathBuf,
    problems: &mut Problems,
) -> SigninSettings {
    let title = raw
        .title
        .clone()
        .unwrap_or_else(|| DEFAULT_TITLE.to_owned());
    if title.trim().is_empty() || title.chars().count() > 100 {
        problems.add(path, Some("signin.title"), "must be 1-100 characters");
    }
    if let Some(logo) = &raw.logo_url
        && let Err(why) = check_logo_url(logo)
    {
        problems.add(path, Some("signin.logo_url"), why);
    }
    let templates_dir = raw.templates_dir.as_deref().map(resolve);
    if let Some(dir) = &templates_dir
        && !dir.is_dir()
    {
        problems.add(
            path,
            Some("signin.templates_dir"),
            format!("{} is not a directory", dir.display()),
        );
    }
    let hours = raw.session_hours.unwrap_or(DEFAULT_SESSION_HOURS);
    if !(1..=MAX_SESSION_HOURS).contains(&hours) {
        problems.add(
            path,
            Some("signin.session_hours"),
            format!("must be 1..{MAX_SESSION_HOURS} hours"),
        );
    }
    let logins_per_minute = raw.logins_per_minute.unwrap_or(DEFAULT_LOGINS_PER_MINUTE);
    if !(1..=10_000).contains(&logins_per_minute) {
        problems.add(path, Some("signin.logins_per_minute"), "must be 1..10000");
    }
    SigninSettings {
        title,
        logo_url: raw.logo_url.clone(),
        templates_dir,
        session: Duration::from_secs(hours.clamp(1, MAX_SESSION_HOURS) * 3600),
        sp_key: sp_key(path, raw, resolve, problems),
        logins_per_minute: logins_per_minute.clamp(1, 10_000),
    }
}

/// A logo URL: `https://host/...` or `/path` (no `//host` shorthand, no `javascript:`).
fn check_logo_url(text: &str) -> Result<(), String> {
    if text.starts_with('/') && !text.starts_with("//") {
        return Ok(());
    }
    let url = reqwest::Url::parse(text).map_err(|e| format!("not a URL: {e}"))?;
    if url.scheme() != "https" || url.host_str().is_none() {
        return Err("must be an https:// URL or a path on this server starting with /".to_owned());
    }
    Ok(())
}

fn sp_key(
    path: &Path,
    raw: &file::RawSignin,
    resolve: &dyn Fn(&str) -> PathBuf,
    problems: &mut Problems,
) -> Option<SpKeyFiles> {
    let (key, cert) = match (&raw.sp_key_file, &raw.sp_cert_file) {
        (None, None) => return None,
        (Some(key), Some(cert)) => (resolve(key), resolve(cert)),
        (Some(_), None) => {
            problems.add(
                path,
                Some("signin.sp_cert_file"),
                "missing: sp_key_file needs the certificate of its key",
            );
            return None;
        }
        (None, Some(_)) => {
            problems.add(
                path,
                Some("signin.sp_key_file"),
                "missing: sp_cert_file needs the key it certifies",
            );
            return None;
        }
    };
    let before = problems.error_count();
    match owner_only(&key).and_then(|()| read(&key)) {
        // The SP key is an RSA key in PKCS#8, as the decryption key is: one parser for both.
        Ok(pem) => {
            if let Err(e) = crate::idp::saml::DecryptionKey::from_pem(&pem) {
                problems.add(path, Some("signin.sp_key_file"), e.to_string());
            }
        }
        Err(why) => problems.add(path, Some("signin.sp_key_file"), why),
    }
    match read(&cert) {
        Ok(pem) => {
            let parsed = x509_parser::pem::parse_x509_pem(&pem)
                .ok()
                .filter(|(_, block)| block.label == "CERTIFICATE")
                .is_some_and(|(_, block)| block.parse_x509().is_ok());
            if !parsed {
                problems.add(
                    path,
                    Some("signin.sp_cert_file"),
                    "is not a PEM X.509 certificate",
                );
            }
        }
        Err(why) => problems.add(path, Some("signin.sp_cert_file"), why),
    }
    (problems.error_count() == before).then_some(SpKeyFiles {
        key_file: key,
        cert_file: cert,
    })
}

fn read(file: &Path) -> Result<zeroize::Zeroizing<Vec<u8>>, String> {
    std::fs::read(file)
        .map(zeroize::Zeroizing::new)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))
}

/// A secret file must be readable by its owner only (0600 or 0400).
fn owner_only(file: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "{} is readable by others than its owner (mode {:o}): chmod 600 it",
            file.display(),
            mode & 0o777
        ));
    }
    Ok(())
}

/// The `[signin]` table of one IdP file, taken out before the IdP itself is validated.
pub(super) enum RawIdpSignin {
    Oidc(file::RawOidcSignin),
    Saml(file::RawSamlSignin),
}

impl RawIdpSignin {
    /// Take the `[signin]` table out of `raw`; the files it names (relative to the IdP file
    /// at `path`).
    pub(super) fn take(raw: &mut file::RawIdp, path: &Path) -> (Option<Self>, Vec<PathBuf>) {
        let beside = path.parent().unwrap_or(Path::new("."));
        match raw {
            file::RawIdp::Oidc(o) => {
                let files = o
                    .signin
                    .as_ref()
                    .and_then(|s| s.client_secret_file.as_deref())
                    .map(|f| beside.join(f))
                    .into_iter()
                    .collect();
                (o.signin.take().map(Self::Oidc), files)
            }
            file::RawIdp::Saml(s) => (s.signin.take().map(Self::Saml), Vec::new()),
        }
    }
}

/// The `[signin]` table of the IdP file at `path`, for the validated `idp`:
/// 1. the IdP's name is 1-64 characters of `[A-Za-z0-9._-]` and not `oidc` nor `roles.json`
///    (it is a path segment of `/signin/NAME`);
/// 2. `display_name` (default: the name) 1-64 characters;
/// 3. OIDC: `client_id` one of `audiences` (the ID tokens the flow returns are checked by the
///    same verifier, which admits only those); `client_secret_file` (relative to the IdP file)
///    readable by its owner only and not empty; `scopes` hold `openid`, each a scope token
///    (RFC 6749 §3.3);
/// 4. SAML: `sso_url` an https URL (http for a loopback host only).
pub(super) fn idp(
    path: &Path,
    idp: &IdpSettings,
    raw: RawIdpSignin,
    problems: &mut Problems,
) -> Option<SigninIdp> {
    let before = problems.error_count();
    let name = idp.name().to_owned();
    let name_ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        && !RESERVED_NAMES.contains(&name.as_str());
    if !name_ok {
        let field = match idp {
            IdpSettings::Saml(_) => "name",
            IdpSettings::Oidc(_) => "signin",
        };
        problems.add(
            path,
            Some(field),
            format!(
                "an IdP offered on the sign-in page needs a name (the file stem for OIDC) of \
                 1-64 characters of [A-Za-z0-9._-], other than {}: it is the path /signin/NAME",
                RESERVED_NAMES.join(" and ")
            ),
        );
    }
    let display_name = |given: Option<String>, problems: &mut Problems| {
        let shown = given.unwrap_or_else(|| name.clone());
        if shown.trim().is_empty() || shown.chars().count() > 64 {
            problems.add(path, Some("signin.display_name"), "must be 1-64 characters");
        }
        shown
    };
    let (display_name, kind) = match (idp, raw) {
        (IdpSettings::Oidc(settings), RawIdpSignin::Oidc(raw)) => {
            let shown = display_name(raw.display_name.clone(), problems);
            (
                shown,
                oidc(path, &settings.issuer, &settings.audiences, raw, problems)
                    .map(SigninKind::Oidc),
            )
        }
        (IdpSettings::Saml(settings), RawIdpSignin::Saml(raw)) => {
            let shown = display_name(raw.display_name.clone(), problems);
            let metadata_sso = settings
                .metadata
                .as_ref()
                .map(|m| m.sso_redirect_url.is_some());
            (
                shown,
                saml(path, raw, metadata_sso, problems).map(SigninKind::Saml),
            )
        }
        // `take` reads the table from the file the settings were validated from.
        _ => return None,
    };
    let kind = kind?;
    (problems.error_count() == before).then_some(SigninIdp {
        name,
        display_name,
        kind,
    })
}

fn oidc(
    path: &Path,
    issuer: &str,
    audiences: &[String],
    raw: file::RawOidcSignin,
    problems: &mut Problems,
) -> Option<OidcSignin> {
    if !audiences.contains(&raw.client_id) {
        problems.add(
            path,
            Some("signin.client_id"),
            "must be one of audiences (the ID tokens the portal receives are checked against \
             them)",
        );
    }
    let client_secret = raw.client_secret_file.as_deref().and_then(|file| {
        let file = path.parent().unwrap_or(Path::new(".")).join(file);
        let secret = owner_only(&file)
            .and_then(|()| read(&file))
            .and_then(|bytes| {
                String::from_utf8(bytes.to_vec())
                    .map_err(|_| format!("{} is not UTF-8 text", file.display()))
            })
            .map(|text| text.trim().to_owned())
            .and_then(|text| {
                if text.is_empty() {
                    Err(format!("{} is empty", file.display()))
                } else {
                    Ok(Secret::new(text))
                }
            });
        secret
            .map_err(|why| problems.add(path, Some("signin.client_secret_file"), why))
            .ok()
    });
    if !raw.scopes.iter().any(|s| s == "openid") {
        problems.add(
            path,
            Some("signin.scopes"),
            "must include \"openid\" (the portal signs people in with the ID token)",
        );
    }
    // scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
    let is_scope = |s: &str| {
        !s.is_empty()
            && s.len() <= 256
            && s.bytes()
                .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
    };
    for scope in raw.scopes.iter().filter(|s| !is_scope(s)) {
        problems.add(
            path,
            Some("signin.scopes"),
            format!("{scope:?} is not a scope (printable ASCII, no space, quote or backslash)"),
        );
    }
    Some(OidcSignin {
        issuer: issuer.to_owned(),
        client_id: raw.client_id,
        client_secret,
        scopes: raw.scopes,
    })
}

/// `metadata_sso`: whether the metadata names an HTTP-Redirect SingleSignOnService (`None`: no
/// metadata yet, a URL not fetched).
fn saml(
    path: &Path,
    raw: file::RawSamlSignin,
    metadata_sso: Option<bool>,
    problems: &mut Problems,
) -> Option<SamlSignin> {
    match &raw.sso_url {
        Some(url) => {
            if let Err(why) = check_sso_url(url) {
                problems.add(path, Some("signin.sso_url"), why);
            }
        }
        None if metadata_sso == Some(false) => problems.add(
            path,
            Some("signin.sso_url"),
            "missing: the metadata names no HTTP-Redirect SingleSignOnService to send \
             AuthnRequests to",
        ),
        None if metadata_sso.is_none() => problems.warn(
            path,
            Some("signin.sso_url"),
            "not set, and no metadata yet to read the SingleSignOnService from: logins \
             started here fail until the metadata is fetched",
        ),
        None => {}
    }
    Some(SamlSignin {
        sso_url: raw.sso_url,
        sign_requests: raw.sign_requests,
    })
}

/// Where browsers are sent with an AuthnRequest: https, or http to a loopback host (a test
/// IdP); no fragment.
fn check_sso_url(text: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(text).map_err(|e| format!("not a URL: {e}"))?;
    let loopback = url.host_str().is_some_and(|h| {
        h == "localhost"
            || h.trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    });
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err("must be an https:// URL (http only for a loopback host)".to_owned()),
    }
    if url.host_str().is_none() || url.fragment().is_some() {
        return Err("must have a host and no fragment".to_owned());
    }
    Ok(())
}

/// Across the IdP files: the names offered are unique, and offering any needs
/// `[server] public_url` (the redirect URIs and the assertion consumer are absolute URLs).
pub(super) fn check_offered(
    main: &Path,
    offered: &[(PathBuf, SigninIdp)],
    public_url: Option<&PublicUrl>,
    has_public_url_text: bool,
    problems: &mut Problems,
) {
    for (i, (file, idp)) in offered.iter().enumerate() {
        if let Some((first, _)) = offered[..i].iter().find(|(_, o)| o.name == idp.name) {
            problems.add(
                file,
                Some("signin"),
                format!(
                    "{} is offered on the sign-in page by {} already: the links /signin/NAME \
                     could not tell them apart",
                    idp.name,
                    first.display()
                ),
            );
        }
    }
    if let Some((file, _)) = offered.first()
        && public_url.is_none()
        && !has_public_url_text
    {
        problems.add(
            main,
            Some("server.public_url"),
            format!(
                "missing: {} offers an IdP on the sign-in page, whose URLs derive from the \
                 public URL",
                file.display()
            ),
        );
    }
}

/// With a public URL, `<public_url>/saml` is an accepted Recipient/Destination of every SAML
/// IdP, beside the ones configured (IdP-initiated logins work without more configuration), and
/// the portal's entity ID `<public_url>/saml/metadata` an accepted audience (the Issuer of its
/// AuthnRequests, which IdPs answer with that audience).
pub(super) fn add_portal_acs(idps: &mut [IdpSettings], public_url: &PublicUrl) {
    let acs = public_url.join(ACS_PATH);
    for idp in idps {
        if let IdpSettings::Saml(saml) = idp {
            if !saml.acs_urls.contains(&acs) {
                saml.acs_urls.push(acs.clone());
            }
            saml.portal_entity_id = Some(public_url.join(SP_METADATA_PATH));
        }
    }
}
