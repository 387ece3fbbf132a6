//! From policy JSON to compiled statements, collecting every problem (`MalformedPolicyDocument`)
//! rather than stopping at the first, so an operator fixes a document in one pass.
//!
//! Grammar (AWS IAM User Guide, "IAM JSON policy element reference"): a top-level object with
//! `Version`, `Id` and `Statement` (one statement object or an array of them); a statement has
//! `Sid`, `Effect`, `Principal`/`NotPrincipal`, `Action`/`NotAction`,
//! `Resource`/`NotResource` and `Condition`. Element names are case-sensitive, and no object
//! anywhere in the document may name a member twice (serde_json alone would keep the last).

use std::collections::BTreeSet;
use std::fmt::Display;

use serde_json::{Map, Value};

use super::condition::{Condition, Operator};
use super::pattern::{Pattern, Syntax};
use super::principal::{PrincipalEntry, PrincipalType};
use super::statement::{Effect, Listed, Statement};
use super::{Policy, PolicyKind};
use crate::json;

/// The current policy language; the only one with policy variables.
const VERSION_2012: &str = "2012-10-17";
/// The legacy language, also what a policy without `Version` is read as.
const VERSION_2008: &str = "2008-10-17";

const TOP_LEVEL_ELEMENTS: [&str; 3] = ["Version", "Id", "Statement"];
const STATEMENT_ELEMENTS: [&str; 9] = [
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

/// Problems found so far, each prefixed with where in the document it is.
#[derive(Default)]
struct Problems(Vec<String>);

/// Proof that a problem was recorded: what an element parser returns instead of a value, so
/// the caller goes on checking the rest of the document.
struct Reported;

/// The outcome of parsing one element.
type Parsed<T> = Result<T, Reported>;

impl Problems {
    fn add(&mut self, at: &str, what: impl Display) -> Reported {
        self.0.push(if at.is_empty() {
            what.to_string()
        } else {
            format!("{at}: {what}")
        });
        Reported
    }

    fn count(&self) -> usize {
        self.0.len()
    }
}

/// What the statements of one policy are checked against.
struct Rules {
    kind: PolicyKind,
    /// `${...}` is a variable only in `Version` 2012-10-17 policies.
    variables: bool,
}

/// Parses and compiles a whole policy; `Err` lists every problem found.
pub(super) fn parse_policy(text: &str, kind: PolicyKind) -> Result<Policy, Vec<String>> {
    let mut problems = Problems::default();
    check_size(text, kind, &mut problems);
    let document = match json::from_str(text) {
        Ok(read) => {
            check_duplicates(&read.duplicates, &mut problems);
            read.value
        }
        Err(error) => {
            problems.add("", format!("Syntax errors in policy: {error}"));
            return Err(problems.0);
        }
    };
    let document = match document {
        Value::Object(document) => document,
        _ => {
            problems.add(
                "",
                "Syntax errors in policy: the policy must be a JSON object",
            );
            return Err(problems.0);
        }
    };
    check_unknown(&document, &TOP_LEVEL_ELEMENTS, "", &mut problems);
    let version = parse_version(document.get("Version"), &mut problems);
    let rules = Rules {
        kind,
        variables: version == Some(VERSION_2012),
    };
    let id = match document.get("Id") {
        None => None,
        Some(Value::String(id)) => Some(id.clone()),
        Some(_) => {
            problems.add("", "Id must be a string");
            None
        }
    };
    let raw_statements = statement_list(document.get("Statement"), &mut problems);
    check_unique_sids(&raw_statements, &mut problems);
    let statements: Vec<Statement> = raw_statements
        .iter()
        .enumerate()
        .filter_map(|(index, raw)| parse_statement(index, raw, &rules, &mut problems))
        .collect();
    if problems.0.is_empty() {
        Ok(Policy {
            kind,
            version,
            id,
            statements,
        })
    } else {
        Err(problems.0)
    }
}

/// AWS counts policy size without whitespace against a per-kind quota.
fn check_size(text: &str, kind: PolicyKind, problems: &mut Problems) {
    let size = Policy::len_without_whitespace(text);
    let limit = kind.size_limit();
    if size > limit {
        problems.add(
            "",
            format!(
                "the {} is {size} characters long without whitespace; the limit is {limit}",
                kind.label()
            ),
        );
    }
}

/// A member named twice in one object (anywhere in the document: a statement, a `Condition`
/// block, an operator's keys, a `Principal`) is a problem, not "the last one wins": a second
/// `Condition` would otherwise silently replace the first.
fn check_duplicates(duplicates: &[json::Duplicate], problems: &mut Problems) {
    for duplicate in duplicates {
        problems.add(
            &duplicate.at,
            format!(
                "Duplicate member {:?}: a JSON object may name each member only once",
                duplicate.name
            ),
        );
    }
}

fn check_unknown(element: &Map<String, Value>, known: &[&str], at: &str, problems: &mut Problems) {
    for name in element
        .keys()
        .filter(|name| !known.contains(&name.as_str()))
    {
        problems.add(at, format!("Unknown field {name}"));
    }
}

/// The policy language version as written; `None` when absent (read as the legacy language).
fn parse_version(version: Option<&Value>, problems: &mut Problems) -> Option<&'static str> {
    match version {
        None => None,
        Some(Value::String(version)) if version == VERSION_2012 => Some(VERSION_2012),
        Some(Value::String(version)) if version == VERSION_2008 => Some(VERSION_2008),
        Some(other) => {
            problems.add(
                "",
                format!("Version must be \"{VERSION_2012}\" or \"{VERSION_2008}\", not {other}"),
            );
            None
        }
    }
}

fn statement_list<'a>(statement: Option<&'a Value>, problems: &mut Problems) -> Vec<&'a Value> {
    let problem = match statement {
        Some(Value::Array(items)) if !items.is_empty() => return items.iter().collect(),
        Some(one @ Value::Object(_)) => return vec![one],
        None => "Missing required field Statement",
        Some(Value::Array(_)) => "Statement must hold at least one statement",
        Some(_) => "Statement must be an object or an array of objects",
    };
    problems.add("", problem);
    Vec::new()
}

/// Statement IDs must be unique within a policy (an empty Sid counts as none).
fn check_unique_sids(statements: &[&Value], problems: &mut Problems) {
    let mut seen = BTreeSet::new();
    for sid in statements
        .iter()
        .filter_map(|statement| statement.get("Sid")?.as_str())
        .filter(|sid| !sid.is_empty())
    {
        if !seen.insert(sid) {
            problems.add(
                "",
                format!("Statement IDs (SID) in a single policy must be unique: \"{sid}\""),
            );
        }
    }
}

fn parse_statement(
    index: usize,
    raw: &Value,
    rules: &Rules,
    problems: &mut Problems,
) -> Option<Statement> {
    let at = format!("Statement[{index}]");
    let Value::Object(element) = raw else {
        problems.add(&at, "a statement must be a JSON object");
        return None;
    };
    let before = problems.count();
    check_unknown(element, &STATEMENT_ELEMENTS, &at, problems);
    let sid = parse_sid(element.get("Sid"), &at, problems);
    let effect = parse_effect(element.get("Effect"), &at, problems);
    let principal = parse_principal(element, &at, rules, problems);
    let action = parse_action(element, &at, problems);
    let resource = parse_resource(element, &at, rules, problems);
    let conditions = parse_conditions(element.get("Condition"), &at, rules, problems);
    if problems.count() > before {
        return None;
    }
    Some(Statement {
        sid: sid.ok()?,
        effect: effect.ok()?,
        principal: principal.ok()?,
        action: action.ok()?,
        resource: resource.ok()?,
        conditions: conditions.ok()?,
    })
}

/// `None` for a statement without a Sid; an empty Sid (as the AWS console writes) is none too.
fn parse_sid(sid: Option<&Value>, at: &str, problems: &mut Problems) -> Parsed<Option<String>> {
    match sid {
        None => Ok(None),
        Some(Value::String(sid)) if sid.is_empty() => Ok(None),
        Some(Value::String(sid)) if sid.bytes().all(|b| b.is_ascii_alphanumeric()) => {
            Ok(Some(sid.clone()))
        }
        Some(Value::String(sid)) => Err(problems.add(
            at,
            format!("Statement IDs (SID) must be alpha-numeric, not \"{sid}\""),
        )),
        Some(_) => Err(problems.add(at, "Sid must be a string")),
    }
}

fn parse_effect(effect: Option<&Value>, at: &str, problems: &mut Problems) -> Parsed<Effect> {
    match effect {
        Some(Value::String(effect)) if effect == "Allow" => Ok(Effect::Allow),
        Some(Value::String(effect)) if effect == "Deny" => Ok(Effect::Deny),
        None => Err(problems.add(at, "Missing required field Effect")),
        Some(other) => Err(problems.add(
            at,
            format!("Effect must be \"Allow\" or \"Deny\", not {other}"),
        )),
    }
}

/// The element or its `Not` form, with whether it was the `Not` form; `None` when neither is
/// present. Both at once is a problem.
fn element_or_not<'a>(
    element: &'a Map<String, Value>,
    name: &str,
    at: &str,
    problems: &mut Problems,
) -> Parsed<Option<(&'a Value, bool)>> {
    let not_name = format!("Not{name}");
    match (element.get(name), element.get(&not_name)) {
        (Some(_), Some(_)) => Err(problems.add(
            at,
            format!("a statement cannot have both {name} and {not_name}"),
        )),
        (Some(value), None) => Ok(Some((value, false))),
        (None, Some(value)) => Ok(Some((value, true))),
        (None, None) => Ok(None),
    }
}

fn element_name(name: &str, negated: bool) -> String {
    if negated {
        format!("Not{name}")
    } else {
        name.to_owned()
    }
}

fn parse_principal(
    element: &Map<String, Value>,
    at: &str,
    rules: &Rules,
    problems: &mut Problems,
) -> Parsed<Option<Listed<PrincipalEntry>>> {
    let found = element_or_not(element, "Principal", at, problems)?;
    match (found, rules.kind.wants_principal()) {
        (None, false) => Ok(None),
        (None, true) => Err(problems.add(at, "Missing required field Principal")),
        (Some((_, negated)), false) => Err(problems.add(
            at,
            format!(
                "Has prohibited field {}: a {} applies to whoever holds it",
                element_name("Principal", negated),
                rules.kind.label()
            ),
        )),
        (Some((value, negated)), true) => {
            let field = element_name("Principal", negated);
            let items = principal_entries(value, &field, at, problems)?;
            Ok(Some(Listed { items, negated }))
        }
    }
}

fn principal_entries(
    value: &Value,
    field: &str,
    at: &str,
    problems: &mut Problems,
) -> Parsed<Vec<PrincipalEntry>> {
    let types = match value {
        Value::String(anyone) if anyone == "*" => return Ok(vec![PrincipalEntry::Anyone]),
        Value::Object(types) if !types.is_empty() => types,
        _ => {
            return Err(problems.add(
                at,
                format!(
                    "Invalid principal in policy: {field} must be \"*\" or a map of \
                     AWS, Federated, Service or CanonicalUser to ids"
                ),
            ));
        }
    };
    let before = problems.count();
    let mut entries = Vec::new();
    for (name, ids) in types {
        let Some(kind) = PrincipalType::from_element(name) else {
            problems.add(
                at,
                format!("Invalid principal in policy: unknown principal type {name}"),
            );
            continue;
        };
        if let Ok(ids) = string_list(ids, &format!("{field}.{name}"), at, problems) {
            entries.extend(ids.into_iter().map(|id| PrincipalEntry::typed(kind, id)));
        }
    }
    if problems.count() == before {
        Ok(entries)
    } else {
        Err(Reported)
    }
}

fn parse_action(
    element: &Map<String, Value>,
    at: &str,
    problems: &mut Problems,
) -> Parsed<Listed<Pattern>> {
    let Some((value, negated)) = element_or_not(element, "Action", at, problems)? else {
        return Err(problems.add(at, "Missing required field Action"));
    };
    let names = string_list(value, &element_name("Action", negated), at, problems)?;
    let items = compile_all(names, compile_action, at, problems)?;
    Ok(Listed { items, negated })
}

/// `*` or `service:action`, where the action part may use wildcards. Policy variables are not
/// allowed in actions.
fn compile_action(name: &str) -> Result<Pattern, String> {
    let valid = name == "*"
        || name.split_once(':').is_some_and(|(service, action)| {
            !service.is_empty()
                && service
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !action.is_empty()
                && !action.contains(':')
                && !action.contains(char::is_whitespace)
        });
    if !valid {
        return Err(format!(
            "Action \"{name}\" must be \"*\" or \"service:action\" (prefaced by a vendor, e.g. sts)"
        ));
    }
    Pattern::compile(
        name,
        Syntax {
            wildcards: true,
            variables: false,
        },
    )
}

fn parse_resource(
    element: &Map<String, Value>,
    at: &str,
    rules: &Rules,
    problems: &mut Problems,
) -> Parsed<Option<Listed<Pattern>>> {
    let Some((value, negated)) = element_or_not(element, "Resource", at, problems)? else {
        if rules.kind.requires_resource() {
            return Err(problems.add(at, "Missing required field Resource"));
        }
        return Ok(None);
    };
    let names = string_list(value, &element_name("Resource", negated), at, problems)?;
    let items = compile_all(
        names,
        |name| compile_resource(name, rules.variables),
        at,
        problems,
    )?;
    Ok(Some(Listed { items, negated }))
}

fn compile_resource(name: &str, variables: bool) -> Result<Pattern, String> {
    if name != "*" && !name.starts_with("arn:") {
        return Err(format!("Resource {name} must be in ARN format or \"*\""));
    }
    Pattern::compile(
        name,
        Syntax {
            wildcards: true,
            variables,
        },
    )
}

/// `{"Operator": {"key": value-or-values, ...}, ...}`: every operator and key is ANDed.
fn parse_conditions(
    block: Option<&Value>,
    at: &str,
    rules: &Rules,
    problems: &mut Problems,
) -> Parsed<Vec<Condition>> {
    let operators = match block {
        None => return Ok(Vec::new()),
        Some(Value::Object(operators)) => operators,
        Some(_) => return Err(problems.add(at, "Condition must be a JSON object")),
    };
    let before = problems.count();
    let mut conditions = Vec::new();
    for (name, keys) in operators {
        let operator = match Operator::parse(name) {
            Ok(operator) => operator,
            Err(problem) => {
                problems.add(at, problem);
                continue;
            }
        };
        let here = format!("{at}.Condition.{name}");
        let Value::Object(keys) = keys else {
            problems.add(&here, "must map condition keys to values");
            continue;
        };
        for (key, values) in keys {
            let here = format!("{here}.{key}");
            if !has_vendor_prefix(key) {
                problems.add(
                    &here,
                    "condition keys must be prefaced by a vendor, e.g. aws:",
                );
            }
            let Ok(values) = condition_values(values, &here, problems) else {
                continue;
            };
            match Condition::compile(&operator, key, &values, rules.variables) {
                Ok(condition) => conditions.push(condition),
                Err(problem) => {
                    problems.add(&here, problem);
                }
            }
        }
    }
    if problems.count() == before {
        Ok(conditions)
    } else {
        Err(Reported)
    }
}

fn has_vendor_prefix(key: &str) -> bool {
    key.split_once(':')
        .is_some_and(|(vendor, name)| !vendor.is_empty() && !name.is_empty())
}

/// A condition value is a string, number or boolean, or a non-empty array of them; all are
/// normalised to text (AWS accepts `"aws:MultiFactorAuthPresent": true`).
fn condition_values(value: &Value, at: &str, problems: &mut Problems) -> Parsed<Vec<String>> {
    let values = match value {
        Value::Array(items) if items.is_empty() => {
            return Err(problems.add(at, "must list at least one value"));
        }
        Value::Array(items) => items.iter().map(scalar_text).collect::<Option<Vec<_>>>(),
        scalar => scalar_text(scalar).map(|text| vec![text]),
    };
    values.ok_or_else(|| {
        problems.add(
            at,
            "condition values must be strings, numbers or booleans, or an array of them",
        )
    })
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// A string or a non-empty array of non-empty strings (Action, Resource, principal ids).
fn string_list<'a>(
    value: &'a Value,
    field: &str,
    at: &str,
    problems: &mut Problems,
) -> Parsed<Vec<&'a str>> {
    let list = match value {
        Value::String(one) => Some(vec![one.as_str()]),
        Value::Array(items) if !items.is_empty() => {
            items.iter().map(Value::as_str).collect::<Option<Vec<_>>>()
        }
        _ => None,
    };
    match list {
        Some(list) if list.iter().all(|item| !item.is_empty()) => Ok(list),
        _ => Err(problems.add(
            at,
            format!("{field} must be a non-empty string or a non-empty array of them"),
        )),
    }
}

/// Compiles every item, reporting each failure.
fn compile_all<T>(
    items: Vec<&str>,
    compile: impl Fn(&str) -> Result<T, String>,
    at: &str,
    problems: &mut Problems,
) -> Parsed<Vec<T>> {
    let before = problems.count();
    let compiled: Vec<T> = items
        .into_iter()
        .filter_map(|item| {
            compile(item)
                .map_err(|problem| problems.add(at, problem))
                .ok()
        })
        .collect();
    if problems.count() == before {
        Ok(compiled)
    } else {
        Err(Reported)
    }
}
