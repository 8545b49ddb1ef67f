//! Data-driven tests for every planning rule: `check(current, request, expect![...])` renders
//! the plan as text. Runs natively and compiled to wasm.

mod common;

use common::*;
use expect_test::{Expect, expect};
use glint_core::{
    Caller, Create, Image, Location, PropertyProtections, Request, Settings, Status, apply,
};
use serde_json::json;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

fn check(current: &Image, request: Request, expect: Expect) {
    expect.assert_eq(&plan_for(current, &request).render());
}

fn check_as(
    current: &Image,
    request: Request,
    caller: &Caller,
    settings: &Settings,
    protections: Option<&PropertyProtections>,
    expect: Expect,
) {
    expect.assert_eq(&plan_with(current, &request, caller, settings, protections).render());
}

/// What Nova registered for a snapshot (`createImage` with metadata key1/key2).
fn registered_snapshot() -> Image {
    image(&[
        ("backup_type", "daily"),
        ("image_type", "snapshot"),
        ("instance_ref", "http://nova/servers/42"),
        ("instance_uuid", "0a1b2c3d-0000-4000-8000-000000000042"),
        ("user_id", "u42"),
        ("key1", "value1"),
        ("key2", "value2"),
    ])
}

const UPLOAD_HEADERS: [(&str, &str); 5] = [
    ("x-image-meta-property-image_location", "snapshot"),
    ("x-image-meta-property-image_state", "available"),
    ("x-image-meta-property-kernel_id", "k-1"),
    ("x-image-meta-property-ramdisk_id", "r-1"),
    ("x-image-meta-property-owner_id", "p1"),
];

// ---------------------------------------------------------------------------------------------
// Launchpad bug 901534

#[test]
fn seed_put_with_data_keeps_all_twelve() {
    let before = registered_snapshot();
    let request = v1(&UPLOAD_HEADERS, true);
    let p = plan_for(&before, &request);
    expect![[r#"
        + image_location = "snapshot"
        + image_state = "available"
        + kernel_id = "k-1"
        + owner_id = "p1"
        + ramdisk_id = "r-1"
        = backup_type = "daily"
        = image_type = "snapshot"
        = instance_ref = "http://nova/servers/42"
        = instance_uuid = "0a1b2c3d-0000-4000-8000-000000000042"
        = key1 = "value1"
        = key2 = "value2"
        = user_id = "u42"
    "#]]
    .assert_eq(&p.render());
    let after = apply(&p, &before);
    assert_eq!(after.properties.len(), 12);
    assert!(p.removed.is_empty());
}

#[test]
fn seed_put_with_data_never_purges_even_when_asked() {
    let mut headers = UPLOAD_HEADERS.to_vec();
    headers.push(("X-Glance-Registry-Purge-Props", "true"));
    let p = plan_for(&registered_snapshot(), &v1(&headers, true));
    assert!(p.removed.is_empty(), "{p}");
    assert!(!p.purge);
}

#[test]
fn v1_metadata_put_without_header_purges_and_shows_it() {
    check(
        &registered_snapshot(),
        v1(&[("x-image-meta-property-key1", "value1")], false),
        expect![[r#"
            purge
            - backup_type (was "daily")
            - image_type (was "snapshot")
            - instance_ref (was "http://nova/servers/42")
            - instance_uuid (was "0a1b2c3d-0000-4000-8000-000000000042")
            - key2 (was "value2")
            - user_id (was "u42")
            = key1 = "value1"
        "#]],
    );
}

#[test]
fn v1_purge_header_false_merges() {
    check(
        &registered_snapshot(),
        v1(
            &[
                ("x-image-meta-property-key1", "new"),
                ("x-glance-registry-purge-props", "False"),
            ],
            false,
        ),
        expect![[r#"
            ~ key1: "value1" -> "new"
            = backup_type = "daily"
            = image_type = "snapshot"
            = instance_ref = "http://nova/servers/42"
            = instance_uuid = "0a1b2c3d-0000-4000-8000-000000000042"
            = key2 = "value2"
            = user_id = "u42"
        "#]],
    );
}

#[test]
fn v1_purge_header_values_follow_bool_from_string() {
    let before = image(&[("a", "1")]);
    for (value, purges) in [
        ("true", true),
        ("1", true),
        ("Yes", true),
        ("on", true),
        ("t", true),
        ("false", false),
        ("0", false),
        ("no", false),
        ("", false),
        ("maybe", false),
    ] {
        let p = plan_for(
            &before,
            &v1(&[("x-glance-registry-purge-props", value)], false),
        );
        assert_eq!(p.purge, purges, "header value {value:?}");
        assert_eq!(
            p.removed.contains_key("a"),
            purges,
            "header value {value:?}"
        );
    }
}

#[test]
fn v1_bare_put_purges_every_property() {
    check(
        &image(&[("a", "1"), ("b", "2")]),
        v1(&[], false),
        expect![[r#"
            purge
            - a (was "1")
            - b (was "2")
        "#]],
    );
}

#[test]
fn v1_bare_put_with_data_changes_nothing() {
    let p = plan_for(&image(&[("a", "1"), ("b", "2")]), &v1(&[], true));
    assert!(p.is_noop());
    assert_eq!(p.kept.len(), 2);
}

#[test]
fn v1_location_and_copy_from_are_not_data_and_purge() {
    let before = image(&[("a", "1")]);
    for header in ["x-image-meta-location", "x-glance-api-copy-from"] {
        let p = plan_for(&before, &v1(&[(header, "http://example.com/i")], false));
        assert!(p.removed.contains_key("a"), "{header}: {p}");
    }
}

// ---------------------------------------------------------------------------------------------
// v1 headers

#[test]
fn v1_header_names_normalise() {
    check(
        &image(&[]),
        v1(
            &[
                ("X-Image-Meta-Property-Hw-Disk-Bus", "virtio"),
                ("X-Image-Meta-Disk-Format", "qcow2"),
                ("x-image-meta-container_format", "bare"),
                ("X-Image-Meta-Name", "snap"),
                ("x-image-meta-min-ram", "512"),
                ("x-image-meta-is_public", "True"),
                ("x-image-meta-protected", "yes"),
                ("Content-Type", "application/octet-stream"),
            ],
            true,
        ),
        expect![[r#"
            + hw_disk_bus = "virtio"
            * name: null -> "snap"
            * visibility: "shared" -> "public"
            * protected: false -> true
            * disk_format: null -> "qcow2"
            * container_format: null -> "bare"
            * min_ram: 0 -> 512
            ! 403 Forbidden visibility: You are not authorized to complete publicize_image action.
        "#]],
    );
}

#[test]
fn v1_header_errors() {
    let cases: [(&[(&str, &str)], &str); 5] = [
        (
            &[("x-image-meta-colour", "red")],
            "Bad header: x-image-meta-colour",
        ),
        (
            &[("x-image-meta-property-", "x")],
            "Bad header: x-image-meta-property-",
        ),
        (
            &[("x-image-meta-name", "a"), ("X-Image-Meta-Name", "b")],
            "Header X-Image-Meta-Name is given more than once.",
        ),
        (
            &[
                ("x-image-meta-property-a-b", "1"),
                ("x-image-meta-property-a_b", "2"),
            ],
            "Header x-image-meta-property-a_b is given more than once.",
        ),
        (
            &[
                ("x-glance-registry-purge-props", "true"),
                ("x-glance-registry-purge-props", "false"),
            ],
            "Header x-glance-registry-purge-props is given more than once.",
        ),
    ];
    for (headers, message) in cases {
        let err = glint_core::V1Update::from_headers(headers.iter().copied(), false)
            .expect_err("must be refused");
        assert_eq!(err.to_string(), message);
        assert_eq!(err.status(), 400);
    }
}

#[test]
fn v1_field_validation() {
    check(
        &image(&[]),
        v1(
            &[
                ("x-image-meta-min-ram", "-1"),
                ("x-image-meta-min-disk", "x"),
                ("x-image-meta-size", "big"),
                ("x-image-meta-disk-format", "floppy"),
                ("x-image-meta-checksum", &"0".repeat(33)),
                ("x-image-meta-name", &"n".repeat(256)),
                ("x-glance-registry-purge-props", "false"),
            ],
            false,
        ),
        expect![[r#"
            ! 400 InvalidValue name: Image name too long: maximum is 255 characters.
            ! 400 InvalidValue disk_format: Invalid disk format 'floppy' for image.
            ! 400 InvalidValue size: Invalid value 'big' for size.
            ! 400 InvalidValue checksum: Image checksum too long: maximum is 32 characters.
            ! 400 InvalidValue min_ram: 'min_ram' value out of range
            ! 400 InvalidValue min_disk: Invalid value 'x' for min_disk.
        "#]],
    );
}

#[test]
fn v1_status_id_and_deleted_images() {
    let mut active = image(&[]);
    active.status = Status::Active;
    check(
        &active,
        v1(
            &[
                ("x-image-meta-status", "queued"),
                ("x-image-meta-id", "other"),
                ("x-image-meta-size", "10"),
                ("x-image-meta-checksum", "abc"),
            ],
            true,
        ),
        expect![[r#"
            * size: null -> 10
            * checksum: null -> "abc"
            ! 409 StatusConflict status: Cannot upload to an unqueued image
            ! 403 Forbidden status: Forbidden to modify 'status' of image.
            ! 403 Forbidden id: Forbidden to modify 'id' of image.
            ! 403 Forbidden size: Forbidden to modify 'size' of active image.
            ! 403 Forbidden checksum: Forbidden to modify 'checksum' of active image.
        "#]],
    );
    let mut deleted = image(&[]);
    deleted.status = Status::Deleted;
    let p = plan_for(&deleted, &v1(&[("x-image-meta-name", "x")], false));
    assert_eq!(
        p.first_violation().map(|v| (v.status, v.message.as_str())),
        Some((403, "Forbidden to update deleted image."))
    );
}

#[test]
fn v1_status_same_as_current_is_fine() {
    let p = plan_for(&image(&[]), &v1(&[("x-image-meta-status", "queued")], true));
    assert!(p.is_allowed(), "{p}");
}

#[test]
fn v1_amazon_formats_must_match() {
    check(
        &image(&[]),
        v1(&[("x-image-meta-disk-format", "aki")], true),
        expect![[r#"
            * disk_format: null -> "aki"
            * container_format: null -> "aki"
        "#]],
    );
    check(
        &image(&[]),
        v1(
            &[
                ("x-image-meta-disk-format", "aki"),
                ("x-image-meta-container-format", "bare"),
            ],
            true,
        ),
        expect![[r#"
            * disk_format: null -> "aki"
            * container_format: null -> "bare"
            ! 400 InvalidValue disk_format: Invalid mix of disk and container formats. When setting a disk or container format to one of 'aki', 'ari', or 'ami', the container and disk formats must match.
        "#]],
    );
}

#[test]
fn v1_is_public_false_unpublishes_to_shared() {
    let mut public = image(&[]);
    public.visibility = glint_core::Visibility::Public;
    check_as(
        &public,
        v1(&[("x-image-meta-is-public", "false")], true),
        &admin(),
        &Settings::default(),
        None,
        expect![[r#"
            * visibility: "public" -> "shared"
        "#]],
    );
}

#[test]
fn v1_property_headers_may_not_name_core_or_reserved_keys() {
    check(
        &image(&[]),
        v1(
            &[
                ("x-image-meta-property-os_glance_import_task", "t"),
                ("x-image-meta-property-name", "n"),
                ("x-image-meta-property-checksum", "c"),
            ],
            true,
        ),
        expect![[r#"
            + checksum = "c"
            + name = "n"
            + os_glance_import_task = "t"
            ! 403 ReadOnly checksum: Attribute 'checksum' is read-only.
            ! 403 Reserved name: 'name' is a core attribute, not a custom property.
            ! 403 Reserved os_glance_import_task: Attribute 'os_glance_import_task' is reserved.
        "#]],
    );
}

// ---------------------------------------------------------------------------------------------
// v2 JSON patch

#[test]
fn patch_add_replace_remove() {
    check(
        &image(&[("a", "1"), ("b", "2"), ("c", "3")]),
        patch21(json!([
            {"op": "add", "path": "/d", "value": "4"},
            {"op": "replace", "path": "/a", "value": "10"},
            {"op": "remove", "path": "/b"},
            {"op": "replace", "path": "/name", "value": "renamed"},
            {"op": "replace", "path": "/min_disk", "value": 20},
        ])),
        expect![[r#"
            + d = "4"
            ~ a: "1" -> "10"
            - b (was "2")
            = c = "3"
            * name: null -> "renamed"
            * min_disk: 0 -> 20
        "#]],
    );
}

#[test]
fn patch_v2_0_dialect() {
    check(
        &image(&[("a", "1")]),
        patch20(json!([
            {"add": "/a", "value": "x"},
            {"add": "/b", "value": "2"},
            {"replace": "/a", "value": "3"},
        ])),
        expect![[r#"
            + b = "2"
            ~ a: "1" -> "3"
            ! 409 AlreadyPresent a: Property a already present.
        "#]],
    );
}

#[test]
fn patch_v2_1_add_overwrites() {
    check(
        &image(&[("a", "1")]),
        patch21(json!([{"op": "add", "path": "/a", "value": "2"}])),
        expect![[r#"
            ~ a: "1" -> "2"
        "#]],
    );
}

#[test]
fn patch_missing_keys_conflict() {
    check(
        &image(&[]),
        patch21(json!([
            {"op": "replace", "path": "/nope", "value": "x"},
            {"op": "remove", "path": "/gone"},
        ])),
        expect![[r#"
            ! 409 NoSuchProperty nope: Property nope does not exist.
            ! 409 NoSuchProperty gone: Property gone does not exist.
        "#]],
    );
}

#[test]
fn patch_read_only_reserved_and_core_removal() {
    let mut ops = Vec::new();
    for key in [
        "id",
        "status",
        "checksum",
        "size",
        "virtual_size",
        "created_at",
        "updated_at",
        "direct_url",
        "self",
        "file",
        "schema",
        "os_hash_algo",
        "os_hash_value",
        "location",
        "deleted",
        "deleted_at",
        "os_glance_import_task",
    ] {
        ops.push(json!({"op": "replace", "path": format!("/{key}"), "value": "x"}));
    }
    ops.push(json!({"op": "remove", "path": "/os_glance_x"}));
    ops.push(json!({"op": "add", "path": "/size", "value": 1}));
    ops.push(json!({"op": "remove", "path": "/name"}));
    ops.push(json!({"op": "remove", "path": "/tags"}));
    check(
        &image(&[]),
        patch21(json!(ops)),
        expect![[r#"
            ! 403 ReadOnly id: Attribute 'id' is read-only.
            ! 403 ReadOnly status: Attribute 'status' is read-only.
            ! 403 ReadOnly checksum: Attribute 'checksum' is read-only.
            ! 403 ReadOnly size: Attribute 'size' is read-only.
            ! 403 ReadOnly virtual_size: Attribute 'virtual_size' is read-only.
            ! 403 ReadOnly created_at: Attribute 'created_at' is read-only.
            ! 403 ReadOnly updated_at: Attribute 'updated_at' is read-only.
            ! 403 ReadOnly direct_url: Attribute 'direct_url' is read-only.
            ! 403 ReadOnly self: Attribute 'self' is read-only.
            ! 403 ReadOnly file: Attribute 'file' is read-only.
            ! 403 ReadOnly schema: Attribute 'schema' is read-only.
            ! 403 ReadOnly os_hash_algo: Attribute 'os_hash_algo' is read-only.
            ! 403 ReadOnly os_hash_value: Attribute 'os_hash_value' is read-only.
            ! 403 Reserved location: Attribute 'location' is reserved.
            ! 403 Reserved deleted: Attribute 'deleted' is reserved.
            ! 403 Reserved deleted_at: Attribute 'deleted_at' is reserved.
            ! 403 Reserved os_glance_import_task: Attribute 'os_glance_import_task' is reserved.
            ! 403 Reserved os_glance_x: Attribute 'os_glance_x' is reserved.
            ! 403 ReadOnly size: Attribute 'size' is read-only.
            ! 403 NotRemovable name: Property name may not be removed.
            ! 403 NotRemovable tags: Property tags may not be removed.
        "#]],
    );
}

#[test]
fn patch_values_are_validated() {
    check(
        &image(&[]),
        patch21(json!([
            {"op": "add", "path": "/num", "value": 1},
            {"op": "replace", "path": "/min_ram", "value": -1},
            {"op": "replace", "path": "/disk_format", "value": "floppy"},
            {"op": "replace", "path": "/visibility", "value": "everyone"},
            {"op": "replace", "path": "/protected", "value": "yes"},
            {"op": "replace", "path": "/name", "value": null},
            {"op": "replace", "path": "/tags", "value": ["a", "b", "a"]},
        ])),
        expect![[r#"
            * tags: [] -> ["a","b"]
            ! 400 InvalidValue num: Invalid value for property 'num': 1 is not a string.
            ! 400 InvalidValue min_ram: Invalid value for 'min_ram': expected an integer from 0 to 2147483647.
            ! 400 InvalidValue disk_format: Invalid value for 'disk_format': expected one of ami, ari, aki, vhd, vhdx, vmdk, raw, qcow2, vdi, iso, ploop, gpt.
            ! 400 InvalidValue visibility: Invalid value for 'visibility': expected one of public, community, shared, private.
            ! 400 InvalidValue protected: Invalid value for 'protected': expected true or false.
        "#]],
    );
}

#[test]
fn patch_ops_apply_in_order() {
    check(
        &image(&[("a", "1")]),
        patch21(json!([
            {"op": "remove", "path": "/a"},
            {"op": "add", "path": "/a", "value": "1"},
            {"op": "add", "path": "/tmp", "value": "x"},
            {"op": "remove", "path": "/tmp"},
            {"op": "remove", "path": "/tmp"},
        ])),
        expect![[r#"
            = a = "1"
            ! 409 NoSuchProperty tmp: Property tmp does not exist.
        "#]],
    );
}

#[test]
fn patch_escaped_pointers() {
    check(
        &image(&[("a/b", "1"), ("c~d", "2")]),
        patch21(json!([
            {"op": "replace", "path": "/a~1b", "value": "x"},
            {"op": "remove", "path": "/c~0d"},
        ])),
        expect![[r#"
            ~ a/b: "1" -> "x"
            - c~d (was "2")
        "#]],
    );
}

#[test]
fn patch_parse_errors() {
    use glint_core::{Patch, PatchDialect};
    let cases = [
        (
            json!({"op": "add"}),
            "Request body must be a JSON array of operation objects.",
        ),
        (
            json!(["x"]),
            "Invalid operation at index 0: each operation must be a JSON object",
        ),
        (
            json!([{"op": "move", "path": "/a", "value": "1"}]),
            "Invalid operation at index 0: 'move' is not one of add, remove, replace",
        ),
        (
            json!([{"op": "add", "path": "/a"}]),
            "Invalid operation at index 0: 'value' is required for 'add'",
        ),
        (
            json!([{"op": "add", "path": "a", "value": "1"}]),
            "Pointer `a` does not start with \"/\".",
        ),
        (
            json!([{"op": "add", "path": "/a/", "value": "1"}]),
            "Pointer `/a/` end with \"/\".",
        ),
        (
            json!([{"op": "add", "path": "/", "value": "1"}]),
            "Pointer `/` end with \"/\".",
        ),
        (
            json!([{"op": "add", "path": "//a", "value": "1"}]),
            "Pointer `//a` contains adjacent \"/\".",
        ),
        (
            json!([{"op": "add", "path": "/a~2", "value": "1"}]),
            "Pointer `/a~2` contains \"~\" not part of a recognized escape sequence.",
        ),
        (
            json!([{"op": "add", "path": "/a/b", "value": "1"}]),
            "Invalid JSON pointer for this resource: '/a/b'",
        ),
        (
            json!([{"op": "replace", "path": "/locations/0", "value": {}}]),
            "Invalid JSON pointer for this resource: '/locations/0'",
        ),
        (
            json!([{"op": "add", "path": "/locations/01", "value": {}}]),
            "Invalid JSON pointer for this resource: '/locations/01'",
        ),
    ];
    for (doc, message) in cases {
        let err = Patch::parse(PatchDialect::V2_1, &doc).expect_err("must be refused");
        assert_eq!(err.to_string(), message, "{doc}");
        assert_eq!(err.status(), 400);
    }
    let err = Patch::parse(PatchDialect::V2_0, &json!([{"add": "/a", "remove": "/a"}]))
        .expect_err("two ops in one element");
    assert_eq!(
        err.to_string(),
        "Invalid operation at index 0: exactly one of 'add', 'remove' or 'replace' must be given"
    );
    let err = Patch::from_body("application/json", b"[]").expect_err("wrong media type");
    assert_eq!(err.status(), 415);
    let ok = Patch::from_body(
        "Application/OpenStack-Images-V2.0-JSON-Patch; charset=utf-8",
        b"[]",
    );
    assert!(ok.is_ok());
    let err = Patch::from_body(glint_core::patch::MEDIA_TYPE_V2_1, b"[{").expect_err("bad json");
    assert_eq!(err.status(), 400);
}

#[test]
fn patch_empty_is_a_noop() {
    let p = plan_for(&image(&[("a", "1")]), &patch21(json!([])));
    assert!(p.is_noop() && p.is_allowed());
}

#[test]
fn patch_formats_change_only_while_queued() {
    let mut active = image(&[]);
    active.status = Status::Active;
    check(
        &active,
        patch21(json!([
            {"op": "replace", "path": "/disk_format", "value": "raw"},
            {"op": "replace", "path": "/container_format", "value": "bare"},
        ])),
        expect![[r#"
            * disk_format: null -> "raw"
            * container_format: null -> "bare"
            ! 403 InvalidState disk_format: Attribute disk_format can be only replaced for a queued image.
            ! 403 InvalidState container_format: Attribute container_format can be only replaced for a queued image.
        "#]],
    );
}

#[test]
fn patch_owner_and_visibility_policy() {
    let before = image(&[]);
    let request = patch21(json!([
        {"op": "replace", "path": "/owner", "value": "p2"},
        {"op": "replace", "path": "/visibility", "value": "public"},
    ]));
    check(
        &before,
        request.clone(),
        expect![[r#"
            * visibility: "shared" -> "public"
            * owner: "p1" -> "p2"
            ! 403 Forbidden owner: Only an administrator may give an image to another project.
            ! 403 Forbidden visibility: You are not authorized to complete publicize_image action.
        "#]],
    );
    let p = plan_with(&before, &request, &admin(), &Settings::default(), None);
    assert!(p.is_allowed(), "{p}");
    let community =
        patch21(json!([{"op": "replace", "path": "/visibility", "value": "community"}]));
    assert!(plan_for(&before, &community).is_allowed());
    let stranger = Caller::new(Some("p9"), &["member"]);
    let p = plan_with(&before, &community, &stranger, &Settings::default(), None);
    assert_eq!(p.first_violation().map(|v| v.status), Some(403));
}

#[test]
fn patch_locations() {
    let settings = Settings {
        locations_enabled: true,
        ..Settings::default()
    };
    let mut before = image(&[]);
    before.locations = vec![Location {
        url: "file:///a".into(),
        metadata: Default::default(),
        validation_data: None,
    }];
    // Adding: http(s) only, anywhere in the list; removing: administrators only.
    check_as(
        &before,
        patch21(json!([
            {"op": "add", "path": "/locations/-", "value": {"url": "http://h/b", "metadata": {}}},
            {"op": "add", "path": "/locations/0", "value": {"url": "https://h/c"}},
            {"op": "remove", "path": "/locations/1"},
            {"op": "add", "path": "/locations/9", "value": {"url": "http://h/d"}},
            {"op": "add", "path": "/locations/-", "value": {"metadata": {}}},
            {"op": "add", "path": "/locations/-", "value": {"url": "file:///etc/passwd"}},
            {"op": "add", "path": "/locations/-", "value": {"url": "gopher://info.cern.ch"}},
        ])),
        &member(),
        &settings,
        None,
        expect![[r#"
            * locations: [{"url":"file:///a","metadata":{}}] -> [{"url":"https://h/c","metadata":{}},{"url":"file:///a","metadata":{}},{"url":"http://h/b","metadata":{}}]
            ! 403 Forbidden locations: You are not authorized to complete delete_image_location action.
            ! 400 InvalidValue locations: Invalid location index 9: the image has 3 locations.
            ! 400 InvalidValue locations: Invalid location: a location needs a non-empty 'url' string.
            ! 400 InvalidValue locations: Invalid location: file:///etc/passwd: only http and https locations can be added.
            ! 400 InvalidValue locations: Invalid location: gopher://info.cern.ch: only http and https locations can be added.
        "#]],
    );
    check_as(
        &before,
        patch21(json!([
            {"op": "add", "path": "/locations/-", "value": {"url": "http://h/b"}},
            {"op": "remove", "path": "/locations/0"},
        ])),
        &admin(),
        &settings,
        None,
        expect![[r#"
            * locations: [{"url":"file:///a","metadata":{}}] -> [{"url":"http://h/b","metadata":{}}]
        "#]],
    );
    check_as(
        &before,
        patch21(json!([
            {"op": "replace", "path": "/locations", "value": []},
            {"op": "remove", "path": "/locations/0"},
        ])),
        &admin(),
        &settings,
        None,
        expect![[r#"
            ! 403 Forbidden locations: Cannot set locations to empty list.
            ! 403 Forbidden locations: Cannot remove last location in the image.
        "#]],
    );
    // Validation data: checked, and it must agree with the image's checksums.
    let mut hashed = image(&[]);
    hashed.checksum = Some("1".repeat(32));
    hashed.os_hash_algo = Some("sha512".into());
    hashed.os_hash_value = Some("deadbeef".repeat(16));
    let with = |data: serde_json::Value| {
        patch21(json!([{"op": "add", "path": "/locations/-",
            "value": {"url": "http://h/x", "validation_data": data}}]))
    };
    check_as(
        &hashed,
        with(json!({"checksum": "1".repeat(32), "os_hash_algo": "sha512",
            "os_hash_value": "deadbeef".repeat(16)})),
        &member(),
        &settings,
        None,
        expect![[r#"
            * locations: [] -> [{"url":"http://h/x","metadata":{},"validation_data":{"checksum":"11111111111111111111111111111111","os_hash_algo":"sha512","os_hash_value":"deadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeef"}}]
        "#]],
    );
    // A mismatch is a conflict even when the value would not fit the algorithm.
    check_as(
        &hashed,
        with(json!({"os_hash_algo": "sha256", "os_hash_value": "deadbeef".repeat(16)})),
        &member(),
        &settings,
        None,
        expect![[r#"
            ! 409 StatusConflict locations: The image's os_hash_algo does not match the location's validation data.
        "#]],
    );
    check_as(
        &hashed,
        with(json!({"checksum": "2".repeat(32)})),
        &member(),
        &settings,
        None,
        expect![[r#"
            ! 409 StatusConflict locations: The image's checksum does not match the location's validation data.
        "#]],
    );
    for bad in [
        json!({"os_hash_algo": "sha512", "os_hash_value": "abc"}),
        json!({"os_hash_value": "deadbeef".repeat(16)}),
        json!({"os_hash_algo": "sha123", "os_hash_value": "deadbeef".repeat(16)}),
        json!({"os_hash_algo": "sha512", "os_hash_value": "ab".repeat(32)}),
        json!({"checksum": "xyz"}),
        json!({"size": 3}),
    ] {
        let plan = plan_with(&image(&[]), &with(bad.clone()), &member(), &settings, None);
        assert_eq!(plan.first_violation().map(|v| v.status), Some(400), "{bad}");
    }
    // Replacing keeps which locations there are, and each one's store.
    let mut two = image(&[]);
    two.locations = vec![
        Location {
            url: "http://h/a".into(),
            metadata: [("store".to_string(), json!("web"))].into_iter().collect(),
            validation_data: None,
        },
        Location {
            url: "http://h/b".into(),
            metadata: Default::default(),
            validation_data: None,
        },
    ];
    check_as(
        &two,
        patch21(json!([{"op": "replace", "path": "/locations", "value": [
            {"url": "http://h/b", "metadata": {}},
            {"url": "http://h/a", "metadata": {"date": "2015-10-15"}}]}])),
        &member(),
        &settings,
        None,
        expect![[r#"
            * locations: [{"url":"http://h/a","metadata":{"store":"web"}},{"url":"http://h/b","metadata":{}}] -> [{"url":"http://h/b","metadata":{}},{"url":"http://h/a","metadata":{"date":"2015-10-15","store":"web"}}]
        "#]],
    );
    check_as(
        &two,
        patch21(json!([{"op": "replace", "path": "/locations", "value": [
            {"url": "http://h/a", "metadata": {}}]}])),
        &member(),
        &settings,
        None,
        expect![[r#"
            ! 400 InvalidValue locations: Replacing locations may change their order and metadata, not which locations there are: add or remove locations one by one.
        "#]],
    );
    check(
        &before,
        patch21(json!([
            {"op": "replace", "path": "/locations", "value": []},
            {"op": "add", "path": "/locations/-", "value": {"url": "file:///b"}},
        ])),
        expect![[r#"
            ! 403 Forbidden locations: It's not allowed to update locations if locations are invisible.
            ! 403 Forbidden locations: It's not allowed to add locations if locations are invisible.
        "#]],
    );
}

// ---------------------------------------------------------------------------------------------
// Limits and quotas

#[test]
fn key_and_value_lengths() {
    let long_key = "k".repeat(256);
    let long_value = "v".repeat(65_536);
    let p = plan_for(
        &image(&[("ok", "1")]),
        &patch21(json!([
            {"op": "add", "path": format!("/{long_key}"), "value": "x"},
            {"op": "replace", "path": "/ok", "value": long_value},
            {"op": "add", "path": format!("/{}", "k".repeat(255)), "value": "v".repeat(65_535)},
        ])),
    );
    let kinds: Vec<_> = p.violations.iter().map(|v| (v.status, v.kind)).collect();
    assert_eq!(
        kinds,
        vec![
            (400, glint_core::ViolationKind::KeyTooLong),
            (400, glint_core::ViolationKind::ValueTooLong)
        ]
    );
    // Lengths count characters, not bytes.
    let p = plan_for(
        &image(&[]),
        &patch21(json!([{"op": "add", "path": format!("/{}", "é".repeat(255)), "value": "ü"}])),
    );
    assert!(p.is_allowed(), "{p}");
}

#[test]
fn property_quota() {
    let settings = Settings {
        property_quota: Some(3),
        ..Settings::default()
    };
    let before = image(&[("a", "1"), ("b", "2"), ("os_glance_x", "")]);
    check_as(
        &before,
        patch21(json!([
            {"op": "add", "path": "/c", "value": "3"},
            {"op": "add", "path": "/d", "value": "4"},
        ])),
        &member(),
        &settings,
        None,
        expect![[r#"
            + c = "3"
            + d = "4"
            = a = "1"
            = b = "2"
            = os_glance_x = ""
            ! 413 QuotaExceeded properties: Maximum number of properties exceeded: 4 requested, 3 allowed.
        "#]],
    );
    // Removing first makes room; replacing does not add.
    let p = plan_with(
        &before,
        &patch21(json!([
            {"op": "remove", "path": "/a"},
            {"op": "add", "path": "/c", "value": "3"},
            {"op": "add", "path": "/d", "value": "4"},
            {"op": "replace", "path": "/b", "value": "9"},
        ])),
        &member(),
        &settings,
        None,
    );
    assert!(p.is_allowed(), "{p}");
    // Already over quota: changing existing keys is fine, adding is not.
    let tight = Settings {
        property_quota: Some(1),
        ..Settings::default()
    };
    let change = patch21(json!([{"op": "replace", "path": "/a", "value": "x"}]));
    assert!(plan_with(&before, &change, &member(), &tight, None).is_allowed());
    // v1 purge counts only what the request names.
    let p = plan_with(
        &before,
        &v1(&[("x-image-meta-property-z", "1")], false),
        &member(),
        &tight,
        None,
    );
    assert!(p.is_allowed(), "{p}");
}

#[test]
fn tag_quota() {
    let settings = Settings {
        tag_quota: Some(2),
        ..Settings::default()
    };
    let p = plan_with(
        &image(&[]),
        &patch21(json!([{"op": "replace", "path": "/tags", "value": ["a", "b", "c"]}])),
        &member(),
        &settings,
        None,
    );
    assert_eq!(p.first_violation().map(|v| v.status), Some(413));
}

// ---------------------------------------------------------------------------------------------
// Editor

#[test]
fn editor_never_infers_removal_from_absence() {
    check(
        &image(&[("a", "1"), ("b", "2"), ("c", "3")]),
        edit(&[("a", "10"), ("d", "4")], &["b"], false),
        expect![[r#"
            + d = "4"
            ~ a: "1" -> "10"
            - b (was "2")
            = c = "3"
        "#]],
    );
}

#[test]
fn editor_replace_all_removes_every_absent_key() {
    check(
        &image(&[("a", "1"), ("b", "2"), ("c", "3")]),
        edit(&[("a", "1")], &[], true),
        expect![[r#"
            purge
            - b (was "2")
            - c (was "3")
            = a = "1"
        "#]],
    );
}

#[test]
fn editor_conflicting_and_missing_rows() {
    check(
        &image(&[("a", "1")]),
        edit(&[("a", "2")], &["a", "ghost"], false),
        expect![[r#"
            = a = "1"
            ! 400 InvalidValue a: Property 'a' is both set and removed.
        "#]],
    );
}

#[test]
fn editor_attributes() {
    let request = Request::Edit(glint_core::Edit {
        attributes: [
            ("name".to_string(), json!("web")),
            ("min_ram".to_string(), json!(1024)),
            ("status".to_string(), json!("active")),
        ]
        .into_iter()
        .collect(),
        ..Default::default()
    });
    check(
        &image(&[]),
        request,
        expect![[r#"
            * name: null -> "web"
            * min_ram: 0 -> 1024
            ! 400 InvalidValue status: 'status' is not a core attribute a request may set.
        "#]],
    );
}

#[test]
fn editor_plan_round_trips_through_json_patch() {
    let before = image(&[("a", "1"), ("b", "2"), ("c/d", "3")]);
    let p = plan_for(
        &before,
        &edit(&[("a", "10"), ("n~x", "4")], &["c/d"], false),
    );
    let patch = p.to_patch();
    expect![[r#"[{"op":"remove","path":"/c~1d"},{"op":"replace","path":"/a","value":"10"},{"op":"add","path":"/n~0x","value":"4"}]"#]]
        .assert_eq(&patch.to_json().to_string());
    let again = plan_for(&before, &Request::Patch(patch));
    assert_eq!(again, p);
}

// ---------------------------------------------------------------------------------------------
// Create

#[test]
fn create_plans_against_the_new_image() {
    let body = json!({
        "id": "6B8E1F0A-7C3D-4F2E-9A1B-2C3D4E5F6A7B",
        "name": "cirros",
        "disk_format": "qcow2",
        "container_format": "bare",
        "tags": ["x"],
        "hw_disk_bus": "virtio",
        "status": "active",
        "self": "/x",
        "os_glance_y": "1",
        "count": 3,
    });
    let create = Create::parse(&body).expect("valid create");
    assert_eq!(create.id.as_deref(), Some(ID));
    check(
        &image(&[]),
        Request::Create(create),
        expect![[r#"
            + hw_disk_bus = "virtio"
            * name: null -> "cirros"
            * disk_format: null -> "qcow2"
            * container_format: null -> "bare"
            * tags: [] -> ["x"]
            ! 400 InvalidValue count: Invalid value for property 'count': 3 is not a string.
            ! 403 Reserved os_glance_y: Attribute 'os_glance_y' is reserved.
            ! 403 ReadOnly self: Attribute 'self' is read-only.
            ! 403 ReadOnly status: Attribute 'status' is read-only.
        "#]],
    );
}

#[test]
fn create_body_errors() {
    for (body, message) in [
        (&b""[..], "Body expected in request."),
        (&b"true"[..], "The request body must be a JSON object."),
        (
            &b"{\"id\": \"nope\"}"[..],
            "Invalid image id \"nope\": it must be a UUID.",
        ),
        (
            &b"{"[..],
            "Malformed JSON in request body: EOF while parsing an object at line 1 column 1",
        ),
    ] {
        let err = Create::from_body(body).expect_err("must be refused");
        assert_eq!(err.to_string(), message);
        assert_eq!(err.status(), 400);
    }
}

// ---------------------------------------------------------------------------------------------
// Property protections

const PROTECTIONS: &str = "
# Glance's sample, plus a read-only key and a secret key.
[^x_secret_.*]
create = admin
read = admin
update = admin
delete = admin

[^x_ro_.*]
create = admin
read = @
update = !
delete = admin

[^x_.*]
create = admin,member
read = admin,member
update = admin,member
delete = admin,member
";

#[test]
fn protections_decide_per_operation() {
    let rules = PropertyProtections::parse(PROTECTIONS).expect("valid rules");
    let before = image(&[
        ("x_a", "1"),
        ("x_ro_b", "2"),
        ("x_secret_c", "3"),
        ("other", "4"),
    ]);
    // `other` matches no section: nobody may read or touch it; `x_secret_c` is hidden from members.
    check_as(
        &before,
        patch21(json!([
            {"op": "replace", "path": "/x_a", "value": "10"},
            {"op": "replace", "path": "/x_ro_b", "value": "20"},
            {"op": "add", "path": "/x_new", "value": "n"},
            {"op": "add", "path": "/free", "value": "f"},
            {"op": "remove", "path": "/x_secret_c"},
        ])),
        &member(),
        &Settings::default(),
        Some(&rules),
        expect![[r#"
            + free = "f"
            + x_new = "n"
            ~ x_a: "1" -> "10"
            ~ x_ro_b: "2" -> "20"
            ! 409 NoSuchProperty x_secret_c: Property x_secret_c does not exist.
            ! 403 Protected free: You are not permitted to create the property 'free'.
            ! 403 Protected x_ro_b: You are not permitted to update the property 'x_ro_b'.
        "#]],
    );
}

#[test]
fn protections_keep_unreadable_keys_through_a_purge() {
    let rules = PropertyProtections::parse(PROTECTIONS).expect("valid rules");
    let before = image(&[("x_a", "1"), ("x_secret_c", "3")]);
    let p = plan_with(
        &before,
        &v1(&[("x-image-meta-property-x_b", "2")], false),
        &member(),
        &Settings::default(),
        Some(&rules),
    );
    expect![[r#"
        purge
        + x_b = "2"
        - x_a (was "1")
    "#]]
    .assert_eq(&p.render());
    let after = apply(&p, &before);
    assert_eq!(
        after.properties.get("x_secret_c").map(String::as_str),
        Some("3")
    );
    // Unreadable keys are not shown.
    let (caller, settings) = (member(), Settings::default());
    let ctx = glint_core::PlanContext::new(&caller, &settings).with_protections(&rules);
    assert!(
        !glint_core::readable(&before, &ctx)
            .properties
            .contains_key("x_secret_c")
    );
}

#[test]
fn plans_shown_to_a_caller_leave_out_what_it_may_not_read() {
    let rules = PropertyProtections::parse(PROTECTIONS).expect("valid rules");
    let before = image(&[("x_a", "1"), ("x_secret_c", "3"), ("x_secret_d", "4")]);
    let admin = admin();
    let p = plan_with(
        &before,
        &v1(
            &[
                ("x-image-meta-property-x_secret_e", "value-e"),
                ("x-image-meta-property-x_secret_c", "value-c"),
                ("x-image-meta-property-x_a", "1"),
            ],
            false,
        ),
        &admin,
        &Settings::default(),
        Some(&rules),
    );
    assert!(p.added.contains_key("x_secret_e"), "{p:?}");
    assert!(p.changed.contains_key("x_secret_c"), "{p:?}");
    assert!(p.removed.contains_key("x_secret_d"), "{p:?}");
    let (caller, settings) = (member(), Settings::default());
    let ctx = glint_core::PlanContext::new(&caller, &settings).with_protections(&rules);
    let shown = glint_core::readable_plan(&p, &ctx);
    let text = serde_json::to_string(&shown).expect("json");
    for hidden in ["x_secret", "value-e", "value-c", "\"4\"", "\"3\""] {
        assert!(!text.contains(hidden), "{hidden} in {text}");
    }
    assert_eq!(shown.kept.get("x_a").map(String::as_str), Some("1"));
    // The admin sees it all.
    let ctx = glint_core::PlanContext::new(&admin, &settings).with_protections(&rules);
    assert_eq!(glint_core::readable_plan(&p, &ctx), p);
}

#[test]
fn protections_admin_and_os_glance() {
    let rules = PropertyProtections::parse(PROTECTIONS).expect("valid rules");
    let roles = |r: &[&str]| r.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    use glint_core::Operation::*;
    assert!(rules.allows("x_secret_c", Read, &roles(&["Admin"])));
    assert!(!rules.allows("x_secret_c", Read, &roles(&["member"])));
    assert!(rules.allows("x_ro_b", Read, &roles(&[])));
    assert!(!rules.allows("x_ro_b", Update, &roles(&["admin"])));
    assert!(!rules.allows("unmatched", Read, &roles(&["admin"])));
    assert!(rules.allows("os_glance_import_task", Delete, &roles(&[])));
    assert_eq!(rules.rule_for("x_ro_b"), Some("^x_ro_.*"));
}

#[test]
fn protections_file_errors() {
    let cases = [
        (
            "[.*]\ncreate = @\nread = @\nupdate = @\n",
            "section [.*] does not define 'delete'",
        ),
        (
            "[.*]\ncreate = @,!\nread = @\nupdate = @\ndelete = @\n",
            "section [.*]: 'create' grants both '@' and '!'",
        ),
        (
            "create = @\n",
            "line 1: entry before the first section header",
        ),
        (
            "[(]\ncreate = @\nread = @\nupdate = @\ndelete = @\n",
            "section [(] is not a valid regular expression",
        ),
        (
            "[a]\ncreate=@\nread=@\nupdate=@\ndelete=@\n[a]\n",
            "section [a] appears twice",
        ),
        ("[a\n", "line 1: section header has no closing ']'"),
    ];
    for (text, message) in cases {
        let err = PropertyProtections::parse(text).expect_err("must be refused");
        assert!(err.to_string().starts_with(message), "{err} / {message}");
    }
    // An empty value grants nobody; os_glance sections in the file are ignored.
    let rules = PropertyProtections::parse(
        "[os_glance.*]\ncreate=!\nread=!\nupdate=!\ndelete=!\n[.*]\ncreate=\nread: @\nupdate=member\ndelete=!\n",
    )
    .expect("valid");
    let member = vec!["member".to_string()];
    assert!(!rules.allows("k", glint_core::Operation::Create, &member));
    assert!(rules.allows("k", glint_core::Operation::Read, &member));
    assert!(rules.allows("os_glance_x", glint_core::Operation::Create, &member));
}

// ---------------------------------------------------------------------------------------------
// The plan as data

#[test]
fn plan_serialises_to_json() {
    let p = plan_for(
        &image(&[("a", "1"), ("b", "2")]),
        &patch21(json!([
            {"op": "replace", "path": "/a", "value": "3"},
            {"op": "remove", "path": "/b"},
            {"op": "add", "path": "/os_glance_z", "value": "x"},
            {"op": "replace", "path": "/name", "value": "n"},
        ])),
    );
    let value = serde_json::to_value(&p).expect("serialises");
    expect![[r#"{"added":{},"attributes":{"name":{"new":"n","old":null}},"changed":{"a":{"new":"3","old":"1"}},"kept":{},"purge":false,"removed":{"b":"2"},"violations":[{"key":"os_glance_z","kind":"reserved","message":"Attribute 'os_glance_z' is reserved.","status":403}]}"#]]
        .assert_eq(&value.to_string());
    let back: glint_core::Plan = serde_json::from_value(value).expect("deserialises");
    assert_eq!(back, p);
}

#[test]
fn status_machine() {
    use Status::*;
    assert!(Queued.can_become(Saving));
    assert!(Saving.can_become(Queued));
    assert!(!Active.can_become(Saving));
    assert!(!Deleted.can_become(Active));
    assert!(Deactivated.can_become(Active));
    for s in Status::ALL {
        assert_eq!(Status::parse(s.as_str()), Some(s));
    }
}

#[test]
fn server_owned_keys_survive_purges_and_edits() {
    let before = image(&[("os_glance_import_task", "t1"), ("a", "1")]);
    check(
        &before,
        v1(&[], false),
        expect![[r#"
            purge
            - a (was "1")
            = os_glance_import_task = "t1"
        "#]],
    );
    check(
        &before,
        edit(&[("os_glance_import_task", "mine")], &[], true),
        expect![[r#"
            purge
            ~ os_glance_import_task: "t1" -> "mine"
            - a (was "1")
            ! 403 Reserved os_glance_import_task: Attribute 'os_glance_import_task' is reserved.
        "#]],
    );
    check(
        &before,
        edit(&[], &["os_glance_import_task"], false),
        expect![[r#"
            - os_glance_import_task (was "t1")
            = a = "1"
            ! 403 Reserved os_glance_import_task: Attribute 'os_glance_import_task' is reserved.
        "#]],
    );
}

#[test]
fn image_read_back_from_v2_json_keeps_properties_apart_from_attributes() {
    let body = json!({
        "id": "3f1e2d4c-0000-4000-8000-000000000001",
        "name": "snap",
        "status": "active",
        "visibility": "community",
        "protected": true,
        "os_hidden": false,
        "checksum": "abc",
        "os_hash_algo": "sha512",
        "os_hash_value": "def",
        "size": 1024,
        "virtual_size": null,
        "disk_format": "qcow2",
        "container_format": "bare",
        "min_ram": 512,
        "min_disk": 1,
        "owner": "p1",
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-02T00:00:00Z",
        "tags": ["a", "b"],
        "self": "/v2/images/3f1e2d4c-0000-4000-8000-000000000001",
        "file": "/v2/images/3f1e2d4c-0000-4000-8000-000000000001/file",
        "schema": "/v2/schemas/image",
        "stores": "file",
        "direct_url": "file:///x",
        "os_glance_importing_to_stores": "",
        "hw_disk_bus": "virtio",
        "image_type": "snapshot"
    });
    let image = glint_core::image_from_v2(&body).expect("a valid image");
    assert_eq!(image.status, Status::Active);
    assert_eq!(image.visibility, glint_core::Visibility::Community);
    assert!(image.protected);
    assert_eq!(image.size, Some(1024));
    assert_eq!(image.virtual_size, None);
    assert_eq!(image.tags, ["a", "b"]);
    assert_eq!(
        image.properties.keys().collect::<Vec<_>>(),
        ["hw_disk_bus", "image_type", "os_glance_importing_to_stores"]
    );
    let bad = glint_core::image_from_v2(&json!({"id": "x", "size": "big"}));
    assert_eq!(
        bad.map_err(|e| e.to_string()),
        Err("The image's 'size' must be a whole number.".into())
    );
}

// ---------------------------------------------------------------------------------------------
// The image schema (Glance's schema-image.json with a required list)

fn with_schema() -> Settings {
    Settings {
        image_schema: glint_core::schema::ImageSchema::parse(
            r#"{"properties": {
                "os_distro": {"type": "string", "enum": ["ubuntu", "debian"]},
                "hw_cores": {"type": "integer", "minimum": 1}
            }, "required": ["os_distro"]}"#,
        )
        .expect("valid"),
        ..Settings::default()
    }
}

#[test]
fn a_create_needs_the_required_properties_in_their_types() {
    let settings = with_schema();
    let create = |body| Request::Create(Create::parse(&body).expect("a create"));
    check_as(
        &image(&[]),
        create(json!({"name": "n", "hw_cores": 4})),
        &member(),
        &settings,
        None,
        expect![[r#"
            + hw_cores = "4"
            * name: null -> "n"
            ! 400 InvalidValue os_distro: 'os_distro' is a required property.
        "#]],
    );
    check_as(
        &image(&[]),
        create(json!({"os_distro": "arch", "hw_cores": 0})),
        &member(),
        &settings,
        None,
        expect![[r#"
            + hw_cores = "0"
            + os_distro = "arch"
            ! 400 InvalidValue hw_cores: Invalid value for property 'hw_cores': 0 is less than the minimum of 1.
            ! 400 InvalidValue os_distro: Invalid value for property 'os_distro': 'arch' is not one of ["ubuntu", "debian"].
        "#]],
    );
    check_as(
        &image(&[]),
        create(json!({"os_distro": "debian"})),
        &member(),
        &settings,
        None,
        expect![[r#"
            + os_distro = "debian"
        "#]],
    );
}

#[test]
fn a_required_property_is_never_removed() {
    let settings = with_schema();
    let before = image(&[("os_distro", "ubuntu"), ("extra", "x")]);
    check_as(
        &before,
        patch21(json!([{"op": "remove", "path": "/os_distro"}])),
        &member(),
        &settings,
        None,
        expect![[r#"
            - os_distro (was "ubuntu")
            = extra = "x"
            ! 400 InvalidValue os_distro: 'os_distro' is a required property: it cannot be removed.
        "#]],
    );
    // v1's purge neither: its values are not typed, but nothing required goes.
    let purge = v1(&[("x-image-meta-property-extra", "y")], false);
    let p = plan_with(&before, &purge, &member(), &settings, None);
    assert!(
        p.violations.iter().any(|v| v.key == "os_distro"),
        "{}",
        p.render()
    );
    // An image made before the rule can still be changed in other ways.
    let older = image(&[("extra", "x")]);
    check_as(
        &older,
        patch21(json!([{"op": "replace", "path": "/extra", "value": "y"}])),
        &member(),
        &settings,
        None,
        expect![[r#"
            ~ extra: "x" -> "y"
        "#]],
    );
}

// ---------------------------------------------------------------------------------------------
// The deployment's policy rules decide in the plan, naming the policy

#[test]
fn policies_decide_visibility_and_creates_in_the_plan() {
    use glint_core::PlanContext;
    use glint_core::policy::{Policy, read_file};
    let overrides = read_file(
        "\"publicize_image\": \"role:admin or role:publisher\"\n\
         \"communitize_image\": \"!\"\n\
         \"add_image\": \"role:admin or role:creator\"\n",
    )
    .expect("a policy file");
    let policy = Policy::glance_defaults()
        .overridden(&overrides)
        .expect("valid rules");
    let settings = Settings::default();
    let publisher = Caller::new(Some("p1"), &["member", "reader", "publisher"]);
    let plan_as = |caller: &Caller, image: &Image, request: &Request| {
        let ctx = PlanContext::new(caller, &settings).with_policy(&policy);
        glint_core::plan(image, request, &ctx)
    };
    let before = image(&[]);
    let public = patch21(json!([{"op": "replace", "path": "/visibility", "value": "public"}]));
    assert!(plan_as(&publisher, &before, &public).is_allowed());
    let refused = plan_as(&member(), &before, &public);
    expect![[r#"
        * visibility: "shared" -> "public"
        ! 403 Forbidden visibility: You are not authorized to complete publicize_image action.
    "#]]
    .assert_eq(&refused.render());
    let community =
        patch21(json!([{"op": "replace", "path": "/visibility", "value": "community"}]));
    assert!(!plan_as(&admin(), &before, &community).is_allowed());
    let create = Request::Create(Create::parse(&json!({"name": "n"})).expect("create"));
    let refused = plan_as(&member(), &image(&[]), &create);
    assert_eq!(
        refused.violations[0].key,
        "add_image",
        "{}",
        refused.render()
    );
    let creator = Caller::new(Some("p1"), &["creator"]);
    assert!(plan_as(&creator, &image(&[]), &create).is_allowed());

    // Locations set through PATCH: Glance's set_image_location, the owner's members by default,
    // a role of the operator's choosing here.
    let locations = patch21(json!([{"op": "add", "path": "/locations/-",
        "value": {"url": "http://example.com/disk.img", "metadata": {}}}]));
    let settings = Settings {
        locations_enabled: true,
        ..Settings::default()
    };
    let owner_member = member();
    let defaults = Policy::glance_defaults();
    let ctx_default = PlanContext::new(&owner_member, &settings).with_policy(&defaults);
    assert!(
        !glint_core::plan(&before, &locations, &ctx_default)
            .violations
            .iter()
            .any(|v| v.message.contains("set_image_location")),
        "an owner's member sets locations by default"
    );
    let overrides = read_file("\"set_image_location\": \"role:admin or role:image_locator\"\n")
        .expect("a policy file");
    let policy = Policy::glance_defaults()
        .overridden(&overrides)
        .expect("valid rules");
    let ctx = PlanContext::new(&owner_member, &settings).with_policy(&policy);
    let refused = glint_core::plan(&before, &locations, &ctx);
    let violation = refused
        .violations
        .iter()
        .find(|v| v.key == "locations" && v.message.contains("set_image_location"))
        .expect("refused");
    assert!(
        violation.message.contains("set_image_location"),
        "{}",
        refused.render()
    );
    // Removing a location through PATCH: delete_image_location (administrators by default).
    let remove = patch21(json!([{"op": "remove", "path": "/locations/0"}]));
    let mut located = before.clone();
    located.locations.push(glint_core::Location {
        url: "http://example.com/a.img".into(),
        metadata: Default::default(),
        validation_data: None,
    });
    located.locations.push(glint_core::Location {
        url: "http://example.com/b.img".into(),
        metadata: Default::default(),
        validation_data: None,
    });
    let removes = |caller: &Caller, policy: &Policy| {
        let ctx = PlanContext::new(caller, &settings).with_policy(policy);
        !glint_core::plan(&located, &remove, &ctx)
            .violations
            .iter()
            .any(|v| v.message.contains("delete_image_location"))
    };
    assert!(!removes(&owner_member, &defaults));
    assert!(removes(&admin(), &defaults));
    let remover = read_file("\"delete_image_location\": \"role:image_remover\"\n").expect("file");
    let remover = Policy::glance_defaults()
        .overridden(&remover)
        .expect("valid");
    assert!(
        !removes(&admin(), &remover),
        "the operator's rule, not the admin role"
    );
    assert!(removes(
        &Caller::new(Some("p1"), &["member", "image_remover"]),
        &remover
    ));
    let locator = Caller::new(Some("p1"), &["member", "image_locator"]);
    let ctx = PlanContext::new(&locator, &settings).with_policy(&policy);
    assert!(
        !glint_core::plan(&before, &locations, &ctx)
            .violations
            .iter()
            .any(|v| v.message.contains("set_image_location"))
    );
}
