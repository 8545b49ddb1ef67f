//! Metadata definitions (Glance's metadefs catalogue): the check of a property definition as
//! the API accepts it, and the check of an image property's value against its definition,
//! which the web UI uses to offer typed inputs (a choice for an enum, a checkbox for a boolean,
//! a bounded number) and to say what is wrong before anything is sent.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The types a property definition may have.
pub const TYPES: [&str; 6] = ["array", "boolean", "integer", "number", "object", "string"];

/// The longest name of a namespace, object, property, tag or resource type.
pub const NAME_MAX: usize = 80;

/// Why a definition is refused: the first thing wrong, in the words of a schema check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DefinitionError(pub String);

fn err(message: impl Into<String>) -> DefinitionError {
    DefinitionError(message.into())
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn expect(key: &str, v: &Value, want: &str) -> Result<(), DefinitionError> {
    let ok = match want {
        "number" => v.is_number(),
        "integer" => v.as_i64().is_some() || v.as_u64().is_some(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => false,
    };
    match ok {
        true => Ok(()),
        false => Err(err(format!(
            "'{key}': {v} is not of type '{want}' (it is {})",
            kind_of(v)
        ))),
    }
}

/// A name as the schemas take it: a string of at most [`NAME_MAX`] characters.
pub fn check_name(key: &str, v: &Value) -> Result<String, DefinitionError> {
    expect(key, v, "string")?;
    let s = v.as_str().unwrap_or_default();
    if s.chars().count() > NAME_MAX {
        return Err(err(format!(
            "'{key}': '{s}' is too long (at most {NAME_MAX} characters)"
        )));
    }
    if s.trim().is_empty() {
        return Err(err(format!("'{key}' must not be empty")));
    }
    if s.contains('/') {
        return Err(err(format!("'{key}': '{s}' must not contain '/'")));
    }
    Ok(s.to_string())
}

fn non_negative(key: &str, v: &Value) -> Result<u64, DefinitionError> {
    expect(key, v, "integer")?;
    v.as_u64()
        .ok_or_else(|| err(format!("'{key}': {v} is less than the minimum of 0")))
}

fn unique_strings(key: &str, v: &Value, min_items: usize) -> Result<Vec<String>, DefinitionError> {
    strings(key, v, min_items, true)
}

/// An array of strings; `unique`: without repeats. (Enums may repeat a value: Glance's own
/// catalogue has one that does.)
fn strings(
    key: &str,
    v: &Value,
    min_items: usize,
    unique: bool,
) -> Result<Vec<String>, DefinitionError> {
    expect(key, v, "array")?;
    let items = v.as_array().map(Vec::as_slice).unwrap_or_default();
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        expect(key, item, "string")?;
        let s = item.as_str().unwrap_or_default().to_string();
        if unique && out.contains(&s) {
            return Err(err(format!("'{key}': {v} has non-unique elements")));
        }
        out.push(s);
    }
    if out.len() < min_items {
        return Err(err(format!("'{key}': {v} is too short")));
    }
    Ok(out)
}

/// Checks a property definition (`{"type": "string", "title": ..., "enum": [...]}` and so on).
/// `named`: whether it must carry its `name` (the properties API; not inside a namespace or
/// an object, where the name is the key).
pub fn check_property(def: &Value, named: bool) -> Result<(), DefinitionError> {
    let Some(map) = def.as_object() else {
        return Err(err(format!("{def} is not of type 'object'")));
    };
    let mut required = vec!["type", "title"];
    if named {
        required.push("name");
    }
    for key in required {
        if !map.contains_key(key) {
            return Err(err(format!("'{key}' is a required property")));
        }
    }
    for (key, v) in map {
        match key.as_str() {
            "name" => {
                check_name(key, v)?;
            }
            "title" | "description" => expect(key, v, "string")?,
            "type" => check_type(key, v)?,
            "operators" => {
                unique_strings(key, v, 0)?;
            }
            "enum" => {
                strings(key, v, 1, false)?;
            }
            "minimum" | "maximum" => expect(key, v, "number")?,
            "minLength" | "maxLength" | "minItems" | "maxItems" => {
                non_negative(key, v)?;
            }
            "pattern" => {
                expect(key, v, "string")?;
                let p = v.as_str().unwrap_or_default();
                regex_lite::Regex::new(p).map_err(|e| {
                    err(format!("'pattern': '{p}' is not a regular expression: {e}"))
                })?;
            }
            "readonly" | "uniqueItems" | "additionalItems" => expect(key, v, "boolean")?,
            "default" => {}
            "items" => check_items(v)?,
            other => {
                return Err(err(format!(
                    "Additional properties are not allowed ('{other}' was unexpected)"
                )));
            }
        }
    }
    for (low, high) in [
        ("minimum", "maximum"),
        ("minLength", "maxLength"),
        ("minItems", "maxItems"),
    ] {
        if let (Some(l), Some(h)) = (
            map.get(low).and_then(Value::as_f64),
            map.get(high).and_then(Value::as_f64),
        ) && l > h
        {
            return Err(err(format!("'{low}' ({l}) is greater than '{high}' ({h})")));
        }
    }
    Ok(())
}

fn check_type(key: &str, v: &Value) -> Result<(), DefinitionError> {
    expect(key, v, "string")?;
    let t = v.as_str().unwrap_or_default();
    match TYPES.contains(&t) {
        true => Ok(()),
        false => Err(err(format!("'{t}' is not one of {TYPES:?}"))),
    }
}

fn check_items(v: &Value) -> Result<(), DefinitionError> {
    let Some(items) = v.as_object() else {
        return Err(err(format!("'items': {v} is not of type 'object'")));
    };
    let Some(t) = items.get("type") else {
        return Err(err("'items': 'type' is a required property"));
    };
    check_type("items.type", t)?;
    for (key, v) in items {
        match key.as_str() {
            "type" => {}
            "enum" => {
                strings("items.enum", v, 1, false)?;
            }
            other => {
                return Err(err(format!(
                    "'items': additional properties are not allowed ('{other}' was unexpected)"
                )));
            }
        }
    }
    Ok(())
}

/// Checks an object definition's parts: `required` (unique names) and `properties` (name →
/// definition).
pub fn check_object_parts(
    required: Option<&Value>,
    properties: Option<&Value>,
) -> Result<(), DefinitionError> {
    if let Some(r) = required {
        unique_strings("required", r, 0)?;
    }
    if let Some(p) = properties {
        let Some(map) = p.as_object() else {
            return Err(err(format!("'properties': {p} is not of type 'object'")));
        };
        for (name, def) in map {
            check_name("properties", &Value::String(name.clone()))?;
            check_property(def, false).map_err(|e| err(format!("property '{name}': {e}")))?;
        }
    }
    Ok(())
}

/// The input a definition calls for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Input {
    /// One of these values.
    Choice(Vec<String>),
    /// `true` or `false`.
    Toggle,
    /// A number within bounds; `whole` for integers.
    Number {
        whole: bool,
        min: Option<f64>,
        max: Option<f64>,
    },
    /// Free text (with the definition's pattern and length bounds).
    Text,
}

/// A property definition as the UI reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Definition {
    /// The image property key it applies to (prefix included).
    pub key: String,
    pub title: String,
    pub description: Option<String>,
    /// The namespace it comes from.
    pub namespace: String,
    pub input: Input,
    pub pattern: Option<String>,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub default: Option<String>,
    pub readonly: bool,
}

impl Definition {
    /// Reads a (checked or catalogue) property definition for the image key `key`.
    pub fn from_json(key: &str, namespace: &str, def: &Value) -> Definition {
        let text = |k: &str| def.get(k).and_then(Value::as_str).map(str::to_string);
        let number = |k: &str| def.get(k).and_then(Value::as_f64);
        let texts = |v: Option<&Value>| -> Vec<String> {
            v.and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut choices = texts(def.get("enum"));
        let mut seen = std::collections::BTreeSet::new();
        choices.retain(|c| seen.insert(c.clone()));
        let input = match text("type").as_deref() {
            _ if !choices.is_empty() => Input::Choice(choices),
            Some("boolean") => Input::Toggle,
            Some(t @ ("integer" | "number")) => Input::Number {
                whole: t == "integer",
                min: number("minimum"),
                max: number("maximum"),
            },
            _ => Input::Text,
        };
        Definition {
            key: key.to_string(),
            title: text("title").unwrap_or_else(|| key.to_string()),
            description: text("description"),
            namespace: namespace.to_string(),
            input,
            pattern: text("pattern"),
            min_length: def.get("minLength").and_then(Value::as_u64),
            max_length: def.get("maxLength").and_then(Value::as_u64),
            default: def.get("default").and_then(|d| match d {
                Value::String(s) => Some(s.clone()),
                Value::Null => None,
                other => Some(other.to_string()),
            }),
            readonly: def
                .get("readonly")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        }
    }

    /// Checks an image property's value (image properties are strings) against the
    /// definition; the reason in plain words when it does not fit.
    pub fn check(&self, value: &str) -> Result<(), String> {
        match &self.input {
            Input::Choice(options) => {
                if !options.iter().any(|o| o == value) {
                    return Err(format!(
                        "{} must be one of: {}",
                        self.key,
                        options.join(", ")
                    ));
                }
            }
            Input::Toggle => {
                if !matches!(value, "true" | "false" | "True" | "False") {
                    return Err(format!("{} must be true or false", self.key));
                }
            }
            Input::Number { whole, min, max } => {
                let n = match whole {
                    true => value.parse::<i64>().map(|n| n as f64).ok(),
                    false => value.parse::<f64>().ok().filter(|n| n.is_finite()),
                };
                let Some(n) = n else {
                    let what = if *whole { "a whole number" } else { "a number" };
                    return Err(format!("{} must be {what}", self.key));
                };
                if let Some(m) = min
                    && n < *m
                {
                    return Err(format!("{} must be at least {m}", self.key));
                }
                if let Some(m) = max
                    && n > *m
                {
                    return Err(format!("{} must be at most {m}", self.key));
                }
            }
            Input::Text => {}
        }
        let len = value.chars().count() as u64;
        if let Some(m) = self.min_length
            && len < m
        {
            return Err(format!("{} must be at least {m} characters long", self.key));
        }
        if let Some(m) = self.max_length
            && len > m
        {
            return Err(format!("{} must be at most {m} characters long", self.key));
        }
        if let Some(p) = &self.pattern
            && let Ok(re) = regex_lite::Regex::new(&format!("^(?:{p})$"))
            && !re.is_match(value)
        {
            return Err(format!("{} must match the pattern {p}", self.key));
        }
        Ok(())
    }
}

/// The definitions a namespace document (as `GET /v2/metadefs/namespaces/{ns}` answers it)
/// gives image properties: its own properties and its objects' properties, each key under the
/// association's `prefix` for `resource_type`. `None` when the namespace is not associated with
/// the resource type.
pub fn definitions_for(namespace: &Value, resource_type: &str) -> Option<Vec<Definition>> {
    let association = namespace
        .get("resource_type_associations")?
        .as_array()?
        .iter()
        .find(|a| a.get("name").and_then(Value::as_str) == Some(resource_type))?;
    let prefix = association
        .get("prefix")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let name = namespace
        .get("namespace")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut found: BTreeMap<String, Definition> = BTreeMap::new();
    let mut add = |props: Option<&Map<String, Value>>| {
        for (key, def) in props.into_iter().flatten() {
            let key = format!("{prefix}{key}");
            found
                .entry(key.clone())
                .or_insert_with(|| Definition::from_json(&key, name, def));
        }
    };
    add(namespace.get("properties").and_then(Value::as_object));
    for object in namespace
        .get("objects")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        add(object.get("properties").and_then(Value::as_object));
    }
    Some(found.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn property_definitions_are_checked_as_the_schema_says() {
        let good = json!({"name": "hw_watchdog_action", "title": "Watchdog", "type": "string",
            "enum": ["disabled", "reset"], "description": "d", "readonly": false, "default": 5,
            "items": {"type": "string", "enum": ["a"]}, "operators": ["<or>"],
            "minimum": 1.5, "maximum": 2, "pattern": "^[a-z]+$"});
        assert_eq!(check_property(&good, true), Ok(()));
        let cases = [
            (json!({"title": "t"}), "'type' is a required property"),
            (json!({"type": "string"}), "'title' is a required property"),
            (
                json!({"type": "colour", "title": "t"}),
                "'colour' is not one of",
            ),
            (
                json!({"type": "string", "title": "t", "minimum": "1"}),
                "not of type 'number'",
            ),
            (
                json!({"type": "string", "title": "t", "maxLength": -1}),
                "less than the minimum of 0",
            ),
            (
                json!({"type": "string", "title": "t", "enum": "x"}),
                "not of type 'array'",
            ),
            (
                json!({"type": "string", "title": "t", "enum": [1, 2]}),
                "not of type 'string'",
            ),
            (
                json!({"type": "string", "title": "t", "operators": ["<or>", "<or>"]}),
                "non-unique",
            ),
            (
                json!({"type": "string", "title": "t", "confidential": true}),
                "'confidential' was unexpected",
            ),
            (
                json!({"type": "string", "title": "t", "items": {}}),
                "'type' is a required",
            ),
            (
                json!({"type": "string", "title": "t", "items": {"type": "string", "x": 1}}),
                "'x' was unexpected",
            ),
            (
                json!({"type": "string", "title": "t", "readonly": "yes"}),
                "not of type 'boolean'",
            ),
            (
                json!({"type": "string", "title": "t", "pattern": "(["}),
                "not a regular expression",
            ),
            (
                json!({"type": "integer", "title": "t", "minimum": 3, "maximum": 1}),
                "greater than",
            ),
            (
                json!({"type": "string", "title": "t", "description": null}),
                "not of type 'string'",
            ),
            (json!(["not", "an", "object"]), "not of type 'object'"),
        ];
        for (def, why) in cases {
            let e = check_property(&def, false).expect_err(&def.to_string());
            assert!(e.0.contains(why), "{def}: {e}");
        }
        let long = "n".repeat(81);
        let e = check_property(&json!({"name": long, "type": "string", "title": "t"}), true);
        assert!(e.expect_err("too long").0.contains("too long"));
        assert!(check_property(&json!({"type": "string", "title": "t"}), true).is_err());
    }

    #[test]
    fn values_are_checked_against_their_definition() {
        let ns = json!({
            "namespace": "OS::Compute::Watchdog",
            "resource_type_associations": [
                {"name": "OS::Nova::Flavor", "prefix": "hw:"},
                {"name": "OS::Glance::Image", "prefix": "hw_"}
            ],
            "properties": {
                "watchdog_action": {"type": "string", "title": "Watchdog Action",
                    "enum": ["disabled", "reset", "poweroff"]},
                "cpu_cores": {"type": "integer", "title": "Cores", "minimum": 1, "maximum": 64},
                "boot_menu": {"type": "boolean", "title": "Boot menu"},
                "serial": {"type": "string", "title": "Serial", "pattern": "[A-Z]{3}-[0-9]+",
                    "maxLength": 8}
            },
            "objects": [{"name": "o", "properties": {"ratio": {"type": "number", "title": "R",
                "minimum": 0.5}}}]
        });
        let defs = definitions_for(&ns, "OS::Glance::Image").expect("associated");
        let keys: Vec<&str> = defs.iter().map(|d| d.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "hw_boot_menu",
                "hw_cpu_cores",
                "hw_ratio",
                "hw_serial",
                "hw_watchdog_action"
            ]
        );
        assert!(definitions_for(&ns, "OS::Cinder::Volume").is_none());
        let def = |k: &str| defs.iter().find(|d| d.key == k).expect(k);
        let watchdog = def("hw_watchdog_action");
        assert_eq!(
            watchdog.input,
            Input::Choice(vec!["disabled".into(), "reset".into(), "poweroff".into()])
        );
        assert_eq!(watchdog.check("reset"), Ok(()));
        assert!(watchdog.check("explode").is_err());
        let cores = def("hw_cpu_cores");
        assert_eq!(cores.check("8"), Ok(()));
        assert!(cores.check("0").expect_err("min").contains("at least 1"));
        assert!(cores.check("65").expect_err("max").contains("at most 64"));
        assert!(
            cores
                .check("2.5")
                .expect_err("whole")
                .contains("whole number")
        );
        assert_eq!(def("hw_boot_menu").input, Input::Toggle);
        assert!(def("hw_boot_menu").check("yes").is_err());
        assert_eq!(def("hw_ratio").check("0.75"), Ok(()));
        assert!(def("hw_ratio").check("0.25").is_err());
        let serial = def("hw_serial");
        assert_eq!(serial.check("ABC-12"), Ok(()));
        assert!(
            serial
                .check("abc-12")
                .expect_err("pattern")
                .contains("pattern")
        );
        assert!(
            serial
                .check("ABC-12345")
                .expect_err("length")
                .contains("at most 8")
        );
    }
}
