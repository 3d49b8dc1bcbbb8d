//! Sorted compact JSON as Python writes it with `json.dumps(value, sort_keys=True,
//! separators=(",", ":"), ensure_ascii=False)`: the canonical form of the governance
//! digests, shared with nexus-attest. For ASCII keys, integers and no floats it is byte
//! for byte RFC 8785 ([`crate::canonical_json`]); it differs in key order for keys beyond
//! the Basic Multilingual Plane (Python sorts by code point, RFC 8785 by UTF-16 unit) and
//! in number forms, so governance digests use this one.

use std::fmt::Write as _;

use serde_json::Value;

/// Why a value has no sorted compact form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SortedJsonError {
    /// Floats are not allowed in digested governance data (no NaN, no precision games).
    #[error("a non-integer number ({0}) cannot be part of a digested document")]
    Float(String),
}

/// `value` as sorted compact JSON.
pub fn sorted_json(value: &Value) -> Result<String, SortedJsonError> {
    let mut out = String::new();
    write_value(&mut out, value)?;
    Ok(out)
}

fn write_value(out: &mut String, value: &Value) -> Result<(), SortedJsonError> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if n.is_i64() || n.is_u64() {
                let _ = write!(out, "{n}");
            } else {
                return Err(SortedJsonError::Float(n.to_string()));
            }
        }
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            // Rust's `str` order is byte order, which for UTF-8 is code point order: Python's.
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, key);
                out.push(':');
                write_value(out, &map[key])?;
            }
            out.push('}');
        }
    }
    Ok(())
}

/// Python's escaping with `ensure_ascii=False`: `"` and `\`, the five short escapes, other
/// control characters as `\u00XX` (lowercase hex); everything else as is.
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn matches_python_sort_keys_compact_unescaped() {
        // json.dumps({"b": [1, True, None], "a": "é\n\u0001\"\\", "é": {"z": -3, "y": ""}},
        //            sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        let value = json!({"b": [1, true, null], "a": "é\n\u{1}\"\\", "é": {"z": -3, "y": ""}});
        assert_eq!(
            sorted_json(&value).expect("no floats"),
            "{\"a\":\"é\\n\\u0001\\\"\\\\\",\"b\":[1,true,null],\"é\":{\"y\":\"\",\"z\":-3}}"
        );
    }

    #[test]
    fn keys_sort_by_code_point_like_python_not_by_utf16_unit() {
        // U+1F600 (😀) sorts after U+FF61 by code point, before it in UTF-16 units.
        let value = json!({"\u{1F600}": 1, "\u{FF61}": 2});
        assert_eq!(sorted_json(&value).expect("ok"), "{\"\u{FF61}\":2,\"\u{1F600}\":1}");
    }

    #[test]
    fn floats_are_refused() {
        assert!(matches!(sorted_json(&json!({"x": 1.5})), Err(SortedJsonError::Float(_))));
    }
}
