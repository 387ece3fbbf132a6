//! Step 1–2: find and parse the signature, its scope and the request time.

use std::time::{Duration, SystemTime};

use data_encoding::HEXLOWER;
use time::PrimitiveDateTime;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

use super::canonical::QueryParam;
use super::{
    ALGORITHM, MAX_CLOCK_SKEW, MAX_PRESIGNED_EXPIRES_SECONDS, SigV4Error, SignatureLocation,
    SignedRequest,
};

/// ISO 8601 basic format, as in `X-Amz-Date` and the string to sign.
const AMZ_DATE: &[BorrowedFormatItem<'_>] =
    format_description!("[year][month][day]T[hour][minute][second]Z");
/// RFC 9110 IMF-fixdate, the `Date` header.
const HTTP_DATE: &[BorrowedFormatItem<'_>] = format_description!(
    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
);
/// More signed headers than any SDK sends; bounds the canonical request.
const MAX_SIGNED_HEADERS: usize = 64;
/// Bounds on the scope parts (key ids are 16–128 characters in AWS).
const MAX_KEY_ID_LEN: usize = 128;
const MAX_SCOPE_PART_LEN: usize = 64;

/// Everything the signature claims, parsed; nothing here is trusted until the signature checks.
pub(super) struct Authentication {
    pub location: SignatureLocation,
    pub access_key_id: String,
    /// `YYYYMMDD`, equal to the first 8 characters of `amz_date`.
    pub scope_date: String,
    pub region: String,
    pub service: String,
    /// `a;b;c`, checked lower-case, sorted, unique, including `host`.
    pub signed_headers: String,
    pub signature: Vec<u8>,
    /// `YYYYMMDDTHHMMSSZ`
    pub amz_date: String,
    pub signed_at: SystemTime,
    /// How long after `signed_at` the request stays good.
    pub valid_for: Duration,
    pub session_token: Option<String>,
}

/// Header or query form, whichever the request carries (both is an error).
pub(super) fn authentication(
    request: &SignedRequest<'_>,
    query: &[QueryParam<'_>],
) -> Result<Authentication, SigV4Error> {
    let header = single_header(request.headers, "authorization")?;
    let algorithm = single_param(query, "X-Amz-Algorithm")?;
    match (header, algorithm) {
        (Some(_), Some(_)) => Err(SigV4Error::IncompleteSignature(
            "signature in both the Authorization header and the query string",
        )),
        (Some(authorization), None) => from_header(request, authorization),
        (None, Some(algorithm)) => from_query(query, algorithm),
        (None, None) => Err(SigV4Error::MissingAuthenticationToken),
    }
}

/// `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`
fn from_header(
    request: &SignedRequest<'_>,
    authorization: &str,
) -> Result<Authentication, SigV4Error> {
    let (algorithm, components) =
        authorization
            .trim()
            .split_once(' ')
            .ok_or(SigV4Error::IncompleteSignature(
                "malformed Authorization header",
            ))?;
    if algorithm != ALGORITHM {
        return Err(SigV4Error::IncompleteSignature(
            "unsupported Authorization algorithm",
        ));
    }
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for component in components.split(',') {
        let (name, value) =
            component
                .trim()
                .split_once('=')
                .ok_or(SigV4Error::IncompleteSignature(
                    "malformed Authorization component",
                ))?;
        let slot = match name {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => {
                return Err(SigV4Error::IncompleteSignature(
                    "unknown Authorization component",
                ));
            }
        };
        if slot.replace(value).is_some() {
            return Err(SigV4Error::IncompleteSignature(
                "repeated Authorization component",
            ));
        }
    }
    let credential = credential.ok_or(SigV4Error::IncompleteSignature(
        "Authorization header requires a Credential",
    ))?;
    let signed_headers = signed_headers.ok_or(SigV4Error::IncompleteSignature(
        "Authorization header requires SignedHeaders",
    ))?;
    let signature = signature.ok_or(SigV4Error::IncompleteSignature(
        "Authorization header requires a Signature",
    ))?;

    let (amz_date, signed_at) = match single_header(request.headers, "x-amz-date")? {
        Some(value) => parse_amz_date(value.trim())?,
        None => match single_header(request.headers, "date")? {
            Some(value) => parse_http_date(value.trim())?,
            None => {
                return Err(SigV4Error::IncompleteSignature(
                    "header-signed request requires X-Amz-Date or Date",
                ));
            }
        },
    };
    let session_token = single_header(request.headers, "x-amz-security-token")?
        .map(|token| token.trim().to_owned());
    // Every SDK signs the token; an unsigned one could be swapped for another of the same key.
    if session_token.is_some()
        && !signed_headers
            .split(';')
            .any(|h| h == "x-amz-security-token")
    {
        return Err(SigV4Error::IncompleteSignature(
            "x-amz-security-token must be a signed header",
        ));
    }
    assemble(
        SignatureLocation::Header,
        credential,
        signed_headers,
        signature,
        amz_date,
        signed_at,
        MAX_CLOCK_SKEW,
        session_token,
    )
}

/// `?X-Amz-Algorithm=…&X-Amz-Credential=…&X-Amz-Date=…&X-Amz-Expires=…&X-Amz-SignedHeaders=…&X-Amz-Signature=…`
fn from_query(query: &[QueryParam<'_>], algorithm: &[u8]) -> Result<Authentication, SigV4Error> {
    if algorithm != ALGORITHM.as_bytes() {
        return Err(SigV4Error::IncompleteSignature(
            "unsupported X-Amz-Algorithm",
        ));
    }
    let credential = required_param(query, "X-Amz-Credential")?;
    let signed_headers = required_param(query, "X-Amz-SignedHeaders")?;
    let signature = required_param(query, "X-Amz-Signature")?;
    let (amz_date, signed_at) = parse_amz_date(required_param(query, "X-Amz-Date")?)?;
    let expires = parse_expires(required_param(query, "X-Amz-Expires")?)?;
    let session_token = single_param(query, "X-Amz-Security-Token")?
        .map(param_str)
        .transpose()?
        .map(str::to_owned);
    assemble(
        SignatureLocation::Query,
        credential,
        signed_headers,
        signature,
        amz_date,
        signed_at,
        expires,
        session_token,
    )
}

#[allow(clippy::too_many_arguments)] // one call per form; a struct would only rename them
fn assemble(
    location: SignatureLocation,
    credential: &str,
    signed_headers: &str,
    signature: &str,
    amz_date: String,
    signed_at: SystemTime,
    valid_for: Duration,
    session_token: Option<String>,
) -> Result<Authentication, SigV4Error> {
    let scope = parse_credential(credential)?;
    if amz_date.get(..8) != Some(scope.date) {
        return Err(SigV4Error::SignatureDoesNotMatch);
    }
    check_signed_headers(signed_headers)?;
    let signature = HEXLOWER
        .decode(signature.as_bytes())
        .ok()
        .filter(|bytes| bytes.len() == 32)
        .ok_or(SigV4Error::IncompleteSignature(
            "Signature must be 64 lower-case hex digits",
        ))?;
    Ok(Authentication {
        location,
        access_key_id: scope.access_key_id.to_owned(),
        scope_date: scope.date.to_owned(),
        region: scope.region.to_owned(),
        service: scope.service.to_owned(),
        signed_headers: signed_headers.to_owned(),
        signature,
        amz_date,
        signed_at,
        valid_for,
        session_token,
    })
}

struct Scope<'a> {
    access_key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
}

/// `AKID/YYYYMMDD/REGION/SERVICE/aws4_request`; any region is accepted.
fn parse_credential(credential: &str) -> Result<Scope<'_>, SigV4Error> {
    const MALFORMED: SigV4Error = SigV4Error::IncompleteSignature(
        "Credential must be AKID/YYYYMMDD/REGION/SERVICE/aws4_request",
    );
    let mut parts = credential.split('/');
    let (Some(access_key_id), Some(date), Some(region), Some(service), Some(terminator), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(MALFORMED);
    };
    if terminator != "aws4_request" {
        return Err(SigV4Error::IncompleteSignature(
            "Credential scope must end in aws4_request",
        ));
    }
    let key_id_ok = !access_key_id.is_empty()
        && access_key_id.len() <= MAX_KEY_ID_LEN
        && access_key_id.bytes().all(|b| b.is_ascii_alphanumeric());
    let date_ok = date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit());
    if !key_id_ok || !date_ok || !is_scope_name(region) || !is_scope_name(service) {
        return Err(MALFORMED);
    }
    Ok(Scope {
        access_key_id,
        date,
        region,
        service,
    })
}

fn is_scope_name(part: &str) -> bool {
    !part.is_empty()
        && part.len() <= MAX_SCOPE_PART_LEN
        && part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// Lower-case header names, strictly ascending (sorted, no repeats), `host` among them.
fn check_signed_headers(list: &str) -> Result<(), SigV4Error> {
    let mut previous: Option<&str> = None;
    let mut has_host = false;
    for (count, name) in list.split(';').enumerate() {
        if count >= MAX_SIGNED_HEADERS {
            return Err(SigV4Error::IncompleteSignature("too many SignedHeaders"));
        }
        if name.is_empty() || !name.bytes().all(is_lower_case_token_byte) {
            return Err(SigV4Error::IncompleteSignature(
                "SignedHeaders must be lower-case header names",
            ));
        }
        if previous.is_some_and(|previous| previous >= name) {
            return Err(SigV4Error::IncompleteSignature(
                "SignedHeaders must be sorted and unique",
            ));
        }
        has_host |= name == "host";
        previous = Some(name);
    }
    if has_host {
        Ok(())
    } else {
        Err(SigV4Error::IncompleteSignature(
            "SignedHeaders must include host",
        ))
    }
}

/// An RFC 9110 `tchar` that is not an upper-case letter.
fn is_lower_case_token_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn parse_amz_date(value: &str) -> Result<(String, SystemTime), SigV4Error> {
    let parsed = PrimitiveDateTime::parse(value, AMZ_DATE)
        .ok()
        .filter(|_| value.len() == 16)
        .ok_or(SigV4Error::IncompleteSignature(
            "X-Amz-Date must be YYYYMMDDTHHMMSSZ",
        ))?;
    Ok((value.to_owned(), SystemTime::from(parsed.assume_utc())))
}

pub(super) fn parse_http_date(value: &str) -> Result<(String, SystemTime), SigV4Error> {
    const MALFORMED: SigV4Error =
        SigV4Error::IncompleteSignature("Date must be an IMF-fixdate (RFC 9110)");
    let parsed = PrimitiveDateTime::parse(value, HTTP_DATE).map_err(|_| MALFORMED)?;
    let amz_date = parsed.format(AMZ_DATE).map_err(|_| MALFORMED)?;
    Ok((amz_date, SystemTime::from(parsed.assume_utc())))
}

/// Whole seconds, 1..=[`MAX_PRESIGNED_EXPIRES_SECONDS`].
fn parse_expires(value: &str) -> Result<Duration, SigV4Error> {
    value
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| value.parse::<u64>().ok())
        .flatten()
        .filter(|seconds| (1..=MAX_PRESIGNED_EXPIRES_SECONDS).contains(seconds))
        .map(Duration::from_secs)
        .ok_or(SigV4Error::IncompleteSignature(
            "X-Amz-Expires must be 1..604800 seconds",
        ))
}

/// The header's value, or `None`; a repeated header is an error.
fn single_header<'h>(
    headers: &'h [(String, String)],
    name: &str,
) -> Result<Option<&'h str>, SigV4Error> {
    let mut found = headers
        .iter()
        .filter(|(header, _)| header.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str());
    let first = found.next();
    if found.next().is_some() {
        return Err(SigV4Error::IncompleteSignature(
            "repeated authentication header",
        ));
    }
    Ok(first)
}

/// The decoded parameter value, or `None`; a repeated parameter is an error.
fn single_param<'q>(
    query: &'q [QueryParam<'_>],
    name: &str,
) -> Result<Option<&'q [u8]>, SigV4Error> {
    let mut found = query
        .iter()
        .filter(|param| param.name.as_ref() == name.as_bytes())
        .map(|param| param.value.as_ref());
    let first = found.next();
    if found.next().is_some() {
        return Err(SigV4Error::IncompleteSignature(
            "repeated authentication query parameter",
        ));
    }
    Ok(first)
}

fn required_param<'q>(query: &'q [QueryParam<'_>], name: &str) -> Result<&'q str, SigV4Error> {
    single_param(query, name)?
        .ok_or(SigV4Error::IncompleteSignature(
            "presigned request lacks a required X-Amz parameter",
        ))
        .and_then(param_str)
}

fn param_str(value: &[u8]) -> Result<&str, SigV4Error> {
    std::str::from_utf8(value)
        .map_err(|_| SigV4Error::IncompleteSignature("authentication query parameter is not UTF-8"))
}
