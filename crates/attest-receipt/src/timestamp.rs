//! UTC timestamps as receipts write them: RFC 3339 with milliseconds
//! (`2026-11-23T14:30:52.123Z`) inside statements, and the compact form
//! (`20261123T143052Z`) in file names.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use attest_hash::{civil_from_days, days_from_civil};

struct Parts {
    year: i64,
    month: u32,
    day: u32,
    hour: u64,
    minute: u64,
    second: u64,
    millis: u32,
}

fn parts(time: SystemTime) -> Parts {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = since.as_secs();
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    Parts {
        year,
        month,
        day,
        hour: rem / 3600,
        minute: rem % 3600 / 60,
        second: rem % 60,
        millis: since.subsec_millis(),
    }
}

/// `2026-11-23T14:30:52.123Z`.
pub fn rfc3339(time: SystemTime) -> String {
    let p = parts(time);
    format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", p.year, p.month, p.day, p.hour, p.minute, p.second, p.millis)
}

/// `20261123T143052Z`, for file names (sorts by time).
pub fn compact(time: SystemTime) -> String {
    let p = parts(time);
    format!("{:04}{:02}{:02}T{:02}{:02}{:02}Z", p.year, p.month, p.day, p.hour, p.minute, p.second)
}

/// Parses the UTC RFC 3339 form `YYYY-MM-DDTHH:MM:SS[.fff…]Z` (what attest and most tools
/// write); other offsets are not accepted.
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let text = text.strip_suffix('Z').or_else(|| text.strip_suffix('z'))?;
    let (date, time) = text.split_once(['T', 't'])?;
    let mut date = date.splitn(3, '-');
    let year: i64 = date.next()?.parse().ok()?;
    let month: u32 = date.next()?.parse().ok()?;
    let day: u32 = date.next()?.parse().ok()?;
    let (hms, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut hms = hms.splitn(3, ':');
    let hour: u64 = hms.next()?.parse().ok()?;
    let minute: u64 = hms.next()?.parse().ok()?;
    let second: u64 = hms.next()?.parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let nanos: u32 = format!("{fraction:0<9}").get(..9)?.parse().ok()?;
    let days = u64::try_from(days_from_civil(year, month, day)).ok()?;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second;
    UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        // `date -u -d @1795969852`: Sun Nov 29 16:30:52 UTC 2026.
        let t = UNIX_EPOCH + Duration::from_millis(1_795_969_852_123);
        assert_eq!(rfc3339(t), "2026-11-29T16:30:52.123Z");
        assert_eq!(compact(t), "20261129T163052Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000Z");
        assert_eq!(parse_rfc3339("2026-11-29T16:30:52.123Z"), Some(t));
        assert_eq!(parse_rfc3339("2026-11-29T16:30:52Z"), Some(UNIX_EPOCH + Duration::from_secs(1_795_969_852)));
        assert_eq!(parse_rfc3339("2026-11-29T16:30:52+01:00"), None);
        assert_eq!(parse_rfc3339("2026-13-29T16:30:52Z"), None);
        assert_eq!(parse_rfc3339("garbage"), None);
    }

    proptest! {
        #[test]
        fn round_trips(millis in 0u64..8_000_000_000_000) {
            let t = UNIX_EPOCH + Duration::from_millis(millis);
            prop_assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t));
        }
    }
}
