//! `PackedPolicySize`: the percentage of the packed space that the session policies and session
//! tags of one STS call take; over 100 the call fails with `PackedPolicyTooLarge`.
//!
//! AWS converts the inline session policy, the session policy ARNs and the session tags into a
//! compressed binary form that has a limit of its own, and reports how much of it they use (STS
//! API Reference: `PackedPolicySize`, `PackedPolicyTooLarge`; IAM User Guide, "IAM and AWS STS
//! quotas": the plaintext of inline and managed session policies may not exceed 2,048
//! characters, and a call within every tag and policy quota can still exceed the packed limit).
//! The encoding and its limit are not published, so this is a model, not AWS's algorithm:
//!
//! - the packed space holds [`PACKED_CAPACITY`] characters, the session-policy plaintext quota,
//!   so an inline policy at that quota alone fills it exactly (100, which passes);
//! - the inline policy costs its characters without whitespace (how AWS measures policy size),
//!   each policy ARN its characters;
//! - a tag costs the characters of its key and value; a transitive tag key costs one more (it
//!   marks a tag already stored rather than storing the key again);
//! - the percentage is rounded up: nothing passed is 0, anything passed at least 1.
//!
//! Basis: the STS API Reference's examples. The same 117-character policy with the tags
//! `Project=Unicorn, Team=Automation, Cost-Center=12345` (two of them transitive) is reported as
//! 8 for `AssumeRole`, and with `Project=Pegasus, Cost-Center=98765` as 8 for
//! `GetFederationToken`; this model gives 8 for both (163 and 147 of 2,048). It gives no credit
//! for compression, so on repetitive text it reports more than AWS would. Fifty tags with
//! maximal keys (128 characters) and values (256) take 938%: rejected.

use std::collections::BTreeMap;

use super::{Policy, PolicyKind};

/// The packed space, in characters: the session-policy plaintext quota.
const PACKED_CAPACITY: usize = PolicyKind::Session.size_limit();

/// `PackedPolicySize` for an STS call that passes `session_policy` (the inline `Policy`),
/// `policy_arns`, the session `tags` and the `transitive_tag_keys` (see the module documentation
/// for the model). Over 100 means `PackedPolicyTooLarge`.
pub fn packed_policy_size(
    session_policy: Option<&str>,
    policy_arns: &[String],
    tags: &BTreeMap<String, String>,
    transitive_tag_keys: &[String],
) -> u32 {
    let policy = session_policy.map_or(0, Policy::len_without_whitespace);
    let arns: usize = policy_arns.iter().map(|arn| arn.chars().count()).sum();
    let tags: usize = tags
        .iter()
        .map(|(key, value)| key.chars().count() + value.chars().count())
        .sum();
    let used = policy + arns + tags + transitive_tag_keys.len();
    u32::try_from(used.saturating_mul(100).div_ceil(PACKED_CAPACITY)).unwrap_or(u32::MAX)
}
