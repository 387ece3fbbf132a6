//! The checks on the signed content (SAML Core §2-§3, Profiles §4.1.4), and the
//! [`VerifiedAssertion`] they yield.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use samael::schema::{Assertion, Conditions, Issuer, Response, Subject, SubjectConfirmationData};

use super::signed::SignedDocument;
use super::{SamlError, SamlFault, SamlIdpSettings, VerifiedAssertion, error_text, truncated};
use crate::clock::unix_seconds;

const VERSION: &str = "2.0";
const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
const ENTITY_FORMAT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity";

/// Check the signed content and build the result:
/// 1. the Response ([`check_response`]): the signed one, or, when only the Assertion is signed,
///    the unsigned one of the original message, whose checks can then only refuse;
/// 2. the Assertion ([`check_assertion`]), always from the signed content.
pub(super) fn check(
    signed: SignedDocument,
    xml: &str,
    settings: &SamlIdpSettings,
    entity_id: &str,
    now: SystemTime,
) -> Result<VerifiedAssertion, SamlError> {
    let clock = Clock {
        now,
        skew: settings.clock_skew,
    };
    let (assertion, response_in_response_to) = match signed {
        SignedDocument::Response(mut response) => {
            check_response(&response, settings, entity_id, clock)?;
            let assertion = response
                .assertion
                .take()
                .ok_or_else(|| structure("the signed Response holds no Assertion"))?;
            (assertion, response.in_response_to)
        }
        SignedDocument::Assertion(assertion) => {
            let unsigned: Response = xml
                .parse()
                .map_err(|e| structure(format!("Response: {}", error_text(&e))))?;
            check_response(&unsigned, settings, entity_id, clock)?;
            (*assertion, unsigned.in_response_to)
        }
    };
    let mut verified = check_assertion(assertion, settings, entity_id, clock)?;
    verified.response_in_response_to = response_in_response_to;
    Ok(verified)
}

/// The Response (SAML Core §3.2.2, §3.2.2.2; Profiles §4.1.4.2):
/// 1. `Version` is 2.0;
/// 2. the Issuer, when present, is the IdP's entityID, in the entity format if any;
/// 3. the top-level StatusCode is `Success`;
/// 4. the `Destination`, when present, is one of the accepted endpoints;
/// 5. the `IssueInstant` is not ahead of `now` by more than the skew.
fn check_response(
    response: &Response,
    settings: &SamlIdpSettings,
    entity_id: &str,
    clock: Clock,
) -> Result<(), SamlError> {
    check_version(&response.version, "Response")?;
    if let Some(issuer) = &response.issuer {
        check_issuer(issuer, entity_id, "Response")?;
    }
    let status = response
        .status
        .as_ref()
        .and_then(|s| s.status_code.value.as_deref());
    if status != Some(STATUS_SUCCESS) {
        return Err(SamlError::invalid(
            SamlFault::Status,
            format!("status {:?}", status.map(truncated)),
        ));
    }
    if let Some(destination) = &response.destination
        && !settings.acs_urls.contains(destination)
    {
        return Err(SamlError::invalid(
            SamlFault::Destination,
            format!(
                "Destination {:?} is not an accepted endpoint",
                truncated(destination)
            ),
        ));
    }
    clock.not_ahead(
        SystemTime::from(response.issue_instant),
        "Response IssueInstant",
    )
}

/// The Assertion (SAML Core §2.3.3-§2.7; Profiles §4.1.4.2-§4.1.4.3):
/// 1. `Version` is 2.0 and the Issuer is the IdP's entityID, in the entity format if any;
/// 2. the `IssueInstant` is not ahead of `now` by more than the skew;
/// 3. Conditions are present; `NotBefore`, when present, is not ahead; `NotOnOrAfter`, when
///    present, has not passed (§2.5.1.2); there is an AudienceRestriction, and every one names
///    the SP (§2.5.1.4: each restriction must be met): `sp_entity_id`, or the portal's entity
///    ID;
/// 4. exactly one bearer SubjectConfirmation; its data has a `NotOnOrAfter` that has not passed,
///    a `NotBefore`, if any, not ahead, and a `Recipient` among the accepted endpoints;
/// 5. the Subject has a non-empty NameID;
/// 6. no AuthnStatement `SessionNotOnOrAfter` has passed;
/// 7. every Attribute has a `Name`.
fn check_assertion(
    assertion: Assertion,
    settings: &SamlIdpSettings,
    entity_id: &str,
    clock: Clock,
) -> Result<VerifiedAssertion, SamlError> {
    check_version(&assertion.version, "Assertion")?;
    check_issuer(&assertion.issuer, entity_id, "Assertion")?;
    clock.not_ahead(
        SystemTime::from(assertion.issue_instant),
        "Assertion IssueInstant",
    )?;
    let conditions = assertion.conditions.as_ref().ok_or_else(|| {
        SamlError::invalid(
            SamlFault::Audience,
            "no Conditions, so no AudienceRestriction",
        )
    })?;
    let conditions_not_on_or_after = check_conditions(conditions, settings, clock)?;
    let subject = assertion
        .subject
        .as_ref()
        .ok_or_else(|| SamlError::invalid(SamlFault::Subject, "no Subject"))?;
    let data = bearer_confirmation_data(subject)?;
    let (recipient, not_on_or_after) = check_confirmation_data(data, settings, clock)?;
    let confirmation_in_response_to = data.in_response_to.clone();
    let name_id = subject
        .name_id
        .as_ref()
        .filter(|n| !n.value.is_empty())
        .ok_or_else(|| SamlError::invalid(SamlFault::Subject, "no NameID"))?;
    let session_not_on_or_after = assertion
        .authn_statements
        .iter()
        .flatten()
        .filter_map(|s| s.session_not_on_or_after)
        .map(SystemTime::from)
        .min();
    if let Some(end) = session_not_on_or_after {
        clock.not_passed(end)?;
    }
    Ok(VerifiedAssertion {
        attributes: attributes(&assertion)?,
        assertion_id: assertion.id,
        issuer: entity_id.to_owned(),
        name_id: name_id.value.clone(),
        name_id_format: name_id.format.clone(),
        recipient,
        not_on_or_after,
        conditions_not_on_or_after,
        session_not_on_or_after,
        response_in_response_to: None,
        confirmation_in_response_to,
    })
}

/// Rule 3 of [`check_assertion`]; yields `NotOnOrAfter`.
fn check_conditions(
    conditions: &Conditions,
    settings: &SamlIdpSettings,
    clock: Clock,
) -> Result<Option<SystemTime>, SamlError> {
    if let Some(not_before) = conditions.not_before {
        clock.not_ahead(SystemTime::from(not_before), "Conditions NotBefore")?;
    }
    let not_on_or_after = conditions.not_on_or_after.map(SystemTime::from);
    if let Some(end) = not_on_or_after {
        clock.not_passed(end)?;
    }
    let restrictions = conditions.audience_restrictions.as_deref().unwrap_or(&[]);
    if restrictions.is_empty() {
        return Err(SamlError::invalid(
            SamlFault::Audience,
            "no AudienceRestriction",
        ));
    }
    let names_the_sp = |audiences: &[String]| {
        audiences.iter().any(|a| {
            *a == settings.sp_entity_id || settings.portal_entity_id.as_deref() == Some(a.as_str())
        })
    };
    if restrictions.iter().any(|r| !names_the_sp(&r.audience)) {
        return Err(SamlError::invalid(
            SamlFault::Audience,
            format!(
                "an AudienceRestriction without {:?}",
                truncated(&settings.sp_entity_id)
            ),
        ));
    }
    Ok(not_on_or_after)
}

/// The data of the one bearer SubjectConfirmation (Profiles §4.1.4.2). Confirmations of other
/// methods are ignored; two bearer ones with different data would leave it open which applies.
fn bearer_confirmation_data(subject: &Subject) -> Result<&SubjectConfirmationData, SamlError> {
    let bearers: Vec<_> = subject
        .subject_confirmations
        .iter()
        .flatten()
        .filter(|c| c.method.as_deref() == Some(BEARER))
        .collect();
    let [bearer] = bearers.as_slice() else {
        return Err(SamlError::invalid(
            SamlFault::SubjectConfirmation,
            format!(
                "{} bearer SubjectConfirmations instead of one",
                bearers.len()
            ),
        ));
    };
    bearer.subject_confirmation_data.as_ref().ok_or_else(|| {
        SamlError::invalid(
            SamlFault::SubjectConfirmation,
            "a bearer SubjectConfirmation without SubjectConfirmationData",
        )
    })
}

/// Rule 4 of [`check_assertion`]; yields the Recipient and `NotOnOrAfter`.
fn check_confirmation_data(
    data: &SubjectConfirmationData,
    settings: &SamlIdpSettings,
    clock: Clock,
) -> Result<(String, SystemTime), SamlError> {
    let not_on_or_after = data.not_on_or_after.map(SystemTime::from).ok_or_else(|| {
        SamlError::invalid(
            SamlFault::SubjectConfirmation,
            "SubjectConfirmationData without NotOnOrAfter",
        )
    })?;
    clock.not_passed(not_on_or_after)?;
    if let Some(not_before) = data.not_before {
        clock.not_ahead(
            SystemTime::from(not_before),
            "SubjectConfirmationData NotBefore",
        )?;
    }
    match &data.recipient {
        Some(recipient) if settings.acs_urls.contains(recipient) => {
            Ok((recipient.clone(), not_on_or_after))
        }
        Some(recipient) => Err(SamlError::invalid(
            SamlFault::Recipient,
            format!(
                "Recipient {:?} is not an accepted endpoint",
                truncated(recipient)
            ),
        )),
        None => Err(SamlError::invalid(
            SamlFault::Recipient,
            "SubjectConfirmationData without Recipient",
        )),
    }
}

/// Attribute name -> values over every AttributeStatement (SAML Core §2.7.3).
fn attributes(assertion: &Assertion) -> Result<BTreeMap<String, Vec<String>>, SamlError> {
    let mut attributes = BTreeMap::<String, Vec<String>>::new();
    for attribute in assertion
        .attribute_statements
        .iter()
        .flatten()
        .flat_map(|s| &s.attributes)
    {
        let name = attribute
            .name
            .clone()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| structure("an Attribute without Name"))?;
        attributes.entry(name).or_default().extend(
            attribute
                .values
                .iter()
                .map(|v| v.value.clone().unwrap_or_default()),
        );
    }
    Ok(attributes)
}

fn check_version(version: &str, element: &str) -> Result<(), SamlError> {
    if version == VERSION {
        Ok(())
    } else {
        Err(structure(format!(
            "{element} Version {:?} is not 2.0",
            truncated(version)
        )))
    }
}

/// Profiles §4.1.4.2: the Issuer is the IdP's unique identifier, its Format omitted or entity.
fn check_issuer(issuer: &Issuer, entity_id: &str, element: &str) -> Result<(), SamlError> {
    let fault = |detail: String| Err(SamlError::invalid(SamlFault::Issuer, detail));
    if let Some(format) = &issuer.format
        && format != ENTITY_FORMAT
    {
        return fault(format!(
            "{element} Issuer Format {:?} is not the entity format",
            truncated(format)
        ));
    }
    match issuer.value.as_deref() {
        Some(value) if value == entity_id => Ok(()),
        value => fault(format!(
            "{element} Issuer {:?} is not {:?}",
            value.map(truncated),
            truncated(entity_id)
        )),
    }
}

/// `now` and the allowed skew.
#[derive(Debug, Clone, Copy)]
struct Clock {
    now: SystemTime,
    skew: Duration,
}

impl Clock {
    /// `at` is not later than `now` plus the skew, else [`SamlFault::NotYetValid`].
    fn not_ahead(self, at: SystemTime, what: &str) -> Result<(), SamlError> {
        match self.now.checked_add(self.skew) {
            Some(limit) if at > limit => Err(SamlError::invalid(
                SamlFault::NotYetValid,
                format!(
                    "{what} is {} s ahead of now",
                    unix_seconds(at).saturating_sub(unix_seconds(self.now))
                ),
            )),
            _ => Ok(()),
        }
    }

    /// `now` is before `end` plus the skew, else [`SamlError::Expired`].
    fn not_passed(self, end: SystemTime) -> Result<(), SamlError> {
        match end.checked_add(self.skew) {
            Some(limit) if self.now >= limit => Err(SamlError::Expired),
            _ => Ok(()),
        }
    }
}

fn structure(detail: impl Into<String>) -> SamlError {
    SamlError::invalid(SamlFault::Structure, detail)
}
