//! The STS endpoint at the HTTP level: every answer is AWS XML with the right status, never HTML,
//! never a 500 for bad input.

use crate::support::daemon::{Daemon, Setup};

async fn daemon() -> Daemon {
    Daemon::start(Setup::default()).await
}

struct Answer {
    status: u16,
    content_type: String,
    request_id: String,
    body: String,
}

async fn post(url: &str, body: impl Into<reqwest::Body>) -> Answer {
    let r = reqwest::Client::new()
        .post(url)
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .body(body)
        .send()
        .await
        .expect("response");
    answer(r).await
}

async fn answer(r: reqwest::Response) -> Answer {
    let status = r.status().as_u16();
    let header = |n: &str| {
        r.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let content_type = header("content-type");
    let request_id = header("x-amzn-requestid");
    let body = r.text().await.expect("body");
    Answer {
        status,
        content_type,
        request_id,
        body,
    }
}

fn assert_error(a: &Answer, status: u16, code: &str) {
    assert_eq!(a.status, status, "{}", a.body);
    assert_eq!(a.content_type, "text/xml");
    assert!(
        a.body.starts_with("<?xml")
            && a.body
                .contains("<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"),
        "{}",
        a.body
    );
    assert!(
        a.body.contains(&format!("<Code>{code}</Code>")),
        "{}",
        a.body
    );
    assert!(!a.request_id.is_empty());
    assert!(
        a.body
            .contains(&format!("<RequestId>{}</RequestId>", a.request_id))
    );
}

#[tokio::test]
async fn missing_and_unknown_actions() {
    let d = daemon().await;
    assert_error(
        &post(&d.url, "Version=2011-06-15").await,
        400,
        "MissingAction",
    );
    let a = post(&d.url, "Action=Frobnicate&Version=2011-06-15").await;
    assert_error(&a, 400, "InvalidAction");
    assert!(
        a.body
            .contains("Could not find operation Frobnicate for version 2011-06-15")
    );
    assert_error(
        &post(
            &d.url,
            "Action=AssumeRoleWithWebIdentity&Version=2010-01-01",
        )
        .await,
        400,
        "InvalidAction",
    );
    assert_error(
        &post(&d.url, "Action=AssumeRoleWithWebIdentity").await,
        400,
        "InvalidAction",
    );
}

#[tokio::test]
async fn missing_parameters_are_listed_like_aws() {
    let d = daemon().await;
    let a = post(
        &d.url,
        "Action=AssumeRoleWithWebIdentity&Version=2011-06-15",
    )
    .await;
    assert_error(&a, 400, "ValidationError");
    assert!(
        a.body.contains("3 validation errors detected"),
        "{}",
        a.body
    );
    assert!(
        a.body.contains(
            "Value null at 'roleArn' failed to satisfy constraint: Member must not be null"
        ),
        "{}",
        a.body
    );
}

#[tokio::test]
async fn get_with_a_query_string_is_served_too() {
    let d = daemon().await;
    let r = reqwest::get(format!(
        "{}/?Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn:aws:iam::123456789012:role/x&RoleSessionName=s!&WebIdentityToken=abcd",
        d.url
    ))
    .await
    .unwrap();
    let a = answer(r).await;
    assert_error(&a, 400, "ValidationError");
    assert!(a.body.contains("roleSessionName"), "{}", a.body);
}

#[tokio::test]
async fn oversized_bodies_get_413_in_xml() {
    let d = daemon().await;
    let body = format!(
        "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&Pad={}",
        "a".repeat(300 * 1024)
    );
    assert_error(&post(&d.url, body).await, 413, "RequestEntityTooLarge");
}

#[tokio::test]
async fn garbage_bodies_never_give_500_or_html() {
    let d = daemon().await;
    for body in [
        &b"\xff\xfe\x00garbage"[..],
        b"%%%%",
        b"Action=%ZZ",
        b"<?xml version='1.0'?><x/>",
        b"Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=&RoleSessionName=&WebIdentityToken=",
    ] {
        let a = post(&d.url, body.to_vec()).await;
        assert!(a.status == 400, "status {} for {:?}: {}", a.status, body, a.body);
        assert!(a.body.starts_with("<?xml"), "{}", a.body);
    }
    assert!(d.sessions().await.is_empty());
}

#[tokio::test]
async fn other_methods_get_xml_errors() {
    let d = daemon().await;
    let r = reqwest::Client::new()
        .put(&d.url)
        .body("x")
        .send()
        .await
        .unwrap();
    let a = answer(r).await;
    assert_error(&a, 400, "ValidationError");
}
