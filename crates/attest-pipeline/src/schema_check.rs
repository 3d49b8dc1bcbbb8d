//! Structural checks of a [`Node`] tree against the pipeline's JSON Schema.
//!
//! A small interpreter for the subset of JSON Schema that `schemars` emits for
//! [`crate::RawPipeline`] (`$ref`, `anyOf`/`oneOf`, `enum`/`const`, `type`, `properties`,
//! `required`, `additionalProperties`, `items`, `minimum`/`maximum`). It collects every
//! problem with its location instead of stopping at the first one, and words each for
//! a person: unknown keys get a "did you mean", wrong types get an example of the right
//! one. A test in the crate checks that the schema uses nothing outside this subset.

use serde_json::Value as Json;

use crate::did_you_mean::did_you_mean;
use crate::node::{Location, Node, PathPart, Value, display_path};

/// One structural problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub(crate) location: Location,
    pub(crate) message: String,
    pub(crate) hint: Option<String>,
    /// For an unknown key: its path. Such a key can be dropped and checking can go on,
    /// so that its problem is reported together with the semantic ones.
    pub(crate) unknown_key: Option<Vec<PathPart>>,
}

/// Keywords this checker understands; any other keyword in the schema is a bug that a
/// test catches.
#[cfg(test)]
pub(crate) const UNDERSTOOD_KEYWORDS: &[&str] = &[
    "$schema",
    "$ref",
    "$defs",
    "title",
    "description",
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "anyOf",
    "oneOf",
    "enum",
    "const",
    "minimum",
    "maximum",
    "format",
    "default",
];

struct Checker<'a> {
    root: &'a Json,
    problems: Vec<Problem>,
}

/// Checks `node` against `schema` and returns every problem found.
pub(crate) fn check(schema: &Json, node: &Node) -> Vec<Problem> {
    let mut checker = Checker { root: schema, problems: Vec::new() };
    let mut path = Vec::new();
    checker.node(schema, node, &mut path);
    checker.problems
}

fn kind_matches(kind: &str, value: &Value) -> bool {
    matches!(
        (kind, value),
        ("null", Value::Null)
            | ("boolean", Value::Bool(_))
            | ("integer", Value::Integer(_))
            | ("number", Value::Integer(_) | Value::Float(_))
            | ("string", Value::String(_))
            | ("array", Value::Sequence(_))
            | ("object", Value::Mapping(_))
    )
}

fn noun(kind: &str) -> &'static str {
    match kind {
        "null" => "null",
        "boolean" => "true or false",
        "integer" => "a whole number",
        "number" => "a number",
        "string" => "a string",
        "array" => "a list",
        "object" => "a mapping",
        _ => "a value",
    }
}

fn types_of(schema: &Json) -> Vec<&str> {
    match schema.get("type") {
        Some(Json::String(s)) => vec![s.as_str()],
        Some(Json::Array(items)) => items.iter().filter_map(Json::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Where a problem at `path` is, in words: "step `build`", "`cache`", "the top level".
pub(crate) fn context(path: &[PathPart]) -> String {
    match path {
        [] => "the top level".to_owned(),
        [PathPart::Key(steps), PathPart::Key(name)] if steps == "steps" => format!("step `{name}`"),
        _ => format!("`{}`", display_path(path)),
    }
}

fn type_hint(expected: &[&str], value: &Value, path: &[PathPart]) -> Option<String> {
    let key = match path.last() {
        Some(PathPart::Key(k)) => k.as_str(),
        _ => "value",
    };
    if expected.contains(&"string") {
        return match value {
            Value::Integer(_) | Value::Float(_) | Value::Bool(_) => {
                Some("quote the value to make it a string, e.g. `\"8080\"`".to_owned())
            }
            Value::Sequence(_) => Some(format!("`{key}` takes one string; join the items into one value")),
            _ => None,
        };
    }
    if expected.contains(&"array") {
        return Some(format!("write a list, e.g. `{key}: [first, second]`"));
    }
    if expected.contains(&"object") {
        return Some(format!("write a mapping of names to values, e.g. `{key}: {{ NAME: value }}`"));
    }
    if expected.contains(&"boolean") {
        return Some(format!("write `{key}: true` or `{key}: false`"));
    }
    None
}

impl<'a> Checker<'a> {
    fn resolve(&self, schema: &'a Json) -> &'a Json {
        let mut current = schema;
        for _ in 0..32 {
            let Some(reference) = current.get("$ref").and_then(Json::as_str) else { break };
            let Some(name) = reference.strip_prefix("#/$defs/") else { break };
            match self.root.get("$defs").and_then(|d| d.get(name)) {
                Some(target) => current = target,
                None => break,
            }
        }
        current
    }

    fn push(&mut self, location: Location, message: String, hint: Option<String>) {
        self.problems.push(Problem { location, message, hint, unknown_key: None });
    }

    fn node(&mut self, schema: &'a Json, node: &Node, path: &mut Vec<PathPart>) {
        let schema = self.resolve(schema);
        if let Some(branches) = schema.get("anyOf").or_else(|| schema.get("oneOf")).and_then(Json::as_array) {
            self.alternatives(branches, node, path);
            return;
        }
        if let Some(allowed) = schema.get("enum").and_then(Json::as_array) {
            self.enumeration(allowed, node, path);
            return;
        }
        if let Some(constant) = schema.get("const") {
            self.enumeration(std::slice::from_ref(constant), node, path);
            return;
        }
        let expected = types_of(schema);
        if !expected.is_empty() && !expected.iter().any(|k| kind_matches(k, &node.value)) {
            let wanted: Vec<&str> = expected.iter().filter(|k| **k != "null").map(|k| noun(k)).collect();
            let what = if path.is_empty() { "the file".to_owned() } else { format!("`{}`", display_path(path)) };
            self.push(
                node.location,
                format!("{what} must be {}, found {}", wanted.join(" or "), node.value.kind()),
                type_hint(&expected, &node.value, path),
            );
            return;
        }
        match &node.value {
            Value::Mapping(entries) => self.mapping(schema, node, entries, path),
            Value::Sequence(items) => {
                if let Some(item_schema) = schema.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        path.push(PathPart::Index(i));
                        self.node(item_schema, item, path);
                        path.pop();
                    }
                }
            }
            Value::Integer(n) => self.bounds(schema, *n, node.location, path),
            _ => {}
        }
    }

    fn bounds(&mut self, schema: &Json, n: i128, location: Location, path: &[PathPart]) {
        let minimum = schema.get("minimum").and_then(Json::as_i64).map(i128::from);
        let maximum = match schema.get("format").and_then(Json::as_str) {
            Some("uint32") => Some(i128::from(u32::MAX)),
            Some("uint64") => Some(i128::from(u64::MAX)),
            _ => schema.get("maximum").and_then(Json::as_i64).map(i128::from),
        };
        if minimum.is_some_and(|m| n < m) || maximum.is_some_and(|m| n > m) {
            let range = format!(
                "between {} and {}",
                minimum.map_or("-inf".to_owned(), |m| m.to_string()),
                maximum.map_or("inf".to_owned(), |m| m.to_string())
            );
            self.push(location, format!("`{}` must be {range}, found {n}", display_path(path)), None);
        }
    }

    fn alternatives(&mut self, branches: &'a [Json], node: &Node, path: &mut Vec<PathPart>) {
        let candidates: Vec<&'a Json> = branches
            .iter()
            .filter(|b| {
                let b = self.resolve(b);
                let kinds = types_of(b);
                kinds.is_empty() || kinds.iter().any(|k| kind_matches(k, &node.value))
            })
            .collect();
        let constants: Option<Vec<Json>> = candidates
            .iter()
            .map(|b| {
                let b = self.resolve(b);
                b.get("const").map(|c| vec![c.clone()]).or_else(|| b.get("enum").and_then(Json::as_array).cloned())
            })
            .collect::<Option<Vec<Vec<Json>>>>()
            .map(|lists| lists.concat());
        if let Some(constants) = constants.filter(|c| !c.is_empty()) {
            self.enumeration(&constants, node, path);
            return;
        }
        if let [only] = candidates.as_slice() {
            self.node(only, node, path);
            return;
        }
        for branch in &candidates {
            let mut trial = Checker { root: self.root, problems: Vec::new() };
            trial.node(branch, node, &mut path.clone());
            if trial.problems.is_empty() {
                return;
            }
        }
        match candidates.first() {
            Some(first) => self.node(first, node, path),
            None => {
                let kinds: Vec<&str> = branches
                    .iter()
                    .flat_map(|b| types_of(self.resolve(b)))
                    .filter(|k| *k != "null")
                    .map(noun)
                    .collect();
                self.push(
                    node.location,
                    format!("`{}` must be {}, found {}", display_path(path), kinds.join(" or "), node.value.kind()),
                    None,
                );
            }
        }
    }

    fn enumeration(&mut self, allowed: &[Json], node: &Node, path: &[PathPart]) {
        let words: Vec<&str> = allowed.iter().filter_map(Json::as_str).collect();
        if let Value::String(s) = &node.value {
            if words.contains(&s.as_str()) {
                return;
            }
            let hint = did_you_mean(s, &words).map(|w| format!("did you mean `{w}`?"));
            self.push(
                node.location,
                format!("`{}` must be one of {}; found `{s}`", display_path(path), words.join(", ")),
                hint,
            );
        } else {
            self.push(
                node.location,
                format!("`{}` must be one of {}; found {}", display_path(path), words.join(", "), node.value.kind()),
                None,
            );
        }
    }

    fn mapping(
        &mut self,
        schema: &'a Json,
        node: &Node,
        entries: &[(String, Location, Node)],
        path: &mut Vec<PathPart>,
    ) {
        let properties = schema.get("properties").and_then(Json::as_object);
        let additional = schema.get("additionalProperties");
        for (key, key_location, value) in entries {
            let property = properties.and_then(|p| p.get(key));
            path.push(PathPart::Key(key.clone()));
            match (property, additional) {
                (Some(property), _) => self.node(property, value, path),
                (None, Some(Json::Bool(false))) => {
                    path.pop();
                    let known: Vec<&str> =
                        properties.map(|p| p.keys().map(String::as_str).collect()).unwrap_or_default();
                    let hint = match did_you_mean(key, &known) {
                        Some(w) => format!("did you mean `{w}`?"),
                        None => format!("allowed keys here: {}", known.join(", ")),
                    };
                    let mut key_path = path.clone();
                    key_path.push(PathPart::Key(key.clone()));
                    self.problems.push(Problem {
                        location: *key_location,
                        message: format!("unknown key `{key}` in {}", context(path)),
                        hint: Some(hint),
                        unknown_key: Some(key_path),
                    });
                    continue;
                }
                (None, Some(extra)) if extra.is_object() => self.node(extra, value, path),
                (None, _) => {}
            }
            path.pop();
        }
        if let Some(required) = schema.get("required").and_then(Json::as_array) {
            for key in required.iter().filter_map(Json::as_str) {
                if !entries.iter().any(|(k, _, _)| k == key) {
                    let hint = match key {
                        "run" => "add the command to run, e.g. `run: make build`".to_owned(),
                        "version" => "add `version: \"0.1\"` as the first line".to_owned(),
                        "steps" => "add `steps:` with at least one step that has a `run` command".to_owned(),
                        "type" => "add `type: file` or `type: webhook`".to_owned(),
                        other => format!("add `{other}:`"),
                    };
                    self.push(node.location, format!("{} is missing `{key}`", context(path)), Some(hint));
                }
            }
        }
    }
}
