//! JSON in which every object names each member once, at every depth.
//!
//! RFC 8259 §4 leaves repeated member names to the reader ("the names within an object SHOULD
//! be unique"), and serde_json keeps the last one. A document that means one thing to one
//! reader and another to the next is refused wherever a document decides something: the JOSE
//! header and claims of a JWT (RFC 7515 §4, RFC 7519 §4), IAM policies (a second `Condition`
//! once silently replaced the first). Names are compared as strings after unescaping, so
//! `"Cond\u0069tion"` repeats `"Condition"`.
//!
//! [`from_str`] and [`from_slice`] read the whole document and list every repetition with where
//! it is, so a policy's author sees them all at once; a reader that only needs to refuse checks
//! that the list is empty.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// A document as read, with every member name that an object repeats.
#[derive(Debug, Clone, PartialEq)]
pub struct Read {
    /// The document; where an object repeats a name, the last member of that name is kept (as
    /// serde_json does), so a caller that goes on to check the rest sees what it used to.
    pub value: Value,
    /// Every repeated name, in document order; empty when every name is unique.
    pub duplicates: Vec<Duplicate>,
}

/// A member name that an object repeats (reported once per object, however often repeated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    /// The object, as a path from the document's root written for people: members joined by
    /// `.`, array elements as `[index]` (`Statement[0].Condition`); empty for the root itself.
    pub at: String,
    /// The repeated name, unescaped.
    pub name: String,
}

/// Reads `text` as one JSON document (serde_json's syntax and nesting limit), listing the
/// member names that any object repeats.
pub fn from_str(text: &str) -> Result<Read, serde_json::Error> {
    read(&mut serde_json::Deserializer::from_str(text))
}

/// [`from_str`] for bytes (which must be UTF-8).
pub fn from_slice(bytes: &[u8]) -> Result<Read, serde_json::Error> {
    read(&mut serde_json::Deserializer::from_slice(bytes))
}

fn read<'de, R: serde_json::de::Read<'de>>(
    deserializer: &mut serde_json::Deserializer<R>,
) -> Result<Read, serde_json::Error> {
    let mut found = Vec::new();
    let value = Strict { found: &mut found }.deserialize(&mut *deserializer)?;
    deserializer.end()?;
    Ok(Read {
        value,
        duplicates: found.into_iter().map(Found::into_duplicate).collect(),
    })
}

/// One step from an object or array to a value inside it.
#[derive(Clone)]
enum Step {
    Member(String),
    Index(usize),
}

/// A repeated name with the path to its object, innermost step first: the steps are added on
/// the way back out, so a document without repetitions pays nothing for paths.
struct Found {
    path: Vec<Step>,
    name: String,
}

impl Found {
    fn into_duplicate(self) -> Duplicate {
        let mut at = String::new();
        for step in self.path.iter().rev() {
            match step {
                Step::Member(name) if at.is_empty() => at.push_str(name),
                Step::Member(name) => {
                    at.push('.');
                    at.push_str(name);
                }
                Step::Index(index) => at.push_str(&format!("[{index}]")),
            }
        }
        Duplicate {
            at,
            name: self.name,
        }
    }
}

/// Reads one value, adding the repetitions inside it to `found`.
struct Strict<'a> {
    found: &'a mut Vec<Found>,
}

impl Strict<'_> {
    /// Reads one nested value with `read` and puts `step` in front of the paths of what was
    /// found in it.
    fn nested<T, E>(
        &mut self,
        step: impl FnOnce() -> Step,
        read: impl FnOnce(Strict<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let before = self.found.len();
        let value = read(Strict {
            found: &mut *self.found,
        })?;
        if self.found.len() > before {
            let step = step();
            for found in &mut self.found[before..] {
                found.path.push(step.clone());
            }
        }
        Ok(value)
    }
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, flag: bool) -> Result<Value, E> {
        Ok(Value::Bool(flag))
    }

    fn visit_i64<E>(self, number: i64) -> Result<Value, E> {
        Ok(Value::Number(number.into()))
    }

    fn visit_u64<E>(self, number: u64) -> Result<Value, E> {
        Ok(Value::Number(number.into()))
    }

    fn visit_f64<E>(self, number: f64) -> Result<Value, E> {
        // JSON has no NaN or infinity; serde_json's own Value makes such a number null too.
        Ok(Number::from_f64(number).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, text: &str) -> Result<Value, E> {
        Ok(Value::String(text.to_owned()))
    }

    fn visit_string<E>(self, text: String) -> Result<Value, E> {
        Ok(Value::String(text))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut access: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            let index = items.len();
            let item = self.nested(
                || Step::Index(index),
                |strict| access.next_element_seed(strict),
            )?;
            match item {
                Some(item) => items.push(item),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut access: A) -> Result<Value, A::Error> {
        let mut members = Map::new();
        let mut repeated: Vec<String> = Vec::new();
        while let Some(name) = access.next_key::<String>()? {
            if members.contains_key(&name) && !repeated.contains(&name) {
                repeated.push(name.clone());
                self.found.push(Found {
                    path: Vec::new(),
                    name: name.clone(),
                });
            }
            let value = self.nested(
                || Step::Member(name.clone()),
                |strict| access.next_value_seed(strict),
            )?;
            members.insert(name, value);
        }
        Ok(Value::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn duplicates(text: &str) -> Vec<(String, String)> {
        from_str(text)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .duplicates
            .into_iter()
            .map(|d| (d.at, d.name))
            .collect()
    }

    fn found(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(at, name)| ((*at).to_owned(), (*name).to_owned()))
            .collect()
    }

    #[test]
    fn a_document_with_unique_names_reads_as_serde_json_reads_it() {
        let text = r#"{"a":[1,-2,3.5,1e300,18446744073709551615,true,false,null,"x\u00e9\n"],
                       "b":{"c":{"d":[]},"e":{}},"f":"","g":[{"a":1},{"a":2}]}"#;
        let read = from_str(text).unwrap();
        assert!(read.duplicates.is_empty(), "{:?}", read.duplicates);
        assert_eq!(read.value, serde_json::from_str::<Value>(text).unwrap());
        assert_eq!(from_slice(text.as_bytes()).unwrap(), read);
        for scalar in ["1", "\"s\"", "null", "[]", "{}"] {
            assert_eq!(
                from_str(scalar).unwrap().value,
                serde_json::from_str::<Value>(scalar).unwrap()
            );
        }
    }

    #[test]
    fn every_repeated_name_is_found_with_its_path() {
        let text = r#"{"a":1,"a":2,
            "s":[{"x":{"k":1,"k":2}},[{"y":1,"y":2}]],
            "o":{"p":{"q":1,"q":2,"r":1},"p2":{"q":1}}}"#;
        assert_eq!(
            duplicates(text),
            found(&[("", "a"), ("s[0].x", "k"), ("s[1][0]", "y"), ("o.p", "q")])
        );
    }

    #[test]
    fn names_are_compared_after_unescaping() {
        assert_eq!(
            duplicates(r#"{"Condition":1,"Cond\u0069tion":2}"#),
            found(&[("", "Condition")])
        );
        assert_eq!(
            duplicates(r#"{"x":{"a\/b":1,"a/b":2}}"#),
            found(&[("x", "a/b")])
        );
        // Exactly: names differing in case or normalisation are different names.
        assert!(duplicates(r#"{"a":1,"A":2,"é":3,"e\u0301":4}"#).is_empty());
    }

    #[test]
    fn a_name_repeated_often_is_reported_once_and_the_last_member_kept() {
        let read = from_str(r#"{"a":1,"a":2,"a":{"b":1,"b":2}}"#).unwrap();
        assert_eq!(
            read.duplicates,
            vec![
                Duplicate {
                    at: String::new(),
                    name: "a".into()
                },
                Duplicate {
                    at: "a".into(),
                    name: "b".into()
                },
            ]
        );
        assert_eq!(read.value, serde_json::json!({"a": {"b": 2}}));
    }

    #[test]
    fn the_same_name_in_different_objects_is_no_repetition() {
        assert!(duplicates(r#"[{"a":1},{"a":1}]"#).is_empty());
        assert!(duplicates(r#"{"a":{"a":{"a":1}}}"#).is_empty());
    }

    #[test]
    fn what_is_not_one_json_document_is_an_error() {
        for text in [
            "",
            "{",
            r#"{"a":1}{"b":2}"#,
            r#"{"a":1} x"#,
            r#"{"a":NaN}"#,
            r#"{"\ud800":1}"#,
            r#"{a:1}"#,
        ] {
            assert!(from_str(text).is_err(), "{text}");
        }
        assert!(from_slice(b"{\"a\":\"\xff\"}").is_err());
        // serde_json's nesting limit holds: deep input is an error, not a stack overflow.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(from_str(&deep).is_err());
    }
}
