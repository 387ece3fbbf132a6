//! AssumeRoleWithSAML end to end: the real AWS SDK against the daemon, the signed fixtures of
//! `tests/fixtures/saml` (made by its `gen.sh`), sled on a temp dir, the clock pinned to the
//! fixtures' time.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use aws_sdk_sts::error::ProvideErrorMetadata;
use base64::Engine as _;
use serde_json::json;
use stsbridge::clock::ManualClock;

use crate::support::daemon::{ACCOUNT, Daemon, Setup, sts_client};

/// 2026-01-01T00:01:00Z: inside every fixture's validity window.
const FIXTURE_NOW: u64 = 1_767_225_660;
const PROVIDER: &str = "arn:aws:iam::123456789012:saml-provider/corp";
const ISSUER: &str = "https://idp.example.com/saml";
const RECIPIENT: &str = "https://signin.aws.amazon.com/saml";

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/saml/{name}", env!("CARGO_MANIFEST_DIR"));
    let xml = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    base64::engine::general_purpose::STANDARD.encode(xml)
}

fn role_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{name}")
}

fn role(name: &str, condition: serde_json::Value) -> (String, String) {
    let doc = json!({
        "RoleName": name,
        "MaxSessionDuration": 43200,
        "AssumeRolePolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Federated": PROVIDER},
                "Action": ["sts:AssumeRoleWithSAML", "sts:TagSession"],
                "Condition": condition
            }]
        }
    });
    (name.into(), doc.to_string())
}

struct Fixture {
    daemon: Daemon,
    clock: Arc<ManualClock>,
}

async fn start() -> Fixture {
    let clock = Arc::new(ManualClock::new(
        UNIX_EPOCH + Duration::from_secs(FIXTURE_NOW),
    ));
    let metadata = format!(
        "{}/tests/fixtures/saml/idp-metadata.xml",
        env!("CARGO_MANIFEST_DIR")
    );
    let daemon = Daemon::start(Setup {
        idps: vec![(
            "corp".into(),
            format!("kind = \"saml\"\nmetadata_file = \"{metadata}\"\n"),
        )],
        roles: vec![
            role(
                "saml-admin",
                json!({"StringEquals": {"SAML:aud": RECIPIENT, "SAML:iss": ISSUER}}),
            ),
            role(
                "saml-readonly",
                json!({"StringEquals": {"SAML:sub": "bob@example.com"}}),
            ),
            role("saml-other", json!({})),
        ],
        clock: clock.clone(),
        ..Setup::default()
    })
    .await;
    Fixture { daemon, clock }
}

impl Fixture {
    async fn assume(
        &self,
        role: &str,
        assertion: &str,
    ) -> Result<aws_sdk_sts::operation::assume_role_with_saml::AssumeRoleWithSamlOutput, String>
    {
        sts_client(&self.daemon.url)
            .assume_role_with_saml()
            .role_arn(role_arn(role))
            .principal_arn(PROVIDER)
            .saml_assertion(assertion)
            .send()
            .await
            .map_err(|e| e.code().unwrap_or("<no code>").to_owned())
    }
}

#[tokio::test]
async fn the_sdk_gets_every_field_aws_returns() {
    let f = start().await;
    let out = sts_client(&f.daemon.url)
        .assume_role_with_saml()
        .role_arn(role_arn("saml-admin"))
        .principal_arn(PROVIDER)
        .saml_assertion(fixture("response-signed.xml"))
        .duration_seconds(43200)
        .send()
        .await
        .expect("credentials");
    let creds = out.credentials().expect("Credentials");
    assert!(creds.access_key_id().starts_with("ASIA"));
    // The lesser of DurationSeconds (12 h), SessionDuration (2 h) and SessionNotOnOrAfter (~8 h).
    assert_eq!(creds.expiration().secs(), FIXTURE_NOW as i64 + 7200);
    let user = out.assumed_role_user().unwrap();
    assert_eq!(
        user.arn(),
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/saml-admin/alice@example.com")
    );
    assert!(user.assumed_role_id().ends_with(":alice@example.com"));
    assert_eq!(out.subject(), Some("alice@example.com"));
    assert_eq!(out.subject_type(), Some("persistent"));
    assert_eq!(out.issuer(), Some(ISSUER));
    assert_eq!(out.audience(), Some(RECIPIENT));
    assert_eq!(out.name_qualifier(), Some("HahBW48oNiXLlr28VT6/xduH27c="));
    // A PrincipalTag attribute was passed, so the packed size is reported.
    assert!(out.packed_policy_size().is_some());

    let record = f.daemon.session(creds.access_key_id()).await.unwrap();
    assert_eq!(record.session.provider, PROVIDER);
    assert_eq!(
        record.session.session_tags.get("team").map(String::as_str),
        Some("platform")
    );
    let event = f.daemon.audit().await.pop().unwrap();
    assert_eq!(event.event_name, "AssumeRoleWithSAML");
    assert_eq!(event.user_identity.kind, "SAMLUser");
    let text = serde_json::to_string(&event).unwrap();
    assert!(!text.contains(&fixture("response-signed.xml")[..64]));
}

#[tokio::test]
async fn every_signed_shape_is_accepted_once() {
    let f = start().await;
    for name in ["assertion-signed.xml", "both-signed.xml", "ec-signed.xml"] {
        // Each fixture carries the same assertion ID, so a fresh daemon per fixture.
        let f = start().await;
        f.assume("saml-admin", &fixture(name))
            .await
            .unwrap_or_else(|code| panic!("{name}: {code}"));
    }
    f.assume("saml-admin", &fixture("response-signed.xml"))
        .await
        .expect("first use");
    assert_eq!(
        f.assume("saml-admin", &fixture("response-signed.xml"))
            .await
            .unwrap_err(),
        "InvalidIdentityToken",
        "a replay"
    );
}

#[tokio::test]
async fn the_negative_matrix() {
    let f = start().await;
    let cases: Vec<(&str, &str, String, &str)> = vec![
        (
            "tampered role",
            "saml-admin",
            fixture("tampered-role.xml"),
            "InvalidIdentityToken",
        ),
        (
            "tampered NameID",
            "saml-admin",
            fixture("tampered-name-id.xml"),
            "InvalidIdentityToken",
        ),
        (
            "attacker key in KeyInfo",
            "saml-admin",
            fixture("attacker-key-in-keyinfo.xml"),
            "InvalidIdentityToken",
        ),
        (
            "signature removed",
            "saml-admin",
            fixture("signature-removed.xml"),
            "InvalidIdentityToken",
        ),
        (
            "unsigned",
            "saml-admin",
            fixture("unsigned.xml"),
            "InvalidIdentityToken",
        ),
        (
            "evil assertion before",
            "saml-admin",
            fixture("xsw-evil-assertion-before.xml"),
            "InvalidIdentityToken",
        ),
        (
            "signed assertion in extensions",
            "saml-admin",
            fixture("xsw-signed-assertion-in-extensions.xml"),
            "InvalidIdentityToken",
        ),
        (
            "duplicate id",
            "saml-admin",
            fixture("xsw-duplicate-id.xml"),
            "InvalidIdentityToken",
        ),
        (
            "two assertions",
            "saml-admin",
            fixture("two-assertions.xml"),
            "InvalidIdentityToken",
        ),
        (
            "rsa-sha1",
            "saml-admin",
            fixture("rsa-sha1-signed.xml"),
            "InvalidIdentityToken",
        ),
        (
            "wrong audience",
            "saml-admin",
            fixture("wrong-audience.xml"),
            "InvalidIdentityToken",
        ),
        (
            "wrong recipient",
            "saml-admin",
            fixture("wrong-recipient.xml"),
            "InvalidIdentityToken",
        ),
        (
            "wrong issuer",
            "saml-admin",
            fixture("wrong-issuer.xml"),
            "InvalidIdentityToken",
        ),
        (
            "billion laughs",
            "saml-admin",
            fixture("doctype-billion-laughs.xml"),
            "InvalidIdentityToken",
        ),
        (
            "external entity",
            "saml-admin",
            fixture("doctype-external-entity.xml"),
            "InvalidIdentityToken",
        ),
        (
            "comment in NameID",
            "saml-admin",
            fixture("name-id-comment.xml"),
            "InvalidIdentityToken",
        ),
        (
            "not base64",
            "saml-admin",
            "%%%% not base64 %%%%".into(),
            "InvalidIdentityToken",
        ),
        (
            "not XML",
            "saml-admin",
            base64::engine::general_purpose::STANDARD.encode("hello"),
            "InvalidIdentityToken",
        ),
        (
            "oversized",
            "saml-admin",
            "A".repeat(100_001),
            "ValidationError",
        ),
    ];
    for (name, role, assertion, code) in &cases {
        let got = f.assume(role, assertion).await;
        assert_eq!(
            got.as_ref().err().map(String::as_str),
            Some(*code),
            "case {name}"
        );
    }
    // Every valid fixture carries assertion ID _a1, used once per daemon: fresh daemons here.
    assert_eq!(
        start()
            .await
            .assume("saml-other", &fixture("assertion-signed.xml"))
            .await
            .unwrap_err(),
        "IDPRejectedClaim",
        "a role the assertion does not grant"
    );
    // Granted by the assertion, refused by the trust policy (wants bob).
    assert_eq!(
        start()
            .await
            .assume("saml-readonly", &fixture("ec-signed.xml"))
            .await
            .unwrap_err(),
        "AccessDenied"
    );
    // A provider that does not exist.
    let err = sts_client(&f.daemon.url)
        .assume_role_with_saml()
        .role_arn(role_arn("saml-admin"))
        .principal_arn(format!("arn:aws:iam::{ACCOUNT}:saml-provider/other"))
        .saml_assertion(fixture("both-signed.xml"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidIdentityToken"));
    // Expired: past SubjectConfirmationData NotOnOrAfter (00:05) plus the skew.
    f.clock.advance(Duration::from_secs(600));
    assert_eq!(
        f.assume("saml-admin", &fixture("rsa-sha512-signed.xml"))
            .await
            .unwrap_err(),
        "ExpiredTokenException"
    );
    assert!(
        f.daemon.sessions().await.is_empty(),
        "no session may be stored"
    );
}

#[tokio::test]
async fn a_replay_inside_the_clock_skew_is_still_refused() {
    let f = start().await;
    f.assume("saml-admin", &fixture("response-signed.xml"))
        .await
        .expect("first use");
    // SubjectConfirmationData NotOnOrAfter is 00:05:00; with the 60 s skew the assertion is
    // still accepted at 00:05:59, so its ID must still be remembered then.
    f.clock
        .set(UNIX_EPOCH + Duration::from_secs(1_767_225_900 + 59));
    assert_eq!(
        f.assume("saml-admin", &fixture("response-signed.xml"))
            .await
            .unwrap_err(),
        "InvalidIdentityToken"
    );
    assert_eq!(f.daemon.sessions().await.len(), 1);
}
