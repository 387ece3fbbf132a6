//! The `Condition` element: operators, their compiled values, and how one condition decides.
//!
//! Semantics (AWS IAM User Guide, "Condition operators" and "Single-valued vs. multivalued
//! context keys"):
//! - the values listed for one key are ORed: a request value passes when it matches any of them,
//!   and for a negated operator (`StringNotEquals`, `NotIpAddress`, ...) when it matches none;
//! - a key absent from the request makes a positive operator false and a negated one true,
//!   except that `...IfExists` is then true and `Null` tests the absence itself;
//! - without a set qualifier, a multivalued key passes when any of its values passes (positive)
//!   or when every value does (negated: no request value may match a listed value);
//!   `ForAnyValue:` needs one passing value and is false on a missing or empty key;
//!   `ForAllValues:` needs every value to pass and is true on a missing or empty key.

use std::cmp::Ordering;
use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ipnet::IpNet;
use time::format_description::well_known::{Iso8601, Rfc3339};
use time::{Date, OffsetDateTime, PrimitiveDateTime};

use super::pattern::{Case, Pattern, Syntax};
use super::{ContextKeys, all_of, any_of};

/// ARNs have six colon-separated parts; the last (resource) may itself contain colons.
const ARN_PARTS: usize = 6;

/// A parsed condition operator name such as `ForAllValues:StringNotLikeIfExists`.
#[derive(Debug, Clone)]
pub(super) struct Operator {
    /// As written: `ArnEquals` and `ArnLike` compile alike but stay distinct condition blocks.
    name: String,
    base: Base,
    negated: bool,
    set: SetQualifier,
    if_exists: bool,
}

/// `Null` tests presence; every other operator compares values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Base {
    Null,
    Compare(Family),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    Numeric(Order),
    Date(Order),
    Bool,
    Binary,
    IpAddress,
    /// `ArnEquals` and `ArnLike` behave the same in AWS: both take wildcards per ARN part.
    Arn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    Equals,
    LessThan,
    LessThanEquals,
    GreaterThan,
    GreaterThanEquals,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetQualifier {
    Single,
    ForAnyValue,
    ForAllValues,
}

/// One operator applied to one context key.
#[derive(Debug, Clone)]
pub(super) struct Condition {
    /// Lower-cased: context key names are case-insensitive.
    key: String,
    check: Check,
    written: Written,
}

/// A condition as the policy wrote it, which re-serialising the policy gives back.
#[derive(Debug, Clone)]
pub(super) struct Written {
    pub operator: String,
    pub key: String,
    /// Normalised to text (a JSON `true` or `5` is kept as `"true"`, `"5"`).
    pub values: Vec<String>,
}

#[derive(Debug, Clone)]
enum Check {
    /// `Null`: `true` asks for the key to be absent, `false` for it to be present.
    Null {
        absent: bool,
    },
    Compare(Comparison),
}

#[derive(Debug, Clone)]
struct Comparison {
    test: Test,
    negated: bool,
    set: SetQualifier,
    if_exists: bool,
}

/// The policy values of one condition, compiled for their operator family.
#[derive(Debug, Clone)]
enum Test {
    Equals(Vec<Pattern>),
    EqualsIgnoreCase(Vec<Pattern>),
    Like(Vec<Pattern>),
    Numeric(Order, Vec<f64>),
    /// Unix time in nanoseconds.
    Date(Order, Vec<i128>),
    Bool(Vec<bool>),
    /// Base64 text, compared as written (AWS compares the encoded value).
    Binary(Vec<String>),
    IpAddress(Vec<IpNet>),
    Arn(Vec<ArnPattern>),
}

/// An ARN pattern split into its six parts, each matched separately: a wildcard cannot run
/// across a `:`, so every part must be written out, even as `*`.
#[derive(Debug, Clone)]
struct ArnPattern {
    parts: Vec<Pattern>,
}

impl Operator {
    /// Parses an operator name: optional set qualifier, base operator, optional `IfExists`.
    pub(super) fn parse(name: &str) -> Result<Operator, String> {
        let (set, rest) = if let Some(rest) = name.strip_prefix("ForAnyValue:") {
            (SetQualifier::ForAnyValue, rest)
        } else if let Some(rest) = name.strip_prefix("ForAllValues:") {
            (SetQualifier::ForAllValues, rest)
        } else {
            (SetQualifier::Single, name)
        };
        let (if_exists, base_name) = match rest.strip_suffix("IfExists") {
            Some(base_name) => (true, base_name),
            None => (false, rest),
        };
        let (base, negated) =
            base_operator(base_name).ok_or_else(|| format!("unknown condition operator {name}"))?;
        if base == Base::Null && (if_exists || set != SetQualifier::Single) {
            return Err(format!(
                "condition operator {name}: Null takes neither IfExists nor a set qualifier"
            ));
        }
        Ok(Operator {
            name: name.to_owned(),
            base,
            negated,
            set,
            if_exists,
        })
    }
}

/// The operator table: base name to family and whether it is the negated form.
fn base_operator(name: &str) -> Option<(Base, bool)> {
    use Family as F;
    use Order as O;
    let found = match name {
        "StringEquals" => (Base::Compare(F::StringEquals), false),
        "StringNotEquals" => (Base::Compare(F::StringEquals), true),
        "StringEqualsIgnoreCase" => (Base::Compare(F::StringEqualsIgnoreCase), false),
        "StringNotEqualsIgnoreCase" => (Base::Compare(F::StringEqualsIgnoreCase), true),
        "StringLike" => (Base::Compare(F::StringLike), false),
        "StringNotLike" => (Base::Compare(F::StringLike), true),
        "NumericEquals" => (Base::Compare(F::Numeric(O::Equals)), false),
        "NumericNotEquals" => (Base::Compare(F::Numeric(O::Equals)), true),
        "NumericLessThan" => (Base::Compare(F::Numeric(O::LessThan)), false),
        "NumericLessThanEquals" => (Base::Compare(F::Numeric(O::LessThanEquals)), false),
        "NumericGreaterThan" => (Base::Compare(F::Numeric(O::GreaterThan)), false),
        "NumericGreaterThanEquals" => (Base::Compare(F::Numeric(O::GreaterThanEquals)), false),
        "DateEquals" => (Base::Compare(F::Date(O::Equals)), false),
        "DateNotEquals" => (Base::Compare(F::Date(O::Equals)), true),
        "DateLessThan" => (Base::Compare(F::Date(O::LessThan)), false),
        "DateLessThanEquals" => (Base::Compare(F::Date(O::LessThanEquals)), false),
        "DateGreaterThan" => (Base::Compare(F::Date(O::GreaterThan)), false),
        "DateGreaterThanEquals" => (Base::Compare(F::Date(O::GreaterThanEquals)), false),
        "Bool" => (Base::Compare(F::Bool), false),
        "BinaryEquals" => (Base::Compare(F::Binary), false),
        "IpAddress" => (Base::Compare(F::IpAddress), false),
        "NotIpAddress" => (Base::Compare(F::IpAddress), true),
        "ArnEquals" | "ArnLike" => (Base::Compare(F::Arn), false),
        "ArnNotEquals" | "ArnNotLike" => (Base::Compare(F::Arn), true),
        "Null" => (Base::Null, false),
        _ => return None,
    };
    Some(found)
}

impl Condition {
    /// Compiles `operator` on `key` with the policy's `values` (already normalised to text);
    /// `variables` enables `${...}` in the operators that accept policy variables.
    pub(super) fn compile(
        operator: &Operator,
        key: &str,
        values: &[String],
        variables: bool,
    ) -> Result<Condition, String> {
        let check = match operator.base {
            Base::Null => Check::Null {
                absent: compile_null(values)?,
            },
            Base::Compare(family) => Check::Compare(Comparison {
                test: compile_test(family, values, variables)?,
                negated: operator.negated,
                set: operator.set,
                if_exists: operator.if_exists,
            }),
        };
        Ok(Condition {
            key: key.to_ascii_lowercase(),
            check,
            written: Written {
                operator: operator.name.clone(),
                key: key.to_owned(),
                values: values.to_vec(),
            },
        })
    }

    /// The condition as written in the policy.
    pub(super) fn written(&self) -> &Written {
        &self.written
    }

    /// Whether the condition holds for the request; `None` when a policy variable in its
    /// values cannot be resolved.
    pub(super) fn holds(&self, keys: &ContextKeys, now: SystemTime) -> Option<bool> {
        let fallback;
        let values = match keys.get_lowercase(&self.key) {
            Some(values) => values,
            None => {
                fallback = clock_value(&self.key, now);
                fallback.as_slice()
            }
        };
        match &self.check {
            Check::Null { absent } => Some(values.is_empty() == *absent),
            Check::Compare(comparison) => comparison.holds(values, keys),
        }
    }
}

impl Comparison {
    fn holds(&self, values: &[String], keys: &ContextKeys) -> Option<bool> {
        if values.is_empty() {
            return Some(self.holds_when_missing());
        }
        let passes = values.iter().map(|value| {
            self.test
                .any_matches(value, keys)
                .map(|m| m != self.negated)
        });
        if self.needs_every_value() {
            all_of(passes)
        } else {
            any_of(passes)
        }
    }

    fn holds_when_missing(&self) -> bool {
        self.if_exists
            || match self.set {
                SetQualifier::ForAllValues => true,
                SetQualifier::ForAnyValue => false,
                SetQualifier::Single => self.negated,
            }
    }

    /// A negated operator without qualifier must hold for every request value: "no request
    /// value matches a listed value".
    fn needs_every_value(&self) -> bool {
        match self.set {
            SetQualifier::ForAllValues => true,
            SetQualifier::ForAnyValue => false,
            SetQualifier::Single => self.negated,
        }
    }
}

impl Test {
    /// Whether one request value matches any of the policy values (before negation). A request
    /// value that does not parse for the family (not a number, not an IP address) matches none.
    fn any_matches(&self, value: &str, keys: &ContextKeys) -> Option<bool> {
        match self {
            Test::Equals(patterns) | Test::Like(patterns) => any_of(
                patterns
                    .iter()
                    .map(|pattern| pattern.matches(value, keys, Case::Sensitive)),
            ),
            Test::EqualsIgnoreCase(patterns) => any_of(patterns.iter().map(|pattern| {
                pattern
                    .resolve(keys)
                    .map(|expected| equal_ignoring_case(&expected, value))
            })),
            Test::Numeric(order, numbers) => Some(parse_number(value).is_some_and(|actual| {
                numbers
                    .iter()
                    .any(|expected| order.holds(actual.partial_cmp(expected)))
            })),
            Test::Date(order, times) => Some(parse_time(value).is_some_and(|actual| {
                times
                    .iter()
                    .any(|expected| order.holds(Some(actual.cmp(expected))))
            })),
            Test::Bool(expected) => {
                Some(parse_bool(value).is_some_and(|actual| expected.contains(&actual)))
            }
            Test::Binary(expected) => Some(expected.iter().any(|e| e == value)),
            Test::IpAddress(networks) => Some(
                value
                    .parse::<IpAddr>()
                    .is_ok_and(|address| networks.iter().any(|n| n.contains(&address))),
            ),
            Test::Arn(patterns) => {
                any_of(patterns.iter().map(|pattern| pattern.matches(value, keys)))
            }
        }
    }
}

impl Order {
    fn holds(self, ordering: Option<Ordering>) -> bool {
        let Some(ordering) = ordering else {
            return false;
        };
        match self {
            Order::Equals => ordering == Ordering::Equal,
            Order::LessThan => ordering == Ordering::Less,
            Order::LessThanEquals => ordering != Ordering::Greater,
            Order::GreaterThan => ordering == Ordering::Greater,
            Order::GreaterThanEquals => ordering != Ordering::Less,
        }
    }
}

impl ArnPattern {
    fn compile(text: &str, variables: bool) -> Result<ArnPattern, String> {
        let parts = split_arn(text, variables);
        if parts.len() != ARN_PARTS {
            return Err(format!(
                "\"{text}\" is not an ARN: an ARN has six colon-separated parts"
            ));
        }
        let syntax = Syntax {
            wildcards: true,
            variables,
        };
        let parts = parts
            .into_iter()
            .map(|part| Pattern::compile(part, syntax))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ArnPattern { parts })
    }

    fn matches(&self, arn: &str, keys: &ContextKeys) -> Option<bool> {
        if !self.parts.iter().all(|part| part.resolvable(keys)) {
            return None;
        }
        if arn.split(':').count() < ARN_PARTS {
            return Some(false);
        }
        all_of(
            self.parts
                .iter()
                .zip(arn.splitn(ARN_PARTS, ':'))
                .map(|(pattern, part)| pattern.matches(part, keys, Case::Sensitive)),
        )
    }
}

/// Splits an ARN pattern at its first five colons, leaving colons inside `${...}` variables
/// (such as `${aws:username}`) alone.
fn split_arn(text: &str, variables: bool) -> Vec<&str> {
    let mut parts = Vec::with_capacity(ARN_PARTS);
    let mut start = 0;
    let mut in_variable = false;
    let mut previous = '\0';
    for (at, c) in text.char_indices() {
        match c {
            '{' if variables && previous == '$' => in_variable = true,
            '}' => in_variable = false,
            ':' if !in_variable && parts.len() < ARN_PARTS - 1 => {
                parts.push(text.get(start..at).unwrap_or_default());
                start = at + 1;
            }
            _ => {}
        }
        previous = c;
    }
    parts.push(text.get(start..).unwrap_or_default());
    parts
}

fn compile_test(family: Family, values: &[String], variables: bool) -> Result<Test, String> {
    let literal = Syntax {
        wildcards: false,
        variables,
    };
    let glob = Syntax {
        wildcards: true,
        variables,
    };
    Ok(match family {
        Family::StringEquals => {
            Test::Equals(compile_each(values, |v| Pattern::compile(v, literal))?)
        }
        Family::StringEqualsIgnoreCase => {
            Test::EqualsIgnoreCase(compile_each(values, |v| Pattern::compile(v, literal))?)
        }
        Family::StringLike => Test::Like(compile_each(values, |v| Pattern::compile(v, glob))?),
        Family::Numeric(order) => Test::Numeric(
            order,
            compile_each(values, |v| {
                parse_number(v).ok_or_else(|| format!("\"{v}\" is not a number"))
            })?,
        ),
        Family::Date(order) => Test::Date(
            order,
            compile_each(values, |v| {
                parse_time(v)
                    .ok_or_else(|| format!("\"{v}\" is not an ISO 8601 date-time or epoch seconds"))
            })?,
        ),
        Family::Bool => Test::Bool(compile_each(values, |v| {
            parse_bool(v).ok_or_else(|| format!("\"{v}\" is not true or false"))
        })?),
        Family::Binary => Test::Binary(compile_each(values, |v| {
            BASE64
                .decode(v)
                .map(|_| v.to_owned())
                .map_err(|_| format!("\"{v}\" is not base64"))
        })?),
        Family::IpAddress => Test::IpAddress(compile_each(values, |v| {
            parse_network(v).ok_or_else(|| format!("\"{v}\" is not an IP address or CIDR block"))
        })?),
        Family::Arn => Test::Arn(compile_each(values, |v| ArnPattern::compile(v, variables))?),
    })
}

/// Compiles every value, reporting all the bad ones together.
fn compile_each<T>(
    values: &[String],
    compile: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    let (compiled, errors): (Vec<_>, Vec<_>) = values
        .iter()
        .map(String::as_str)
        .map(compile)
        .partition(Result::is_ok);
    if errors.is_empty() {
        Ok(compiled.into_iter().filter_map(Result::ok).collect())
    } else {
        Err(errors
            .into_iter()
            .filter_map(Result::err)
            .collect::<Vec<_>>()
            .join("; "))
    }
}

fn compile_null(values: &[String]) -> Result<bool, String> {
    match values {
        [value] => parse_bool(value).ok_or_else(|| format!("\"{value}\" is not true or false")),
        _ => Err("Null takes exactly one value, true or false".to_owned()),
    }
}

/// AWS always knows the time: `aws:CurrentTime` and `aws:EpochTime` come from `now` when the
/// request does not carry them. Any other absent key has no values.
fn clock_value(key: &str, now: SystemTime) -> Vec<String> {
    let nanos = unix_nanos(now);
    match key {
        "aws:currenttime" => OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .ok()
            .and_then(|time| time.format(&Rfc3339).ok())
            .into_iter()
            .collect(),
        "aws:epochtime" => vec![nanos.div_euclid(1_000_000_000).to_string()],
        _ => Vec::new(),
    }
}

fn unix_nanos(time: SystemTime) -> i128 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i128::try_from(after.as_nanos()).unwrap_or(i128::MAX),
        Err(before) => i128::try_from(before.duration().as_nanos()).map_or(i128::MIN, |n| -n),
    }
}

fn equal_ignoring_case(a: &str, b: &str) -> bool {
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

/// A finite decimal number (`inf` and `NaN`, which Rust would parse, are not numbers here).
fn parse_number(text: &str) -> Option<f64> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|number| number.is_finite())
}

/// Epoch seconds or an ISO 8601 date, date-time (UTC unless an offset is given).
fn parse_time(text: &str) -> Option<i128> {
    if let Ok(seconds) = text.parse::<i64>() {
        return Some(i128::from(seconds) * 1_000_000_000);
    }
    OffsetDateTime::parse(text, &Iso8601::PARSING)
        .or_else(|_| {
            PrimitiveDateTime::parse(text, &Iso8601::PARSING).map(PrimitiveDateTime::assume_utc)
        })
        .or_else(|_| Date::parse(text, &Iso8601::PARSING).map(|d| d.midnight().assume_utc()))
        .ok()
        .map(OffsetDateTime::unix_timestamp_nanos)
}

fn parse_bool(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// A CIDR block, or a single address taken as a /32 or /128.
fn parse_network(text: &str) -> Option<IpNet> {
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}
