//! [`utc_text`]: a point in time as a report shows it. Always UTC: a report is read on other
//! machines than the one that wrote it, and this crate reads no clock or time zone.

/// `2026-12-01 21:39:44 UTC` for milliseconds since the Unix epoch.
pub(crate) fn utc_text(epoch_ms: i64) -> String {
    let days = epoch_ms.div_euclid(86_400_000);
    let second_of_day = epoch_ms.rem_euclid(86_400_000) / 1000;
    let (year, month, day) = civil_date(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    )
}

/// The proleptic Gregorian date of a day number (days since 1970-01-01), after Howard
/// Hinnant's `civil_from_days`.
fn civil_date(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
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
