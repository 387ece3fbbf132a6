//! Requests signed by the official `aws-sigv4` crate must verify; every tampering must not.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials as AwsCredentials;
use aws_lc_rs::digest;
use aws_sigv4::http_request::{
    PayloadChecksumKind, SignableBody, SignableRequest, SignatureLocation as AwsLocation,
    SigningParams, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use data_encoding::HEXLOWER;
use percent_encoding::utf8_percent_encode;

use super::canonical::{URI_ENCODE, canonical_request, decode_query, string_to_sign};
use super::*;

const AKID: &str = "ASIAEXAMPLEKEYID0001";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
/// 2023-11-14T22:13:20Z
const T0_SECONDS: u64 = 1_700_000_000;
const MINUTE: Duration = Duration::from_secs(60);

fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(T0_SECONDS)
}

/// Knows one key; checks the session token it was told to expect.
struct Keys {
    secret: &'static str,
    token: Option<&'static str>,
}

const KEYS: Keys = Keys {
    secret: SECRET,
    token: None,
};

impl SecretLookup for Keys {
    type Principal = &'static str;
    fn secret_for(
        &self,
        access_key_id: &str,
        session_token: Option<&str>,
    ) -> Result<ResolvedKey<&'static str>, SigV4Error> {
        if access_key_id != AKID || session_token != self.token {
            return Err(SigV4Error::InvalidClientTokenId);
        }
        Ok(ResolvedKey {
            secret: Secret::new(self.secret.to_owned()),
            principal: "principal",
        })
    }
}

/// Accepts any session token, so a swapped one reaches the signature check.
struct AnyToken;

impl SecretLookup for AnyToken {
    type Principal = ();
    fn secret_for(&self, _: &str, _: Option<&str>) -> Result<ResolvedKey<()>, SigV4Error> {
        Ok(ResolvedKey {
            secret: Secret::new(SECRET.to_owned()),
            principal: (),
        })
    }
}

#[derive(Clone, Copy)]
struct Case<'a> {
    method: &'a str,
    host: &'a str,
    /// As on the wire (already percent-encoded).
    path: &'a str,
    query: &'a str,
    headers: &'a [(&'a str, &'a str)],
    body: &'a [u8],
    region: &'a str,
    service: &'a str,
    token: Option<&'a str>,
    presign_seconds: Option<u64>,
    content_sha256_header: bool,
    at: SystemTime,
}

const STS: Case<'static> = Case {
    method: "POST",
    host: "sts.amazonaws.com",
    path: "/",
    query: "",
    headers: &[(
        "Content-Type",
        "application/x-www-form-urlencoded; charset=utf-8",
    )],
    body: b"Action=GetCallerIdentity&Version=2011-06-15",
    region: "us-east-1",
    service: "sts",
    token: None,
    presign_seconds: None,
    content_sha256_header: false,
    at: UNIX_EPOCH,
};

/// The server's view of a signed request.
#[derive(Clone)]
struct Received {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    payload: Option<String>,
}

impl Received {
    fn request(&self) -> SignedRequest<'_> {
        SignedRequest {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers: &self.headers,
            payload_sha256_hex: self.payload.as_deref(),
        }
    }

    fn header_mut(&mut self, name: &str) -> &mut String {
        let index = self
            .headers
            .iter()
            .position(|(header, _)| header.eq_ignore_ascii_case(name))
            .expect("header present");
        &mut self.headers[index].1
    }

    fn verify<L: SecretLookup>(&self, lookup: &L, now: SystemTime) -> Result<(), SigV4Error> {
        Verifier::default()
            .verify(&self.request(), lookup, now)
            .map(|_| ())
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    HEXLOWER.encode(digest::digest(&digest::SHA256, bytes).as_ref())
}

fn sign_case(case: Case<'_>) -> Received {
    let at = if case.at == UNIX_EPOCH { t0() } else { case.at };
    let url = match case.query {
        "" => format!("https://{}{}", case.host, case.path),
        query => format!("https://{}{}?{query}", case.host, case.path),
    };
    let identity =
        AwsCredentials::new(AKID, SECRET, case.token.map(str::to_owned), None, "test").into();
    let mut settings = SigningSettings::default();
    if case.content_sha256_header {
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    }
    let body = match case.presign_seconds {
        Some(seconds) => {
            settings.signature_location = AwsLocation::QueryParams;
            settings.expires_in = Some(Duration::from_secs(seconds));
            SignableBody::UnsignedPayload
        }
        None => SignableBody::Bytes(case.body),
    };
    let params: SigningParams<'_> = v4::SigningParams::builder()
        .identity(&identity)
        .region(case.region)
        .name(case.service)
        .time(at)
        .settings(settings)
        .build()
        .expect("signing params")
        .into();
    let signable = SignableRequest::new(case.method, url, case.headers.iter().copied(), body)
        .expect("signable request");
    let (instructions, _) = sign(signable, &params)
        .expect("aws-sigv4 signs")
        .into_parts();

    let mut headers = vec![("Host".to_owned(), case.host.to_owned())];
    headers.extend(
        case.headers
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned())),
    );
    headers.extend(
        instructions
            .headers()
            .map(|(name, value)| (name.to_owned(), value.to_owned())),
    );
    let mut query = case.query.to_owned();
    for (name, value) in instructions.params() {
        if !query.is_empty() {
            query.push('&');
        }
        query.extend(utf8_percent_encode(name, URI_ENCODE));
        query.push('=');
        query.extend(utf8_percent_encode(value, URI_ENCODE));
    }
    Received {
        method: case.method.to_owned(),
        path: case.path.to_owned(),
        query,
        headers,
        payload: case
            .presign_seconds
            .is_none()
            .then(|| sha256_hex(case.body)),
    }
}

const PATHS: &[&str] = &[
    "/",
    "/foo%20bar/%E2%9C%93",
    "/a/./b/../c",
    "//double//slash/",
    "/~user/a-b_c.d",
    "/colon:semi;eq=amp&plus+",
    "/%2F%25encoded",
];
const QUERIES: &[&str] = &[
    "",
    "Action=GetCallerIdentity&Version=2011-06-15",
    "b=2&a=1&a=0&a=",
    "empty=&novalue&x=%20y",
    "sp=a+b&tilde=~&star=*",
    "%E2%9C%93=%F0%9F%A6%80",
    "a=%2F%3D%26&A=upper",
];
const SCOPES: &[(&str, &str)] = &[
    ("us-east-1", "sts"),
    ("eu-north-1", "iam"),
    ("ap-southeast-2", "execute-api"),
    ("local", "custom"),
];

#[test]
fn aws_documentation_example_verifies() {
    let headers = vec![
        ("Host".to_owned(), "iam.amazonaws.com".to_owned()),
        (
            "Content-Type".to_owned(),
            "application/x-www-form-urlencoded; charset=utf-8".to_owned(),
        ),
        ("X-Amz-Date".to_owned(), "20150830T123600Z".to_owned()),
        (
            "Authorization".to_owned(),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, \
             Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
                .to_owned(),
        ),
    ];
    let empty_body = sha256_hex(b"");
    let request = SignedRequest {
        method: "GET",
        path: "/",
        query: "Action=ListUsers&Version=2010-05-08",
        headers: &headers,
        payload_sha256_hex: Some(&empty_body),
    };
    let query = decode_query(request.query);
    let canonical = canonical_request(
        &request,
        &query,
        SignatureLocation::Header,
        "content-type;host;x-amz-date",
        &empty_body,
    )
    .expect("canonical request");
    let to_sign = string_to_sign(
        "20150830T123600Z",
        "20150830",
        "us-east-1",
        "iam",
        &canonical,
    );
    assert!(to_sign.ends_with("f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"));

    struct Example;
    impl SecretLookup for Example {
        type Principal = ();
        fn secret_for(&self, id: &str, token: Option<&str>) -> Result<ResolvedKey<()>, SigV4Error> {
            assert_eq!((id, token), ("AKIDEXAMPLE", None));
            Ok(ResolvedKey {
                secret: Secret::new(SECRET.to_owned()),
                principal: (),
            })
        }
    }
    let signed_at = UNIX_EPOCH + Duration::from_secs(1_440_938_160);
    let verified = Verifier::default()
        .verify(&request, &Example, signed_at + 5 * MINUTE)
        .expect("documented example verifies");
    assert_eq!(verified.access_key_id, "AKIDEXAMPLE");
    assert_eq!(verified.region, "us-east-1");
    assert_eq!(verified.service, "iam");
    assert_eq!(verified.signed_at, signed_at);
    assert_eq!(verified.location, SignatureLocation::Header);
}

#[test]
fn sdk_signed_requests_verify_in_every_form() {
    let extra_headers: &[(&str, &str)] = &[
        (
            "Content-Type",
            "application/x-www-form-urlencoded;  charset=utf-8",
        ),
        ("X-Custom", "  inner   spaces  kept once "),
        ("X-Multi", "one"),
        ("x-multi", "two"),
    ];
    let mut count = 0;
    for (index, path) in PATHS.iter().enumerate() {
        for query in QUERIES {
            for token in [None, Some("FwoGZXIvYXdzEBY+session/token==")] {
                for presign_seconds in [None, Some(900)] {
                    let (region, service) = SCOPES[(index + count) % SCOPES.len()];
                    let case = Case {
                        method: if presign_seconds.is_some() {
                            "GET"
                        } else {
                            "POST"
                        },
                        path,
                        query,
                        headers: extra_headers,
                        region,
                        service,
                        token,
                        presign_seconds,
                        content_sha256_header: count % 3 == 0,
                        ..STS
                    };
                    let received = sign_case(case);
                    let lookup = Keys {
                        secret: SECRET,
                        token: token.map(|_| "FwoGZXIvYXdzEBY+session/token=="),
                    };
                    let verified = Verifier::default()
                        .verify(&received.request(), &lookup, t0() + MINUTE)
                        .unwrap_or_else(|error| {
                            panic!("{path}?{query} token={token:?} presign={presign_seconds:?}: {error}")
                        });
                    assert_eq!(verified.access_key_id, AKID);
                    assert_eq!(
                        (verified.region.as_str(), verified.service.as_str()),
                        (region, service)
                    );
                    assert_eq!(verified.session_token.as_ref().map(Secret::expose), token);
                    assert_eq!(verified.signed_at, t0());
                    assert_eq!(verified.principal, "principal");
                    let location = match presign_seconds {
                        Some(_) => SignatureLocation::Query,
                        None => SignatureLocation::Header,
                    };
                    assert_eq!(verified.location, location);
                    count += 1;
                }
            }
        }
    }
    assert_eq!(count, PATHS.len() * QUERIES.len() * 4);
}

#[test]
fn clock_skew_is_fifteen_minutes_each_way() {
    let received = sign_case(STS);
    assert_eq!(received.verify(&KEYS, t0() + 14 * MINUTE), Ok(()));
    assert_eq!(received.verify(&KEYS, t0() - 14 * MINUTE), Ok(()));
    assert_eq!(
        received.verify(&KEYS, t0() + 16 * MINUTE),
        Err(SigV4Error::RequestExpired)
    );
    assert_eq!(
        received.verify(&KEYS, t0() - 16 * MINUTE),
        Err(SigV4Error::RequestExpired)
    );
}

#[test]
fn presigned_request_expires_after_x_amz_expires() {
    let short = sign_case(Case {
        method: "GET",
        presign_seconds: Some(60),
        ..STS
    });
    assert_eq!(short.verify(&KEYS, t0() + MINUTE), Ok(()));
    assert_eq!(
        short.verify(&KEYS, t0() + MINUTE + Duration::from_secs(1)),
        Err(SigV4Error::RequestExpired)
    );
    assert_eq!(
        short.verify(&KEYS, t0() - 16 * MINUTE),
        Err(SigV4Error::RequestExpired)
    );

    let long = sign_case(Case {
        method: "GET",
        presign_seconds: Some(3600),
        ..STS
    });
    assert_eq!(long.verify(&KEYS, t0() + 59 * MINUTE), Ok(()));
    assert_eq!(
        long.verify(&KEYS, t0() + 61 * MINUTE),
        Err(SigV4Error::RequestExpired)
    );
}

#[test]
fn tampered_requests_do_not_match() {
    let now = t0() + MINUTE;
    let header_signed = sign_case(Case {
        query: "Action=GetCallerIdentity&Version=2011-06-15",
        ..STS
    });
    let presigned = sign_case(Case {
        method: "GET",
        query: "Action=GetCallerIdentity&Version=2011-06-15",
        presign_seconds: Some(900),
        ..STS
    });
    assert_eq!(header_signed.verify(&KEYS, now), Ok(()));
    assert_eq!(presigned.verify(&KEYS, now), Ok(()));

    let mismatch = Err(SigV4Error::SignatureDoesNotMatch);
    let tamper = |received: &Received, change: &dyn Fn(&mut Received)| {
        let mut copy = received.clone();
        change(&mut copy);
        copy.verify(&KEYS, now)
    };
    let flip_last = |value: &mut String| {
        let last = value.pop().expect("non-empty");
        value.push(if last == '0' { '1' } else { '0' });
    };

    assert_eq!(
        tamper(&header_signed, &|r| flip_last(
            r.header_mut("authorization")
        )),
        mismatch
    );
    assert_eq!(tamper(&presigned, &|r| flip_last(&mut r.query)), mismatch);
    assert_eq!(
        header_signed.verify(
            &Keys {
                secret: "another secret",
                token: None
            },
            now
        ),
        mismatch
    );
    assert_eq!(
        presigned.verify(
            &Keys {
                secret: "another secret",
                token: None
            },
            now
        ),
        mismatch
    );
    assert_eq!(
        tamper(&header_signed, &|r| r.header_mut("content-type").push('x')),
        mismatch
    );
    assert_eq!(
        tamper(&header_signed, &|r| r.header_mut("host").push('x')),
        mismatch
    );
    assert_eq!(
        tamper(&header_signed, &|r| r
            .headers
            .retain(|(n, _)| n != "Content-Type")),
        mismatch
    );
    assert_eq!(
        tamper(&header_signed, &|r| r.query =
            r.query.replace("2011-06-15", "2011-06-16")),
        mismatch
    );
    assert_eq!(
        tamper(&header_signed, &|r| r.query.push_str("&extra=1")),
        mismatch
    );
    assert_eq!(
        tamper(&header_signed, &|r| r.path = "/other".to_owned()),
        mismatch
    );
    assert_eq!(
        tamper(&header_signed, &|r| r.method = "PUT".to_owned()),
        mismatch
    );
    assert_eq!(
        tamper(&header_signed, &|r| r.payload =
            Some(sha256_hex(b"Action=AssumeRole"))),
        mismatch
    );
    assert_eq!(tamper(&header_signed, &|r| r.payload = None), mismatch);
    assert_eq!(
        tamper(&presigned, &|r| r.query =
            r.query.replace("2011-06-15", "2011-06-16")),
        mismatch
    );
    assert_eq!(
        tamper(&presigned, &|r| r.query.push_str("&extra=1")),
        mismatch
    );
    assert_eq!(
        tamper(&presigned, &|r| r.path = "/other".to_owned()),
        mismatch
    );
    assert_eq!(
        tamper(&presigned, &|r| r.query =
            r.query.replace("X-Amz-Expires=900", "X-Amz-Expires=901")),
        mismatch
    );
}

#[test]
fn session_token_reaches_the_lookup_and_is_signed() {
    let now = t0() + MINUTE;
    for presign_seconds in [None, Some(900)] {
        let received = sign_case(Case {
            method: "GET",
            token: Some("token-one"),
            presign_seconds,
            ..STS
        });
        let expecting = |token| Keys {
            secret: SECRET,
            token,
        };
        assert_eq!(received.verify(&expecting(Some("token-one")), now), Ok(()));
        assert_eq!(
            received.verify(&expecting(Some("token-two")), now),
            Err(SigV4Error::InvalidClientTokenId)
        );
        assert_eq!(
            received.verify(&expecting(None), now),
            Err(SigV4Error::InvalidClientTokenId)
        );

        let mut swapped = received.clone();
        match presign_seconds {
            None => *swapped.header_mut("x-amz-security-token") = "token-two".to_owned(),
            Some(_) => swapped.query = swapped.query.replace("token-one", "token-two"),
        }
        assert_eq!(
            swapped.verify(&AnyToken, now),
            Err(SigV4Error::SignatureDoesNotMatch)
        );
    }

    let mut token_unsigned = sign_case(Case {
        token: Some("token-one"),
        ..STS
    });
    let authorization = token_unsigned.header_mut("authorization");
    *authorization = authorization.replace(";x-amz-security-token", "");
    assert!(matches!(
        token_unsigned.verify(&AnyToken, t0()),
        Err(SigV4Error::IncompleteSignature(_))
    ));
}

#[test]
fn lookup_errors_pass_through() {
    struct Nobody(SigV4Error);
    impl SecretLookup for Nobody {
        type Principal = ();
        fn secret_for(&self, _: &str, _: Option<&str>) -> Result<ResolvedKey<()>, SigV4Error> {
            Err(self.0)
        }
    }
    let received = sign_case(STS);
    for error in [SigV4Error::InvalidClientTokenId, SigV4Error::ExpiredToken] {
        assert_eq!(received.verify(&Nobody(error), t0()), Err(error));
    }
}

#[test]
fn scope_date_must_be_the_request_day() {
    // Signed at 23:55 on the 14th; the date is then moved to 00:05 on the 15th.
    let at = UNIX_EPOCH + Duration::from_secs(1_700_006_100);
    let mut received = sign_case(Case { at, ..STS });
    assert_eq!(received.verify(&KEYS, at), Ok(()));
    *received.header_mut("x-amz-date") = "20231115T000500Z".to_owned();
    assert_eq!(
        received.verify(&KEYS, at + 10 * MINUTE),
        Err(SigV4Error::SignatureDoesNotMatch)
    );

    let mut presigned = sign_case(Case {
        method: "GET",
        at,
        presign_seconds: Some(900),
        ..STS
    });
    presigned.query = presigned
        .query
        .replace("20231114T235500Z", "20231115T000500Z");
    assert_eq!(
        presigned.verify(&KEYS, at + 10 * MINUTE),
        Err(SigV4Error::SignatureDoesNotMatch)
    );
}

#[test]
fn malformed_authorization_headers_are_incomplete() {
    let received = sign_case(STS);
    let good = received
        .request()
        .headers
        .iter()
        .find(|(n, _)| n == "authorization")
        .map(|(_, v)| v.clone());
    let good = good.expect("authorization header");
    let (_, signature) = good.rsplit_once("Signature=").expect("signature");
    let credential = format!("{AKID}/20231114/us-east-1/sts/aws4_request");
    let variants = [
        format!(
            "AWS4-HMAC-SHA1 Credential={credential}, SignedHeaders=content-type;host;x-amz-date, Signature={signature}"
        ),
        "AWS4-HMAC-SHA256".to_owned(),
        format!("Bearer {signature}"),
        format!(
            "AWS4-HMAC-SHA256 SignedHeaders=content-type;host;x-amz-date, Signature={signature}"
        ),
        format!("AWS4-HMAC-SHA256 Credential={credential}, Signature={signature}"),
        format!(
            "AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=content-type;host;x-amz-date"
        ),
        format!(
            "AWS4-HMAC-SHA256 Credential={credential}, Credential={credential}, SignedHeaders=host, Signature={signature}"
        ),
        format!(
            "AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=content-type;host;x-amz-date, Signature={signature}, Extra=1"
        ),
        format!(
            "AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=content-type;host;x-amz-date, Signature={signature},"
        ),
        format!(
            "AWS4-HMAC-SHA256 Credential={AKID}/20231114/us-east-1/sts, SignedHeaders=content-type;host;x-amz-date, Signature={signature}"
        ),
        format!(
            "AWS4-HMAC-SHA256 Credential={AKID}/20231114/us-east-1/sts/aws4_request/x, SignedHeaders=content-type;host;x-amz-date, Signature={signature}"
        ),
        format!(
            "AWS4-HMAC-SHA256 Credential={AKID}/20231114/us-east-1/sts/aws5_request, SignedHeaders=content-type;host;x-amz-date, Signature={signature}"
        ),
        format!(
            "AWS4-HMAC-SHA256 Credential={AKID}/2023-11-14/us-east-1/sts/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature={signature}"
        ),
        format!(
            "AWS4-HMAC-SHA256 Credential=/20231114/us-east-1/sts/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature={signature}"
        ),
        format!(
            "AWS4-HMAC-SHA256 Credential={AKID}/20231114//sts/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature={signature}"
        ),
        format!(
            "AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=content-type;x-amz-date, Signature={signature}"
        ),
        format!(
            "AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=Content-Type;Host;X-Amz-Date, Signature={signature}"
        ),
        format!(
            "AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=host;content-type;x-amz-date, Signature={signature}"
        ),
        format!(
            "AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=content-type;host;host;x-amz-date, Signature={signature}"
        ),
        format!(
            "AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=content-type;;host;x-amz-date, Signature={signature}"
        ),
        format!(
            "AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=content-type;host;x-amz-date, Signature={}",
            signature.to_uppercase()
        ),
        format!(
            "AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=content-type;host;x-amz-date, Signature={}",
            &signature[1..]
        ),
        format!(
            "AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=content-type;host;x-amz-date, Signature=zz{}",
            &signature[2..]
        ),
    ];
    for variant in variants {
        let mut copy = received.clone();
        *copy.header_mut("authorization") = variant.clone();
        assert!(
            matches!(
                copy.verify(&KEYS, t0()),
                Err(SigV4Error::IncompleteSignature(_))
            ),
            "{variant}"
        );
    }

    let mut no_date = received.clone();
    no_date.headers.retain(|(name, _)| name != "x-amz-date");
    assert!(matches!(
        no_date.verify(&KEYS, t0()),
        Err(SigV4Error::IncompleteSignature(_))
    ));

    let mut bad_date = received.clone();
    *bad_date.header_mut("x-amz-date") = "2023-11-14T22:13:20Z".to_owned();
    assert!(matches!(
        bad_date.verify(&KEYS, t0()),
        Err(SigV4Error::IncompleteSignature(_))
    ));

    let mut twice = received.clone();
    twice
        .headers
        .push(("Authorization".to_owned(), good.clone()));
    assert!(matches!(
        twice.verify(&KEYS, t0()),
        Err(SigV4Error::IncompleteSignature(_))
    ));

    let mut both = received.clone();
    both.query = "X-Amz-Algorithm=AWS4-HMAC-SHA256".to_owned();
    assert!(matches!(
        both.verify(&KEYS, t0()),
        Err(SigV4Error::IncompleteSignature(_))
    ));

    let mut unsigned = received;
    unsigned.headers.retain(|(name, _)| name != "authorization");
    assert_eq!(
        unsigned.verify(&KEYS, t0()),
        Err(SigV4Error::MissingAuthenticationToken)
    );
}

#[test]
fn malformed_presigned_parameters_are_incomplete() {
    let received = sign_case(Case {
        method: "GET",
        presign_seconds: Some(900),
        ..STS
    });
    let replace = |from: &str, to: &str| {
        let mut copy = received.clone();
        assert!(copy.query.contains(from), "{from} in {}", copy.query);
        copy.query = copy.query.replace(from, to);
        copy.verify(&KEYS, t0())
    };
    for (from, to) in [
        ("X-Amz-Expires=900", "X-Amz-Expires=0"),
        ("X-Amz-Expires=900", "X-Amz-Expires=604801"),
        ("X-Amz-Expires=900", "X-Amz-Expires=%2B900"),
        ("X-Amz-Expires=900", "X-Amz-Expires=abc"),
        ("X-Amz-Expires=900", "X-Amz-Expire=900"),
        (
            "X-Amz-Algorithm=AWS4-HMAC-SHA256",
            "X-Amz-Algorithm=AWS4-HMAC-SHA1",
        ),
        ("X-Amz-Credential=", "X-Amz-Credentials="),
        ("X-Amz-Date=", "X-Amz-Dates="),
        ("X-Amz-Signature=", "X-Amz-Sig="),
        ("content-type%3Bhost", "content-type%3BHost"),
        ("content-type%3Bhost", "content-type"),
        ("content-type%3Bhost", "host%3Bcontent-type"),
        (
            "content-type%3Bhost",
            "content-type%3Bhost&X-Amz-SignedHeaders=host",
        ),
        ("%2Faws4_request", "%2Faws4_request%2Fx"),
    ] {
        assert!(
            matches!(replace(from, to), Err(SigV4Error::IncompleteSignature(_))),
            "{from} -> {to}"
        );
    }
}

#[test]
fn signing_key_cache_evicts_and_still_verifies() {
    let verifier = Verifier::new(1);
    let first = sign_case(STS);
    let second = sign_case(Case {
        region: "eu-west-3",
        ..STS
    });
    for _ in 0..3 {
        for received in [&first, &second] {
            assert!(verifier.verify(&received.request(), &KEYS, t0()).is_ok());
        }
    }
}

#[test]
fn date_header_parses_as_imf_fixdate() {
    let (amz_date, at) =
        parse::parse_http_date("Tue, 14 Nov 2023 22:13:20 GMT").expect("IMF-fixdate");
    assert_eq!((amz_date.as_str(), at), ("20231114T221320Z", t0()));
    assert!(parse::parse_http_date("Tuesday, 14-Nov-23 22:13:20 GMT").is_err());
}

#[test]
fn error_codes_are_the_aws_names() {
    assert_eq!(
        SigV4Error::MissingAuthenticationToken.code(),
        "MissingAuthenticationToken"
    );
    assert_eq!(
        SigV4Error::IncompleteSignature("x").code(),
        "IncompleteSignature"
    );
    assert_eq!(
        SigV4Error::InvalidClientTokenId.code(),
        "InvalidClientTokenId"
    );
    assert_eq!(
        SigV4Error::SignatureDoesNotMatch.code(),
        "SignatureDoesNotMatch"
    );
    assert_eq!(SigV4Error::RequestExpired.code(), "RequestExpired");
    assert_eq!(SigV4Error::ExpiredToken.code(), "ExpiredToken");
}
