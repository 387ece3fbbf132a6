//! Fixtures shared by the fuzz targets and the seed generator: a fixed `now`, a fixed Ed25519
//! signing key for one OIDC issuer, a fixed session-token keyring, and a whole `StsState`.
//!
//! Every key here is a public test key, known to anyone reading this file: it exists so that
//! seeds (signed ID tokens, sealed session tokens) stay valid from one run to the next, and so
//! that the targets can sign or seal fuzzer-chosen content to reach the checks that run after a
//! signature or an AEAD tag has verified. Never configure them anywhere else.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, SystemTime};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::JwkSet;
use serde_json::{Value, json};

use stsbridge::clock::{ManualClock, from_unix_seconds};
use stsbridge::config::{OidcIdpConfig, OidcKeySource, Role, RoleSet};
use stsbridge::creds::{Keyring, Minter, SharedKeyring};
use stsbridge::idp::IdpRegistry;
use stsbridge::idp::oidc::OidcVerifier;
use stsbridge::idp::oidc::signer::TokenSigner;
use stsbridge::policy::{Policy, PolicyKind};
use stsbridge::store::{SessionStore, SledStore};
use stsbridge::sts::{RequestMeta, StsState};

/// The instant every target runs at (2027-01-15T08:00:00Z); seeds carry times around it.
pub const NOW_UNIX: i64 = 1_800_000_000;

pub fn now() -> SystemTime {
    from_unix_seconds(NOW_UNIX)
}

pub const ISSUER: &str = "https://idp.fuzz.example";
/// `ISSUER` without its scheme: the provider name in trust policies and condition keys.
pub const PROVIDER: &str = "idp.fuzz.example";
pub const AUDIENCE: &str = "fuzz-client";
pub const ACCOUNT: &str = "123456789012";
/// `kid` of the fixed Ed25519 key.
pub const KID: &str = "fuzz-ed25519";

/// Seed of the fixed Ed25519 key (a public test key, see the module doc).
const ED25519_SEED: &[u8; 32] = b"stsbridge-fuzz-ed25519-test-key!";

static ED25519: LazyLock<Ed25519KeyPair> = LazyLock::new(|| {
    Ed25519KeyPair::from_seed_unchecked(ED25519_SEED).expect("a 32-byte Ed25519 seed")
});

/// A second, random key in the JWK set (ES256), so key selection by `kid` has a choice to make.
static EC_DECOY: LazyLock<TokenSigner> =
    LazyLock::new(|| TokenSigner::generate_ec("fuzz-ec").expect("P-256 key"));

/// The JOSE header the fixed key signs under.
pub fn header() -> Value {
    json!({"alg": "EdDSA", "kid": KID, "typ": "JWT"})
}

/// A compact JWS of exactly these header and payload bytes, signed with the fixed Ed25519 key,
/// whatever the bytes say (so the verifier's checks after the signature see fuzzer content).
pub fn sign_raw(header: &[u8], payload: &[u8]) -> String {
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let signature = ED25519.sign(signing_input.as_bytes());
    format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature.as_ref())
    )
}

/// `payload` signed under [`header`].
pub fn sign_payload(payload: &[u8]) -> String {
    sign_raw(header().to_string().as_bytes(), payload)
}

/// The claims of a valid token for [`AUDIENCE`] at [`NOW_UNIX`], with `extra` merged in.
pub fn claims(subject: &str, extra: Value) -> Value {
    let mut claims = json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": subject,
        "iat": NOW_UNIX - 60,
        "exp": NOW_UNIX + 3600,
    });
    if let (Some(claims), Value::Object(extra)) = (claims.as_object_mut(), extra) {
        claims.extend(extra);
    }
    claims
}

/// The verifier's public keys: the fixed Ed25519 key and the decoy EC key.
pub fn jwk_set() -> JwkSet {
    let x = URL_SAFE_NO_PAD.encode(ED25519.public_key().as_ref());
    let ed25519 =
        json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": KID, "alg": "EdDSA", "use": "sig"});
    let decoy = serde_json::to_value(EC_DECOY.jwk()).expect("JWK serialises");
    serde_json::from_value(json!({"keys": [ed25519, decoy]})).expect("a JWK Set")
}

pub fn oidc_config() -> OidcIdpConfig {
    OidcIdpConfig {
        name: "fuzz".into(),
        issuer: ISSUER.into(),
        provider: PROVIDER.into(),
        audiences: vec![AUDIENCE.into(), "second-client".into()],
        algorithms: vec![Algorithm::EdDSA, Algorithm::ES256, Algorithm::RS256],
        keys: OidcKeySource::Static(jwk_set()),
        leeway: Duration::from_secs(60),
        insecure_http: false,
    }
}

pub fn verifier() -> OidcVerifier {
    OidcVerifier::new(oidc_config()).expect("static-key verifier")
}

/// A current-thread runtime: everything a target awaits completes without other tasks.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Id (hex) and material of the fixed keyring's current and retired keys.
pub const CURRENT_KEY_ID: [u8; 4] = [0xf0, 0x22, 0xc0, 0xde];
pub const CURRENT_KEY: [u8; 32] = *b"stsbridge-fuzz-current-aes-key!!";
pub const RETIRED_KEY_ID: [u8; 4] = [0x01, 0xd0, 0x01, 0xd0];
pub const RETIRED_KEY: [u8; 32] = *b"stsbridge-fuzz-retired-aes-key!!";

/// A keyring holding the fixed current and retired keys. `Keyring` is only built from a
/// private (0600) file, so one is written, read and removed.
pub fn fixed_keyring() -> Keyring {
    let hex = |id: [u8; 4]| id.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let file = json!({
        "version": 1,
        "current": {"id": hex(CURRENT_KEY_ID), "key": STANDARD.encode(CURRENT_KEY), "created_at": NOW_UNIX - 86_400},
        "retired": [{
            "id": hex(RETIRED_KEY_ID), "key": STANDARD.encode(RETIRED_KEY),
            "created_at": NOW_UNIX - 172_800, "retire_after": NOW_UNIX + 86_400,
        }],
    });
    let path = scratch_path("keyring", "json");
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .expect("creating the keyring file");
    out.write_all(file.to_string().as_bytes())
        .expect("writing the keyring file");
    drop(out);
    let keyring = Keyring::load(&path).expect("the fixed keyring loads");
    let _ = std::fs::remove_file(&path);
    keyring
}

/// A token in the wire form of `stsbridge::creds::token` holding `plaintext` sealed under the
/// fixed current key (or the retired one): what only a keyring holder can produce.
pub fn seal_raw(plaintext: &[u8], nonce: [u8; NONCE_LEN], retired: bool) -> String {
    let (id, material) = if retired {
        (RETIRED_KEY_ID, RETIRED_KEY)
    } else {
        (CURRENT_KEY_ID, CURRENT_KEY)
    };
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &material).expect("AES-256 key"));
    let mut header = [1u8; 5];
    header[1..].copy_from_slice(&id);
    let mut sealed = plaintext.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(header),
        &mut sealed,
    )
    .expect("sealing");
    let mut token = header.to_vec();
    token.extend_from_slice(&nonce);
    token.extend_from_slice(&sealed);
    STANDARD.encode(token)
}

/// The trust policy of `arn:aws:iam::ACCOUNT:role/fuzz/web`: the fuzz IdP, `sub` under
/// `repo:`, tags and source identity allowed, one explicit deny.
pub const WEB_TRUST: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "Web", "Effect": "Allow", "Principal": {"Federated": "idp.fuzz.example"},
     "Action": "sts:AssumeRoleWithWebIdentity",
     "Condition": {"StringEquals": {"idp.fuzz.example:aud": "fuzz-client"},
                   "StringLike": {"idp.fuzz.example:sub": "repo:*"}}},
    {"Sid": "Extras", "Effect": "Allow",
     "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/idp.fuzz.example"},
     "Action": ["sts:TagSession", "sts:SetSourceIdentity"],
     "Condition": {"ForAllValues:StringLike": {"aws:TagKeys": ["team", "env*"]}}},
    {"Sid": "Blocked", "Effect": "Deny", "Principal": "*", "Action": "sts:*",
     "Condition": {"StringEqualsIgnoreCase": {"idp.fuzz.example:sub": "repo:blocked"}}}
  ]
}"#;

/// The trust policy of `arn:aws:iam::ACCOUNT:role/ops`: many condition operators at once.
pub const OPS_TRUST: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Principal": {"Federated": ["idp.fuzz.example", "accounts.google.com"]},
     "Action": "sts:AssumeRoleWithWebIdentity",
     "Condition": {
       "ForAnyValue:StringEquals": {"idp.fuzz.example:amr": ["mfa", "hwk"]},
       "IpAddress": {"aws:SourceIp": ["192.0.2.0/24", "2001:db8::/32"]},
       "DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"},
       "NumericLessThanEquals": {"sts:DurationSeconds": "7200"},
       "Bool": {"aws:SecureTransport": "true"},
       "StringNotLike": {"sts:RoleSessionName": "*admin*"},
       "StringEqualsIfExists": {"idp.fuzz.example:email": "${idp.fuzz.example:sub}@example.com"},
       "Null": {"idp.fuzz.example:sub": "false"}
     }},
    {"Effect": "Allow", "Principal": {"Federated": "idp.fuzz.example"},
     "Action": ["sts:TagSession", "sts:SetSourceIdentity"]}
  ]
}"#;

pub const INLINE_POLICY: &str = r#"{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": ["s3:Get*", "s3:List*"], "Resource": "arn:aws:s3:::fuzz-${aws:username}/*"},
  {"Effect": "Deny", "NotAction": "s3:*", "NotResource": "arn:aws:s3:::*"}]}"#;

pub const MANAGED_POLICY: &str = r#"{"Version": "2012-10-17",
  "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}"#;

pub const MANAGED_POLICY_ARN: &str = "arn:aws:iam::123456789012:policy/fuzz-read";

fn role(name: &str, path: &str, max_session: u32, trust: &str) -> Role {
    let arn = format!("arn:aws:iam::{ACCOUNT}:role{path}{name}");
    Role {
        name: name.into(),
        account_id: ACCOUNT.into(),
        path: path.into(),
        role_id: format!("AROAFUZZ{:0>13}", name.to_ascii_uppercase()),
        arn,
        max_session_duration: max_session,
        trust_policy: Policy::parse(trust, PolicyKind::Trust).expect("fixture trust policy"),
        policies: vec![(
            "inline".into(),
            Policy::parse(INLINE_POLICY, PolicyKind::Identity).expect("fixture inline policy"),
        )],
        tags: BTreeMap::from([("owner".into(), "fuzz".into())]),
    }
}

/// The roles the `sts_query` target can assume.
pub fn roles() -> RoleSet {
    let mut roles = RoleSet::default();
    roles.insert(role("web", "/fuzz/", 43_200, WEB_TRUST));
    roles.insert(role("ops", "/", 3_600, OPS_TRUST));
    roles
}

pub const WEB_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/fuzz/web";
pub const OPS_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/ops";

/// A whole STS state: sled on a scratch directory, the fixed keyring, the fuzz IdP, two roles,
/// one managed policy, a clock stopped at [`NOW_UNIX`].
pub struct StsFixture {
    pub state: StsState,
    pub keyring: SharedKeyring,
    pub store: Arc<SledStore>,
}

pub fn sts_fixture() -> StsFixture {
    let dir = scratch_path("sled", "db");
    remove_on_exit(dir.clone());
    let store = Arc::new(SledStore::open(&dir, 16 * 1024 * 1024).expect("sled store"));
    let keyring = SharedKeyring::new(fixed_keyring());
    let managed_policies = BTreeMap::from([(
        MANAGED_POLICY_ARN.to_owned(),
        Policy::parse(MANAGED_POLICY, PolicyKind::Identity).expect("fixture managed policy"),
    )]);
    let state = StsState {
        roles: roles(),
        managed_policies,
        idps: IdpRegistry::new([Arc::new(verifier()) as Arc<dyn stsbridge::idp::IdpVerifier>]),
        minter: Arc::new(Minter::new(keyring.clone())),
        store: store.clone() as Arc<dyn SessionStore>,
        clock: Arc::new(ManualClock::new(now())),
        keyring: keyring.clone(),
        sigv4: stsbridge::creds::sigv4::Verifier::default(),
        revocations: Arc::new(stsbridge::sts::revocation::RevocationList::default()),
    };
    StsFixture {
        state,
        keyring,
        store,
    }
}

pub fn request_meta() -> RequestMeta {
    RequestMeta {
        request_id: "00000000-0000-4000-8000-00000000f022".into(),
        source_ip: Some([192, 0, 2, 10].into()),
        user_agent: Some("stsbridge-fuzz".into()),
        secure_transport: true,
        signed: None,
    }
}

/// Prefix of every scratch file and directory in the temporary directory.
const SCRATCH_PREFIX: &str = "stsbridge-fuzz-";

/// A fresh path `$TMPDIR/stsbridge-fuzz-PID-N-what.ext`, after removing what earlier,
/// no longer running, fuzz processes left behind (a crash skips the exit-time cleanup).
fn scratch_path(what: &str, ext: &str) -> PathBuf {
    static NEXT: Mutex<u32> = Mutex::new(0);
    let n = {
        let mut next = NEXT.lock().unwrap_or_else(|e| e.into_inner());
        *next += 1;
        *next
    };
    let tmp = std::env::temp_dir();
    remove_stale_scratch(&tmp);
    tmp.join(format!(
        "{SCRATCH_PREFIX}{}-{n}-{what}.{ext}",
        std::process::id()
    ))
}

fn remove_stale_scratch(tmp: &Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(SCRATCH_PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let path = entry.path();
            let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
        }
    }
}

static REMOVE_ON_EXIT: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// libFuzzer ends a bounded run with `exit()`, which runs `atexit` handlers but no Rust
/// destructors of statics: remove the scratch directories there.
fn remove_on_exit(path: PathBuf) {
    extern "C" fn cleanup() {
        let paths = std::mem::take(&mut *REMOVE_ON_EXIT.lock().unwrap_or_else(|e| e.into_inner()));
        for path in paths {
            let _ = std::fs::remove_dir_all(path);
        }
    }
    let mut paths = REMOVE_ON_EXIT.lock().unwrap_or_else(|e| e.into_inner());
    if paths.is_empty() {
        // SAFETY: `cleanup` is a plain `extern "C" fn()` that never unwinds across the boundary
        // (it only ignores errors), as `atexit` requires.
        unsafe {
            libc::atexit(cleanup);
        }
    }
    paths.push(path);
}
