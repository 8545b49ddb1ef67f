//! v2 `POST /v2/images`: the body of a create, planned against the new, empty image.

use serde_json::{Map, Value};

use crate::context::PlanContext;
use crate::error::RequestError;
use crate::image::{Image, is_uuid};
use crate::keys::{self, Attr, KeyClass};
use crate::plan::{Plan, ViolationKind};
use crate::planner::Planner;

/// A create request's body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Create {
    /// The id the caller asks for, if any (checked to be a UUID).
    pub id: Option<String>,
    /// Every other top-level key of the body.
    pub fields: Map<String, Value>,
}

impl Create {
    /// Reads a create body: a JSON object, with an optional UUID `id`.
    pub fn parse(body: &Value) -> Result<Create, RequestError> {
        let Value::Object(obj) = body else {
            return Err(RequestError::BadBody(
                "The request body must be a JSON object.".into(),
            ));
        };
        let mut fields = obj.clone();
        let id = match fields.remove("id") {
            None | Some(Value::Null) => None,
            Some(Value::String(id)) if is_uuid(&id) => Some(id.to_ascii_lowercase()),
            Some(other) => {
                return Err(RequestError::BadBody(format!(
                    "Invalid image id {other}: it must be a UUID."
                )));
            }
        };
        Ok(Create { id, fields })
    }

    /// Reads a create body from bytes.
    pub fn from_body(body: &[u8]) -> Result<Create, RequestError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(RequestError::BadBody("Body expected in request.".into()));
        }
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| RequestError::BadBody(format!("Malformed JSON in request body: {e}")))?;
        Create::parse(&value)
    }
}

pub(crate) fn plan(image: &Image, create: &Create, ctx: &PlanContext<'_>) -> Plan {
    let mut p = Planner::new(image, ctx);
    p.typed = true;
    p.creating = true;
    // Glance's add_image, first: the new image as its target (owned by the caller's project).
    if !ctx.allows("add_image", image, ctx.caller.may_create()) {
        p.violate(
            ViolationKind::Forbidden,
            "add_image",
            "You are not authorized to complete add_image action.",
        );
    }
    for (key, value) in &create.fields {
        match keys::classify(key) {
            KeyClass::ReadOnly => p.violate(
                ViolationKind::ReadOnly,
                key,
                format!("Attribute '{key}' is read-only."),
            ),
            KeyClass::Reserved => p.violate(
                ViolationKind::Reserved,
                key,
                format!("Attribute '{key}' is reserved."),
            ),
            KeyClass::Writable(Attr::Locations) if !ctx.settings.locations_enabled => p.violate(
                ViolationKind::Forbidden,
                key,
                "It's not allowed to add locations if locations are invisible.",
            ),
            KeyClass::Writable(attr) => p.set_attr_json(attr, value),
            KeyClass::Custom => p.set_property_json(key, value),
        }
    }
    p.finish()
}
