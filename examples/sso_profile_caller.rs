//! What an application using the Rust SDK does with an `sso-session` profile: the default
//! credentials chain reads `~/.aws/config` (`AWS_CONFIG_FILE`), takes the access token from
//! botocore's token cache (refreshing it with its refresh token when it is within five minutes
//! of expiry, and writing the cache back), calls the SSO portal API's GetRoleCredentials, and
//! signs GetCallerIdentity with the role credentials. Endpoints come from the profile's
//! `services` section (or `AWS_ENDPOINT_URL_SSO_OIDC`, `AWS_ENDPOINT_URL_SSO`,
//! `AWS_ENDPOINT_URL_STS`).
//!
//! The SSO integration tests run it in a process of its own (its home and config are the
//! test's): `cargo run --example sso_profile_caller -- PROFILE` prints the caller's ARN.

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let profile = std::env::args()
        .nth(1)
        .ok_or("usage: sso_profile_caller PROFILE")?;
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .profile_name(&profile)
        .load()
        .await;
    let sts = aws_sdk_sts::Client::new(&config);
    let caller = sts.get_caller_identity().send().await?;
    println!("{}", caller.arn().unwrap_or_default());
    Ok(())
}
