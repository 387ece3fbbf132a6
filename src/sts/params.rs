//! Query parameters: parsing the form/query string and checking members against the STS model's
//! constraints, collecting every violation as AWS reports them.

use std::collections::HashMap;

use crate::action::Action;
use crate::audit;
use crate::error::{ApiError, Violation};
use crate::identity::SessionTags;
use crate::principal::MfaCode;

/// The decoded parameters of one request. The first occurrence of a name wins.
#[derive(Debug, Default)]
pub struct Params {
    map: HashMap<String, String>,
}

impl Params {
    /// Decode `application/x-www-form-urlencoded` bytes (a POST body or a query string).
    pub fn parse(raw: &[u8]) -> Result<Self, ApiError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(raw).map_err(|_| {
            ApiError::ValidationMessage("The request parameters are not valid form encoding.")
        })?;
        let mut map = HashMap::with_capacity(pairs.len());
        for (k, v) in pairs {
            map.entry(k).or_insert(v);
        }
        Ok(Self { map })
    }

    /// Merge another set (query string parameters under a POST body); existing names win.
    pub fn merge(&mut self, other: Params) {
        for (k, v) in other.map {
            self.map.entry(k).or_insert(v);
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }

    /// `Prefix.member.N[.field]` values in index order (N = 1, 2, ...), stopping at the first gap.
    pub fn members(&self, prefix: &str, field: Option<&str>) -> Vec<&str> {
        let mut out = Vec::new();
        for n in 1.. {
            let key = match field {
                Some(f) => format!("{prefix}.member.{n}.{f}"),
                None => format!("{prefix}.member.{n}"),
            };
            match self.get(&key) {
                Some(v) => out.push(v),
                None => break,
            }
        }
        out
    }

    /// What the audit trail records of a request for `action`: the action's own members of
    /// the STS model (never a token, assertion, MFA code or signature; never a parameter the
    /// action does not take), each value cut to [`audit::MAX_VALUE_CHARS`], lists to their
    /// first [`AUDIT_LIST_ITEMS`], all within [`AUDIT_BUDGET_BYTES`] (what did not fit is
    /// counted under `"…"`). A stranger's refused request thus costs a bounded event.
    pub fn for_audit(&self, action: Action) -> serde_json::Value {
        use serde_json::Value;
        let (scalars, lists) = audited_members(action);
        let value = |v: &str| Value::String(audit::cut(v, audit::MAX_VALUE_CHARS));
        let mut recorded = Vec::new();
        for name in scalars {
            if let Some(v) = self.get(name) {
                recorded.push((lower_camel(name), value(v)));
            }
        }
        for (list, fields) in lists {
            let items: Vec<Value> = match fields {
                [] => self.members(list, None).into_iter().map(value).collect(),
                fields => (1..=AUDIT_LIST_ITEMS)
                    .map_while(|n| {
                        let entry: serde_json::Map<String, Value> = fields
                            .iter()
                            .filter_map(|field| {
                                self.get(&format!("{list}.member.{n}.{field}"))
                                    .map(|v| (lower_camel(field), value(v)))
                            })
                            .collect();
                        (!entry.is_empty()).then_some(Value::Object(entry))
                    })
                    .collect(),
            };
            if !items.is_empty() {
                let items = items.into_iter().take(AUDIT_LIST_ITEMS).collect();
                recorded.push((lower_camel(list), Value::Array(items)));
            }
        }
        let mut out = serde_json::Map::new();
        let mut used = 2;
        let mut left_out = 0;
        for (name, value) in recorded {
            let size = name.len() + value.to_string().len() + 4;
            if used + size > AUDIT_BUDGET_BYTES {
                left_out += 1;
                continue;
            }
            used += size;
            out.insert(name, value);
        }
        if left_out > 0 {
            out.insert(
                "…".to_owned(),
                Value::String(format!("{left_out} more parameters not recorded")),
            );
        }
        Value::Object(out)
    }
}

/// List members the audit trail records at most.
pub const AUDIT_LIST_ITEMS: usize = 10;
/// The most bytes (JSON) of parameters one audit event records.
pub const AUDIT_BUDGET_BYTES: usize = 640;

/// The members of `action` the audit trail records: scalars, and lists with their fields
/// (`Tags.member.N.Key`; none for `TransitiveTagKeys.member.N`). Never `WebIdentityToken`,
/// `SAMLAssertion`, `TokenCode` or `EncodedMessage`.
fn audited_members(
    action: Action,
) -> (
    &'static [&'static str],
    &'static [(&'static str, &'static [&'static str])],
) {
    const POLICY_ARNS: (&str, &[&str]) = ("PolicyArns", &["arn"]);
    const TAGS: (&str, &[&str]) = ("Tags", &["Key", "Value"]);
    match action {
        Action::AssumeRole => (
            &[
                "RoleArn",
                "RoleSessionName",
                "DurationSeconds",
                "ExternalId",
                "SerialNumber",
                "SourceIdentity",
                "Policy",
            ],
            &[POLICY_ARNS, TAGS, ("TransitiveTagKeys", &[])],
        ),
        Action::AssumeRoleWithWebIdentity => (
            &[
                "RoleArn",
                "RoleSessionName",
                "DurationSeconds",
                "ProviderId",
                "Policy",
            ],
            &[POLICY_ARNS],
        ),
        Action::AssumeRoleWithSaml => (
            &["RoleArn", "PrincipalArn", "DurationSeconds", "Policy"],
            &[POLICY_ARNS],
        ),
        Action::GetSessionToken => (&["DurationSeconds", "SerialNumber"], &[]),
        Action::GetFederationToken => {
            (&["Name", "DurationSeconds", "Policy"], &[POLICY_ARNS, TAGS])
        }
        Action::GetAccessKeyInfo => (&["AccessKeyId"], &[]),
        Action::GetCallerIdentity | Action::DecodeAuthorizationMessage => (&[], &[]),
    }
}

fn lower_camel(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// `[\w+=,.@-]` as the STS model's patterns use it (Java's `\w` is ASCII).
pub use crate::arn::is_iam_name_char as is_name_char;

pub const NAME_PATTERN: &str = "[\\w+=,.@-]*";

/// The members every AssumeRole* action shares.
#[derive(Debug)]
pub struct SessionMembers<'p> {
    /// `DurationSeconds`, 900-43200 (the role's maximum is checked later).
    pub duration: Option<i64>,
    /// `Policy`, the inline session policy (1-2048 characters; validated later).
    pub policy: Option<&'p str>,
    /// `PolicyArns.member.N.arn`, at most 10.
    pub policy_arns: Vec<&'p str>,
}

/// Collects constraint violations for one request. A required member that is missing reads as
/// `""` (and is a violation): no value read from a checker is used unless [`Checker::finish`]
/// found no violation.
#[derive(Debug, Default)]
pub struct Checker {
    violations: Vec<Violation>,
}

/// Whether a value may be echoed back in an error (never for tokens, assertions, policies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Echo {
    Yes,
    No,
}

impl Checker {
    fn violate(&mut self, member: &'static str, value: &str, echo: Echo, constraint: String) {
        self.violations.push(Violation {
            member,
            value: (echo == Echo::Yes).then(|| value.to_owned()),
            constraint,
            missing: false,
        });
    }

    /// A required member: records `Member must not be null` when absent (and reads as `""`).
    pub fn required<'p>(
        &mut self,
        params: &'p Params,
        name: &str,
        member: &'static str,
    ) -> &'p str {
        match params.get(name) {
            Some(value) => value,
            None => {
                self.violations.push(Violation {
                    member,
                    value: None,
                    constraint: "Member must not be null".into(),
                    missing: true,
                });
                ""
            }
        }
    }

    /// A required member of `min..=max` characters.
    pub fn required_len<'p>(
        &mut self,
        params: &'p Params,
        name: &str,
        member: &'static str,
        (min, max): (usize, usize),
        echo: Echo,
    ) -> &'p str {
        let Some(value) = params.get(name) else {
            return self.required(params, name, member);
        };
        self.length(member, value, min, max, echo);
        value
    }

    /// `RoleArn` (20-2048) and `RoleSessionName` (2-64 of `[\w+=,.@-]`), both required.
    pub fn role_and_session_name<'p>(&mut self, params: &'p Params) -> (&'p str, &'p str) {
        let role_arn = self.required_len(params, "RoleArn", "roleArn", (20, 2048), Echo::Yes);
        if let Some(name) = params.get("RoleSessionName") {
            self.length("roleSessionName", name, 2, 64, Echo::Yes);
            self.pattern(
                "roleSessionName",
                name,
                NAME_PATTERN,
                is_name_char,
                Echo::Yes,
            );
        }
        let session_name = self.required(params, "RoleSessionName", "roleSessionName");
        (role_arn, session_name)
    }

    /// `DurationSeconds`, `Policy` and `PolicyArns`, as every AssumeRole* action takes them.
    pub fn session_members<'p>(&mut self, params: &'p Params) -> SessionMembers<'p> {
        let duration = params
            .get("DurationSeconds")
            .and_then(|d| self.integer("durationSeconds", d, 900, 43200));
        let (policy, policy_arns) = self.session_policies(params);
        SessionMembers {
            duration,
            policy,
            policy_arns,
        }
    }

    /// `Policy` (1-2048 characters) and `PolicyArns` (at most 10 ARNs of 20-2048).
    pub fn session_policies<'p>(&mut self, params: &'p Params) -> (Option<&'p str>, Vec<&'p str>) {
        let policy = params.get("Policy");
        if let Some(p) = policy {
            self.length("policy", p, 1, 2048, Echo::No);
        }
        let policy_arns = params.members("PolicyArns", Some("arn"));
        self.list_len("policyArns", policy_arns.len(), 10);
        for arn in &policy_arns {
            self.length("policyArns.member.arn", arn, 20, 2048, Echo::Yes);
        }
        (policy, policy_arns)
    }

    /// `Tags.member.N.Key`/`.Value`, at most 50 (their own limits are checked with the tags of
    /// the identity, in `federation`).
    pub fn tags(&mut self, params: &Params) -> SessionTags {
        let keys = params.members("Tags", Some("Key"));
        let values = params.members("Tags", Some("Value"));
        self.list_len("tags", keys.len(), 50);
        let mut tags = SessionTags::default();
        for (i, key) in keys.iter().enumerate() {
            let value = values.get(i).copied().unwrap_or_default();
            tags.principal_tags
                .insert((*key).to_owned(), value.to_owned());
        }
        tags
    }

    /// `SerialNumber` (9-256 of `[\w+=/:,.@-]`) and `TokenCode` (6 digits), which come
    /// together or not at all.
    pub fn mfa_code<'p>(&mut self, params: &'p Params) -> Option<MfaCode<'p>> {
        let serial = params.get("SerialNumber");
        let code = params.get("TokenCode");
        if let Some(s) = serial {
            self.length("serialNumber", s, 9, 256, Echo::Yes);
            self.pattern(
                "serialNumber",
                s,
                "[\\w+=/:,.@-]*",
                |c| is_name_char(c) || c == '/' || c == ':',
                Echo::Yes,
            );
        }
        if let Some(c) = code {
            self.length("tokenCode", c, 6, 6, Echo::No);
            self.pattern("tokenCode", c, "[\\d]*", |c| c.is_ascii_digit(), Echo::No);
        }
        match (serial, code) {
            (Some(serial_number), Some(token_code)) => Some(MfaCode {
                serial_number,
                token_code,
            }),
            (None, None) => None,
            (Some(_), None) => {
                self.required(params, "TokenCode", "tokenCode");
                None
            }
            (None, Some(_)) => {
                self.required(params, "SerialNumber", "serialNumber");
                None
            }
        }
    }

    /// Length in characters within `min..=max`.
    pub fn length(
        &mut self,
        member: &'static str,
        value: &str,
        min: usize,
        max: usize,
        echo: Echo,
    ) {
        let n = value.chars().count();
        if n < min {
            self.violate(
                member,
                value,
                echo,
                format!("Member must have length greater than or equal to {min}"),
            );
        } else if n > max {
            self.violate(
                member,
                value,
                echo,
                format!("Member must have length less than or equal to {max}"),
            );
        }
    }

    /// Every character satisfies `allowed` (the model's `pattern`).
    pub fn pattern(
        &mut self,
        member: &'static str,
        value: &str,
        pattern: &str,
        allowed: impl Fn(char) -> bool,
        echo: Echo,
    ) {
        if !value.chars().all(allowed) {
            self.violate(
                member,
                value,
                echo,
                format!("Member must satisfy regular expression pattern: {pattern}"),
            );
        }
    }

    /// An integer member within `min..=max`.
    pub fn integer(
        &mut self,
        member: &'static str,
        value: &str,
        min: i64,
        max: i64,
    ) -> Option<i64> {
        let Ok(n) = value.trim().parse::<i64>() else {
            self.violate(member, value, Echo::Yes, "Member must be a number".into());
            return None;
        };
        if n < min {
            self.violate(
                member,
                value,
                Echo::Yes,
                format!("Member must have value greater than or equal to {min}"),
            );
            None
        } else if n > max {
            self.violate(
                member,
                value,
                Echo::Yes,
                format!("Member must have value less than or equal to {max}"),
            );
            None
        } else {
            Some(n)
        }
    }

    /// A list member with at most `max` entries.
    pub fn list_len(&mut self, member: &'static str, len: usize, max: usize) {
        if len > max {
            self.violations.push(Violation {
                member,
                value: None,
                constraint: format!("Member must have length less than or equal to {max}"),
                missing: false,
            });
        }
    }

    pub fn finish(self) -> Result<(), ApiError> {
        if self.violations.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.violations))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_form_and_keeps_first_duplicate() {
        let p = Params::parse(b"Action=A&RoleArn=x%2By&Action=B").unwrap();
        assert_eq!(p.get("Action"), Some("A"));
        assert_eq!(p.get("RoleArn"), Some("x+y"));
    }

    #[test]
    fn members_stop_at_first_gap() {
        let p = Params::parse(
            b"PolicyArns.member.1.arn=a&PolicyArns.member.2.arn=b&PolicyArns.member.4.arn=d",
        )
        .unwrap();
        assert_eq!(p.members("PolicyArns", Some("arn")), vec!["a", "b"]);
    }

    #[test]
    fn audit_view_drops_credentials() {
        let p = Params::parse(b"Action=X&Version=1&WebIdentityToken=secret&RoleArn=r").unwrap();
        let v = p.for_audit(Action::AssumeRoleWithWebIdentity);
        assert_eq!(v, serde_json::json!({"roleArn": "r"}));
    }

    #[test]
    fn audit_view_keeps_known_members_only_cut_and_within_budget() {
        let junk = "J".repeat(250_000);
        let long = "a".repeat(3000);
        let body = format!(
            "Action=AssumeRole&Version=2011-06-15&RoleArn={long}&RoleSessionName=s&Junk={junk}\
             &TokenCode=123456&Tags.member.1.Key=team&Tags.member.1.Value=blue\
             &PolicyArns.member.1.arn=arn:aws:iam::123456789012:policy/p&Policy={long}\
             &ExternalId={long}&SerialNumber={long}&SourceIdentity={long}"
        );
        let v = Params::parse(body.as_bytes())
            .unwrap()
            .for_audit(Action::AssumeRole);
        let text = v.to_string();
        assert!(
            text.len() <= AUDIT_BUDGET_BYTES + 64,
            "{} bytes",
            text.len()
        );
        assert!(v.get("junk").is_none() && v.get("tokenCode").is_none());
        assert!(
            v["roleArn"]
                .as_str()
                .unwrap()
                .ends_with("…[2872 more characters]")
        );
        assert_eq!(v["roleSessionName"], "s");
        assert!(v["…"].as_str().unwrap().contains("more parameters"), "{v}");
        let tags = Params::parse(b"Tags.member.1.Key=a&Tags.member.1.Value=b&Tags.member.2.Key=c")
            .unwrap()
            .for_audit(Action::GetFederationToken);
        assert_eq!(
            tags["tags"],
            serde_json::json!([{"key": "a", "value": "b"}, {"key": "c"}])
        );
    }

    #[test]
    fn checker_collects_every_violation() {
        let p = Params::parse(b"RoleSessionName=a").unwrap();
        let mut c = Checker::default();
        assert_eq!(c.required(&p, "RoleArn", "roleArn"), "");
        let name = c.required(&p, "RoleSessionName", "roleSessionName");
        c.length("roleSessionName", name, 2, 64, Echo::Yes);
        c.integer("durationSeconds", "12", 900, 43200);
        let Err(ApiError::Validation(v)) = c.finish() else {
            panic!("expected violations")
        };
        assert_eq!(v.len(), 3);
    }

    #[test]
    fn hidden_values_are_not_echoed() {
        let mut c = Checker::default();
        c.length("webIdentityToken", "abc", 4, 20000, Echo::No);
        let Err(e) = c.finish() else { panic!() };
        assert!(!e.message().contains("abc"));
    }
}
