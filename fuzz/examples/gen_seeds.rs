//! Writes the seed corpora under `fuzz/seeds/TARGET/`: valid and nearly valid inputs for each
//! target, signed and sealed with the fixed test keys of `stsbridge_fuzz`.
//!
//! `cargo run --manifest-path fuzz/Cargo.toml --example gen_seeds` (from the repository root).
//! ID tokens are Ed25519 (deterministic), so those seeds come out identical on every run; sealed
//! session tokens take a random nonce, so those differ but open the same.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aws_lc_rs::rand::SystemRandom;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use stsbridge::creds::token::{CLAIMS_VERSION, seal};
use stsbridge::creds::{Secret, Session, SessionClaims, SessionKind};
use stsbridge_fuzz as fx;

/// Writes one target's seeds into the directory given.
type Generator = fn(&Path);

/// `gen_seeds [TARGET...]`: every target's seeds, or only the named targets'.
fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let only: Vec<String> = std::env::args().skip(1).collect();
    let targets: [(&str, Generator); 6] = [
        ("web_identity_token", web_identity_token),
        ("sts_query", sts_query),
        ("policy_document", policy_document),
        ("session_token", session_token),
        ("saml_response", saml_response),
        ("authorize_request", authorize_request),
    ];
    for name in &only {
        assert!(targets.iter().any(|(t, _)| t == name), "no target {name}");
    }
    for (name, generate) in targets {
        if only.is_empty() || only.iter().any(|o| o == name) {
            generate(&root.join(name));
        }
    }
}

struct Seeds(PathBuf);

impl Seeds {
    fn new(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).expect("seed directory");
        Self(dir.to_owned())
    }

    fn put(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.0.join(name), bytes).expect("writing a seed");
    }

    /// A seed of a mode byte followed by `rest`.
    fn put_mode(&self, name: &str, mode: u8, rest: &[u8]) {
        let mut bytes = vec![mode];
        bytes.extend_from_slice(rest);
        self.put(name, &bytes);
    }
}

fn tags_claim() -> Value {
    json!({
        "https://aws.amazon.com/tags": {
            "principal_tags": {"team": ["infra"], "env": "prod"},
            "transitive_tag_keys": ["team"]
        },
        "https://aws.amazon.com/source_identity": "alice@example.com",
        "amr": ["pwd", "mfa"],
        "email": "repo:org/app@example.com"
    })
}

fn token(claims: &Value) -> String {
    fx::sign_payload(claims.to_string().as_bytes())
}

fn web_identity_token(dir: &Path) {
    let s = Seeds::new(dir);
    let valid = fx::claims("repo:org/app", json!({}));
    s.put_mode("valid", 0, token(&valid).as_bytes());
    s.put_mode(
        "valid-tags",
        0,
        token(&fx::claims("repo:org/app", tags_claim())).as_bytes(),
    );
    let expired = fx::claims(
        "repo:org/app",
        json!({"exp": fx::NOW_UNIX - 3600, "iat": fx::NOW_UNIX - 7200}),
    );
    s.put_mode("expired", 0, token(&expired).as_bytes());
    s.put_mode(
        "wrong-audience",
        0,
        token(&fx::claims("u", json!({"aud": ["other", "x"]}))).as_bytes(),
    );
    let alg_swap = json!({"alg": "ES256", "kid": fx::KID});
    s.put_mode(
        "alg-swap",
        0,
        fx::sign_raw(
            alg_swap.to_string().as_bytes(),
            valid.to_string().as_bytes(),
        )
        .as_bytes(),
    );
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
        URL_SAFE_NO_PAD.encode(valid.to_string())
    );
    s.put_mode("alg-none", 0, none.as_bytes());
    s.put_mode("garbage", 0, b"eyJ.eyJ.sig");

    let header = fx::header().to_string();
    let mut raw = header.clone().into_bytes();
    raw.push(0);
    raw.extend_from_slice(valid.to_string().as_bytes());
    s.put_mode("raw-valid", 1, &raw);
    let mut crit = br#"{"alg":"EdDSA","kid":"fuzz-ed25519","crit":["exp"]}"#.to_vec();
    crit.push(0);
    crit.extend_from_slice(valid.to_string().as_bytes());
    s.put_mode("raw-crit", 1, &crit);
    let mut no_kid = br#"{"alg":"EdDSA"}"#.to_vec();
    no_kid.push(0);
    no_kid.extend_from_slice(valid.to_string().as_bytes());
    s.put_mode("raw-no-kid", 1, &no_kid);
    let duplicate = format!(
        r#"{{"iss":"{}","aud":"{}","sub":"a","sub":"b","exp":{}}}"#,
        fx::ISSUER,
        fx::AUDIENCE,
        fx::NOW_UNIX + 60
    );
    s.put_mode("payload-duplicate-member", 2, duplicate.as_bytes());
    s.put_mode(
        "payload-tags",
        2,
        fx::claims("repo:org/app", tags_claim())
            .to_string()
            .as_bytes(),
    );
    s.put_mode(
        "payload-times",
        2,
        fx::claims(
            "x",
            json!({"nbf": fx::NOW_UNIX + 30, "iat": 1.8e9, "exp": fx::NOW_UNIX + 1}),
        )
        .to_string()
        .as_bytes(),
    );
    s.put_mode(
        "payload-google-azp",
        2,
        json!({"iss": "https://accounts.google.com", "azp": fx::AUDIENCE, "aud": "x", "sub": "1", "exp": fx::NOW_UNIX + 60})
            .to_string()
            .as_bytes(),
    );
}

/// `application/x-www-form-urlencoded` of `pairs`.
fn form(pairs: &[(&str, &str)]) -> String {
    fn encode(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn sts_query(dir: &Path) {
    let s = Seeds::new(dir);
    let base = [
        ("Action", "AssumeRoleWithWebIdentity"),
        ("Version", "2011-06-15"),
    ];
    let web = token(&fx::claims("repo:org/app", json!({})));
    let mut pairs = base.to_vec();
    pairs.extend([
        ("RoleArn", fx::WEB_ROLE_ARN),
        ("RoleSessionName", "fuzz-session"),
        ("WebIdentityToken", web.as_str()),
        ("DurationSeconds", "3600"),
    ]);
    s.put("web-valid", form(&pairs).as_bytes());

    let session_policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
    let mut with_policies = pairs.clone();
    with_policies.extend([
        ("Policy", session_policy),
        ("PolicyArns.member.1.arn", fx::MANAGED_POLICY_ARN),
    ]);
    s.put("web-session-policies", form(&with_policies).as_bytes());

    let tagged = token(&fx::claims("repo:org/app", tags_claim()));
    let mut with_tags = base.to_vec();
    with_tags.extend([
        ("RoleArn", fx::WEB_ROLE_ARN),
        ("RoleSessionName", "tagged"),
        ("WebIdentityToken", tagged.as_str()),
    ]);
    s.put("web-tags", form(&with_tags).as_bytes());

    let mut ops = base.to_vec();
    ops.extend([
        ("RoleArn", fx::OPS_ROLE_ARN),
        ("RoleSessionName", "ops-1"),
        ("DurationSeconds", "3600"),
    ]);
    let mut ops_signed = form(&ops).into_bytes();
    ops_signed.push(0);
    ops_signed.extend_from_slice(
        fx::claims("ops", json!({"amr": ["mfa"], "email": "ops@example.com"}))
            .to_string()
            .as_bytes(),
    );
    s.put("ops-signed-claims", &ops_signed);

    let mut web_signed = form(&pairs[..4]).into_bytes();
    web_signed.extend_from_slice(b"&");
    web_signed.extend_from_slice(form(&[("Policy", session_policy)]).as_bytes());
    web_signed.push(0);
    web_signed.extend_from_slice(
        fx::claims("repo:org/app", tags_claim())
            .to_string()
            .as_bytes(),
    );
    s.put("web-signed-claims", &web_signed);

    s.put("no-action", b"Version=2011-06-15&RoleArn=x");
    s.put(
        "bad-version",
        b"Action=AssumeRoleWithWebIdentity&Version=2010-01-01",
    );
    let mut provider = pairs.clone();
    provider.push(("ProviderId", "www.amazon.com"));
    s.put("provider-id", form(&provider).as_bytes());
    s.put(
        "validation",
        b"Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=short&RoleSessionName=a%20b&DurationSeconds=12x&WebIdentityToken=abc",
    );
}

fn policy_document(dir: &Path) {
    let s = Seeds::new(dir);
    // Request bytes for `arbitrary`: a few of each, so every seed builds a request.
    let request: Vec<u8> = (0u8..64).map(|i| i.wrapping_mul(37)).collect();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut documents: Vec<(String, u8, String)> = vec![
        ("web-trust".into(), 0, fx::WEB_TRUST.into()),
        ("ops-trust".into(), 0, fx::OPS_TRUST.into()),
        ("inline".into(), 1, fx::INLINE_POLICY.into()),
        ("managed".into(), 1, fx::MANAGED_POLICY.into()),
        (
            "session-conditions".into(),
            2,
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"},"DateGreaterThan":{"aws:CurrentTime":"2026-01-01T00:00:00Z"},"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/${aws:PrincipalTag/team}-*"},"NumericEquals":{"s3:max-keys":"10"},"BinaryEquals":{"k":"QUJD"}}}]}"#.into(),
        ),
        (
            "legacy-version".into(),
            1,
            r#"{"Version":"2008-10-17","Statement":{"Effect":"Allow","NotAction":["iam:*"],"Resource":"arn:aws:s3:::${x}"}}"#.into(),
        ),
    ];
    for role in ["dev-reader", "github-deploy", "google-app"] {
        let Ok(text) = std::fs::read_to_string(repo.join(format!("roles/{role}.json"))) else {
            continue;
        };
        let value: Value = serde_json::from_str(&text).expect("role JSON");
        documents.push((
            format!("role-{role}-trust"),
            0,
            value["AssumeRolePolicyDocument"].to_string(),
        ));
        if let Some(policies) = value["Policies"].as_array() {
            for (i, p) in policies.iter().enumerate() {
                documents.push((
                    format!("role-{role}-policy-{i}"),
                    1,
                    p["PolicyDocument"].to_string(),
                ));
            }
        }
    }
    for (name, kind, text) in documents {
        let mut bytes = vec![kind];
        bytes.extend_from_slice(text.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(&request);
        s.put(&name, &bytes);
    }
}

fn session_token(dir: &Path) {
    let s = Seeds::new(dir);
    let keyring = fx::fixed_keyring();
    let claims = SessionClaims {
        version: CLAIMS_VERSION,
        access_key_id: "ASIAFUZZFUZZFUZZFUZZ".into(),
        secret_access_key: Secret::new("fuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzz".into()),
        session: Session {
            identity_arn: fx::WEB_ROLE_ARN.into(),
            identity_id: "AROAFUZZ0000000000WEB".into(),
            caller_arn: "arn:aws:sts::123456789012:assumed-role/web/fuzz-session".into(),
            account_id: fx::ACCOUNT.into(),
            session_name: "fuzz-session".into(),
            source_identity: Some("alice".into()),
            provider: fx::PROVIDER.into(),
            subject: "repo:org/app".into(),
            session_tags: BTreeMap::from([("team".into(), "infra".into())]),
            transitive_tag_keys: vec!["team".into()],
            session_policy: Some(r#"{"Version":"2012-10-17","Statement":[]}"#.into()),
            policy_arns: vec![fx::MANAGED_POLICY_ARN.into()],
            kind: SessionKind::AssumedRole,
            mfa_authenticated_at: Some(fx::NOW_UNIX - 600),
        },
        issued_at: fx::NOW_UNIX,
        expires_at: fx::NOW_UNIX + 3600,
    };
    let token = seal(&keyring, &claims, &SystemRandom::new()).expect("sealing the seed");
    s.put_mode("sealed", 0, token.as_bytes());
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&token)
        .expect("base64");
    s.put_mode("sealed-raw", 1, &raw);
    let plaintext = postcard::to_stdvec(&claims).expect("postcard");
    let mut inner = vec![0u8];
    inner.extend_from_slice(&[7u8; 12]);
    inner.extend_from_slice(&plaintext);
    s.put_mode("plaintext-current", 2, &inner);
    inner[0] = 1;
    s.put_mode("plaintext-retired", 2, &inner);
    s.put_mode("round-trip", 3, &plaintext);
    s.put_mode("text-short", 0, b"AQIDBA==");
}

/// Fixtures of `tests/fixtures/saml/` behind the target's mode byte: raw XML (1), raw XML with
/// `allow_sha1` (4), raw XML with the decryption key (10), base64 with POST-binding line breaks
/// (0), metadata (2).
fn saml_response(dir: &Path) {
    let s = Seeds::new(dir);
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/saml");
    let read = |name: &str| std::fs::read(fixtures.join(name)).expect("SAML fixture");
    for name in [
        "response-signed",
        "assertion-signed",
        "both-signed",
        "ec-signed",
        "xsw-evil-assertion-before",
        "xsw-signed-assertion-in-extensions",
        "doctype-billion-laughs",
        "name-id-comment",
        "unsigned",
    ] {
        s.put_mode(name, 1, &read(&format!("{name}.xml")));
    }
    s.put_mode("rsa-sha1-signed", 4, &read("rsa-sha1-signed.xml"));
    for name in [
        "encrypted-response-signed",
        "encrypted-gcm-assertion-signed",
        "encrypted-response-unsigned",
    ] {
        s.put_mode(name, 10, &read(&format!("{name}.xml")));
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(read("assertion-signed.xml"));
    let lines: Vec<&str> = encoded
        .as_bytes()
        .chunks(76)
        .map(|line| std::str::from_utf8(line).expect("base64 is ASCII"))
        .collect();
    s.put_mode("assertion-signed-b64", 0, lines.join("\r\n").as_bytes());
    s.put_mode("idp-metadata", 2, &read("idp-metadata.xml"));
}

/// Hex SHA-256 of the empty body.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// A request view signed in the header form by `cred` at the fixed `now` (`X-Amz-Date`, or
/// `Date` when `http_date`), every header signed.
fn header_view(
    cred: &fx::KnownCredential,
    (method, path, query): (&str, &str, &str),
    extra: &[(&str, &str)],
    service: &str,
    http_date: bool,
) -> Value {
    let mut headers: BTreeMap<String, String> = extra
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    headers.insert("host".into(), "photos.fuzz.example".into());
    let amz_date = fx::amz_date(fx::NOW_UNIX);
    if http_date {
        headers.insert("date".into(), fx::http_date(fx::NOW_UNIX));
    } else {
        headers.insert("x-amz-date".into(), amz_date.clone());
    }
    if let Some(token) = &cred.session_token {
        headers.insert("x-amz-security-token".into(), token.clone());
    }
    let list: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    let mut names: Vec<&str> = list.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let signed_headers = names.join(";");
    let signature = fx::sigv4_signature(
        &cred.secret,
        &fx::ToSign {
            method,
            path,
            query,
            headers: &list,
            signed_headers: &signed_headers,
            payload_hash: EMPTY_SHA256,
            presigned: false,
            amz_date: &amz_date,
            region: "us-east-1",
            service,
        },
    );
    headers.insert(
        "authorization".into(),
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{}/us-east-1/{service}/aws4_request, SignedHeaders={signed_headers}, Signature={signature}",
            cred.access_key_id,
            &amz_date[..8]
        ),
    );
    json!({"method": method, "path": path, "query": query, "headers": headers, "payload_sha256": EMPTY_SHA256})
}

/// A presigned (query-form) request view by `cred`, signed a minute before the fixed `now`.
fn presigned_view(cred: &fx::KnownCredential, method: &str, path: &str, service: &str) -> Value {
    let signed_at = fx::NOW_UNIX - 60;
    let amz_date = fx::amz_date(signed_at);
    let scope = format!(
        "{}/{}/us-east-1/{service}/aws4_request",
        cred.access_key_id,
        &amz_date[..8]
    );
    let mut query = format!(
        "prefix=a%20b&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={}&X-Amz-Date={amz_date}&X-Amz-Expires=900&X-Amz-SignedHeaders=host",
        fx::uri_encode(scope.as_bytes(), false)
    );
    if let Some(token) = &cred.session_token {
        query.push_str("&X-Amz-Security-Token=");
        query.push_str(&fx::uri_encode(token.as_bytes(), false));
    }
    let headers = vec![("host".to_owned(), "photos.fuzz.example".to_owned())];
    let signature = fx::sigv4_signature(
        &cred.secret,
        &fx::ToSign {
            method,
            path,
            query: &query,
            headers: &headers,
            signed_headers: "host",
            payload_hash: "UNSIGNED-PAYLOAD",
            presigned: true,
            amz_date: &amz_date,
            region: "us-east-1",
            service,
        },
    );
    query.push_str(&format!("&X-Amz-Signature={signature}"));
    json!({"method": method, "path": path, "query": query, "headers": {"host": "photos.fuzz.example"}, "payload_sha256": "UNSIGNED-PAYLOAD"})
}

/// Raw JSON bodies (valid signatures at the fixed `now`), `0x01 CRED JSON` bodies the target
/// signs, and `0x00` blobs for the structured mode.
fn authorize_request(dir: &Path) {
    let s = Seeds::new(dir);
    let creds = fx::known_credentials();
    let index = |name: &str| {
        creds
            .iter()
            .position(|c| c.name == name)
            .expect("a fixture credential")
    };
    let cred = |name: &str| &creds[index(name)];
    let body = |view: Value, action: &str, resource: &str, context: Value| {
        serde_json::to_vec_pretty(&json!({
            "request": view, "action": action, "resource": resource, "context": context,
        }))
        .expect("JSON")
    };
    let get = ("GET", "/albums/alice/cat.jpg", "size=large&v=2");
    s.put(
        "alice-key-get-own.json",
        &body(
            header_view(
                cred("alice-key"),
                get,
                &[("Content-Type", "image/jpeg")],
                "photos",
                false,
            ),
            "photos:GetPhoto",
            "arn:aws:photos:::album/alice/cat.jpg",
            json!({"aws:SourceIp": "192.0.2.10", "photos:Album": "alice"}),
        ),
    );
    s.put(
        "alice-key-delete-denied.json",
        &body(
            header_view(
                cred("alice-key"),
                ("DELETE", "/albums/bob/dog.jpg", ""),
                &[],
                "photos",
                true,
            ),
            "photos:DeletePhoto",
            "arn:aws:photos:::album/bob/dog.jpg",
            json!({}),
        ),
    );
    s.put(
        "bob-key-implicit-deny.json",
        &body(
            header_view(cred("bob-key"), get, &[], "photos", false),
            "photos:GetPhoto",
            "arn:aws:photos:::album/bob/dog.jpg",
            json!({"photos:Team": ["blue", "red"]}),
        ),
    );
    s.put(
        "web-session-presigned.json",
        &body(
            presigned_view(cred("web-session"), "GET", "/fuzz-bucket/key", "s3"),
            "s3:GetObject",
            "arn:aws:s3:::fuzz-/key",
            json!({"aws:SecureTransport": "true"}),
        ),
    );
    s.put(
        "ops-session-delete-denied.json",
        &body(
            header_view(
                cred("ops-session"),
                ("DELETE", "/bucket/key", ""),
                &[],
                "s3",
                false,
            ),
            "s3:DeleteObject",
            "arn:aws:s3:::bucket/key",
            json!({}),
        ),
    );
    s.put(
        "alice-session-mfa-put.json",
        &body(
            header_view(
                cred("alice-session"),
                ("PUT", "/albums/alice/new.jpg", ""),
                &[("x-amz-meta-album", " alice  photos ")],
                "photos",
                false,
            ),
            "photos:PutPhoto",
            "arn:aws:photos:::album/alice/new.jpg",
            json!({"aws:SourceIp": "2001:db8::7"}),
        ),
    );
    s.put(
        "federated-team.json",
        &body(
            header_view(
                cred("federated"),
                ("POST", "/share", "to=bob"),
                &[],
                "photos",
                false,
            ),
            "photos:Share",
            "arn:aws:photos:::album/alice/cat.jpg",
            json!({"photos:Team": "blue"}),
        ),
    );
    s.put(
        "federated-no-policy.json",
        &body(
            header_view(cred("federated-nopolicy"), get, &[], "photos", false),
            "photos:GetPhoto",
            "arn:aws:photos:::album/alice/cat.jpg",
            json!({}),
        ),
    );
    for name in [
        "expired",
        "revoked",
        "role-revoked",
        "unknown-key",
        "token-mismatch",
    ] {
        s.put(
            &format!("{name}.json"),
            &body(
                header_view(cred(name), get, &[], "photos", false),
                "photos:GetPhoto",
                "arn:aws:photos:::album/alice/cat.jpg",
                json!({}),
            ),
        );
    }
    s.put(
        "principal-key-supplied.json",
        &body(
            header_view(cred("alice-key"), get, &[], "photos", false),
            "photos:GetPhoto",
            "arn:aws:photos:::album/alice/cat.jpg",
            json!({"aws:PrincipalTag/team": "blue"}),
        ),
    );
    // Reproducer of a finding: names within the 2048-byte limits whose JSON escapes overflow
    // the sealed authorization message made a denial an InternalFailure.
    let escaped = body(
        header_view(cred("bob-key"), get, &[], "photos", false),
        &format!("photos:{}", "\u{1}".repeat(2030)),
        "arn:aws:photos:::album/alice/cat.jpg",
        json!({}),
    );
    s.put("long-escaped-action.json", &escaped);
    Seeds::new(&dir.join("../crashes")).put("authorize_request-message-too-large.json", &escaped);
    s.put(
        "unsigned.json",
        br#"{"request":{"method":"GET","path":"/","headers":{"host":"photos.fuzz.example"},"payload_sha256":"UNSIGNED-PAYLOAD"},"action":"photos:GetPhoto","resource":"*"}"#,
    );

    // Re-signed by the target: views without a signature.
    let view = json!({"method": "GET", "path": "/albums/./alice//cat.jpg", "query": "b=2&a=1&a=0",
        "headers": {"Host": "photos.fuzz.example", "X-Amz-Meta-Note": "two  spaces"},
        "payload_sha256": EMPTY_SHA256});
    for (name, action, resource) in [
        (
            "alice-session",
            "photos:PutPhoto",
            "arn:aws:photos:::album/alice/x",
        ),
        ("ops-session", "s3:GetObject", "arn:aws:s3:::fuzz-/key"),
        ("gone-role", "s3:GetObject", "*"),
        ("missing-managed", "s3:GetObject", "*"),
    ] {
        let json = body(
            view.clone(),
            action,
            resource,
            json!({"s3:prefix": ["a", "b"]}),
        );
        let cred_byte = u8::try_from(index(name)).expect("few credentials");
        let mut bytes = vec![cred_byte];
        bytes.extend_from_slice(&json);
        s.put_mode(&format!("resigned-{name}"), 1, &bytes);
    }

    // Structured: arbitrary byte strings.
    s.put_mode("structured-zeros", 0, &[0u8; 64]);
    s.put_mode("structured-ones", 0, &[0xffu8; 64]);
    let ramp: Vec<u8> = (0..=255u8).collect();
    s.put_mode("structured-ramp", 0, &ramp);
}
