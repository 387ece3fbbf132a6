//! The AWS Query-protocol XML shapes: success envelopes and `ErrorResponse`.

use quick_xml::Writer;
use quick_xml::escape::partial_escape;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

use crate::action::Action;
use crate::clock::iso8601;
use crate::creds::{Credentials, Session};
use crate::error::ApiError;

/// The STS 2011-06-15 XML namespace.
pub const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// A small element writer over quick-xml (which does the escaping). Writing into a `Vec` cannot
/// fail, so errors are folded into the final `finish`.
pub struct XmlBody {
    writer: Writer<Vec<u8>>,
    failed: bool,
}

impl XmlBody {
    fn new() -> Self {
        let mut body = Self {
            writer: Writer::new(Vec::with_capacity(2048)),
            failed: false,
        };
        body.event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
        body
    }

    fn event(&mut self, event: Event<'_>) {
        if self.writer.write_event(event).is_err() {
            self.failed = true;
        }
    }

    fn open_with_namespace(&mut self, name: &str) {
        self.event(Event::Start(
            BytesStart::new(name).with_attributes([("xmlns", NAMESPACE)]),
        ));
    }

    /// `<name>`
    pub fn open(&mut self, name: &str) -> &mut Self {
        self.event(Event::Start(BytesStart::new(name)));
        self
    }

    /// `</name>`
    pub fn close(&mut self, name: &str) -> &mut Self {
        self.event(Event::End(BytesEnd::new(name)));
        self
    }

    /// `<name>text</name>`, with `<`, `>` and `&` escaped (quotes need no escaping in text, and
    /// AWS does not escape them).
    /// A character XML 1.0 cannot carry (a control character) is written as U+FFFD: the
    /// answer stays a document every SDK can parse, whatever value it quotes.
    pub fn leaf(&mut self, name: &str, text: &str) -> &mut Self {
        self.open(name);
        let text = crate::text::xml_safe(text);
        self.event(Event::Text(BytesText::from_escaped(partial_escape(
            text.as_ref(),
        ))));
        self.close(name)
    }

    /// `<name>text</name>` when there is a value.
    pub fn optional_leaf(&mut self, name: &str, text: Option<&str>) -> &mut Self {
        if let Some(t) = text {
            self.leaf(name, t);
        }
        self
    }

    fn finish(self) -> Result<String, ApiError> {
        if self.failed {
            return Err(ApiError::Internal("xml writer failed".into()));
        }
        String::from_utf8(self.writer.into_inner())
            .map_err(|_| ApiError::Internal("xml writer produced invalid UTF-8".into()))
    }

    /// `<Credentials>`, as every session-issuing result has it.
    pub fn credentials(&mut self, credentials: &Credentials) -> &mut Self {
        self.open("Credentials")
            .leaf("AccessKeyId", &credentials.access_key_id)
            .leaf("SecretAccessKey", credentials.secret_access_key.expose())
            .leaf("SessionToken", credentials.session_token.expose())
            .leaf("Expiration", &iso8601(credentials.expiration))
            .close("Credentials")
    }

    /// `<AssumedRoleUser>`, as every AssumeRole* result has it.
    pub fn assumed_role_user(&mut self, session: &Session) -> &mut Self {
        self.open("AssumedRoleUser")
            .leaf("AssumedRoleId", &session.caller_id())
            .leaf("Arn", &session.caller_arn)
            .close("AssumedRoleUser")
    }

    /// `<PackedPolicySize>`, when session policies or tags were passed.
    pub fn packed_policy_size(&mut self, packed: Option<u32>) -> &mut Self {
        if let Some(packed) = packed {
            self.leaf("PackedPolicySize", &packed.to_string());
        }
        self
    }
}

/// `<{Action}Response xmlns=..><{Action}Result>…</{Action}Result><ResponseMetadata>…`
pub fn success(
    action: Action,
    request_id: &str,
    result: impl FnOnce(&mut XmlBody),
) -> Result<String, ApiError> {
    let mut body = XmlBody::new();
    let response = format!("{}Response", action.name());
    let result_name = format!("{}Result", action.name());
    body.open_with_namespace(&response);
    body.open(&result_name);
    result(&mut body);
    body.close(&result_name);
    body.open("ResponseMetadata")
        .leaf("RequestId", request_id)
        .close("ResponseMetadata");
    body.close(&response);
    body.finish()
}

/// `<ErrorResponse xmlns=..><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>`
pub fn error(err: &ApiError, request_id: &str) -> String {
    let mut body = XmlBody::new();
    body.open_with_namespace("ErrorResponse");
    body.open("Error")
        .leaf("Type", err.fault_type())
        .leaf("Code", err.code())
        .leaf("Message", &err.message())
        .close("Error");
    body.leaf("RequestId", request_id);
    body.close("ErrorResponse");
    // A failure here would mean the writer itself broke; fall back to a fixed body.
    body.finish().unwrap_or_else(|_| {
        format!(
            "<ErrorResponse xmlns=\"{NAMESPACE}\"><Error><Type>Receiver</Type><Code>InternalFailure</Code><Message></Message></Error><RequestId>{}</RequestId></ErrorResponse>",
            request_id.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_has_the_aws_shape_and_escapes() {
        let e = ApiError::InvalidAction {
            action: "<Evil&>".into(),
            version: "2011-06-15".into(),
        };
        let xml = error(&e, "req-1");
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
             <ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>\
             <Code>InvalidAction</Code><Message>Could not find operation &lt;Evil&amp;&gt; for version 2011-06-15</Message>\
             </Error><RequestId>req-1</RequestId></ErrorResponse>"
        );
    }

    #[test]
    fn the_writer_never_emits_a_control_character() {
        let e = ApiError::InvalidAction {
            action: "Get\u{1}Caller\u{1b}[0m".into(),
            version: "2011-06-15".into(),
        };
        let xml = error(&e, "req-1");
        assert!(crate::text::is_xml_text(&xml), "{xml:?}");
        assert!(xml.contains("Get\u{FFFD}Caller\u{FFFD}[0m"), "{xml}");
    }

    #[test]
    fn success_wraps_result_and_metadata() {
        let xml = success(Action::GetCallerIdentity, "r", |b| {
            b.leaf("Account", "123456789012");
            b.optional_leaf("Missing", None);
        })
        .unwrap();
        assert!(xml.contains(
            "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
             <GetCallerIdentityResult><Account>123456789012</Account></GetCallerIdentityResult>\
             <ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetCallerIdentityResponse>"
        ));
    }
}
