//! The image schema's additional properties, as Glance's `schema-image.json` declares them:
//! each a JSON Schema definition (`type`, `enum`, `pattern`, `minLength`/`maxLength`,
//! `minimum`/`maximum`), and (Glance 32's extended form) a `required` list. `/v2/schemas/image`
//! shows them; v2 creates and updates (and the web UI's editor) are checked against them.
//!
//! Values are stored as text. A property declared `integer`, `number` or `boolean` takes the
//! JSON value of its type (what python-glanceclient sends, having read the schema) or its text,
//! and is stored as text.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The operator's additional image properties.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageSchema {
    /// Each declared property's JSON Schema definition.
    pub properties: BTreeMap<String, Value>,
    /// Properties every image must have.
    #[serde(default)]
    pub required: Vec<String>,
}

impl Default for ImageSchema {
    fn default() -> ImageSchema {
        ImageSchema::glance_default()
    }
}

/// Glance's own `etc/schema-image.json`.
const GLANCE_DEFAULT: &str = include_str!("schema-image.json");

fn types(def: &Value) -> Vec<&str> {
    match &def["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

const KNOWN_TYPES: [&str; 5] = ["string", "integer", "number", "boolean", "null"];

impl ImageSchema {
    /// The properties Glance declares by default; none required.
    pub fn glance_default() -> ImageSchema {
        ImageSchema::parse(GLANCE_DEFAULT).unwrap_or(ImageSchema {
            properties: BTreeMap::new(),
            required: Vec::new(),
        })
    }

    /// Reads a `schema-image.json`: flat (`{"name": {definition}, ...}`) or extended
    /// (`{"properties": {...}, "required": [...]}`). Refuses what it could not apply: a
    /// definition that is not an object, an unknown type, a pattern that does not compile, a
    /// required name without a definition.
    pub fn parse(text: &str) -> Result<ImageSchema, String> {
        let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let Value::Object(top) = value else {
            return Err("the schema must be a JSON object".into());
        };
        let extended = matches!(top.get("properties"), Some(Value::Object(_)));
        let (properties, required) = match extended {
            true => (
                top.get("properties").cloned().unwrap_or_default(),
                top.get("required")
                    .cloned()
                    .unwrap_or(Value::Array(Vec::new())),
            ),
            false => (Value::Object(top), Value::Array(Vec::new())),
        };
        let Value::Object(properties) = properties else {
            return Err("'properties' must be an object".into());
        };
        let mut out = BTreeMap::new();
        for (name, def) in properties {
            if !def.is_object() {
                return Err(format!("'{name}': a definition must be an object"));
            }
            if crate::keys::classify(&name) != crate::keys::KeyClass::Custom {
                return Err(format!("'{name}' is a core attribute, not a property"));
            }
            if let Some(t) = types(&def).into_iter().find(|t| !KNOWN_TYPES.contains(t)) {
                return Err(format!("'{name}': type '{t}' is not one Glint checks"));
            }
            if let Some(p) = def["pattern"].as_str() {
                regex_lite::Regex::new(p).map_err(|e| format!("'{name}': pattern: {e}"))?;
            }
            out.insert(name, def);
        }
        let required: Vec<String> = match required {
            Value::Array(names) => names
                .iter()
                .map(|n| {
                    n.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| format!("'required': {n} is not a name"))
                })
                .collect::<Result<_, _>>()?,
            _ => return Err("'required' must be a list of names".into()),
        };
        if let Some(r) = required.iter().find(|r| !out.contains_key(r.as_str())) {
            return Err(format!("'{r}' is required but not defined"));
        }
        Ok(ImageSchema {
            properties: out,
            required,
        })
    }

    pub fn is_required(&self, key: &str) -> bool {
        self.required.iter().any(|r| r == key)
    }

    /// The text a property's JSON value is stored as: a string as it is; a number or boolean
    /// when the property is declared with that type; otherwise why not.
    pub fn text_of(&self, key: &str, value: &Value) -> Result<String, String> {
        let declared = self.properties.get(key).map(types).unwrap_or_default();
        match value {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n)
                if declared.contains(&"number")
                    || (declared.contains(&"integer") && (n.is_i64() || n.is_u64())) =>
            {
                Ok(n.to_string())
            }
            Value::Bool(b) if declared.contains(&"boolean") => Ok(b.to_string()),
            Value::Null => Err(format!(
                "Invalid value for property '{key}': a property's value is text (remove the \
                 property instead)."
            )),
            other if declared.is_empty() || declared == ["string"] => Err(format!(
                "Invalid value for property '{key}': {other} is not a string."
            )),
            other => Err(format!(
                "Invalid value for property '{key}': {other} is not of type '{}'.",
                declared.join("' or '")
            )),
        }
    }

    /// Whether a property's (text) value fits its definition.
    pub fn check(&self, key: &str, value: &str) -> Result<(), String> {
        let Some(def) = self.properties.get(key) else {
            return Ok(());
        };
        let declared = types(def);
        let bad = |why: String| Err(format!("Invalid value for property '{key}': {why}"));
        let as_number = value.trim().parse::<f64>().ok().filter(|n| n.is_finite());
        let typed_ok = declared.is_empty()
            || declared.contains(&"string")
            || (declared.contains(&"integer") && value.trim().parse::<i64>().is_ok())
            || (declared.contains(&"number") && as_number.is_some())
            || (declared.contains(&"boolean") && matches!(value, "true" | "false"));
        if !typed_ok {
            return bad(format!(
                "'{value}' is not of type '{}'.",
                declared.join("' or '")
            ));
        }
        if let Some(options) = def["enum"].as_array() {
            let texts: Vec<String> = options
                .iter()
                .map(|o| match o {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            if !texts.iter().any(|t| t == value) {
                return bad(format!("'{value}' is not one of {texts:?}."));
            }
        }
        let chars = value.chars().count() as u64;
        if let Some(max) = def["maxLength"].as_u64()
            && chars > max
        {
            return bad(format!("'{value}' is longer than {max} characters."));
        }
        if let Some(min) = def["minLength"].as_u64()
            && chars < min
        {
            return bad(format!("'{value}' is shorter than {min} characters."));
        }
        if let Some(n) = as_number.filter(|_| !declared.contains(&"string")) {
            if let Some(min) = def["minimum"].as_f64()
                && n < min
            {
                return bad(format!("{value} is less than the minimum of {min}."));
            }
            if let Some(max) = def["maximum"].as_f64()
                && n > max
            {
                return bad(format!("{value} is more than the maximum of {max}."));
            }
        }
        if let Some(pattern) = def["pattern"].as_str()
            && let Ok(re) = regex_lite::Regex::new(pattern)
            && !re.is_match(value)
        {
            return bad(format!("'{value}' does not match '{pattern}'."));
        }
        Ok(())
    }

    /// The definition as `/v2/schemas/image` shows it (`is_base: false`, as Glance marks them).
    pub fn shown(&self) -> BTreeMap<String, Value> {
        self.properties
            .iter()
            .map(|(k, def)| {
                let mut def = def.clone();
                if let Value::Object(m) = &mut def {
                    m.insert("is_base".into(), Value::Bool(false));
                }
                (k.clone(), def)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn operator() -> ImageSchema {
        ImageSchema::parse(
            r#"{"properties": {
                "os_distro": {"type": "string", "enum": ["ubuntu", "debian"]},
                "hw_cores": {"type": "integer", "minimum": 1, "maximum": 64},
                "secure": {"type": "boolean"},
                "ticket": {"type": "string", "pattern": "^OPS-[0-9]+$", "maxLength": 12}
            }, "required": ["os_distro", "hw_cores"]}"#,
        )
        .expect("valid")
    }

    #[test]
    fn glances_default_file_is_read_flat() {
        let s = ImageSchema::glance_default();
        assert!(s.properties.contains_key("kernel_id"));
        assert!(s.required.is_empty());
        assert!(s.check("kernel_id", "not-a-uuid").is_err());
        assert!(
            s.check("kernel_id", "2d8e6c1a-7a61-4c8e-9a4f-0d8f0c9b1f11")
                .is_ok()
        );
        assert!(
            s.check("cinder_encryption_key_deletion_policy", "never")
                .is_err()
        );
        assert!(s.check("anything_else", "x").is_ok());
    }

    #[test]
    fn values_are_checked_against_their_definitions() {
        let s = operator();
        assert!(s.is_required("hw_cores") && !s.is_required("secure"));
        assert!(s.check("os_distro", "ubuntu").is_ok());
        let err = s.check("os_distro", "arch").expect_err("enum");
        assert!(err.contains("os_distro") && err.contains("arch"), "{err}");
        assert!(s.check("hw_cores", "8").is_ok());
        assert!(s.check("hw_cores", "eight").is_err());
        assert!(s.check("hw_cores", "65").is_err());
        assert!(s.check("hw_cores", "0").is_err());
        assert!(s.check("secure", "true").is_ok());
        assert!(s.check("secure", "yes").is_err());
        assert!(s.check("ticket", "OPS-42").is_ok());
        assert!(s.check("ticket", "42").is_err());
        assert!(s.check("ticket", "OPS-123456789").is_err());
        // Typed JSON values become text; a string for a typed property is read as text.
        assert_eq!(s.text_of("hw_cores", &json!(8)), Ok("8".into()));
        assert_eq!(s.text_of("secure", &json!(false)), Ok("false".into()));
        assert!(s.text_of("hw_cores", &json!(1.5)).is_err());
        assert!(s.text_of("os_distro", &json!(3)).is_err());
        assert!(s.text_of("undeclared", &json!(3)).is_err());
        assert_eq!(s.text_of("hw_cores", &json!("8")), Ok("8".into()));
    }

    #[test]
    fn schema_files_that_cannot_be_applied_are_refused() {
        for bad in [
            "[]",
            r#"{"x": "string"}"#,
            r#"{"x": {"type": "object"}}"#,
            r#"{"x": {"type": "string", "pattern": "("}}"#,
            r#"{"properties": {"x": {"type": "string"}}, "required": ["y"]}"#,
            r#"{"properties": {"x": {"type": "string"}}, "required": "x"}"#,
            r#"{"min_disk": {"type": "integer"}}"#,
            r#"{"os_glance_x": {"type": "string"}}"#,
        ] {
            assert!(ImageSchema::parse(bad).is_err(), "{bad}");
        }
    }
}
