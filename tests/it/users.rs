//! IAM users end to end with the real AWS SDK: long-term keys on every signed action,
//! GetSessionToken with TOTP MFA, GetFederationToken, AssumeRole by users (same and cross
//! account), key deletion, and the authorization API for resource services with
//! DecodeAuthorizationMessage.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use serde_json::{Value, json};
use stsbridge::admin::{AdminRequest, AdminResponse};
use stsbridge::clock::Clock as _;
use stsbridge::creds::totp;
use stsbridge::users::UserPolicy;

use crate::support::daemon::{ACCOUNT, Daemon, Setup, code, signed_client};

const OTHER_ACCOUNT: &str = "210987654321";
pub(crate) const SERVICE_SECRET: &str = "photos-service-bearer-secret-0123456789";

fn now_secs() -> i64 {
    stsbridge::clock::SystemClock
        .now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

fn user_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:user/{name}")
}

fn role_arn(account: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:role/{name}")
}

/// `by-alice`: trusts alice by ARN. `mfa-only`: trusts the account when MFA is present.
/// `cross` (another account): trusts this account with an ExternalId. `open-account`: trusts the
/// account root without conditions.
fn roles() -> Vec<(String, String)> {
    let role = |name: &str, account: &str, trust: Value, policy: Value| {
        (
            name.to_owned(),
            json!({
                "RoleName": name,
                "AccountId": account,
                "MaxSessionDuration": 14400,
                "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [trust]},
                "Policies": [{"PolicyName": "photos", "PolicyDocument": policy}],
            })
            .to_string(),
        )
    };
    let photos_read = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "RoleRead", "Effect": "Allow", "Action": "photos:Get*", "Resource": "*"}
    ]});
    vec![
        role(
            "by-alice",
            ACCOUNT,
            json!({"Effect": "Allow", "Principal": {"AWS": user_arn("alice")}, "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"]}),
            photos_read.clone(),
        ),
        role(
            "mfa-only",
            ACCOUNT,
            json!({"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")},
                   "Action": "sts:AssumeRole",
                   "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"},
                                 "NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}}),
            photos_read.clone(),
        ),
        role(
            "cross",
            OTHER_ACCOUNT,
            json!({"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole",
                   "Condition": {"StringEquals": {"sts:ExternalId": "ext-1"}}}),
            photos_read.clone(),
        ),
        role(
            "open-account",
            ACCOUNT,
            json!({"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}),
            photos_read,
        ),
    ]
}

/// alice: may assume roles, get federation tokens, decode messages; read public photos; never
/// delete. bob: no policy at all.
fn alice_policy() -> UserPolicy {
    UserPolicy {
        name: "alice-policy".into(),
        document: json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "Sts", "Effect": "Allow", "Action": ["sts:AssumeRole", "sts:GetFederationToken", "sts:DecodeAuthorizationMessage", "sts:TagSession"], "Resource": "*"},
            {"Sid": "ReadPublic", "Effect": "Allow", "Action": "photos:Get*", "Resource": "arn:photos:::album/public/*"},
            {"Sid": "NeverDelete", "Effect": "Deny", "Action": "photos:Delete*", "Resource": "*"},
            {"Sid": "MfaWrites", "Effect": "Allow", "Action": "photos:Put*", "Resource": "*",
             "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}
        ]})
        .to_string(),
    }
}

async fn daemon() -> Daemon {
    Daemon::start(Setup {
        roles: roles(),
        services: vec![("photos".into(), SERVICE_SECRET.into())],
        ..Setup::default()
    })
    .await
}

pub(crate) struct Keys {
    id: String,
    secret: String,
}

async fn create_user(daemon: &Daemon, name: &str, policies: Vec<UserPolicy>) -> Keys {
    match daemon
        .admin(AdminRequest::UsersCreate {
            name: name.into(),
            account_id: None,
            policies,
        })
        .await
    {
        AdminResponse::Users(u) => assert_eq!(u[0]["Arn"], user_arn(name)),
        other => panic!("create user: {other:?}"),
    }
    match daemon
        .admin(AdminRequest::UsersKeysCreate { name: name.into() })
        .await
    {
        AdminResponse::NewAccessKey(k) => Keys {
            id: k.access_key_id,
            secret: k.secret_access_key.expose().to_owned(),
        },
        other => panic!("create key: {other:?}"),
    }
}

/// Enable the user's MFA device: its serial number and TOTP seed.
async fn enable_mfa(daemon: &Daemon, name: &str) -> (String, Vec<u8>) {
    match daemon
        .admin(AdminRequest::UsersMfaEnable { name: name.into() })
        .await
    {
        AdminResponse::NewMfaDevice(d) => {
            let seed = data_encoding::BASE32_NOPAD
                .decode(d.secret_base32.expose().as_bytes())
                .unwrap();
            assert!(d.otpauth_url.expose().starts_with("otpauth://totp/"));
            (d.serial_number, seed)
        }
        other => panic!("enable mfa: {other:?}"),
    }
}

/// The daemon's time in the MFA test: the middle of the current 30-second step, held still,
/// so a code's step never moves under the test.
fn mid_step() -> SystemTime {
    let step = totp::step_at(stsbridge::clock::SystemClock.now());
    UNIX_EPOCH + Duration::from_secs((step * totp::STEP_SECONDS + 15) as u64)
}

/// The code of the step `offset` steps from `now`'s (an authenticator app a little ahead
/// or behind); each offset gives a distinct, single-use code.
fn totp_code(seed: &[u8], now: SystemTime, offset: i64) -> String {
    totp::code(seed, totp::step_at(now) + offset)
}

/// A six-digit code that none of the steps around `now` produces.
fn wrong_code(seed: &[u8], now: SystemTime) -> String {
    let valid: Vec<String> = (-2..=2).map(|o| totp_code(seed, now, o)).collect();
    (0..)
        .map(|n| format!("{:06}", 123_456 + n))
        .find(|c| !valid.contains(c))
        .unwrap()
}

fn client(daemon: &Daemon, keys: &Keys) -> aws_sdk_sts::Client {
    signed_client(&daemon.url, &keys.id, &keys.secret, None)
}

fn session_client(daemon: &Daemon, creds: &aws_sdk_sts::types::Credentials) -> aws_sdk_sts::Client {
    signed_client(
        &daemon.url,
        creds.access_key_id(),
        creds.secret_access_key(),
        Some(creds.session_token()),
    )
}

#[tokio::test]
async fn a_long_term_key_signs_every_signed_action() {
    let d = daemon().await;
    let alice = create_user(&d, "alice", vec![alice_policy()]).await;
    let bob = create_user(&d, "bob", Vec::new()).await;
    assert!(alice.id.starts_with("AKIA") && alice.id.len() == 20);
    assert_eq!(alice.secret.len(), 40);

    let me = client(&d, &alice)
        .get_caller_identity()
        .send()
        .await
        .expect("caller identity");
    assert_eq!(me.arn(), Some(user_arn("alice").as_str()));
    assert_eq!(me.account(), Some(ACCOUNT));
    let user_id = me.user_id().unwrap().to_owned();
    assert!(user_id.starts_with("AIDA"), "{user_id}");

    let info = client(&d, &bob)
        .get_access_key_info()
        .access_key_id(&alice.id)
        .send()
        .await
        .expect("access key info of a user key");
    assert_eq!(info.account(), Some(ACCOUNT));

    // GetSessionToken: 12 hours by default, the user's own identity.
    let before = now_secs();
    let out = client(&d, &alice)
        .get_session_token()
        .send()
        .await
        .expect("session token");
    let creds = out.credentials().unwrap();
    assert!(creds.access_key_id().starts_with("ASIA"));
    let expires = creds.expiration().secs();
    assert!(
        (before + 43_200..=now_secs() + 43_200).contains(&expires),
        "default duration 43200 s"
    );
    let as_session = session_client(&d, creds)
        .get_caller_identity()
        .send()
        .await
        .expect("caller identity with a session token");
    assert_eq!(as_session.arn(), Some(user_arn("alice").as_str()));
    assert_eq!(as_session.user_id(), Some(user_id.as_str()));
    let nested = session_client(&d, creds).get_session_token().send().await;
    assert_eq!(
        code(nested),
        "AccessDenied",
        "no session token from a session"
    );
    for bad in [899, 129_601] {
        let r = client(&d, &alice)
            .get_session_token()
            .duration_seconds(bad)
            .send()
            .await;
        assert_eq!(code(r), "ValidationError", "DurationSeconds {bad}");
    }
    let longest = client(&d, &alice)
        .get_session_token()
        .duration_seconds(129_600)
        .send()
        .await
        .expect("36 hours");
    assert!(longest.credentials().unwrap().expiration().secs() >= before + 129_600);

    // AssumeRole by a user: trust by ARN in the same account is enough, and no chaining cap.
    let assumed = client(&d, &alice)
        .assume_role()
        .role_arn(role_arn(ACCOUNT, "by-alice"))
        .role_session_name("alice-session")
        .duration_seconds(7200)
        .send()
        .await
        .expect("alice assumes by-alice for two hours");
    assert_eq!(
        assumed.assumed_role_user().unwrap().arn(),
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/by-alice/alice-session")
    );
    let r = client(&d, &bob)
        .assume_role()
        .role_arn(role_arn(ACCOUNT, "by-alice"))
        .role_session_name("bob-session")
        .send()
        .await;
    assert_eq!(code(r), "AccessDenied", "the trust policy names alice only");
    // Trust of the account also needs the caller's own permission.
    let r = client(&d, &bob)
        .assume_role()
        .role_arn(role_arn(ACCOUNT, "open-account"))
        .role_session_name("bob-session")
        .send()
        .await;
    assert_eq!(code(r), "AccessDenied", "bob's policies do not allow it");
    client(&d, &alice)
        .assume_role()
        .role_arn(role_arn(ACCOUNT, "open-account"))
        .role_session_name("alice-session")
        .send()
        .await
        .expect("alice's policy allows sts:AssumeRole");

    // Cross-account: the trust policy (with its ExternalId) and the caller's policy.
    let cross = |keys: &Keys, external: Option<&str>| {
        client(&d, keys)
            .assume_role()
            .role_arn(role_arn(OTHER_ACCOUNT, "cross"))
            .role_session_name("cross")
            .set_external_id(external.map(str::to_owned))
            .send()
    };
    let ok = cross(&alice, Some("ext-1")).await.expect("cross-account");
    assert_eq!(
        ok.assumed_role_user().unwrap().arn(),
        format!("arn:aws:sts::{OTHER_ACCOUNT}:assumed-role/cross/cross")
    );
    assert_eq!(
        code(cross(&alice, None).await),
        "AccessDenied",
        "no ExternalId"
    );
    assert_eq!(
        code(cross(&alice, Some("ext-2")).await),
        "AccessDenied",
        "wrong ExternalId"
    );
    assert_eq!(
        code(cross(&bob, Some("ext-1")).await),
        "AccessDenied",
        "bob's own policies do not allow it"
    );

    // GetFederationToken: alice's policies allow it; the federated user is its own principal.
    let fed = client(&d, &alice)
        .get_federation_token()
        .name("fed-alice")
        .policy(
            json!({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "photos:*", "Resource": "*"}]})
            .to_string(),
        )
        .send()
        .await
        .expect("federation token");
    let fed_user = fed.federated_user().unwrap();
    let fed_arn = format!("arn:aws:sts::{ACCOUNT}:federated-user/fed-alice");
    assert_eq!(fed_user.arn(), fed_arn);
    assert_eq!(fed_user.federated_user_id(), format!("{ACCOUNT}:fed-alice"));
    assert!(fed.packed_policy_size().is_some());
    let fed_creds = fed.credentials().unwrap();
    let fed_me = session_client(&d, fed_creds)
        .get_caller_identity()
        .send()
        .await
        .expect("federated caller identity");
    assert_eq!(fed_me.arn(), Some(fed_arn.as_str()));
    let r = session_client(&d, fed_creds)
        .assume_role()
        .role_arn(role_arn(ACCOUNT, "open-account"))
        .role_session_name("fed")
        .send()
        .await;
    assert_eq!(
        code(r),
        "AccessDenied",
        "federated users may not call AssumeRole"
    );
    let r = client(&d, &bob)
        .get_federation_token()
        .name("fed-bob")
        .send()
        .await;
    assert_eq!(code(r), "AccessDenied", "bob lacks sts:GetFederationToken");
    let r = session_client(&d, creds)
        .get_federation_token()
        .name("fed-x")
        .send()
        .await;
    assert_eq!(code(r), "AccessDenied", "not with session credentials");
    let r = client(&d, &alice)
        .get_federation_token()
        .name("x")
        .send()
        .await;
    assert_eq!(code(r), "ValidationError", "Name is 2-32 characters");

    // Deleting a key: refused at once, and audited.
    match d
        .admin(AdminRequest::UsersKeysDelete {
            name: "alice".into(),
            access_key_id: alice.id.clone(),
        })
        .await
    {
        AdminResponse::Done(_) => {}
        other => panic!("delete key: {other:?}"),
    }
    let r = client(&d, &alice).get_caller_identity().send().await;
    assert_eq!(
        code(r),
        "InvalidClientTokenId",
        "a deleted key stops working"
    );
    let audit = d.audit().await;
    for name in [
        "CreateUser",
        "CreateAccessKey",
        "DeleteAccessKey",
        "GetFederationToken",
    ] {
        assert!(
            audit.iter().any(|e| e.event_name == name),
            "{name} is in the audit trail"
        );
    }
    let session_tokens: Vec<_> = audit
        .iter()
        .filter(|e| e.event_name == "GetSessionToken" && e.error_code.is_none())
        .collect();
    assert!(!session_tokens.is_empty());
    for e in session_tokens {
        assert_eq!(e.user_identity.kind, "IAMUser");
        assert_eq!(e.user_identity.user_name.as_deref(), Some("alice"));
    }
    // No secret ever reaches the audit trail or the user listing.
    let everything = serde_json::to_string(&audit).unwrap();
    assert!(!everything.contains(&alice.secret));
    assert!(!everything.contains(creds.secret_access_key()));
    let listing = match d.admin(AdminRequest::UsersList).await {
        AdminResponse::Users(u) => serde_json::to_string(&u).unwrap(),
        other => panic!("{other:?}"),
    };
    assert!(!listing.contains(&bob.secret) && listing.contains(&bob.id));
}

#[tokio::test]
async fn mfa_codes_gate_sessions_and_roles() {
    let now = mid_step();
    let d = Daemon::start(Setup {
        roles: roles(),
        services: vec![("photos".into(), SERVICE_SECRET.into())],
        clock: std::sync::Arc::new(stsbridge::clock::ManualClock::new(now)),
        ..Setup::default()
    })
    .await;
    let alice = create_user(&d, "alice", vec![alice_policy()]).await;
    let bob = create_user(&d, "bob", Vec::new()).await;
    let (serial, seed) = enable_mfa(&d, "alice").await;
    let (bob_serial, _) = enable_mfa(&d, "bob").await;
    assert_eq!(serial, format!("arn:aws:iam::{ACCOUNT}:mfa/alice"));
    let with_mfa = |serial: &str, code: &str| {
        client(&d, &alice)
            .get_session_token()
            .serial_number(serial)
            .token_code(code)
            .send()
    };

    assert_eq!(
        code(with_mfa(&serial, &wrong_code(&seed, now)).await),
        "AccessDenied",
        "a wrong code"
    );
    assert_eq!(
        code(with_mfa(&bob_serial, &totp_code(&seed, now, 0)).await),
        "AccessDenied",
        "another user's device"
    );
    assert_eq!(
        code(with_mfa(&serial, "12345").await),
        "ValidationError",
        "a code is six digits"
    );
    let missing_code = client(&d, &alice)
        .get_session_token()
        .serial_number(&serial)
        .send()
        .await;
    assert_eq!(code(missing_code), "ValidationError");

    let now_code = totp_code(&seed, now, 0);
    let mfa_session = with_mfa(&serial, &now_code).await.expect("MFA session");
    assert_eq!(
        code(with_mfa(&serial, &now_code).await),
        "AccessDenied",
        "a code works once"
    );
    let mfa_creds = mfa_session.credentials().unwrap();
    let plain_session = client(&d, &alice)
        .get_session_token()
        .send()
        .await
        .expect("session without MFA");
    let plain_creds = plain_session.credentials().unwrap();

    let assume_mfa_only = |c: aws_sdk_sts::Client| async move {
        c.assume_role()
            .role_arn(role_arn(ACCOUNT, "mfa-only"))
            .role_session_name("mfa")
            .send()
            .await
    };
    assume_mfa_only(session_client(&d, mfa_creds))
        .await
        .expect("an MFA session satisfies aws:MultiFactorAuthPresent");
    assert_eq!(
        code(assume_mfa_only(session_client(&d, plain_creds)).await),
        "AccessDenied",
        "no MFA, no role"
    );
    assert_eq!(
        code(assume_mfa_only(client(&d, &alice)).await),
        "AccessDenied",
        "a long-term key has no MFA"
    );
    // AssumeRole with its own MFA code; the role session carries the MFA time on.
    let role = client(&d, &alice)
        .assume_role()
        .role_arn(role_arn(ACCOUNT, "mfa-only"))
        .role_session_name("mfa-direct")
        .serial_number(&serial)
        .token_code(totp_code(&seed, now, -1))
        .send()
        .await
        .expect("AssumeRole with MFA");
    let r = client(&d, &bob)
        .assume_role()
        .role_arn(role_arn(ACCOUNT, "mfa-only"))
        .role_session_name("bob")
        .serial_number(&serial)
        .token_code(totp_code(&seed, now, 1))
        .send()
        .await;
    assert_eq!(code(r), "AccessDenied", "alice's device is not bob's");

    // The authorization API reports MFA and lets policies use it.
    let put = authorize(
        &d,
        &Signer::Session(mfa_creds),
        "PUT",
        "/album/private/1",
        "photos:PutPhoto",
        "arn:photos:::album/private/1",
        json!({}),
    )
    .await;
    assert_eq!(put.0, 200, "{}", put.1);
    assert_eq!(put.1["allowed"], true, "{}", put.1);
    assert_eq!(put.1["principal"]["mfa_authenticated"], true);
    let put_plain = authorize(
        &d,
        &Signer::Session(plain_creds),
        "PUT",
        "/album/private/1",
        "photos:PutPhoto",
        "arn:photos:::album/private/1",
        json!({}),
    )
    .await;
    assert_eq!(put_plain.1["allowed"], false);
    assert_eq!(put_plain.1["principal"]["mfa_authenticated"], false);
    let role_session = authorize(
        &d,
        &Signer::Session(role.credentials().unwrap()),
        "GET",
        "/album/private/1",
        "photos:GetPhoto",
        "arn:photos:::album/private/1",
        json!({}),
    )
    .await;
    assert_eq!(role_session.1["principal"]["mfa_authenticated"], true);
    assert_eq!(role_session.1["principal"]["type"], "AssumedRole");
}

/// Who signs a request to a resource service.
pub(crate) enum Signer<'a> {
    Key(&'a Keys),
    Session(&'a aws_sdk_sts::types::Credentials),
}

/// Sign `method path` for the `photos` service as a client of it would (header form), and
/// ask the daemon through the authorization API. Returns the HTTP status and JSON body.
async fn authorize(
    d: &Daemon,
    signer: &Signer<'_>,
    method: &str,
    path: &str,
    action: &str,
    resource: &str,
    context: Value,
) -> (u16, Value) {
    let body = authorize_body(signer, method, path, action, resource, context, false);
    post_authorize(d, Some(SERVICE_SECRET), &body).await
}

fn credentials(signer: &Signer<'_>) -> aws_credential_types::Credentials {
    match signer {
        Signer::Key(k) => aws_credential_types::Credentials::new(&k.id, &k.secret, None, None, "t"),
        Signer::Session(c) => aws_credential_types::Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_owned()),
            None,
            "t",
        ),
    }
}

/// The authorization request a service would send for a signed `method path` request.
pub(crate) fn authorize_body(
    signer: &Signer<'_>,
    method: &str,
    path: &str,
    action: &str,
    resource: &str,
    context: Value,
    presigned: bool,
) -> Value {
    authorize_body_for(
        "photos", signer, method, path, action, resource, context, presigned,
    )
}

/// [`authorize_body`] for a request signed for `service`.
#[allow(clippy::too_many_arguments)]
fn authorize_body_for(
    service: &str,
    signer: &Signer<'_>,
    method: &str,
    path: &str,
    action: &str,
    resource: &str,
    context: Value,
    presigned: bool,
) -> Value {
    let identity = credentials(signer).into();
    let mut settings = SigningSettings::default();
    if presigned {
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(Duration::from_secs(300));
    }
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("eu-central-1")
        .name(service)
        .time(stsbridge::clock::SystemClock.now())
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let url = format!("https://photos.example.com{path}?size=large");
    let host = [("host", "photos.example.com")];
    // Presigned URLs are signed over UNSIGNED-PAYLOAD (the SigV4 query form).
    let body = if presigned {
        SignableBody::UnsignedPayload
    } else {
        SignableBody::Bytes(b"")
    };
    let signable = SignableRequest::new(method, &url, host.iter().copied(), body).unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut headers = serde_json::Map::new();
    headers.insert("host".into(), json!("photos.example.com"));
    for (name, value) in instructions.headers() {
        headers.insert(name.to_owned(), json!(value));
    }
    let mut query = "size=large".to_owned();
    for (name, value) in instructions.params() {
        query.push('&');
        query.push_str(name);
        query.push('=');
        query.push_str(
            &percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC)
                .to_string(),
        );
    }
    let empty_sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    json!({
        "request": {
            "method": method,
            "path": path,
            "query": query,
            "headers": headers,
            "payload_sha256": empty_sha256,
        },
        "action": action,
        "resource": resource,
        "context": context,
    })
}

pub(crate) async fn post_authorize(d: &Daemon, bearer: Option<&str>, body: &Value) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}/v1/authorize", d.url))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(b) = bearer {
        request = request.header("authorization", format!("Bearer {b}"));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn the_authorization_api_verifies_the_signature_and_decides() {
    let d = daemon().await;
    let alice = create_user(&d, "alice", vec![alice_policy()]).await;
    let bob = create_user(&d, "bob", Vec::new()).await;

    // Allowed, with the deciding statement and the verified principal.
    let (status, allowed) = authorize(
        &d,
        &Signer::Key(&alice),
        "GET",
        "/album/public/7",
        "photos:GetPhoto",
        "arn:photos:::album/public/7",
        json!({"photos:Size": "large"}),
    )
    .await;
    assert_eq!(status, 200, "{allowed}");
    assert_eq!(allowed["allowed"], true);
    assert_eq!(allowed["decision"], "allowed");
    assert_eq!(allowed["signing_service"], "photos");
    assert_eq!(allowed["matched_statements"][0]["sid"], "ReadPublic");
    assert_eq!(
        allowed["matched_statements"][0]["source_policy_id"],
        "alice-policy"
    );
    assert_eq!(allowed["principal"]["arn"], user_arn("alice"));
    assert_eq!(allowed["principal"]["account"], ACCOUNT);
    assert_eq!(allowed["principal"]["type"], "User");
    assert!(allowed.get("encoded_authorization_message").is_none());

    // The presigned (query) form works too.
    let presigned = authorize_body(
        &Signer::Key(&alice),
        "GET",
        "/album/public/8",
        "photos:GetPhoto",
        "arn:photos:::album/public/8",
        json!({}),
        true,
    );
    let (status, answer) = post_authorize(&d, Some(SERVICE_SECRET), &presigned).await;
    assert_eq!(
        (status, &answer["allowed"]),
        (200, &json!(true)),
        "{answer}"
    );

    // A request signed for another service is not this service's to ask about.
    for other in ["s3", "sts"] {
        let elsewhere = authorize_body_for(
            other,
            &Signer::Key(&alice),
            "GET",
            "/album/public/8",
            "photos:GetPhoto",
            "arn:photos:::album/public/8",
            json!({}),
            false,
        );
        let (status, answer) = post_authorize(&d, Some(SERVICE_SECRET), &elsewhere).await;
        assert_eq!(status, 403, "{other}: {answer}");
        assert_eq!(answer["error"]["code"], "SignatureDoesNotMatch", "{other}");
    }

    // Not allowed: an implicit deny outside the public album, an explicit one for deletes.
    let (_, implicit) = authorize(
        &d,
        &Signer::Key(&alice),
        "GET",
        "/album/private/7",
        "photos:GetPhoto",
        "arn:photos:::album/private/7",
        json!({}),
    )
    .await;
    assert_eq!(implicit["decision"], "implicitDeny");
    let (_, explicit) = authorize(
        &d,
        &Signer::Key(&alice),
        "DELETE",
        "/album/public/7",
        "photos:DeletePhoto",
        "arn:photos:::album/public/7",
        json!({}),
    )
    .await;
    assert_eq!(explicit["decision"], "explicitDeny");
    assert_eq!(explicit["matched_statements"][0]["sid"], "NeverDelete");
    let message = explicit["encoded_authorization_message"]
        .as_str()
        .expect("an encoded message on denial")
        .to_owned();
    assert!(!message.contains("DeletePhoto"), "the message is opaque");

    // DecodeAuthorizationMessage: for callers allowed to.
    let decoded = client(&d, &alice)
        .decode_authorization_message()
        .encoded_message(&message)
        .send()
        .await
        .expect("alice may decode");
    let decoded: Value = serde_json::from_str(decoded.decoded_message().unwrap()).unwrap();
    assert_eq!(decoded["allowed"], false);
    assert_eq!(decoded["explicitDeny"], true);
    assert_eq!(decoded["context"]["action"], "photos:DeletePhoto");
    assert_eq!(decoded["context"]["principal"]["arn"], user_arn("alice"));
    let r = client(&d, &bob)
        .decode_authorization_message()
        .encoded_message(&message)
        .send()
        .await;
    assert_eq!(
        code(r),
        "AccessDenied",
        "bob lacks sts:DecodeAuthorizationMessage"
    );
    let mut forged = message.clone().into_bytes();
    forged[20] = if forged[20] == b'A' { b'B' } else { b'A' };
    let r = client(&d, &alice)
        .decode_authorization_message()
        .encoded_message(String::from_utf8(forged).unwrap())
        .send()
        .await;
    assert_eq!(code(r), "InvalidAuthorizationMessageException");

    // A role session: its role's policies decide; revoking it is honoured at once.
    let assumed = client(&d, &alice)
        .assume_role()
        .role_arn(role_arn(ACCOUNT, "by-alice"))
        .role_session_name("viewer")
        .tags(
            aws_sdk_sts::types::Tag::builder()
                .key("team")
                .value("blue")
                .build()
                .unwrap(),
        )
        .source_identity("alice")
        .send()
        .await
        .expect("assume by-alice");
    let role_creds = assumed.credentials().unwrap();
    let (status, by_role) = authorize(
        &d,
        &Signer::Session(role_creds),
        "GET",
        "/album/private/7",
        "photos:GetPhoto",
        "arn:photos:::album/private/7",
        json!({}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(by_role["allowed"], true, "the role may read everything");
    assert_eq!(by_role["matched_statements"][0]["sid"], "RoleRead");
    let principal = &by_role["principal"];
    assert_eq!(principal["type"], "AssumedRole");
    assert_eq!(principal["session_name"], "viewer");
    assert_eq!(principal["tags"]["team"], "blue");
    assert_eq!(principal["source_identity"], "alice");
    assert!(principal["token_issue_time"].is_string());
    d.admin(AdminRequest::SessionsRevoke {
        id: role_creds.access_key_id().into(),
    })
    .await;
    let (status, revoked) = authorize(
        &d,
        &Signer::Session(role_creds),
        "GET",
        "/album/private/7",
        "photos:GetPhoto",
        "arn:photos:::album/private/7",
        json!({}),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(revoked["error"]["code"], "InvalidClientTokenId");

    // A federated user with no session policy may do nothing.
    let fed = client(&d, &alice)
        .get_federation_token()
        .name("nothing")
        .send()
        .await
        .expect("federation token without a policy");
    let (_, fed_answer) = authorize(
        &d,
        &Signer::Session(fed.credentials().unwrap()),
        "GET",
        "/album/public/7",
        "photos:GetPhoto",
        "arn:photos:::album/public/7",
        json!({}),
    )
    .await;
    assert_eq!(fed_answer["decision"], "implicitDeny");
    assert_eq!(fed_answer["principal"]["type"], "FederatedUser");

    // The service must authenticate; the input must be sane; signatures must verify.
    let body = authorize_body(
        &Signer::Key(&alice),
        "GET",
        "/album/public/7",
        "photos:GetPhoto",
        "arn:photos:::album/public/7",
        json!({}),
        false,
    );
    assert_eq!(post_authorize(&d, None, &body).await.0, 401);
    assert_eq!(
        post_authorize(&d, Some("not-the-secret"), &body).await.0,
        401
    );
    let mut tampered = body.clone();
    tampered["request"]["path"] = json!("/album/public/8");
    let (status, answer) = post_authorize(&d, Some(SERVICE_SECRET), &tampered).await;
    assert_eq!(status, 403);
    assert_eq!(answer["error"]["code"], "SignatureDoesNotMatch");
    // The refusal is audited with the key id the signature claimed (an id is no secret).
    let refused = d
        .audit()
        .await
        .into_iter()
        .rev()
        .find(|e| e.event_name == "Authorize")
        .expect("the refused authorization is audited");
    assert_eq!(refused.error_code.as_deref(), Some("SignatureDoesNotMatch"));
    assert_eq!(
        refused.user_identity.access_key_id.as_deref(),
        Some(alice.id.as_str())
    );
    let mut spoofed = body.clone();
    spoofed["context"] = json!({"aws:PrincipalArn": "arn:aws:iam::123456789012:user/root"});
    let (status, answer) = post_authorize(&d, Some(SERVICE_SECRET), &spoofed).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"]["code"], "InvalidRequest");
    let (status, _) = post_authorize(&d, Some(SERVICE_SECRET), &json!({"request": 1})).await;
    assert_eq!(status, 400);
    let mistyped = json!({"request": {"method": "GET", "path": "/", "headers": "x-amz-security-token: SECRETTOKENVALUE", "payload_sha256": ""}, "action": "photos:GetPhoto", "resource": "*"});
    let (status, answer) = post_authorize(&d, Some(SERVICE_SECRET), &mistyped).await;
    assert_eq!(status, 400);
    assert!(
        !answer.to_string().contains("SECRETTOKENVALUE"),
        "input values are never echoed: {answer}"
    );
    let mut unsigned = body.clone();
    unsigned["request"]["headers"] = json!({"host": "photos.example.com"});
    let (status, answer) = post_authorize(&d, Some(SERVICE_SECRET), &unsigned).await;
    assert_eq!(status, 403);
    assert_eq!(answer["error"]["code"], "MissingAuthenticationToken");

    // A deleted key is refused by the authorization API at once.
    d.admin(AdminRequest::UsersKeysDelete {
        name: "alice".into(),
        access_key_id: alice.id.clone(),
    })
    .await;
    let (status, gone) = post_authorize(&d, Some(SERVICE_SECRET), &body).await;
    assert_eq!(status, 403);
    assert_eq!(gone["error"]["code"], "InvalidClientTokenId");
    let audit = d.audit().await;
    assert!(
        audit.iter().filter(|e| e.event_name == "Authorize").count() >= 8,
        "every decision and refusal is audited"
    );
}

#[tokio::test]
async fn user_commands_work_with_the_daemon_stopped() {
    let d = daemon().await;
    let alice = create_user(&d, "alice", vec![alice_policy()]).await;
    let config_path = d.config_path.clone();
    let dir = d.stop().await;
    let config = stsbridge::config::load(&config_path).unwrap();
    let store = stsbridge::store::open_when_released(&config.settings.storage, 100).unwrap();
    let keyring = stsbridge::creds::Keyring::load(&config.settings.keyring_path).unwrap();
    let admin = stsbridge::admin::Admin::new(
        store,
        stsbridge::creds::SharedKeyring::new(keyring),
        std::sync::Arc::new(stsbridge::clock::SystemClock),
        ACCOUNT,
        std::sync::Arc::new(|_: &str| true),
    );
    let request = AdminRequest::UsersKeysCreate {
        name: "alice".into(),
    };
    let second = match stsbridge::admin::execute(&admin, &request).await {
        AdminResponse::NewAccessKey(k) => k,
        other => panic!("{other:?}"),
    };
    let third = stsbridge::admin::execute(&admin, &request).await;
    assert!(
        matches!(&third, AdminResponse::Error(e) if e.contains("2 access keys")),
        "{third:?}"
    );
    let again = AdminRequest::UsersCreate {
        name: "alice".into(),
        account_id: None,
        policies: Vec::new(),
    };
    assert!(matches!(
        stsbridge::admin::execute(&admin, &again).await,
        AdminResponse::Error(e) if e.contains("already exists")
    ));
    let bad = AdminRequest::UsersCreate {
        name: "carol".into(),
        account_id: None,
        policies: vec![UserPolicy {
            name: "broken".into(),
            document: "{\"Statement\": 1}".into(),
        }],
    };
    assert!(matches!(
        stsbridge::admin::execute(&admin, &bad).await,
        AdminResponse::Error(e) if e.contains("broken")
    ));
    drop(admin);
    // Both keys work once the daemon is back on the same store.
    let d = Daemon::restart(dir).await;
    for keys in [
        alice,
        Keys {
            id: second.access_key_id,
            secret: second.secret_access_key.expose().to_owned(),
        },
    ] {
        client(&d, &keys)
            .get_caller_identity()
            .send()
            .await
            .expect("the key works after a restart");
    }
}
