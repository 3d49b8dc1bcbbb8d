//! Durations as the CLI prints them elsewhere (`1.2s`, `45.0s`, `2m05s`).

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_then_minutes() {
        assert_eq!(duration_text(Duration::from_millis(1_240)), "1.2s");
        assert_eq!(duration_text(Duration::from_secs(125)), "2m05s");
    }
}
