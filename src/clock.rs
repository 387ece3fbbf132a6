//! The one place that reads the wall clock.
//!
//! Everything else takes `now: SystemTime` as a parameter so tests can pin time and
//! background tasks can be driven deterministically.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of "now".
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> SystemTime;
}

/// The real wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one place that reads the wall clock
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that only moves when told to (tests, simulations).
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<SystemTime>,
}

impl ManualClock {
    pub fn new(start: SystemTime) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    pub fn set(&self, to: SystemTime) {
        *self.now.lock().unwrap_or_else(|e| e.into_inner()) = to;
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A monotonic stopwatch for measuring elapsed time (load tool, benchmarks). It never decides
/// anything about validity; that is what `now: SystemTime` parameters are for.
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch(std::time::Instant);

impl Stopwatch {
    #[allow(clippy::disallowed_methods)] // the one place that reads the monotonic clock
    pub fn start() -> Self {
        Self(std::time::Instant::now())
    }

    pub fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
}

/// Seconds since the Unix epoch (negative before it).
pub fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// The instant `secs` seconds after the Unix epoch (clamped at the epoch for negatives).
pub fn from_unix_seconds(secs: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}

/// ISO 8601 / RFC 3339 UTC with second precision, as AWS prints `Expiration`: `2026-11-22T19:08:00Z`.
pub fn iso8601(t: SystemTime) -> String {
    let secs = unix_seconds(t);
    match time::OffsetDateTime::from_unix_timestamp(secs) {
        Ok(dt) => dt
            .format(&time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
            ))
            .unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// The unix seconds of an RFC 3339 time (`2026-11-18T11:06:40Z`, any offset) or of the start
/// (00:00 UTC) of a date (`2026-11-18`).
pub fn parse_time_or_date(text: &str) -> Option<i64> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(at) = time::OffsetDateTime::parse(text, &Rfc3339) {
        return Some(at.unix_timestamp());
    }
    let date = time::Date::parse(
        text,
        &time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()?;
    Some(date.midnight().assume_utc().unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_is_second_precision_utc() {
        assert_eq!(
            iso8601(from_unix_seconds(1_795_000_000)),
            "2026-11-18T11:06:40Z"
        );
        assert_eq!(iso8601(UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn times_and_dates_are_read_as_utc_unless_they_say_otherwise() {
        assert_eq!(
            parse_time_or_date("2026-11-18T11:06:40Z"),
            Some(1_795_000_000)
        );
        assert_eq!(
            parse_time_or_date("2026-11-18T12:06:40+01:00"),
            Some(1_795_000_000)
        );
        assert_eq!(
            parse_time_or_date("2026-11-18"),
            Some(1_795_000_000 - 40_000)
        );
        for bad in [
            "",
            "2026-11-18 11:06:40",
            "2026-13-01",
            "yesterday",
            "1795000000",
        ] {
            assert_eq!(parse_time_or_date(bad), None, "{bad}");
        }
        let written = iso8601(from_unix_seconds(1_795_000_000));
        assert_eq!(parse_time_or_date(&written), Some(1_795_000_000));
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new(from_unix_seconds(100));
        assert_eq!(unix_seconds(c.now()), 100);
        c.advance(Duration::from_secs(5));
        assert_eq!(unix_seconds(c.now()), 105);
    }
}
