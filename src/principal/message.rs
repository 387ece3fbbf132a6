//! The encoded authorization message of a denial: what `sts:DecodeAuthorizationMessage`
//! decodes. Sealed with the keyring, so it is opaque to the caller and any node holding the
//! keyring opens it.

use aws_lc_rs::rand::SystemRandom;

use super::Caller;
use crate::creds::{Keyring, MintError, sealed};
use crate::error::ApiError;
use crate::policy::{EvalDecision, RequestContext, Simulation};

/// What the encoded authorization message is sealed for (never opens as anything else).
const MESSAGE_PURPOSE: &str = "authorization-message";

/// The decoded form of an authorization message, shaped like AWS's.
fn message_json(
    caller: &Caller,
    request: &RequestContext,
    simulation: &Simulation,
) -> serde_json::Value {
    let explicit = simulation.decision == EvalDecision::ExplicitDeny;
    serde_json::json!({
        "allowed": false,
        "explicitDeny": explicit,
        "matchedStatements": {
            "items": simulation.matched_statements.iter().map(|m| serde_json::json!({
                "statementId": m.sid,
                "sourcePolicyId": m.source_policy_id,
                "index": m.index,
                "effect": "DENY",
            })).collect::<Vec<_>>(),
        },
        "failures": { "items": [] },
        "context": {
            "principal": { "id": caller.user_id(), "arn": caller.arn() },
            "action": request.action,
            "resource": request.resource,
            "conditions": { "items": request.keys.iter().map(|(k, vs)| serde_json::json!({
                "key": k,
                "values": { "items": vs.iter().map(|v| serde_json::json!({ "value": v })).collect::<Vec<_>>() },
            })).collect::<Vec<_>>() },
        },
    })
}

/// Characters of the action and of the resource a message keeps when, even without its
/// conditions, it would not fit (JSON escapes a control character in six bytes, so 2048-byte
/// names can take 24 KiB).
const MESSAGE_NAME_CHARS: usize = 256;

/// Seal the message under the keyring: opaque to the caller, readable by
/// `DecodeAuthorizationMessage` on any node with the keyring. If the whole would exceed the
/// 10240-character `EncodedMessage` limit, conditions are dropped; if that is not enough, the
/// action and the resource are cut to [`MESSAGE_NAME_CHARS`] characters (marked with `…`).
pub fn encode_message(
    keyring: &Keyring,
    caller: &Caller,
    request: &RequestContext,
    simulation: &Simulation,
) -> Result<String, ApiError> {
    let rng = SystemRandom::new();
    let mut message = message_json(caller, request, simulation);
    for attempt in 0..3 {
        let text = message.to_string();
        match sealed::seal(keyring, MESSAGE_PURPOSE, text.as_bytes(), &rng) {
            Ok(sealed) => return Ok(sealed),
            Err(MintError::TooLarge { .. }) if attempt == 0 => {
                message["context"]["conditions"] = serde_json::json!({ "items": [] });
            }
            Err(MintError::TooLarge { .. }) if attempt == 1 => {
                let context = &mut message["context"];
                for name in ["action", "resource"] {
                    if let Some(cut) = context[name].as_str().and_then(truncated) {
                        context[name] = serde_json::Value::String(cut);
                    }
                }
            }
            Err(MintError::TooLarge { .. }) => break,
            Err(e) => return Err(ApiError::Internal(e.to_string())),
        }
    }
    Err(ApiError::Internal("authorization message too large".into()))
}

/// `text` cut to [`MESSAGE_NAME_CHARS`] characters and marked, if it is longer.
fn truncated(text: &str) -> Option<String> {
    let (cut, _) = text.char_indices().nth(MESSAGE_NAME_CHARS)?;
    Some(format!("{}…", &text[..cut]))
}

/// Open an encoded authorization message (for `DecodeAuthorizationMessage`): the JSON text, or
/// `None` if it was not produced by a keyring this daemon holds.
pub fn decode_message(keyring: &Keyring, encoded: &str) -> Option<String> {
    let plain = sealed::open(keyring, MESSAGE_PURPOSE, encoded).ok()?;
    String::from_utf8(plain).ok()
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::rand::SystemRandom;

    use super::*;
    use crate::clock::from_unix_seconds;
    use crate::policy::ContextKeys;
    use crate::principal::Signer;
    use crate::users::UserRecord;

    /// The authorization API's limit on action and resource names.
    const MAX_NAME_LEN: usize = 2048;

    /// The decoded message of an implicit deny of `action` on `resource` with a long condition.
    fn denied_message(action: String, resource: String) -> serde_json::Value {
        let now = from_unix_seconds(1_800_000_000);
        let keyring = Keyring::generate(now).unwrap();
        let user = UserRecord::new(
            "alice",
            "123456789012",
            Vec::new(),
            now,
            &SystemRandom::new(),
        )
        .unwrap();
        let caller = Caller {
            access_key_id: "AKIAEXAMPLE000000001".into(),
            signer: Signer::User(Box::new(user)),
        };
        let mut keys = ContextKeys::default();
        keys.insert("photos:Album", "x".repeat(2000));
        let request = RequestContext {
            principals: Vec::new(),
            action,
            resource: Some(resource),
            keys,
        };
        let simulation = Simulation {
            decision: EvalDecision::ImplicitDeny,
            matched_statements: Vec::new(),
        };
        let encoded = encode_message(&keyring, &caller, &request, &simulation)
            .expect("a denial always gets a message");
        assert!(encoded.len() <= sealed::MAX_SEALED_LEN);
        let plain = sealed::open(&keyring, MESSAGE_PURPOSE, &encoded).unwrap();
        serde_json::from_slice(&plain).unwrap()
    }

    #[test]
    fn message_keeps_everything_that_fits() {
        let message = denied_message("photos:GetPhoto".into(), "arn:aws:photos:::a/b".into());
        assert_eq!(message["context"]["action"], "photos:GetPhoto");
        assert_eq!(message["context"]["resource"], "arn:aws:photos:::a/b");
        assert_eq!(
            message["context"]["conditions"]["items"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }

    /// Found by the `authorize_request` fuzz target: names within the 2048-byte input limits
    /// whose JSON escapes (control characters, quotes) overflow the sealed message even without
    /// conditions made `authorize` fail with `InternalFailure` instead of denying.
    #[test]
    fn message_of_escaped_long_names_is_cut_to_fit() {
        let action = format!("photos:{}", "\u{1}".repeat(MAX_NAME_LEN - 7));
        let resource = "\"".repeat(MAX_NAME_LEN);
        let message = denied_message(action.clone(), resource.clone());
        let context = &message["context"];
        assert!(
            context["conditions"]["items"]
                .as_array()
                .unwrap()
                .is_empty()
        );
        let cut_action = context["action"].as_str().unwrap();
        assert_eq!(cut_action.chars().count(), MESSAGE_NAME_CHARS + 1);
        assert!(action.starts_with(cut_action.trim_end_matches('…')));
        let cut_resource = context["resource"].as_str().unwrap();
        assert!(cut_resource.ends_with('…'));
        assert!(resource.starts_with(cut_resource.trim_end_matches('…')));
    }
}
