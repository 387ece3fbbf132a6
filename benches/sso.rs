//! The SSO sign-in as a person and an SDK live it, against a daemon in-process (as the
//! integration tests run it) with the test OIDC IdP:
//!
//! - **device-flow login**: RegisterClient, StartDeviceAuthorization, the person's browser
//!   opening the verification link (signing in at the IdP through the portal: four redirects,
//!   a fresh browser each time), the confirm page, Approve, and the client's CreateToken poll;
//!   the real AWS SDK on the client side. A person also waits for the client's next poll, up to
//!   the 5 s interval; that wait is the protocol's, not work, and is left out.
//! - **silent refresh**: what an SDK does when its cached access token nears expiry and it needs
//!   credentials: CreateToken with the refresh token, then GetRoleCredentials.
//!
//! Not a criterion bench: it reports the distribution of whole flows, each a few HTTP round
//! trips. `cargo bench --bench sso` (`-- --logins N --refreshes N`).

#[allow(dead_code)]
#[path = "../tests/it/support/daemon.rs"]
mod daemon;
#[allow(dead_code)]
#[path = "../tests/it/support/idp.rs"]
mod idp;

use std::collections::BTreeMap;
use std::time::Duration;

use stsbridge::clock::Stopwatch;

use daemon::{Daemon, Setup};
use idp::{AUDIENCE, Client, TestIdp};

fn role(provider: &str) -> (String, String) {
    (
        "Reader".to_owned(),
        serde_json::json!({
            "RoleName": "Reader",
            "MaxSessionDuration": 3600,
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Principal": { "Federated": provider },
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": { "StringEquals": { format!("{provider}:aud"): AUDIENCE } }
                }]
            }
        })
        .to_string(),
    )
}

/// A browser without JavaScript: keeps cookies, follows redirects by hand.
struct Browser {
    http: reqwest::Client,
    jar: BTreeMap<String, String>,
    origin: String,
}

impl Browser {
    fn new(origin: &str) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            jar: BTreeMap::new(),
            origin: origin.to_owned(),
        }
    }

    fn cookies(&self) -> String {
        self.jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn keep(&mut self, response: reqwest::Response) -> (u16, String, String) {
        for line in response.headers().get_all("set-cookie") {
            let line = line.to_str().expect("ascii");
            let (name, value) = line
                .split(';')
                .next()
                .and_then(|p| p.split_once('='))
                .expect("cookie");
            if line.contains("Max-Age=0") {
                self.jar.remove(name);
            } else {
                self.jar.insert(name.to_owned(), value.to_owned());
            }
        }
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (
            response.status().as_u16(),
            location,
            response.text().await.expect("body"),
        )
    }

    /// GET `url` and follow redirects (relative ones on `base`): the final page.
    async fn open(&mut self, base: &str, url: &str) -> String {
        let mut next = url.to_owned();
        for _ in 0..8 {
            let response = self
                .http
                .get(&next)
                .header("cookie", self.cookies())
                .send()
                .await
                .expect("response");
            let (status, location, body) = self.keep(response).await;
            if status == 302 || status == 303 {
                next = if location.starts_with('/') {
                    format!("{base}{location}")
                } else {
                    location
                };
                continue;
            }
            assert_eq!(status, 200, "{body}");
            return body;
        }
        panic!("redirect loop");
    }

    async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> u16 {
        let response = self
            .http
            .post(url)
            .header("cookie", self.cookies())
            .header("origin", &self.origin)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(form).expect("form"))
            .send()
            .await
            .expect("response");
        self.keep(response).await.0
    }
}

fn input_value(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).expect("input") + marker.len();
    let end = page[start..].find('"').expect("end") + start;
    page[start..end].to_owned()
}

fn percentiles(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "{label}: n={} p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        samples.len(),
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        at(1.0).as_secs_f64() * 1e3,
    );
}

fn main() {
    let (mut logins, mut refreshes) = (50usize, 200usize);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut n = || args.next().and_then(|n| n.parse().ok());
        match arg.as_str() {
            "--logins" => logins = n().unwrap_or(logins),
            "--refreshes" => refreshes = n().unwrap_or(refreshes),
            _ => {}
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(logins, refreshes));
}

async fn run(logins: usize, refreshes: usize) {
    let idp = TestIdp::start().await;
    let provider = idp.provider();
    let daemon = Daemon::start(Setup {
        idps: vec![(
            "corp".to_owned(),
            format!(
                "kind = \"oidc\"\nissuer = \"{}\"\naudiences = [\"{AUDIENCE}\"]\n\
                 insecure_http = true\n[signin]\nclient_id = \"{AUDIENCE}\"\n",
                idp.issuer()
            ),
        )],
        roles: vec![role(&provider)],
        server: "public_url = \"http://{LISTEN}\"".to_owned(),
        // Every login comes from 127.0.0.1: past the default 30 per minute, they'd be throttled.
        extra: "[signin]\nlogins_per_minute = 10000\n".to_owned(),
        ..Setup::default()
    })
    .await;
    idp.register_client(Client {
        id: AUDIENCE.to_owned(),
        secret: None,
        redirect_uris: vec![format!("{}/signin/oidc/callback", daemon.url)],
    });
    idp.set_login(Some(serde_json::json!({"sub": "alice"})));
    let url = daemon.url.clone();
    let oidc = aws_sdk_ssooidc::Client::from_conf(
        aws_sdk_ssooidc::Config::builder()
            .behavior_version(aws_sdk_ssooidc::config::BehaviorVersion::latest())
            .region(aws_sdk_ssooidc::config::Region::new("eu-central-1"))
            .endpoint_url(format!("{url}/sso-oidc"))
            .build(),
    );
    let portal = aws_sdk_sso::Client::from_conf(
        aws_sdk_sso::Config::builder()
            .behavior_version(aws_sdk_sso::config::BehaviorVersion::latest())
            .region(aws_sdk_sso::config::Region::new("eu-central-1"))
            .endpoint_url(format!("{url}/sso"))
            .build(),
    );

    let mut login_times = Vec::with_capacity(logins);
    let mut last = None;
    for _ in 0..logins {
        let took = Stopwatch::start();
        let client = oidc
            .register_client()
            .client_name("bench")
            .client_type("public")
            .send()
            .await
            .expect("RegisterClient");
        let (id, secret) = (
            client.client_id().expect("id").to_owned(),
            client.client_secret().expect("secret").to_owned(),
        );
        let started = oidc
            .start_device_authorization()
            .client_id(&id)
            .client_secret(&secret)
            .start_url(&url)
            .send()
            .await
            .expect("StartDeviceAuthorization");
        let mut browser = Browser::new(&url);
        let link = started.verification_uri_complete().expect("link");
        let confirm = browser.open(&url, link).await;
        let user_code = started.user_code().expect("code");
        let status = browser
            .post(
                &format!("{url}/device"),
                &[
                    ("csrf_token", &input_value(&confirm, "csrf_token")),
                    ("user_code", user_code),
                    ("decision", "allow"),
                ],
            )
            .await;
        assert_eq!(status, 200);
        let tokens = oidc
            .create_token()
            .client_id(&id)
            .client_secret(&secret)
            .grant_type("urn:ietf:params:oauth:grant-type:device_code")
            .device_code(started.device_code().expect("device code"))
            .send()
            .await
            .expect("CreateToken");
        login_times.push(took.elapsed());
        last = Some((
            id,
            secret,
            tokens.refresh_token().expect("refresh").to_owned(),
        ));
    }
    let Some((id, secret, refresh)) = last else {
        return;
    };
    let account = "123456789012";
    let mut refresh_times = Vec::with_capacity(refreshes);
    for _ in 0..refreshes {
        let took = Stopwatch::start();
        let tokens = oidc
            .create_token()
            .client_id(&id)
            .client_secret(&secret)
            .grant_type("refresh_token")
            .refresh_token(&refresh)
            .send()
            .await
            .expect("refresh");
        let credentials = portal
            .get_role_credentials()
            .access_token(tokens.access_token().expect("access"))
            .account_id(account)
            .role_name("Reader")
            .send()
            .await
            .expect("GetRoleCredentials");
        assert!(credentials.role_credentials().is_some());
        refresh_times.push(took.elapsed());
    }
    percentiles(
        "device-flow login (work, without the poll interval)",
        login_times,
    );
    percentiles(
        "silent refresh (CreateToken refresh + GetRoleCredentials)",
        refresh_times,
    );
    let _dir = daemon.stop().await;
}
