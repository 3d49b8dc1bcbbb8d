//! [`utc_text`]: a point in time as a report shows it. Always UTC: a report is read on other
//! machines than the one that wrote it, and this crate reads no clock or time zone.

/// `2026-12-01 21:39:44 UTC` for milliseconds since the Unix epoch.
pub(crate) fn utc_text(epoch_ms: i64) -> String {
    let days = epoch_ms.div_euclid(86_400_000);
    let second_of_day = epoch_ms.rem_euclid(86_400_000) / 1000;
    let (year, month, day) = attest_hash::civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_leap_day_and_a_recent_time() {
        assert_eq!(utc_text(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_text(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc_text(1_796_161_184_521), "2026-12-01 21:39:44 UTC");
        assert_eq!(utc_text(-1_000), "1969-12-31 23:59:59 UTC");
    }
}
