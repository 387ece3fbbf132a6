//! Reading the TOML files, with problems an operator can act on: every syntax error, each with
//! where it is (line and column, from the error's byte span), not just what; an error in a
//! value or key (unknown, wrong type) names it with its table, as `storage.foo`.

use std::path::Path;

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue, Deserializer};

use super::{Problems, file};

/// `text` (the file at `path`) read as `T`; on errors, problems saying what and where.
pub(super) fn parse<T: DeserializeOwned>(
    path: &Path,
    text: &str,
    problems: &mut Problems,
) -> Option<T> {
    let document = document(path, text, problems)?;
    deserialize(path, text, document, problems)
}

/// An identity provider file: `kind` picks the shape the other keys must have.
///
/// Not `toml::from_str::<file::RawIdp>`: serde reads an internally tagged enum through a
/// buffer that drops the positions, so its errors could not say where they are.
pub(super) fn parse_idp(path: &Path, text: &str, problems: &mut Problems) -> Option<file::RawIdp> {
    let mut document = document(path, text, problems)?;
    let Some(kind) = document.get_mut().remove("kind") else {
        problems.add(path, None, "missing field `kind` (\"oidc\" or \"saml\")");
        return None;
    };
    match kind.get_ref() {
        DeValue::String(name) if name == "oidc" => {
            deserialize(path, text, document, problems).map(file::RawIdp::Oidc)
        }
        DeValue::String(name) if name == "saml" => {
            deserialize(path, text, document, problems).map(file::RawIdp::Saml)
        }
        _ => {
            let message = "kind must be \"oidc\" or \"saml\"";
            problems.add(path, None, located(text, &kind.span(), message));
            None
        }
    }
}

/// The document's tables, or every syntax error in it.
fn document<'t>(
    path: &Path,
    text: &'t str,
    problems: &mut Problems,
) -> Option<Spanned<DeTable<'t>>> {
    let (document, errors) = DeTable::parse_recoverable(text);
    for e in &errors {
        problems.add(path, None, message(text, e));
    }
    errors.is_empty().then_some(document)
}

fn deserialize<T: DeserializeOwned>(
    path: &Path,
    text: &str,
    document: Spanned<DeTable<'_>>,
    problems: &mut Problems,
) -> Option<T> {
    T::deserialize(Deserializer::from(document))
        .map_err(|e| {
            // The document parsed a moment ago; it is read again only to name the key.
            let field = e.span().and_then(|span| {
                let document = DeTable::parse(text).ok()?;
                key_path(document.get_ref(), span.start)
            });
            problems.add(path, field.as_deref(), message(text, &e));
        })
        .ok()
}

/// The dotted path (`storage.foo`, `authorization.services[1].name`) of the innermost key or
/// value at byte `offset`: serde's messages name the key alone ("unknown field `foo`").
fn key_path(table: &DeTable<'_>, offset: usize) -> Option<String> {
    let mut path = String::new();
    in_table(table, offset, &mut path).then_some(path)
}

fn in_table(table: &DeTable<'_>, offset: usize, path: &mut String) -> bool {
    for (key, value) in table.iter() {
        let outer = path.len();
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key.get_ref());
        if in_value(value.get_ref(), offset, path)
            || key.span().contains(&offset)
            || value.span().contains(&offset)
        {
            return true;
        }
        path.truncate(outer);
    }
    false
}

fn in_value(value: &DeValue<'_>, offset: usize, path: &mut String) -> bool {
    match value {
        DeValue::Table(table) => in_table(table, offset, path),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let outer = path.len();
                path.push_str(&format!("[{i}]"));
                if in_value(item.get_ref(), offset, path) || item.span().contains(&offset) {
                    return true;
                }
                path.truncate(outer);
            }
            false
        }
        _ => false,
    }
}

/// What the error says, and where when it knows.
fn message(text: &str, error: &toml::de::Error) -> String {
    match error.span() {
        Some(span) => located(text, &span, error.message()),
        None => error.message().to_owned(),
    }
}

fn located(text: &str, span: &std::ops::Range<usize>, message: &str) -> String {
    let (line, column) = line_and_column(text, span.start);
    format!("{message} (line {line}, column {column})")
}

/// The 1-based line and column (in characters, as editors count them) of byte `offset`.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offset_names_the_innermost_key() {
        let text = "a = 1\n[storage]\npath = \"p\"\nfoo = 1\n\
                    [[services]]\nname = \"a\"\n[[services]]\nname = \"b\"\nextra = 1\n\
                    [x.y]\nz = [1, { r = 2 }]\n";
        let document = DeTable::parse(text).unwrap();
        let at = |needle: &str| key_path(document.get_ref(), text.rfind(needle).unwrap());
        assert_eq!(at("[storage]"), Some("storage".into()));
        assert_eq!(at("foo"), Some("storage.foo".into()));
        assert_eq!(at("\"p\""), Some("storage.path".into()));
        assert_eq!(at("[[services]]"), Some("services[1]".into()));
        assert_eq!(at("extra"), Some("services[1].extra".into()));
        assert_eq!(at("r = 2"), Some("x.y.z[1].r".into()));
        assert_eq!(key_path(document.get_ref(), 0), Some("a".into()));
        assert_eq!(key_path(document.get_ref(), text.len()), None);
    }

    #[test]
    fn offsets_become_lines_and_character_columns() {
        let text = "a = 1\n\nkey = \"é\" x\n";
        assert_eq!(line_and_column(text, 0), (1, 1));
        assert_eq!(line_and_column(text, 4), (1, 5));
        assert_eq!(line_and_column(text, 6), (2, 1));
        let x = text.find('x').unwrap();
        assert_eq!(line_and_column(text, x), (3, 11));
        // Inside a multi-byte character, and past the end.
        assert_eq!(line_and_column(text, x - 3), (3, 8));
        assert_eq!(line_and_column(text, 999), (4, 1));
    }
}
