//! How session records and audit entries are laid out in their sled values: as small as they can
//! be, since every issued credential writes one of each and the audit is kept for months.
//!
//! - A session record is a format byte and the record in postcard (a compact binary encoding),
//!   without what its key already says (the access key id and the expiry).
//! - An audit entry of a group commit is its events' JSON array, zstd-compressed: the events of
//!   one commit repeat most of their text (names, ARNs, the user agent), so one frame holds them
//!   in a fraction of the space.
//!
//! Records written before (JSON, uncompressed) are read as they are.

use std::io::Read as _;

use crate::creds::Session;
use crate::store::SessionRecord;

/// The first byte of a session record in the compact format (a JSON record starts with `{`).
const SESSION_COMPACT_V1: u8 = 1;

/// The magic number that opens a zstd frame (RFC 8878).
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// zstd's level for audit entries: the fastest. Higher levels saved a few percent of the disk
/// for several times the CPU of the commit thread (`benches/footprint.rs`).
const ZSTD_LEVEL: i32 = 1;

/// The largest audit entry decompressed: far beyond any commit's events (each event is cut to
/// about 2 KiB), so a corrupt frame cannot make the reader allocate without bound.
const MAX_ENTRY_BYTES: u64 = 256 * 1024 * 1024;

/// What a session's value holds: the record less its key's fields.
#[derive(serde::Serialize, serde::Deserialize)]
struct Stored<S> {
    session: S,
    audience: String,
    issued_at: i64,
    request_id: String,
    source_ip: Option<String>,
}

/// The value of `record` in the compact format.
pub(super) fn encode_session(record: &SessionRecord) -> Result<Vec<u8>, String> {
    let stored = Stored {
        session: &record.session,
        audience: record.audience.clone(),
        issued_at: record.issued_at,
        request_id: record.request_id.clone(),
        source_ip: record.source_ip.clone(),
    };
    postcard::to_extend(&stored, vec![SESSION_COMPACT_V1]).map_err(|e| e.to_string())
}

/// The session stored under `access_key_id` and `expires_at` (its key) as `value`.
pub(super) fn decode_session(
    access_key_id: &str,
    expires_at: i64,
    value: &[u8],
) -> Result<SessionRecord, String> {
    match value.first() {
        Some(&SESSION_COMPACT_V1) => {
            let (stored, rest) = postcard::take_from_bytes::<Stored<Session>>(&value[1..])
                .map_err(|e| e.to_string())?;
            if !rest.is_empty() {
                return Err(format!("{} bytes after the record", rest.len()));
            }
            Ok(SessionRecord {
                access_key_id: access_key_id.to_owned(),
                session: stored.session,
                audience: stored.audience,
                issued_at: stored.issued_at,
                expires_at,
                request_id: stored.request_id,
                source_ip: stored.source_ip,
            })
        }
        Some(b'{') => serde_json::from_slice(value).map_err(|e| e.to_string()),
        Some(other) => Err(format!("unknown record format {other}")),
        None => Err("an empty record".into()),
    }
}

/// The value of an audit entry holding `events` (each the JSON of one event), in order.
pub(super) fn encode_events<'a>(
    events: impl ExactSizeIterator<Item = &'a [u8]>,
) -> std::io::Result<Vec<u8>> {
    let mut json = Vec::new();
    json.push(b'[');
    for (i, event) in events.enumerate() {
        if i > 0 {
            json.push(b',');
        }
        json.extend_from_slice(event);
    }
    json.push(b']');
    zstd::bulk::compress(&json, ZSTD_LEVEL)
}

/// The JSON of an audit entry's value (one event or an array of them).
pub(super) fn events_json(value: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, String> {
    if !value.starts_with(&ZSTD_MAGIC) {
        return Ok(std::borrow::Cow::Borrowed(value));
    }
    let mut json = Vec::new();
    zstd::stream::read::Decoder::new(value)
        .map_err(|e| e.to_string())?
        .take(MAX_ENTRY_BYTES + 1)
        .read_to_end(&mut json)
        .map_err(|e| format!("decompressing: {e}"))?;
    if json.len() as u64 > MAX_ENTRY_BYTES {
        return Err(format!("larger than {MAX_ENTRY_BYTES} bytes decompressed"));
    }
    Ok(std::borrow::Cow::Owned(json))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance::session;

    #[test]
    fn a_session_round_trips_without_its_key_fields() {
        let record = session("ASIAROUNDTRIP", 1_795_003_600);
        let value = encode_session(&record).unwrap();
        let json = serde_json::to_vec(&record).unwrap();
        assert!(
            value.len() * 2 < json.len(),
            "{} bytes compact, {} as JSON",
            value.len(),
            json.len()
        );
        assert_eq!(
            decode_session("ASIAROUNDTRIP", 1_795_003_600, &value).unwrap(),
            record
        );
    }

    #[test]
    fn a_json_session_of_an_older_store_is_read() {
        let record = session("ASIAOLDJSON", 1_000);
        let json = serde_json::to_vec(&record).unwrap();
        assert_eq!(decode_session("ASIAOLDJSON", 1_000, &json).unwrap(), record);
    }

    #[test]
    fn a_damaged_session_value_is_an_error_not_a_record() {
        let value = encode_session(&session("ASIADAMAGED", 1_000)).unwrap();
        for bad in [
            &value[..value.len() - 1],
            &[value.as_slice(), &[0]].concat()[..],
            &[7, 1, 2][..],
            &[][..],
            &b"{\"access_key_id\":"[..],
        ] {
            assert!(
                decode_session("ASIADAMAGED", 1_000, bad).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn audit_entries_are_compressed_and_read_back() {
        let events: Vec<Vec<u8>> = (0..32)
            .map(|i| {
                serde_json::to_vec(&serde_json::json!({
                    "eventName": "AssumeRoleWithWebIdentity",
                    "userAgent": "aws-sdk-rust/1.3.9 ua/2.1 api/sts/1.89.0 os/linux lang/rust/1.94.0",
                    "requestID": format!("{i:08x}-5a3e-4c1b-9d2f-000000000000"),
                }))
                .unwrap()
            })
            .collect();
        let value = encode_events(events.iter().map(Vec::as_slice)).unwrap();
        let json = events_json(&value).unwrap();
        let parsed: Vec<serde_json::Value> = serde_json::from_slice(&json).unwrap();
        assert_eq!(parsed.len(), 32);
        assert_eq!(
            parsed[31]["requestID"],
            "0000001f-5a3e-4c1b-9d2f-000000000000"
        );
        assert!(
            value.len() * 4 < json.len(),
            "{} of {}",
            value.len(),
            json.len()
        );
        let plain = br#"[{"eventName":"x"}]"#;
        assert_eq!(
            &*events_json(plain).unwrap(),
            plain,
            "an older entry is JSON as it is"
        );
        let mut broken = value.clone();
        broken.truncate(value.len() / 2);
        assert!(events_json(&broken).is_err());
    }
}
