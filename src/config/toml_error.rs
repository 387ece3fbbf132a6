//! Reading the TOML files, with problems an operator can act on: every syntax error, each with
//! where it is (line and column, from the error's byte span), not just what.

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
        .map_err(|e| problems.add(path, None, message(text, &e)))
        .ok()
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
    use super::line_and_column;

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
