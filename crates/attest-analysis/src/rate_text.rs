//! [`percent_text`]: a share (0 to 1) as people read it.

/// `83.3%`, or `-` when there is no share (nothing to divide by).
pub(crate) fn percent_text(rate: Option<f64>) -> String {
    rate.map_or_else(|| "-".to_owned(), |r| format!("{:.1}%", r * 100.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_decimal_or_a_dash() {
        assert_eq!(percent_text(Some(5.0 / 6.0)), "83.3%");
        assert_eq!(percent_text(None), "-");
    }
}
