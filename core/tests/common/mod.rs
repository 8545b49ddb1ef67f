//! Fixtures shared by the core test files.
#![allow(dead_code, unreachable_pub)] // each test binary uses a different subset

use glint_core::{
    Caller, Edit, Image, Patch, PatchDialect, Plan, PlanContext, PropertyProtections, Request,
    Settings, V1Update, plan,
};
use serde_json::Value;

pub const ID: &str = "6b8e1f0a-7c3d-4f2e-9a1b-2c3d4e5f6a7b";

pub fn image(props: &[(&str, &str)]) -> Image {
    props.iter().fold(
        Image::new(ID, Some("p1".into()), "2026-01-01T00:00:00Z"),
        |img, (k, v)| img.with_property(*k, *v),
    )
}

pub fn member() -> Caller {
    Caller::new(Some("p1"), &["member", "reader"])
}

pub fn admin() -> Caller {
    Caller::new(Some("p0"), &["admin", "member", "reader"])
}

pub fn plan_with(
    image: &Image,
    request: &Request,
    caller: &Caller,
    settings: &Settings,
    protections: Option<&PropertyProtections>,
) -> Plan {
    let mut ctx = PlanContext::new(caller, settings);
    if let Some(p) = protections {
        ctx = ctx.with_protections(p);
    }
    plan(image, request, &ctx)
}

pub fn plan_for(image: &Image, request: &Request) -> Plan {
    plan_with(image, request, &member(), &Settings::default(), None)
}

pub fn v1(headers: &[(&str, &str)], has_data: bool) -> Request {
    Request::V1Update(
        V1Update::from_headers(headers.iter().copied(), has_data).expect("valid v1 headers"),
    )
}

pub fn patch21(doc: Value) -> Request {
    Request::Patch(Patch::parse(PatchDialect::V2_1, &doc).expect("valid patch"))
}

pub fn patch20(doc: Value) -> Request {
    Request::Patch(Patch::parse(PatchDialect::V2_0, &doc).expect("valid patch"))
}

pub fn edit(set: &[(&str, &str)], removed: &[&str], replace_all: bool) -> Request {
    Request::Edit(Edit {
        properties: set
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        removed: removed.iter().map(|k| k.to_string()).collect(),
        replace_all,
        attributes: Default::default(),
    })
}
