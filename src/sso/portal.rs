//! The SSO portal API the AWS SDKs take role credentials from (botocore's `sso` 2019-06-10
//! model, `AWS_ENDPOINT_URL_SSO`): an adapter like `web`, over the person's SSO login. The
//! server routes `<public_url>/sso/...` here; every operation takes the access token CreateToken
//! issued, in the `x-amz-sso_bearer_token` header.
//!
//! - `ListAccounts` (`GET /assignment/accounts`) and `ListAccountRoles` (`GET
//!   /assignment/roles`): `federation::assumable_roles` of the login's identity, by account
//!   (account ids in order, then role names), named by `[accounts]`; paged;
//! - `GetRoleCredentials` (`GET /federation/credentials`): a role's credentials, issued through
//!   `federation` as the portal's pages issue them (trust decided again now, durable record,
//!   audit event `GetRoleCredentials`), for the role's maximum session duration;
//! - `Logout` (`POST /logout`): ends the login ([`super::login::revoke`]).

use std::collections::BTreeMap;
use std::time::SystemTime;

use data_encoding::BASE64URL_NOPAD;
use serde::Serialize;

use super::Unsealed;
use super::login::{self, Login};
use crate::audit::{AuditDraft, EventName, cut};
use crate::config::Federation;
use crate::creds::Keyring;
use crate::error::{ApiError, SsoPortalFault};
use crate::federation::{
    AssumableRole, Domain, Request, SessionAsk, assumable_roles, assume_role_signed_in,
    audit_identity, record_refusal, saml_provider_of,
};
use crate::origin::Origin;
use crate::state::State;

/// Where the API is served, under the public URL.
pub const BASE_PATH: &str = "/sso";
/// The header every operation takes the access token in.
pub const BEARER_HEADER: &str = "x-amz-sso_bearer_token";
/// `max_result`'s range (the model's `MaxResultType`).
pub const MAX_RESULTS: usize = 100;
/// A page without `max_result` holds this many (AWS documents no default; the maximum keeps
/// a client that never follows `nextToken` whole for up to a hundred entries).
pub const DEFAULT_RESULTS: usize = MAX_RESULTS;
/// The longest `next_token` accepted (an account id or a role name of at most 64 characters
/// and the list it pages, encoded).
const MAX_NEXT_TOKEN: usize = 256;

fn refused(m: &'static str) -> ApiError {
    ApiError::SsoPortal(SsoPortalFault::InvalidRequest(m))
}

fn not_found(m: &'static str) -> ApiError {
    ApiError::SsoPortal(SsoPortalFault::ResourceNotFound(m))
}

/// The login `bearer` (the `x-amz-sso_bearer_token` header) carries, at `now`: an access token
/// this keyring sealed, not expired, of a login neither revoked nor ended. Anything else is
/// `UnauthorizedException`, the answer every SDK takes for "sign in again".
pub fn signed_in(
    keyring: &Keyring,
    store: &crate::store::Store,
    bearer: Option<&str>,
    now: SystemTime,
) -> Result<Login, ApiError> {
    signed_in_as(keyring, store, bearer, now, false)
}

/// [`signed_in`] for `Logout`: an authentic access token past its hour is taken too, while its
/// login lasts (the login, and so its refresh token, is what Logout ends).
pub fn signed_in_to_log_out(
    keyring: &Keyring,
    store: &crate::store::Store,
    bearer: Option<&str>,
    now: SystemTime,
) -> Result<Login, ApiError> {
    signed_in_as(keyring, store, bearer, now, true)
}

fn signed_in_as(
    keyring: &Keyring,
    store: &crate::store::Store,
    bearer: Option<&str>,
    now: SystemTime,
    expired_too: bool,
) -> Result<Login, ApiError> {
    let unauthorized = ApiError::SsoPortal(SsoPortalFault::Unauthorized);
    let Some(token) = bearer.filter(|t| !t.is_empty()) else {
        tracing::info!("no access token");
        return Err(unauthorized);
    };
    let opened = if expired_too {
        login::open_access_token_to_end(keyring, token)
    } else {
        login::open_access_token(keyring, token, now)
    };
    let login = opened.map_err(|why| {
        match why {
            Unsealed::Expired => tracing::info!("the access token has expired"),
            Unsealed::Refused => tracing::info!("the access token does not open"),
        }
        ApiError::SsoPortal(SsoPortalFault::Unauthorized)
    })?;
    if login.ended(now) || login::refused(store, &login, now) {
        tracing::info!(login = %login.id, "the login has ended or was revoked");
        return Err(unauthorized);
    }
    Ok(login)
}

/// The query parameters of a request (`application/x-www-form-urlencoded`), first value of
/// each name.
pub struct Query(Vec<(String, String)>);

impl Query {
    /// The pairs of `raw`, or `InvalidRequestException`.
    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        serde_urlencoded::from_str(raw.unwrap_or_default())
            .map(Self)
            .map_err(|_| refused("The query string is not well-formed."))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn required(&self, name: &str, missing: &'static str) -> Result<&str, ApiError> {
        self.get(name)
            .filter(|v| !v.is_empty())
            .ok_or(refused(missing))
    }
}

/// What one page of a list is: after which key it starts, and how many it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paging {
    after: Option<String>,
    max: usize,
}

impl Paging {
    /// The page `query`'s `next_token` and `max_result` ask for, of the list named `list`
    /// (a token of another list, or of the same operation for another account, is refused).
    fn of(query: &Query, list: &str) -> Result<Self, ApiError> {
        let max = match query.get("max_result") {
            None => DEFAULT_RESULTS,
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_RESULTS).contains(n))
                .ok_or(refused("max_result must be a whole number from 1 to 100."))?,
        };
        let after = match query.get("next_token").filter(|t| !t.is_empty()) {
            None => None,
            Some(token) => Some(after_key(token, list).ok_or(refused(
                "next_token is not a page token of this list: pass the nextToken of the previous page.",
            ))?),
        };
        Ok(Self { after, max })
    }
}

/// The key a page token of `list` says the next page starts after.
fn after_key(token: &str, list: &str) -> Option<String> {
    if token.len() > MAX_NEXT_TOKEN {
        return None;
    }
    let bytes = BASE64URL_NOPAD.decode(token.as_bytes()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (of, key) = text.split_once('\n')?;
    (of == list && !key.is_empty()).then(|| key.to_owned())
}

/// The page token of `list` for the page after `key`.
fn next_token(list: &str, key: &str) -> String {
    BASE64URL_NOPAD.encode(format!("{list}\n{key}").as_bytes())
}

/// The page `paging` asks for of `items` (in `key` order), and the token of the next page if
/// there is one.
fn page<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> &str,
    list: &str,
    paging: &Paging,
) -> (Vec<T>, Option<String>) {
    let mut rest: Vec<T> = items
        .into_iter()
        .filter(|item| {
            paging
                .after
                .as_deref()
                .is_none_or(|after| key(item) > after)
        })
        .collect();
    if rest.len() <= paging.max {
        return (rest, None);
    }
    rest.truncate(paging.max);
    let token = rest.last().map(|last| next_token(list, key(last)));
    (rest, token)
}

/// One account of `ListAccounts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountInfo {
    pub account_id: String,
    /// The `[accounts]` name, or else the id (the SDKs' pickers show a name).
    pub account_name: String,
}

/// `ListAccounts`'s answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountList {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    pub account_list: Vec<AccountInfo>,
}

/// One role of `ListAccountRoles`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleInfo {
    pub role_name: String,
    pub account_id: String,
}

/// `ListAccountRoles`'s answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleList {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    pub role_list: Vec<RoleInfo>,
}

/// `GetRoleCredentials`'s answer.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleCredentials {
    pub role_credentials: CredentialsOut,
}

/// Temporary credentials as the `sso` model shapes them.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsOut {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    /// Epoch milliseconds.
    pub expiration: i64,
}

impl std::fmt::Debug for RoleCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoleCredentials")
            .field("access_key_id", &self.role_credentials.access_key_id)
            .field("expiration", &self.role_credentials.expiration)
            .finish_non_exhaustive()
    }
}

/// The roles `login`'s identity may assume now, by account id, role names in order.
fn assignments(
    federation: &Federation,
    login: &Login,
    origin: &Origin,
    now: SystemTime,
) -> BTreeMap<String, Vec<AssumableRole>> {
    let mut by_account: BTreeMap<String, Vec<AssumableRole>> = BTreeMap::new();
    for role in assumable_roles(
        federation,
        &login.identity,
        &login.session_name,
        origin,
        now,
    ) {
        by_account
            .entry(role.role.account_id.clone())
            .or_default()
            .push(role);
    }
    for roles in by_account.values_mut() {
        roles.sort_by(|a, b| a.role.name.cmp(&b.role.name));
    }
    by_account
}

/// `ListAccounts`: the accounts with a role `login` may assume.
pub fn list_accounts(
    federation: &Federation,
    login: &Login,
    query: &Query,
    origin: &Origin,
    now: SystemTime,
) -> Result<AccountList, ApiError> {
    let paging = Paging::of(query, "accounts")?;
    let accounts: Vec<AccountInfo> = assignments(federation, login, origin, now)
        .into_keys()
        .map(|id| AccountInfo {
            account_name: federation
                .accounts
                .get(&id)
                .cloned()
                .unwrap_or_else(|| id.clone()),
            account_id: id,
        })
        .collect();
    let (account_list, next_token) = page(accounts, |a| &a.account_id, "accounts", &paging);
    Ok(AccountList {
        next_token,
        account_list,
    })
}

/// `ListAccountRoles`: the roles of `account_id` that `login` may assume; an account where it
/// may assume none is `ResourceNotFoundException`.
pub fn list_account_roles(
    federation: &Federation,
    login: &Login,
    query: &Query,
    origin: &Origin,
    now: SystemTime,
) -> Result<RoleList, ApiError> {
    let account_id = query.required("account_id", "account_id is required.")?;
    let list = format!("roles:{account_id}");
    let paging = Paging::of(query, &list)?;
    let roles: Vec<RoleInfo> = assignments(federation, login, origin, now)
        .remove(account_id)
        .ok_or(not_found("No access to this account."))?
        .into_iter()
        .map(|r| RoleInfo {
            role_name: r.role.name.clone(),
            account_id: r.role.account_id.clone(),
        })
        .collect();
    let (role_list, next_token) = page(roles, |r| &r.role_name, &list, &paging);
    Ok(RoleList {
        next_token,
        role_list,
    })
}

/// `GetRoleCredentials`: credentials of the role `role_name` in `account_id` for `login`'s
/// identity, issued through `federation` as the portal's pages issue them: the trust policy
/// evaluated again now against the identity the IdP vouched for (a SAML identity's assertion
/// was used up at sign-in), for the role's maximum session duration (a SAML session's end
/// caps it), the session record durable and the audit event `GetRoleCredentials` (`"via":
/// "sso"`, the login's id) written before the answer. A role the identity may not assume,
/// or that does not exist, is `ResourceNotFoundException`, recorded as refused.
pub async fn get_role_credentials(
    state: &State,
    login: &Login,
    query: &Query,
    origin: &Origin,
    now: SystemTime,
) -> Result<RoleCredentials, ApiError> {
    let role_name = query.required("role_name", "role_name is required.")?;
    let account_id = query.required("account_id", "account_id is required.")?;
    let federation = state.federation();
    let roles = assumable_roles(
        &federation,
        &login.identity,
        &login.session_name,
        origin,
        now,
    );
    let offered = roles
        .iter()
        .find(|r| r.role.name == role_name && r.role.account_id == account_id);
    let duration = offered.map(|r| i64::from(r.role.max_session_duration));
    let mut audit = AuditDraft::new(
        EventName::GetRoleCredentials,
        origin,
        serde_json::json!({
            "roleName": cut(role_name, 64),
            "accountId": cut(account_id, 12),
            "durationSeconds": duration,
            "idp": login.idp,
            "loginId": login.id,
            "via": "sso",
        }),
        now,
    );
    audit.identify(audit_identity(&login.identity, offered));
    let Some(offered) = offered else {
        let err = not_found("No access to this role.");
        record_refusal(state.store(), audit, &err).await;
        return Err(err);
    };
    let provider_arn = offered
        .provider_arn
        .clone()
        .or_else(|| saml_provider_of(&login.identity, &offered.role.arn));
    let ask = SessionAsk {
        role_arn: &offered.role.arn,
        provider_arn: provider_arn.as_deref(),
        session_name: Some(&login.session_name),
        duration,
        policy: None,
        policy_arns: &[],
    };
    let domain = Domain {
        federation: &federation,
        issuer: state.issuer(),
        principals: state.principals(),
    };
    let request = Request {
        origin,
        audit: &audit,
        now,
    };
    match assume_role_signed_in(&domain, &login.identity, &ask, &request).await {
        Ok(issued) => {
            let credentials = issued.credentials;
            Ok(RoleCredentials {
                role_credentials: CredentialsOut {
                    access_key_id: credentials.access_key_id,
                    secret_access_key: credentials.secret_access_key.expose().to_owned(),
                    session_token: credentials.session_token.expose().to_owned(),
                    expiration: epoch_millis(credentials.expiration),
                },
            })
        }
        Err(err) => {
            record_refusal(state.store(), audit, &err).await;
            Err(in_the_model(err))
        }
    }
}

/// A refusal of `federation` as the `sso` model can say it: an identity whose SAML session has
/// ended must sign in again (`UnauthorizedException`); any other refusal of the role is
/// `ResourceNotFoundException`. Our own failures stay what they are.
fn in_the_model(err: ApiError) -> ApiError {
    match err {
        ApiError::ExpiredToken => ApiError::SsoPortal(SsoPortalFault::Unauthorized),
        e if e.status().is_client_error() => not_found("No access to this role."),
        e => e,
    }
}

/// `Logout`: end `login` ([`login::revoke`]).
pub async fn logout(
    state: &State,
    login: &Login,
    origin: &Origin,
    now: SystemTime,
) -> Result<(), ApiError> {
    login::revoke(state.store(), login, origin, now).await
}

fn epoch_millis(t: SystemTime) -> i64 {
    crate::clock::unix_seconds(t).saturating_mul(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> Query {
        Query(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    fn keys(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{:012}", 100 + i)).collect()
    }

    /// Every page in turn, following the tokens, `max` at a time.
    fn walk(items: &[String], max: &str, list: &str) -> Vec<Vec<String>> {
        let mut pages = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut pairs = vec![("max_result", max)];
            if let Some(t) = &token {
                pairs.push(("next_token", t.as_str()));
            }
            let paging = Paging::of(&query(&pairs), list).unwrap();
            let (got, next) = page(items.to_vec(), |s| s.as_str(), list, &paging);
            pages.push(got);
            match next {
                Some(next) => token = Some(next),
                None => return pages,
            }
            assert!(pages.len() <= items.len() + 1, "pagination ends");
        }
    }

    #[test]
    fn pages_cover_the_list_once_in_order_and_the_last_has_no_token() {
        let items = keys(5);
        let pages = walk(&items, "2", "accounts");
        assert_eq!(
            pages.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![2, 2, 1]
        );
        assert_eq!(pages.concat(), items);
        let exact = walk(&keys(4), "2", "accounts");
        assert_eq!(exact.len(), 2, "no empty page after a full last one");
        assert_eq!(walk(&items, "100", "accounts"), vec![items.clone()]);
        assert_eq!(walk(&[], "1", "accounts"), vec![Vec::<String>::new()]);
    }

    #[test]
    fn a_page_is_at_most_a_hundred_and_a_hundred_without_max_result() {
        let items = keys(150);
        let paging = Paging::of(&query(&[]), "accounts").unwrap();
        let (first, next) = page(items.clone(), |s| s.as_str(), "accounts", &paging);
        assert_eq!(first.len(), DEFAULT_RESULTS);
        assert!(next.is_some());
        for bad in ["0", "101", "-1", "x", "", "1.5"] {
            assert!(
                matches!(
                    Paging::of(&query(&[("max_result", bad)]), "accounts"),
                    Err(ApiError::SsoPortal(SsoPortalFault::InvalidRequest(_)))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_page_token_is_refused_for_another_list_or_when_not_ours() {
        let token = next_token("roles:123456789012", "Reader");
        assert_eq!(
            Paging::of(&query(&[("next_token", &token)]), "roles:123456789012")
                .unwrap()
                .after
                .as_deref(),
            Some("Reader")
        );
        let long = "A".repeat(MAX_NEXT_TOKEN + 1);
        for (bad, list) in [
            (token.as_str(), "roles:210987654321"),
            (token.as_str(), "accounts"),
            ("!!not base64!!", "accounts"),
            ("YWNjb3VudHM", "accounts"),
            (long.as_str(), "accounts"),
        ] {
            assert!(
                matches!(
                    Paging::of(&query(&[("next_token", bad)]), list),
                    Err(ApiError::SsoPortal(SsoPortalFault::InvalidRequest(_)))
                ),
                "{bad:?} for {list}"
            );
        }
        assert_eq!(
            Paging::of(&query(&[("next_token", "")]), "accounts").unwrap(),
            Paging::of(&query(&[]), "accounts").unwrap(),
            "an empty token is the first page"
        );
    }

    #[test]
    fn a_token_names_the_key_it_follows_not_a_position() {
        // A role added before the page boundary between two requests does not repeat one.
        let mut items = vec!["B".to_owned(), "D".to_owned(), "F".to_owned()];
        let paging = Paging::of(&query(&[("max_result", "2")]), "l").unwrap();
        let (first, next) = page(items.clone(), |s| s.as_str(), "l", &paging);
        assert_eq!(first, ["B", "D"]);
        items.insert(0, "A".to_owned());
        let next = next.unwrap();
        let paging = Paging::of(&query(&[("next_token", &next)]), "l").unwrap();
        let (second, _) = page(items, |s| s.as_str(), "l", &paging);
        assert_eq!(second, ["F"]);
    }

    #[test]
    fn the_bearer_must_be_an_unexpired_access_token_of_this_keyring() {
        use aws_lc_rs::rand::SystemRandom;

        use crate::clock::from_unix_seconds;

        const T0: i64 = 1_800_000_000;
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::open(&crate::store::StorageSettings::new(
            dir.path().join("sled"),
            8 << 20,
        ))
        .unwrap();
        let keyring = Keyring::generate(from_unix_seconds(T0)).unwrap();
        let now = from_unix_seconds(T0);
        let login = login::tests::login(T0 + 8 * 3600);
        let tokens = login::issue_tokens(&keyring, &login, now, &SystemRandom::new()).unwrap();
        assert_eq!(
            signed_in(&keyring, &store, Some(&tokens.access_token), now).unwrap(),
            login
        );
        let other = Keyring::generate(now).unwrap();
        let hour = from_unix_seconds(T0 + 3600);
        for (keyring, bearer, at) in [
            (&keyring, None, now),
            (&keyring, Some(""), now),
            (&keyring, Some(tokens.refresh_token.as_str()), now),
            (&other, Some(tokens.access_token.as_str()), now),
            (&keyring, Some(tokens.access_token.as_str()), hour),
        ] {
            assert!(
                matches!(
                    signed_in(keyring, &store, bearer, at),
                    Err(ApiError::SsoPortal(SsoPortalFault::Unauthorized))
                ),
                "{bearer:?} at {at:?}"
            );
        }
    }
}
