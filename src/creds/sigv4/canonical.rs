//! Step 5: the canonical request and the string to sign, byte for byte as the signer built them.

use std::borrow::Cow;
use std::fmt::Write as _;

use aws_lc_rs::digest;
use data_encoding::HEXLOWER;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode, percent_encode};

use super::{ALGORITHM, SigV4Error, SignatureLocation, SignedRequest};

pub(super) const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// SigV4 "URI-encode": everything but `A-Z a-z 0-9 - . _ ~`, upper-case hex.
pub(super) const URI_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// The same, keeping the path's `/` separators.
const PATH_ENCODE: &AsciiSet = &URI_ENCODE.remove(b'/');
const SIGNATURE_PARAM: &[u8] = b"X-Amz-Signature";

/// One query parameter, form-decoded (`+` is a space, `%XX` a byte).
pub(super) struct QueryParam<'a> {
    pub name: Cow<'a, [u8]>,
    pub value: Cow<'a, [u8]>,
}

/// Splits the raw query on `&` (empty pieces skipped) and each piece on its first `=`.
pub(super) fn decode_query(query: &str) -> Vec<QueryParam<'_>> {
    query
        .split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
            QueryParam {
                name: form_decode(name),
                value: form_decode(value),
            }
        })
        .collect()
}

fn form_decode(raw: &str) -> Cow<'_, [u8]> {
    if raw.contains('+') {
        Cow::Owned(percent_decode(raw.replace('+', " ").as_bytes()).collect())
    } else {
        percent_decode(raw.as_bytes()).into()
    }
}

/// `METHOD\nURI\nQUERY\nHEADERS\n\nSIGNED_HEADERS\nPAYLOAD_HASH`
pub(super) fn canonical_request(
    request: &SignedRequest<'_>,
    query: &[QueryParam<'_>],
    location: SignatureLocation,
    signed_headers: &str,
    payload_hash: &str,
) -> Result<String, SigV4Error> {
    let mut out = String::with_capacity(512);
    out.push_str(request.method);
    out.push('\n');
    push_encoded(
        &mut out,
        normalize_path(request.path).as_bytes(),
        PATH_ENCODE,
    );
    out.push('\n');
    push_query(&mut out, query, location);
    out.push('\n');
    for name in signed_headers.split(';') {
        out.push_str(name);
        out.push(':');
        push_header_values(&mut out, request.headers, name)?;
        out.push('\n');
    }
    out.push('\n');
    out.push_str(signed_headers);
    out.push('\n');
    out.push_str(payload_hash);
    Ok(out)
}

/// `AWS4-HMAC-SHA256\nAMZ_DATE\nDATE/REGION/SERVICE/aws4_request\nhex(SHA-256(canonical request))`
pub(super) fn string_to_sign(
    amz_date: &str,
    scope_date: &str,
    region: &str,
    service: &str,
    canonical_request: &str,
) -> String {
    let hash = digest::digest(&digest::SHA256, canonical_request.as_bytes());
    let mut out = String::with_capacity(160);
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "{ALGORITHM}\n{amz_date}\n{scope_date}/{region}/{service}/aws4_request\n{}",
        HEXLOWER.encode(hash.as_ref())
    );
    out
}

/// Non-S3 path normalization: empty means `/`; `.`/`..` segments resolved (RFC 3986 §5.2.4);
/// empty segments dropped; a trailing `/` kept. The result is then URI-encoded once more, so
/// the already-encoded wire path ends up encoded twice, as the SDKs sign it.
fn normalize_path(path: &str) -> Cow<'_, str> {
    if path.is_empty() {
        return Cow::Borrowed("/");
    }
    let absolute = if path.starts_with('/') {
        Cow::Borrowed(path)
    } else {
        Cow::Owned(format!("/{path}"))
    };
    if !absolute.contains('.') && !absolute.contains("//") {
        return absolute;
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in absolute.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            kept => segments.push(kept),
        }
    }
    let mut normalized = String::with_capacity(absolute.len());
    for segment in &segments {
        normalized.push('/');
        normalized.push_str(segment);
    }
    let ends_with_slash = ["/", "/.", "/.."]
        .iter()
        .any(|tail| absolute.ends_with(tail));
    if normalized.is_empty() || (ends_with_slash && !normalized.ends_with('/')) {
        normalized.push('/');
    }
    Cow::Owned(normalized)
}

/// Each name and value URI-encoded, pairs sorted by encoded name then value, joined by `&`.
/// The presigned form leaves out `X-Amz-Signature`.
fn push_query(out: &mut String, query: &[QueryParam<'_>], location: SignatureLocation) {
    let mut encoded: Vec<(String, String)> = query
        .iter()
        .filter(|param| {
            location == SignatureLocation::Header || param.name.as_ref() != SIGNATURE_PARAM
        })
        .map(|param| {
            (
                percent_encode(&param.name, URI_ENCODE).to_string(),
                percent_encode(&param.value, URI_ENCODE).to_string(),
            )
        })
        .collect();
    encoded.sort_unstable();
    for (index, (name, value)) in encoded.iter().enumerate() {
        if index > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
}

fn push_encoded(out: &mut String, bytes: &[u8], set: &'static AsciiSet) {
    for chunk in percent_encode(bytes, set) {
        out.push_str(chunk);
    }
}

/// Every value of the header, in order received, trimmed, inner space runs collapsed, joined
/// by `,`. A signed header the request lacks cannot match.
fn push_header_values(
    out: &mut String,
    headers: &[(String, String)],
    name: &str,
) -> Result<(), SigV4Error> {
    let mut found = false;
    for (_, value) in headers
        .iter()
        .filter(|(header, _)| header.eq_ignore_ascii_case(name))
    {
        if found {
            out.push(',');
        }
        found = true;
        push_trimmed(out, value);
    }
    if found {
        Ok(())
    } else {
        Err(SigV4Error::SignatureDoesNotMatch)
    }
}

fn push_trimmed(out: &mut String, value: &str) {
    let mut previous_space = false;
    for c in value.trim_matches([' ', '\t']).chars() {
        if c == ' ' {
            if !previous_space {
                out.push(' ');
            }
            previous_space = true;
        } else {
            out.push(c);
            previous_space = false;
        }
    }
}
