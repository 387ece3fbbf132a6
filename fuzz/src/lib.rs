//! Fixtures shared by the fuzz targets and the seed generator: a fixed `now`, a fixed Ed25519
//! signing key for one OIDC issuer, a fixed session-token keyring, and a whole `State`.
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
use stsbridge::config::{Federation, Role, RoleSet};
use stsbridge::creds::{Keyring, SharedKeyring};
use stsbridge::idp::IdpRegistry;
use stsbridge::idp::oidc::signer::TokenSigner;
use stsbridge::idp::oidc::{OidcKeySource, OidcSettings, OidcVerifier};
use stsbridge::origin::Origin;
use stsbridge::policy::{Policy, PolicyKind};
use stsbridge::state::State;
use stsbridge::store::{StorageSettings, Store};
use stsbridge::sts::RequestMeta;

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

pub fn oidc_config() -> OidcSettings {
    OidcSettings {
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

/// A whole daemon state: sled on a scratch directory (through `store::open`), the fixed
/// keyring, a federation of the fuzz IdP, two roles and one managed policy, a clock stopped at
/// [`NOW_UNIX`].
pub struct StsFixture {
    pub state: State,
    pub keyring: SharedKeyring,
    /// The same store the state writes to (its handles share one backend).
    pub store: Store,
}

pub fn sts_fixture() -> StsFixture {
    let dir = scratch_path("sled", "db");
    remove_on_exit(dir.clone());
    // The default free-space floor: the scratch directory's filesystem has far more.
    let store =
        stsbridge::store::open(&StorageSettings::new(dir, 16 * 1024 * 1024)).expect("sled store");
    let keyring = SharedKeyring::new(fixed_keyring());
    let managed_policies = BTreeMap::from([(
        MANAGED_POLICY_ARN.to_owned(),
        Policy::parse(MANAGED_POLICY, PolicyKind::Identity).expect("fixture managed policy"),
    )]);
    let federation = Federation {
        idps: IdpRegistry::new([Arc::new(verifier()) as Arc<dyn stsbridge::idp::IdpVerifier>]),
        roles: roles(),
        managed_policies,
        authorization_services: Vec::new(),
        accounts: BTreeMap::new(),
        signin: Vec::new(),
    };
    let state = State::new(
        federation,
        store.clone(),
        keyring.clone(),
        Arc::new(ManualClock::new(now())),
    );
    StsFixture {
        state,
        keyring,
        store,
    }
}

/// Where every request of the targets comes from.
pub fn origin() -> Origin {
    Origin {
        request_id: "00000000-0000-4000-8000-00000000f022".into(),
        source_ip: Some([192, 0, 2, 10].into()),
        user_agent: Some("stsbridge-fuzz".into()),
        secure_transport: true,
    }
}

pub fn request_meta() -> RequestMeta {
    RequestMeta {
        origin: origin(),
        signed: None,
        head: false,
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

// ---------------------------------------------------------------------------------------------
// The authorization API (`authorize_request`): IAM users with fixed long-term keys, sessions
// sealed with fixed nonces, and a SigV4 signer, so that seeds carry valid signatures.

use stsbridge::audit::{AuditDraft, AuditEvent, EventName};
use stsbridge::creds::token::CLAIMS_VERSION;
use stsbridge::creds::{Secret, Session, SessionClaims, SessionKind, sealed};
use stsbridge::store::Revocation;
use stsbridge::users::{AccessKey, KeyStatus, UserPolicy, UserRecord};

pub const ALICE: &str = "alice";
pub const ALICE_ID: &str = "AIDAFUZZALICE0000001";
pub const ALICE_ARN: &str = "arn:aws:iam::123456789012:user/alice";
pub const BOB: &str = "bob";
pub const BOB_ID: &str = "AIDAFUZZBOB000000001";

/// Alice's identity policy: variables, MFA conditions, tags against service-supplied keys,
/// explicit denies, a network condition.
pub const ALICE_POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "ReadOwn", "Effect": "Allow", "Action": ["photos:Get*", "photos:List*"],
     "Resource": "arn:aws:photos:::album/${aws:username}/*"},
    {"Sid": "WriteWithMfa", "Effect": "Allow", "Action": "photos:Put*", "Resource": "*",
     "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"},
                   "NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}},
    {"Sid": "Team", "Effect": "Allow", "Action": "photos:*", "Resource": "*",
     "Condition": {"StringEquals": {"photos:Team": "${aws:PrincipalTag/team}"}}},
    {"Sid": "NoDelete", "Effect": "Deny", "Action": "photos:Delete*", "NotResource": "arn:aws:photos:::album/scratch/*"},
    {"Sid": "Net", "Effect": "Deny", "Action": "*", "Resource": "*",
     "Condition": {"NotIpAddress": {"aws:SourceIp": ["192.0.2.0/24", "2001:db8::/32"]},
                   "Null": {"aws:SourceIp": "false"}}},
    {"Sid": "Session", "Effect": "Allow", "Action": ["sts:GetCallerIdentity", "s3:GetObject"], "Resource": "*"}
  ]
}"#;

/// The session policy the federated user and the ops session carry.
pub const SESSION_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Effect":"Allow","Action":["s3:*","photos:*"],"Resource":"*"},
  {"Sid":"KeepObjects","Effect":"Deny","Action":"s3:DeleteObject","Resource":"*"}]}"#;

/// What a known credential must come to at [`NOW_UNIX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Verifies; its principal is the one described.
    Valid,
    /// The session expired: `ExpiredToken`.
    Expired,
    /// Revoked (one session, or its role's sessions): `InvalidClientTokenId`.
    Revoked,
    /// Nobody holds it: `InvalidClientTokenId`.
    Unknown,
    /// A role session whose role is not configured with the unique id the session carries
    /// (removed, or created again): `InvalidClientTokenId`.
    RoleGone,
}

/// A credential the authorization fixture knows the secret of.
#[derive(Debug, Clone)]
pub struct KnownCredential {
    pub name: &'static str,
    pub access_key_id: String,
    pub secret: String,
    pub session_token: Option<String>,
    pub expect: Expect,
    /// `User`, `AssumedRole` or `FederatedUser`.
    pub principal_type: &'static str,
    /// The caller ARN the principal reports.
    pub arn: String,
    /// Whether the authorization message of a denial must carry the MFA keys.
    pub temporary: bool,
}

/// A user record with one long-term key whose secret is `secret` (sealed for `user-key:AKID`,
/// as `UserRecord::create_access_key` seals it).
fn user_with_key(
    name: &str,
    user_id: &str,
    key_id: &str,
    secret: &str,
    policies: Vec<UserPolicy>,
    keyring: &Keyring,
) -> UserRecord {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let sealed_secret = sealed::seal(
        keyring,
        &format!("user-key:{key_id}"),
        secret.as_bytes(),
        &rng,
    )
    .expect("sealing a user secret");
    let user = UserRecord {
        name: name.into(),
        account_id: ACCOUNT.into(),
        user_id: user_id.into(),
        created_at: NOW_UNIX - 86_400,
        policies,
        access_keys: vec![AccessKey {
            access_key_id: key_id.into(),
            sealed_secret,
            created_at: NOW_UNIX - 86_400,
            status: KeyStatus::Active,
        }],
        mfa: None,
    };
    assert_eq!(
        user.secret_of(key_id, keyring)
            .map(|s| s.expose().to_owned()),
        Some(secret.to_owned()),
        "the fixture's user secret does not open: the sealing purpose changed"
    );
    user
}

/// `claims` sealed under the fixed current key with a nonce derived from `nonce_seed`: the
/// same token on every run, as only a keyring holder can make it.
pub fn seal_claims(claims: &SessionClaims, nonce_seed: u8) -> String {
    let plaintext = postcard::to_stdvec(claims).expect("claims encode");
    let mut nonce = [0xa5u8; NONCE_LEN];
    nonce[0] = nonce_seed;
    seal_raw(&plaintext, nonce, false)
}

/// A role session of `role` (`web` or `ops`) as `AssumeRoleWithWebIdentity` makes it.
pub fn role_session(role: &str, session_name: &str) -> Session {
    let role_path = if role == "web" { "fuzz/web" } else { role };
    Session {
        identity_arn: format!("arn:aws:iam::{ACCOUNT}:role/{role_path}"),
        identity_id: format!("AROAFUZZ{:0>13}", role.to_ascii_uppercase()),
        caller_arn: format!("arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session_name}"),
        account_id: ACCOUNT.into(),
        session_name: session_name.into(),
        source_identity: None,
        provider: PROVIDER.into(),
        subject: "repo:org/app".into(),
        session_tags: BTreeMap::new(),
        transitive_tag_keys: Vec::new(),
        session_policy: None,
        policy_arns: Vec::new(),
        kind: SessionKind::AssumedRole,
        mfa_authenticated_at: None,
    }
}

/// Alice's `GetSessionToken` session.
pub fn user_session(mfa_authenticated_at: Option<i64>) -> Session {
    Session {
        identity_arn: ALICE_ARN.into(),
        identity_id: ALICE_ID.into(),
        caller_arn: ALICE_ARN.into(),
        account_id: ACCOUNT.into(),
        session_name: ALICE.into(),
        source_identity: None,
        provider: String::new(),
        subject: ALICE_ARN.into(),
        session_tags: BTreeMap::new(),
        transitive_tag_keys: Vec::new(),
        session_policy: None,
        policy_arns: Vec::new(),
        kind: SessionKind::User,
        mfa_authenticated_at,
    }
}

/// A `GetFederationToken` session of alice named `name`.
pub fn federated_session(name: &str, session_policy: Option<&str>, arns: &[&str]) -> Session {
    Session {
        identity_arn: ALICE_ARN.into(),
        identity_id: ALICE_ID.into(),
        caller_arn: format!("arn:aws:sts::{ACCOUNT}:federated-user/{name}"),
        account_id: ACCOUNT.into(),
        session_name: name.into(),
        source_identity: None,
        provider: String::new(),
        subject: ALICE_ARN.into(),
        session_tags: BTreeMap::from([("team".into(), "blue".into())]),
        transitive_tag_keys: Vec::new(),
        session_policy: session_policy.map(str::to_owned),
        policy_arns: arns.iter().map(|a| (*a).to_owned()).collect(),
        kind: SessionKind::FederatedUser,
        mfa_authenticated_at: None,
    }
}

/// Claims for `session`, issued and expiring at the given offsets from [`NOW_UNIX`].
pub fn session_claims(
    access_key_id: &str,
    secret: &str,
    session: Session,
    issued: i64,
    expires: i64,
) -> SessionClaims {
    SessionClaims {
        version: CLAIMS_VERSION,
        access_key_id: access_key_id.into(),
        secret_access_key: Secret::new(secret.into()),
        session,
        issued_at: NOW_UNIX + issued,
        expires_at: NOW_UNIX + expires,
    }
}

/// The whole STS state of [`sts_fixture`], plus users alice (a key, policies) and bob (a key,
/// no policy) in the store, and revocations (one session, the web role's sessions issued two
/// hours ago or earlier).
pub struct AuthzFixture {
    pub sts: StsFixture,
    pub credentials: Vec<KnownCredential>,
}

/// The credentials of [`authz_fixture`], without a store (the seed generator signs with them).
pub fn known_credentials() -> Vec<KnownCredential> {
    let mut creds = vec![
        KnownCredential {
            name: "alice-key",
            access_key_id: "AKIAFUZZALICEKEY0001".into(),
            secret: "fuzz/alice+secret/key/000000000000000000".into(),
            session_token: None,
            expect: Expect::Valid,
            principal_type: "User",
            arn: ALICE_ARN.into(),
            temporary: false,
        },
        KnownCredential {
            name: "bob-key",
            access_key_id: "AKIAFUZZBOBKEY000001".into(),
            secret: "fuzz/bob+secret/key/00000000000000000000".into(),
            session_token: None,
            expect: Expect::Valid,
            principal_type: "User",
            arn: format!("arn:aws:iam::{ACCOUNT}:user/{BOB}"),
            temporary: false,
        },
        KnownCredential {
            name: "unknown-key",
            access_key_id: "AKIAFUZZNOBODY000001".into(),
            secret: "fuzz/nobody/secret/key/00000000000000000".into(),
            session_token: None,
            expect: Expect::Unknown,
            principal_type: "User",
            arn: String::new(),
            temporary: false,
        },
    ];
    let mut web = role_session("web", "fuzz-session");
    web.source_identity = Some("alice@example.com".into());
    web.session_tags = BTreeMap::from([
        ("team".into(), "infra".into()),
        ("env".into(), "prod".into()),
    ]);
    let mut ops = role_session("ops", "ops-1");
    ops.session_policy = Some(SESSION_POLICY.into());
    ops.policy_arns = vec![MANAGED_POLICY_ARN.into()];
    ops.mfa_authenticated_at = Some(NOW_UNIX - 1200);
    let mut missing_arn = role_session("ops", "gone-policy");
    missing_arn.policy_arns = vec![format!("arn:aws:iam::{ACCOUNT}:policy/deleted")];
    let mut gone_role = role_session("gone", "orphan");
    gone_role.identity_arn = format!("arn:aws:iam::{ACCOUNT}:role/gone");
    let sessions: Vec<(&'static str, &str, Session, i64, i64, Expect, &'static str)> = vec![
        (
            "web-session",
            "ASIAFUZZWEBSESSION01",
            web.clone(),
            -600,
            3000,
            Expect::Valid,
            "AssumedRole",
        ),
        (
            "ops-session",
            "ASIAFUZZOPSSESSION01",
            ops,
            -600,
            3000,
            Expect::Valid,
            "AssumedRole",
        ),
        (
            "alice-session",
            "ASIAFUZZALICESESS001",
            user_session(Some(NOW_UNIX - 300)),
            -300,
            43_200,
            Expect::Valid,
            "User",
        ),
        (
            "alice-session-nomfa",
            "ASIAFUZZALICESESS002",
            user_session(None),
            -300,
            43_200,
            Expect::Valid,
            "User",
        ),
        (
            "federated",
            "ASIAFUZZFEDERATED001",
            federated_session("fed", Some(SESSION_POLICY), &[MANAGED_POLICY_ARN]),
            -60,
            3600,
            Expect::Valid,
            "FederatedUser",
        ),
        (
            "federated-nopolicy",
            "ASIAFUZZFEDERATED002",
            federated_session("bare", None, &[]),
            -60,
            3600,
            Expect::Valid,
            "FederatedUser",
        ),
        (
            "missing-managed",
            "ASIAFUZZGONEPOLICY01",
            missing_arn,
            -60,
            3600,
            Expect::Valid,
            "AssumedRole",
        ),
        (
            "gone-role",
            "ASIAFUZZGONEROLE0001",
            gone_role,
            -60,
            3600,
            Expect::RoleGone,
            "AssumedRole",
        ),
        (
            "expired",
            "ASIAFUZZEXPIRED00001",
            role_session("web", "old"),
            -7200,
            -1,
            Expect::Expired,
            "AssumedRole",
        ),
        (
            "revoked",
            "ASIAFUZZREVOKED00001",
            role_session("ops", "revoked"),
            -60,
            3600,
            Expect::Revoked,
            "AssumedRole",
        ),
        (
            "role-revoked",
            "ASIAFUZZROLEREVOKED1",
            web,
            -7300,
            3600,
            Expect::Revoked,
            "AssumedRole",
        ),
    ];
    for (n, (name, key_id, session, issued, expires, expect, principal_type)) in
        sessions.into_iter().enumerate()
    {
        let secret = format!("fuzz/{name}/secret/{:0>40}", n)[..40].to_owned();
        let arn = session.caller_arn.clone();
        let claims = session_claims(key_id, &secret, session, issued, expires);
        creds.push(KnownCredential {
            name,
            access_key_id: key_id.into(),
            secret,
            session_token: Some(seal_claims(&claims, n as u8)),
            expect,
            principal_type,
            arn,
            temporary: true,
        });
    }
    // Another session's token under a key id of its own: the token names a different key.
    let web_token = creds
        .iter()
        .find(|c| c.name == "web-session")
        .and_then(|c| c.session_token.clone());
    creds.push(KnownCredential {
        name: "token-mismatch",
        access_key_id: "ASIAFUZZMISMATCH0001".into(),
        secret: creds
            .iter()
            .find(|c| c.name == "web-session")
            .map(|c| c.secret.clone())
            .unwrap_or_default(),
        session_token: web_token,
        expect: Expect::Unknown,
        principal_type: "AssumedRole",
        arn: String::new(),
        temporary: true,
    });
    creds
}

pub fn authz_fixture() -> AuthzFixture {
    let sts = sts_fixture();
    let keyring = sts.keyring.snapshot();
    let credentials = known_credentials();
    let secret_of = |name: &str| {
        credentials
            .iter()
            .find(|c| c.name == name)
            .map(|c| (c.access_key_id.clone(), c.secret.clone()))
            .expect("fixture credential")
    };
    let (alice_key, alice_secret) = secret_of("alice-key");
    let (bob_key, bob_secret) = secret_of("bob-key");
    let alice = user_with_key(
        ALICE,
        ALICE_ID,
        &alice_key,
        &alice_secret,
        vec![UserPolicy {
            name: "photos".into(),
            document: ALICE_POLICY.into(),
        }],
        &keyring,
    );
    assert!(alice.parsed_policies().is_ok(), "alice's policy parses");
    let bob = user_with_key(BOB, BOB_ID, &bob_key, &bob_secret, Vec::new(), &keyring);
    // Operator events, as `users create` and the revocation commands record them (fixed
    // request ids, so nothing here is random).
    let event = |name: EventName, request_id: &str| -> AuditEvent {
        AuditDraft::new(
            name,
            &Origin {
                request_id: request_id.into(),
                source_ip: None,
                user_agent: Some("stsbridge-fuzz".into()),
                secure_transport: false,
            },
            Value::Null,
            now(),
        )
        .done()
    };
    let revoked = secret_of("revoked").0;
    runtime().block_on(async {
        for user in [&alice, &bob] {
            // Created: the store must not hold the name yet.
            sts.store
                .users
                .swap(
                    &user.name,
                    None,
                    Some(user),
                    &event(EventName::CreateUser, "fuzz"),
                )
                .await
                .expect("storing a fixture user");
        }
        // Through the store, whose feed the state's authenticator reads.
        sts.store
            .revocations
            .revoke(
                &Revocation::Session {
                    access_key_id: revoked,
                    expires_at: NOW_UNIX + 3600,
                },
                &event(EventName::RevokeSession, "fuzz-revoke-session"),
            )
            .await
            .expect("recording a fixture revocation");
        sts.store
            .revocations
            .revoke(
                &Revocation::RoleSessions {
                    role_arn: WEB_ROLE_ARN.into(),
                    issued_at_or_before: NOW_UNIX - 7200,
                },
                &event(EventName::RevokeRoleSessions, "fuzz-revoke-role"),
            )
            .await
            .expect("recording a fixture revocation");
    });
    assert_eq!(
        sts.store.revocations.feed().borrow().len(),
        2,
        "the store's revocation feed does not hold the fixture's revocations"
    );
    AuthzFixture { sts, credentials }
}

// --- SigV4 signing, as the verifier canonicalises (`stsbridge::creds::sigv4`) ---------------

/// `YYYYMMDDTHHMMSSZ` of unix seconds.
pub fn amz_date(unix: i64) -> String {
    let (y, mo, d, h, mi, s, _) = civil(unix);
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

/// RFC 9110 IMF-fixdate of unix seconds.
pub fn http_date(unix: i64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, mo, d, h, mi, s, wd) = civil(unix);
    format!(
        "{}, {d:02} {} {y:04} {h:02}:{mi:02}:{s:02} GMT",
        DAYS[wd],
        MONTHS[(mo - 1) as usize]
    )
}

/// (year, month, day, hour, minute, second, weekday with 0 = Sunday), proleptic Gregorian UTC.
fn civil(unix: i64) -> (i64, u32, u32, u32, u32, u32, usize) {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let weekday = (days + 4).rem_euclid(7) as usize;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        month,
        day,
        (secs / 3600) as u32,
        (secs % 3600 / 60) as u32,
        (secs % 60) as u32,
        weekday,
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data).as_ref())
}

/// SigV4 URI-encoding: all but `A-Z a-z 0-9 - . _ ~` (and `/` when `keep_slash`), upper hex.
pub fn uri_encode(bytes: &[u8], keep_slash: bool) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(raw: &[u8]) -> Vec<u8> {
    let digit = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%'
            && i + 2 < raw.len()
            && let (Some(h), Some(l)) = (digit(raw[i + 1]), digit(raw[i + 2]))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(raw[i]);
        i += 1;
    }
    out
}

/// The canonical query: form-decoded pairs, re-encoded, sorted; `X-Amz-Signature` left out
/// when `presigned`.
fn canonical_query(query: &str, presigned: bool) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|piece| {
            let (n, v) = piece.split_once('=').unwrap_or((piece, ""));
            let decode = |s: &str| percent_decode(s.replace('+', " ").as_bytes());
            (decode(n), decode(v))
        })
        .filter(|(n, _)| !presigned || n.as_slice() != b"X-Amz-Signature")
        .map(|(n, v)| (uri_encode(&n, false), uri_encode(&v, false)))
        .collect();
    pairs.sort_unstable();
    pairs
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Non-S3 path normalisation (RFC 3986 dot segments, empty segments dropped, trailing `/`
/// kept).
fn normalize_path(path: &str) -> String {
    if path.is_empty() {
        return "/".into();
    }
    let absolute = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    if !absolute.contains('.') && !absolute.contains("//") {
        return absolute;
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in absolute.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            kept => segments.push(kept),
        }
    }
    let mut out: String = segments.iter().map(|s| format!("/{s}")).collect();
    let trailing = ["/", "/.", "/.."].iter().any(|t| absolute.ends_with(t));
    if out.is_empty() || (trailing && !out.ends_with('/')) {
        out.push('/');
    }
    out
}

fn trimmed(value: &str) -> String {
    let mut out = String::new();
    let mut previous_space = false;
    for c in value.trim_matches([' ', '\t']).chars() {
        if c == ' ' {
            if !previous_space {
                out.push(' ');
            }
            previous_space = true;
        } else {
            out.push(c);
            previous_space = false;
        }
    }
    out
}

/// What to sign.
pub struct ToSign<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// Raw query; for a presigned request, with every `X-Amz-*` parameter but the signature.
    pub query: &'a str,
    pub headers: &'a [(String, String)],
    /// `a;b;c`, lower-case, sorted.
    pub signed_headers: &'a str,
    /// The payload hash of the canonical request (`UNSIGNED-PAYLOAD` for presigned requests).
    pub payload_hash: &'a str,
    pub presigned: bool,
    pub amz_date: &'a str,
    pub region: &'a str,
    pub service: &'a str,
}

/// Hex signature of `req` with `secret`.
pub fn sigv4_signature(secret: &str, req: &ToSign<'_>) -> String {
    use aws_lc_rs::hmac;
    let mut canonical = format!(
        "{}\n{}\n{}\n",
        req.method,
        uri_encode(normalize_path(req.path).as_bytes(), true),
        canonical_query(req.query, req.presigned)
    );
    for name in req.signed_headers.split(';') {
        let values: Vec<String> = req
            .headers
            .iter()
            .filter(|(h, _)| h.eq_ignore_ascii_case(name))
            .map(|(_, v)| trimmed(v))
            .collect();
        canonical.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    canonical.push_str(&format!("\n{}\n{}", req.signed_headers, req.payload_hash));
    let date = &req.amz_date[..8.min(req.amz_date.len())];
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{}\n{date}/{}/{}/aws4_request\n{}",
        req.amz_date,
        req.region,
        req.service,
        sha256_hex(canonical.as_bytes())
    );
    let mac = |key: &[u8], data: &str| {
        hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes())
            .as_ref()
            .to_vec()
    };
    let k_date = mac(format!("AWS4{secret}").as_bytes(), date);
    let k_region = mac(&k_date, req.region);
    let k_service = mac(&k_region, req.service);
    let k_signing = mac(&k_service, "aws4_request");
    hex(&mac(&k_signing, &string_to_sign))
}
