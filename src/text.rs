//! Text the daemon echoes back (subjects, names, messages quoting input): what an XML 1.0
//! document may carry. A control character in an AWS XML answer makes every SDK's parser fail,
//! so such values are refused before anything is issued, and the XML writer replaces any that
//! would still reach it.

/// XML 1.0 `Char` (§2.2): tab, line feed, carriage return, and everything from space on except
/// U+FFFE and U+FFFF (a Rust `char` is never a surrogate).
pub fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
}

/// Whether `text` may be written into an XML document as it is.
pub fn is_xml_text(text: &str) -> bool {
    text.chars().all(is_xml_char)
}

/// `text` with every character XML 1.0 cannot carry replaced by U+FFFD.
pub fn xml_safe(text: &str) -> std::borrow::Cow<'_, str> {
    if is_xml_text(text) {
        text.into()
    } else {
        text.chars()
            .map(|c| if is_xml_char(c) { c } else { '\u{FFFD}' })
            .collect::<String>()
            .into()
    }
}

/// Whether `text` shows people what it says: no control character (a line break forges a log
/// line) and no bidirectional formatting character (U+202A-U+202E, U+2066-U+2069, U+200E,
/// U+200F, U+061C: they make a name on a page read as another). For names a client chooses and
/// a person is asked to trust, such as an SSO client's.
pub fn is_plain_display_text(text: &str) -> bool {
    text.chars().all(|c| {
        !c.is_control()
            && !matches!(
                c,
                '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}'
            )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_text_has_no_control_or_bidi_characters() {
        for good in [
            "aws-cli",
            "botocore-client-1733",
            "Zoë's laptop",
            "ターミナル",
        ] {
            assert!(is_plain_display_text(good), "{good:?}");
        }
        for bad in [
            "a\nb",
            "x\u{1b}[31m",
            "evil\u{202E}lanigiro",
            "\u{2066}x\u{2069}",
            "a\u{200F}",
            "\u{7f}",
        ] {
            assert!(!is_plain_display_text(bad), "{bad:?}");
        }
    }

    #[test]
    fn control_characters_are_not_xml_text() {
        for bad in ["a\u{1}b", "\u{0}", "x\u{1b}[31m", "\u{FFFE}", "\u{7}"] {
            assert!(!is_xml_text(bad), "{bad:?}");
            assert!(is_xml_text(&xml_safe(bad)), "{bad:?}");
        }
        for good in [
            "alice",
            "tab\there",
            "line\nfeed",
            "ünïcödé 日本",
            "\u{10FFFF}",
            "",
        ] {
            assert!(is_xml_text(good), "{good:?}");
            assert_eq!(xml_safe(good), good);
        }
        assert_eq!(xml_safe("a\u{1}b"), "a\u{FFFD}b");
    }
}
