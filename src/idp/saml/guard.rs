//! XML hygiene before any parser that could act on hostile markup (libxml2 via samael, or serde):
//! no DTD, no entity of our own making, no encoding games, bounded depth.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

/// Deepest element nesting accepted. A SAML response needs about 8 (Response / Assertion /
/// Signature / KeyInfo / X509Data / X509Certificate), metadata about 6.
pub(super) const MAX_DEPTH: usize = 32;

/// The entities XML predefines (XML 1.0 §4.6); no other may be referenced, as none is declared.
const PREDEFINED_ENTITIES: [&[u8]; 5] = [b"lt", b"gt", b"amp", b"apos", b"quot"];

/// Refuse a document unless:
/// 1. it has no markup declaration at all: `<!` opens only comments and CDATA sections, so
///    there is no `<!DOCTYPE`, `<!ENTITY`, ... in any letter case (XXE, entity expansion; XML
///    1.0 §2.8), checked on the text before any parser runs;
/// 2. it has no control character other than tab, line feed and carriage return (XML 1.0 §2.2;
///    a NUL would also let libxml2 take the text for UTF-16);
/// 3. its XML declaration, if any, comes first and says version 1.0 and UTF-8 or no encoding
///    (XML 1.0 §2.8, §4.3.3);
/// 4. it is one well-formed element of depth at most `max_depth`, with unique attribute names,
///    nothing but whitespace and comments around it, no processing instruction, and only
///    character references and the five predefined entity references (XML 1.0 §4.1, §4.6).
pub(super) fn check(xml: &str, max_depth: usize) -> Result<(), String> {
    check_text(xml)?;
    check_events(xml, max_depth)
}

fn check_text(xml: &str) -> Result<(), String> {
    if let Some(c) = xml
        .chars()
        .find(|c| *c < ' ' && !matches!(c, '\t' | '\n' | '\r'))
    {
        return Err(format!("control character U+{:04X} refused", c as u32));
    }
    for (at, _) in xml.match_indices("<!") {
        let rest = &xml[at + 2..];
        if !rest.starts_with("--") && !rest.starts_with("[CDATA[") {
            return Err("markup declaration (DOCTYPE, ENTITY, ...) refused".to_owned());
        }
    }
    Ok(())
}

fn check_events(xml: &str, max_depth: usize) -> Result<(), String> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().check_comments = true;
    let mut depth = 0usize;
    let mut root_seen = false;
    let mut first = true;
    loop {
        let event = reader.read_event().map_err(|e| {
            format!(
                "not well-formed XML at byte {}: {e}",
                reader.error_position()
            )
        })?;
        let at_start = std::mem::replace(&mut first, false);
        match event {
            Event::Decl(decl) if at_start => check_declaration(&decl)?,
            Event::Decl(_) => return Err("XML declaration not at the start".to_owned()),
            Event::DocType(_) => return Err("DOCTYPE refused".to_owned()),
            Event::PI(_) => return Err("processing instruction refused".to_owned()),
            Event::Start(start) | Event::Empty(start) if root_seen && depth == 0 => {
                return Err(format!(
                    "content after the root element: <{}>",
                    super::truncated(&String::from_utf8_lossy(start.name().as_ref()))
                ));
            }
            Event::Start(start) => {
                depth += 1;
                root_seen = true;
                check_element(&reader, &start, depth, max_depth)?;
            }
            Event::Empty(start) => {
                root_seen = true;
                check_element(&reader, &start, depth + 1, max_depth)?;
            }
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Text(text) if depth == 0 => {
                if !text.iter().all(u8::is_ascii_whitespace) {
                    return Err("text outside the root element".to_owned());
                }
            }
            Event::CData(_) | Event::GeneralRef(_) if depth == 0 => {
                return Err("content outside the root element".to_owned());
            }
            Event::GeneralRef(reference) => check_reference(&reference)?,
            Event::Text(_) | Event::CData(_) | Event::Comment(_) => {}
            Event::Eof if !root_seen => return Err("no root element".to_owned()),
            Event::Eof if depth != 0 => return Err("unclosed element at the end".to_owned()),
            Event::Eof => return Ok(()),
        }
    }
}

fn check_declaration(decl: &quick_xml::events::BytesDecl<'_>) -> Result<(), String> {
    let version = decl
        .version()
        .map_err(|e| format!("bad XML declaration: {e}"))?;
    if version.as_ref() != b"1.0" {
        return Err("XML version other than 1.0 refused".to_owned());
    }
    match decl.encoding() {
        None => Ok(()),
        Some(Ok(encoding)) if encoding.eq_ignore_ascii_case(b"utf-8") => Ok(()),
        Some(Ok(_)) => Err("encoding other than UTF-8 refused".to_owned()),
        Some(Err(e)) => Err(format!("bad XML declaration: {e}")),
    }
}

fn check_element(
    reader: &Reader<&[u8]>,
    start: &BytesStart<'_>,
    depth: usize,
    max_depth: usize,
) -> Result<(), String> {
    if depth > max_depth {
        return Err(format!("element nesting deeper than {max_depth}"));
    }
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|e| format!("bad attribute: {e}"))?;
        attribute
            .decode_and_unescape_value(reader.decoder())
            .map_err(|e| format!("bad attribute value: {e}"))?;
    }
    Ok(())
}

fn check_reference(reference: &quick_xml::events::BytesRef<'_>) -> Result<(), String> {
    if reference.is_char_ref() {
        return match reference.resolve_char_ref() {
            Ok(Some(c)) if c >= ' ' || matches!(c, '\t' | '\n' | '\r') => Ok(()),
            _ => Err("invalid character reference".to_owned()),
        };
    }
    if PREDEFINED_ENTITIES.contains(&reference.as_ref()) {
        Ok(())
    } else {
        Err(format!(
            "reference to the undeclared entity {:?}",
            super::truncated(&String::from_utf8_lossy(reference))
        ))
    }
}
