//! Property tests of the planning invariants (native only: proptest needs an OS RNG).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use glint_core::{Edit, Image, Plan, Request, Settings, V1Update, apply};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Keys from a small alphabet, so requests often name existing keys.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-e]".prop_map(|s| s),
        "[a-e][a-e_]{1,3}".prop_map(|s| s),
        Just("os_glance_x".to_string()),
        Just("a/b".to_string()),
        Just("x_secret_k".to_string()),
    ]
}

/// Any client request: a v2.1 patch, an editor edit or a v1 update (with or without data).
fn any_request() -> impl Strategy<Value = Request> {
    prop_oneof![
        proptest::collection::vec(op(), 0..8).prop_map(|ops| patch_request(&ops)),
        edit_request().prop_map(Request::Edit),
        (props(), any::<bool>(), any::<bool>()).prop_map(|(props, purge, has_data)| {
            let mut headers: Vec<(String, String)> = props
                .into_iter()
                .filter(|(k, _)| !k.contains('/'))
                .map(|(k, v)| (format!("x-image-meta-property-{k}"), v))
                .collect();
            headers.push(("x-glance-registry-purge-props".into(), purge.to_string()));
            Request::V1Update(
                V1Update::from_headers(
                    headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                    has_data,
                )
                .expect("valid v1 headers"),
            )
        }),
    ]
}

/// Only administrators read, or change, `x_secret_*` keys.
const SECRET_RULES: &str = "
[^x_secret_.*]
create = admin
read = admin
update = admin
delete = admin

[.*]
create = admin,member
read = admin,member
update = admin,member
delete = admin,member
";

fn value() -> impl Strategy<Value = String> {
    "[xyz0-9]{0,3}"
}

fn props() -> impl Strategy<Value = BTreeMap<String, String>> {
    proptest::collection::btree_map(key(), value(), 0..8)
}

fn an_image() -> impl Strategy<Value = Image> {
    props().prop_map(|p| {
        let mut img = image(&[]);
        img.properties = p;
        img
    })
}

#[derive(Debug, Clone)]
struct V1Case {
    props: BTreeMap<String, String>,
    purge_header: Option<&'static str>,
    has_data: bool,
}

fn v1_case() -> impl Strategy<Value = V1Case> {
    (
        proptest::collection::btree_map("[a-e]{1,2}", value(), 0..5),
        prop_oneof![Just(None), Just(Some("true")), Just(Some("false"))],
        any::<bool>(),
    )
        .prop_map(|(props, purge_header, has_data)| V1Case {
            props,
            purge_header,
            has_data,
        })
}

impl V1Case {
    fn request(&self) -> (V1Update, Request) {
        let names: Vec<(String, String)> = self
            .props
            .iter()
            .map(|(k, v)| (format!("x-image-meta-property-{k}"), v.clone()))
            .chain(
                self.purge_header
                    .map(|v| ("x-glance-registry-purge-props".to_string(), v.to_string())),
            )
            .collect();
        let update = V1Update::from_headers(
            names.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            self.has_data,
        )
        .expect("generated headers are valid");
        (update.clone(), Request::V1Update(update))
    }
}

#[derive(Debug, Clone)]
enum Op {
    Add(String, String),
    Replace(String, String),
    Remove(String),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (key(), value()).prop_map(|(k, v)| Op::Add(k, v)),
        (key(), value()).prop_map(|(k, v)| Op::Replace(k, v)),
        key().prop_map(Op::Remove),
    ]
}

fn patch_request(ops: &[Op]) -> Request {
    let doc: Vec<Value> = ops
        .iter()
        .map(|op| {
            let path = |k: &str| format!("/{}", glint_core::patch::escape(k));
            match op {
                Op::Add(k, v) => json!({"op": "add", "path": path(k), "value": v}),
                Op::Replace(k, v) => json!({"op": "replace", "path": path(k), "value": v}),
                Op::Remove(k) => json!({"op": "remove", "path": path(k)}),
            }
        })
        .collect();
    patch21(Value::Array(doc))
}

fn edit_request() -> impl Strategy<Value = Edit> {
    (
        props(),
        proptest::collection::btree_set(key(), 0..4),
        any::<bool>(),
    )
        .prop_map(|(properties, removed, replace_all)| Edit {
            properties,
            removed,
            replace_all,
            attributes: Default::default(),
        })
}

/// The structural invariants every plan satisfies, whatever the request.
fn assert_plan_invariants(before: &Image, plan: &Plan) {
    let sets: [BTreeSet<&String>; 4] = [
        plan.added.keys().collect(),
        plan.changed.keys().collect(),
        plan.removed.keys().collect(),
        plan.kept.keys().collect(),
    ];
    for i in 0..4 {
        for j in (i + 1)..4 {
            assert!(
                sets[i].is_disjoint(&sets[j]),
                "categories {i} and {j} overlap: {plan}"
            );
        }
    }
    // Every existing key is changed, removed or kept; no added key existed.
    for (k, v) in &before.properties {
        assert!(!plan.added.contains_key(k), "{k} existed: {plan}");
        let accounted = plan.changed.get(k).map(|c| &c.old) == Some(v)
            || plan.removed.get(k) == Some(v)
            || plan.kept.get(k) == Some(v);
        assert!(accounted, "{k} not accounted for: {plan}");
    }
    for c in plan.changed.values() {
        assert_ne!(c.old, c.new);
    }
    // Applying gives what the plan says, and nothing else.
    let after = apply(plan, before);
    let mut expected = BTreeMap::new();
    expected.extend(plan.kept.clone());
    expected.extend(plan.added.clone());
    expected.extend(plan.changed.iter().map(|(k, c)| (k.clone(), c.new.clone())));
    assert_eq!(after.properties, expected, "{plan}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn v1_plans_hold_invariants(before in an_image(), case in v1_case()) {
        let (update, request) = case.request();
        let plan = plan_for(&before, &request);
        assert_plan_invariants(&before, &plan);
        // Nothing is removed unless the request purges; a request with data never purges.
        if !update.purges() {
            prop_assert!(plan.removed.is_empty(), "{}", plan);
        }
        if case.has_data {
            prop_assert!(plan.removed.is_empty(), "{}", plan);
            prop_assert!(!plan.purge);
        }
        // A purge removes exactly the keys not named, except the server's own.
        if update.purges() {
            let removed: BTreeSet<_> = plan.removed.keys().cloned().collect();
            let expected: BTreeSet<_> = before.properties.keys()
                .filter(|k| !case.props.contains_key(*k) && !k.starts_with("os_glance"))
                .cloned().collect();
            prop_assert_eq!(removed, expected);
        }
        prop_assert_eq!(&plan, &plan_for(&before, &request));
    }

    #[test]
    fn patch_plans_hold_invariants(before in an_image(), ops in proptest::collection::vec(op(), 0..8)) {
        let request = patch_request(&ops);
        let plan = plan_for(&before, &request);
        assert_plan_invariants(&before, &plan);
        // Only keys named by a remove op can be removed.
        let named: BTreeSet<&String> = ops.iter().filter_map(|o| match o {
            Op::Remove(k) => Some(k),
            _ => None,
        }).collect();
        for k in plan.removed.keys() {
            prop_assert!(named.contains(k), "{} removed without a remove op: {}", k, plan);
        }
        prop_assert_eq!(&plan, &plan_for(&before, &request));
    }

    #[test]
    fn edit_plans_hold_invariants(before in an_image(), edit in edit_request()) {
        let request = Request::Edit(edit.clone());
        let plan = plan_for(&before, &request);
        assert_plan_invariants(&before, &plan);
        if !edit.replace_all {
            for k in plan.removed.keys() {
                prop_assert!(edit.removed.contains(k), "{} removed without being marked: {}", k, plan);
            }
        }
        prop_assert_eq!(&plan, &plan_for(&before, &request));
    }

    #[test]
    fn allowed_plans_round_trip_through_json_patch(before in an_image(), edit in edit_request()) {
        let plan = plan_for(&before, &Request::Edit(edit));
        prop_assume!(plan.is_allowed());
        let again = plan_for(&before, &Request::Patch(plan.to_patch()));
        // The patch names only what changes, so its plan has no purge flag.
        prop_assert_eq!(Plan { purge: false, ..plan }, again);
    }

    /// Server-owned `os_glance*` keys are never added, changed or removed by a client request
    /// that is allowed, purges included: they come through any request as they were.
    #[test]
    fn server_keys_are_never_written_by_clients(before in an_image(), request in any_request()) {
        for caller in [member(), admin()] {
            let plan = plan_with(&before, &request, &caller, &Settings::default(), None);
            prop_assume!(plan.is_allowed());
            for k in plan.added.keys().chain(plan.changed.keys()).chain(plan.removed.keys()) {
                prop_assert!(!k.starts_with("os_glance"), "{} written: {}", k, plan);
            }
            let after = apply(&plan, &before);
            for (k, v) in before.properties.iter().filter(|(k, _)| k.starts_with("os_glance")) {
                prop_assert_eq!(after.properties.get(k), Some(v));
            }
        }
    }

    /// Keys a caller may not read are never listed in its plans with their values (kept,
    /// changed or removed), whatever it asks; an allowed plan names none at all (a refused one
    /// may echo a key the request itself named, with the violation); and they are always kept
    /// as they were.
    #[test]
    fn unreadable_keys_are_never_listed_and_always_kept(
        before in an_image(),
        request in any_request(),
    ) {
        let rules = glint_core::PropertyProtections::parse(SECRET_RULES).expect("valid rules");
        let plan = plan_with(&before, &request, &member(), &Settings::default(), Some(&rules));
        let secret = |k: &&String| k.starts_with("x_secret_");
        for k in plan.changed.keys().chain(plan.removed.keys()).chain(plan.kept.keys()) {
            prop_assert!(!secret(&k), "{} listed: {}", k, plan);
        }
        if plan.is_allowed() {
            prop_assert!(!plan.added.keys().any(|k| secret(&k)), "{}", plan);
            let after = apply(&plan, &before);
            for (k, v) in before.properties.iter().filter(|(k, _)| secret(k)) {
                prop_assert_eq!(after.properties.get(k), Some(v), "{} not kept: {}", k, plan);
            }
        }
    }

    #[test]
    fn planning_never_panics_on_arbitrary_patches(before in an_image(), doc in arbitrary_json()) {
        if let Ok(patch) = glint_core::Patch::parse(glint_core::PatchDialect::V2_1, &doc) {
            let plan = plan_for(&before, &Request::Patch(patch));
            assert_plan_invariants(&before, &plan);
        }
    }
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|n| json!(n)),
        prop_oneof![
            Just("add".to_string()),
            Just("replace".to_string()),
            Just("remove".to_string()),
            Just("/a".to_string()),
            Just("/locations/-".to_string()),
            Just("/tags".to_string()),
            Just("/name".to_string()),
            "[/a-z~01-]{0,6}",
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("op".to_string()),
                    Just("path".to_string()),
                    Just("value".to_string()),
                    Just("url".to_string()),
                ],
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
