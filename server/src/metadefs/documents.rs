//! Metadata definitions documents: a namespace with its properties, objects, tags and
//! resource type associations as Glance writes them (an API body or a catalogue file), read
//! into what the database stores. Glance's rules for each part are core's
//! (`glint_core::metadefs`); this reads the documents' shape.

use serde_json::{Map, Value, json};

use crate::db::metadefs::{Association, Entry, Namespace, NamespaceDoc};
use crate::time;
use glint_core::metadefs::{self as defs, DefinitionError};

pub(crate) const READ_ONLY: [&str; 4] = ["self", "schema", "created_at", "updated_at"];
pub(crate) const TIMESTAMPS: [&str; 2] = ["created_at", "updated_at"];

pub(crate) fn only_keys(map: &Map<String, Value>, allowed: &[&str]) -> Result<(), DefinitionError> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(DefinitionError(format!(
            "Additional properties are not allowed ('{k}' was unexpected)"
        ))),
        None => Ok(()),
    }
}

pub(crate) fn required_name(map: &Map<String, Value>) -> Result<String, DefinitionError> {
    match map.get("name") {
        Some(v) => defs::check_name("name", v),
        None => Err(DefinitionError("'name' is a required property".into())),
    }
}

pub(crate) fn optional_text(
    map: &Map<String, Value>,
    key: &str,
    max: usize,
) -> Result<Option<String>, DefinitionError> {
    match map.get(key) {
        None => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= max => Ok(Some(s.clone())),
        Some(Value::String(s)) => Err(DefinitionError(format!(
            "'{key}': '{s}' is too long (at most {max} characters)"
        ))),
        Some(other) => Err(DefinitionError(format!(
            "'{key}': {other} is not of type 'string'"
        ))),
    }
}

/// An association body: `{name, prefix?, properties_target?}`.
pub(crate) fn association_from(v: &Value) -> Result<Association, DefinitionError> {
    let Some(map) = v.as_object() else {
        return Err(DefinitionError(format!("{v} is not of type 'object'")));
    };
    only_keys(
        map,
        &[
            "name",
            "prefix",
            "properties_target",
            "created_at",
            "updated_at",
        ],
    )?;
    Ok(Association {
        name: required_name(map)?,
        prefix: optional_text(map, "prefix", defs::NAME_MAX)?,
        properties_target: optional_text(map, "properties_target", defs::NAME_MAX)?,
        created_at: time::now_micros(),
        updated_at: None,
    })
}

/// An object body: `{name, description?, required?, properties?}`; the entry stores all but
/// the name.
pub(crate) fn object_from(v: &Value) -> Result<Entry, DefinitionError> {
    let Some(map) = v.as_object() else {
        return Err(DefinitionError(format!("{v} is not of type 'object'")));
    };
    only_keys(
        map,
        &[
            "name",
            "description",
            "required",
            "properties",
            "self",
            "schema",
            "created_at",
            "updated_at",
        ],
    )?;
    let name = required_name(map)?;
    let description = optional_text(map, "description", usize::MAX)?;
    defs::check_object_parts(map.get("required"), map.get("properties"))?;
    let mut body = json!({
        "required": map.get("required").cloned().unwrap_or_else(|| json!([])),
        "properties": map.get("properties").cloned().unwrap_or_else(|| json!({})),
    });
    if let Some(d) = description {
        body["description"] = Value::String(d);
    }
    Ok(Entry::new(&name, body))
}

/// A property body with its name; the entry stores the definition without it.
pub(crate) fn property_from(
    name: &str,
    def: &Value,
    named: bool,
) -> Result<Entry, DefinitionError> {
    defs::check_property(def, named)?;
    // Kept as given, `name` included where the body has one: Glance stores the definition
    // whole and shows it so in its namespace.
    Ok(Entry::new(name, def.clone()))
}

pub(crate) fn tag_from(v: &Value) -> Result<Entry, DefinitionError> {
    let Some(map) = v.as_object() else {
        return Err(DefinitionError(format!("{v} is not of type 'object'")));
    };
    only_keys(map, &["name", "created_at", "updated_at"])?;
    Ok(Entry::new(&required_name(map)?, json!({})))
}

/// Reads a namespace document: a `POST` body, or (with `lenient`) a catalogue file, whose
/// server-set attributes are ignored. `owner` is used when the document names none.
pub(crate) fn namespace_doc(
    map: &Map<String, Value>,
    owner: Option<String>,
    lenient: bool,
) -> Result<NamespaceDoc, DefinitionError> {
    let mut allowed = vec![
        "namespace",
        "display_name",
        "description",
        "visibility",
        "protected",
        "owner",
        "resource_type_associations",
        "properties",
        "objects",
        "tags",
    ];
    if lenient {
        allowed.extend(READ_ONLY);
    }
    only_keys(map, &allowed)?;
    let name = match map.get("namespace") {
        Some(v) => defs::check_name("namespace", v)?,
        None => return Err(DefinitionError("'namespace' is a required property".into())),
    };
    let visibility = match map.get("visibility") {
        None => "private".to_string(),
        Some(Value::String(v)) if v == "public" || v == "private" => v.clone(),
        Some(other) => {
            return Err(DefinitionError(format!(
                "{other} is not one of ['public', 'private']"
            )));
        }
    };
    let protected = match map.get("protected") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(DefinitionError(format!(
                "'protected': {other} is not of type 'boolean'"
            )));
        }
    };
    let list = |key: &str| -> Result<&[Value], DefinitionError> {
        match map.get(key) {
            None => Ok(&[]),
            Some(Value::Array(a)) => Ok(a.as_slice()),
            Some(other) => Err(DefinitionError(format!(
                "'{key}': {other} is not of type 'array'"
            ))),
        }
    };
    let associations = list("resource_type_associations")?
        .iter()
        .map(association_from)
        .collect::<Result<Vec<_>, _>>()?;
    let objects = list("objects")?
        .iter()
        .map(object_from)
        .collect::<Result<Vec<_>, _>>()?;
    let tags = list("tags")?
        .iter()
        .map(tag_from)
        .collect::<Result<Vec<_>, _>>()?;
    let properties = match map.get("properties") {
        None => Vec::new(),
        Some(Value::Object(p)) => p
            .iter()
            .map(|(name, def)| {
                defs::check_name("properties", &Value::String(name.clone()))?;
                property_from(name, def, false)
                    .map_err(|e| DefinitionError(format!("property '{name}': {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(other) => {
            return Err(DefinitionError(format!(
                "'properties': {other} is not of type 'object'"
            )));
        }
    };
    Ok(NamespaceDoc {
        namespace: Namespace {
            id: uuid::Uuid::new_v4().to_string(),
            namespace: name,
            display_name: optional_text(map, "display_name", defs::NAME_MAX)?,
            description: optional_text(map, "description", 500)?,
            visibility,
            protected,
            owner: match optional_text(map, "owner", 255)? {
                Some(o) => Some(o),
                None => owner,
            },
            created_at: time::now_micros(),
            updated_at: None,
        },
        associations,
        properties,
        objects,
        tags,
    })
}
