//! Text patterns in policies: `*`/`?` wildcards and `${...}` policy variables, compiled once at
//! parse time and matched per request by a small backtracking glob (no regex, no allocation on
//! the match path).
//!
//! A variable's value is matched as literal text, never as wildcards: a `*` inside a claim
//! value must not widen what a policy grants. `${*}`, `${?}` and `${$}` stand for the literal
//! characters, which is how a policy matches them where they would otherwise be syntax.

use std::borrow::Cow;

use super::ContextKeys;

/// How the text of a policy value is read.
#[derive(Debug, Clone, Copy)]
pub(super) struct Syntax {
    /// `*` and `?` are wildcards (`*Like` operators, Action, Resource, ARN operators).
    pub wildcards: bool,
    /// `${...}` is a policy variable (only in `Version` 2012-10-17 policies).
    pub variables: bool,
}

/// Whether letter case matters when matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Case {
    Sensitive,
    /// Action names are ASCII and compared without regard to case.
    AsciiInsensitive,
}

/// A compiled pattern: literal text, wildcards and variables in order.
#[derive(Debug, Clone)]
pub(super) struct Pattern {
    tokens: Vec<Token>,
    /// The text as written, which re-serialising the policy gives back.
    source: String,
}

#[derive(Debug, Clone)]
enum Token {
    Text(String),
    /// `*`: any run of characters, including none.
    AnyRun,
    /// `?`: exactly one character.
    AnyChar,
    Variable(Variable),
}

/// `${key}` or `${key, 'default'}`; the key is stored lower-cased like context keys.
#[derive(Debug, Clone)]
struct Variable {
    key: String,
    default: Option<String>,
}

/// What one token does at one position of the text.
enum Step {
    Advance(usize),
    Star,
    Fail,
}

impl Pattern {
    /// Compiles `text`; the error names what is wrong with a `${...}` variable.
    pub(super) fn compile(text: &str, syntax: Syntax) -> Result<Pattern, String> {
        let mut tokens = Vec::new();
        let mut rest = text;
        loop {
            if syntax.variables
                && let Some(after) = rest.strip_prefix("${")
            {
                let (inner, tail) = after
                    .split_once('}')
                    .ok_or_else(|| format!("unterminated policy variable in \"{text}\""))?;
                push(&mut tokens, parse_variable(inner)?);
                rest = tail;
                continue;
            }
            let mut chars = rest.chars();
            let Some(c) = chars.next() else { break };
            let token = match c {
                '*' if syntax.wildcards => Token::AnyRun,
                '?' if syntax.wildcards => Token::AnyChar,
                _ => Token::Text(c.to_string()),
            };
            push(&mut tokens, token);
            rest = chars.as_str();
        }
        Ok(Pattern {
            tokens,
            source: text.to_owned(),
        })
    }

    /// The text the pattern was compiled from.
    pub(super) fn source(&self) -> &str {
        &self.source
    }

    /// Whether `text` matches the whole pattern; `None` when a variable cannot be resolved from
    /// `keys`, which makes the enclosing statement not apply (AWS: "the entire statement is
    /// invalid").
    pub(super) fn matches(&self, text: &str, keys: &ContextKeys, case: Case) -> Option<bool> {
        self.resolvable(keys)
            .then(|| glob(&self.tokens, text, keys, case))
    }

    /// Whether every variable in the pattern has a value (or a default) in `keys`.
    pub(super) fn resolvable(&self, keys: &ContextKeys) -> bool {
        self.tokens.iter().all(|token| match token {
            Token::Variable(variable) => variable.resolve(keys).is_some(),
            Token::Text(_) | Token::AnyRun | Token::AnyChar => true,
        })
    }

    /// The pattern's text with variables substituted (wildcards kept as written); borrowed
    /// unless a variable had to be spliced in.
    pub(super) fn resolve<'a>(&'a self, keys: &'a ContextKeys) -> Option<Cow<'a, str>> {
        match self.tokens.as_slice() {
            [] => Some(Cow::Borrowed("")),
            [single] => single.text(keys).map(Cow::Borrowed),
            many => many
                .iter()
                .map(|token| token.text(keys))
                .collect::<Option<String>>()
                .map(Cow::Owned),
        }
    }
}

impl Token {
    fn text<'a>(&'a self, keys: &'a ContextKeys) -> Option<&'a str> {
        match self {
            Token::Text(text) => Some(text),
            Token::AnyRun => Some("*"),
            Token::AnyChar => Some("?"),
            Token::Variable(variable) => variable.resolve(keys),
        }
    }
}

impl Variable {
    /// A single-valued key resolves to its value; a missing or multivalued key (AWS does not
    /// substitute those) falls back to the default, if any.
    fn resolve<'a>(&'a self, keys: &'a ContextKeys) -> Option<&'a str> {
        match keys.get_lowercase(&self.key) {
            Some([value]) => Some(value),
            _ => self.default.as_deref(),
        }
    }
}

/// Appends a token, merging adjacent text so matching compares whole runs at once.
fn push(tokens: &mut Vec<Token>, token: Token) {
    if let (Some(Token::Text(last)), Token::Text(next)) = (tokens.last_mut(), &token) {
        last.push_str(next);
    } else {
        tokens.push(token);
    }
}

/// Parses the inside of `${...}`: a special character, or a key with an optional quoted default.
fn parse_variable(inner: &str) -> Result<Token, String> {
    let trimmed = inner.trim();
    if matches!(trimmed, "*" | "?" | "$") {
        return Ok(Token::Text(trimmed.to_owned()));
    }
    let (key, default) = match inner.split_once(',') {
        Some((key, default)) => (key.trim(), Some(parse_default(default, inner)?)),
        None => (trimmed, None),
    };
    if key.is_empty() || key.contains(char::is_whitespace) {
        return Err(format!("invalid policy variable \"${{{inner}}}\""));
    }
    Ok(Token::Variable(Variable {
        key: key.to_ascii_lowercase(),
        default,
    }))
}

/// A default is written in single quotes: `${aws:username, 'nobody'}`.
fn parse_default(text: &str, inner: &str) -> Result<String, String> {
    text.trim()
        .strip_prefix('\'')
        .and_then(|quoted| quoted.strip_suffix('\''))
        .map(str::to_owned)
        .ok_or_else(|| {
            format!("the default in policy variable \"${{{inner}}}\" must be in single quotes")
        })
}

/// Matches `text` against `tokens` with the classic single-backtrack-point glob: on a mismatch
/// the most recent `*` absorbs one more character. Earlier stars never need revisiting, so this
/// runs in O(pattern × text) at worst, not exponential time.
fn glob(tokens: &[Token], text: &str, keys: &ContextKeys, case: Case) -> bool {
    let (mut token_at, mut text_at) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if let Some(token) = tokens.get(token_at) {
            match step(token, text.get(text_at..).unwrap_or_default(), keys, case) {
                Step::Star => {
                    star = Some((token_at + 1, text_at));
                    token_at += 1;
                    continue;
                }
                Step::Advance(len) => {
                    token_at += 1;
                    text_at += len;
                    continue;
                }
                Step::Fail => {}
            }
        } else if text_at == text.len() {
            return true;
        }
        let Some((after_star, absorbed_to)) = star else {
            return false;
        };
        let Some(next) = next_char_len(text, absorbed_to) else {
            return false;
        };
        star = Some((after_star, absorbed_to + next));
        token_at = after_star;
        text_at = absorbed_to + next;
    }
}

fn step(token: &Token, rest: &str, keys: &ContextKeys, case: Case) -> Step {
    match token {
        Token::AnyRun => Step::Star,
        Token::AnyChar => rest
            .chars()
            .next()
            .map_or(Step::Fail, |c| Step::Advance(c.len_utf8())),
        Token::Text(literal) => prefix(rest, literal, case),
        Token::Variable(variable) => prefix(rest, variable.resolve(keys).unwrap_or_default(), case),
    }
}

/// Whether `rest` starts with `literal`. Comparing bytes keeps char boundaries: ASCII case
/// folding maps ASCII letters only, so the bytes of any other character must be identical.
fn prefix(rest: &str, literal: &str, case: Case) -> Step {
    let same = rest
        .as_bytes()
        .get(..literal.len())
        .is_some_and(|head| match case {
            Case::Sensitive => head == literal.as_bytes(),
            Case::AsciiInsensitive => head.eq_ignore_ascii_case(literal.as_bytes()),
        });
    if same {
        Step::Advance(literal.len())
    } else {
        Step::Fail
    }
}

fn next_char_len(text: &str, at: usize) -> Option<usize> {
    text.get(at..)?.chars().next().map(char::len_utf8)
}
