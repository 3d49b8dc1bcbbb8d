//! A YAML document as a tree of located nodes.
//!
//! serde stops at the first error; to report every mistake at once, the document is first
//! read into this tree (every node knows its line and column) and checked against the
//! JSON Schema by [`crate::schema_check`]. Only a tree without structural errors is turned
//! into the typed [`crate::RawPipeline`].

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// A 1-based line and column in the source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Location {
    /// 1-based line.
    pub line: u64,
    /// 1-based column.
    pub column: u64,
}

impl Location {
    fn from_saphyr(location: serde_saphyr::Location) -> Self {
        Self { line: location.line(), column: location.column() }
    }
}

/// A YAML value with its location.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub(crate) location: Location,
    pub(crate) value: Value,
}

/// The shapes a YAML value can take.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Integer(i128),
    Float(f64),
    String(String),
    Sequence(Vec<Node>),
    /// Entries in file order: key text, key location, value.
    Mapping(Vec<(String, Location, Node)>),
}

impl Value {
    /// The noun used in "expected a string, found a …" messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Value::Null => "nothing (null)",
            Value::Bool(_) => "a boolean",
            Value::Integer(_) => "an integer",
            Value::Float(_) => "a number",
            Value::String(_) => "a string",
            Value::Sequence(_) => "a list",
            Value::Mapping(_) => "a mapping",
        }
    }
}

impl Node {
    /// The value as JSON, for deserialising into typed structs once it has been checked.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        match &self.value {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Integer(i) => i64::try_from(*i)
                .map(serde_json::Value::from)
                .or_else(|_| u64::try_from(*i).map(serde_json::Value::from))
                .unwrap_or(serde_json::Value::Null),
            Value::Float(f) => {
                serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, serde_json::Value::Number)
            }
            Value::String(s) => serde_json::Value::String(s.clone()),
            Value::Sequence(items) => serde_json::Value::Array(items.iter().map(Node::to_json).collect()),
            Value::Mapping(entries) => {
                serde_json::Value::Object(entries.iter().map(|(k, _, v)| (k.clone(), v.to_json())).collect())
            }
        }
    }

    /// The node at a JSON-pointer-like path of keys and indexes, if present.
    pub(crate) fn find(&self, path: &[PathPart]) -> Option<&Node> {
        let Some((first, rest)) = path.split_first() else { return Some(self) };
        match (first, &self.value) {
            (PathPart::Key(key), Value::Mapping(entries)) => {
                entries.iter().find(|(k, _, _)| k == key).and_then(|(_, _, v)| v.find(rest))
            }
            (PathPart::Index(i), Value::Sequence(items)) => items.get(*i).and_then(|v| v.find(rest)),
            _ => None,
        }
    }

    /// Removes the mapping entry at `path` (a path ending in a key), if present.
    pub(crate) fn remove(&mut self, path: &[PathPart]) {
        let Some((last, parents)) = path.split_last() else { return };
        let mut node = self;
        for part in parents {
            let next = match (part, &mut node.value) {
                (PathPart::Key(key), Value::Mapping(entries)) => {
                    entries.iter_mut().find(|(k, _, _)| k == key).map(|(_, _, v)| v)
                }
                (PathPart::Index(i), Value::Sequence(items)) => items.get_mut(*i),
                _ => None,
            };
            match next {
                Some(next) => node = next,
                None => return,
            }
        }
        if let (PathPart::Key(key), Value::Mapping(entries)) = (last, &mut node.value) {
            entries.retain(|(k, _, _)| k != key);
        }
    }

    /// The location of the key `key` in this mapping.
    pub(crate) fn key_location(&self, key: &str) -> Option<Location> {
        match &self.value {
            Value::Mapping(entries) => entries.iter().find(|(k, _, _)| k == key).map(|(_, l, _)| *l),
            _ => None,
        }
    }
}

/// One step of a path into the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PathPart {
    Key(String),
    Index(usize),
}

/// Renders a path as `steps.build.outputs[0]`.
pub(crate) fn display_path(path: &[PathPart]) -> String {
    let mut out = String::new();
    for part in path {
        match part {
            PathPart::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            PathPart::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

struct SpannedNode(Node);

impl<'de> Deserialize<'de> for SpannedNode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<ValueOnly>::deserialize(deserializer)?;
        Ok(SpannedNode(Node { location: Location::from_saphyr(spanned.referenced), value: spanned.value.0 }))
    }
}

struct ValueOnly(Value);

impl<'de> Deserialize<'de> for ValueOnly {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor).map(ValueOnly)
    }
}

struct KeyText(String);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = deserializer.deserialize_any(ValueVisitor)?;
        match value {
            Value::String(s) => Ok(KeyText(s)),
            Value::Bool(b) => Ok(KeyText(b.to_string())),
            Value::Integer(i) => Ok(KeyText(i.to_string())),
            Value::Float(f) => Ok(KeyText(f.to_string())),
            Value::Null => Ok(KeyText(String::new())),
            other => Err(de::Error::custom(format!("a mapping key must be text, found {}", other.kind()))),
        }
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Integer(i128::from(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Integer(i128::from(v)))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        Ok(Value::Integer(v))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        Ok(i128::try_from(v).map_or(Value::Float(v as f64), Value::Integer))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::String(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(SpannedNode(node)) = seq.next_element()? {
            items.push(node);
        }
        Ok(Value::Sequence(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<KeyText>>()? {
            let SpannedNode(value) = map.next_value()?;
            entries.push((key.value.0, Location::from_saphyr(key.referenced), value));
        }
        Ok(Value::Mapping(entries))
    }
}

/// A YAML syntax error with its location when known.
#[derive(Debug, Clone)]
pub(crate) struct SyntaxError {
    pub(crate) location: Option<Location>,
    pub(crate) message: String,
}

/// Parses YAML text into a located tree.
pub(crate) fn parse_yaml(source: &str) -> Result<Node, SyntaxError> {
    // YAML 1.2 booleans only: `run: y` is the string "y", not `true`.
    let mut options = serde_saphyr::Options::default();
    options.strict_booleans = true;
    match serde_saphyr::from_str_with_options::<SpannedNode>(source, options) {
        Ok(SpannedNode(node)) => Ok(node),
        Err(err) => {
            let location = err.location().map(Location::from_saphyr).filter(|l| l.line > 0);
            let message = err.without_snippet().to_string();
            // The message may repeat the location; keep the first line, which states the problem.
            let mut message = message.lines().next().unwrap_or("invalid YAML").trim().to_owned();
            for noise in [", set DuplicateKeyPolicy", " at line "] {
                if let Some(cut) = message.find(noise) {
                    message.truncate(cut);
                }
            }
            Err(SyntaxError { location, message })
        }
    }
}

#[cfg(test)]
#[cfg_attr(test, allow(clippy::unwrap_used))]
mod tests {
    use super::*;

    #[test]
    fn locations_of_keys_and_values() {
        let node = parse_yaml("a:\n  b: [1, x]\n  c: true\n").unwrap();
        let b = node.find(&[PathPart::Key("a".into()), PathPart::Key("b".into())]).unwrap();
        assert_eq!(b.location.line, 2);
        let x = node.find(&[PathPart::Key("a".into()), PathPart::Key("b".into()), PathPart::Index(1)]).unwrap();
        assert_eq!(x.value, Value::String("x".into()));
        assert_eq!((x.location.line, x.location.column), (2, 10));
        let a = node.find(&[PathPart::Key("a".into())]).unwrap();
        assert_eq!(a.key_location("c").map(|l| (l.line, l.column)), Some((3, 3)));
    }

    #[test]
    fn only_yaml_1_2_booleans() {
        let node = parse_yaml("a: y\nb: yes\nc: true\n").unwrap();
        assert_eq!(node.find(&[PathPart::Key("a".into())]).unwrap().value, Value::String("y".into()));
        assert_eq!(node.find(&[PathPart::Key("b".into())]).unwrap().value, Value::String("yes".into()));
        assert_eq!(node.find(&[PathPart::Key("c".into())]).unwrap().value, Value::Bool(true));
    }

    #[test]
    fn syntax_errors_and_duplicate_keys_have_locations() {
        let err = parse_yaml("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.location.is_some(), "{err:?}");
        let err = parse_yaml("a: 1\na: 2\n").unwrap_err();
        assert!(err.message.to_lowercase().contains("duplicate"), "{err:?}");
    }
}
