//! The authorization API end to end: `serde_json` into `authz::AuthorizeRequest`, then
//! `authz::authorize` (async, on a current-thread runtime) against a real `state::State` (the
//! store of `store::open` on a scratch directory holding users alice and bob with fixed
//! long-term keys and revocations of one session and of the web role's older sessions, the
//! fixed keyring, two roles, a managed policy, a stopped clock).
//!
//! Input, by its first byte:
//! - `0x00 BYTES`: structured. `arbitrary` builds a plausible request signed with SigV4 (header
//!   or presigned form) by one of the fixture's credentials (long-term keys, role, user and
//!   federated-user sessions, expired, revoked, unknown, of a role that is gone) or by
//!   fuzzer-made session claims the target seals with the fixed key; then maybe breaks it
//!   (signature, method, path, query, host, date, credential, payload hash). The service
//!   receiving it (the signing name `authorize` is given) is mostly the scope's, rarely
//!   another. Action, resource and context keys come mostly from the fixture policies' own
//!   vocabulary, so evaluation is reached with statements that match.
//! - `0x01 CRED JSON`: the JSON request is signed by the target with credential `CRED` (host,
//!   date and token headers added when missing) for the service receiving it (`photos`), so
//!   fuzzer-chosen views verify.
//! - anything else: the whole input is the JSON body a service POSTs, received by the service
//!   its action names (the seeds are such bodies, carrying valid signatures made with the fixed
//!   keys at the fixed `now`).
//!
//! Never panics. Besides: an accepted request is signed by a known, valid credential, scoped to
//! the receiving service, and the principal is that credential's; `allowed`, `decision`, the
//! matched statements and the encoded message agree; the message opens with the keyring and
//! names the action, the resource and the principal, with one value for each principal key (a
//! service cannot add its own); the response (JSON error body and error text included) and the
//! audit event never carry a secret, a session token or the signature; a service-supplied
//! principal key is refused; errors are only `InvalidRequest`, `Auth` or `Internal`, and
//! `InternalFailure` only for sealed claims no daemon would write. In structured mode, a request
//! signed correctly by a valid credential for the receiving service verifies (for another
//! service: `WrongService`; an expired, revoked, unknown or role-gone credential: its error),
//! and a request broken after signing never does.
#![no_main]

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use stsbridge::authz::{
    AuthorizeRequest, AuthorizeResponse, ContextValue, RequestView, audit_event,
};
use stsbridge::creds::sigv4::SigV4Error;
use stsbridge::creds::{Session, SessionKind};
use stsbridge::error::ApiError;
use stsbridge::policy::{EvalDecision, Policy, PolicyKind};
use stsbridge::principal::decode_message;
use stsbridge::state::State;
use stsbridge_fuzz::{self as fx, Expect, KnownCredential, ToSign};

struct Target {
    fixture: fx::AuthzFixture,
    by_key: HashMap<String, KnownCredential>,
    runtime: tokio::runtime::Runtime,
}

static TARGET: LazyLock<Target> = LazyLock::new(|| {
    let fixture = fx::authz_fixture();
    let by_key = fixture
        .credentials
        .iter()
        .map(|c| (c.access_key_id.clone(), c.clone()))
        .collect();
    Target {
        fixture,
        by_key,
        runtime: fx::runtime(),
    }
});

/// `authz::authorize` (async: users are read from the store) on the fixture's state at the
/// fixed `now`, as the service whose signing name is `receiving` calls it (the credential
/// scope must name that service).
fn authorize(
    target: &Target,
    request: &AuthorizeRequest,
    receiving: &str,
) -> Result<AuthorizeResponse, ApiError> {
    target.runtime.block_on(stsbridge::authz::authorize(
        &target.fixture.sts.state,
        request,
        receiving,
        fx::now(),
    ))
}

/// The service a raw body is sent by: the one its action belongs to (`photos:GetPhoto` is
/// asked by the photos service, whose signing name is `photos`).
fn service_of_action(action: &str) -> &str {
    action.split_once(':').map_or("", |(service, _)| service)
}

/// `AUTHORIZE_REQUEST_DEBUG=1` prints each structured request and its outcome (to replay one).
static DEBUG: LazyLock<bool> =
    LazyLock::new(|| std::env::var_os("AUTHORIZE_REQUEST_DEBUG").is_some());

const HOST: &str = "photos.fuzz.example";
/// Tokens longer than this never open (`creds::token::MAX_SESSION_TOKEN_LEN`).
const MAX_TOKEN_LEN: usize = 8 * 1024;

fuzz_target!(|data: &[u8]| {
    let target = &*TARGET;
    match data.split_first() {
        Some((0, rest)) => {
            let _ = structured(target, &mut Unstructured::new(rest));
        }
        Some((1, rest)) => resigned(target, rest),
        _ => {
            let Ok(request) = serde_json::from_slice::<AuthorizeRequest>(data) else {
                return;
            };
            let receiving = service_of_action(&request.action);
            let outcome = authorize(target, &request, receiving);
            check(target, &request, &outcome, receiving, None, false);
        }
    }
});

// ---------------------------------------------------------------------------------------------
// Checks every outcome must pass.

/// Keys only the verified credentials may set (the authorization API documentation).
const PRINCIPAL_KEYS: [&str; 12] = [
    "aws:PrincipalArn",
    "aws:PrincipalAccount",
    "aws:PrincipalType",
    "aws:userid",
    "aws:username",
    "aws:TokenIssueTime",
    "aws:MultiFactorAuthPresent",
    "aws:MultiFactorAuthAge",
    "aws:SourceIdentity",
    "aws:FederatedProvider",
    "aws:CurrentTime",
    "aws:EpochTime",
];

fn is_principal_key(key: &str) -> bool {
    PRINCIPAL_KEYS.iter().any(|k| k.eq_ignore_ascii_case(key))
        || key
            .get(..17)
            .is_some_and(|p| p.eq_ignore_ascii_case("aws:PrincipalTag/"))
}

/// `signer`: the credential the target signed with, if it did (structured and re-signed
/// modes), with whether its claims were made by the fuzzer (`internal_ok`: a sealed session
/// policy no daemon would write may fail to parse).
fn check(
    target: &Target,
    request: &AuthorizeRequest,
    outcome: &Result<AuthorizeResponse, ApiError>,
    receiving: &str,
    signer: Option<&KnownCredential>,
    internal_ok: bool,
) {
    let state = &target.fixture.sts.state;
    if request.context.keys().any(|k| is_principal_key(k)) {
        assert!(
            matches!(outcome, Err(ApiError::InvalidRequest(_))),
            "a service-supplied principal key was not refused: {outcome:?}"
        );
    }
    match outcome {
        Err(ApiError::Internal(m)) => assert!(internal_ok, "InternalFailure: {m}"),
        Err(ApiError::InvalidRequest(_) | ApiError::Auth(_)) => {}
        // `authorize` refuses an input (InvalidRequest), a signature or credential (Auth), or
        // fails on its own side (Internal); nothing else.
        Err(e) => panic!("authorize answered neither InvalidRequest, Auth nor Internal: {e:?}"),
        Ok(response) => {
            let principal = &response.principal;
            let cred = match signer {
                Some(c) => c,
                None => target
                    .by_key
                    .get(&principal.access_key_id)
                    .expect("accepted with a credential the fixture does not hold"),
            };
            assert_eq!(principal.access_key_id, cred.access_key_id);
            assert_eq!(
                response.signing_service, receiving,
                "accepted a signature scoped to another service"
            );
            assert_eq!(cred.expect, Expect::Valid, "{} was accepted", cred.name);
            assert_eq!(principal.kind, cred.principal_type, "{}", cred.name);
            assert_eq!(principal.arn, cred.arn, "{}", cred.name);
            assert_eq!(principal.token_issue_time.is_some(), cred.temporary);
            assert_eq!(
                principal.mfa_authenticated,
                principal.mfa_age_seconds.is_some()
            );
            assert!(principal.mfa_age_seconds.is_none_or(|age| age >= 0));
            check_decision(state, request, response, cred);
        }
    }

    // What reaches the audit trail and the response body: never a secret or a token, never
    // the signature (unless the service itself put that text in the fields recorded).
    // A refused signature is recorded with the key id it claimed: the signer's, when there is one.
    let claimed = signer.map(|c| c.access_key_id.as_str());
    let event = audit_event("fuzz", request, outcome, claimed, &fx::origin(), fx::now());
    let audit = serde_json::to_string(&event).expect("the audit event serialises");
    let body = match outcome {
        Ok(response) => serde_json::to_string(response).expect("the response serialises"),
        // The JSON error body the API renders from the error table, and the error's full text
        // (with its inner detail, as logged).
        Err(e) => {
            let row = e.row();
            let rendered = serde_json::json!({
                "error": {"code": row.code, "message": row.message},
                "requestId": fx::origin().request_id,
            });
            format!("{rendered}\n{e}")
        }
    };
    let mut service_text = format!(
        "{}\n{}\n{}\n{}",
        request.action, request.resource, request.request.method, request.request.path
    );
    for (k, v) in &request.context {
        service_text.push_str(k);
        match v {
            ContextValue::One(v) => service_text.push_str(v),
            ContextValue::Many(vs) => vs.iter().for_each(|v| service_text.push_str(v)),
        }
    }
    let mut secrets: Vec<&str> = Vec::new();
    for c in target.fixture.credentials.iter().chain(signer) {
        secrets.push(&c.secret);
        if let Some(t) = &c.session_token {
            secrets.push(t);
        }
    }
    let signature = signature_of(request);
    secrets.extend(signature.as_deref());
    for secret in secrets {
        if secret.len() >= 16 && !service_text.contains(secret) {
            assert!(!audit.contains(secret), "a secret reached the audit event");
            assert!(!body.contains(secret), "a secret reached the response");
        }
    }
}

/// The hex signature the request carries, if any.
fn signature_of(request: &AuthorizeRequest) -> Option<String> {
    let from = |text: &str, marker: &str| {
        let start = text.find(marker)? + marker.len();
        let sig: String = text[start..]
            .chars()
            .take_while(char::is_ascii_hexdigit)
            .collect();
        (sig.len() == 64).then_some(sig)
    };
    request
        .request
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .find_map(|(_, v)| from(v, "Signature="))
        .or_else(|| from(&request.request.query, "X-Amz-Signature="))
}

fn check_decision(
    state: &State,
    request: &AuthorizeRequest,
    response: &AuthorizeResponse,
    cred: &KnownCredential,
) {
    let allowed = response.decision == EvalDecision::Allowed;
    assert_eq!(response.allowed, allowed);
    assert_eq!(
        response.matched_statements.is_empty(),
        response.decision == EvalDecision::ImplicitDeny,
        "{:?} with {:?}",
        response.decision,
        response.matched_statements
    );
    assert_eq!(response.encoded_authorization_message.is_some(), !allowed);
    let Some(encoded) = &response.encoded_authorization_message else {
        return;
    };
    assert!(
        encoded.len() <= 10_240,
        "message of {} chars",
        encoded.len()
    );
    let text = decode_message(&state.principals().keyring().snapshot(), encoded)
        .expect("the daemon's own message opens");
    let message: Value = serde_json::from_str(&text).expect("the message is JSON");
    assert_eq!(message["allowed"], Value::Bool(false));
    assert_eq!(
        message["explicitDeny"],
        Value::Bool(response.decision == EvalDecision::ExplicitDeny)
    );
    let context = &message["context"];
    let conditions = context["conditions"]["items"]
        .as_array()
        .expect("conditions");
    // The action and the resource, whole; or, in a message that had to drop its conditions,
    // cut to 256 characters and marked with `…`.
    for (field, full) in [("action", &request.action), ("resource", &request.resource)] {
        let got = context[field].as_str().expect("a string");
        let cut = got
            .strip_suffix('…')
            .is_some_and(|head| head.chars().count() == 256 && full.starts_with(head));
        assert!(
            got == full.as_str() || (conditions.is_empty() && cut),
            "{field} {got:?} for {full:?}"
        );
    }
    assert_eq!(
        context["principal"]["arn"].as_str(),
        Some(response.principal.arn.as_str())
    );
    let items = message["matchedStatements"]["items"]
        .as_array()
        .expect("matched statements");
    assert_eq!(items.len(), response.matched_statements.len());
    if conditions.is_empty() {
        return; // dropped to fit the size limit
    }
    let values_of = |key: &str| {
        conditions
            .iter()
            .find(|c| {
                c["key"]
                    .as_str()
                    .is_some_and(|k| k.eq_ignore_ascii_case(key))
            })
            .map(|c| {
                c["values"]["items"]
                    .as_array()
                    .expect("values")
                    .iter()
                    .map(|v| v["value"].as_str().expect("a string value").to_owned())
                    .collect::<Vec<_>>()
            })
    };
    for key in PRINCIPAL_KEYS {
        if let Some(values) = values_of(key) {
            assert_eq!(values.len(), 1, "{key} has values {values:?}");
        }
    }
    assert_eq!(
        values_of("aws:PrincipalType"),
        Some(vec![cred.principal_type.to_owned()])
    );
    assert_eq!(
        values_of("aws:MultiFactorAuthPresent").is_some(),
        cred.temporary,
        "MFA keys for a long-term key, or none for temporary credentials"
    );
    if cred.principal_type == "User" && cred.name != "fuzz-claims" {
        assert!(
            values_of("aws:username").is_some(),
            "a user without aws:username"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Structured mode.

/// True about once in `n` (never once the input is used up: `ratio` is true then, which would
/// make the rare branch the default of every short input).
fn rarely(u: &mut Unstructured<'_>, n: u32) -> Result<bool> {
    Ok(!u.ratio(n - 1, n)?)
}

fn pick(u: &mut Unstructured<'_>, pool: &[&str]) -> Result<String> {
    if rarely(u, 6)? {
        u.arbitrary()
    } else {
        Ok((*u.choose(pool)?).to_owned())
    }
}

/// A pool entry, an arbitrary string, or (rarely) one character repeated up to past the API's
/// 2048-byte limits.
fn pick_long(u: &mut Unstructured<'_>, pool: &[&str], prefix: &str) -> Result<String> {
    if rarely(u, 16)? {
        let c = *u.choose(&['a', '"', '\\', '\u{1}', 'é', '/', '*', '<'])?;
        let n: usize = u.int_in_range(2030..=2060)?;
        let mut s = prefix.to_owned();
        s.extend(std::iter::repeat_n(c, n.saturating_sub(s.chars().count())));
        return Ok(s);
    }
    pick(u, pool)
}

const ACTIONS: &[&str] = &[
    "photos:GetPhoto",
    "photos:ListAlbums",
    "photos:PutPhoto",
    "photos:DeletePhoto",
    "photos:Share",
    "PHOTOS:getphoto",
    "s3:GetObject",
    "s3:ListBucket",
    "s3:DeleteObject",
    "s3:PutObject",
    "sts:GetCallerIdentity",
    "iam:CreateUser",
    "photos",
    "",
];

const RESOURCES: &[&str] = &[
    "arn:aws:photos:::album/alice/cat.jpg",
    "arn:aws:photos:::album/bob/dog.jpg",
    "arn:aws:photos:::album/scratch/tmp",
    "arn:aws:photos:::album/${aws:username}/x",
    "arn:aws:s3:::fuzz-alice/key",
    "arn:aws:s3:::fuzz-/key",
    "arn:aws:s3:::other/key",
    "*",
    "",
];

const CONTEXT_KEYS: &[&str] = &[
    "photos:Team",
    "photos:Album",
    "aws:SourceIp",
    "aws:SecureTransport",
    "aws:RequestedRegion",
    "s3:prefix",
    "aws:PrincipalOrgID",
    "aws:PrincipalTagX",
];

/// Keys a service may not supply (picked rarely: each makes the request invalid).
const RARE_CONTEXT_KEYS: &[&str] = &[
    "aws:PrincipalTag/team",
    "AWS:USERNAME",
    "aws:MultiFactorAuthPresent",
    "aws:MultiFactorAuthAge",
    "aws:SourceIdentity",
    "aws:CurrentTime",
    "aws:principaltag/",
    "",
];

const CONTEXT_VALUES: &[&str] = &[
    "blue",
    "infra",
    "prod",
    "192.0.2.10",
    "203.0.113.9",
    "2001:db8::1",
    "::ffff:192.0.2.1",
    "true",
    "false",
    "scratch",
    "alice",
    "${aws:username}",
    "2027-01-15T08:00:00Z",
    "",
];

const HEADER_NAMES: &[&str] = &[
    "content-type",
    "x-amz-content-sha256",
    "x-amz-meta-album",
    "user-agent",
    "Content-Type",
    "Host",
    "x-forwarded-for",
    "bad header",
    "",
];

/// Headers that clash with the signature's own (picked rarely).
const RARE_HEADER_NAMES: &[&str] = &[
    "X-Amz-Date",
    "date",
    "X-Amz-Security-Token",
    "Authorization",
];

const HEADER_VALUES: &[&str] = &[
    "application/json",
    "  spaced   out  value ",
    "a,b",
    "\t",
    "",
    "UNSIGNED-PAYLOAD",
    "é",
];

const QUERY_NAMES: &[&str] = &["album", "list-type", "a b", "x-amz-date", "Action", "~", ""];

/// Parameters that clash with a presigned signature's own (picked rarely).
const RARE_QUERY_NAMES: &[&str] = &["X-Amz-Expires", "X-Amz-Signature", "X-Amz-Algorithm"];

const PATH_SEGMENTS: &[&str] = &[
    "photos", "album", "alice", "cat.jpg", "..", ".", "", "a b", "%2F", "%41", "é", "~x", "+",
];

const REGIONS: &[&str] = &["us-east-1", "eu-west-3", "fuzz", "a_b.c-d"];
const SERVICES: &[&str] = &["photos", "s3", "execute-api", "sts"];

/// The credential scope names the verifier accepts.
fn is_scope_name(part: &str) -> bool {
    !part.is_empty()
        && part.len() <= 64
        && part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

fn is_signable_header(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
        })
}

/// Session claims chosen by the fuzzer, sealed with the fixed key: the permission logic sees
/// kinds, roles, users, session policies, tags and MFA times no STS call would combine.
fn fuzz_credential(
    u: &mut Unstructured<'_>,
    n: u32,
    roles: &stsbridge::config::RoleSet,
) -> Result<KnownCredential> {
    let kind = *u.choose(&[
        SessionKind::AssumedRole,
        SessionKind::User,
        SessionKind::FederatedUser,
    ])?;
    let bob_arn = format!("arn:aws:iam::{}:user/{}", fx::ACCOUNT, fx::BOB);
    let role_arn = pick(
        u,
        &[
            fx::WEB_ROLE_ARN,
            fx::OPS_ROLE_ARN,
            fx::ALICE_ARN,
            bob_arn.as_str(),
            "arn:aws:iam::123456789012:user/nobody",
            "arn:aws:iam::123456789012:role/gone",
        ],
    )?;
    // Mostly the configured role's own id (a role session verifies only with it), so that
    // role sessions reach the permission checks; sometimes any id.
    let role_id = match roles.get(&role_arn) {
        Some(role) if !rarely(u, 4)? => role.role_id.clone(),
        _ => pick(
            u,
            &[
                "AROAFUZZ0000000000WEB",
                "AROAFUZZ0000000000OPS",
                fx::ALICE_ID,
                fx::BOB_ID,
            ],
        )?,
    };
    let session_name = pick(u, &["fuzz", "alice", "fed", "a@b.c"])?;
    let assumed_role_arn = pick(
        u,
        &[
            "arn:aws:sts::123456789012:assumed-role/web/fuzz",
            "arn:aws:sts::123456789012:federated-user/fed",
            fx::ALICE_ARN,
        ],
    )?;
    let mut session_tags = BTreeMap::new();
    for _ in 0..u.int_in_range(0..=3)? {
        session_tags.insert(
            pick(u, &["team", "env", "Team", "cost-center"])?,
            pick(u, &["blue", "infra", "prod", ""])?,
        );
    }
    let deleted = format!("arn:aws:iam::{}:policy/deleted", fx::ACCOUNT);
    let session_policy = if u.ratio(1, 2)? {
        Some(pick(
            u,
            &[
                fx::SESSION_POLICY,
                fx::MANAGED_POLICY,
                fx::INLINE_POLICY,
                r#"{"Version":"2012-10-17","Statement":[]}"#,
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","NotAction":"photos:Get*","Resource":"*"}}"#,
                "{}",
            ],
        )?)
    } else {
        None
    };
    let mut policy_arns = Vec::new();
    for _ in 0..u.int_in_range(0..=2)? {
        policy_arns.push(pick(u, &[fx::MANAGED_POLICY_ARN, deleted.as_str()])?);
    }
    let now = fx::NOW_UNIX;
    let mfa_authenticated_at = if u.ratio(1, 2)? {
        Some(now - i64::from(u.int_in_range(-3600..=864_000)?))
    } else {
        None
    };
    let issued_at = now - i64::from(u.int_in_range(0..=200_000)?);
    let expires_at = issued_at + i64::from(u.int_in_range(0..=129_600)?);
    // A role session verifies only while its role is configured with the id it carries.
    let role_in_force = roles
        .get(&role_arn)
        .is_some_and(|role| role.role_id == role_id);
    let session = Session {
        identity_arn: role_arn.clone(),
        identity_id: role_id,
        caller_arn: assumed_role_arn.clone(),
        account_id: pick(u, &[fx::ACCOUNT, "000000000000"])?,
        session_name,
        source_identity: if rarely(u, 3)? {
            Some(u.arbitrary()?)
        } else {
            None
        },
        provider: pick(u, &[fx::PROVIDER, ""])?,
        subject: u.arbitrary()?,
        session_tags,
        transitive_tag_keys: Vec::new(),
        session_policy,
        policy_arns,
        kind,
        mfa_authenticated_at,
    };
    let access_key_id = format!("ASIAFUZZCLAIMS{n:06}");
    let secret = "fuzz/claims/secret/0000000000000000000000".to_owned();
    let mut claims = fx::session_claims(&access_key_id, &secret, session, 0, 0);
    claims.issued_at = issued_at;
    claims.expires_at = expires_at;
    let token = fx::seal_claims(&claims, u.arbitrary()?);
    let expect = if token.len() > MAX_TOKEN_LEN {
        Expect::Unknown
    } else if now >= expires_at {
        Expect::Expired
    } else if role_arn == fx::WEB_ROLE_ARN && issued_at <= now - 7200 {
        Expect::Revoked
    } else if kind == SessionKind::AssumedRole && !role_in_force {
        Expect::RoleGone
    } else {
        Expect::Valid
    };
    Ok(KnownCredential {
        name: "fuzz-claims",
        access_key_id,
        secret,
        session_token: Some(token),
        expect,
        principal_type: match kind {
            SessionKind::AssumedRole => "AssumedRole",
            SessionKind::User => "User",
            SessionKind::FederatedUser => "FederatedUser",
        },
        arn: assumed_role_arn,
        temporary: true,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Break {
    Signature,
    Method,
    Path,
    AddQuery,
    Host,
    Date,
    Credential,
    PayloadHash,
    SignedHeaderValue,
}

fn structured(target: &Target, u: &mut Unstructured<'_>) -> Result<()> {
    let creds = &target.fixture.credentials;
    let (cred, claims_made) = if rarely(u, 4)? {
        let n = u.arbitrary::<u32>()? % 1_000_000;
        let federation = target.fixture.sts.state.federation();
        (fuzz_credential(u, n, &federation.roles)?, true)
    } else {
        (u.choose(creds)?.clone(), false)
    };
    // `clean`: nothing but the credential itself can make verification fail.
    let mut clean = true;

    let method = pick(u, &["GET", "POST", "PUT", "DELETE", "HEAD"])?;
    let mut path = String::new();
    for _ in 0..u.int_in_range(0..=5)? {
        path.push('/');
        path.push_str(&pick(u, PATH_SEGMENTS)?);
    }
    if rarely(u, 8)? {
        path = u.arbitrary()?;
    }

    let mut query_pieces: Vec<String> = Vec::new();
    for _ in 0..u.int_in_range(0..=4)? {
        if rarely(u, 6)? {
            query_pieces.push(u.arbitrary()?);
            clean = false;
        } else {
            let pool = if rarely(u, 8)? {
                RARE_QUERY_NAMES
            } else {
                QUERY_NAMES
            };
            let name = pick(u, pool)?;
            let value = pick(u, CONTEXT_VALUES)?;
            if name.starts_with("X-Amz-") {
                clean = false;
            }
            query_pieces.push(format!(
                "{}={}",
                fx::uri_encode(name.as_bytes(), false),
                fx::uri_encode(value.as_bytes(), false)
            ));
        }
    }

    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for _ in 0..u.int_in_range(0..=6)? {
        let pool = if rarely(u, 8)? {
            RARE_HEADER_NAMES
        } else {
            HEADER_NAMES
        };
        let name = pick(u, pool)?;
        let value = pick(u, HEADER_VALUES)?;
        if [
            "authorization",
            "x-amz-date",
            "date",
            "x-amz-security-token",
        ]
        .iter()
        .any(|h| h.eq_ignore_ascii_case(&name))
        {
            clean = false;
        }
        headers.insert(name, value);
    }

    let presigned = rarely(u, 3)?;
    let use_date_header = !presigned && rarely(u, 4)?;
    let offset: i64 = if rarely(u, 4)? {
        i64::from(u.int_in_range(-700_000..=700_000)?)
    } else {
        i64::from(u.int_in_range(-900..=900)?)
    };
    let expires: u32 = if presigned {
        *u.choose(&[1u32, 60, 900, 3600, 604_800, 604_801, 0])?
    } else {
        0
    };
    let signed_at = fx::NOW_UNIX + offset;
    let time_ok = if presigned {
        (1..=604_800).contains(&expires)
            && (offset > 0 && offset <= 900 || offset <= 0 && -offset <= i64::from(expires))
    } else {
        (-900..=900).contains(&offset)
    };
    let region = pick(u, REGIONS)?;
    let service = pick(u, SERVICES)?;
    // The service receiving the request (the signing name `authorize` is called with): mostly
    // the one the scope names, rarely another (`WrongService`).
    let receiving = if rarely(u, 8)? {
        pick(u, SERVICES)?
    } else {
        service.clone()
    };
    if !is_scope_name(&region) || !is_scope_name(&service) {
        clean = false;
    }
    let sign_token = !rarely(u, 16)?;
    if !sign_token && !presigned && cred.session_token.is_some() {
        clean = false;
    }
    let sign_extras = u.ratio(1, 2)?;
    let payload_hash = if presigned {
        "UNSIGNED-PAYLOAD".to_owned()
    } else {
        match u.int_in_range(0..=2)? {
            0 => fx::sha256_hex(u.arbitrary::<&[u8]>()?),
            1 => "UNSIGNED-PAYLOAD".to_owned(),
            _ => u.arbitrary()?,
        }
    };

    let amz_date = fx::amz_date(signed_at);
    let scope = format!(
        "{}/{}/{region}/{service}/aws4_request",
        cred.access_key_id,
        &amz_date[..8]
    );
    headers.insert("host".into(), HOST.into());
    if !presigned {
        if use_date_header {
            headers.insert("date".into(), fx::http_date(signed_at));
        } else {
            headers.insert("x-amz-date".into(), amz_date.clone());
        }
        if let Some(token) = &cred.session_token {
            headers.insert("x-amz-security-token".into(), token.clone());
        }
    }
    // As `authorize` hands them to the verifier: names lower-cased, in map order.
    let lowered = |headers: &BTreeMap<String, String>| -> Vec<(String, String)> {
        headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect()
    };
    let mut signed: Vec<String> = lowered(&headers)
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| {
            is_signable_header(k)
                && k != "authorization"
                && (sign_extras
                    || k == "host"
                    || k == "x-amz-date"
                    || k == "date"
                    || (k == "x-amz-security-token" && sign_token))
        })
        .collect();
    if !sign_token {
        signed.retain(|k| k != "x-amz-security-token");
    }
    signed.sort();
    signed.dedup();
    let signed_headers = signed.join(";");

    if presigned {
        query_pieces.extend([
            "X-Amz-Algorithm=AWS4-HMAC-SHA256".to_owned(),
            format!(
                "X-Amz-Credential={}",
                fx::uri_encode(scope.as_bytes(), false)
            ),
            format!("X-Amz-Date={amz_date}"),
            format!("X-Amz-Expires={expires}"),
            format!(
                "X-Amz-SignedHeaders={}",
                fx::uri_encode(signed_headers.as_bytes(), false)
            ),
        ]);
        if let Some(token) = &cred.session_token {
            query_pieces.push(format!(
                "X-Amz-Security-Token={}",
                fx::uri_encode(token.as_bytes(), false)
            ));
        }
    }
    let mut query = query_pieces.join("&");
    let header_list = lowered(&headers);
    let signature = fx::sigv4_signature(
        &cred.secret,
        &ToSign {
            method: &method,
            path: &path,
            query: &query,
            headers: &header_list,
            signed_headers: &signed_headers,
            payload_hash: &payload_hash,
            presigned,
            amz_date: &amz_date,
            region: &region,
            service: &service,
        },
    );
    if presigned {
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(&format!("X-Amz-Signature={signature}"));
    } else {
        headers.insert(
            "authorization".into(),
            format!(
                "AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders={signed_headers}, Signature={signature}"
            ),
        );
    }

    let mut request = AuthorizeRequest {
        request: RequestView {
            method,
            path,
            query,
            headers,
            payload_sha256: payload_hash,
        },
        action: pick_long(u, ACTIONS, "photos:")?,
        resource: pick_long(u, RESOURCES, "arn:aws:photos:::album/")?,
        context: BTreeMap::new(),
    };
    for _ in 0..u.int_in_range(0..=5)? {
        let pool = if rarely(u, 8)? {
            RARE_CONTEXT_KEYS
        } else {
            CONTEXT_KEYS
        };
        let key = pick(u, pool)?;
        let value = if u.ratio(1, 2)? {
            ContextValue::One(pick(u, CONTEXT_VALUES)?)
        } else if rarely(u, 8)? {
            let v = pick(u, CONTEXT_VALUES)?;
            ContextValue::Many(vec![v; u.int_in_range(200..=300)?])
        } else {
            let mut vs = Vec::new();
            for _ in 0..u.int_in_range(0..=4)? {
                vs.push(pick(u, CONTEXT_VALUES)?);
            }
            ContextValue::Many(vs)
        };
        request.context.insert(key, value);
    }

    // Break the signed request in ways that must never verify.
    let mut broken = Vec::new();
    for _ in 0..u.int_in_range(0..=2)? {
        let what = *u.choose(&[
            Break::Signature,
            Break::Method,
            Break::Path,
            Break::AddQuery,
            Break::Host,
            Break::Date,
            Break::Credential,
            Break::PayloadHash,
            Break::SignedHeaderValue,
        ])?;
        // Once each: a second flip, date shift or key swap could undo the first.
        if broken.contains(&what) {
            continue;
        }
        if apply_break(u, &mut request, what, &cred, creds, presigned, &signed)? {
            broken.push(what);
        }
    }

    let outcome = authorize(target, &request, &receiving);
    if *DEBUG {
        eprintln!(
            "credential {} (expect {:?}) received by {receiving:?}\n{request:#?}\n{outcome:#?}",
            cred.name, cred.expect
        );
    }
    let internal_ok = claims_made
        && cred.expect == Expect::Valid
        && matches!(&outcome, Err(ApiError::Internal(m)) if m.contains("sealed session policy"))
        && sealed_policy_invalid(&cred);
    check(
        target,
        &request,
        &outcome,
        &receiving,
        Some(&cred),
        internal_ok,
    );

    let invalid_input = matches!(outcome, Err(ApiError::InvalidRequest(_)));
    if !broken.is_empty() {
        assert!(outcome.is_err(), "accepted after {broken:?}");
    } else if clean && time_ok && !invalid_input {
        let auth = match &outcome {
            Err(ApiError::Auth(e)) => Some(*e),
            _ => None,
        };
        // The scope's service is checked before the key is resolved.
        let expected = if service != receiving {
            Some(SigV4Error::WrongService)
        } else {
            match cred.expect {
                Expect::Valid => None,
                Expect::Expired => Some(SigV4Error::ExpiredToken),
                Expect::Revoked | Expect::Unknown | Expect::RoleGone => {
                    Some(SigV4Error::InvalidClientTokenId)
                }
            }
        };
        assert_eq!(
            auth,
            expected,
            "{} signed correctly ({}) came to {outcome:?}",
            cred.name,
            if presigned { "presigned" } else { "header" }
        );
    }
    Ok(())
}

/// Whether the fuzzer-made claims carry a session policy that does not parse (only a keyring
/// holder can seal one; the daemon refuses it as an internal error).
fn sealed_policy_invalid(cred: &KnownCredential) -> bool {
    let Some(token) = &cred.session_token else {
        return false;
    };
    let keyring = TARGET.fixture.sts.keyring.snapshot();
    stsbridge::creds::token::unseal(&keyring, token).is_ok_and(|claims| {
        claims
            .session
            .session_policy
            .is_some_and(|p| Policy::parse(&p, PolicyKind::Session).is_err())
    })
}

/// Apply one break; `false` when it cannot change what is signed (so it does not count).
fn apply_break(
    u: &mut Unstructured<'_>,
    request: &mut AuthorizeRequest,
    what: Break,
    cred: &KnownCredential,
    creds: &[KnownCredential],
    presigned: bool,
    signed: &[String],
) -> Result<bool> {
    let view = &mut request.request;
    let auth_key = view
        .headers
        .keys()
        .find(|k| k.as_str() == "authorization")
        .cloned();
    Ok(match what {
        Break::Signature => {
            let replace_last_hex = |s: &mut String, marker: &str| {
                let Some(start) = s.find(marker).map(|i| i + marker.len()) else {
                    return false;
                };
                let end = start + 64;
                let Some(last) = s.get(end - 1..end) else {
                    return false;
                };
                let new = if last == "0" { "1" } else { "0" };
                s.replace_range(end - 1..end, new);
                true
            };
            if presigned {
                replace_last_hex(&mut view.query, "X-Amz-Signature=")
            } else {
                match auth_key.and_then(|k| view.headers.get_mut(&k)) {
                    Some(v) => replace_last_hex(v, "Signature="),
                    None => false,
                }
            }
        }
        Break::Method => {
            view.method.push('X');
            true
        }
        Break::Path => {
            view.path.push('x');
            true
        }
        Break::AddQuery => {
            if !view.query.is_empty() {
                view.query.push('&');
            }
            view.query.push_str("zz=1");
            true
        }
        Break::Host => {
            let Some(v) = view.headers.get_mut("host") else {
                return Ok(false);
            };
            v.push('x');
            true
        }
        Break::Date => {
            if presigned {
                let Some(start) = view.query.find("X-Amz-Date=").map(|i| i + 11) else {
                    return Ok(false);
                };
                let Some(date) = view.query.get(start..start + 16) else {
                    return Ok(false);
                };
                let Some(shifted) = shift_amz_date(date) else {
                    return Ok(false);
                };
                view.query.replace_range(start..start + 16, &shifted);
                true
            } else if let Some(v) = view.headers.get_mut("x-amz-date") {
                match shift_amz_date(v) {
                    Some(shifted) => {
                        *v = shifted;
                        true
                    }
                    None => false,
                }
            } else {
                false // the Date form: left alone (its weekday would need recomputing)
            }
        }
        Break::Credential => {
            // Another key id (with another secret: `token-mismatch` shares web's) under the
            // same signature.
            let other = u.choose(creds)?;
            if other.access_key_id == cred.access_key_id || other.secret == cred.secret {
                return Ok(false);
            }
            let from = format!("{}/", cred.access_key_id);
            let to = format!("{}/", other.access_key_id);
            if presigned {
                let before = view.query.clone();
                view.query = view.query.replacen(
                    &format!("X-Amz-Credential={}%2F", cred.access_key_id),
                    &format!("X-Amz-Credential={}%2F", other.access_key_id),
                    1,
                );
                view.query != before
            } else {
                match auth_key.and_then(|k| view.headers.get_mut(&k)) {
                    Some(v) => {
                        *v = v.replacen(
                            &format!("Credential={from}"),
                            &format!("Credential={to}"),
                            1,
                        );
                        true
                    }
                    None => false,
                }
            }
        }
        Break::PayloadHash => {
            if presigned {
                false
            } else {
                view.payload_sha256.push('0');
                true
            }
        }
        Break::SignedHeaderValue => {
            let candidates: Vec<String> = view
                .headers
                .keys()
                .filter(|k| signed.contains(&k.to_ascii_lowercase()))
                .cloned()
                .collect();
            if candidates.is_empty() {
                return Ok(false);
            }
            let k = u.choose(&candidates)?.clone();
            if let Some(v) = view.headers.get_mut(&k) {
                v.push('!');
            }
            true
        }
    })
}

/// `YYYYMMDDTHHMMSSZ` one second later, if `date` is one of the fixture's (same day).
fn shift_amz_date(date: &str) -> Option<String> {
    let (head, tail) = date.split_at_checked(13)?;
    let seconds: u32 = tail.strip_suffix('Z')?.parse().ok()?;
    Some(if seconds < 59 {
        format!("{head}{:02}Z", seconds + 1)
    } else {
        format!("{head}{:02}Z", seconds - 1)
    })
}

// ---------------------------------------------------------------------------------------------
// Re-signed mode: the fuzzer's JSON, signed by the target.

fn resigned(target: &Target, rest: &[u8]) {
    let Some((&which, json)) = rest.split_first() else {
        return;
    };
    let Ok(mut request) = serde_json::from_slice::<AuthorizeRequest>(json) else {
        return;
    };
    let creds = &target.fixture.credentials;
    let cred = &creds[usize::from(which) % creds.len()];
    let headers = &mut request.request.headers;
    headers.retain(|k, _| !k.eq_ignore_ascii_case("authorization"));
    if !headers.keys().any(|k| k.eq_ignore_ascii_case("host")) {
        headers.insert("host".into(), HOST.into());
    }
    let amz_date = match headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("x-amz-date"))
    {
        Some((_, v)) => v.trim().to_owned(),
        None => {
            let date = fx::amz_date(fx::NOW_UNIX);
            if !headers.keys().any(|k| k.eq_ignore_ascii_case("date")) {
                headers.insert("x-amz-date".into(), date.clone());
            }
            date
        }
    };
    if let Some(token) = &cred.session_token
        && !headers
            .keys()
            .any(|k| k.eq_ignore_ascii_case("x-amz-security-token"))
    {
        headers.insert("x-amz-security-token".into(), token.clone());
    }
    let lowered: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    let mut signed: Vec<&str> = lowered
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| is_signable_header(k))
        .collect();
    signed.sort_unstable();
    signed.dedup();
    signed.truncate(64);
    let signed_headers = signed.join(";");
    let day = amz_date.get(..8).unwrap_or("20270115");
    let (region, service) = ("us-east-1", "photos");
    let signature = fx::sigv4_signature(
        &cred.secret,
        &ToSign {
            method: &request.request.method,
            path: &request.request.path,
            query: &request.request.query,
            headers: &lowered,
            signed_headers: &signed_headers,
            payload_hash: &request.request.payload_sha256,
            presigned: false,
            amz_date: &amz_date,
            region,
            service,
        },
    );
    request.request.headers.insert(
        "authorization".into(),
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{day}/{region}/{service}/aws4_request, SignedHeaders={signed_headers}, Signature={signature}",
            cred.access_key_id
        ),
    );
    // Received by the service it is signed for.
    let outcome = authorize(target, &request, service);
    check(target, &request, &outcome, service, Some(cred), false);
}
