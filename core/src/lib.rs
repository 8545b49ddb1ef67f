//! Glint's core: the image model and the property engine.
//!
//! Every request that changes an image's metadata is turned into a [`Plan`] here, by the same
//! code on the server (native) and in the browser (wasm): what the request adds, changes,
//! removes and keeps, which core attributes change, and which rules it breaks. Nothing here does
//! I/O; a request the rules refuse is not an error but a plan with violations.
//!
//! ```
//! use glint_core::{Caller, Image, PlanContext, Request, Settings, V1Update, plan};
//!
//! let image = Image::new("6b8e1f0a-7c3d-4f2e-9a1b-2c3d4e5f6a7b", Some("p1".into()), "2026-01-01T00:00:00Z")
//!     .with_property("instance_uuid", "abc");
//! // A v1 PUT that carries image data never purges.
//! let update = V1Update::from_headers([("x-image-meta-property-kernel_id", "k")], true).unwrap();
//! let caller = Caller::new(Some("p1"), &["member"]);
//! let settings = Settings::default();
//! let plan = plan(&image, &Request::V1Update(update), &PlanContext::new(&caller, &settings));
//! assert!(plan.removed.is_empty());
//! assert_eq!(plan.kept["instance_uuid"], "abc");
//! ```

pub mod context;
pub mod create;
pub mod editor;
pub mod error;
pub mod image;
pub mod inspect;
pub mod keys;
pub mod metadefs;
pub mod patch;
pub mod plan;
mod planner;
pub mod policy;
pub mod protections;
pub mod schema;
pub mod settings;
pub mod v1;
pub mod wire;

use serde_json::Value;

pub use context::{Caller, PlanContext};
pub use create::Create;
pub use editor::Edit;
pub use error::RequestError;
pub use image::{Image, Location, Status, Visibility};
pub use patch::{Patch, PatchDialect, PatchOp};
pub use plan::{AttrChanges, Change, Plan, Violation, ViolationKind, apply};
pub use protections::{Operation, PropertyProtections, ProtectionsError};
pub use settings::Settings;
pub use v1::V1Update;
pub use wire::image_from_v2;

/// A request that changes an image's metadata.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// v1 `PUT /v1/images/{id}` headers.
    V1Update(V1Update),
    /// v2 `PATCH /v2/images/{id}`.
    Patch(Patch),
    /// A desired property map from an editor.
    Edit(Edit),
    /// v2 `POST /v2/images`, planned against the new image.
    Create(Create),
}

/// Plans `request` against `image` for the caller and settings in `ctx`.
pub fn plan(image: &Image, request: &Request, ctx: &PlanContext<'_>) -> Plan {
    match request {
        Request::V1Update(u) => v1::plan(image, u, ctx),
        Request::Patch(p) => patch::plan(image, p, ctx),
        Request::Edit(e) => editor::plan(image, e, ctx),
        Request::Create(c) => create::plan(image, c, ctx),
    }
}

/// The image as the caller may see it: properties the caller may not read are left out.
pub fn readable(image: &Image, ctx: &PlanContext<'_>) -> Image {
    let mut out = image.clone();
    if ctx.protections.is_some() {
        out.properties
            .retain(|k, _| ctx.may(k, protections::Operation::Read));
    }
    out
}

/// The plan as the caller may see it: properties the caller may not read are left out of what
/// it adds, changes, removes and keeps, whoever made the plan. Every plan or change record
/// shown to a caller (previews, history) goes through here.
pub fn readable_plan(plan: &Plan, ctx: &PlanContext<'_>) -> Plan {
    let mut out = plan.clone();
    if ctx.protections.is_some() {
        let may = |k: &String| ctx.may(k, protections::Operation::Read);
        out.added.retain(|k, _| may(k));
        out.changed.retain(|k, _| may(k));
        out.removed.retain(|k, _| may(k));
        out.kept.retain(|k, _| may(k));
    }
    out
}

impl Plan {
    /// The v2.1 JSON patch that asks for exactly this plan: `remove` for each removed key,
    /// `replace` for each changed one, `add` for each added one and `replace` for each changed
    /// attribute. Planned again against the same image, it gives the same plan. (`size`,
    /// `checksum` and `virtual_size` changes exist only in v1 and have no patch form.)
    pub fn to_patch(&self) -> Patch {
        let key = |k: &str| patch::Path::Key(k.to_string());
        let mut ops = Vec::new();
        for k in self.removed.keys() {
            ops.push(PatchOp::Remove { path: key(k) });
        }
        for (k, c) in &self.changed {
            ops.push(PatchOp::Replace {
                path: key(k),
                value: Value::String(c.new.clone()),
            });
        }
        for (k, v) in &self.added {
            ops.push(PatchOp::Add {
                path: key(k),
                value: Value::String(v.clone()),
            });
        }
        macro_rules! attr_op {
            ($field:ident, $attr:ident) => {
                if let Some(change) = &self.attributes.$field {
                    let name = keys::Attr::$attr.as_str();
                    if !matches!(name, "size" | "checksum" | "virtual_size") {
                        ops.push(PatchOp::Replace {
                            path: key(name),
                            value: serde_json::to_value(&change.new).unwrap_or(Value::Null),
                        });
                    }
                }
            };
        }
        plan::for_each_attr!(attr_op);
        Patch {
            dialect: PatchDialect::V2_1,
            ops,
        }
    }
}
