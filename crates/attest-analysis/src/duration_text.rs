//! Durations as the CLI prints them elsewhere (`1.2s`, `45.0s`, `2m05s`), and the finer
//! forms of reports, where steps of a few milliseconds sit next to steps of minutes.

use std::time::Duration;

/// `1.2s` under a minute, `2m05s` from a minute on, like the run reporter.
pub(crate) fn duration_text(duration: Duration) -> String {
    let secs = duration.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        format!("{}m{:02}s", duration.as_secs() / 60, duration.as_secs() % 60)
    }
}

/// `113ms` under a second, `1.24s` under a minute, `2m05s` from a minute on.
pub(crate) fn millis_text(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.2}s", ms as f64 / 1000.0)
    } else {
        duration_text(Duration::from_millis(ms))
    }
}

/// `1.25s` (two decimals), or `-` when there is no value.
pub(crate) fn seconds_text(seconds: Option<f64>) -> String {
    seconds.map_or_else(|| "-".to_owned(), |s| format!("{s:.2}s"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_then_minutes() {
        assert_eq!(duration_text(Duration::from_millis(1_240)), "1.2s");
        assert_eq!(duration_text(Duration::from_secs(125)), "2m05s");
    }

    #[test]
    fn millis_then_seconds_then_minutes() {
        assert_eq!(millis_text(113), "113ms");
        assert_eq!(millis_text(1_240), "1.24s");
        assert_eq!(millis_text(125_000), "2m05s");
        assert_eq!(seconds_text(Some(0.5)), "0.50s");
        assert_eq!(seconds_text(None), "-");
    }
}
