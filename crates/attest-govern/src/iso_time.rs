//! Timestamps as nexus-attest writes them: Python's `datetime.isoformat()` of a UTC time,
//! `YYYY-MM-DDTHH:MM:SS.ffffff+00:00`, the fraction left out when it is zero. It is also
//! valid RFC 3339, and it survives an export/import round trip byte for byte.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use attest_hash::{civil_from_days, days_from_civil};

/// Microseconds since the Unix epoch (negative before it).
pub type Micros = i64;

/// Now, in microseconds since the Unix epoch.
pub fn now_micros() -> Micros {
    micros_of(SystemTime::now())
}

/// `time` in microseconds since the Unix epoch.
pub fn micros_of(time: SystemTime) -> Micros {
    match time.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_micros()).unwrap_or(i64::MAX),
    }
}

/// `micros` as Python's UTC `isoformat()`.
pub fn iso(micros: Micros) -> String {
    let secs = micros.div_euclid(1_000_000);
    let fraction = micros.rem_euclid(1_000_000);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    let (hour, minute, second) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    let base = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}");
    if fraction == 0 { format!("{base}+00:00") } else { format!("{base}.{fraction:06}+00:00") }
}

/// Parses an RFC 3339 / ISO 8601 date-time with an offset (`Z`, `+00:00`, `-05:30`) and
/// up to nine fraction digits, to microseconds since the epoch. `None` when it is not one
/// (a time without an offset is refused: it would mean the reader's local time).
pub fn parse_iso(text: &str) -> Option<Micros> {
    let bytes = text.as_bytes();
    if text.len() < 20 || !text.is_ascii() {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> { text.get(range)?.parse().ok() };
    if bytes[4] != b'-'
        || bytes[7] != b'-'
        || !matches!(bytes[10], b'T' | b't' | b' ')
        || bytes[13] != b':'
        || bytes[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (num(0..4)?, u32::try_from(num(5..7)?).ok()?, u32::try_from(num(8..10)?).ok()?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &text[19..];
    let mut micros = 0i64;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        let padded = format!("{:0<6}", &fraction[..digits.min(6)]);
        micros = padded.parse().ok()?;
        rest = &fraction[digits..];
    }
    let offset_secs = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                return None;
            }
            let (h, m): (i64, i64) = (rest[1..3].parse().ok()?, rest[4..6].parse().ok()?);
            if h > 23 || m > 59 {
                return None;
            }
            sign * (h * 3600 + m * 60)
        }
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    Some(secs * 1_000_000 + micros)
}

/// Parses `24h`, `90m`, `2d`, `30s` (for `--expires`).
pub fn parse_span(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    let secs = match unit {
        "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    (secs > 0).then(|| Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_isoformat_with_and_without_fraction() {
        assert_eq!(iso(0), "1970-01-01T00:00:00+00:00");
        assert_eq!(iso(1_767_225_600_000_001), "2026-01-01T00:00:00.000001+00:00");
        assert_eq!(iso(1_741_694_400_120_000), "2025-03-11T12:00:00.120000+00:00");
    }

    #[test]
    fn parses_what_it_writes_and_common_rfc3339_forms() {
        for micros in [0, 1_767_225_600_000_001, 1_741_694_400_120_000, 951_782_400_999_999] {
            assert_eq!(parse_iso(&iso(micros)), Some(micros));
        }
        assert_eq!(parse_iso("2025-03-11T12:00:00.12Z"), Some(1_741_694_400_120_000));
        assert_eq!(parse_iso("2025-03-11T13:30:00+01:30"), Some(1_741_694_400_000_000));
        for bad in [
            "2025-03-11T12:00:00",
            "2025-13-11T12:00:00Z",
            "yesterday",
            "2025-03-11T12:00:00.Z",
            "2025-03-11T12:00:00+0100",
        ] {
            assert_eq!(parse_iso(bad), None, "{bad}");
        }
    }

    #[test]
    fn spans() {
        assert_eq!(parse_span("24h"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_span("90m"), Some(Duration::from_secs(5_400)));
        assert_eq!(parse_span("0h"), None);
        assert_eq!(parse_span("h"), None);
        assert_eq!(parse_span("5w"), None);
    }
}
